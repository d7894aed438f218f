//! What tests expect a module to write, built the way the module frames it: information lines
//! each between `\r\n` pairs, then the final result.

use nbmodem_module::Profile;

/// The lines of an answer, then `OK`.
pub fn ok(lines: &[&str]) -> String {
    let mut text = String::new();
    if !lines.is_empty() {
        text = format!("\r\n{}\r\n", lines.join("\r\n"));
    }
    text + "\r\nOK\r\n"
}

/// A plain `ERROR`.
pub const ERROR: &str = "\r\nERROR\r\n";

/// `+NAME: value` or `+NAME:value`, as the profile writes it.
pub fn line(p: &Profile, name: &str, value: &str) -> String {
    format!("{name}{}{value}", p.separator)
}
