//! CoAP and LwM2M behind DTLS on the in-memory network: the engines run unchanged inside
//! [`SecureNode`], a wrong key gets nothing through, and the server learns each peer's identity.

use nbmodem_clock::Instant;
use nbmodem_coap::{Endpoint, EndpointConfig, Event, Request, Response, Status};
use nbmodem_dtls::secure::{Role, SecureNode};
use nbmodem_net::sim::SimNetwork;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const SERVER: &str = "127.0.0.1:5684";
const CLIENT: &str = "127.0.0.2:40000";
const IMEI: &[u8] = b"865975030000001";
const KEY: &[u8] = b"0123456789abcdef";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn network(client_key: &[u8]) -> SimNetwork {
    let mut net = SimNetwork::new(Instant::from_unix_millis(1_767_225_600_000), 9);
    let lookup: nbmodem_dtls::PskLookup =
        Arc::new(|identity: &[u8]| (identity == IMEI).then(|| KEY.to_vec()));
    net.attach(
        addr(SERVER),
        SecureNode::new(
            Endpoint::new(EndpointConfig::default()),
            Role::Server { lookup },
        ),
    );
    let role = Role::Client {
        identity: IMEI.to_vec(),
        key: client_key.to_vec(),
    };
    net.attach(
        addr(CLIENT),
        SecureNode::new(
            Endpoint::new(EndpointConfig {
                seed: 1,
                ..Default::default()
            }),
            role,
        ),
    );
    net
}

type Node = SecureNode<Endpoint>;

#[test]
fn coap_request_and_response_through_dtls() {
    let mut net = network(KEY);
    let now = net.now();
    let id = net.node::<Node>(addr(CLIENT)).unwrap().inner_mut().request(
        now,
        addr(SERVER),
        Request::get("/test"),
        true,
    );
    net.run_for(Duration::from_millis(100));
    let now = net.now();
    let server = net.node::<Node>(addr(SERVER)).unwrap();
    let Some(Event::Request {
        id: incoming,
        request,
        ..
    }) = server.inner_mut().poll_event()
    else {
        panic!("no request")
    };
    assert_eq!(request.path_text(), "/test");
    assert_eq!(server.peer_identity(addr(CLIENT)), Some(IMEI));
    server.inner_mut().respond(
        now,
        incoming,
        Response::new(Status::Content).with_payload(0, "secret"),
    );
    net.run_for(Duration::from_millis(100));
    let client = net.node::<Node>(addr(CLIENT)).unwrap();
    assert!(
        matches!(client.inner_mut().poll_event(), Some(Event::Response { id: got, response }) if got == id && response.payload == b"secret")
    );
    // Nothing crossed the network in clear.
    assert!(net
        .records()
        .iter()
        .all(|r| !r.payload.windows(6).any(|w| w == b"secret")));
}

#[test]
fn a_wrong_key_gets_nothing_through() {
    let mut net = network(b"the wrong key!!!");
    let now = net.now();
    net.node::<Node>(addr(CLIENT)).unwrap().inner_mut().request(
        now,
        addr(SERVER),
        Request::get("/test"),
        true,
    );
    net.run_for(Duration::from_secs(300));
    assert!(net
        .node::<Node>(addr(SERVER))
        .unwrap()
        .inner_mut()
        .poll_event()
        .is_none());
    let failed = net
        .node::<Node>(addr(CLIENT))
        .unwrap()
        .inner_mut()
        .poll_event();
    assert!(
        matches!(failed, Some(Event::RequestFailed { .. })),
        "{failed:?}"
    );
}

#[test]
fn lwm2m_registration_through_dtls() {
    use nbmodem_lwm2m::client::{ClientConfig, ClientEvent, Lwm2mClient};
    use nbmodem_lwm2m::object::ObjectStore;
    use nbmodem_lwm2m::server::{Lwm2mServer, ServerEvent};
    let mut net = SimNetwork::new(Instant::from_unix_millis(1_767_225_600_000), 4);
    let lookup: nbmodem_dtls::PskLookup =
        Arc::new(|identity: &[u8]| (identity == IMEI).then(|| KEY.to_vec()));
    net.attach(
        addr(SERVER),
        SecureNode::new(
            Lwm2mServer::new(EndpointConfig::default()),
            Role::Server { lookup },
        ),
    );
    let client = Lwm2mClient::new(
        ClientConfig::new("865975030000001", addr(SERVER)),
        ObjectStore::new(),
        EndpointConfig::default(),
    );
    net.attach(
        addr(CLIENT),
        SecureNode::new(
            client,
            Role::Client {
                identity: IMEI.to_vec(),
                key: KEY.to_vec(),
            },
        ),
    );
    let now = net.now();
    net.node::<SecureNode<Lwm2mClient>>(addr(CLIENT))
        .unwrap()
        .inner_mut()
        .register(now);
    net.run_for(Duration::from_millis(100));
    let client = net
        .node::<SecureNode<Lwm2mClient>>(addr(CLIENT))
        .unwrap()
        .inner_mut();
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::Registered { .. })
    ));
    let server = net
        .node::<SecureNode<Lwm2mServer>>(addr(SERVER))
        .unwrap()
        .inner_mut();
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Registered { .. })
    ));
}
