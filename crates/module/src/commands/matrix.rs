//! The command × model matrix of docs/commands.md, generated from the command tables so that the
//! document cannot drift from what the models accept (a test compares the two).

use super::tables;
use crate::profile::{Profile, Requirement, PROFILES};

/// The comment lines between which docs/commands.md holds the generated matrix.
pub const MATRIX_BEGIN: &str = "<!-- BEGIN GENERATED MATRIX: NBMODEM_BLESS=1 cargo test -p nbmodem-module --test docs_commands -->";
pub const MATRIX_END: &str = "<!-- END GENERATED MATRIX -->";

/// Every command of every table against the models, as a Markdown table: ✓ where the model's
/// table has the command, with the firmware revisions that have it when only some do.
pub fn matrix_markdown() -> String {
    let mut out = String::from("| Command |");
    for p in PROFILES {
        out.push_str(&format!(" {} |", p.model));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(PROFILES.len()));
    out.push('\n');
    for name in all_names() {
        out.push_str(&format!("| `{}` |", display_name(name)));
        for p in PROFILES {
            out.push_str(&format!(" {} |", cell(p, name)));
        }
        out.push('\n');
    }
    out
}

/// Every command name of every table, once each, in table order.
pub fn all_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for table in tables() {
        for name in table.names() {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name);
            }
        }
    }
    names
}

/// `AT+CGMI`, `ATE`, `AT` as a host types them.
pub fn display_name(name: &str) -> String {
    format!("AT{name}")
}

fn cell(p: &Profile, name: &str) -> String {
    let Some(spec) = p.commands().lookup(name) else {
        return String::new();
    };
    let requirement = spec.handler.feature.and_then(|feature| {
        p.firmware_features
            .iter()
            .find(|(f, _)| *f == feature)
            .map(|(_, r)| *r)
    });
    match requirement {
        None => "✓".into(),
        Some(Requirement::Suffix(suffix)) => format!("✓ (`*{suffix}` firmware)"),
        Some(Requirement::ReleaseAtLeast(release)) => format!("✓ (R{release:02} and later)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_marks_gated_commands() {
        let matrix = matrix_markdown();
        let row = |command: &str| {
            matrix
                .lines()
                .find(|l| l.starts_with(&format!("| `{command}` |")))
                .unwrap()
                .to_string()
        };
        assert!(row("AT+NCDPOPEN").contains("✓ (R02 and later)"));
        assert!(row("AT+DMPCONFIG").contains("✓ (`*_ONT` firmware)"));
        assert_eq!(row("AT+CGMI").matches('✓').count(), PROFILES.len());
        assert_eq!(row("AT+CGREG").matches('✓').count(), 2, "BC26 and BC20");
    }
}
