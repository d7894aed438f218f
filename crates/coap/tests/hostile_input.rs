//! Arbitrary bytes from any peer never panic an endpoint, and anything it answers is a valid CoAP
//! message.

use nbmodem_clock::Instant;
use nbmodem_coap::{Endpoint, EndpointConfig, Request};
use proptest::prelude::*;
use std::net::SocketAddr;

proptest! {
    #[test]
    fn arbitrary_datagrams(datagrams in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..50)) {
        let mut endpoint = Endpoint::new(EndpointConfig::default());
        let peer: SocketAddr = "127.0.0.1:5683".parse().unwrap();
        let now = Instant::from_unix_millis(1_000_000);
        // Something in flight, so that ACKs, resets and responses can match state.
        endpoint.request(now, peer, Request::get("/x").with_observe(0), true);
        for datagram in &datagrams {
            endpoint.handle_datagram(now, peer, datagram);
            while let Some(t) = endpoint.poll_transmit() {
                prop_assert!(coap_lite::Packet::from_bytes(&t.payload).is_ok());
            }
            while endpoint.poll_event().is_some() {}
        }
        endpoint.handle_timeout(now + std::time::Duration::from_secs(1000));
    }
}
