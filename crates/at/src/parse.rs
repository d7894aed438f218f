//! Parsing one command line into a command name, a form and raw parameters.

use crate::params::{split_params, Params};
use thiserror::Error;

/// The four forms of an extended command, and the basic-command shapes mapped onto them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `AT+X=?`
    Test,
    /// `AT+X?`
    Read,
    /// `AT+X=p1,p2,…`; also a basic command with a number, such as `ATE0`.
    Set,
    /// `AT+X`; also a basic command without a number (`ATI`) and the bare `AT`.
    Execute,
}

/// One parsed command line. The name keeps the case it was typed in (`+cgmr`, `I`, `&W`, or empty
/// for the bare `AT`); look-ups compare it without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    pub name: &'a str,
    pub form: Form,
    pub params: Params<'a>,
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SyntaxError {
    #[error("line does not start with AT")]
    NoPrefix,
    #[error("line is not text")]
    NotText,
    #[error("malformed command name")]
    BadName,
    #[error("malformed text after the command name")]
    BadSuffix,
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    #[error("text after a closing quote")]
    TextAfterQuote,
}

/// Parses one line (without its terminator).
pub fn parse_line(line: &[u8]) -> Result<Command<'_>, SyntaxError> {
    let text = std::str::from_utf8(line).map_err(|_| SyntaxError::NotText)?;
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let rest = text
        .strip_prefix("AT")
        .or_else(|| text.strip_prefix("at"))
        .ok_or(SyntaxError::NoPrefix)?;
    match rest.as_bytes().first() {
        None => Ok(Command {
            name: "",
            form: Form::Execute,
            params: Params::none(),
        }),
        Some(b'+' | b'*' | b'$' | b'^') => parse_extended(rest),
        Some(_) => parse_basic(rest),
    }
}

/// `+NAME`, `+NAME?`, `+NAME=?` or `+NAME=params`.
fn parse_extended(rest: &str) -> Result<Command<'_>, SyntaxError> {
    let name_len = 1 + rest[1..]
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if name_len == 1 {
        return Err(SyntaxError::BadName);
    }
    let (name, suffix) = rest.split_at(name_len);
    let (form, params) = match suffix {
        "" => (Form::Execute, Params::none()),
        "?" => (Form::Read, Params::none()),
        "=?" => (Form::Test, Params::none()),
        _ => match suffix.strip_prefix('=') {
            Some(list) => (Form::Set, split_params(list)?),
            None => return Err(SyntaxError::BadSuffix),
        },
    };
    Ok(Command { name, form, params })
}

/// A basic command: one letter (or `&` and a letter) and an optional number, such as `E0`, `I`, `&W`.
fn parse_basic(rest: &str) -> Result<Command<'_>, SyntaxError> {
    let bytes = rest.as_bytes();
    let name_len = if bytes[0] == b'&' { 2 } else { 1 };
    if bytes.len() < name_len || !bytes[name_len - 1].is_ascii_alphabetic() {
        return Err(SyntaxError::BadName);
    }
    let (name, number) = rest.split_at(name_len);
    if number.is_empty() {
        return Ok(Command {
            name,
            form: Form::Execute,
            params: Params::none(),
        });
    }
    if number == "?" {
        return Ok(Command {
            name,
            form: Form::Read,
            params: Params::none(),
        });
    }
    if !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SyntaxError::BadSuffix);
    }
    Ok(Command {
        name,
        form: Form::Set,
        params: split_params(number)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Param;

    fn parse(s: &str) -> Command<'_> {
        parse_line(s.as_bytes()).unwrap()
    }

    #[test]
    fn bare_at_in_both_cases() {
        assert_eq!(parse("AT").name, "");
        assert_eq!(parse("at").form, Form::Execute);
    }

    #[test]
    fn four_forms_of_an_extended_command() {
        assert_eq!(parse("AT+CEREG=?").form, Form::Test);
        assert_eq!(parse("AT+CEREG?").form, Form::Read);
        assert_eq!(parse("AT+CEREG").form, Form::Execute);
        let set = parse("AT+CEREG=2");
        assert_eq!((set.name, set.form), ("+CEREG", Form::Set));
        assert_eq!(set.params.get(0), Some(&Param::Bare("2")));
    }

    #[test]
    fn lower_case_command_keeps_its_case() {
        assert_eq!(parse("at+cgmr").name, "+cgmr");
    }

    #[test]
    fn basic_commands() {
        let e0 = parse("ATE0");
        assert_eq!((e0.name, e0.form), ("E", Form::Set));
        assert_eq!(e0.params.get(0), Some(&Param::Bare("0")));
        assert_eq!(parse("ATI").form, Form::Execute);
        assert_eq!(parse("AT&W").name, "&W");
    }

    #[test]
    fn mixed_parameters_from_the_seeds() {
        let c = parse("AT+QDMPCFG=2,\"M100000089\",\"77GaaTUi\",1,863703030822519");
        let p: Vec<_> = c.params.iter().cloned().collect();
        assert_eq!(
            p,
            vec![
                Param::Bare("2"),
                Param::Quoted("M100000089"),
                Param::Quoted("77GaaTUi"),
                Param::Bare("1"),
                Param::Bare("863703030822519"),
            ]
        );
        let c = parse("AT+DMPCONFIG=1, , ,300");
        let p: Vec<_> = c.params.iter().cloned().collect();
        assert_eq!(
            p,
            vec![
                Param::Bare("1"),
                Param::Empty,
                Param::Empty,
                Param::Bare("300")
            ]
        );
    }

    #[test]
    fn comma_inside_quotes_is_text() {
        let c = parse("AT+QDMPCFGEX=5,0,\"31.84,117.20,OTDOA\"");
        assert_eq!(c.params.get(2), Some(&Param::Quoted("31.84,117.20,OTDOA")));
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(parse_line(b"HELLO"), Err(SyntaxError::NoPrefix));
        assert_eq!(parse_line(b"At"), Err(SyntaxError::NoPrefix));
        assert_eq!(parse_line(b"AT+"), Err(SyntaxError::BadName));
        assert_eq!(parse_line(b"AT+X?1"), Err(SyntaxError::BadSuffix));
        assert_eq!(
            parse_line(b"AT+X=\"abc"),
            Err(SyntaxError::UnterminatedQuote)
        );
        assert_eq!(parse_line(b"AT+X=\"a\"b"), Err(SyntaxError::TextAfterQuote));
        assert_eq!(parse_line(b"AT+X=\xff"), Err(SyntaxError::NotText));
        assert_eq!(parse_line(b"ATE1x"), Err(SyntaxError::BadSuffix));
        assert_eq!(parse_line(b"AT&"), Err(SyntaxError::BadName));
    }
}
