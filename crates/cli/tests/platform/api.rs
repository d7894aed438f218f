//! The CT IoT platforms' HTTP API on a running `nbmodem platform` (loopback, free ports): the
//! token, bad input on every write route, every route's happy path, and the `nbmodem platform
//! iot|aep …` subcommands that are its clients.

use crate::binary::{run, Platform};
use nbmodem_cli::platform::client::{Answer, Client};
use nbmodem_platform::ctiot::{Flavour, Uplink};
use nbmodem_platform::writer::Write;
use nbmodem_platform::Store;
use serde_json::{json, Value};
use std::path::Path;

const IMEI: &str = "865975030000001";

fn client(platform: &Platform, data: &Path) -> Client {
    let token = std::fs::read_to_string(data.join("control.token")).unwrap();
    Client::new(platform.api, Some(token.trim().to_string()))
}

fn profile() -> Value {
    json!({"devices": [{"manufacturerId": "Quectel", "model": "BC260Y", "deviceType": "Meter",
                        "protocolType": "CoAP", "serviceTypeCapabilities": []}]})
}

/// Sends `body` as it is (none: no body).
fn send(client: &Client, method: &str, path: &str, body: Option<&str>) -> Answer {
    client
        .send(method, path, body.map(str::as_bytes))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// The body of a successful GET.
fn get_ok(client: &Client, path: &str) -> Value {
    ok(client.get(path).unwrap(), 200)
}

pub(crate) fn ok(answer: Answer, status: u16) -> Value {
    assert_eq!(answer.status, status, "{}", answer.body);
    answer.body
}

/// An error answer: the status, and a JSON body with the error's text.
pub(crate) fn assert_error(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    let text = answer.body["error"].as_str().unwrap_or_default();
    assert!(!text.is_empty(), "{what}: {}", answer.body);
}

fn add_device(client: &Client, flavour: &str, new: Value) -> Value {
    let answer = client
        .post(&format!("/api/{flavour}/devices"), &new)
        .unwrap();
    ok(answer, 201)
}

/// What a test should find unchanged after refused requests.
fn snapshot(client: &Client) -> Vec<Value> {
    let paths = [
        "/api/iot/devices".to_string(),
        "/api/aep/devices".into(),
        "/api/iot/products".into(),
        "/api/aep/products".into(),
        format!("/api/iot/devices/{IMEI}/downlinks"),
        "/api/iot/faults".into(),
        "/api/aep/faults".into(),
    ];
    paths.iter().map(|p| get_ok(client, p)).collect()
}

/// Every route, with a body that would be accepted.
fn every_route() -> Vec<(&'static str, String, Option<String>)> {
    let device = format!("/api/iot/devices/{IMEI}");
    vec![
        ("GET", "/api/iot/devices".into(), None),
        (
            "POST",
            "/api/iot/devices".into(),
            Some(json!({"imei": "865975030000002"}).to_string()),
        ),
        ("GET", device.clone(), None),
        ("DELETE", device.clone(), None),
        ("GET", format!("{device}/uplinks"), None),
        ("GET", format!("{device}/downlinks"), None),
        (
            "POST",
            format!("{device}/downlinks"),
            Some(r#"{"data":"AA01"}"#.into()),
        ),
        ("GET", "/api/downlinks/1".into(), None),
        ("GET", "/api/aep/products".into(), None),
        (
            "POST",
            "/api/aep/products".into(),
            Some(json!({"id": "p1", "profile": profile()}).to_string()),
        ),
        ("GET", "/api/aep/faults".into(), None),
        (
            "POST",
            "/api/aep/faults".into(),
            Some(r#"{"drop":3}"#.into()),
        ),
        ("DELETE", "/api/aep/faults".into(), None),
    ]
}

/// A running platform with an IoT device, and a client with the token.
fn with_a_device() -> (tempfile::TempDir, Platform, Client) {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path(), &[]);
    let client = client(&platform, dir.path());
    add_device(&client, "iot", json!({"imei": IMEI}));
    (dir, platform, client)
}

#[test]
fn every_request_needs_the_control_token() {
    let (_dir, platform, client) = with_a_device();
    let before = snapshot(&client);
    let wrong = [None, Some("0".repeat(32)), Some("Bearer".into())];
    for token in wrong {
        let stranger = Client::new(platform.api, token.clone());
        for (method, path, body) in every_route() {
            let answer = send(&stranger, method, &path, body.as_deref());
            assert_error(&answer, 401, &format!("{method} {path} with {token:?}"));
        }
    }
    assert_eq!(snapshot(&client), before, "nothing changed");
}

/// Bodies a route refuses, each with the status it gets.
type Refused<'a> = (&'a str, &'a str, Vec<(Option<&'a str>, u16)>);

#[test]
fn bad_input_gets_a_json_error_and_changes_nothing() {
    let (_dir, _platform, client) = with_a_device();
    let before = snapshot(&client);
    let device = format!("/api/iot/devices/{IMEI}");
    let downlinks = format!("{device}/downlinks");
    let uplinks = format!("{device}/uplinks");
    let pages = [
        format!("{uplinks}?limit=0"),
        format!("{uplinks}?limit=x"),
        format!("{uplinks}?page=2"),
    ];
    let huge = format!(r#"{{"imei":"{IMEI}","psk":"{}"}}"#, "0".repeat(70_000));
    let long_data = format!(r#"{{"data":"{}"}}"#, "00".repeat(1025));
    let long_psk = format!(
        r#"{{"psk":"{}","imei":"865975030000002"}}"#,
        "00".repeat(257)
    );
    let refused: Vec<Refused> = vec![
        (
            "POST",
            "/api/iot/devices",
            vec![
                (Some("{"), 400),
                (Some("[]"), 422),
                (None, 415),
                (Some(r#"{"imei":865975030000002}"#), 422),
                (Some(r#"{"imei":"865975030000002","colour":1}"#), 422),
                (Some(r#"{"imei":"86597503000000"}"#), 400),
                (Some(r#"{"imei":"865975030000002","psk":"abc"}"#), 400),
                (Some(&long_psk), 400),
                (Some(r#"{"imei":"865975030000002","product":"p9"}"#), 400),
                (Some(r#"{"imei":"865975030000002","reply":"yes"}"#), 422),
                (Some(&huge), 413),
            ],
        ),
        (
            "POST",
            "/api/onenet/devices",
            vec![(Some(r#"{"imei":"865975030000002"}"#), 400)],
        ),
        (
            "PUT",
            "/api/iot/devices",
            vec![(Some(r#"{"imei":"865975030000002"}"#), 405)],
        ),
        (
            "DELETE",
            "/api/iot/devices/865975030000009",
            vec![(None, 404)],
        ),
        (
            "DELETE",
            "/api/iot/devices/8659750300000x1",
            vec![(None, 400)],
        ),
        (
            "DELETE",
            "/api/aep/devices/865975030000001",
            vec![(None, 404)],
        ),
        (
            "POST",
            &downlinks,
            vec![
                (Some(r#"{"data":"ABC"}"#), 400),
                (Some(r#"{"data":"ZZ"}"#), 400),
                (Some(r#"{"data":""}"#), 400),
                (Some(&long_data), 400),
                (Some(r#"{"data":1}"#), 422),
                (Some(r#"{"data":"AA","port":1}"#), 422),
                (Some(r#"{"data":"AA""#), 400),
            ],
        ),
        (
            "POST",
            "/api/iot/devices/865975030000009/downlinks",
            vec![(Some(r#"{"data":"AA"}"#), 404)],
        ),
        (
            "POST",
            "/api/iot/devices/123/downlinks",
            vec![(Some(r#"{"data":"AA"}"#), 400)],
        ),
        (
            "POST",
            "/api/iot/products",
            vec![
                (Some(r#"{"id":"p 1","profile":{"devices":[]}}"#), 400),
                (Some(r#"{"id":"p1","profile":{}}"#), 400),
                (Some(r#"{"id":"p1"}"#), 422),
                (
                    Some(r#"{"id":"p1","profile":{"devices":[{"model":"x"}]}}"#),
                    400,
                ),
            ],
        ),
        (
            "POST",
            "/api/iot/faults",
            vec![
                (Some("{}"), 400),
                (Some(r#"{"drop":-1}"#), 422),
                (Some(r#"{"drop":"3"}"#), 422),
                (Some(r#"{"delay":"25h"}"#), 400),
                (Some(r#"{"delay":"5s","lose":1}"#), 422),
            ],
        ),
        ("GET", "/api/downlinks/x", vec![(None, 400)]),
        ("GET", "/api/downlinks/999", vec![(None, 404)]),
        (
            "GET",
            "/api/iot/devices/865975030000009/uplinks",
            vec![(None, 404)],
        ),
        ("GET", &pages[0], vec![(None, 400)]),
        ("GET", &pages[1], vec![(None, 400)]),
        ("GET", &pages[2], vec![(None, 400)]),
        ("GET", "/api/nothing", vec![(None, 404)]),
    ];
    for (method, path, bodies) in refused {
        for (body, status) in bodies {
            let answer = send(&client, method, path, body);
            let shown: String = body.unwrap_or_default().chars().take(80).collect();
            assert_error(&answer, status, &format!("{method} {path} {shown}"));
        }
    }
    assert_eq!(snapshot(&client), before, "nothing changed");
}

#[test]
fn every_route_does_what_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path(), &[]);
    let client = client(&platform, dir.path());

    let product = json!({"id": "meter", "profile": profile()});
    let added = ok(client.post("/api/aep/products", &product).unwrap(), 201);
    assert_eq!(added["flavour"], "aep");
    ok(client.post("/api/aep/products", &product).unwrap(), 200);
    let products = get_ok(&client, "/api/aep/products");
    assert_eq!(products["products"][0]["profile"], profile());
    assert_eq!(
        get_ok(&client, "/api/iot/products"),
        json!({"products": []})
    );

    let new = json!({"imei": IMEI, "psk": "00112233aabb", "product": "meter"});
    let device = add_device(&client, "aep", new);
    assert_eq!(device["psk"], "00112233AABB");
    assert_eq!(device["reply"], false, "AEP does not reply by default");
    assert_eq!(device["state"]["registered"], false);
    let iot = add_device(&client, "iot", json!({"imei": IMEI}));
    assert_eq!(iot["reply"], true);
    let replaced = client
        .post("/api/iot/devices", &json!({"imei": IMEI, "reply": false}))
        .unwrap();
    assert_eq!(ok(replaced, 200)["reply"], false);
    let listed = get_ok(&client, "/api/aep/devices");
    assert_eq!(listed["devices"].as_array().unwrap().len(), 1);
    let shown = get_ok(&client, &format!("/api/aep/devices/{IMEI}"));
    assert_eq!(shown["product"], "meter");
    assert_eq!(shown["state"]["registered"], false);

    let device_path = format!("/api/aep/devices/{IMEI}");
    let queued = client
        .post(
            &format!("{device_path}/downlinks"),
            &json!({"data": "aa01"}),
        )
        .unwrap();
    let queued = ok(queued, 202);
    assert_eq!(queued["data"], "AA01");
    assert_eq!(queued["status"], "queued");
    let id = queued["id"].as_u64().unwrap();
    let followed = get_ok(&client, &format!("/api/downlinks/{id}"));
    assert_eq!(followed, queued);
    let history = get_ok(&client, &format!("{device_path}/downlinks"));
    assert_eq!(history["downlinks"], json!([queued]));
    let shown = get_ok(&client, &device_path);
    assert_eq!(shown["state"]["queued_downlinks"], 1);

    store_uplinks(dir.path(), 5);
    let page = get_ok(&client, &format!("{device_path}/uplinks?limit=2"));
    assert_eq!(data_of(&page), ["04", "03"], "newest first");
    let next = page["next"].as_i64().unwrap();
    let page = get_ok(
        &client,
        &format!("{device_path}/uplinks?limit=2&cursor={next}"),
    );
    assert_eq!(data_of(&page), ["02", "01"]);
    let next = page["next"].as_i64().unwrap();
    let last = get_ok(&client, &format!("{device_path}/uplinks?cursor={next}"));
    assert_eq!(data_of(&last), ["00"]);
    assert_eq!(last["next"], Value::Null);

    let set = client
        .post(
            "/api/aep/faults",
            &json!({"drop": 3, "delay": "5s", "noack": 2}),
        )
        .unwrap();
    let faults = json!({"drop": 3, "reject": 0, "delay": "5s", "reset": 0, "noack": 2});
    assert_eq!(ok(set, 200), faults);
    assert_eq!(get_ok(&client, "/api/aep/faults"), faults);
    let control = run(&[
        "platform",
        "faults",
        "--control",
        &platform.control.to_string(),
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        text(&control.stdout).contains("aep drop=3 reject=0 delay=5s noack=2\n"),
        "the control port's faults: {}",
        text(&control.stdout)
    );
    let cleared = ok(client.delete("/api/aep/faults").unwrap(), 200);
    assert_eq!(cleared["drop"], 0);
    assert_eq!(cleared["delay"], "0s");

    let removed = ok(client.delete(&device_path).unwrap(), 200);
    assert_eq!(removed["imei"], IMEI);
    assert_eq!(client.get(&device_path).unwrap().status, 404);
    assert_eq!(
        client.get(&format!("/api/downlinks/{id}")).unwrap().status,
        404,
        "its downlinks went with it"
    );
}

/// Stores `n` uplinks of the AEP device as its server would, data `00`, `01`, ….
fn store_uplinks(data: &Path, n: u8) {
    let writes: Vec<Write> = (0..n)
        .map(|i| {
            Write::Uplink(Uplink {
                id: 0,
                flavour: Flavour::Aep,
                imei: IMEI.into(),
                time_ms: 1000 + u64::from(i),
                time: "t".into(),
                data: vec![i],
                confirmable: false,
                sequence: u32::from(i),
                decoded: None,
                decode_error: None,
            })
        })
        .collect();
    Store::open(data)
        .unwrap()
        .write_all(&writes, u64::MAX)
        .unwrap();
}

fn data_of(page: &Value) -> Vec<&str> {
    page["uplinks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["data"].as_str().unwrap())
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// JSON lines.
pub(crate) fn lines(bytes: &[u8]) -> Vec<Value> {
    text(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_subcommands_are_clients_of_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path(), &[]);
    let api = platform.api.to_string();
    let data = dir.path().to_str().unwrap();
    let nbmodem = |words: &[&str]| {
        let mut args = vec!["platform"];
        args.extend(words);
        args.extend(["--api", &api, "--data", data]);
        run(&args)
    };
    let profile_file = dir.path().join("profile.json");
    std::fs::write(&profile_file, profile().to_string()).unwrap();
    let added = nbmodem(&[
        "aep",
        "product",
        "add",
        "meter",
        profile_file.to_str().unwrap(),
    ]);
    assert!(added.status.success(), "{}", text(&added.stderr));
    assert_eq!(
        lines(&nbmodem(&["aep", "products"]).stdout)[0]["id"],
        "meter"
    );

    let add = ["iot", "device", "add", IMEI, "--psk", "0011", "--no-reply"];
    let added = lines(&nbmodem(&add).stdout);
    assert_eq!(added[0]["psk"], "0011");
    assert_eq!(added[0]["reply"], false);
    nbmodem(&["iot", "device", "add", "865975030000002"]);
    let devices = lines(&nbmodem(&["iot", "devices"]).stdout);
    assert_eq!(devices.len(), 2, "one line each");
    let shown = lines(&nbmodem(&["iot", "device", "show", IMEI]).stdout);
    assert_eq!(shown[0]["state"]["registered"], false);

    let queued = lines(&nbmodem(&["iot", "downlink", IMEI, "AA01"]).stdout);
    assert_eq!(queued[0]["status"], "queued");
    let listed = lines(&nbmodem(&["iot", "downlinks", IMEI]).stdout);
    assert_eq!(listed, queued);
    let waited = nbmodem(&["iot", "downlink", IMEI, "BB", "--wait", "300ms"]);
    assert_eq!(
        lines(&waited.stdout)[0]["status"],
        "queued",
        "nobody took it"
    );

    store_uplinks(dir.path(), 3);
    let uplinks = nbmodem(&["aep", "uplinks", IMEI, "--limit", "2"]);
    assert_eq!(
        text(&uplinks.stdout),
        "",
        "no AEP device {IMEI}: {}",
        text(&uplinks.stderr)
    );
    assert_eq!(uplinks.status.code(), Some(1));
    assert!(text(&uplinks.stderr).starts_with("error: 404 no device"));

    let removed = nbmodem(&["iot", "device", "remove", IMEI]);
    assert!(removed.status.success());
    let gone = nbmodem(&["iot", "device", "show", IMEI]);
    assert_eq!(gone.status.code(), Some(1));
    let bad = nbmodem(&["iot", "downlink", "865975030000002", "XYZ"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("the data must be"),
        "{}",
        text(&bad.stderr)
    );

    let elsewhere = dir.path().join("elsewhere");
    let no_token = run(&[
        "platform",
        "iot",
        "devices",
        "--api",
        &api,
        "--data",
        elsewhere.to_str().unwrap(),
    ]);
    assert_eq!(no_token.status.code(), Some(2));
    assert!(text(&no_token.stderr).contains("control token"));
}

#[test]
fn the_subcommands_page_through_uplinks() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path(), &[]);
    let client = client(&platform, dir.path());
    add_device(&client, "aep", json!({"imei": IMEI}));
    store_uplinks(dir.path(), 3);
    let api = platform.api.to_string();
    let data = dir.path().to_str().unwrap();
    let page = run(&[
        "platform", "aep", "uplinks", IMEI, "--limit", "2", "--api", &api, "--data", data,
    ]);
    let uplinks = lines(&page.stdout);
    assert_eq!(uplinks.len(), 2);
    assert_eq!(uplinks[0]["data"], "02");
    let more = text(&page.stderr);
    let cursor = more.trim().strip_prefix("more: --cursor ").unwrap();
    let rest = run(&[
        "platform", "aep", "uplinks", IMEI, "--cursor", cursor, "--api", &api, "--data", data,
    ]);
    assert_eq!(lines(&rest.stdout)[0]["data"], "00");
    assert!(rest.stderr.is_empty());
}

/// docs/api.md's example of paging through uplinks against a platform that holds the uplinks it
/// shows: each request of the Uplinks section gets the answer printed after it.
#[test]
fn the_api_documents_paging_example_is_what_the_platform_answers() {
    let doc = include_str!("../../../../docs/api.md");
    let section = doc.split("\n## Uplinks").nth(1).unwrap();
    let section = section.split("\n## ").next().unwrap();
    let requests: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("curl -H \"$AUTH\" \"$API"))
        .map(|rest| rest.trim_end_matches('"'))
        .collect();
    let answers: Vec<Value> = section
        .lines()
        .filter(|l| l.starts_with("{\"uplinks\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(requests.len(), 2, "{section}");
    assert_eq!(requests.len(), answers.len());
    let mut shown: Vec<Uplink> = answers
        .iter()
        .flat_map(|a| a["uplinks"].as_array().unwrap().clone())
        .map(|u| serde_json::from_value(u).unwrap())
        .collect();
    shown.sort_by_key(|u| u.id);
    let ids: Vec<i64> = shown.iter().map(|u| u.id).collect();
    assert_eq!(
        ids,
        (1..=shown.len() as i64).collect::<Vec<_>>(),
        "a new store's ids"
    );
    let (dir, _platform, client) = with_a_device();
    let writes: Vec<Write> = shown.into_iter().map(Write::Uplink).collect();
    Store::open(dir.path())
        .unwrap()
        .write_all(&writes, u64::MAX)
        .unwrap();
    for (request, answer) in requests.iter().zip(&answers) {
        assert_eq!(&get_ok(&client, request), answer, "{request}");
    }
}
