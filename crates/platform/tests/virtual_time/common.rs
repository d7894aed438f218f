//! Helpers shared by the virtual-time tests: a simulated network with the platform on it, a CoAP
//! client that posts records, raw datagrams from an address that is not a node, and the records as
//! the store has them.

use nbmodem_clock::{Instant, VirtualClock};
use nbmodem_coap::{
    Endpoint, EndpointConfig, Event, Method, Request, Response, TransmissionParams,
};
use nbmodem_net::sim::SimNetwork;
use nbmodem_net::Transmit;
use nbmodem_operators::selfreg::Registry;
use nbmodem_platform::{Addresses, Platform, RequestRecord, Server, Store};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub const START: Instant = VirtualClock::DEFAULT_START;

pub fn client_address() -> SocketAddr {
    "10.0.0.2:40000".parse().unwrap()
}

pub fn raw_address() -> SocketAddr {
    "10.0.0.3:40001".parse().unwrap()
}

/// A network with the platform (data in `data`) at the default addresses, a CoAP client with the
/// BC25 CT/CU schedule (3 s, 4 retransmissions, no randomness).
pub fn network(data: &Path, configure: impl FnOnce(&mut Platform)) -> SimNetwork {
    let mut platform = Platform::open(data, 7, nbmodem_platform::Writing::Inline).unwrap();
    configure(&mut platform);
    let mut net = SimNetwork::new(START, 11);
    platform.attach(&mut net, &Addresses::default());
    let client = Endpoint::new(EndpointConfig {
        params: TransmissionParams::exact(Duration::from_secs(3), 4),
        seed: 3,
        ..EndpointConfig::default()
    });
    net.attach(client_address(), client);
    net
}

pub use crate::sample::record;

/// Posts `body` (Content-Format 50) to `path` of `server`, confirmable.
pub fn post(net: &mut SimNetwork, server: SocketAddr, path: &str, body: Vec<u8>) {
    send(
        net,
        server,
        Request::new(Method::Post, path).with_payload(50, body),
    );
}

pub fn send(net: &mut SimNetwork, server: SocketAddr, request: Request) {
    let now = net.now();
    let client = net.node::<Endpoint>(client_address()).unwrap();
    client.request(now, server, request, true);
    net.flush();
}

/// The responses the client got so far.
pub fn responses(net: &mut SimNetwork) -> Vec<Response> {
    let client = net.node::<Endpoint>(client_address()).unwrap();
    std::iter::from_fn(|| client.poll_event())
        .filter_map(|event| match event {
            Event::Response { response, .. } => Some(response),
            _ => None,
        })
        .collect()
}

pub fn records(data: &Path, server: Server) -> Vec<RequestRecord> {
    Store::open(data).unwrap().records(server).unwrap()
}

pub fn ms_after_start(record: &RequestRecord) -> u64 {
    record.time_ms - START.unix_millis()
}

pub fn registry_address(registry: Registry) -> SocketAddr {
    match registry {
        Registry::ChinaTelecom => Addresses::default().ct,
        Registry::ChinaUnicom => Addresses::default().cu,
    }
}

/// Sends raw bytes to `to` from an address that is not a node.
pub fn send_raw(net: &mut SimNetwork, to: SocketAddr, bytes: &[u8]) {
    let datagram = Transmit {
        destination: to,
        payload: bytes.to_vec(),
    };
    net.inject(raw_address(), datagram);
}
