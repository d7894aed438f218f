//! Fuzzes the CoAP endpoint with arbitrary datagrams from two peers, after it has sent an Observe
//! request and accepted an observer (so that ACKs, resets, responses and block options can match
//! state). Besides not panicking, every datagram the endpoint sends must parse as CoAP.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nbmodem_clock::Instant;
use nbmodem_coap::{Endpoint, EndpointConfig, Event, Request, Response, Status};
use std::net::SocketAddr;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let peers: [SocketAddr; 2] = ["127.0.0.1:5683".parse().unwrap(), "127.0.0.2:5683".parse().unwrap()];
    let mut now = Instant::from_unix_millis(1_000_000);
    let mut endpoint = Endpoint::new(EndpointConfig { block_size: 16, ..Default::default() });
    endpoint.request(now, peers[0], Request::get("/19/0/0").with_observe(0), true);
    // Datagrams are separated by 0xC5 0xC5; the first byte of each picks the peer.
    for chunk in data.split(|b| *b == 0xC5) {
        let Some((&selector, datagram)) = chunk.split_first() else { continue };
        endpoint.handle_datagram(now, peers[usize::from(selector & 1)], datagram);
        while let Some(event) = endpoint.poll_event() {
            if let Event::Request { id, .. } = event {
                let mut response = Response::new(Status::Content).with_payload(42, vec![7; 100]);
                response.observe = Some(0);
                endpoint.respond(now, id, response);
            }
        }
        while let Some(t) = endpoint.poll_transmit() {
            assert!(coap_lite::Packet::from_bytes(&t.payload).is_ok(), "we sent something that is not CoAP");
        }
        now = now + Duration::from_millis(u64::from(selector) * 100);
        endpoint.handle_timeout(now);
    }
});
