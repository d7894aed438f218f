//! Fuzzes the AT syntax layer: arbitrary bytes through `LineAssembler`, each line through
//! `parse_line`, and every `Params` accessor on what parses. Besides not panicking, checks that
//! lines hold no terminator and respect `MAX_LINE_LEN`, and that the accessors keep their
//! promises (ranges, lengths, quoting).

#![no_main]

use libfuzzer_sys::fuzz_target;
use nbmodem_at::{parse_line, Form, LineAssembler, LineEvent, Param, ParamError, MAX_LINE_LEN};

/// Ranges the command handlers use, plus the extremes.
const RANGES: &[(u64, u64)] = &[
    (0, 0),
    (0, 1),
    (0, 3),
    (0, 255),
    (1000, 65535),
    (0, u64::MAX),
];
const MAX_LENS: &[usize] = &[0, 1, 16, 255, usize::MAX];

fuzz_target!(|data: &[u8]| {
    let mut lines = LineAssembler::new();
    for &byte in data {
        match lines.push(byte) {
            None => {}
            Some(LineEvent::TooLong) => {}
            Some(LineEvent::Line(line)) => {
                assert!(line.len() <= MAX_LINE_LEN, "line of {} bytes", line.len());
                assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
                check_line(&line);
            }
        }
    }
    let _ = lines.is_partial();
});

fn check_line(line: &[u8]) {
    let Ok(command) = parse_line(line) else {
        return;
    };
    let params = &command.params;
    let text = std::str::from_utf8(line).expect("a parsed line is text");
    assert!(text.contains(command.name), "name is taken from the line");
    if command.form != Form::Set {
        assert!(params.is_empty(), "only the set form has parameters");
    } else {
        assert!(
            !params.is_empty(),
            "the set form has at least one parameter"
        );
    }
    assert_eq!(params.len(), params.iter().count());
    assert_eq!(params.is_empty(), params.iter().next().is_none());
    assert!(params.expect_count(0..=params.len()).is_ok());
    if !params.is_empty() {
        assert_eq!(
            params.expect_count(0..=params.len() - 1),
            Err(ParamError::Count(params.len()))
        );
    }

    // One index past the end, to exercise the missing-parameter paths.
    for index in 0..=params.len() {
        let param = params.get(index);
        assert_eq!(param.is_none(), index == params.len());
        if let Some(Param::Bare(token) | Param::Quoted(token)) = param {
            assert!(!token.contains('\r') && !token.contains('\n'));
        }
        if let Some(Param::Bare(token)) = param {
            assert!(!token.contains('"') && !token.contains(','));
            assert!(!token.is_empty());
        }
        if let Some(Param::Quoted(token)) = param {
            assert!(!token.contains('"'));
        }
        let absent = params.is_absent(index);
        assert_eq!(absent, matches!(param, None | Some(Param::Empty)));

        for &(low, high) in RANGES {
            match params.int(index, low..=high) {
                Ok(value) => {
                    assert!((low..=high).contains(&value));
                    assert!(matches!(param, Some(Param::Bare(_))));
                }
                Err(ParamError::Missing(i)) => {
                    assert_eq!(i, index);
                    assert!(absent);
                }
                Err(_) => assert!(!absent),
            }
            match params.opt_int(index, low..=high) {
                Ok(None) => assert!(absent),
                Ok(Some(value)) => assert!((low..=high).contains(&value)),
                Err(ParamError::Missing(_)) => panic!("opt_int reported a missing parameter"),
                Err(_) => assert!(!absent),
            }
        }
        for &max_len in MAX_LENS {
            match params.quoted(index, max_len) {
                Ok(text) => {
                    assert!(text.len() <= max_len);
                    assert!(matches!(param, Some(Param::Quoted(_))));
                }
                Err(ParamError::TooLong(i)) => assert_eq!(i, index),
                Err(_) => {}
            }
            match params.text(index, max_len) {
                Ok(text) => assert!(text.len() <= max_len),
                Err(ParamError::Missing(_)) => assert!(absent),
                Err(_) => {}
            }
        }
    }
}
