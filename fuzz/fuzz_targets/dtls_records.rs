//! Fuzzes the DTLS record layer of a server and a client with an established session: arbitrary
//! datagrams reach the server from the client's address and from a stranger's, and the client
//! from the server's, with time passing between them. Besides not panicking, the client's next
//! request must still get its answer: whatever a forger sends, the session survives or the two
//! make a new one (a device can always come back).

#![no_main]

use libfuzzer_sys::fuzz_target;
use nbmodem_clock::Instant;
use nbmodem_coap::{Endpoint, EndpointConfig, Event, Request, Response, Status};
use nbmodem_dtls::secure::{Role, SecureNode};
use nbmodem_dtls::PskLookup;
use nbmodem_net::sim::SimNetwork;
use nbmodem_net::Transmit;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

type Node = SecureNode<Endpoint>;

const IDENTITY: &[u8] = b"865975030000001";
const KEY: &[u8] = b"0123456789abcdef";

fn addresses() -> [SocketAddr; 3] {
    ["127.0.0.1:5684", "127.0.0.2:40000", "127.0.0.3:40000"].map(|a| a.parse().unwrap())
}

fn network() -> SimNetwork {
    let [server, client, _] = addresses();
    let mut net = SimNetwork::new(Instant::from_unix_millis(1_767_225_600_000), 9);
    let lookup: PskLookup = Arc::new(|identity: &[u8]| (identity == IDENTITY).then(|| KEY.to_vec()));
    let endpoint = |seed| Endpoint::new(EndpointConfig { seed, ..Default::default() });
    net.attach(server, SecureNode::new(endpoint(1), Role::Server { lookup }));
    let role = Role::Client { identity: IDENTITY.to_vec(), key: KEY.to_vec() };
    net.attach(client, SecureNode::new(endpoint(2), role));
    net
}

/// Sends a request from the client and lets the server answer it; whether the answer came.
fn request_is_answered(net: &mut SimNetwork) -> bool {
    let [server, client, _] = addresses();
    let now = net.now();
    let id = net.node::<Node>(client).unwrap().inner_mut().request(now, server, Request::get("/x"), true);
    for _ in 0..300 {
        net.run_for(Duration::from_secs(1));
        let now = net.now();
        let server_node = net.node::<Node>(server).unwrap();
        while let Some(event) = server_node.inner_mut().poll_event() {
            if let Event::Request { id, .. } = event {
                server_node.inner_mut().respond(now, id, Response::new(Status::Content));
            }
        }
        while let Some(event) = net.node::<Node>(client).unwrap().inner_mut().poll_event() {
            match event {
                Event::Response { id: got, .. } if got == id => return true,
                Event::RequestFailed { id: got, .. } if got == id => return false,
                _ => {}
            }
        }
    }
    false
}

fuzz_target!(|data: &[u8]| {
    let [server, client, stranger] = addresses();
    let mut net = network();
    assert!(request_is_answered(&mut net), "no session to start from");
    // Datagrams are separated by 0xC5; the first byte of each says where it goes, or how long to
    // wait.
    for chunk in data.split(|b| *b == 0xC5) {
        let Some((&selector, payload)) = chunk.split_first() else { continue };
        let (from, to) = match selector % 4 {
            0 => (client, server),
            1 => (stranger, server),
            2 => (server, client),
            _ => {
                net.run_for(Duration::from_millis(u64::from(selector) * 40));
                continue;
            }
        };
        net.inject(from, Transmit { destination: to, payload: payload.to_vec() });
    }
    assert!(request_is_answered(&mut net), "the client could not get through again");
});
