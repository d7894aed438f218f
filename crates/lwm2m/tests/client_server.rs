//! An LwM2M client and server on the in-memory network in virtual time: registration, automatic
//! updates, expiry, re-registration, every device management operation, observation with pmin/pmax,
//! queue mode, admission policy, and thousands of clients on one server.

use nbmodem_clock::Instant;
use nbmodem_coap::{CancelReason, EndpointConfig, Status, TransmissionParams};
use nbmodem_lwm2m::client::{ClientConfig, ClientEvent, Lwm2mClient};
use nbmodem_lwm2m::content::{tlv, Path, ResourceType, Value};
use nbmodem_lwm2m::object::{DataObject, ObjectStore, Operations, ResourceDef, ResourceValue};
use nbmodem_lwm2m::server::{
    ClientRequest, Lwm2mServer, Operation, OperationId, QueueMode, ServerEvent,
};
use nbmodem_net::sim::SimNetwork;
use std::net::SocketAddr;
use std::time::Duration;

const SERVER: &str = "127.0.0.1:5683";
const CLIENT: &str = "127.0.0.2:40000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn path(s: &str) -> Path {
    s.parse().unwrap()
}

fn coap() -> EndpointConfig {
    EndpointConfig {
        params: TransmissionParams::exact(Duration::from_secs(2), 4),
        ..Default::default()
    }
}

/// Device (3) with manufacturer, model, a multiple resource, a reboot, the time and a UTC offset
/// without a value; object 19 with binary data 0/0 (uplink) and 1/0 (downlink).
fn objects() -> ObjectStore {
    use Operations::*;
    let mut device = DataObject::new(
        3,
        vec![
            ResourceDef::new(0, ResourceType::String, Read),
            ResourceDef::new(1, ResourceType::String, Read),
            ResourceDef::new(4, ResourceType::Opaque, Execute),
            ResourceDef::multiple(6, ResourceType::Integer, Read),
            ResourceDef::new(13, ResourceType::Time, ReadWrite),
            ResourceDef::new(14, ResourceType::String, ReadWrite),
        ],
    )
    .with_instance(0);
    device.set(0, 0, ResourceValue::Single(Value::String("Quectel".into())));
    device.set(
        0,
        1,
        ResourceValue::Single(Value::String("BC260Y-CN".into())),
    );
    device.set(
        0,
        6,
        ResourceValue::Multiple(vec![(0, Value::Integer(1)), (1, Value::Integer(5))]),
    );
    device.set(0, 13, ResourceValue::Single(Value::Time(1_767_225_600)));
    let mut data = DataObject::new(
        19,
        vec![ResourceDef::new(0, ResourceType::Opaque, ReadWrite)],
    )
    .with_instance(0)
    .with_instance(1);
    data.set(0, 0, ResourceValue::Single(Value::Opaque(vec![0])));
    data.set(1, 0, ResourceValue::Single(Value::Opaque(vec![])));
    let mut store = ObjectStore::new();
    store.add(device);
    store.add(data);
    store
}

struct World {
    net: SimNetwork,
}

impl World {
    fn new(config: ClientConfig) -> World {
        let mut net = SimNetwork::new(Instant::from_unix_millis(1_767_225_600_000), 3);
        net.attach(addr(SERVER), Lwm2mServer::new(coap()));
        net.attach(addr(CLIENT), Lwm2mClient::new(config, objects(), coap()));
        World { net }
    }

    fn standard() -> World {
        Self::new(ClientConfig::new("865975030000001", addr(SERVER)))
    }

    fn client(&mut self) -> &mut Lwm2mClient {
        self.net.node(addr(CLIENT)).unwrap()
    }

    fn server(&mut self) -> &mut Lwm2mServer {
        self.net.node(addr(SERVER)).unwrap()
    }

    fn client_events(&mut self) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.client().poll_event()).collect()
    }

    /// The server's events, but for its answers to the client's requests ([`World::answers`]).
    fn server_events(&mut self) -> Vec<ServerEvent> {
        self.all_server_events()
            .into_iter()
            .filter(|e| !matches!(e, ServerEvent::Answered { .. }))
            .collect()
    }

    fn all_server_events(&mut self) -> Vec<ServerEvent> {
        std::iter::from_fn(|| self.server().poll_event()).collect()
    }

    /// The server's answers to the client's requests: what, the code, why refused.
    fn answers(&mut self) -> Vec<(ClientRequest, Status, Option<&'static str>)> {
        self.all_server_events()
            .into_iter()
            .filter_map(|e| match e {
                ServerEvent::Answered {
                    request,
                    status,
                    refusal,
                    ..
                } => Some((request, status, refusal)),
                _ => None,
            })
            .collect()
    }

    /// How many notifications the server got since its events were last read.
    fn notifications(&mut self) -> usize {
        self.server_events()
            .iter()
            .filter(|e| matches!(e, ServerEvent::Notification { .. }))
            .count()
    }

    /// Starts an operation without waiting for it.
    fn start(&mut self, target: &str, kind: Operation) -> OperationId {
        let now = self.net.now();
        self.server()
            .operate(now, "865975030000001", path(target), kind)
            .unwrap()
    }

    /// Observes `target` (the client accepts) and reads the events that produced.
    fn observe(&mut self, target: &str) -> OperationId {
        let observe = self.start(target, Operation::Observe { accept: None });
        self.net.run_for(Duration::from_millis(10));
        assert!(
            matches!(&self.server_events()[..], [ServerEvent::Completed { operation, result: Ok(r), .. }] if *operation == observe && r.observe == Some(0))
        );
        assert_eq!(
            self.client_events(),
            [ClientEvent::ObservationStarted { path: path(target) }]
        );
        observe
    }

    /// Sets a value of object 19 on the device's side and tells the client.
    fn change_data(&mut self, bytes: &[u8]) {
        let store = self
            .client()
            .store_mut()
            .object_as::<DataObject>(19)
            .unwrap();
        store.set(0, 0, ResourceValue::Single(Value::Opaque(bytes.to_vec())));
        let now = self.net.now();
        self.client().value_changed(now, path("/19/0/0"));
    }

    fn register(&mut self) {
        let now = self.net.now();
        self.client().register(now);
        self.net.run_for(Duration::from_millis(10));
        assert!(matches!(
            self.client_events()[..],
            [ClientEvent::Registered { .. }]
        ));
        assert!(matches!(
            self.server_events()[..],
            [ServerEvent::Registered { .. }]
        ));
    }

    /// Starts an operation and returns its result.
    fn operate(&mut self, target: &str, kind: Operation) -> nbmodem_coap::Response {
        self.start(target, kind);
        self.net.run_for(Duration::from_millis(10));
        let events = self.server_events();
        match events
            .into_iter()
            .find(|e| matches!(e, ServerEvent::Completed { .. }))
        {
            Some(ServerEvent::Completed { result, .. }) => result.expect("a response"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn registers_with_the_standard_query_and_payload() {
    let mut world = World::standard();
    world.register();
    let registration = world
        .server()
        .registration("865975030000001")
        .unwrap()
        .clone();
    assert_eq!(registration.lifetime, 86_400);
    assert_eq!(registration.binding, "U");
    assert_eq!(registration.version.as_deref(), Some("1.0"));
    assert_eq!(
        registration.objects,
        [(3, Some(0)), (19, Some(0)), (19, Some(1))]
    );
    assert_eq!(
        world.client().location().as_deref(),
        Some(registration.location().as_str())
    );
}

#[test]
fn updates_before_the_lifetime_ends_with_the_update_query() {
    let mut config = ClientConfig::new("865975030000001", addr(SERVER));
    config.lifetime = Some(300);
    config.update_query = vec!["epi=abc".into()];
    let mut world = World::new(config);
    world.register();
    world.net.run_for(Duration::from_secs(269));
    assert!(world.client_events().is_empty());
    world.net.run_for(Duration::from_secs(1));
    assert_eq!(world.client_events(), [ClientEvent::Updated]);
    assert_eq!(
        world.server_events(),
        [ServerEvent::Updated {
            endpoint: "865975030000001".into()
        }]
    );
    let registration = world
        .server()
        .registration("865975030000001")
        .unwrap()
        .clone();
    assert_eq!(registration.query_value("epi"), Some("abc"));
    assert_eq!(
        registration.lifetime, 300,
        "an Update without lt keeps the lifetime"
    );
    world.net.run_for(Duration::from_secs(24 * 3600));
    assert!(
        world.server().registration("865975030000001").is_some(),
        "kept alive by the updates"
    );
}

#[test]
fn registration_expires_without_updates() {
    let mut config = ClientConfig::new("865975030000001", addr(SERVER));
    config.lifetime = Some(300);
    let mut world = World::new(config);
    world.register();
    world.net.partition(addr(CLIENT), addr(SERVER));
    world.net.run_for(Duration::from_secs(300));
    assert_eq!(
        world.server_events(),
        [ServerEvent::Expired {
            endpoint: "865975030000001".into()
        }]
    );
    assert_eq!(world.server().registration_count(), 0);
}

#[test]
fn observations_end_with_the_registration() {
    let mut config = ClientConfig::new("865975030000001", addr(SERVER));
    config.lifetime = Some(300);
    // A client late with its Update.
    config.update_interval = Some(Duration::from_secs(1000));
    let mut world = World::new(config);
    world.register();
    world.observe("/19/0/0");
    world.net.run_for(Duration::from_secs(300));
    assert!(matches!(
        world.server_events()[..],
        [ServerEvent::Expired { .. }]
    ));
    world.change_data(b"late");
    world.net.run_for(Duration::from_secs(1));
    assert_eq!(world.notifications(), 0, "the server refuses it");
    assert!(world
        .client_events()
        .contains(&ClientEvent::ObservationEnded {
            path: path("/19/0/0"),
            reason: CancelReason::Reset
        }));
}

#[test]
fn registers_again_when_the_server_forgot_it() {
    let mut world = World::standard();
    world.register();
    world.net.attach(addr(SERVER), Lwm2mServer::new(coap()));
    let now = world.net.now();
    world.client().update(now);
    world.net.run_for(Duration::from_millis(10));
    assert!(
        matches!(world.client_events()[..], [ClientEvent::Registered { .. }]),
        "4.04 to the Update"
    );
    assert_eq!(world.server().registration_count(), 1);
}

#[test]
fn deregisters() {
    let mut world = World::standard();
    world.register();
    let now = world.net.now();
    world.client().deregister(now);
    world.net.run_for(Duration::from_millis(10));
    assert_eq!(world.client_events(), [ClientEvent::Deregistered]);
    assert_eq!(
        world.server_events(),
        [ServerEvent::Deregistered {
            endpoint: "865975030000001".into()
        }]
    );
}

#[test]
fn reads_in_each_format() {
    let mut world = World::standard();
    world.register();
    let text = world.operate("/3/0/0", Operation::Read { accept: None });
    assert_eq!(
        (text.status, text.content_format, text.payload.as_slice()),
        (Status::Content, Some(0), &b"Quectel"[..])
    );
    let opaque = world.operate("/19/0/0", Operation::Read { accept: None });
    assert_eq!(
        (opaque.content_format, opaque.payload.as_slice()),
        (Some(42), &[0u8][..])
    );
    let instance = world.operate("/3/0", Operation::Read { accept: None });
    assert_eq!(instance.content_format, Some(11542));
    let entries = tlv::decode(&instance.payload).unwrap();
    assert_eq!(
        entries.len(),
        4,
        "four readable resources with values: {entries:?}"
    );
    let multiple = world.operate("/3/0/6", Operation::Read { accept: None });
    assert_eq!(multiple.content_format, Some(11542));
    let object = world.operate(
        "/19",
        Operation::Read {
            accept: Some(11542),
        },
    );
    assert!(matches!(
        &tlv::decode(&object.payload).unwrap()[..],
        [
            tlv::Entry::ObjectInstance { id: 0, .. },
            tlv::Entry::ObjectInstance { id: 1, .. }
        ]
    ));
    assert_eq!(
        world
            .operate("/3/0/99", Operation::Read { accept: None })
            .status,
        Status::NotFound
    );
    assert_eq!(
        world
            .operate("/4/0", Operation::Read { accept: None })
            .status,
        Status::NotFound
    );
    assert_eq!(
        world
            .operate("/3/0/4", Operation::Read { accept: None })
            .status,
        Status::MethodNotAllowed
    );
}

#[test]
fn writes_executes_and_discovers() {
    let mut world = World::standard();
    world.register();
    let write = Operation::Write {
        format: 42,
        payload: vec![0xAA, 0xAA, 0, 0],
        replace: true,
    };
    assert_eq!(world.operate("/19/1/0", write).status, Status::Changed);
    assert_eq!(
        world.client_events(),
        [ClientEvent::Written {
            paths: vec![path("/19/1/0")]
        }]
    );
    let tlv_time = tlv::encode(&[tlv::Entry::Resource(tlv::Resource::Single {
        id: 13,
        value: tlv::encode_value(&Value::Time(42)),
    })])
    .unwrap();
    let partial = Operation::Write {
        format: 11542,
        payload: tlv_time,
        replace: false,
    };
    assert_eq!(world.operate("/3/0", partial).status, Status::Changed);
    assert_eq!(
        world
            .operate("/3/0/13", Operation::Read { accept: None })
            .payload,
        b"42"
    );
    let senml = br#"[{"bn":"/3/0/","n":"13","v":7}]"#.to_vec();
    assert_eq!(
        world
            .operate(
                "/3/0",
                Operation::Write {
                    format: 110,
                    payload: senml,
                    replace: false
                }
            )
            .status,
        Status::Changed
    );
    assert_eq!(
        world
            .operate("/3/0/13", Operation::Read { accept: None })
            .payload,
        b"7",
        "SenML JSON write"
    );
    let read_only = Operation::Write {
        format: 0,
        payload: b"x".to_vec(),
        replace: true,
    };
    assert_eq!(
        world.operate("/3/0/0", read_only).status,
        Status::MethodNotAllowed
    );
    world.client_events();
    assert_eq!(
        world
            .operate("/3/0/4", Operation::Execute { arguments: vec![] })
            .status,
        Status::Changed
    );
    assert_eq!(
        world.client_events(),
        [ClientEvent::Executed {
            path: path("/3/0/4"),
            arguments: vec![]
        }]
    );
    assert_eq!(
        world
            .operate("/3/0/0", Operation::Execute { arguments: vec![] })
            .status,
        Status::MethodNotAllowed
    );
    assert_eq!(
        world
            .operate(
                "/3/0",
                Operation::WriteAttributes {
                    pmin: Some(10),
                    pmax: Some(60)
                }
            )
            .status,
        Status::Changed
    );
    let discover = world.operate("/3/0", Operation::Discover);
    assert_eq!(discover.content_format, Some(40));
    assert_eq!(
        String::from_utf8(discover.payload).unwrap(),
        "</3/0>;pmin=10;pmax=60,</3/0/0>,</3/0/1>,</3/0/4>,</3/0/6>,</3/0/13>"
    );
}

#[test]
fn observation_with_pmin_and_pmax_and_cancel() {
    let mut world = World::standard();
    world.register();
    world.operate(
        "/19/0/0",
        Operation::WriteAttributes {
            pmin: Some(5),
            pmax: Some(60),
        },
    );
    world.observe("/19/0/0");

    // A change right away waits for pmin (5 s); pmax (60 s) sends one without a change.
    world.change_data(b"up");
    world.net.run_for(Duration::from_secs(4));
    assert!(world.server_events().is_empty(), "held back by pmin");
    world.net.run_for(Duration::from_secs(2));
    let notified = world.server_events();
    assert!(
        matches!(&notified[..], [ServerEvent::Notification { response, .. }] if response.payload == b"up"),
        "{notified:?}"
    );
    world.net.run_for(Duration::from_secs(60));
    assert_eq!(world.server_events().len(), 1, "pmax notification");

    // The application's own notification (a CT uplink), confirmable.
    let now = world.net.now();
    let sequence = world.client().notify(now, path("/19/0/0"), true).unwrap();
    world.net.run_for(Duration::from_millis(10));
    assert!(world
        .client_events()
        .contains(&ClientEvent::NotificationAcked {
            path: path("/19/0/0"),
            sequence
        }));
    world.server_events();

    // The cancel goes on the observation's token: the client's CoAP endpoint ends it.
    let cancel = world.start("/19/0/0", Operation::CancelObserve);
    world.net.run_for(Duration::from_millis(10));
    let events = world.server_events();
    assert!(
        matches!(&events[..], [ServerEvent::Completed { operation, result: Ok(r), .. }] if *operation == cancel && r.status == Status::Content && r.observe.is_none()),
        "{events:?}"
    );
    assert_eq!(
        world.client_events(),
        [ClientEvent::ObservationEnded {
            path: path("/19/0/0"),
            reason: CancelReason::Deregistered
        }]
    );
    assert!(!world.client().is_observed(path("/19/0/0")));
    world.change_data(b"after");
    world.net.run_for(Duration::from_secs(120));
    assert_eq!(world.notifications(), 0, "no change nor pmax notification");
    let again = world.start("/19/0/0", Operation::CancelObserve);
    world.net.run_for(Duration::from_millis(10));
    assert!(
        matches!(&world.server_events()[..], [ServerEvent::Completed { operation, result: Ok(_), .. }] if *operation == again),
        "no longer in flight at the server: a second cancel goes out on a new token"
    );
    assert!(world.client_events().is_empty());
}

#[test]
fn a_write_of_several_resources_notifies_once() {
    let mut world = World::standard();
    world.register();
    world.observe("/3/0");
    let resource = |id, value: &Value| {
        tlv::Entry::Resource(tlv::Resource::Single {
            id,
            value: tlv::encode_value(value),
        })
    };
    let payload = tlv::encode(&[
        resource(13, &Value::Time(42)),
        resource(14, &Value::String("+08:00".into())),
    ])
    .unwrap();
    let write = Operation::Write {
        format: 11542,
        payload,
        replace: false,
    };
    world.start("/3/0", write);
    world.net.run_for(Duration::from_millis(10));
    assert_eq!(world.notifications(), 1);
}

#[test]
fn a_later_write_attributes_applies_to_an_observation() {
    let mut world = World::standard();
    world.register();
    world.observe("/19/0/0");
    world.operate(
        "/19/0",
        Operation::WriteAttributes {
            pmin: Some(5),
            pmax: None,
        },
    );
    world.change_data(b"up");
    world.net.run_for(Duration::from_secs(4));
    assert_eq!(world.notifications(), 0, "held back by the new pmin");
    world.net.run_for(Duration::from_secs(2));
    assert_eq!(world.notifications(), 1);
}

#[test]
fn queue_mode_holds_requests_until_the_client_is_reachable() {
    let mut config = ClientConfig::new("865975030000001", addr(SERVER));
    config.binding = "UQ".into();
    let mut world = World::new(config);
    world.register();
    let now = world.net.now();
    world
        .server()
        .operate(
            now,
            "865975030000001",
            path("/3/0/0"),
            Operation::Read { accept: None },
        )
        .unwrap();
    world.net.run_for(Duration::from_secs(60));
    assert!(
        world.server_events().is_empty(),
        "nothing sent while the client sleeps"
    );
    assert_eq!(world.server().queued_for("865975030000001"), 1);
    let now = world.net.now();
    world.client().update(now);
    world.net.run_for(Duration::from_millis(10));
    let events = world.server_events();
    assert!(
        events.iter().any(
            |e| matches!(e, ServerEvent::Completed { result: Ok(r), .. } if r.payload == b"Quectel")
        ),
        "{events:?}"
    );
}

#[test]
fn policy_refuses_a_registration() {
    let mut world = World::standard();
    world.server().set_policy(Box::new(|admission| {
        if admission.endpoint.starts_with("865") {
            Err(Status::Forbidden)
        } else {
            Ok(())
        }
    }));
    let now = world.net.now();
    world.client().register(now);
    world.net.run_for(Duration::from_millis(10));
    assert_eq!(
        world.client_events(),
        [ClientEvent::RegistrationFailed {
            status: Some(Status::Forbidden)
        }]
    );
    assert_eq!(
        world.all_server_events(),
        [ServerEvent::Answered {
            address: addr(CLIENT),
            request: ClientRequest::Register,
            endpoint: Some("865975030000001".into()),
            status: Status::Forbidden,
            refusal: Some("refused by the server's policy"),
        }]
    );
}

#[test]
fn a_registration_nobody_answers_fails_after_the_retransmissions() {
    let mut world = World::standard();
    world.net.detach(addr(SERVER));
    let now = world.net.now();
    world.client().register(now);
    world.net.run_for(Duration::from_secs(61));
    assert!(world.client_events().is_empty());
    world.net.run_for(Duration::from_secs(1));
    assert_eq!(
        world.client_events(),
        [ClientEvent::RegistrationFailed { status: None }]
    );
}

#[test]
fn two_thousand_clients_on_one_server() {
    let mut net = SimNetwork::new(Instant::from_unix_millis(0), 5);
    net.attach(addr(SERVER), Lwm2mServer::new(coap()));
    for i in 0..2000u32 {
        let address = SocketAddr::from(([127, 1, (i >> 8) as u8, i as u8], 5683));
        let mut client = Lwm2mClient::new(
            ClientConfig::new(&format!("ep{i}"), addr(SERVER)),
            objects(),
            EndpointConfig {
                seed: u64::from(i),
                ..coap()
            },
        );
        client.register(net.now());
        net.attach(address, client);
    }
    net.run_for(Duration::from_secs(1));
    let server: &mut Lwm2mServer = net.node(addr(SERVER)).unwrap();
    assert_eq!(server.registration_count(), 2000);
}

#[test]
fn a_saved_observation_notifies_from_a_restarted_client() {
    let mut world = World::standard();
    world.register();
    let observe = world.observe("/19/0/0");
    let saved = world.client().saved_observation(path("/19/0/0")).unwrap();
    assert_eq!(saved.sequence, 0);
    // The device restarts (its registration still stands on the server) and takes the
    // observation back from what it saved.
    let config = ClientConfig::new("865975030000001", addr(SERVER));
    // Message IDs start elsewhere after a restart (the server still remembers the old ones).
    let coap = EndpointConfig { seed: 77, ..coap() };
    let mut restarted = Lwm2mClient::new(config, objects(), coap);
    assert!(restarted.restore_observation(path("/19/0/0"), saved));
    assert!(restarted.is_observed(path("/19/0/0")));
    world.net.attach(addr(CLIENT), restarted);
    let now = world.net.now();
    assert_eq!(world.client().notify(now, path("/19/0/0"), true), Some(1));
    world.net.run_for(Duration::from_millis(10));
    let events = world.server_events();
    assert!(
        matches!(&events[..], [ServerEvent::Notification { operation, .. }] if *operation == observe),
        "{events:?}"
    );
}

#[test]
fn the_server_reports_what_it_answered_and_why_it_refused() {
    let mut world = World::standard();
    world.register();
    let now = world.net.now();
    world.client().update(now);
    world.net.run_for(Duration::from_millis(10));
    assert_eq!(
        world.answers(),
        [(ClientRequest::Update, Status::Changed, None)]
    );
    // Requests the server refuses: raw datagrams from the client's address.
    let raw = |path: &[&str], query: Option<&str>| {
        let mut packet = coap_lite::Packet::new();
        packet.header.set_type(coap_lite::MessageType::Confirmable);
        packet.header.code = coap_lite::MessageClass::Request(coap_lite::RequestType::Post);
        packet.header.message_id = 0x4242 + path.len() as u16 + query.map_or(0, |_| 7);
        for segment in path {
            packet.add_option(coap_lite::CoapOption::UriPath, segment.as_bytes().to_vec());
        }
        if let Some(query) = query {
            packet.add_option(coap_lite::CoapOption::UriQuery, query.as_bytes().to_vec());
        }
        nbmodem_net::Transmit {
            destination: addr(SERVER),
            payload: packet.to_bytes().unwrap(),
        }
    };
    world.net.inject(addr(CLIENT), raw(&["rd"], Some("lt=60")));
    world.net.inject(addr(CLIENT), raw(&["rd", "999"], None));
    world.net.inject(addr(CLIENT), raw(&["nowhere"], None));
    assert_eq!(
        world.answers(),
        [
            (
                ClientRequest::Register,
                Status::BadRequest,
                Some("no endpoint name (ep)")
            ),
            (
                ClientRequest::Update,
                Status::NotFound,
                Some("no such registration")
            ),
            (
                ClientRequest::Other,
                Status::NotFound,
                Some("no such resource")
            ),
        ]
    );
}

#[test]
fn a_queue_mode_client_is_reachable_for_its_awake_time_after_each_message() {
    // A platform that treats every client as one that sleeps, awake for 20 s after each message.
    let mut world = World::standard();
    world.server().set_queue_mode(QueueMode {
        all_clients: true,
        awake_time: Duration::from_secs(20),
    });
    world.register();
    let read = |world: &mut World| {
        let now = world.net.now();
        world
            .server()
            .operate(
                now,
                "865975030000001",
                path("/3/0/0"),
                Operation::Read { accept: None },
            )
            .unwrap();
        world.net.run_for(Duration::from_millis(10));
        world.server_events()
    };
    world.net.run_for(Duration::from_secs(19));
    let now = world.net.now();
    assert!(world.server().is_awake(now, "865975030000001"));
    assert_eq!(read(&mut world).len(), 1, "within the awake time: at once");
    world.net.run_for(Duration::from_secs(21));
    let now = world.net.now();
    assert!(!world.server().is_awake(now, "865975030000001"));
    assert!(read(&mut world).is_empty(), "past it: held");
    assert_eq!(world.server().queued_for("865975030000001"), 1);
    let now = world.net.now();
    world.client().update(now);
    world.net.run_for(Duration::from_millis(10));
    let events = world.server_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ServerEvent::Completed { .. })),
        "sent when the client showed it was awake: {events:?}"
    );
}

#[test]
fn with_no_awake_time_a_queue_mode_client_is_reachable_only_at_its_message() {
    // A platform that sends only in the contact a client's message makes (as it handles it).
    let mut world = World::standard();
    world.server().set_queue_mode(QueueMode {
        all_clients: true,
        awake_time: Duration::ZERO,
    });
    world.register();
    let heard = world
        .server()
        .registration("865975030000001")
        .unwrap()
        .last_heard;
    assert!(world.server().is_awake(heard, "865975030000001"));
    let later = heard + Duration::from_millis(1);
    assert!(!world.server().is_awake(later, "865975030000001"));
}

#[test]
fn a_forgotten_observation_is_reset_at_its_next_notification() {
    let mut world = World::standard();
    world.register();
    let now = world.net.now();
    world
        .server()
        .operate(
            now,
            "865975030000001",
            path("/19/0/0"),
            Operation::Observe { accept: None },
        )
        .unwrap();
    world.net.run_for(Duration::from_millis(10));
    world.server_events();
    assert!(world
        .server()
        .forget_observation("865975030000001", path("/19/0/0")));
    assert!(!world
        .server()
        .forget_observation("865975030000001", path("/19/0/0")));
    world.change_data(b"up");
    world.net.run_for(Duration::from_secs(1));
    assert!(
        world.server_events().is_empty(),
        "no notification for a forgotten observation"
    );
    let ended = world.client_events();
    assert!(
        ended.iter().any(|e| matches!(
            e,
            ClientEvent::ObservationEnded {
                reason: CancelReason::Reset,
                ..
            }
        )),
        "{ended:?}"
    );
}

#[test]
fn an_observation_kept_by_the_server_is_taken_back_on_its_token() {
    let mut world = World::standard();
    world.register();
    world.observe("/19/0/0");
    let kept_by_client = world.client().saved_observation(path("/19/0/0")).unwrap();
    let token = world
        .server()
        .saved_observation("865975030000001", path("/19/0/0"))
        .unwrap();
    assert_eq!(token, kept_by_client.token, "the token both sides keep");
    assert_eq!(
        world.server().saved_observation("nobody", path("/19/0/0")),
        None
    );
    // The server loses the observation (a re-registration does that), then takes it back.
    assert!(world
        .server()
        .forget_observation("865975030000001", path("/19/0/0")));
    let restored = world
        .server()
        .restore_observation("865975030000001", path("/19/0/0"), token)
        .unwrap();
    world.change_data(b"result");
    world.net.run_for(Duration::from_millis(10));
    let events = world.server_events();
    assert!(
        matches!(&events[..], [ServerEvent::Notification { operation, response, .. }] if *operation == restored && response.payload == b"result"),
        "{events:?}"
    );
    // The server ends it on the kept token; the client knows which observation ends.
    world.start("/19/0/0", Operation::CancelObserve);
    world.net.run_for(Duration::from_millis(10));
    assert_eq!(
        world.client_events(),
        [ClientEvent::ObservationEnded {
            path: path("/19/0/0"),
            reason: CancelReason::Deregistered
        }]
    );
}
