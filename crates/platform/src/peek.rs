//! A look at datagrams around the CoAP engine: whether an incoming datagram is a request and what
//! it asks (for faults and records, before the engine takes it), and which status the engine
//! answered it with.

use coap_lite::{MessageClass, Packet};
use nbmodem_clock::Instant;
use nbmodem_coap::{Request, TransmissionParams};
use nbmodem_net::Transmit;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;

/// How much of an odd body or datagram a record keeps.
const EXCERPT: usize = 256;
/// The most message IDs [`Dedup`] remembers.
const DEDUP_CAPACITY: usize = 4096;

/// What an incoming datagram is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Datagram {
    Request(Incoming),
    /// A response, an ACK, a Reset or a ping: not subject to faults, not recorded.
    Other,
    /// Not a CoAP message at all.
    Malformed,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Incoming {
    pub mid: u16,
    pub token: Vec<u8>,
    pub request: Request,
}

pub(crate) fn peek(datagram: &[u8]) -> Datagram {
    let Ok(packet) = Packet::from_bytes(datagram) else {
        return Datagram::Malformed;
    };
    let Some(request) = Request::from_packet(&packet) else {
        return Datagram::Other;
    };
    Datagram::Request(Incoming {
        mid: packet.header.message_id,
        token: packet.get_token().to_vec(),
        request,
    })
}

/// The status of the response to the request with `token` from `peer`, among `transmits`.
pub(crate) fn reply_status<'a>(
    transmits: impl IntoIterator<Item = &'a Transmit>,
    peer: SocketAddr,
    token: &[u8],
) -> Option<String> {
    transmits
        .into_iter()
        .filter(|t| t.destination == peer)
        .filter_map(|t| Packet::from_bytes(&t.payload).ok())
        .find(|p| p.get_token() == token && matches!(p.header.code, MessageClass::Response(_)))
        .map(|p| p.header.code.to_string())
}

/// `POST`, `GET`, …
pub(crate) fn method_name(request: &Request) -> String {
    format!("{:?}", request.method).to_uppercase()
}

/// The fields of a request no server resource takes: its method and path.
pub(crate) fn other_fields(request: &Request) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("method".into(), json!(method_name(request)));
    fields.insert("path".into(), json!(request.path_text()));
    fields
}

/// The fields of a datagram that is not CoAP: its length and first bytes in hex.
pub(crate) fn malformed_fields(datagram: &[u8]) -> Map<String, Value> {
    let hex: String = datagram
        .iter()
        .take(EXCERPT / 2)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut fields = Map::new();
    fields.insert("length".into(), json!(datagram.len()));
    fields.insert("hex".into(), json!(hex));
    fields
}

/// A body as text for a record: lossy UTF-8, at most 256 characters.
pub(crate) fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(EXCERPT)
        .collect()
}

/// Recently seen (peer, message ID) pairs, so that a retransmission the engine answers from its
/// cache is not recorded twice. Kept for EXCHANGE_LIFETIME, at most [`DEDUP_CAPACITY`].
#[derive(Debug, Default)]
pub(crate) struct Dedup {
    recent: VecDeque<(Instant, SocketAddr, u16)>,
}

impl Dedup {
    /// Whether this is the first time (peer, mid) is seen recently; remembers it.
    pub fn first_time(&mut self, now: Instant, peer: SocketAddr, mid: u16) -> bool {
        let lifetime = TransmissionParams::default().exchange_lifetime();
        while self
            .recent
            .front()
            .is_some_and(|(at, _, _)| now.saturating_since(*at) > lifetime)
        {
            self.recent.pop_front();
        }
        if self.recent.iter().any(|(_, p, m)| *p == peer && *m == mid) {
            return false;
        }
        if self.recent.len() == DEDUP_CAPACITY {
            self.recent.pop_front();
        }
        self.recent.push_back((now, peer, mid));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coap_lite::{CoapOption, MessageType, RequestType, ResponseType};

    fn packet(code: MessageClass, token: &[u8]) -> Vec<u8> {
        let mut packet = Packet::new();
        packet.header.set_type(MessageType::Confirmable);
        packet.header.code = code;
        packet.header.message_id = 7;
        packet.set_token(token.to_vec());
        packet.add_option(CoapOption::UriPath, b"nb".to_vec());
        packet.add_option(CoapOption::ContentFormat, vec![50]);
        packet.payload = b"body".to_vec();
        packet.to_bytes().unwrap()
    }

    #[test]
    fn requests_are_told_from_the_rest() {
        let Datagram::Request(incoming) =
            peek(&packet(MessageClass::Request(RequestType::Post), b"t"))
        else {
            panic!("not seen as a request");
        };
        assert_eq!((incoming.mid, incoming.token.as_slice()), (7, &b"t"[..]));
        assert_eq!(incoming.request.path_text(), "/nb");
        assert_eq!(incoming.request.content_format, Some(50));
        assert_eq!(method_name(&incoming.request), "POST");
        let response = packet(MessageClass::Response(ResponseType::Content), b"t");
        assert_eq!(peek(&response), Datagram::Other);
        assert_eq!(peek(b"\xff"), Datagram::Malformed);
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let sent = [Transmit {
            destination: peer,
            payload: response,
        }];
        assert_eq!(reply_status(&sent, peer, b"t").as_deref(), Some("2.05"));
        assert_eq!(reply_status(&sent, peer, b"u"), None);
    }

    #[test]
    fn dedup_forgets_after_the_exchange_lifetime() {
        let mut dedup = Dedup::default();
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let t0 = Instant::from_unix_millis(0);
        assert!(dedup.first_time(t0, peer, 1));
        assert!(!dedup.first_time(t0, peer, 1));
        assert!(dedup.first_time(t0, peer, 2));
        assert!(dedup.first_time(t0 + std::time::Duration::from_secs(300), peer, 1));
    }
}
