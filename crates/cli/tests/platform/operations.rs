//! Operations on a device's object tree through the HTTP API of a running `nbmodem platform`:
//! queued for the device's next contact, bad ones refused, the token required. (The device's
//! answers are in crates/scenario/tests/ctiot_operations.rs, with a module in virtual time.)

use crate::api::{assert_error, ok};
use crate::binary::Platform;
use nbmodem_cli::platform::client::Client;
use serde_json::json;

const IMEI: &str = "865975030000001";

#[test]
fn operations_are_queued_checked_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path(), &[]);
    let token = std::fs::read_to_string(dir.path().join("control.token")).unwrap();
    let client = Client::new(platform.api, Some(token.trim().to_string()));
    ok(
        client
            .post("/api/iot/devices", &json!({"imei": IMEI}))
            .unwrap(),
        201,
    );
    let path = format!("/api/iot/devices/{IMEI}/operations");

    let read = json!({"kind": "read", "path": "/3/0/0"});
    let queued = ok(client.post(&path, &read).unwrap(), 202);
    assert_eq!(
        (queued["status"].as_str(), queued["kind"].as_str()),
        (Some("queued"), Some("read"))
    );
    for (bad, status) in [
        (json!({"kind": "write", "path": "/1/0/1"}), 400),
        (json!({"kind": "read", "path": "three"}), 400),
        (json!({"kind": "delete", "path": "/3/0"}), 422),
    ] {
        assert_error(&client.post(&path, &bad).unwrap(), status, &bad.to_string());
    }
    let listed = ok(client.get(&path).unwrap(), 200);
    assert_eq!(listed["operations"].as_array().unwrap().len(), 1);
    let objects = ok(
        client
            .get(&format!("/api/iot/devices/{IMEI}/objects"))
            .unwrap(),
        200,
    );
    assert_eq!(
        objects["objects"],
        serde_json::Value::Null,
        "not registered"
    );

    let elsewhere = client.post("/api/iot/devices/865975030000019/operations", &read);
    assert_error(&elsewhere.unwrap(), 404, "an unknown device");
    let stranger = Client::new(platform.api, None);
    assert_error(&stranger.post(&path, &read).unwrap(), 401, "no token");
}
