//! The project's documents stand alone: every relative link in README.md, docs/ and examples/
//! leads to a file of the repository, and none points at material outside it.

use std::path::{Path, PathBuf};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// README.md and every Markdown file under docs/ and examples/.
fn documents() -> Vec<PathBuf> {
    let root = repository();
    let mut files = vec![root.join("README.md")];
    let mut dirs = vec![root.join("docs"), root.join("examples")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files
}

/// The targets of the inline links `[text](target)` of a Markdown text, outside code blocks.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_code_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code_block = !in_code_block;
            continue;
        }
        if in_code_block {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    targets
}

fn is_external(target: &str) -> bool {
    ["http://", "https://", "mailto:", "#"]
        .iter()
        .any(|p| target.starts_with(p))
}

#[test]
fn every_relative_link_leads_to_a_file_of_the_repository() {
    let root = repository().canonicalize().unwrap();
    let mut broken = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for target in link_targets(&text) {
            if is_external(&target) {
                continue;
            }
            let file = target.split('#').next().unwrap_or_default();
            let resolved = doc.parent().unwrap().join(file).canonicalize();
            let inside = resolved.as_ref().is_ok_and(|p| p.starts_with(&root));
            if !inside {
                broken.push(format!("{}: {target}", doc.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn no_document_refers_to_material_outside_the_repository() {
    let mut found = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for (n, line) in text.lines().enumerate() {
            for outside in ["behaviour.md", "protocols.md", "../shared", "shared/spec"] {
                if line.contains(outside) {
                    found.push(format!("{}:{}: {outside}", doc.display(), n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn links_are_found_outside_code_blocks_only() {
    let text = "see [a](docs/a.md) and [b](#b)\n```\n[c](nowhere.md)\n```\n[d](x.md#y)";
    assert_eq!(link_targets(text), ["docs/a.md", "#b", "x.md#y"]);
}
