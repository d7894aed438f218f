//! JavaScript plug-ins: the water meter sample in the Huawei convention, what is refused at
//! upload, and the sandbox's bounds — each runaway or reaching script ends in a clear error of
//! its kind (no timings are asserted).

mod common;

use nbmodem_codec::{
    Codec, CodecError, DecodedUplink, ProductModel, ScriptFailure, ScriptLimits, ScriptPlugin,
};
use serde_json::json;

use common::{valve_command, water_meter, WATER_METER_PLUGIN};

fn meter_plugin() -> ScriptPlugin {
    ScriptPlugin::load(WATER_METER_PLUGIN, water_meter()).unwrap()
}

fn kind(result: Result<impl std::fmt::Debug, CodecError>) -> ScriptFailure {
    match result {
        Err(CodecError::Script { kind, .. }) => kind,
        other => panic!("expected a plug-in failure, got {other:?}"),
    }
}

/// A plug-in whose `decode` runs `body`; its `encode` is harmless.
fn with_decode(body: &str) -> String {
    format!("function decode(bytes) {{ {body} }}\nfunction encode(m) {{ return []; }}")
}

fn decode_failure(body: &str) -> (ScriptFailure, String) {
    let plugin = ScriptPlugin::load(&with_decode(body), water_meter()).unwrap();
    match plugin.decode_uplink(&[1], &[]) {
        Err(CodecError::Script { kind, reason }) => (kind, reason),
        other => panic!("{body}: expected a plug-in failure, got {other:?}"),
    }
}

#[test]
fn water_meter_plugin_decodes_a_reading() {
    let codec = Codec::Script(meter_plugin());
    let report = [0x01, 0x00, 0x01, 0xE2, 0x40, 87, 1]; // 123,456 litres
    let decoded = codec.decode_uplink(&report, &[]).unwrap();
    let DecodedUplink::Report { has_more, services } = decoded else {
        panic!("{decoded:?}")
    };
    assert!(!has_more);
    assert_eq!(services[0].service_id, "Meter");
    assert_eq!(
        services[0].data,
        json!({"reading": 123.456, "batteryLevel": 87, "valveState": "OPEN"})
    );
}

#[test]
fn water_meter_plugin_encodes_a_valve_command_and_decodes_its_response() {
    let codec = Codec::Script(meter_plugin());
    let command = valve_command("OPEN", 0x0102);
    assert_eq!(
        codec.encode_command(&command).unwrap(),
        [0xA1, 0x01, 0x02, 1]
    );
    let response = codec
        .decode_response(&[0x02, 0x01, 0x02, 0], std::slice::from_ref(&command))
        .unwrap();
    assert_eq!((response.id, response.errcode), (0x0102, Some(0)));
    assert_eq!(
        (response.service_id.as_str(), response.command.as_str()),
        ("Valve", "SET_VALVE")
    );
    assert_eq!(response.result, json!({"result": 0}));
    assert_eq!(
        codec.decode_response(&[0x02, 0x00, 0x09, 0], &[command]),
        Err(CodecError::UnmatchedResponse(9))
    );
}

#[test]
fn water_meter_plugin_acknowledges() {
    assert_eq!(
        meter_plugin()
            .encode_acknowledgement(&[1, 2], 0, false)
            .unwrap(),
        [0xAA, 0]
    );
}

#[test]
fn decoded_values_and_commands_are_checked_against_the_model() {
    let codec = Codec::Script(meter_plugin());
    let flat_battery = [0x01, 0, 0, 0, 1, 101, 0];
    let error = codec.decode_uplink(&flat_battery, &[]).unwrap_err();
    assert!(
        matches!(&error, CodecError::Value { field, .. } if field == "batteryLevel"),
        "{error:?}"
    );
    let error = codec.encode_command(&valve_command("AJAR", 1)).unwrap_err();
    assert!(
        matches!(&error, CodecError::Value { field, .. } if field == "state"),
        "{error:?}"
    );
    assert_eq!(
        kind(codec.decode_uplink(&[0x07], &[])),
        ScriptFailure::Thrown
    );
}

#[test]
fn bad_scripts_are_refused_at_upload_with_the_reason() {
    let cases = [
        ("function decode(bytes) {", "SyntaxError"),
        ("function decode(b) { return {}; }", "no function encode"),
        (
            "var decode = 1; function encode(m) { return []; }",
            "no function decode",
        ),
        (
            "import fs from 'fs'; function decode(b) {} function encode(m) {}",
            "SyntaxError",
        ),
        ("throw new Error('broken at load');", "broken at load"),
        (
            "var r = /a+/; function decode(b) {} function encode(m) {}",
            "RegExp",
        ),
    ];
    for (source, expected) in cases {
        let error = ScriptPlugin::load(source, ProductModel::default()).unwrap_err();
        let CodecError::Script { kind, reason } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(*kind, ScriptFailure::Invalid, "{source}: {reason}");
        assert!(reason.contains(expected), "{source}: {reason}");
    }
    let limits = ScriptLimits {
        source_bytes: 10,
        ..ScriptLimits::default()
    };
    let error = ScriptPlugin::load_with_limits(WATER_METER_PLUGIN, water_meter(), limits);
    assert_eq!(kind(error), ScriptFailure::Invalid);
}

#[test]
fn a_runaway_load_is_stopped() {
    let endless = "while (true) {} function decode(b) {} function encode(m) {}";
    assert_eq!(
        kind(ScriptPlugin::load(endless, ProductModel::default())),
        ScriptFailure::OutOfWork
    );
}

#[test]
fn an_endless_loop_runs_out_of_work() {
    assert_eq!(decode_failure("for (;;) {}").0, ScriptFailure::OutOfWork);
    // The interruption cannot be caught by the script.
    let caught = "for (;;) { try { for (;;) {} } catch (e) {} }";
    assert_eq!(decode_failure(caught).0, ScriptFailure::OutOfWork);
}

#[test]
fn built_in_functions_charge_for_the_elements_they_go_over() {
    // Lengths far beyond memory: each of these would run for minutes uncharged.
    let sparse = [
        "var a = []; a.length = 4e9; return a.lastIndexOf(1);",
        "return Array.prototype.indexOf.call({length: 4e9}, 1);",
        "var a = []; a.length = 4e9; return [].concat(a);",
        "var a = []; a.length = 4e9; return a.join('');",
    ];
    for body in sparse {
        let (kind, reason) = decode_failure(body);
        assert_eq!(kind, ScriptFailure::OutOfWork, "{body}: {reason}");
    }
    // Short calls on a long string, many times.
    let (kind, reason) =
        decode_failure("var s = 'x'.repeat(1 << 20); for (;;) { s.indexOf('y'); }");
    assert_eq!(kind, ScriptFailure::OutOfWork, "{reason}");
    // Catching the refusal does not save the call.
    let caught = "var a = []; a.length = 4e9; try { a.indexOf(1); } catch (e) {} return 1;";
    assert_eq!(decode_failure(caught).0, ScriptFailure::OutOfWork);
    // Walks of nested arrays that nothing would charge are gone.
    let (kind, reason) = decode_failure("var a = []; a.length = 4e9; return [a].flat();");
    assert_eq!(kind, ScriptFailure::Thrown, "{reason}");
}

#[test]
fn a_huge_allocation_runs_out_of_memory() {
    let (kind, reason) =
        decode_failure("var a = []; for (;;) { a.push('x'.repeat(1 << 20) + a.length); }");
    assert_eq!(kind, ScriptFailure::OutOfMemory, "{reason}");
    let (kind, reason) = decode_failure("return new Uint8Array(1 << 30);");
    assert_eq!(kind, ScriptFailure::OutOfMemory, "{reason}");
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let (kind, reason) =
        decode_failure("function down(n) { return down(n + 1) + 1; } return down(0);");
    assert_eq!(kind, ScriptFailure::StackOverflow, "{reason}");
}

#[test]
fn a_thrown_error_is_reported_with_its_message() {
    let (kind, reason) = decode_failure("throw new TypeError('no such message');");
    assert_eq!(kind, ScriptFailure::Thrown);
    assert!(reason.contains("TypeError: no such message"), "{reason}");
    let (kind, reason) = decode_failure("throw 42;");
    assert_eq!(kind, ScriptFailure::Thrown);
    assert!(reason.contains("42"), "{reason}");
}

#[test]
fn files_network_modules_and_the_clock_are_out_of_reach() {
    let reaching = [
        "return require('fs').readFileSync('/etc/passwd');",
        "return fetch('http://127.0.0.1/');",
        "return std.open('/etc/passwd', 'r');",
        "return os.exec(['true']);",
        "return new XMLHttpRequest();",
        "return Date.now();",
        "return Math.random();",
        "return performance.now();",
        "setTimeout(function () {}, 0); return {};",
        "return Atomics.wait(new Int32Array(4), 0, 0);",
    ];
    for body in reaching {
        let (kind, reason) = decode_failure(body);
        assert_eq!(kind, ScriptFailure::Thrown, "{body}: {reason}");
    }
    // A dynamic import gives a promise (rejected: there is no module loader), never a module.
    let (kind, reason) = decode_failure("return import('fs');");
    assert_eq!(kind, ScriptFailure::BadResult, "{reason}");
}

#[test]
fn results_outside_the_convention_are_bad_results() {
    let decodes = [
        "return 5;",
        "return {msgType: 'other'};",
        "return {msgType: 'deviceReq', data: []};",
        "return {msgType: 'deviceReq', hasMore: 2, data: [{serviceId: 'Meter', serviceData: {reading: 1, batteryLevel: 1, valveState: 'OPEN'}}]};",
        "return {msgType: 'deviceRsp'};",
        "return 'not json';",
    ];
    for body in decodes {
        let (kind, reason) = decode_failure(body);
        assert_eq!(kind, ScriptFailure::BadResult, "{body}: {reason}");
    }
    for result in ["[256]", "'AB'", "[1.5]", "{}"] {
        let source = format!("function decode(b) {{}} function encode(m) {{ return {result}; }}");
        let plugin = ScriptPlugin::load(&source, water_meter()).unwrap();
        let error = plugin.encode_command(&valve_command("OPEN", 1));
        assert_eq!(kind(error), ScriptFailure::BadResult, "{result}");
    }
}

#[test]
fn a_json_string_result_is_read_like_the_java_plugins_and_signed_bytes_are_accepted() {
    let source = r#"
        function decode(b) {
            return JSON.stringify({msgType: "deviceReq", hasMore: 1, data: [{serviceId: "Meter",
                serviceData: {reading: 0, batteryLevel: b[0], valveState: "CLOSED"},
                eventTime: "20261207T061300Z"}]});
        }
        function encode(m) { return [-1, -128, 127]; }"#;
    let plugin = ScriptPlugin::load(source, water_meter()).unwrap();
    let DecodedUplink::Report { has_more, services } = plugin.decode_uplink(&[42], &[]).unwrap()
    else {
        panic!()
    };
    assert!(has_more);
    assert_eq!(services[0].data["batteryLevel"], 42);
    assert_eq!(services[0].event_time.as_deref(), Some("20261207T061300Z"));
    assert_eq!(
        plugin.encode_command(&valve_command("OPEN", 1)).unwrap(),
        [255, 128, 127]
    );
}

#[test]
fn calls_do_not_share_state() {
    let source = "var calls = 0; function decode(b) { calls++; throw new Error('call ' + calls); }
                  function encode(m) { return []; }";
    let plugin = ScriptPlugin::load(source, water_meter()).unwrap();
    for _ in 0..2 {
        let error = plugin.decode_uplink(&[1], &[]).unwrap_err().to_string();
        assert!(error.contains("call 1"), "{error}");
    }
}
