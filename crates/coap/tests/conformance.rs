//! What a server endpoint refuses before its application sees a request (RFC 7252 §5.4.1, §5.7.2,
//! §5.8; RFC 7959 §2.2), and the memory that block-wise uploads of hostile peers can hold.

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use nbmodem_clock::Instant;
use nbmodem_coap::{Endpoint, EndpointConfig, Event};
use std::net::SocketAddr;

fn peer(n: u32) -> SocketAddr {
    SocketAddr::from(([10, (n >> 16) as u8, (n >> 8) as u8, n as u8], 5683))
}

fn now() -> Instant {
    Instant::from_unix_millis(1_767_225_600_000)
}

fn request(kind: MessageType, code: MessageClass, mid: u16) -> Packet {
    let mut packet = Packet::new();
    packet.header.set_type(kind);
    packet.header.code = code;
    packet.header.message_id = mid;
    packet.set_token(vec![0xAB, mid as u8]);
    packet.add_option(CoapOption::UriPath, b"nb".to_vec());
    packet
}

fn con_get(mid: u16) -> Packet {
    request(
        MessageType::Confirmable,
        MessageClass::Request(RequestType::Get),
        mid,
    )
}

/// Feeds `packet` from `from`; returns what the endpoint sent back and whether the application
/// got a request.
fn exchange(endpoint: &mut Endpoint, from: SocketAddr, packet: &Packet) -> (Vec<Packet>, bool) {
    endpoint.handle_datagram(now(), from, &packet.to_bytes().unwrap());
    let mut replies = Vec::new();
    while let Some(t) = endpoint.poll_transmit() {
        assert_eq!(t.destination, from);
        replies.push(Packet::from_bytes(&t.payload).unwrap());
    }
    let mut delivered = false;
    while let Some(event) = endpoint.poll_event() {
        delivered |= matches!(event, Event::Request { .. });
    }
    (replies, delivered)
}

/// The one reply to `packet`, which the application never saw.
fn refused(endpoint: &mut Endpoint, packet: &Packet) -> Packet {
    let (replies, delivered) = exchange(endpoint, peer(1), packet);
    assert!(!delivered, "the application got a request it should not");
    let [reply] = replies.try_into().unwrap();
    reply
}

fn assert_piggybacked(reply: &Packet, to: &Packet, status: ResponseType) {
    assert_eq!(reply.header.get_type(), MessageType::Acknowledgement);
    assert_eq!(reply.header.message_id, to.header.message_id);
    assert_eq!(reply.get_token(), to.get_token());
    assert_eq!(reply.header.code, MessageClass::Response(status));
}

#[test]
fn unknown_critical_options_get_4_02_or_a_reset() {
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    for (i, number) in [1u16, 5, 9, 2049, 65001].into_iter().enumerate() {
        let mut con = con_get(i as u16);
        con.add_option(CoapOption::from(number), b"x".to_vec());
        let reply = refused(&mut endpoint, &con);
        assert_piggybacked(&reply, &con, ResponseType::BadOption);

        let mut non = request(
            MessageType::NonConfirmable,
            MessageClass::Request(RequestType::Get),
            100 + i as u16,
        );
        non.add_option(CoapOption::from(number), b"x".to_vec());
        let reply = refused(&mut endpoint, &non);
        assert_eq!(
            reply.header.get_type(),
            MessageType::Reset,
            "option {number}"
        );
        assert_eq!(reply.header.message_id, non.header.message_id);
    }
}

#[test]
fn unknown_elective_options_and_the_understood_critical_ones_reach_the_application() {
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    let mut packet = con_get(1);
    let options = [
        (2048u16, &b"e"[..]),
        (3, b"host"),
        (7, &[0x16, 0x33]),
        (17, &[40]),
    ];
    for (number, value) in options {
        packet.add_option(CoapOption::from(number), value.to_vec());
    }
    let (replies, delivered) = exchange(&mut endpoint, peer(1), &packet);
    assert!(delivered);
    assert!(replies.is_empty(), "the application answers");
}

#[test]
fn proxy_requests_get_5_05() {
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    for (mid, option) in [(1, CoapOption::ProxyUri), (2, CoapOption::ProxyScheme)] {
        let mut packet = con_get(mid);
        packet.add_option(option, b"coap://example.org/x".to_vec());
        let reply = refused(&mut endpoint, &packet);
        assert_piggybacked(&reply, &packet, ResponseType::ProxyingNotSupported);
    }
}

#[test]
fn a_method_code_nobody_assigned_gets_4_05() {
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    let con = request(MessageType::Confirmable, MessageClass::Reserved(0x1F), 7);
    let reply = refused(&mut endpoint, &con);
    assert_piggybacked(&reply, &con, ResponseType::MethodNotAllowed);
    let non = request(MessageType::NonConfirmable, MessageClass::Reserved(0x08), 8);
    let reply = refused(&mut endpoint, &non);
    assert_eq!(reply.header.get_type(), MessageType::NonConfirmable);
    assert_eq!(reply.get_token(), non.get_token());
    assert_eq!(
        reply.header.code,
        MessageClass::Response(ResponseType::MethodNotAllowed)
    );
}

/// A POST carrying a Block1 option with this raw value and payload.
fn block1_post(mid: u16, query: &str, raw: Vec<u8>, payload: Vec<u8>) -> Packet {
    let mut packet = request(
        MessageType::Confirmable,
        MessageClass::Request(RequestType::Post),
        mid,
    );
    packet.add_option(CoapOption::UriQuery, query.as_bytes().to_vec());
    packet.add_option(CoapOption::Block1, raw);
    packet.payload = payload;
    packet
}

/// Block1 value: NUM 0, M 1, SZX `szx`.
fn first_block(szx: u8) -> Vec<u8> {
    vec![0x08 | szx]
}

#[test]
fn a_reserved_block_size_gets_4_00() {
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    let packet = block1_post(1, "k=1", vec![0x0F], vec![0; 2048]);
    let reply = refused(&mut endpoint, &packet);
    assert_piggybacked(&reply, &packet, ResponseType::BadRequest);
    assert_eq!(endpoint.block_memory(), 0);
}

#[test]
fn blocks_larger_than_they_declare_get_4_00_and_hold_nothing() {
    // The audit's flood: datagrams of 60 KB, each "the first 16-byte block" of another body.
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    for k in 0..200u16 {
        let packet = block1_post(k, &format!("k={k}"), first_block(0), vec![0; 60_000]);
        let reply = refused(&mut endpoint, &packet);
        assert_piggybacked(&reply, &packet, ResponseType::BadRequest);
    }
    // A middle block shorter than its size is as wrong.
    let short = block1_post(999, "k=x", first_block(2), vec![0; 63]);
    assert_piggybacked(
        &refused(&mut endpoint, &short),
        &short,
        ResponseType::BadRequest,
    );
    assert_eq!(endpoint.block_memory(), 0);
}

#[test]
fn one_peer_holds_at_most_four_partial_bodies() {
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    for k in 0..6000u16 {
        let packet = block1_post(k, &format!("k={k}"), first_block(6), vec![0; 1024]);
        let (replies, _) = exchange(&mut endpoint, peer(1), &packet);
        let code = replies[0].header.code;
        assert_eq!(code, MessageClass::Response(ResponseType::Continue));
    }
    let per_body = 1024 + "/nb?k=5999".len();
    assert!(
        endpoint.block_memory() <= 4 * per_body,
        "{}",
        endpoint.block_memory()
    );
}

#[test]
fn all_peers_together_hold_at_most_the_budget_and_the_rest_are_told_to_come_back() {
    let budget = 256 * 1024;
    let mut endpoint = Endpoint::new(EndpointConfig {
        block_memory: budget,
        ..EndpointConfig::default()
    });
    let mut busy = 0;
    for n in 0..1000 {
        let packet = block1_post(1, "k=0", first_block(6), vec![0; 1024]);
        let (replies, _) = exchange(&mut endpoint, peer(n), &packet);
        let code = replies[0].header.code;
        if code == MessageClass::Response(ResponseType::ServiceUnavailable) {
            assert!(replies[0].get_option(CoapOption::MaxAge).is_some());
            busy += 1;
        } else {
            assert_eq!(code, MessageClass::Response(ResponseType::Continue));
        }
        assert!(endpoint.block_memory() <= budget);
    }
    assert!(busy >= 1000 - budget / 1024, "{busy} told to come back");
    // Nothing extends them: they are freed after EXCHANGE_LIFETIME.
    endpoint.handle_timeout(now() + std::time::Duration::from_secs(300));
    endpoint.handle_timeout(now() + std::time::Duration::from_secs(600));
    assert_eq!(endpoint.block_memory(), 0);
}

#[test]
fn a_body_past_the_limit_gets_4_13_with_its_size1() {
    let mut endpoint = Endpoint::new(EndpointConfig {
        max_body_size: 1000,
        ..EndpointConfig::default()
    });
    let packet = block1_post(1, "k=0", first_block(6), vec![0; 1024]);
    let reply = refused(&mut endpoint, &packet);
    assert_piggybacked(&reply, &packet, ResponseType::RequestEntityTooLarge);
    let size1 = reply.get_first_option(CoapOption::Size1).unwrap();
    assert_eq!(size1, &vec![0x03, 0xE8]);
    assert_eq!(endpoint.block_memory(), 0);
}
