//! A command's parameter list as the manuals write it: `<type>,<act>[,<p1>[,<p2>[,<p3>,<p4>]]]`.
//! Each bracket is a group that is given whole or not at all, so that line may carry 2, 3, 4 or
//! 6 parameters, never 5: `[,<p3>,<p4>]` brackets the last two together. A command table keeps
//! the seed's syntax line as data, prints it in the test answer, and checks set commands
//! against it with [`Syntax::allows`].

use std::collections::BTreeSet;

/// The parameter counts a bracketed syntax line allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syntax {
    counts: BTreeSet<usize>,
}

/// Why a syntax line could not be read (a fault in a command table, found by its tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxLineError {
    #[error("unbalanced brackets in a syntax line")]
    Unbalanced,
}

impl Syntax {
    /// Reads `line`: `<name>` is one parameter, `[…]` an optional group, commas separate.
    pub fn parse(line: &str) -> Result<Syntax, SyntaxLineError> {
        let mut chars = line.chars();
        let counts = sequence(&mut chars, false)?;
        Ok(Syntax { counts })
    }

    /// Whether a line with `count` parameters fits (an empty parameter counts: it was typed).
    pub fn allows(&self, count: usize) -> bool {
        self.counts.contains(&count)
    }

    /// The counts allowed, smallest first.
    pub fn counts(&self) -> impl Iterator<Item = usize> + '_ {
        self.counts.iter().copied()
    }
}

/// The counts of the items up to the end of `chars`, or up to the `]` that closes the group
/// being read when `in_group`.
fn sequence(
    chars: &mut std::str::Chars<'_>,
    in_group: bool,
) -> Result<BTreeSet<usize>, SyntaxLineError> {
    let mut counts = BTreeSet::from([0]);
    while let Some(c) = chars.next() {
        match c {
            '<' => {
                // A parameter's name runs to its `>`.
                if !chars.any(|c| c == '>') {
                    return Err(SyntaxLineError::Unbalanced);
                }
                counts = counts.into_iter().map(|n| n + 1).collect();
            }
            '[' => {
                let group = sequence(chars, true)?;
                counts = counts
                    .iter()
                    .flat_map(|n| std::iter::once(*n).chain(group.iter().map(move |g| n + g)))
                    .collect();
            }
            ']' if in_group => return Ok(counts),
            ']' | '>' => return Err(SyntaxLineError::Unbalanced),
            _ => {}
        }
    }
    if in_group {
        Err(SyntaxLineError::Unbalanced)
    } else {
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(line: &str) -> Vec<usize> {
        Syntax::parse(line).unwrap().counts().collect()
    }

    #[test]
    fn a_bracket_is_given_whole_or_not_at_all() {
        assert_eq!(
            counts("<type>,<act>[,<parameter1>[,<parameter2>[,<parameter3>,<parameter4>]]]"),
            [2, 3, 4, 6]
        );
        assert_eq!(
            counts("<type>[,<parameter1>,<parameter2>[,<parameter3>[,<parameter4>]]]"),
            [1, 3, 4, 5]
        );
        assert_eq!(counts("<mode>"), [1]);
        assert_eq!(counts("[<n>]"), [0, 1]);
        // Groups side by side are independent.
        assert_eq!(counts("<a>[,<b>][,<c>,<d>]"), [1, 2, 3, 4]);
    }

    #[test]
    fn unbalanced_lines_are_refused() {
        for line in ["<a>[,<b>", "<a>],<b>", "<a", "<type>[,<p1>][,<p2>]]"] {
            assert_eq!(
                Syntax::parse(line),
                Err(SyntaxLineError::Unbalanced),
                "{line}"
            );
        }
    }
}
