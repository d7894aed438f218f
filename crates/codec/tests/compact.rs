//! The compact binary codec: the layout of each message, round trips of every data type at
//! its bounds, refusals just outside them, and malformed messages.

mod common;

use nbmodem_codec::model::datetime_text;
use nbmodem_codec::{Codec, CodecError, Command, CommandResponse, CompactCodec, DecodedUplink};
use proptest::prelude::*;
use serde_json::{json, Value};

use common::{model_with, valve_command, water_meter};

fn all_types() -> Value {
    json!([
        {"propertyName": "i", "dataType": "int", "min": -1000, "max": 1000},
        {"propertyName": "iw", "dataType": "int"},
        {"propertyName": "l", "dataType": "long"},
        {"propertyName": "d", "dataType": "decimal", "min": -1000000, "max": "1000000"},
        {"propertyName": "s", "dataType": "string", "maxLength": 8},
        {"propertyName": "v", "dataType": "varstring", "maxLength": 300},
        {"propertyName": "t", "dataType": "DateTime"},
        {"propertyName": "j", "dataType": "jsonObject", "maxLength": 100},
        {"propertyName": "b", "dataType": "boolean"},
        {"propertyName": "x", "dataType": "binary", "maxLength": 300}
    ])
}

fn codec() -> CompactCodec {
    CompactCodec::new(model_with(all_types())).unwrap()
}

fn at_min() -> Value {
    json!({"i": -1000, "iw": i32::MIN, "l": i64::MIN, "d": -1000000.0, "s": "",
           "v": "", "t": "00000101T000000Z", "j": {}, "b": false, "x": ""})
}

fn at_max() -> Value {
    json!({"i": 1000, "iw": i32::MAX, "l": i64::MAX, "d": 1000000.0, "s": "ééé12",
           "v": "v".repeat(300), "t": "99991231T235959Z", "j": {"k": "j".repeat(92)},
           "b": true, "x": "AB".repeat(300)})
}

fn report_data(codec: &CompactCodec, bytes: &[u8]) -> Result<Value, CodecError> {
    match codec.decode_uplink(bytes, &[])? {
        DecodedUplink::Report { has_more, services } => {
            assert!(!has_more);
            assert_eq!(services.len(), 1);
            assert_eq!(services[0].service_id, "S");
            Ok(services[0].data.clone())
        }
        other => panic!("expected a report, got {other:?}"),
    }
}

fn value_strategy() -> impl Strategy<Value = Value> {
    (
        (-1000i64..=1000, any::<i32>(), any::<i64>(), -1e6f64..=1e6),
        (
            "[a-z0-9é]{0,4}",
            "\\PC{0,60}",
            // Seconds from 0000-01-01 to 9999-12-31 23:59:59.
            -62_167_219_200i64..=253_402_300_799,
        ),
        (
            "[ -~]{0,80}",
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..=300),
        ),
    )
        .prop_map(|((i, iw, l, d), (s, v, t), (j, b, x))| {
            json!({"i": i, "iw": iw, "l": l, "d": d, "s": s, "v": v,
                   "t": datetime_text(t * 1000).unwrap(), "j": {"k": j}, "b": b,
                   "x": x.iter().map(|b| format!("{b:02X}")).collect::<String>()})
        })
}

proptest! {
    #[test]
    fn reports_round_trip(data in value_strategy()) {
        let codec = codec();
        let bytes = codec.encode_report("S", &data).unwrap();
        prop_assert_eq!(report_data(&codec, &bytes).unwrap(), data);
    }

    #[test]
    fn commands_and_responses_round_trip(data in value_strategy(), id in any::<u16>()) {
        let codec = codec();
        let command = Command { service_id: "S".into(), command: "C".into(), params: data.clone(), id };
        let bytes = codec.encode_command(&command).unwrap();
        prop_assert_eq!(&bytes[..5], &[0x06, 0, 2, (id >> 8) as u8, id as u8][..]);
        let response = CommandResponse {
            id, service_id: "S".into(), command: "C".into(), errcode: None, result: data,
        };
        let answer = codec.encode_response(&response).unwrap();
        prop_assert_eq!(answer[0], 0x86);
        prop_assert_eq!(&answer[5..], &bytes[5..]);
        let decoded = Codec::Compact(codec).decode_response(&answer, &[command]).unwrap();
        prop_assert_eq!(decoded, response);
    }

    #[test]
    fn numbers_outside_their_range_are_refused(
        n in prop_oneof![i64::MIN..-1000, 1001..=i64::MAX],
        d in prop_oneof![-1e300f64..-1e6, 1.0000001e6f64..1e300],
    ) {
        let codec = codec();
        for (name, value) in [("i", json!(n)), ("d", json!(d))] {
            let mut data = at_min();
            data[name] = value;
            let refused = codec.encode_report("S", &data).unwrap_err();
            let refused_field = matches!(&refused, CodecError::Value { field, .. } if field == name);
            prop_assert!(refused_field, "{:?}", refused);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = codec().decode_uplink(&bytes, &[]);
    }
}

#[test]
fn every_type_round_trips_at_its_bounds() {
    let codec = codec();
    for data in [at_min(), at_max()] {
        let bytes = codec.encode_report("S", &data).unwrap();
        assert_eq!(report_data(&codec, &bytes).unwrap(), data);
    }
}

#[test]
fn values_just_outside_the_bounds_are_refused_both_ways() {
    // A wider model writes the bytes the narrow one must refuse to read.
    let wide = CompactCodec::new(model_with(json!([
        {"propertyName": "i", "dataType": "int"},
        {"propertyName": "d", "dataType": "decimal"},
        {"propertyName": "v", "dataType": "varstring"},
        {"propertyName": "x", "dataType": "binary"}
    ])))
    .unwrap();
    let narrow = CompactCodec::new(model_with(json!([
        {"propertyName": "i", "dataType": "int", "min": -1000, "max": 1000},
        {"propertyName": "d", "dataType": "decimal", "min": -1, "max": 1},
        {"propertyName": "v", "dataType": "varstring", "maxLength": 3},
        {"propertyName": "x", "dataType": "binary", "maxLength": 2}
    ])))
    .unwrap();
    let inside = json!({"i": 1000, "d": -1.0, "v": "abc", "x": "0102"});
    let outside = [
        ("i", json!(1001)),
        ("i", json!(-1001)),
        ("d", json!(1.0000001)),
        ("d", json!(-1.5)),
        ("v", json!("abcd")),
        ("x", json!("010203")),
    ];
    for (name, value) in outside {
        let mut data = inside.clone();
        data[name] = value;
        let refused = narrow.encode_report("S", &data).unwrap_err();
        assert!(
            matches!(&refused, CodecError::Value { field, .. } if field == name),
            "{refused:?}"
        );
        let bytes = wide.encode_report("S", &data).unwrap();
        let refused = narrow.decode_uplink(&bytes, &[]).unwrap_err();
        assert!(
            matches!(&refused, CodecError::Value { field, .. } if field == name),
            "{refused:?}"
        );
    }
    // Beyond what the encoding can carry.
    let codec = codec();
    for (name, value) in [
        ("iw", json!(i64::from(i32::MAX) + 1)),
        ("l", json!(u64::MAX)),
        ("s", json!("123456789")),
        ("s", json!("a\u{0}")),
        ("j", json!({"k": "j".repeat(93)})),
        ("v", json!("v".repeat(301))),
        ("x", json!("AB".repeat(301))),
        ("i", json!(-1001)),
        ("d", json!(1000000.5)),
    ] {
        let mut data = at_min();
        data[name] = value;
        let refused = codec.encode_report("S", &data).unwrap_err();
        assert!(
            matches!(&refused, CodecError::Value { field, .. } if field == name),
            "{refused:?}"
        );
    }
}

#[test]
fn water_meter_messages_have_the_documented_layout() {
    let codec = CompactCodec::new(water_meter()).unwrap();
    let data = json!({"reading": 12.5, "batteryLevel": 87, "valveState": "OPEN"});
    let bytes = codec.encode_report("Meter", &data).unwrap();
    let mut expected = vec![0x02, 0x00, 0x01, 0x00, 8 + 4 + 6];
    expected.extend(12.5f64.to_be_bytes());
    expected.extend([0, 0, 0, 87]);
    expected.extend(b"OPEN\0\0");
    assert_eq!(bytes, expected);

    let command = valve_command("CLOSED", 0x1234);
    let bytes = codec.encode_command(&command).unwrap();
    assert_eq!(
        bytes,
        [&[0x06, 0x00, 0x02, 0x12, 0x34, 0x00, 0x06][..], b"CLOSED"].concat()
    );

    let answer = [0x86, 0x00, 0x02, 0x12, 0x34, 0x00, 0x04, 0, 0, 0, 1];
    let response = codec
        .decode_uplink(&answer, std::slice::from_ref(&command))
        .unwrap();
    let DecodedUplink::Response(response) = response else {
        panic!()
    };
    assert_eq!(
        (response.id, response.result),
        (0x1234, json!({"result": 1}))
    );
    assert_eq!(response.service_id, "Valve");
}

#[test]
fn responses_must_answer_a_pending_command() {
    let codec = CompactCodec::new(water_meter()).unwrap();
    let answer = [0x86, 0x00, 0x02, 0x12, 0x34, 0x00, 0x04, 0, 0, 0, 1];
    assert_eq!(
        codec.decode_uplink(&answer, &[valve_command("OPEN", 7)]),
        Err(CodecError::UnmatchedResponse(0x1234))
    );
    let mut other = valve_command("OPEN", 0x1234);
    other.service_id = "Meter".into();
    assert!(matches!(
        codec.decode_uplink(&answer, &[other]),
        Err(CodecError::Malformed(_))
    ));
}

#[test]
fn malformed_messages_are_refused() {
    let codec = CompactCodec::new(water_meter()).unwrap();
    let data = json!({"reading": 1.0, "batteryLevel": 1, "valveState": "CLOSED"});
    let bytes = codec.encode_report("Meter", &data).unwrap();
    for end in 0..bytes.len() {
        let error = codec.decode_uplink(&bytes[..end], &[]).unwrap_err();
        assert!(
            matches!(error, CodecError::Malformed(_)),
            "{end}: {error:?}"
        );
    }
    let longer = [&bytes[..], &[0]].concat();
    assert!(matches!(
        codec.decode_uplink(&longer, &[]),
        Err(CodecError::Malformed(_))
    ));
    let cases: [(&[u8], &str); 5] = [
        (&[0x05, 0, 1, 0, 0], "message type 0x05"),
        (&[0x02, 0, 9, 0, 0], "no service or command has number 9"),
        (&[0x02, 0, 2, 0, 0], "does not go with number 2"),
        (&[0x86, 0, 1, 0, 0, 0, 0], "does not go with number 1"),
        (
            &[0x02, 0, 1, 0, 3, 1, 2],
            "the length says 3 bytes of fields, 2 follow",
        ),
    ];
    for (bytes, expected) in cases {
        let error = codec.decode_uplink(bytes, &[]).unwrap_err().to_string();
        assert!(error.contains(expected), "{error}");
    }
    // Field contents: a boolean that is not 0 or 1, text that is not UTF-8, NaN, bad padding.
    let flags = CompactCodec::new(model_with(json!([
        {"propertyName": "b", "dataType": "boolean"},
        {"propertyName": "s", "dataType": "string", "maxLength": 2},
        {"propertyName": "d", "dataType": "decimal"}
    ])))
    .unwrap();
    let nan = f64::NAN.to_be_bytes();
    let cases: [(Vec<u8>, &str); 4] = [
        (
            [&[2u8, b'a', b'b'][..], &1f64.to_be_bytes()].concat(),
            "0x02 is not 0 or 1",
        ),
        (
            [&[1u8, 0xFF, b'b'][..], &1f64.to_be_bytes()].concat(),
            "not UTF-8",
        ),
        (
            [&[1u8, 0, b'b'][..], &1f64.to_be_bytes()].concat(),
            "after the NUL padding",
        ),
        ([&[1u8, b'a', 0][..], &nan[..]].concat(), "not finite"),
    ];
    for (fields, expected) in cases {
        let message = [&[0x02, 0, 1, 0, fields.len() as u8][..], &fields].concat();
        let error = flags.decode_uplink(&message, &[]).unwrap_err().to_string();
        assert!(error.contains(expected), "{error}");
    }
}

#[test]
fn compact_models_need_distinct_numbers() {
    let mut profile = common::profile_with(json!([{"propertyName": "a", "dataType": "int"}]));
    profile["services"][0]["commands"][0]["compactId"] = json!(1);
    let model = nbmodem_codec::ProductModel::from_profile(&profile).unwrap();
    let error = CompactCodec::new(model).unwrap_err().to_string();
    assert!(error.contains("S.C and S share compactId 1"), "{error}");
    profile["services"][0]["commands"][0]
        .as_object_mut()
        .unwrap()
        .remove("compactId");
    let model = nbmodem_codec::ProductModel::from_profile(&profile).unwrap();
    let error = CompactCodec::new(model).unwrap_err().to_string();
    assert!(error.contains("S.C needs a compactId"), "{error}");
}

#[test]
fn absent_fields_cannot_be_sent() {
    let codec = CompactCodec::new(water_meter()).unwrap();
    let error = codec
        .encode_report("Meter", &json!({"reading": 1.0, "batteryLevel": 1}))
        .unwrap_err();
    assert!(error.to_string().contains("valveState"), "{error}");
}
