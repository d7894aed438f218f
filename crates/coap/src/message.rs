//! Requests and responses as the application sees them, and their conversion to and from
//! coap-lite packets. Message type, message ID, token and the Block options are the endpoint's
//! business and do not appear here.

use coap_lite::option_value::OptionValueU32;
use coap_lite::{CoapOption, MessageClass, Packet};

pub use coap_lite::{RequestType as Method, ResponseType as Status};

/// An option the endpoint does not interpret, kept as number and raw value.
pub type RawOption = (u16, Vec<u8>);

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    /// Uri-Path segments.
    pub path: Vec<String>,
    /// Uri-Query items, each `key=value` or `key`.
    pub query: Vec<String>,
    pub content_format: Option<u16>,
    pub accept: Option<u16>,
    /// Observe: 0 registers, 1 deregisters.
    pub observe: Option<u32>,
    pub payload: Vec<u8>,
    /// Every other option (Uri-Host, ETag, …).
    pub other: Vec<RawOption>,
}

impl Request {
    /// A request for `path` (`/rd/abc`, `rd/abc` or `/`).
    pub fn new(method: Method, path: &str) -> Self {
        Request {
            method,
            path: split_path(path),
            query: Vec::new(),
            content_format: None,
            accept: None,
            observe: None,
            payload: Vec::new(),
            other: Vec::new(),
        }
    }

    pub fn get(path: &str) -> Self {
        Self::new(Method::Get, path)
    }

    pub fn with_query(mut self, item: impl Into<String>) -> Self {
        self.query.push(item.into());
        self
    }

    pub fn with_payload(mut self, content_format: u16, payload: impl Into<Vec<u8>>) -> Self {
        self.content_format = Some(content_format);
        self.payload = payload.into();
        self
    }

    pub fn with_observe(mut self, observe: u32) -> Self {
        self.observe = Some(observe);
        self
    }

    /// The path as text: `/rd/abc`, or `/` for the root.
    pub fn path_text(&self) -> String {
        format!("/{}", self.path.join("/"))
    }

    /// The value of query item `key` (`key=value`).
    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find_map(|q| q.strip_prefix(key)?.strip_prefix('='))
    }

    /// Path and query: identifies the resource for block-wise transfers.
    pub(crate) fn resource_key(&self) -> String {
        format!("{}?{}", self.path_text(), self.query.join("&"))
    }

    /// The request a coap-lite packet carries (`None` for a response or an empty message).
    pub fn from_packet(packet: &Packet) -> Option<Request> {
        let MessageClass::Request(method) = packet.header.code else {
            return None;
        };
        Some(Request {
            method,
            path: strings(packet, CoapOption::UriPath),
            query: strings(packet, CoapOption::UriQuery),
            content_format: uint(packet, CoapOption::ContentFormat).map(|v| v as u16),
            accept: uint(packet, CoapOption::Accept).map(|v| v as u16),
            observe: uint(packet, CoapOption::Observe),
            payload: packet.payload.clone(),
            other: others(packet),
        })
    }

    /// Writes the method and options, not the payload (a block-wise body goes block by block).
    pub(crate) fn write_options_to(&self, packet: &mut Packet) {
        packet.header.code = MessageClass::Request(self.method);
        set_strings(packet, CoapOption::UriPath, &self.path);
        set_strings(packet, CoapOption::UriQuery, &self.query);
        set_uint(
            packet,
            CoapOption::ContentFormat,
            self.content_format.map(u32::from),
        );
        set_uint(packet, CoapOption::Accept, self.accept.map(u32::from));
        set_uint(packet, CoapOption::Observe, self.observe);
        for (number, value) in &self.other {
            packet.add_option(CoapOption::from(*number), value.clone());
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: Status,
    pub content_format: Option<u16>,
    pub payload: Vec<u8>,
    pub location_path: Vec<String>,
    /// On a response to an Observe registration and on notifications: the sequence number. The
    /// endpoint fills it in for the notifications it sends.
    pub observe: Option<u32>,
    pub max_age: Option<u32>,
    pub other: Vec<RawOption>,
}

impl Response {
    pub fn new(status: Status) -> Self {
        Response {
            status,
            content_format: None,
            payload: Vec::new(),
            location_path: Vec::new(),
            observe: None,
            max_age: None,
            other: Vec::new(),
        }
    }

    pub fn with_payload(mut self, content_format: u16, payload: impl Into<Vec<u8>>) -> Self {
        self.content_format = Some(content_format);
        self.payload = payload.into();
        self
    }

    pub fn with_location(mut self, path: &str) -> Self {
        self.location_path = split_path(path);
        self
    }

    /// `2.05`, `4.04`, …
    pub fn status_text(&self) -> String {
        MessageClass::Response(self.status).to_string()
    }

    pub fn is_success(&self) -> bool {
        !self.status.is_error()
    }

    pub(crate) fn from_packet(packet: &Packet) -> Option<Response> {
        let MessageClass::Response(status) = packet.header.code else {
            return None;
        };
        Some(Response {
            status,
            content_format: uint(packet, CoapOption::ContentFormat).map(|v| v as u16),
            payload: packet.payload.clone(),
            location_path: strings(packet, CoapOption::LocationPath),
            observe: uint(packet, CoapOption::Observe),
            max_age: uint(packet, CoapOption::MaxAge),
            other: others(packet),
        })
    }

    pub(crate) fn write_to(&self, packet: &mut Packet) {
        self.write_with_payload(packet, &self.payload);
    }

    /// Writes the response with `payload` (one block of its body) in place of its own payload.
    pub(crate) fn write_with_payload(&self, packet: &mut Packet, payload: &[u8]) {
        packet.header.code = MessageClass::Response(self.status);
        set_strings(packet, CoapOption::LocationPath, &self.location_path);
        set_uint(
            packet,
            CoapOption::ContentFormat,
            self.content_format.map(u32::from),
        );
        set_uint(packet, CoapOption::Observe, self.observe);
        set_uint(packet, CoapOption::MaxAge, self.max_age);
        for (number, value) in &self.other {
            packet.add_option(CoapOption::from(*number), value.clone());
        }
        packet.payload = payload.to_vec();
    }
}

/// `"/a/b"` → `["a", "b"]`; `"/"` → `[]`.
fn split_path(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The options this module maps to fields, or the endpoint handles itself.
const KNOWN: [CoapOption; 9] = [
    CoapOption::UriPath,
    CoapOption::UriQuery,
    CoapOption::ContentFormat,
    CoapOption::Accept,
    CoapOption::Observe,
    CoapOption::LocationPath,
    CoapOption::MaxAge,
    CoapOption::Block1,
    CoapOption::Block2,
];

fn others(packet: &Packet) -> Vec<RawOption> {
    packet
        .options()
        .filter(|(number, _)| !KNOWN.contains(&CoapOption::from(**number)))
        .flat_map(|(number, values)| values.iter().map(move |v| (*number, v.clone())))
        .collect()
}

fn strings(packet: &Packet, option: CoapOption) -> Vec<String> {
    packet
        .get_option(option)
        .map(|values| {
            values
                .iter()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn set_strings(packet: &mut Packet, option: CoapOption, items: &[String]) {
    for item in items {
        packet.add_option(option, item.as_bytes().to_vec());
    }
}

/// Reads an unsigned integer option; a value longer than 4 bytes is ignored.
pub(crate) fn uint(packet: &Packet, option: CoapOption) -> Option<u32> {
    packet
        .get_first_option_as::<OptionValueU32>(option)?
        .ok()
        .map(|v| v.0)
}

/// Writes an unsigned integer option (coap-lite writes it in the fewest bytes).
pub(crate) fn set_uint(packet: &mut Packet, option: CoapOption, value: Option<u32>) {
    packet.clear_option(option);
    if let Some(v) = value {
        packet.add_option_as(option, OptionValueU32(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_through_a_packet() {
        let mut request = Request::new(Method::Post, "/rd")
            .with_query("ep=865975030000001")
            .with_query("lt=86400")
            .with_payload(40, b"</3/0>".to_vec());
        request.other.push((3, b"zzhc.vnet.cn".to_vec()));
        let mut packet = Packet::new();
        request.write_options_to(&mut packet);
        packet.payload = request.payload.clone();
        let bytes = packet.to_bytes().unwrap();
        let back = Request::from_packet(&Packet::from_bytes(&bytes).unwrap()).unwrap();
        assert_eq!(back, request);
        assert_eq!(back.query_value("lt"), Some("86400"));
        assert_eq!(back.path_text(), "/rd");
    }

    #[test]
    fn response_round_trips_through_a_packet() {
        let response = Response::new(Status::Created).with_location("/rd/5a3f");
        let mut packet = Packet::new();
        response.write_to(&mut packet);
        let back = Response::from_packet(&Packet::from_bytes(&packet.to_bytes().unwrap()).unwrap())
            .unwrap();
        assert_eq!(back, response);
        assert_eq!(back.status_text(), "2.01");
    }
}
