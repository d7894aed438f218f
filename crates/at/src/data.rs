//! Raw data after a `>` prompt (AT+QISEND): the bytes the host types are data, not a command
//! line, until a fixed length has arrived, or, with no length given, until Ctrl-Z; ESC cancels.

/// Ends data of no fixed length: the data is sent.
pub const CTRL_Z: u8 = 0x1A;
/// Cancels the data: nothing is sent.
pub const ESC: u8 = 0x1B;

/// How the data after the prompt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataEnd {
    /// All of it arrived: send it.
    Complete(Vec<u8>),
    /// ESC, or more than the most allowed before Ctrl-Z: nothing is sent.
    Cancelled,
}

/// Collects the data typed after a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataInput {
    buf: Vec<u8>,
    /// The fixed length, or `None` for data ended by Ctrl-Z.
    length: Option<usize>,
    /// With no fixed length, the most bytes taken before Ctrl-Z.
    max: usize,
}

impl DataInput {
    /// Data of exactly `length` bytes (any byte value, Ctrl-Z and ESC included).
    pub fn fixed(length: usize) -> Self {
        DataInput {
            buf: Vec::with_capacity(length),
            length: Some(length),
            max: length,
        }
    }

    /// Data ended by Ctrl-Z, of at most `max` bytes.
    pub fn until_ctrl_z(max: usize) -> Self {
        DataInput {
            buf: Vec::new(),
            length: None,
            max,
        }
    }

    /// Takes one byte; returns how the data ended when this byte ended it.
    pub fn push(&mut self, byte: u8) -> Option<DataEnd> {
        match self.length {
            Some(length) => {
                self.buf.push(byte);
                (self.buf.len() == length).then(|| DataEnd::Complete(std::mem::take(&mut self.buf)))
            }
            None => match byte {
                CTRL_Z => Some(DataEnd::Complete(std::mem::take(&mut self.buf))),
                ESC => Some(DataEnd::Cancelled),
                _ if self.buf.len() == self.max => Some(DataEnd::Cancelled),
                _ => {
                    self.buf.push(byte);
                    None
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(mut input: DataInput, bytes: &[u8]) -> (Option<DataEnd>, usize) {
        for (i, &b) in bytes.iter().enumerate() {
            if let Some(end) = input.push(b) {
                return (Some(end), i + 1);
            }
        }
        (None, bytes.len())
    }

    #[test]
    fn fixed_length_takes_any_byte_until_the_length() {
        let (end, used) = feed(DataInput::fixed(4), b"a\x1a\x1b\rrest");
        assert_eq!(end, Some(DataEnd::Complete(b"a\x1a\x1b\r".to_vec())));
        assert_eq!(used, 4);
    }

    #[test]
    fn ctrl_z_ends_and_esc_cancels() {
        let (end, used) = feed(DataInput::until_ctrl_z(10), b"hi\r\n\x1aAT");
        assert_eq!(end, Some(DataEnd::Complete(b"hi\r\n".to_vec())));
        assert_eq!(used, 5);
        assert_eq!(
            feed(DataInput::until_ctrl_z(10), b"hi\x1b").0,
            Some(DataEnd::Cancelled)
        );
        assert_eq!(
            feed(DataInput::until_ctrl_z(2), b"abc").0,
            Some(DataEnd::Cancelled),
            "one past the most"
        );
        assert_eq!(
            feed(DataInput::until_ctrl_z(2), b"ab\x1a").0,
            Some(DataEnd::Complete(b"ab".to_vec()))
        );
    }
}
