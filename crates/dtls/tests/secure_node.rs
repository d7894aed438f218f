//! CoAP and LwM2M behind DTLS on the in-memory network: the engines run unchanged inside
//! [`SecureNode`], a wrong key gets nothing through, and the server learns each peer's identity.

use nbmodem_clock::Instant;
use nbmodem_coap::{Endpoint, EndpointConfig, Event, Request, Response, Status};
use nbmodem_dtls::secure::{Role, SecureEvent, SecureNode, ServerLimits};
use nbmodem_dtls::DtlsSession;
use nbmodem_net::sim::SimNetwork;
use nbmodem_net::DatagramNode;
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

fn server_node() -> Node {
    let lookup: nbmodem_dtls::PskLookup =
        Arc::new(|identity: &[u8]| (identity == IMEI).then(|| KEY.to_vec()));
    SecureNode::new(
        Endpoint::new(EndpointConfig::default()),
        Role::Server { lookup },
    )
}

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
    // The client is told why: its handshake got no answer (records under a wrong key fail
    // authentication and are dropped, so the server stays silent).
    let client = net.node::<Node>(addr(CLIENT)).unwrap();
    let events: Vec<SecureEvent> = std::iter::from_fn(|| client.poll_event()).collect();
    assert!(
        events.contains(&SecureEvent::Failed {
            peer: addr(SERVER),
            cause: nbmodem_dtls::SessionFailure::TimedOut
        }),
        "{events:?}"
    );
    assert!(!events
        .iter()
        .any(|e| matches!(e, SecureEvent::Connected { .. })));
}

#[test]
fn a_refused_handshake_is_reported_with_its_cause_and_a_good_one_as_connected() {
    let mut net = network(KEY);
    net.detach(addr(SERVER));
    let now = net.now();
    net.node::<Node>(addr(CLIENT)).unwrap().inner_mut().request(
        now,
        addr(SERVER),
        Request::get("/test"),
        true,
    );
    net.run_for(Duration::from_millis(10));
    // The "server" answers the ClientHello with a fatal handshake_failure alert (a plaintext
    // record: type 21, DTLS 1.2, epoch 0, sequence 0, length 2).
    let alert = [21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 40];
    net.inject(
        addr(SERVER),
        nbmodem_net::Transmit {
            destination: addr(CLIENT),
            payload: alert.to_vec(),
        },
    );
    let client = net.node::<Node>(addr(CLIENT)).unwrap();
    let events: Vec<SecureEvent> = std::iter::from_fn(|| client.poll_event()).collect();
    assert!(
        matches!(&events[..], [SecureEvent::Failed { peer, cause: nbmodem_dtls::SessionFailure::Handshake(_) }] if *peer == addr(SERVER)),
        "{events:?}"
    );
    // The real server comes back: the next request opens a new session, reported connected.
    net.attach(addr(SERVER), server_node());
    let now = net.now();
    net.node::<Node>(addr(CLIENT)).unwrap().inner_mut().request(
        now,
        addr(SERVER),
        Request::get("/again"),
        true,
    );
    net.run_for(Duration::from_millis(100));
    assert_eq!(
        net.node::<Node>(addr(CLIENT)).unwrap().poll_event(),
        Some(SecureEvent::Connected { peer: addr(SERVER) })
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

#[test]
fn garbage_from_many_peers_leaves_no_session_behind() {
    let mut server = server_node();
    let now = Instant::from_unix_millis(1_767_225_600_000);
    let mut rng = nbmodem_clock::SeededRng::new(0x2545_f491_4f6c_dd1d);
    let mut next = move || rng.next_u64();
    for i in 0..2_000u32 {
        let peer = SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 40_000));
        let len = (next() % 200) as usize;
        let mut datagram: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 && len >= 13 {
            // A plaintext handshake record header (epoch 0, honest length) before random bytes.
            datagram[..5].copy_from_slice(&[22, 0xfe, 0xfd, 0, 0]);
            datagram[11..13].copy_from_slice(&((len - 13) as u16).to_be_bytes());
        }
        server.handle_datagram(now, peer, &datagram);
        while server.poll_transmit().is_some() {}
    }
    assert_eq!(server.session_count(), 0);
    assert_eq!(server.poll_timeout(), None);
}

#[test]
fn a_client_silent_after_its_client_hello_is_forgotten() {
    let mut server = server_node();
    let mut now = Instant::from_unix_millis(1_767_225_600_000);
    let mut client = DtlsSession::client(now, IMEI, KEY).unwrap();
    let hello = client.poll_transmit().unwrap();
    server.handle_datagram(now, addr(CLIENT), &hello);
    assert_eq!(
        server.session_count(),
        0,
        "a ClientHello alone opens nothing"
    );
    let verify_request = server.poll_transmit().expect("a HelloVerifyRequest");
    client.handle_datagram(now, &verify_request.payload);
    let with_cookie = client
        .poll_transmit()
        .expect("the ClientHello again, with the cookie");
    server.handle_datagram(now, addr(CLIENT), &with_cookie);
    assert_eq!(
        server.session_count(),
        1,
        "the returned cookie opens a session"
    );
    while server.poll_transmit().is_some() {}
    // The server retransmits its flight into the void until it gives up.
    for _ in 0..20 {
        let Some(at) = server.poll_timeout() else {
            break;
        };
        now = at;
        server.handle_timeout(now);
        while server.poll_transmit().is_some() {}
    }
    assert_eq!(server.session_count(), 0);
    assert_eq!(server.poll_timeout(), None);
}

/// A CoAP client behind DTLS at `at`, with `seed` for its message IDs.
fn client_node(seed: u64) -> Node {
    SecureNode::new(
        Endpoint::new(EndpointConfig {
            seed,
            ..Default::default()
        }),
        Role::Client {
            identity: IMEI.to_vec(),
            key: KEY.to_vec(),
        },
    )
}

/// Sends GET /test from the client at `client` and runs the network a little; whether the server
/// got it.
fn request_gets_through(net: &mut SimNetwork, client: SocketAddr) -> bool {
    let now = net.now();
    net.node::<Node>(client).unwrap().inner_mut().request(
        now,
        addr(SERVER),
        Request::get("/test"),
        true,
    );
    net.run_for(Duration::from_millis(100));
    let server = net.node::<Node>(addr(SERVER)).unwrap();
    std::iter::from_fn(|| server.inner_mut().poll_event())
        .any(|e| matches!(e, Event::Request { .. }))
}

fn server_events(net: &mut SimNetwork) -> Vec<SecureEvent> {
    let server = net.node::<Node>(addr(SERVER)).unwrap();
    std::iter::from_fn(|| server.poll_event()).collect()
}

#[test]
fn a_device_that_vanished_comes_back_from_the_same_address() {
    let mut net = network(KEY);
    assert!(request_gets_through(&mut net, addr(CLIENT)));
    assert_eq!(
        server_events(&mut net),
        [SecureEvent::Connected { peer: addr(CLIENT) }]
    );
    // The device goes away without close_notify and comes back, from the same address, with a
    // new session of its own.
    net.attach(addr(CLIENT), client_node(2));
    assert!(
        request_gets_through(&mut net, addr(CLIENT)),
        "the new handshake is answered"
    );
    assert_eq!(
        server_events(&mut net),
        [
            SecureEvent::Closed { peer: addr(CLIENT) },
            SecureEvent::Connected { peer: addr(CLIENT) }
        ],
        "the old session replaced"
    );
    assert_eq!(net.node::<Node>(addr(SERVER)).unwrap().session_count(), 1);
}

#[test]
fn forged_client_hellos_cost_the_server_nothing_and_block_nobody() {
    let mut net = network(KEY);
    assert!(request_gets_through(&mut net, addr(CLIENT)));
    // A real ClientHello, replayed from 5 000 forged sources, and from the real client's address.
    let mut client = DtlsSession::client(net.now(), IMEI, KEY).unwrap();
    let hello = client.poll_transmit().unwrap();
    for i in 0..5_000u32 {
        let forged = SocketAddr::from(([10, 9, (i >> 8) as u8, i as u8], 50_000));
        net.inject(
            forged,
            nbmodem_net::Transmit {
                destination: addr(SERVER),
                payload: hello.clone(),
            },
        );
    }
    net.inject(
        addr(CLIENT),
        nbmodem_net::Transmit {
            destination: addr(SERVER),
            payload: hello.clone(),
        },
    );
    let server = net.node::<Node>(addr(SERVER)).unwrap();
    assert_eq!(
        server.session_count(),
        1,
        "no state for a ClientHello without its cookie"
    );
    net.run_for(Duration::from_secs(200));
    let answers: Vec<usize> = net
        .records()
        .iter()
        .filter(|r| r.from == addr(SERVER) && r.to.ip().to_string().starts_with("10.9."))
        .map(|r| r.payload.len())
        .collect();
    assert_eq!(
        answers.len(),
        5_000,
        "one HelloVerifyRequest each, never resent"
    );
    assert!(
        answers.iter().all(|len| *len < hello.len()),
        "smaller than what came: no amplification"
    );
    // The real client's session was not disturbed.
    assert!(request_gets_through(&mut net, addr(CLIENT)));
}

#[test]
fn idle_sessions_expire_and_limits_hold() {
    let limits = ServerLimits {
        max_sessions: 2,
        max_handshakes: 2,
        idle_timeout: Duration::from_secs(600),
        ..ServerLimits::default()
    };
    let mut net = network(KEY);
    let server = net.node::<Node>(addr(SERVER)).unwrap();
    let lookup: nbmodem_dtls::PskLookup =
        Arc::new(|identity: &[u8]| (identity == IMEI).then(|| KEY.to_vec()));
    *server = SecureNode::new(
        Endpoint::new(EndpointConfig::default()),
        Role::Server { lookup },
    )
    .with_limits(limits);
    let clients: Vec<SocketAddr> = (0..3)
        .map(|i| addr(&format!("127.0.0.{}:40000", 10 + i)))
        .collect();
    for (i, client) in clients.iter().enumerate() {
        net.attach(*client, client_node(10 + i as u64));
    }
    let through: Vec<bool> = clients
        .iter()
        .map(|c| request_gets_through(&mut net, *c))
        .collect();
    assert_eq!(through, [true, true, false], "two sessions at most");
    assert_eq!(net.node::<Node>(addr(SERVER)).unwrap().session_count(), 2);
    server_events(&mut net);
    // Ten idle minutes later the sessions are gone, and the third client gets its turn.
    net.run_for(Duration::from_secs(700));
    assert_eq!(net.node::<Node>(addr(SERVER)).unwrap().session_count(), 0);
    let closed = server_events(&mut net);
    assert_eq!(
        closed
            .iter()
            .filter(|e| matches!(e, SecureEvent::Closed { .. }))
            .count(),
        2,
        "{closed:?}"
    );
    net.attach(clients[2], client_node(20));
    assert!(request_gets_through(&mut net, clients[2]));
}

#[test]
fn a_client_that_is_done_closes_its_session() {
    let mut net = network(KEY);
    assert!(request_gets_through(&mut net, addr(CLIENT)));
    server_events(&mut net);
    let now = net.now();
    net.node::<Node>(addr(CLIENT)).unwrap().close_all(now);
    net.run_for(Duration::from_millis(10));
    assert_eq!(
        server_events(&mut net),
        [SecureEvent::Closed { peer: addr(CLIENT) }]
    );
    assert_eq!(net.node::<Node>(addr(SERVER)).unwrap().session_count(), 0);
}

#[test]
fn a_client_hello_with_a_cookie_of_another_length_is_refused_without_harm() {
    // Found by the dtls_records fuzz target: a ClientHello whose cookie is not 16 bytes long
    // made the cookie check panic inside OpenSSL's callback, which aborts the process.
    let datagram: Vec<u8> = vec![
        22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 56, 1, 0, 0, 44, 0, 0, 0, 0, 0, 0, 0, 44, 254,
        253, 17, 17, 17, 116, 97, 103, 108, 101, 110, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17,
        17, 17, 17, 17, 17, 17, 239, 238, 238, 238, 238, 239, 0, 6, 0, 4, 192, 168, 0, 174, 1, 0,
    ];
    let mut server = server_node();
    let now = Instant::from_unix_millis(1_767_225_600_000);
    for cookie_len in [0u8, 1, 15, 17, 32, 255] {
        let mut hello = datagram.clone();
        // Record header (13), handshake header (12), version (2), random (32), session id (1).
        hello[60] = cookie_len;
        server.handle_datagram(now, addr(CLIENT), &hello);
        while server.poll_transmit().is_some() {}
    }
    server.handle_datagram(now, addr(CLIENT), &datagram);
    assert_eq!(server.session_count(), 0);
}

/// `count` ClientHellos that return their cookie (issue 16), straight into the server node: hello
/// `i` comes from port 1024 + i / n of `sources[i % n]`. Each sender has no key and answers
/// nothing after its hello; what the server sends it is dropped.
fn flood_of_cookie_returning_hellos(net: &mut SimNetwork, sources: &[[u8; 4]], count: usize) {
    let now = net.now();
    let server = net.node::<Node>(addr(SERVER)).unwrap();
    for i in 0..count {
        let port = 1024 + (i / sources.len()) as u16;
        let from = SocketAddr::from((sources[i % sources.len()], port));
        let mut intruder = DtlsSession::client(now, b"intruder", b"no key").unwrap();
        for _ in 0..2 {
            let Some(hello) = intruder.poll_transmit() else {
                break;
            };
            server.handle_datagram(now, from, &hello);
            while let Some(answer) = server.poll_transmit() {
                intruder.handle_datagram(now, &answer.payload);
            }
        }
    }
}

/// 127.0.9.x, the flood's addresses.
fn flood_sources(n: u8) -> Vec<[u8; 4]> {
    (1..=n).map(|x| [127, 0, 9, x]).collect()
}

#[test]
fn a_flood_of_cookie_returning_hellos_from_one_address_locks_no_device_out() {
    let mut net = network(KEY);
    flood_of_cookie_returning_hellos(&mut net, &flood_sources(1), 1_100);
    let server = net.node::<Node>(addr(SERVER)).unwrap();
    assert!(
        server.session_count() <= 100,
        "one address holds at most its share of the handshake slots: {}",
        server.session_count()
    );
    assert!(
        request_gets_through(&mut net, addr(CLIENT)),
        "the device with the key connects during the flood"
    );
}

#[test]
fn a_flood_from_many_addresses_yields_slots_to_a_device_with_the_key() {
    let twenty = flood_sources(20);
    let one_each: Vec<[u8; 4]> = (0..1_100u16)
        .map(|i| [127, 1, (i >> 8) as u8, i as u8])
        .collect();
    // 20 addresses fill the 1 000 slots with 50 handshakes each; 1 100 addresses, with one each.
    for sources in [twenty, one_each] {
        let mut net = network(KEY);
        flood_of_cookie_returning_hellos(&mut net, &sources, 1_100);
        assert_eq!(
            net.node::<Node>(addr(SERVER)).unwrap().session_count(),
            1_000
        );
        server_events(&mut net);
        assert!(
            request_gets_through(&mut net, addr(CLIENT)),
            "the device takes the slot of an unfinished handshake"
        );
        let events = server_events(&mut net);
        assert!(
            events.contains(&SecureEvent::Connected { peer: addr(CLIENT) }),
            "{events:?}"
        );
        assert!(
            events.iter().any(|e| matches!(
                e,
                SecureEvent::Failed {
                    cause: nbmodem_dtls::SessionFailure::Displaced,
                    ..
                }
            )),
            "{events:?}"
        );
    }
}

#[test]
fn unfinished_handshakes_expire_within_seconds() {
    let mut net = network(KEY);
    assert!(request_gets_through(&mut net, addr(CLIENT)));
    flood_of_cookie_returning_hellos(&mut net, &flood_sources(20), 1_100);
    assert!(net.node::<Node>(addr(SERVER)).unwrap().session_count() > 900);
    server_events(&mut net);
    net.run_for(ServerLimits::default().handshake_timeout + Duration::from_secs(1));
    let server = net.node::<Node>(addr(SERVER)).unwrap();
    assert_eq!(server.handshake_count(), 0);
    assert_eq!(server.session_count(), 1, "the device's session stays");
    let events = server_events(&mut net);
    assert!(
        events.iter().all(|e| matches!(
            e,
            SecureEvent::Failed {
                cause: nbmodem_dtls::SessionFailure::TimedOut,
                ..
            }
        )),
        "{events:?}"
    );
    assert!(request_gets_through(&mut net, addr(CLIENT)));
}
