//! What the `nbmodem platform` subcommands print on standard output: lines, and JSON values a
//! line each. A reader that went away (`| head`) ends the output; it is not an error.

use anyhow::Result;
use std::io::{ErrorKind, Write};
use std::process::ExitCode;

/// Prints each of `items` as JSON on a line of its own.
pub(super) fn print_json_lines<T: serde::Serialize>(items: &[T]) -> Result<ExitCode> {
    let lines = items
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    print_lines(lines)
}

/// Prints lines to stdout.
pub(super) fn print_lines(lines: Vec<String>) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    for line in lines {
        match writeln!(out, "{line}") {
            Err(e) if e.kind() == ErrorKind::BrokenPipe => break,
            result => result?,
        }
    }
    Ok(ExitCode::SUCCESS)
}
