//! Firmware revisions (`BC25PAR01A04`, `BC25PAR01A03_BT`, `BC35GJBR01A02_ONT`) and their order.
//!
//! A revision reads `<base>R<release>A<build>[<suffix>]`. Two revisions are ordered only when they
//! belong to the same line (same base and suffix): `BC25PAR01A03_BT` is neither before nor after
//! `BC25PAR01A04`. Defaults that depend on the revision ("on up to BC25PAR01A04") use this order.

use std::cmp::Ordering;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    text: String,
    /// Byte offset of the `R<nn>A<nn>` part.
    at: usize,
    release: u8,
    build: u8,
}

impl Revision {
    /// Parses a revision; `None` when the text has no `R<nn>A<nn>` part.
    pub fn parse(text: &str) -> Option<Revision> {
        let b = text.as_bytes();
        let is_version_at = |i: usize| {
            b.len() >= i + 6
                && b[i] == b'R'
                && b[i + 3] == b'A'
                && [1, 2, 4, 5].iter().all(|k| b[i + k].is_ascii_digit())
        };
        let at = (0..b.len()).rev().find(|&i| is_version_at(i))?;
        let number = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
        Some(Revision {
            text: text.to_string(),
            at,
            release: number(at + 1),
            build: number(at + 4),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The release number: 2 for `R02`.
    pub fn release(&self) -> u8 {
        self.release
    }

    /// The base and suffix around the version numbers: revisions of one line share them.
    fn line(&self) -> (&str, &str) {
        (&self.text[..self.at], &self.text[self.at + 6..])
    }

    /// Whether `self` is `limit` or an earlier revision of the same line.
    pub fn is_at_most(&self, limit: &Revision) -> bool {
        matches!(
            self.partial_cmp(limit),
            Some(Ordering::Less | Ordering::Equal)
        )
    }
}

impl PartialOrd for Revision {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self.line() == other.line())
            .then(|| (self.release, self.build).cmp(&(other.release, other.build)))
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(s: &str) -> Revision {
        Revision::parse(s).unwrap()
    }

    #[test]
    fn orders_within_a_line() {
        assert!(rev("BC25PAR01A03") < rev("BC25PAR01A04"));
        assert!(rev("BC25PAR02A01") > rev("BC25PAR01A09"));
        assert!(rev("BC25PAR01A04").is_at_most(&rev("BC25PAR01A04")));
        assert!(!rev("BC25PAR01A05").is_at_most(&rev("BC25PAR01A04")));
    }

    #[test]
    fn different_lines_are_not_ordered() {
        assert_eq!(
            rev("BC25PAR01A03_BT").partial_cmp(&rev("BC25PAR01A04")),
            None
        );
        assert_eq!(
            rev("BC25B5PAR01A01").partial_cmp(&rev("BC25PAR01A01")),
            None
        );
        assert!(rev("BC25PAR01A02_BT").is_at_most(&rev("BC25PAR01A03_BT")));
    }

    #[test]
    fn parses_the_revisions_of_the_seeds() {
        for s in [
            "BC260YCNAAR01A03",
            "BC32B8RAR01A03",
            "BC35GJBR01A02_ONT",
            "BC260YCNAAR02A01_BETA1230A",
        ] {
            assert_eq!(rev(s).as_str(), s);
        }
        assert_eq!(rev("BC260YCNAAR01A04").line(), ("BC260YCNAA", ""));
        assert!(Revision::parse("nonsense").is_none());
        assert!(Revision::parse("R1A1").is_none());
    }
}
