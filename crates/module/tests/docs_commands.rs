//! docs/commands.md stays true: its generated matrix is what the command tables say, and its
//! "Sources" section has a row for every command of every table.
//!
//! After changing a table: `NBMODEM_BLESS=1 cargo test -p nbmodem-module --test docs_commands`
//! rewrites the matrix (only the part between its marker comments; the rest of the file is kept).

use nbmodem_module::commands::{
    all_names, display_name, matrix_markdown, MATRIX_BEGIN, MATRIX_END,
};
use std::path::PathBuf;

fn document() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/commands.md")
}

/// The document with its matrix region replaced by `matrix`.
fn with_matrix(text: &str, matrix: &str) -> Option<String> {
    let begin = text.find(MATRIX_BEGIN)? + MATRIX_BEGIN.len();
    let end = text[begin..].find(MATRIX_END)? + begin;
    Some(format!("{}\n\n{matrix}\n{}", &text[..begin], &text[end..]))
}

#[test]
fn docs_commands_matrix_is_up_to_date() {
    let path = document();
    let text = std::fs::read_to_string(&path).expect("docs/commands.md exists");
    let fresh = with_matrix(&text, &matrix_markdown()).unwrap_or_else(|| {
        panic!("docs/commands.md lacks the lines {MATRIX_BEGIN} and {MATRIX_END}")
    });
    if std::env::var_os("NBMODEM_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    assert!(
        fresh == text,
        "docs/commands.md's matrix is out of date: run \
         `NBMODEM_BLESS=1 cargo test -p nbmodem-module --test docs_commands` and commit the file"
    );
}

#[test]
fn docs_commands_sources_name_every_command() {
    let text = std::fs::read_to_string(document()).unwrap();
    let sources = text
        .split("\n## Sources\n")
        .nth(1)
        .expect("docs/commands.md has a `## Sources` section");
    let sources = sources.split("\n## ").next().unwrap_or(sources);
    let missing: Vec<String> = all_names()
        .into_iter()
        .map(display_name)
        .filter(|name| !sources.contains(&format!("| `{name}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/commands.md `## Sources` has no row for {missing:?}"
    );
}
