//! A CoAP datagram told field by field for a person reading a trace: type, code, message ID,
//! token, each option by name with its value as text, and the payload. Decoded by the coap-lite
//! codec the endpoint uses, so a trace shows what the endpoint itself would read.

use crate::message::Request;
use coap_lite::{MessageClass, MessageType, Packet};

/// A decoded CoAP message.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    /// `CON`, `NON`, `ACK` or `RST`.
    pub kind: &'static str,
    /// `0.02`, `2.05`… with the method or status name: `0.02 POST`, `2.05 Content`.
    pub code: String,
    pub message_id: u16,
    pub token: Vec<u8>,
    /// Each option in the order of the message: its name (`Uri-Path`) and its value.
    pub options: Vec<(String, OptionValue)>,
    pub payload: Vec<u8>,
    /// The request the message carries, for requests.
    pub request: Option<Request>,
    /// Whether the message has an Observe option (a notification, when it is a response).
    pub observe: bool,
}

/// The value of an option: as text when it reads as text (a string, a number, a block), else
/// its bytes (an ETag, an unknown option).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    Text(String),
    Opaque(Vec<u8>),
}

/// Decodes `datagram`; `None` when it is not a CoAP message.
pub fn describe(datagram: &[u8]) -> Option<Described> {
    // Version 1 in the first two bits; coap-lite does not look (a DTLS record has 0 there).
    if datagram.first().map(|b| b >> 6) != Some(1) {
        return None;
    }
    let packet = Packet::from_bytes(datagram).ok()?;
    let kind = match packet.header.get_type() {
        MessageType::Confirmable => "CON",
        MessageType::NonConfirmable => "NON",
        MessageType::Acknowledgement => "ACK",
        MessageType::Reset => "RST",
    };
    let class = packet.header.code;
    let code = match class {
        MessageClass::Empty => format!("{class} Empty"),
        MessageClass::Request(method) => {
            format!("{class} {}", format!("{method:?}").to_uppercase())
        }
        MessageClass::Response(status) => format!("{class} {status:?}"),
        MessageClass::Reserved(_) => format!("{class} Reserved"),
    };
    let options = packet
        .options()
        .flat_map(|(number, values)| values.iter().map(move |v| (*number, v)))
        .map(|(number, value)| (option_name(number), option_value(number, value)))
        .collect();
    Some(Described {
        kind,
        code,
        message_id: packet.header.message_id,
        token: packet.get_token().to_vec(),
        options,
        payload: packet.payload.clone(),
        request: Request::from_packet(&packet),
        observe: packet.get_option(coap_lite::CoapOption::Observe).is_some(),
    })
}

/// How a value of an option is written: text, an unsigned integer, a block, or bytes.
#[derive(Clone, Copy)]
enum Format {
    Text,
    Uint,
    Block,
    Opaque,
}

/// The options of RFC 7252, 7641 (Observe) and 7959 (Block1, Block2, Size2), by number.
const OPTIONS: [(u16, &str, Format); 19] = [
    (1, "If-Match", Format::Opaque),
    (3, "Uri-Host", Format::Text),
    (4, "ETag", Format::Opaque),
    (5, "If-None-Match", Format::Opaque),
    (6, "Observe", Format::Uint),
    (7, "Uri-Port", Format::Uint),
    (8, "Location-Path", Format::Text),
    (11, "Uri-Path", Format::Text),
    (12, "Content-Format", Format::Uint),
    (14, "Max-Age", Format::Uint),
    (15, "Uri-Query", Format::Text),
    (17, "Accept", Format::Uint),
    (20, "Location-Query", Format::Text),
    (23, "Block2", Format::Block),
    (27, "Block1", Format::Block),
    (28, "Size2", Format::Uint),
    (35, "Proxy-Uri", Format::Text),
    (39, "Proxy-Scheme", Format::Text),
    (60, "Size1", Format::Uint),
];

fn option_name(number: u16) -> String {
    OPTIONS.iter().find(|(n, ..)| *n == number).map_or_else(
        || format!("Option {number}"),
        |(_, name, _)| name.to_string(),
    )
}

fn option_value(number: u16, value: &[u8]) -> OptionValue {
    let format = OPTIONS
        .iter()
        .find(|(n, ..)| *n == number)
        .map_or(Format::Opaque, |(.., f)| *f);
    let uint = || value.iter().fold(0u64, |n, b| n << 8 | u64::from(*b));
    let text = match format {
        Format::Text => String::from_utf8_lossy(value).into_owned(),
        Format::Uint if value.len() <= 8 => uint().to_string(),
        // NUM/M/SZX as RFC 7959 §2.2 writes them: block 3, more to come, 512 bytes is `3/1/512`.
        Format::Block if value.len() <= 3 => {
            let n = uint();
            format!("{}/{}/{}", n >> 4, (n >> 3) & 1, 16u64 << (n & 7).min(6))
        }
        _ => return OptionValue::Opaque(value.to_vec()),
    };
    OptionValue::Text(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Method;

    #[test]
    fn a_register_is_told_field_by_field() {
        let request = Request::new(Method::Post, "/rd")
            .with_query("ep=865975030000001")
            .with_payload(40, b"</3/0>".to_vec());
        let mut packet = Packet::new();
        packet.header.set_type(MessageType::Confirmable);
        packet.header.message_id = 0x1234;
        packet.set_token(vec![0xa1, 0xb2]);
        request.write_options_to(&mut packet);
        packet.add_option(coap_lite::CoapOption::Block1, vec![0x3e]);
        packet.payload = request.payload.clone();
        let described = describe(&packet.to_bytes().unwrap()).unwrap();
        assert_eq!(described.kind, "CON");
        assert_eq!(described.code, "0.02 POST");
        assert_eq!(described.message_id, 0x1234);
        assert_eq!(described.token, [0xa1, 0xb2]);
        let options: Vec<(&str, &OptionValue)> = described
            .options
            .iter()
            .map(|(n, v)| (n.as_str(), v))
            .collect();
        let text = |t: &str| OptionValue::Text(t.into());
        assert_eq!(
            options,
            [
                ("Uri-Path", &text("rd")),
                ("Content-Format", &text("40")),
                ("Uri-Query", &text("ep=865975030000001")),
                ("Block1", &text("3/1/1024")),
            ]
        );
        assert_eq!(described.request.unwrap().path_text(), "/rd");
        assert!(!described.observe);
    }

    #[test]
    fn what_is_not_coap_is_not_described() {
        assert_eq!(describe(&[0x16, 0xfe, 0xfd, 0, 0]), None);
        assert_eq!(describe(&[]), None);
    }
}
