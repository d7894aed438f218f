//! docs/codecs.md's examples work as the page says: its model, its compact report and its
//! plug-in.

use nbmodem_codec::{Codec, CompactCodec, DecodedUplink, ProductModel, ScriptPlugin};
use serde_json::{json, Value};

const PAGE: &str = include_str!("../../../docs/codecs.md");

/// The first fenced block of a language on the page.
fn block(language: &str) -> &'static str {
    let start = PAGE.find(&format!("```{language}\n")).unwrap() + language.len() + 4;
    let length = PAGE[start..].find("```").unwrap();
    &PAGE[start..start + length]
}

fn model() -> ProductModel {
    let profile: Value = serde_json::from_str(block("json")).unwrap();
    ProductModel::from_profile(&profile).unwrap()
}

#[test]
fn the_compact_report_on_the_page() {
    let codec = CompactCodec::new(model()).unwrap();
    let bytes = codec
        .encode_report("Meter", &json!({"reading": 12.5, "valveState": "OPEN"}))
        .unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    let on_page = "02 0001 000E 4029000000000000 4F50454E0000";
    assert!(PAGE.contains(&format!("`{on_page}`")));
    assert_eq!(hex, on_page.replace(' ', ""));
}

#[test]
fn the_plugin_on_the_page() {
    let plugin = ScriptPlugin::load(block("js"), model()).unwrap();
    let codec = Codec::Script(plugin.clone());
    let DecodedUplink::Report { services, .. } = codec
        .decode_uplink(&[0x01, 0, 0, 0x30, 0x39, 1], &[])
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        services[0].data,
        json!({"reading": 12.345, "valveState": "OPEN"})
    );
    let command = nbmodem_codec::Command {
        service_id: "Meter".into(),
        command: "SET_VALVE".into(),
        params: json!({"state": "CLOSED"}),
        id: 0x0203,
    };
    assert_eq!(codec.encode_command(&command).unwrap(), [0xA1, 2, 3, 0]);
    let response = codec
        .decode_response(&[0x02, 2, 3, 0], std::slice::from_ref(&command))
        .unwrap();
    assert_eq!(response.result, json!({"result": 0}));
    assert_eq!(
        plugin.encode_acknowledgement(&[1], 0, false).unwrap(),
        [0xAA, 0]
    );
}
