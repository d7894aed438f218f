//! With the writer thread, a registry answers a registration only once its record is on disk: a
//! module told "Success" is in the database, whatever a crash does next. On a full disk
//! ([`full_disk`]), nothing is answered that is not stored, and service resumes once there is
//! room: the registries' records, the CT IoT platform's uplinks. A flood of malformed datagrams
//! is sampled, not a record each.

use crate::common::{network, post, record, records, registry_address, responses, send_raw};
use crate::full_disk;
use nbmodem_clock::Instant;
use nbmodem_coap::{Endpoint, EndpointConfig, Event, Method, Request, Status};
use nbmodem_lwm2m::client::{ClientConfig, ClientEvent, Lwm2mClient};
use nbmodem_lwm2m::content::{Path, ResourceType, Value};
use nbmodem_lwm2m::object::{DataObject, ObjectStore, Operations, ResourceDef, ResourceValue};
use nbmodem_net::sim::SimNetwork;
use nbmodem_net::DatagramNode;
use nbmodem_operators::selfreg::Registry;
use nbmodem_platform::writer::Storage;
use nbmodem_platform::{Addresses, Flavour, Server, Store, Writing};
use std::net::SocketAddr;
use std::time::Duration;

#[test]
fn every_answered_registration_is_already_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry =
        nbmodem_platform::registry_server(Registry::ChinaTelecom, dir.path(), 1, Writing::Thread)
            .unwrap();
    let reader = Store::open(dir.path()).unwrap();
    let mut module = Endpoint::new(EndpointConfig::default());
    let (me, them): (SocketAddr, SocketAddr) = (
        "10.0.0.2:40000".parse().unwrap(),
        "10.0.0.1:5683".parse().unwrap(),
    );
    let body = record().encode(Registry::ChinaTelecom);
    let now = Instant::from_unix_millis(1_767_225_600_000);
    for n in 1..=200 {
        let request = Request::new(Method::Post, "/nb").with_payload(50, body.clone());
        module.request(now, them, request, true);
        let datagram = module.poll_transmit().unwrap();
        registry.handle_datagram(now, me, &datagram.payload);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let answer = loop {
            if let Some(answer) = registry.poll_transmit() {
                break answer;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no answer to request {n}"
            );
            std::thread::yield_now();
        };
        assert_eq!(
            reader.records(Server::Ct).unwrap().len(),
            n,
            "answered before stored"
        );
        module.handle_datagram(now, them, &answer.payload);
        assert!(matches!(
            module.poll_event(),
            Some(Event::Response { response, .. }) if response.status == Status::Content
        ));
    }
}

#[test]
fn on_a_full_disk_a_registry_answers_only_once_the_record_is_stored() {
    for (registry, path, server) in [
        (Registry::ChinaTelecom, "/nb", Server::Ct),
        (Registry::ChinaUnicom, "/", Server::Cu),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut net = network(dir.path(), |_| {});
        full_disk::fill(dir.path());
        post(
            &mut net,
            registry_address(registry),
            path,
            record().encode(registry),
        );
        // The module sends at 0 s and retransmits at 3, 9 and 21 s (then waits until 93 s).
        net.run_for(Duration::from_secs(20));
        assert_eq!(
            responses(&mut net),
            [],
            "{registry:?} answered what it had not stored"
        );
        assert_eq!(records(dir.path(), server), [], "{registry:?}");
        let report = Storage::of(dir.path()).report();
        assert!(
            !report.writable && report.refused_requests >= 2,
            "{report:?}"
        );
        full_disk::free(dir.path());
        net.run_for(Duration::from_secs(60));
        let answers = responses(&mut net);
        assert_eq!(answers.len(), 1, "{registry:?}: {answers:?}");
        assert_eq!(answers[0].status, Status::Content);
        assert_eq!(
            records(dir.path(), server).len(),
            1,
            "{registry:?}: stored once"
        );
        assert!(Storage::of(dir.path()).report().writable);
    }
}

const IMEI: &str = "865975030000017";

fn device_address() -> SocketAddr {
    "10.0.0.7:50000".parse().unwrap()
}

fn uplink_path() -> Path {
    Path::new(&[19, 0, 0]).unwrap()
}

/// A device of the CT IoT platform: object 19, instance 0 its uplink data.
fn ctiot_device() -> Lwm2mClient {
    let config = ClientConfig::new(IMEI, Addresses::default().iot);
    let definitions = vec![ResourceDef::new(
        0,
        ResourceType::Opaque,
        Operations::ReadWrite,
    )];
    let mut data = DataObject::new(19, definitions).with_instance(0);
    data.set(0, 0, ResourceValue::Single(Value::Opaque(Vec::new())));
    let mut store = ObjectStore::new();
    store.add(data);
    Lwm2mClient::new(config, store, EndpointConfig::default())
}

fn device(net: &mut SimNetwork) -> &mut Lwm2mClient {
    net.node::<Lwm2mClient>(device_address()).unwrap()
}

/// Sends `data` as a confirmable uplink, then lets `wait` pass; the device's events meanwhile.
fn send_uplink(net: &mut SimNetwork, data: &[u8], wait: Duration) -> Vec<ClientEvent> {
    let now = net.now();
    let client = device(net);
    if let Some(object) = client.store_mut().object_as::<DataObject>(19) {
        object.set(0, 0, ResourceValue::Single(Value::Opaque(data.to_vec())));
    }
    client.notify(now, uplink_path(), true).expect("observed");
    wait_for_events(net, wait)
}

/// The device's events while `wait` passes.
fn wait_for_events(net: &mut SimNetwork, wait: Duration) -> Vec<ClientEvent> {
    net.run_for(wait);
    std::iter::from_fn(|| device(net).poll_event()).collect()
}

fn acknowledged(events: &[ClientEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, ClientEvent::NotificationAcked { .. }))
        .count()
}

fn stored_uplinks(data: &std::path::Path) -> usize {
    let store = Store::open(data).unwrap();
    store.uplinks(Flavour::Iot, IMEI, None, 100).unwrap().len()
}

#[test]
fn on_a_full_disk_no_uplink_is_acknowledged_and_service_resumes_when_there_is_room() {
    let dir = tempfile::tempdir().unwrap();
    nbmodem_platform::ctiot::admin::ensure_device(dir.path(), IMEI).unwrap();
    let mut net = network(dir.path(), |_| {});
    net.attach(device_address(), ctiot_device());
    let now = net.now();
    device(&mut net).register(now);
    net.run_for(Duration::from_secs(60));
    assert!(device(&mut net).is_observed(uplink_path()));
    let before = send_uplink(&mut net, b"before", Duration::from_secs(60));
    assert_eq!((acknowledged(&before), stored_uplinks(dir.path())), (1, 1));

    full_disk::fill(dir.path());
    let full = send_uplink(&mut net, b"full", Duration::from_secs(20));
    assert_eq!(acknowledged(&full), 0, "acknowledged but not stored");
    assert_eq!(stored_uplinks(dir.path()), 1);

    full_disk::free(dir.path());
    let freed = wait_for_events(&mut net, Duration::from_secs(60));
    assert_eq!(
        acknowledged(&freed),
        1,
        "the retransmission is acknowledged: {freed:?}"
    );
    assert_eq!(stored_uplinks(dir.path()), 2, "stored once");
    let after = send_uplink(&mut net, b"after", Duration::from_secs(60));
    assert_eq!((acknowledged(&after), stored_uplinks(dir.path())), (1, 3));
}

#[test]
fn a_flood_of_malformed_datagrams_is_sampled_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(dir.path(), |_| {});
    // 2 000 six-byte datagrams that are not CoAP, over two seconds.
    for _ in 0..2 {
        for _ in 0..1000 {
            send_raw(&mut net, Addresses::default().iot, b"\xff\x00garb");
        }
        net.run_for(Duration::from_secs(1));
    }
    let recorded = records(dir.path(), Server::Iot);
    assert_eq!(recorded.len(), 20, "10 a second");
    assert_eq!(recorded[10].fields["unrecorded_before"], 990);
    let report = Storage::of(dir.path()).report();
    assert_eq!(report.unrecorded_requests, 1980);
}
