//! The API's DFOTA routes on a running `nbmodem platform` (loopback, free ports): the token,
//! every refusal of a key or a package upload (a JSON 4xx, nothing stored), the happy path key →
//! package → tasks in the listings and the store, and the `nbmodem platform iot|aep fota …`
//! subcommands. The download itself is covered by the virtual-time scenarios.

use crate::api::{assert_error, lines, ok};
use crate::binary::{run, Platform};
use nbmodem_cli::platform::client::{Answer, Client};
use nbmodem_fota::archive::{sign_package_zip, zip_package};
use nbmodem_fota::signing::{hex, sha256};
use nbmodem_fota::{Algorithm, DeltaPackage, PrivateKey};
use nbmodem_platform::Store;
use serde_json::{json, Value};
use std::path::Path;

const IMEI: &str = "865975030000001";
const SOURCE: &str = "BC260YCNAAR02A01";
const TARGET: &str = "BC260YCNAAR02A01_BETA1230A";
const PACKAGE_ID: &str = "BC260YCNAAR02A01_BC260YCNAAR02A01_BETA1230A";
const UPLOAD_FORM: &str =
    "version=BC260YCNAAR02A01_BETA1230A&manufacturer=quectel&device_type=WaterMeter&model=NBIoTDevice&protocol=CoAP&product=meter";

/// Seed 002 §5.1.2's profile template, with or without its `omCapability`.
fn profile(upgradable: bool) -> Value {
    let mut device = json!({"manufacturerId": "quectel", "manufacturerName": "quectel",
        "model": "NBIoTDevice", "protocolType": "CoAP", "deviceType": "WaterMeter",
        "serviceTypeCapabilities": []});
    if upgradable {
        device["omCapability"] = json!({
            "upgradeCapability": {"supportUpgrade": false},
            "fwUpgradeCapability": {"supportUpgrade": true, "upgradeProtocolType": "LWM2M",
                                    "downloadProtocolType": "CoAP"}});
    }
    json!({ "devices": [device] })
}

/// A key and a package it signed, as `nbmodem fota make` and `sign` make them.
struct Signed {
    public_pem: String,
    bin: Vec<u8>,
    zip: Vec<u8>,
}

fn signed() -> Signed {
    let key = PrivateKey::generate(Algorithm::EcdsaSecp256k1Sha256).unwrap();
    let delta = DeltaPackage::make(SOURCE, TARGET, 4096, 1).unwrap();
    let bin = delta.encode();
    let zip = zip_package(&delta.file_name(), &bin).unwrap();
    Signed {
        public_pem: key.public_key().to_pem().unwrap(),
        zip: sign_package_zip(&zip, &key).unwrap().bytes,
        bin,
    }
}

fn other_public_key() -> String {
    let key = PrivateKey::generate(Algorithm::EcdsaSecp256k1Sha256).unwrap();
    key.public_key().to_pem().unwrap()
}

/// A running platform with the products `meter` (upgradable) and `plain` (not), an IoT device
/// of `meter`, and a client with the token.
fn platform() -> (tempfile::TempDir, Platform, Client) {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path(), &[]);
    let token = std::fs::read_to_string(dir.path().join("control.token")).unwrap();
    let client = Client::new(platform.api, Some(token.trim().to_string()));
    for (id, upgradable) in [("meter", true), ("plain", false)] {
        let product = json!({"id": id, "profile": profile(upgradable)});
        ok(client.post("/api/iot/products", &product).unwrap(), 201);
    }
    let device = json!({"imei": IMEI, "product": "meter"});
    ok(client.post("/api/iot/devices", &device).unwrap(), 201);
    (dir, platform, client)
}

fn add_key(client: &Client, manufacturer: &str, pem: &str) -> Answer {
    let new = json!({"manufacturer": manufacturer, "public_key": pem});
    client
        .send(
            "PUT",
            "/api/iot/fota/keys",
            Some(new.to_string().as_bytes()),
        )
        .unwrap()
}

fn upload(client: &Client, query: &str, zip: &[u8]) -> Answer {
    let path = format!("/api/iot/fota/packages?{query}");
    client
        .send_as("POST", &path, Some(("application/zip", zip)))
        .unwrap()
}

/// What refused requests must leave as it was: the listings and the store's rows.
fn snapshot(client: &Client, data: &Path) -> (Vec<Value>, usize, usize) {
    let lists = ["keys", "packages", "tasks"]
        .map(|what| ok(client.get(&format!("/api/iot/fota/{what}")).unwrap(), 200));
    let store = Store::open(data).unwrap();
    let rows = (
        store.fota_keys().unwrap().len(),
        store.fota_packages().unwrap().len(),
    );
    (lists.to_vec(), rows.0, rows.1)
}

#[test]
fn the_fota_routes_need_the_control_token() {
    let (dir, platform, client) = platform();
    let before = snapshot(&client, dir.path());
    let stranger = Client::new(platform.api, None);
    let routes = [
        ("GET", "/api/iot/fota/keys"),
        ("PUT", "/api/iot/fota/keys"),
        ("DELETE", "/api/iot/fota/keys/quectel"),
        ("GET", "/api/iot/fota/packages"),
        ("GET", "/api/iot/fota/packages/p1"),
        ("GET", "/api/iot/fota/tasks"),
        ("POST", "/api/iot/fota/tasks"),
        ("GET", "/api/iot/fota/tasks/t1"),
        ("POST", "/api/iot/fota/tasks/t1/start"),
    ];
    for (method, path) in routes {
        let answer = stranger.send(method, path, Some(b"{}")).unwrap();
        assert_error(&answer, 401, &format!("{method} {path}"));
    }
    let zip = signed().zip;
    assert_error(&upload(&stranger, UPLOAD_FORM, &zip), 401, "upload");
    assert_eq!(snapshot(&client, dir.path()), before);
}

#[test]
fn a_bad_key_or_upload_gets_a_json_4xx_and_stores_nothing() {
    let (dir, _platform, client) = platform();
    let signed = signed();
    let empty = snapshot(&client, dir.path());
    assert_error(&upload(&client, UPLOAD_FORM, &signed.zip), 400, "no key");
    let bad_keys = [
        ("quectel", "not a key"),
        (
            "quectel",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        ),
        ("", signed.public_pem.as_str()),
        ("que\nctel", signed.public_pem.as_str()),
    ];
    for (manufacturer, pem) in bad_keys {
        assert_error(&add_key(&client, manufacturer, pem), 400, manufacturer);
    }
    assert_eq!(snapshot(&client, dir.path()), empty, "no key stored");

    ok(add_key(&client, "quectel", &other_public_key()), 201);
    assert_error(&upload(&client, UPLOAD_FORM, &signed.zip), 400, "wrong key");
    ok(add_key(&client, "quectel", &signed.public_pem), 200);
    let with_key = snapshot(&client, dir.path());

    let mut tampered = signed.zip.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x55;
    let form = |from: &str, to: &str| UPLOAD_FORM.replace(from, to);
    let refused = [
        (UPLOAD_FORM.into(), tampered, 400, "tampered zip"),
        (form("_BETA1230A&", "&"), signed.zip.clone(), 400, "version"),
        (
            form("NBIoTDevice", "BC260Y"),
            signed.zip.clone(),
            400,
            "model",
        ),
        (
            form("WaterMeter", "watermeter"),
            signed.zip.clone(),
            400,
            "device type",
        ),
        (
            form("protocol=CoAP", "protocol=LWM2M"),
            signed.zip.clone(),
            400,
            "protocol",
        ),
        (
            form("=quectel", "=Quectel"),
            signed.zip.clone(),
            400,
            "manufacturer",
        ),
        (
            form("=meter", "=plain"),
            signed.zip.clone(),
            400,
            "no fwUpgradeCapability",
        ),
        (
            form("=meter", "=nope"),
            signed.zip.clone(),
            400,
            "no product",
        ),
        (
            form("&product=meter", ""),
            signed.zip.clone(),
            400,
            "no product given",
        ),
        (
            format!("{UPLOAD_FORM}&id=a.b"),
            signed.zip.clone(),
            400,
            "bad id",
        ),
        (UPLOAD_FORM.into(), b"PK".to_vec(), 400, "not a zip"),
        (UPLOAD_FORM.into(), signed.bin.clone(), 400, "unsigned"),
        (
            UPLOAD_FORM.into(),
            vec![0; 8 * 1024 * 1024 + 1],
            413,
            "oversize",
        ),
    ];
    for (query, zip, status, what) in refused {
        assert_error(&upload(&client, &query, &zip), status, what);
    }
    let as_json = client.send(
        "POST",
        &format!("/api/iot/fota/packages?{UPLOAD_FORM}"),
        Some(b"{}"),
    );
    assert_error(&as_json.unwrap(), 415, "JSON body");
    // An archive refused before its signature is checked says why first.
    let not_zip = upload(&client, UPLOAD_FORM, b"PK");
    let why = not_zip.body["error"].as_str().unwrap();
    assert!(why.starts_with("not a zip archive"), "{why}");
    let capability = upload(&client, &form("=meter", "=plain"), &signed.zip);
    let why = capability.body["error"].as_str().unwrap();
    assert!(why.contains("fwUpgradeCapability"), "{why}");
    assert_eq!(snapshot(&client, dir.path()), with_key, "no package stored");
}

#[test]
fn key_package_and_tasks_show_in_the_listings() {
    let (dir, _platform, client) = platform();
    let signed = signed();
    ok(add_key(&client, "quectel", &signed.public_pem), 201);
    let keys = ok(client.get("/api/iot/fota/keys").unwrap(), 200);
    assert_eq!(keys["keys"][0]["algorithm"], "ECDSA_256K1+SHA256");
    assert_eq!(
        ok(client.get("/api/aep/fota/keys").unwrap(), 200)["keys"],
        json!([])
    );

    let package = ok(upload(&client, UPLOAD_FORM, &signed.zip), 201);
    assert_eq!(package["id"], PACKAGE_ID);
    assert_eq!(
        (&package["version"], &package["source"]),
        (&json!(TARGET), &json!(SOURCE))
    );
    assert_eq!(package["size"], signed.bin.len());
    assert_eq!(package["sha256"], hex(&sha256(&signed.bin)));
    let listed = ok(client.get("/api/iot/fota/packages").unwrap(), 200);
    assert_eq!(
        listed["packages"],
        json!([package]),
        "no bytes in the listing"
    );
    let shown = ok(
        client
            .get(&format!("/api/iot/fota/packages/{PACKAGE_ID}"))
            .unwrap(),
        200,
    );
    assert_eq!(shown, package);
    assert_error(
        &client.get("/api/iot/fota/packages/nope").unwrap(),
        404,
        "no package",
    );

    let batch = json!({"id": "batch", "group": "DFOTA", "package": PACKAGE_ID, "devices": [IMEI],
                       "retries": 2, "retry_after_s": 60, "max_concurrent": 5});
    let batch = ok(client.post("/api/iot/fota/tasks", &batch).unwrap(), 201);
    assert_eq!(
        (&batch["style"], &batch["started"]),
        (&json!("batch"), &json!(true))
    );
    assert_eq!(batch["upgrades"][0]["status"], "waiting");
    assert_eq!(batch["statuses"]["waiting"], 1);
    let aep = json!({"id": "aep", "package": PACKAGE_ID, "devices": [IMEI]});
    let aep = ok(client.post("/api/iot/fota/tasks", &aep).unwrap(), 201);
    assert_eq!(aep["started"], false);
    let refused_tasks = [
        (
            json!({"id": "aep", "package": PACKAGE_ID, "devices": [IMEI]}),
            400,
            "the same id",
        ),
        (
            json!({"id": "t", "package": "nope", "devices": [IMEI]}),
            404,
            "no package",
        ),
        (
            json!({"id": "t", "package": PACKAGE_ID, "devices": []}),
            400,
            "no devices",
        ),
        (
            json!({"id": "t", "package": PACKAGE_ID, "devices": [IMEI], "max_concurrent": 0}),
            400,
            "concurrency 0",
        ),
    ];
    for (task, status, what) in refused_tasks {
        assert_error(
            &client.post("/api/iot/fota/tasks", &task).unwrap(),
            status,
            what,
        );
    }
    let started = ok(
        client
            .post("/api/iot/fota/tasks/aep/start", &json!({}))
            .unwrap(),
        200,
    );
    assert_eq!(started["started"], true);
    let tasks = ok(client.get("/api/iot/fota/tasks").unwrap(), 200);
    let ids: Vec<&Value> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert_eq!(ids, [&json!("aep"), &json!("batch")]);
    let shown = ok(client.get("/api/iot/fota/tasks/batch").unwrap(), 200);
    assert_eq!(shown["upgrades"][0]["imei"], IMEI);
    assert_error(
        &client.get("/api/iot/fota/tasks/nope").unwrap(),
        404,
        "no task",
    );

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.fota_keys().unwrap().len(), 1, "durable when answered");
    assert_eq!(store.fota_tasks().unwrap().len(), 2);
    let removed = client.delete("/api/iot/fota/keys/quectel").unwrap();
    ok(removed, 200);
    assert_error(
        &client.delete("/api/iot/fota/keys/quectel").unwrap(),
        404,
        "removed twice",
    );
    assert!(store.fota_keys().unwrap().is_empty());
}

#[test]
fn the_fota_subcommands_are_clients_of_the_api() {
    let (dir, platform, _client) = platform();
    let signed = signed();
    let (pem, zip) = (
        dir.path().join("public.pem"),
        dir.path().join("p_signed.zip"),
    );
    std::fs::write(&pem, &signed.public_pem).unwrap();
    std::fs::write(&zip, &signed.zip).unwrap();
    let api = platform.api.to_string();
    let data = dir.path().to_str().unwrap();
    let nbmodem = |words: &[&str]| {
        let mut args = vec!["platform", "iot", "fota"];
        args.extend(words);
        args.extend(["--api", &api, "--data", data]);
        let output = run(&args);
        assert!(
            output.status.success(),
            "{words:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        lines(&output.stdout)
    };
    nbmodem(&["key", "add", "quectel", pem.to_str().unwrap()]);
    assert_eq!(nbmodem(&["keys"])[0]["manufacturer"], "quectel");
    let package = nbmodem(&[
        "package",
        "add",
        zip.to_str().unwrap(),
        "--version",
        TARGET,
        "--manufacturer",
        "quectel",
        "--device-type",
        "WaterMeter",
        "--model",
        "NBIoTDevice",
        "--protocol",
        "CoAP",
        "--product",
        "meter",
        "--id",
        "p1",
    ]);
    assert_eq!(package[0]["id"], "p1");
    assert_eq!(nbmodem(&["packages"]).len(), 1);
    let task = [
        "task",
        "add",
        "t1",
        "--package",
        "p1",
        "--devices",
        IMEI,
        "--retries",
        "3",
    ];
    let task = nbmodem(&[&task[..], &["--retry-after", "5m", "--max-concurrent", "2"]].concat());
    assert_eq!(
        (&task[0]["retry_after_s"], &task[0]["started"]),
        (&json!(300), &json!(false))
    );
    assert_eq!(nbmodem(&["task", "start", "t1"])[0]["started"], true);
    assert_eq!(nbmodem(&["tasks"]).len(), 1);
    assert_eq!(
        nbmodem(&["task", "show", "t1"])[0]["upgrades"][0]["status"],
        "waiting"
    );
    assert_eq!(nbmodem(&["task", "show", "t1", "--json"])[0]["id"], "t1");
    let words = [
        "platform", "iot", "fota", "task", "show", "t1", "--api", &api, "--data", data,
    ];
    let shown = on_a_terminal(&words);
    let want = format!(
        "task t1 (t1) on iot: AEP task of package p1, started\n\
         retries 3, retry after 300 s, at most 2 at once\n\
         waiting 1, downloading 0, updating 0, succeeded 0, failed 0\n\
         \n\
         {IMEI}  waiting  attempts 0  result -\n"
    );
    assert_eq!(shown, want);
    let json = on_a_terminal(&[&words[..], &["--json"]].concat());
    assert_eq!(
        lines(json.as_bytes())[0]["id"],
        "t1",
        "--json at a terminal"
    );

    let refused = run(&[
        "platform", "iot", "fota", "task", "show", "nope", "--api", &api, "--data", data,
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("404"));
}

/// What `nbmodem ARGS…` writes to standard output when it is a terminal (a pseudo-terminal's),
/// with the terminal's line ends made plain again.
fn on_a_terminal(args: &[&str]) -> String {
    use std::io::Read;
    let pty = nix::pty::openpty(None, None).unwrap();
    let status = std::process::Command::new(crate::binary::nbmodem())
        .args(args)
        .stdout(std::process::Stdio::from(pty.slave))
        .status()
        .unwrap();
    assert!(status.success(), "{args:?}");
    let mut master = std::fs::File::from(pty.master);
    let mut shown = Vec::new();
    let mut buffer = [0; 4096];
    // Once the terminal's other side is closed and drained, reading fails (EIO on Linux).
    while let Ok(n @ 1..) = master.read(&mut buffer) {
        shown.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8(shown).unwrap().replace("\r\n", "\n")
}
