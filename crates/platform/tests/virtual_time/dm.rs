//! The CMDMP DM server against a real LwM2M client whose name is built with the operators codec:
//! registration, the Read of /666/0 and its decrypted values, updates with `epi=`, and refusals.

use crate::common::*;
use nbmodem_coap::{EndpointConfig, Status};
use nbmodem_lwm2m::client::{ClientConfig, ClientEvent, Lwm2mClient};
use nbmodem_lwm2m::content::{ResourceType, Value};
use nbmodem_lwm2m::object::{DataObject, ObjectStore, Operations, ResourceDef, ResourceValue};
use nbmodem_net::sim::SimNetwork;
use nbmodem_operators::dm::{self, DeviceIdentity, TerminalType};
use nbmodem_platform::{appkey, Addresses, DmServer, Fault, Faulty, Server, Store, Verdict};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

const APP_KEY: &str = "M100000089";
const PASSWORD: &str = "77GaaTUi33nUK05ha528888QFbk0Y38M";

fn device_address() -> SocketAddr {
    "10.0.0.9:50000".parse().unwrap()
}

fn identity() -> DeviceIdentity {
    DeviceIdentity {
        imei: "863703030822519".into(),
        imei2: String::new(),
        imsi: "460040000000001".into(),
    }
}

/// What the device keeps in object 666 (6601, device info, left empty and so unread).
fn device_values() -> Vec<(u16, &'static str)> {
    vec![
        (6602, "Douyin|com.ss.android|990650|9123\r\n"),
        (6603, "00:11:22:33:44:55"),
        (6604, "2MB"),
        (6605, "512KB"),
        (6606, "ARM Cortex-M3"),
        (6607, "ThreadX"),
        (6608, "BC260YCNAAR02A01"),
        (6609, "BC260Y-CN"),
        (6610, "0"),
        (6611, "NBIoT"),
        (6612, "account"),
        (6613, "13800000000"),
        (6614, "39.9,116.4,GPS"),
    ]
}

/// Object 666 with resources 6601–6614 (String), holding the values encrypted with `password`.
fn dm_object(password: &str) -> DataObject {
    let definitions = (6601..=6614)
        .map(|id| ResourceDef::new(id, ResourceType::String, Operations::Read))
        .collect();
    let mut object = DataObject::new(666, definitions).with_instance(0);
    for (id, value) in device_values() {
        let encrypted = Value::String(dm::encrypt(password, value));
        object.set(0, id, ResourceValue::Single(encrypted));
    }
    object
}

/// A cis-SDK-like client: name and EPI with `app_key`/`password`, no `lwm2m=`, Security object
/// listed. `epi_for` is the identity its Updates claim.
fn client(name: String, app_key: &str, password: &str, epi_for: &DeviceIdentity) -> Lwm2mClient {
    let server = Addresses::default().dm;
    let mut config = ClientConfig::new(&name, server);
    config.version = None;
    config.include_security_object = true;
    config.update_query = vec![format!(
        "epi={}",
        dm::epi(TerminalType::Interface, app_key, password, epi_for)
    )];
    let mut store = ObjectStore::new();
    store.add(dm_object(password));
    Lwm2mClient::new(config, store, EndpointConfig::default())
}

fn name(app_key: &str, password: &str) -> String {
    dm::endpoint_name(TerminalType::Interface, app_key, password, &identity())
}

/// The network with the platform (app key M100000089 issued) and `device` on it.
fn with_device(data: &std::path::Path, device: Lwm2mClient) -> SimNetwork {
    let mut store = Store::open(data).unwrap();
    appkey::issue(&mut store, Some(APP_KEY), Some(PASSWORD)).unwrap();
    let mut net = network(data, |_| {});
    net.attach(device_address(), device);
    net
}

fn register(net: &mut SimNetwork) -> Vec<ClientEvent> {
    let now = net.now();
    net.node::<Lwm2mClient>(device_address())
        .unwrap()
        .register(now);
    net.run_for(Duration::from_secs(60));
    events(net)
}

fn update(net: &mut SimNetwork) -> Vec<ClientEvent> {
    let now = net.now();
    net.node::<Lwm2mClient>(device_address())
        .unwrap()
        .update(now);
    net.run_for(Duration::from_secs(60));
    events(net)
}

fn events(net: &mut SimNetwork) -> Vec<ClientEvent> {
    let device = net.node::<Lwm2mClient>(device_address()).unwrap();
    std::iter::from_fn(|| device.poll_event()).collect()
}

fn dm_node(net: &mut SimNetwork) -> &mut DmServer {
    net.node::<DmServer>(Addresses::default().dm).unwrap()
}

#[test]
fn a_device_registers_and_its_decrypted_information_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let device = client(name(APP_KEY, PASSWORD), APP_KEY, PASSWORD, &identity());
    let mut net = with_device(dir.path(), device);
    let events = register(&mut net);
    assert!(
        matches!(events[0], ClientEvent::Registered { .. }),
        "{events:?}"
    );
    let devices = Store::open(dir.path()).unwrap().devices().unwrap();
    assert_eq!(devices.len(), 1);
    let stored = &devices[0];
    assert_eq!(
        (
            stored.app_key.as_str(),
            stored.imei.as_str(),
            stored.imsi.as_str(),
            stored.imei2.as_str()
        ),
        (APP_KEY, "863703030822519", "460040000000001", "")
    );
    let expected: BTreeMap<String, String> = device_values()
        .into_iter()
        .map(|(id, v)| (nbmodem_platform::resource_name(id), v.to_string()))
        .collect();
    assert_eq!(stored.info, expected);
    assert_eq!(stored.info["mac"], "00:11:22:33:44:55");
    assert_eq!(stored.info["location"], "39.9,116.4,GPS");

    let recorded = records(dir.path(), Server::Dm);
    let register = &recorded[0];
    assert_eq!(
        (
            register.operation.as_str(),
            register.verdict,
            register.status.as_deref()
        ),
        ("register", Verdict::Accepted, Some("2.01"))
    );
    assert_eq!(register.source, device_address().to_string());
    assert_eq!(register.fields["imei"], "863703030822519");
    assert_eq!(register.fields["terminal"], "I");
    assert_eq!(register.fields["query"]["b"], "U");
    assert_eq!(register.fields["payload"], r#"</>;rt="oma.lwm2m",</666/0>"#);
    let read = &recorded[1];
    assert_eq!(
        (
            read.operation.as_str(),
            read.verdict,
            read.status.as_deref()
        ),
        ("read", Verdict::Accepted, Some("2.05"))
    );
    assert_eq!(read.fields["info"]["software_version"], "BC260YCNAAR02A01");
    assert_eq!(read.fields["path"], "/666/0");
}

#[test]
fn an_update_with_the_registered_imei_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let device = client(name(APP_KEY, PASSWORD), APP_KEY, PASSWORD, &identity());
    let mut net = with_device(dir.path(), device);
    register(&mut net);
    assert_eq!(update(&mut net), [ClientEvent::Updated]);
    let recorded = records(dir.path(), Server::Dm);
    let update = recorded.last().unwrap();
    assert_eq!(
        (
            update.operation.as_str(),
            update.verdict,
            update.status.as_deref()
        ),
        ("update", Verdict::Accepted, Some("2.04"))
    );
    assert_eq!(update.fields["imei"], "863703030822519");
    assert_eq!(update.fields["path"], "/rd/1");
    assert!(update.fields["query"]["epi"]
        .as_str()
        .unwrap()
        .starts_with("I@#@"));
}

#[test]
fn an_update_claiming_another_imei_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = DeviceIdentity {
        imei: "865975030000001".into(),
        ..identity()
    };
    let device = client(name(APP_KEY, PASSWORD), APP_KEY, PASSWORD, &other);
    let mut net = with_device(dir.path(), device);
    register(&mut net);
    assert_eq!(
        update(&mut net),
        [ClientEvent::UpdateFailed {
            status: Some(Status::BadRequest)
        }]
    );
    let update = records(dir.path(), Server::Dm).pop().unwrap();
    assert_eq!(update.verdict, Verdict::Rejected);
    assert_eq!(
        update.fields["error"],
        r#"the EPI is for IMEI "865975030000001" but IMEI "863703030822519" registered"#
    );
}

#[test]
fn an_update_without_epi_or_with_a_name_instead_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let device = client(name(APP_KEY, PASSWORD), APP_KEY, PASSWORD, &identity());
    let mut net = with_device(dir.path(), device);
    register(&mut net);
    let location = net
        .node::<Lwm2mClient>(device_address())
        .unwrap()
        .location()
        .unwrap();
    let dm_at = Addresses::default().dm;
    let update = |query: &str| {
        nbmodem_coap::Request::new(nbmodem_coap::Method::Post, &location).with_query(query)
    };
    send(&mut net, dm_at, update("lt=300"));
    send(
        &mut net,
        dm_at,
        update(&format!("epi={}", name(APP_KEY, PASSWORD))),
    );
    net.run_for(Duration::from_secs(5));
    let statuses: Vec<Status> = responses(&mut net).iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Status::BadRequest, Status::BadRequest]);
    let errors: Vec<serde_json::Value> = records(dir.path(), Server::Dm)
        .iter()
        .rev()
        .take(2)
        .map(|r| r.fields["error"].clone())
        .collect();
    assert_eq!(
        errors,
        [
            json!(r#"the identity ends "v2.0", not "****""#),
            json!("an Update needs epi=")
        ]
    );
}

#[test]
fn unknown_app_keys_are_forbidden_and_wrong_passwords_and_garbage_names_bad_requests() {
    let cases = [
        (
            name("M100000090", PASSWORD),
            Status::Forbidden,
            r#"unknown app key "M100000090""#,
        ),
        (
            name(APP_KEY, "wrong password"),
            Status::BadRequest,
            "identity does not decrypt with this password",
        ),
        (
            "865975030000001".to_string(),
            Status::BadRequest,
            "not a DM endpoint name (T@#@cipher@#@AppKey@#@IMEI@#@version)",
        ),
        (
            format!("I@#@bm90IGFlcw==@#@{APP_KEY}@#@1@#@v2.0"),
            Status::BadRequest,
            "identity does not decrypt with this password",
        ),
    ];
    for (endpoint, status, error) in cases {
        let dir = tempfile::tempdir().unwrap();
        let device = client(endpoint.clone(), APP_KEY, PASSWORD, &identity());
        let mut net = with_device(dir.path(), device);
        let events = register(&mut net);
        assert_eq!(
            events,
            [ClientEvent::RegistrationFailed {
                status: Some(status)
            }],
            "{endpoint}"
        );
        assert!(Store::open(dir.path())
            .unwrap()
            .devices()
            .unwrap()
            .is_empty());
        let recorded = records(dir.path(), Server::Dm);
        assert_eq!(recorded.len(), 1, "no Read after a refusal");
        assert_eq!(recorded[0].verdict, Verdict::Rejected);
        assert_eq!(recorded[0].fields["error"], error, "{endpoint}");
    }
}

#[test]
fn dm_faults_reject_with_forbidden_and_drop_until_a_retransmission() {
    let dir = tempfile::tempdir().unwrap();
    let device = client(name(APP_KEY, PASSWORD), APP_KEY, PASSWORD, &identity());
    let mut net = with_device(dir.path(), device);
    dm_node(&mut net).set_fault(Fault::Reject(1));
    let events = register(&mut net);
    assert_eq!(
        events,
        [ClientEvent::RegistrationFailed {
            status: Some(Status::Forbidden)
        }]
    );
    dm_node(&mut net).set_fault(Fault::Drop(1));
    assert_eq!(dm_node(&mut net).faults().drop, 1);
    let events = register(&mut net);
    assert!(
        matches!(events[0], ClientEvent::Registered { .. }),
        "{events:?}"
    );
    let summary: Vec<(String, Verdict, Option<String>)> = records(dir.path(), Server::Dm)
        .into_iter()
        .map(|r| (r.operation, r.verdict, r.fault))
        .collect();
    let row =
        |op: &str, verdict, fault: Option<&str>| (op.to_string(), verdict, fault.map(String::from));
    assert_eq!(
        summary,
        [
            row("register", Verdict::Rejected, Some("reject")),
            row("register", Verdict::Dropped, Some("drop")),
            row("register", Verdict::Accepted, None),
            row("read", Verdict::Accepted, None),
        ]
    );
}

#[test]
fn a_delayed_registration_is_answered_after_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let device = client(name(APP_KEY, PASSWORD), APP_KEY, PASSWORD, &identity());
    let mut net = with_device(dir.path(), device);
    dm_node(&mut net).set_fault(Fault::Delay(Duration::from_secs(10)));
    let events = register(&mut net);
    assert!(
        matches!(events[0], ClientEvent::Registered { .. }),
        "{events:?}"
    );
    let recorded = records(dir.path(), Server::Dm);
    assert_eq!(ms_after_start(&recorded[0]), 10_000);
    assert_eq!(recorded[0].fault.as_deref(), Some("delay=10s"));
    assert_eq!(
        recorded.len(),
        2,
        "one register (retransmissions not recorded) and the read"
    );
}
