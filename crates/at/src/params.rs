//! Command parameters: splitting a parameter list and typed access with range checks.

use crate::parse::SyntaxError;
use crate::syntax::Syntax;
use std::ops::RangeInclusive;
use thiserror::Error;

/// One parameter as typed: nothing, an unquoted token (trimmed), or the text inside double quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param<'a> {
    Empty,
    Bare(&'a str),
    Quoted(&'a str),
}

/// Why a parameter was refused. Every variant carries the parameter's index (0-based).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParamError {
    #[error("parameter {0} is missing")]
    Missing(usize),
    #[error("parameter {0} is not an integer")]
    NotInteger(usize),
    #[error("parameter {0} is out of range")]
    OutOfRange(usize),
    #[error("parameter {0} must be quoted")]
    NotQuoted(usize),
    #[error("parameter {0} is too long")]
    TooLong(usize),
    #[error("wrong number of parameters: {0}")]
    Count(usize),
}

/// The parameter list of one command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params<'a> {
    list: Vec<Param<'a>>,
}

/// Splits `p1,p2,…` at the commas outside double quotes.
pub(crate) fn split_params(list: &str) -> Result<Params<'_>, SyntaxError> {
    let mut params = Vec::new();
    let mut rest = list;
    loop {
        let (param, after) = take_param(rest)?;
        params.push(param);
        match after {
            Some(next) => rest = next,
            None => return Ok(Params { list: params }),
        }
    }
}

/// Takes one parameter off the front of `s`; returns it and what follows its comma, if any.
fn take_param(s: &str) -> Result<(Param<'_>, Option<&str>), SyntaxError> {
    let s = s.trim_start_matches(' ');
    if let Some(quoted) = s.strip_prefix('"') {
        let end = quoted.find('"').ok_or(SyntaxError::UnterminatedQuote)?;
        let after = quoted[end + 1..].trim_start_matches(' ');
        return match after.strip_prefix(',') {
            Some(next) => Ok((Param::Quoted(&quoted[..end]), Some(next))),
            None if after.is_empty() => Ok((Param::Quoted(&quoted[..end]), None)),
            None => Err(SyntaxError::TextAfterQuote),
        };
    }
    let (token, next) = match s.find(',') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if token.contains('"') {
        return Err(SyntaxError::TextAfterQuote);
    }
    let token = token.trim_end_matches(' ');
    let param = if token.is_empty() {
        Param::Empty
    } else {
        Param::Bare(token)
    };
    Ok((param, next))
}

impl<'a> Params<'a> {
    pub fn none() -> Self {
        Params { list: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&Param<'a>> {
        self.list.get(index)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Param<'a>> {
        self.list.iter()
    }

    /// Fails unless the count of parameters is within `range`.
    pub fn expect_count(&self, range: RangeInclusive<usize>) -> Result<(), ParamError> {
        if range.contains(&self.list.len()) {
            Ok(())
        } else {
            Err(ParamError::Count(self.list.len()))
        }
    }

    /// Checks the number of parameters against a bracketed syntax line (see [`Syntax`]).
    pub fn expect_syntax(&self, syntax: &Syntax) -> Result<(), ParamError> {
        if syntax.allows(self.list.len()) {
            Ok(())
        } else {
            Err(ParamError::Count(self.list.len()))
        }
    }

    /// Whether parameter `index` is absent or empty.
    pub fn is_absent(&self, index: usize) -> bool {
        matches!(self.list.get(index), None | Some(Param::Empty))
    }

    /// An unquoted decimal integer within `range`.
    pub fn int(&self, index: usize, range: RangeInclusive<u64>) -> Result<u64, ParamError> {
        match self.list.get(index) {
            None | Some(Param::Empty) => Err(ParamError::Missing(index)),
            Some(Param::Quoted(_)) => Err(ParamError::NotInteger(index)),
            Some(Param::Bare(token)) => {
                let value = parse_decimal(token).ok_or(ParamError::NotInteger(index))?;
                if range.contains(&value) {
                    Ok(value)
                } else {
                    Err(ParamError::OutOfRange(index))
                }
            }
        }
    }

    /// Like [`Params::int`], but an absent or empty parameter gives `None`.
    pub fn opt_int(
        &self,
        index: usize,
        range: RangeInclusive<u64>,
    ) -> Result<Option<u64>, ParamError> {
        if self.is_absent(index) {
            Ok(None)
        } else {
            self.int(index, range).map(Some)
        }
    }

    /// A string that must be quoted, of at most `max_len` bytes.
    pub fn quoted(&self, index: usize, max_len: usize) -> Result<&'a str, ParamError> {
        match self.list.get(index) {
            None | Some(Param::Empty) => Err(ParamError::Missing(index)),
            Some(Param::Bare(_)) => Err(ParamError::NotQuoted(index)),
            Some(Param::Quoted(text)) => check_len(index, text, max_len),
        }
    }

    /// A string given quoted or bare (the seeds show both, e.g. an IP address), of at most `max_len`
    /// bytes. A quoted empty string is returned as `""`.
    pub fn text(&self, index: usize, max_len: usize) -> Result<&'a str, ParamError> {
        match self.list.get(index) {
            None | Some(Param::Empty) => Err(ParamError::Missing(index)),
            Some(Param::Bare(text) | Param::Quoted(text)) => check_len(index, text, max_len),
        }
    }
}

fn check_len(index: usize, text: &str, max_len: usize) -> Result<&str, ParamError> {
    if text.len() <= max_len {
        Ok(text)
    } else {
        Err(ParamError::TooLong(index))
    }
}

/// Parses a run of ASCII digits; anything else (a sign, a space, overflow) gives `None`.
fn parse_decimal(token: &str) -> Option<u64> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> Params<'_> {
        split_params(s).unwrap()
    }

    #[test]
    fn integers_with_ranges() {
        let p = params("1,70000,x,\"5\"");
        assert_eq!(p.int(0, 0..=1), Ok(1));
        assert_eq!(p.int(1, 1000..=65535), Err(ParamError::OutOfRange(1)));
        assert_eq!(p.int(2, 0..=9), Err(ParamError::NotInteger(2)));
        assert_eq!(p.int(3, 0..=9), Err(ParamError::NotInteger(3)));
        assert_eq!(p.int(4, 0..=9), Err(ParamError::Missing(4)));
    }

    #[test]
    fn integer_overflow_and_signs_are_not_integers() {
        let p = params("99999999999999999999999,-1,+1");
        for i in 0..3 {
            assert_eq!(p.int(i, 0..=u64::MAX), Err(ParamError::NotInteger(i)));
        }
    }

    #[test]
    fn optional_integers() {
        let p = params(",7");
        assert_eq!(p.opt_int(0, 0..=9), Ok(None));
        assert_eq!(p.opt_int(1, 0..=9), Ok(Some(7)));
        assert_eq!(p.opt_int(2, 0..=9), Ok(None));
    }

    #[test]
    fn strings_quoted_and_bare() {
        let p = params("\"abc\",117.161.2.7,\"\"");
        assert_eq!(p.quoted(0, 3), Ok("abc"));
        assert_eq!(p.quoted(0, 2), Err(ParamError::TooLong(0)));
        assert_eq!(p.quoted(1, 20), Err(ParamError::NotQuoted(1)));
        assert_eq!(p.text(1, 20), Ok("117.161.2.7"));
        assert_eq!(p.text(2, 20), Ok(""));
    }

    #[test]
    fn counts() {
        assert_eq!(params("1,2").expect_count(1..=2), Ok(()));
        assert_eq!(
            params("1,2,3").expect_count(1..=2),
            Err(ParamError::Count(3))
        );
        assert_eq!(params("").len(), 1, "`AT+X=` has one empty parameter");
    }
}
