//! Framing of everything the module writes: information text, final results and URCs.
//!
//! Every piece is framed `<CR><LF>text<CR><LF>`; the lines of a multi-line information text are
//! separated by a single `<CR><LF>`, as on the Quectel modules:
//! `\r\n+QDMPCFG: 0,1\r\n+QDMPCFG: 1,…\r\n\r\nOK\r\n`.

/// The final result of a command, before AT+CMEE decides how errors look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalResult {
    Ok,
    /// A plain `ERROR`, whatever AT+CMEE says.
    Error,
    /// `+CME ERROR: <code>` or `+CME ERROR: <text>`, or `ERROR` when AT+CMEE=0.
    CmeError {
        code: u16,
        text: &'static str,
    },
}

/// The AT+CMEE setting: how a [`FinalResult::CmeError`] is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResultFormat {
    /// AT+CMEE=0: `ERROR`.
    #[default]
    Plain,
    /// AT+CMEE=1: `+CME ERROR: <code>`.
    Numeric,
    /// AT+CMEE=2: `+CME ERROR: <text>`.
    Verbose,
}

impl ResultFormat {
    pub fn from_cmee(n: u64) -> Option<Self> {
        match n {
            0 => Some(Self::Plain),
            1 => Some(Self::Numeric),
            2 => Some(Self::Verbose),
            _ => None,
        }
    }

    pub fn cmee(self) -> u8 {
        match self {
            Self::Plain => 0,
            Self::Numeric => 1,
            Self::Verbose => 2,
        }
    }
}

/// Appends information text: one frame holding all `lines`. Nothing when there are no lines.
pub fn write_info<S: AsRef<str>>(out: &mut Vec<u8>, lines: &[S]) {
    if lines.is_empty() {
        return;
    }
    out.extend_from_slice(b"\r\n");
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(line.as_ref().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a final result as AT+CMEE asks.
pub fn write_final(out: &mut Vec<u8>, result: FinalResult, format: ResultFormat) {
    out.extend_from_slice(b"\r\n");
    match (result, format) {
        (FinalResult::Ok, _) => out.extend_from_slice(b"OK"),
        (FinalResult::Error, _) | (FinalResult::CmeError { .. }, ResultFormat::Plain) => {
            out.extend_from_slice(b"ERROR")
        }
        (FinalResult::CmeError { code, .. }, ResultFormat::Numeric) => {
            out.extend_from_slice(format!("+CME ERROR: {code}").as_bytes())
        }
        (FinalResult::CmeError { text, .. }, ResultFormat::Verbose) => {
            out.extend_from_slice(b"+CME ERROR: ");
            out.extend_from_slice(text.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends one unsolicited result code.
pub fn write_urc(out: &mut Vec<u8>, text: &str) {
    write_info(out, &[text]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(lines: &[&str], result: FinalResult, format: ResultFormat) -> String {
        let mut out = Vec::new();
        write_info(&mut out, lines);
        write_final(&mut out, result, format);
        String::from_utf8(out).unwrap()
    }

    const PARAM: FinalResult = FinalResult::CmeError {
        code: 53,
        text: "Param invalid",
    };

    #[test]
    fn ok_alone_and_with_lines() {
        assert_eq!(
            render(&[], FinalResult::Ok, ResultFormat::Plain),
            "\r\nOK\r\n"
        );
        assert_eq!(
            render(
                &["+QDMPCFG: 0,1", "+QDMPCFG: 1,117.161.2.41,5683,420"],
                FinalResult::Ok,
                ResultFormat::Plain
            ),
            "\r\n+QDMPCFG: 0,1\r\n+QDMPCFG: 1,117.161.2.41,5683,420\r\n\r\nOK\r\n"
        );
    }

    #[test]
    fn errors_follow_cmee() {
        assert_eq!(render(&[], PARAM, ResultFormat::Plain), "\r\nERROR\r\n");
        assert_eq!(
            render(&[], PARAM, ResultFormat::Numeric),
            "\r\n+CME ERROR: 53\r\n"
        );
        assert_eq!(
            render(&[], PARAM, ResultFormat::Verbose),
            "\r\n+CME ERROR: Param invalid\r\n"
        );
        assert_eq!(
            render(&[], FinalResult::Error, ResultFormat::Verbose),
            "\r\nERROR\r\n"
        );
    }

    #[test]
    fn urc_is_one_frame() {
        let mut out = Vec::new();
        write_urc(&mut out, "+CPIN: READY");
        assert_eq!(out, b"\r\n+CPIN: READY\r\n");
    }
}
