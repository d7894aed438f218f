//! The trace: one JSON object a line for each thing the module did, with its time (`time`, ISO
//! 8601 UTC, virtual or real as the run is) and its `type`:
//!
//! - `at`: a UART line, `dir` `in` (the host's) or `out` with its `kind` (`echo`, `response`,
//!   `result`, `urc`), and the `line`;
//! - `event`: a protocol event as the console shows it (`source`, `text`);
//! - `datagram`: `dir` `sent` or `received`, `from` and `to` (the module's address and the
//!   operator's public one), `length`, and what it carries: `coap` (type, code, MID, token,
//!   options, payload as `payload_text` or `payload_hex`) with the `lwm2m` operation, or `dtls`
//!   (its records), or else `payload_hex`;
//! - `lost`: how many events were dropped before this line because nobody took them.
//!
//! A response is named by the operation of the request it answers (`Register response`), a
//! message on the token of an observation after its first answer `Notify`: the trace remembers
//! the requests it has seen, by peer and token.

use nbmodem_clock::Instant;
use nbmodem_coap::describe::{describe, Described, OptionValue};
use nbmodem_lwm2m::kind::OperationKind;
use nbmodem_module::tap::{Datagram, Tapped};
use nbmodem_operators::ctiot::hex;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::SocketAddr;

/// A trace line: its fields in the order they are written, `time` and `type` first (a JSON
/// object of serde_json sorts its keys).
#[derive(Debug, Clone, PartialEq)]
pub struct Line(Vec<(&'static str, Value)>);

impl Line {
    fn new(at: Instant, kind: &'static str) -> Line {
        Line(vec![("time", at.iso8601().into()), ("type", kind.into())])
    }

    fn with(mut self, key: &'static str, value: impl Into<Value>) -> Line {
        self.0.push((key, value.into()));
        self
    }

    /// The line as one JSON object.
    pub fn to_json(&self) -> String {
        let fields: Vec<String> = self
            .0
            .iter()
            .map(|(key, value)| format!("{}:{value}", Value::from(*key)))
            .collect();
        format!("{{{}}}", fields.join(","))
    }
}

impl std::ops::Index<&str> for Line {
    type Output = Value;

    /// The value of field `key`, or `null`.
    fn index(&self, key: &str) -> &Value {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(&Value::Null, |(_, v)| v)
    }
}

/// The most requests remembered to name their answers; past it the memory starts afresh.
const MAX_REMEMBERED: usize = 4096;

/// Writes trace lines to `W`.
pub struct Trace<W: Write> {
    out: W,
    /// The operation of each request seen, by peer and token, and whether it was answered.
    requests: HashMap<(SocketAddr, Vec<u8>), (OperationKind, bool)>,
}

impl<W: Write> Trace<W> {
    pub fn new(out: W) -> Self {
        Trace {
            out,
            requests: HashMap::new(),
        }
    }

    /// Writes the line of `event`.
    pub fn record(&mut self, event: &Tapped) -> io::Result<()> {
        let line = self.line(event).to_json();
        writeln!(self.out, "{line}")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The JSON object of `event`.
    pub fn line(&mut self, event: &Tapped) -> Line {
        match event {
            Tapped::LineIn { at, text } => Line::new(*at, "at")
                .with("dir", "in")
                .with("line", text.as_str()),
            Tapped::LineOut { at, kind, text } => Line::new(*at, "at")
                .with("dir", "out")
                .with("kind", kind.name())
                .with("line", text.as_str()),
            Tapped::Notice(notice) => Line::new(notice.at, "event")
                .with("source", notice.source)
                .with("text", notice.text.as_str()),
            Tapped::Platform { at, text } => Line::new(*at, "platform").with("text", text.as_str()),
            Tapped::Lost { at, count } => Line::new(*at, "lost").with("count", *count),
            Tapped::Datagram(datagram) => self.datagram(datagram),
        }
    }

    fn datagram(&mut self, d: &Datagram) -> Line {
        let (from, to) = if d.sent {
            (d.module, d.peer)
        } else {
            (d.peer, d.module)
        };
        let line = Line::new(d.at, "datagram")
            .with("dir", if d.sent { "sent" } else { "received" })
            .with("from", from.to_string())
            .with("to", to.to_string())
            .with("length", d.payload.len());
        if let Some(coap) = describe(&d.payload) {
            let line = match self.operation(d.peer, &coap) {
                Some(operation) => line.with("lwm2m", operation),
                None => line,
            };
            line.with("coap", coap_fields(&coap))
        } else if let Some(records) = dtls_records(&d.payload) {
            line.with("dtls", records)
        } else {
            line.with("payload_hex", hex(&d.payload))
        }
    }

    /// The LwM2M operation a message carries: a request's own, an answer's by its request.
    fn operation(&mut self, peer: SocketAddr, coap: &Described) -> Option<String> {
        let key = (peer, coap.token.clone());
        if let Some(request) = &coap.request {
            let kind = OperationKind::of(request)?;
            if self.requests.len() >= MAX_REMEMBERED {
                self.requests.clear();
            }
            self.requests.insert(key, (kind, false));
            return Some(kind.name().into());
        }
        // An empty ACK or a Reset answers nothing at the LwM2M level.
        if coap.code.starts_with("0.00") {
            return None;
        }
        let (kind, answered) = self.requests.get_mut(&key)?;
        let name = match (*kind, *answered) {
            (OperationKind::Observe, true) if coap.observe => "Notify".into(),
            (kind, _) => format!("{} response", kind.name()),
        };
        *answered = true;
        if *kind != OperationKind::Observe {
            self.requests.remove(&key);
        }
        Some(name)
    }
}

/// Type, code, message ID, token, options and payload of a CoAP message.
fn coap_fields(coap: &Described) -> Value {
    let options: Vec<Value> = coap
        .options
        .iter()
        .map(|(name, value)| match value {
            OptionValue::Text(text) => json!([name, text]),
            OptionValue::Opaque(bytes) => json!([name, hex(bytes)]),
        })
        .collect();
    let mut fields = Map::new();
    fields.insert("type".into(), coap.kind.into());
    fields.insert("code".into(), coap.code.clone().into());
    fields.insert("mid".into(), coap.message_id.into());
    fields.insert("token".into(), hex(&coap.token).into());
    fields.insert("options".into(), options.into());
    if !coap.payload.is_empty() {
        let (key, value) = payload(&coap.payload);
        fields.insert(key.into(), value.into());
    }
    fields.into()
}

/// A payload as text when it is printable UTF-8, else as hexadecimal digits.
fn payload(bytes: &[u8]) -> (&'static str, String) {
    match std::str::from_utf8(bytes) {
        Ok(text)
            if text
                .chars()
                .all(|c| !c.is_control() || "\r\n\t".contains(c)) =>
        {
            ("payload_text", text.into())
        }
        _ => ("payload_hex", hex(bytes)),
    }
}

/// The DTLS records of a datagram (type, epoch, sequence number, length, and for a plain
/// handshake record its message), or `None` when it is not DTLS 1.0/1.2.
fn dtls_records(mut datagram: &[u8]) -> Option<Value> {
    let mut records = Vec::new();
    while !datagram.is_empty() {
        let header = datagram.get(..13)?;
        let kind = match header[0] {
            20 => "change_cipher_spec",
            21 => "alert",
            22 => "handshake",
            23 => "application_data",
            _ => return None,
        };
        if !matches!(header[1..3], [0xfe, 0xff] | [0xfe, 0xfd]) {
            return None;
        }
        let epoch = u16::from_be_bytes([header[3], header[4]]);
        let sequence = header[5..11]
            .iter()
            .fold(0u64, |n, b| n << 8 | u64::from(*b));
        let length = usize::from(u16::from_be_bytes([header[11], header[12]]));
        let fragment = datagram.get(13..13 + length)?;
        let mut record =
            json!({ "type": kind, "epoch": epoch, "sequence": sequence, "length": length });
        if kind == "handshake" && epoch == 0 {
            record["message"] = handshake_name(fragment.first().copied()).into();
        }
        records.push(record);
        datagram = &datagram[13 + length..];
    }
    Some(records.into())
}

/// The name of a handshake message (RFC 6347 §4.3.2) by its type.
fn handshake_name(kind: Option<u8>) -> String {
    match kind {
        Some(1) => "ClientHello".into(),
        Some(2) => "ServerHello".into(),
        Some(3) => "HelloVerifyRequest".into(),
        Some(12) => "ServerKeyExchange".into(),
        Some(14) => "ServerHelloDone".into(),
        Some(16) => "ClientKeyExchange".into(),
        Some(n) => format!("type {n}"),
        None => "empty".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nbmodem_clock::Instant;
    use nbmodem_module::tap::LineKind;

    fn datagram(sent: bool, payload: &[u8]) -> Tapped {
        Tapped::Datagram(Datagram {
            at: Instant::from_unix_millis(1_767_225_603_000),
            sent,
            module: "10.1.2.3:49152".parse().unwrap(),
            peer: "180.101.147.115:5683".parse().unwrap(),
            payload: payload.to_vec(),
        })
    }

    #[test]
    fn a_urc_line_is_marked() {
        let mut trace = Trace::new(Vec::new());
        let urc = Tapped::LineOut {
            at: Instant::from_unix_millis(1_767_225_600_000),
            kind: LineKind::Urc,
            text: "+QLWEVTIND: 3".into(),
        };
        trace.record(&urc).unwrap();
        assert_eq!(
            String::from_utf8(trace.out).unwrap(),
            "{\"time\":\"2026-01-01T00:00:00.000Z\",\"type\":\"at\",\"dir\":\"out\",\
             \"kind\":\"urc\",\"line\":\"+QLWEVTIND: 3\"}\n"
        );
    }

    #[test]
    fn an_observe_its_answer_and_a_notification_are_named() {
        let mut trace = Trace::new(Vec::new());
        // GET /19/0/0 Observe 0, token 0xab, from the platform; the piggybacked 2.05; a NON
        // notification with the uplink's bytes.
        let observe = [
            0x41, 0x01, 0x00, 0x07, 0xab, 0x60, 0x52, b'1', b'9', 0x01, b'0', 0x01, b'0',
        ];
        let answer = [0x61, 0x45, 0x00, 0x07, 0xab, 0x60];
        let notify = [0x51, 0x45, 0x00, 0x08, 0xab, 0x61, 0x01, 0xff, 0x00, 0x45];
        let observe = trace.line(&datagram(false, &observe));
        assert_eq!(observe["lwm2m"], "Observe");
        assert_eq!(observe["from"], "180.101.147.115:5683");
        assert_eq!(observe["coap"]["code"], "0.01 GET");
        assert_eq!(observe["coap"]["token"], "AB");
        assert_eq!(
            observe["coap"]["options"],
            json!([
                ["Observe", "0"],
                ["Uri-Path", "19"],
                ["Uri-Path", "0"],
                ["Uri-Path", "0"]
            ])
        );
        let answer = trace.line(&datagram(true, &answer));
        assert_eq!(answer["lwm2m"], "Observe response");
        assert_eq!(answer["coap"]["type"], "ACK");
        let notify = trace.line(&datagram(true, &notify));
        assert_eq!(notify["lwm2m"], "Notify");
        assert_eq!(notify["coap"]["payload_hex"], "0045");
        assert_eq!(notify["coap"]["mid"], 8);
    }

    #[test]
    fn dtls_records_are_listed_and_anything_else_is_hex() {
        let mut trace = Trace::new(Vec::new());
        let hello = [22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
        let line = trace.line(&datagram(true, &hello));
        assert_eq!(
            line["dtls"],
            json!([{"type": "handshake", "epoch": 0, "sequence": 0, "length": 1,
                    "message": "ClientHello"}])
        );
        let line = trace.line(&datagram(true, &[0x00, 0x01]));
        assert_eq!(line["payload_hex"], "0001");
        assert!(line["coap"].is_null());
    }
}
