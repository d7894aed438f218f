//! Assembling command lines from the bytes a terminal sends.

/// The longest command line accepted, in bytes, without its terminator.
///
/// `AT+NMGS=1024,"<2048 hex digits>",102` is about 2 070 bytes; 4 096 leaves room for any command of
/// the seeds while keeping a hostile peer from growing the buffer without bound.
pub const MAX_LINE_LEN: usize = 4096;

const CR: u8 = b'\r';
const LF: u8 = b'\n';
const BACKSPACE: u8 = 0x08;
/// What most terminals send for the Backspace key; it deletes like Ctrl-H.
const DELETE: u8 = 0x7f;

/// What the assembler found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// A complete line, without its terminator.
    Line(Vec<u8>),
    /// A line that grew past [`MAX_LINE_LEN`]; its bytes were discarded up to the terminator.
    TooLong,
}

/// Splits a byte stream into command lines.
///
/// A line ends at `<CR>`; an `<LF>` right after a `<CR>` is ignored, and a lone `<LF>` also ends a line
/// so that `echo AT | nbmodem modem --at stdio` works from a shell.
#[derive(Debug, Default)]
pub struct LineAssembler {
    buf: Vec<u8>,
    overflowed: bool,
    after_cr: bool,
}

impl LineAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one byte; returns an event when it completed a line.
    pub fn push(&mut self, byte: u8) -> Option<LineEvent> {
        let after_cr = std::mem::replace(&mut self.after_cr, byte == CR);
        match byte {
            LF if after_cr => None,
            CR | LF => Some(self.finish_line()),
            BACKSPACE | DELETE => {
                self.buf.pop();
                None
            }
            _ => {
                if self.buf.len() < MAX_LINE_LEN {
                    self.buf.push(byte);
                } else {
                    self.overflowed = true;
                }
                None
            }
        }
    }

    /// Whether part of a line has been received and not yet terminated.
    pub fn is_partial(&self) -> bool {
        !self.buf.is_empty() || self.overflowed
    }

    fn finish_line(&mut self) -> LineEvent {
        let line = std::mem::take(&mut self.buf);
        if std::mem::take(&mut self.overflowed) {
            LineEvent::TooLong
        } else {
            LineEvent::Line(line)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(bytes: &[u8]) -> Vec<LineEvent> {
        let mut asm = LineAssembler::new();
        bytes.iter().filter_map(|&b| asm.push(b)).collect()
    }

    #[test]
    fn cr_crlf_and_lf_end_lines() {
        assert_eq!(
            feed(b"AT\rATI\r\nAT+CSQ\n"),
            vec![
                LineEvent::Line(b"AT".to_vec()),
                LineEvent::Line(b"ATI".to_vec()),
                LineEvent::Line(b"AT+CSQ".to_vec()),
            ]
        );
    }

    #[test]
    fn empty_line_is_reported_as_empty() {
        assert_eq!(feed(b"\r"), vec![LineEvent::Line(vec![])]);
    }

    #[test]
    fn backspace_removes_previous_byte() {
        assert_eq!(feed(b"ATX\x08I\r"), vec![LineEvent::Line(b"ATI".to_vec())]);
        assert_eq!(
            feed(b"ATXY\x7f\x7fI\r"),
            vec![LineEvent::Line(b"ATI".to_vec())],
            "DEL, the Backspace key of most terminals, too"
        );
    }

    #[test]
    fn over_long_line_is_reported_once_and_next_line_is_clean() {
        let mut input = vec![b'A'; MAX_LINE_LEN + 10];
        input.extend_from_slice(b"\rAT\r");
        assert_eq!(
            feed(&input),
            vec![LineEvent::TooLong, LineEvent::Line(b"AT".to_vec())]
        );
    }

    #[test]
    fn line_of_exactly_max_length_is_accepted() {
        let mut input = vec![b'A'; MAX_LINE_LEN];
        input.push(b'\r');
        assert_eq!(
            feed(&input),
            vec![LineEvent::Line(vec![b'A'; MAX_LINE_LEN])]
        );
    }
}
