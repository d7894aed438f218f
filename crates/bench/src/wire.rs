//! Raw CoAP messages (RFC 7252 §3) for the load generator: requests are encoded once, with room
//! for the message ID and a 4-byte token that are stamped in before each send (a notification
//! keeps the token the server chose and gets only the message ID), and what the server sends is
//! read in place, without the codec the engines use, so that the generator stays cheap.

use std::fmt;

/// Token length of every request the generator sends.
pub const TOKEN_LEN: usize = 4;
pub const GET: u8 = 0x01;
pub const POST: u8 = 0x02;
pub const CREATED: u8 = 0x41;
pub const CHANGED: u8 = 0x44;
pub const CONTENT: u8 = 0x45;
/// The code of an empty message (an ACK without a response).
pub const EMPTY: u8 = 0x00;
pub const OBSERVE: u16 = 6;
pub const LOCATION_PATH: u16 = 8;
pub const URI_PATH: u16 = 11;
pub const CONTENT_FORMAT: u16 = 12;
pub const URI_QUERY: u16 = 15;
/// Message types.
pub const CON: u8 = 0;
pub const NON: u8 = 1;
/// An acknowledgement (a piggybacked response).
pub const ACK: u8 = 2;

/// Writes a message into a buffer, a confirmable request unless said otherwise: options must come
/// in increasing number order.
pub struct RequestWriter<'a> {
    out: &'a mut Vec<u8>,
    last: u16,
}

impl<'a> RequestWriter<'a> {
    /// Starts a request with method `code`; message ID and token are zero until stamped.
    pub fn new(out: &'a mut Vec<u8>, code: u8) -> Self {
        Self::with_header(out, CON, code, 0, &[0; TOKEN_LEN])
    }

    /// Starts any message: a response to the server's request, or a notification.
    pub fn with_header(out: &'a mut Vec<u8>, kind: u8, code: u8, mid: u16, token: &[u8]) -> Self {
        out.clear();
        out.extend_from_slice(&[0x40 | kind << 4 | token.len() as u8, code]);
        out.extend_from_slice(&mid.to_be_bytes());
        out.extend_from_slice(token);
        RequestWriter { out, last: 0 }
    }

    pub fn option(&mut self, number: u16, value: &[u8]) -> &mut Self {
        let delta = usize::from(number - self.last);
        self.last = number;
        self.out.push((nibble(delta) << 4) | nibble(value.len()));
        extension(self.out, delta);
        extension(self.out, value.len());
        self.out.extend_from_slice(value);
        self
    }

    pub fn payload(&mut self, payload: &[u8]) {
        if !payload.is_empty() {
            self.out.push(0xFF);
            self.out.extend_from_slice(payload);
        }
    }
}

fn nibble(value: usize) -> u8 {
    match value {
        0..=12 => value as u8,
        13..=268 => 13,
        _ => 14,
    }
}

fn extension(out: &mut Vec<u8>, value: usize) {
    match value {
        0..=12 => {}
        13..=268 => out.push((value - 13) as u8),
        _ => out.extend_from_slice(&((value - 269) as u16).to_be_bytes()),
    }
}

/// Puts a message ID, and a token unless the message keeps its own, into an encoded message.
pub fn stamp(message: &mut [u8], mid: u16, token: Option<u32>) {
    message[2..4].copy_from_slice(&mid.to_be_bytes());
    if let Some(token) = token {
        message[4..4 + TOKEN_LEN].copy_from_slice(&token.to_be_bytes());
    }
}

/// An unsigned option value in as few bytes as it takes (zero takes none).
pub fn uint(value: u32, out: &mut [u8; 4]) -> &[u8] {
    *out = value.to_be_bytes();
    let zeros = out.iter().take_while(|b| **b == 0).count();
    &out[zeros..]
}

/// Why a datagram is not a CoAP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(&'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed CoAP message: {}", self.0)
    }
}

/// A received message, read in place.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    /// Message type: 0 CON, 1 NON, 2 ACK, 3 RST.
    pub kind: u8,
    pub code: u8,
    pub mid: u16,
    pub token: &'a [u8],
    options: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> Reply<'a> {
    pub fn parse(datagram: &'a [u8]) -> Result<Self, Malformed> {
        let [first, code, hi, lo, rest @ ..] = datagram else {
            return Err(Malformed("shorter than a header"));
        };
        let token_len = usize::from(first & 0x0F);
        if first >> 6 != 1 || token_len > 8 || rest.len() < token_len {
            return Err(Malformed("bad version or token length"));
        }
        let (token, options) = rest.split_at(token_len);
        let mut cursor = options;
        while next_option(&mut cursor)?.is_some() {}
        let options = &options[..options.len() - cursor.len()];
        let payload = match cursor {
            [] => cursor,
            [0xFF] => return Err(Malformed("payload marker without payload")),
            [_, payload @ ..] => payload,
        };
        Ok(Reply {
            kind: (first >> 4) & 0b11,
            code: *code,
            mid: u16::from_be_bytes([*hi, *lo]),
            token,
            options,
            payload,
        })
    }

    /// The options, as (number, value), in order.
    pub fn options(&self) -> Options<'a> {
        Options {
            rest: self.options,
            number: 0,
        }
    }

    /// The response code as `c.dd`.
    pub fn code_text(&self) -> String {
        format!("{}.{:02}", self.code >> 5, self.code & 0x1F)
    }
}

/// Iterates the options of a [`Reply`] (already checked when it was parsed).
pub struct Options<'a> {
    rest: &'a [u8],
    number: u16,
}

impl<'a> Iterator for Options<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (delta, value) = next_option(&mut self.rest).ok()??;
        self.number += delta;
        Some((self.number, value))
    }
}

/// Reads one option (delta and value) off `cursor`; `None` at the payload marker or the end.
fn next_option<'a>(cursor: &mut &'a [u8]) -> Result<Option<(u16, &'a [u8])>, Malformed> {
    let Some((&byte, rest)) = cursor.split_first() else {
        return Ok(None);
    };
    if byte == 0xFF {
        return Ok(None);
    }
    let mut rest = rest;
    let delta = extended(byte >> 4, &mut rest)?;
    let len = usize::from(extended(byte & 0x0F, &mut rest)?);
    if rest.len() < len {
        return Err(Malformed("option longer than the message"));
    }
    let (value, rest) = rest.split_at(len);
    *cursor = rest;
    Ok(Some((delta, value)))
}

fn extended(nibble: u8, rest: &mut &[u8]) -> Result<u16, Malformed> {
    let (value, used) = match (nibble, *rest) {
        (0..=12, _) => (u16::from(nibble), 0),
        (13, [b, ..]) => (u16::from(*b) + 13, 1),
        (14, [hi, lo, ..]) => (u16::from_be_bytes([*hi, *lo]).saturating_add(269), 2),
        _ => return Err(Malformed("bad option delta or length")),
    };
    *rest = &rest[used..];
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_read_back_with_extended_deltas_and_lengths() {
        let long = vec![b'x'; 300];
        let mut out = Vec::new();
        RequestWriter::new(&mut out, POST)
            .option(URI_PATH, b"rd")
            .option(URI_QUERY, b"ep=865975030000001")
            .option(2048, &long)
            .payload(b"</3/0>");
        stamp(&mut out, 0xBEEF, Some(7));
        let message = Reply::parse(&out).unwrap();
        assert_eq!((message.kind, message.code, message.mid), (0, POST, 0xBEEF));
        assert_eq!(message.token, 7u32.to_be_bytes());
        let options: Vec<(u16, &[u8])> = message.options().collect();
        assert_eq!(
            options,
            [
                (URI_PATH, &b"rd"[..]),
                (URI_QUERY, &b"ep=865975030000001"[..]),
                (2048, &long[..])
            ]
        );
        assert_eq!(message.payload, b"</3/0>");
    }

    #[test]
    fn any_message_reads_back_with_its_token_and_minimal_integers() {
        let mut out = Vec::new();
        let mut observe = [0; 4];
        RequestWriter::with_header(&mut out, ACK, CONTENT, 0x1234, &[9; 8])
            .option(OBSERVE, uint(0x0102, &mut observe))
            .payload(b"x");
        let message = Reply::parse(&out).unwrap();
        assert_eq!(
            (message.kind, message.code, message.mid),
            (ACK, CONTENT, 0x1234)
        );
        assert_eq!(message.token, [9; 8]);
        assert_eq!(message.options().next(), Some((OBSERVE, &[1u8, 2][..])));
        assert!(uint(0, &mut observe).is_empty());
    }

    #[test]
    fn malformed_messages_are_refused() {
        assert!(Reply::parse(&[0x60, 0x45]).is_err());
        assert!(Reply::parse(&[0x64, 0x45, 0, 1, 0, 0]).is_err());
        assert!(Reply::parse(&[0x60, 0x45, 0, 1, 0xFF]).is_err());
        assert!(Reply::parse(&[0x60, 0x45, 0, 1, 0x83, b'r']).is_err());
        assert!(Reply::parse(&[0x60, 0x45, 0, 1, 0xF0]).is_err());
    }

    #[test]
    fn piggybacked_responses_read_in_place() {
        let ack = [
            0x64, 0x41, 0x12, 0x34, 1, 2, 3, 4, 0x82, b'r', b'd', 0x01, b'7',
        ];
        let reply = Reply::parse(&ack).unwrap();
        assert_eq!((reply.kind, reply.code_text().as_str()), (ACK, "2.01"));
        let location: Vec<_> = reply.options().map(|(n, v)| (n, v.to_vec())).collect();
        assert_eq!(
            location,
            [
                (LOCATION_PATH, b"rd".to_vec()),
                (LOCATION_PATH, b"7".to_vec())
            ]
        );
        assert!(reply.payload.is_empty());
    }
}
