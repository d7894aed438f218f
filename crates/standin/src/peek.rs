//! A look at datagrams before the CoAP engine takes them: whether an incoming datagram is a request
//! and what it asks, for faults and records.

use coap_lite::Packet;
use nbmodem_coap::Request;
use serde_json::{json, Map, Value};

/// How much of an odd body or datagram a record keeps.
const EXCERPT: usize = 256;

/// What an incoming datagram is.
#[derive(Debug, Clone, PartialEq)]
pub enum Datagram {
    Request(Incoming),
    /// A notification (a 2.05 with Observe that is not an acknowledgement): how a CT IoT
    /// device's uplink comes. Whether it is confirmable, and its message ID.
    Notification {
        confirmable: bool,
        mid: u16,
    },
    /// A response, an ACK, a Reset or a ping: not subject to faults, not recorded.
    Other,
    /// Not a CoAP message at all.
    Malformed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub mid: u16,
    pub token: Vec<u8>,
    pub request: Request,
}

pub fn peek(datagram: &[u8]) -> Datagram {
    use coap_lite::{CoapOption, MessageClass, MessageType, ResponseType};
    let Ok(packet) = Packet::from_bytes(datagram) else {
        return Datagram::Malformed;
    };
    let mid = packet.header.message_id;
    if let Some(request) = Request::from_packet(&packet) {
        let token = packet.get_token().to_vec();
        return Datagram::Request(Incoming {
            mid,
            token,
            request,
        });
    }
    let kind = packet.header.get_type();
    let is_notification = packet.header.code == MessageClass::Response(ResponseType::Content)
        && packet.get_option(CoapOption::Observe).is_some()
        && matches!(kind, MessageType::Confirmable | MessageType::NonConfirmable);
    match is_notification {
        true => Datagram::Notification {
            confirmable: kind == MessageType::Confirmable,
            mid,
        },
        false => Datagram::Other,
    }
}

/// Whether `datagram` is an empty acknowledgement of `mid`.
pub(crate) fn is_empty_ack(datagram: &[u8], mid: u16) -> bool {
    use coap_lite::{MessageClass, MessageType};
    Packet::from_bytes(datagram).is_ok_and(|p| {
        p.header.get_type() == MessageType::Acknowledgement
            && p.header.code == MessageClass::Empty
            && p.header.message_id == mid
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use coap_lite::{CoapOption, MessageClass, MessageType, RequestType, ResponseType};

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
        let mut notification = Packet::from_bytes(&response).unwrap();
        notification.add_option(CoapOption::Observe, vec![3]);
        let notification = notification.to_bytes().unwrap();
        let want = Datagram::Notification {
            confirmable: true,
            mid: 7,
        };
        assert_eq!(peek(&notification), want);
        assert_eq!(peek(b"\xff"), Datagram::Malformed);
    }
}
