//! Products' codecs, commands and online debugging through the HTTP API of a running
//! `nbmodem platform` (docs/api.md "Codecs and commands"): the token, bad input (a codec that is
//! not JavaScript, a Profile with a type no platform knows, a command the device's product does
//! not take, an unknown product), and the happy paths with the water meter's JavaScript plug-in
//! and its compact binary codec.

use crate::api::{assert_error, ok};
use crate::binary::{run, Platform};
use nbmodem_cli::platform::client::{Answer, Client};
use serde_json::{json, Value};

const IMEI: &str = "865975030000001";
const PROFILE: &str = include_str!("../../../codec/tests/fixtures/water_meter_profile.json");
const PLUGIN: &str = include_str!("../../../codec/tests/fixtures/water_meter_plugin.js");

/// `PUT path` with `body`.
fn put(client: &Client, path: &str, body: &Value) -> Answer {
    let body = body.to_string();
    client.send("PUT", path, Some(body.as_bytes())).unwrap()
}

fn profile() -> Value {
    serde_json::from_str(PROFILE).unwrap()
}

/// A running platform with the water meter product (its plug-in as codec) and a device of it.
fn meter_platform() -> (Platform, Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path(), &[]);
    let token = std::fs::read_to_string(dir.path().join("control.token")).unwrap();
    let client = Client::new(platform.api, Some(token.trim().to_string()));
    let product = json!({"id": "meter", "profile": profile(),
                         "codec": {"kind": "script", "script": PLUGIN}});
    let answer = put(&client, "/api/iot/products/meter/codec", &product["codec"]);
    assert_eq!(answer.status, 400, "no such product yet");
    ok(client.post("/api/iot/products", &product).unwrap(), 201);
    let device = json!({"imei": IMEI, "product": "meter"});
    ok(client.post("/api/iot/devices", &device).unwrap(), 201);
    (platform, client, dir)
}

#[test]
fn the_codec_routes_take_the_token() {
    let (platform, _client, _dir) = meter_platform();
    let stranger = Client::new(platform.api, None);
    let routes = [
        (
            "PUT",
            "/api/iot/products/meter/codec",
            r#"{"kind":"compact"}"#,
        ),
        ("POST", "/api/iot/devices/865975030000001/commands", "{}"),
        (
            "POST",
            "/api/iot/products/meter/debug/uplink",
            r#"{"hex":"00"}"#,
        ),
        ("POST", "/api/iot/products/meter/debug/command", "{}"),
    ];
    for (method, path, body) in routes {
        let answer = stranger.send(method, path, Some(body.as_bytes())).unwrap();
        assert_error(&answer, 401, path);
    }
}

#[test]
fn online_debugging_runs_the_plug_in_on_hex_and_on_a_command() {
    let (_platform, client, _dir) = meter_platform();
    let debug = |body: Value| {
        ok(
            client
                .post("/api/iot/products/meter/debug/uplink", &body)
                .unwrap(),
            200,
        )
    };
    // 01 | 12 345 litres | 87 % | open.
    let decoded = debug(json!({"hex": "010000303957" }));
    let error = "codec plug-in: threw: decode: Error: unknown message 1";
    assert_eq!(decoded["error"], error, "a reading is 7 bytes");
    let decoded = debug(json!({"hex": "01000030395701"}));
    assert_eq!(decoded["hex"], "01000030395701");
    let want = json!({"reading": 12.345, "batteryLevel": 87, "valveState": "OPEN"});
    assert_eq!(decoded["decoded"]["services"][0]["data"], want);

    let command = json!({"service": "Valve", "command": "SET_VALVE", "params": {"state": "OPEN"}});
    let encoded = client
        .post("/api/iot/products/meter/debug/command", &command)
        .unwrap();
    assert_eq!(ok(encoded, 200), json!({"hex": "A1000101", "mid": 1}));
}

#[test]
fn a_compact_codec_encodes_typed_properties_for_online_debugging() {
    let (_platform, client, _dir) = meter_platform();
    let compact = put(
        &client,
        "/api/iot/products/meter/codec",
        &json!({"kind": "compact"}),
    );
    let product = ok(compact, 200);
    assert_eq!(product["codec"], json!({"kind": "compact"}));
    assert_eq!(product["profile"], profile(), "the profile is kept");
    let properties = json!({"reading": 12.5, "batteryLevel": 87, "valveState": "OPEN"});
    let body = json!({"service": "Meter", "properties": properties});
    let answer = client
        .post("/api/iot/products/meter/debug/uplink", &body)
        .unwrap();
    let answer = ok(answer, 200);
    let want = concat!(
        "02",
        "0001",
        "0012",
        "4029000000000000",
        "00000057",
        "4F50454E0000"
    );
    assert_eq!(answer["hex"], want);
    assert_eq!(answer["decoded"]["services"][0]["data"], properties);
}

#[test]
fn a_command_is_queued_encoded_with_its_message_id() {
    let (_platform, client, _dir) = meter_platform();
    let command =
        json!({"service": "Valve", "command": "SET_VALVE", "params": {"state": "CLOSED"}});
    let path = format!("/api/iot/devices/{IMEI}/commands");
    let queued = ok(client.post(&path, &command).unwrap(), 202);
    assert_eq!(queued["status"], "queued");
    let mid = queued["command"]["mid"].as_u64().unwrap();
    assert_eq!(queued["data"], format!("A1{mid:04X}00"));
    let listed = client
        .get(&format!("/api/iot/devices/{IMEI}/downlinks"))
        .unwrap();
    assert_eq!(
        ok(listed, 200)["downlinks"][0]["command"]["command"],
        "SET_VALVE"
    );
}

#[test]
fn bad_codecs_and_commands_are_refused_and_change_nothing() {
    let (_platform, client, _dir) = meter_platform();
    let before = ok(client.get("/api/iot/products").unwrap(), 200);
    let refused = [
        (
            json!({"kind": "script", "script": "this is not ( JavaScript"}),
            400,
        ),
        (
            json!({"kind": "script", "script": "function decode(b) { return {}; }"}),
            400,
        ),
        (json!({"kind": "compiled"}), 422),
    ];
    for (codec, status) in refused {
        let answer = put(&client, "/api/iot/products/meter/codec", &codec);
        assert_error(&answer, status, &codec.to_string());
    }
    let mut unknown_type = profile();
    unknown_type["services"][0]["properties"][0]["dataType"] = json!("quaternion");
    let product = json!({"id": "other", "profile": unknown_type, "codec": {"kind": "compact"}});
    let answer = client.post("/api/iot/products", &product).unwrap();
    assert_error(&answer, 400, "a type no platform knows");
    assert_eq!(ok(client.get("/api/iot/products").unwrap(), 200), before);

    let path = format!("/api/iot/devices/{IMEI}/commands");
    let commands = [
        json!({"service": "Heater", "command": "ON", "params": {}}),
        json!({"service": "Valve", "command": "SET_VALVE", "params": {"state": "AJAR"}}),
        json!({"service": "Valve"}),
    ];
    for command in commands {
        let answer = client.post(&path, &command).unwrap();
        assert!(
            answer.status == 400 || answer.status == 422,
            "{command}: {}",
            answer.body
        );
    }
    let listed = client
        .get(&format!("/api/iot/devices/{IMEI}/downlinks"))
        .unwrap();
    assert_eq!(ok(listed, 200)["downlinks"], json!([]));
    let unknown = client.post(
        "/api/iot/products/nothing/debug/uplink",
        &json!({"hex": "00"}),
    );
    assert_error(&unknown.unwrap(), 404, "an unknown product");
    let both = json!({"hex": "00", "service": "Meter", "properties": {}});
    let answer = client
        .post("/api/iot/products/meter/debug/uplink", &both)
        .unwrap();
    assert_error(&answer, 400, "hex and properties");
}

#[test]
fn the_codec_subcommands_are_clients_of_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path(), &[]);
    let (api, data) = (platform.api.to_string(), dir.path().to_str().unwrap());
    let nbmodem = |words: &[&str]| {
        let mut args = vec!["platform", "iot"];
        args.extend(words);
        args.extend(["--api", &api, "--data", data]);
        let output = run(&args);
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(output.status.success(), "{words:?}: {stderr}");
        serde_json::from_str::<Value>(stdout.trim()).unwrap()
    };
    let (profile_file, plugin_file) = (dir.path().join("p.json"), dir.path().join("c.js"));
    std::fs::write(&profile_file, PROFILE).unwrap();
    std::fs::write(&plugin_file, PLUGIN).unwrap();
    let (profile_file, plugin_file) = (
        profile_file.to_str().unwrap(),
        plugin_file.to_str().unwrap(),
    );
    let added = nbmodem(&[
        "product",
        "add",
        "meter",
        profile_file,
        "--script",
        plugin_file,
    ]);
    assert_eq!(added["codec"]["kind"], "script");
    let decoded = nbmodem(&["debug", "uplink", "meter", "01000030395701"]);
    assert_eq!(
        decoded["decoded"]["services"][0]["data"]["batteryLevel"],
        87
    );
    let encoded = nbmodem(&[
        "debug",
        "command",
        "meter",
        "Valve",
        "SET_VALVE",
        r#"{"state":"OPEN"}"#,
    ]);
    assert_eq!(encoded["hex"], "A1000101");

    let compact = nbmodem(&["product", "codec", "meter", "--compact"]);
    assert_eq!(compact["codec"], json!({"kind": "compact"}));
    let properties = r#"{"reading":1,"batteryLevel":2,"valveState":"CLOSED"}"#;
    let typed = [
        "debug",
        "uplink",
        "meter",
        "--service",
        "Meter",
        "--properties",
        properties,
    ];
    assert_eq!(
        nbmodem(&typed)["decoded"]["services"][0]["data"]["valveState"],
        "CLOSED"
    );

    nbmodem(&["device", "add", IMEI, "--product", "meter"]);
    let command = [
        "command",
        IMEI,
        "Valve",
        "SET_VALVE",
        r#"{"state":"OPEN"}"#,
        "--wait",
        "200ms",
    ];
    let queued = nbmodem(&command);
    assert_eq!(
        (
            queued["status"].as_str(),
            queued["command"]["command"].as_str()
        ),
        (Some("queued"), Some("SET_VALVE"))
    );
}
