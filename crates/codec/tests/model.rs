//! The product model: parsing a profile's services, refusing bad ones with the reason, and
//! checking values against fields.

mod common;

use nbmodem_codec::{CodecError, DataType, ProductModel};
use serde_json::{json, Value};

use common::{model_with, profile_with, water_meter};

fn refused(properties: Value) -> String {
    match ProductModel::from_profile(&profile_with(properties)) {
        Err(CodecError::Model(reason)) => reason,
        other => panic!("expected a model error, got {other:?}"),
    }
}

#[test]
fn water_meter_profile_gives_its_services_types_and_limits() {
    let model = water_meter();
    let ids: Vec<&str> = model.services.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["Meter", "Valve"]);
    let meter = &model.service("Meter").unwrap().definition;
    assert_eq!(meter.properties[0].data_type, DataType::Decimal);
    assert_eq!(meter.properties[0].unit.as_deref(), Some("m3"));
    assert_eq!(model.service("Valve").unwrap().option, "Optional");
    let command = model.command("Valve", "SET_VALVE").unwrap();
    assert_eq!(command.compact_id, Some(2));
    assert_eq!(command.response_paras()[0].name, "result");
}

#[test]
fn profile_without_services_is_an_empty_model() {
    let profile = json!({"devices": [{"manufacturerId": "Quectel", "model": "BC260Y"}]});
    assert!(ProductModel::from_profile(&profile)
        .unwrap()
        .services
        .is_empty());
}

#[test]
fn bad_models_are_refused_with_the_reason() {
    let cases = [
        (
            json!([{"propertyName": "a", "dataType": "float"}]),
            "unknown data type \"float\"",
        ),
        (
            json!([{"propertyName": "a", "dataType": "int", "min": 5, "max": 4}]),
            "min 5 is above max 4",
        ),
        (
            json!([{"propertyName": "a", "dataType": "int", "max": 3000000000u64}]),
            "within",
        ),
        (
            json!([{"propertyName": "a", "dataType": "decimal", "min": "x"}]),
            "\"x\" is not a number",
        ),
        (
            json!([{"propertyName": "a", "dataType": "int", "min": 1.5}]),
            "1.5 is not an integer",
        ),
        (
            json!([{"propertyName": "a", "dataType": "string"}]),
            "needs maxLength",
        ),
        (
            json!([{"propertyName": "a", "dataType": "varstring", "maxLength": 0}]),
            "maxLength 0",
        ),
        (
            json!([{"propertyName": "a", "dataType": "binary", "maxLength": 70000}]),
            "maxLength 70000",
        ),
        (
            json!([{"propertyName": "a", "dataType": "int"}, {"propertyName": "a", "dataType": "int"}]),
            "field a is defined twice",
        ),
        (json!([{"dataType": "int"}]), "propertyName or paraName"),
        (
            json!([{"propertyName": "a", "dataType": "int", "method": "RX"}]),
            "method \"RX\"",
        ),
        (
            json!([{"propertyName": "a", "dataType": "int", "max": 3, "enumList": [1, 7]}]),
            "enumList value 7",
        ),
        (
            json!([{"propertyName": "a", "dataType": "int", "step": -1}]),
            "step is negative",
        ),
    ];
    for (properties, expected) in cases {
        let reason = refused(properties.clone());
        assert!(reason.contains(expected), "{properties}: {reason}");
        assert!(reason.contains("service type T"), "{reason}");
    }
}

fn push(list: &mut Value, item: Value) {
    list.as_array_mut().unwrap().push(item);
}

#[test]
fn duplicate_and_undefined_services_are_refused() {
    let mut profile = profile_with(json!([]));
    push(
        &mut profile["devices"][0]["serviceTypeCapabilities"],
        json!({"serviceId": "S", "serviceType": "T"}),
    );
    let error = ProductModel::from_profile(&profile).unwrap_err();
    assert_eq!(error, CodecError::Model("service S is listed twice".into()));

    let mut profile = profile_with(json!([]));
    profile["devices"][0]["serviceTypeCapabilities"][0]["serviceType"] = json!("Nowhere");
    let error = ProductModel::from_profile(&profile)
        .unwrap_err()
        .to_string();
    assert!(error.contains("type Nowhere, which the profile's services do not define"));

    let mut profile = profile_with(json!([]));
    let again = profile["services"][0].clone();
    push(&mut profile["services"], again);
    let error = ProductModel::from_profile(&profile)
        .unwrap_err()
        .to_string();
    assert!(error.contains("service type T is defined twice"));

    let mut profile = profile_with(json!([]));
    let again = profile["services"][0]["commands"][0].clone();
    push(&mut profile["services"][0]["commands"], again);
    let error = ProductModel::from_profile(&profile)
        .unwrap_err()
        .to_string();
    assert!(error.contains("command C is defined twice"));

    let error = ProductModel::from_profile(&json!({"services": "no"})).unwrap_err();
    assert!(matches!(error, CodecError::Model(_)));
}

#[test]
fn values_are_checked_for_type_range_length_and_enumeration() {
    let model = model_with(json!([
        {"propertyName": "n", "dataType": "int", "min": "-5", "max": "5"},
        {"propertyName": "d", "dataType": "decimal", "min": 0.5, "max": 1.5},
        {"propertyName": "s", "dataType": "varstring", "maxLength": 3, "enumList": ["a", "bb"]},
        {"propertyName": "b", "dataType": "boolean"},
        {"propertyName": "t", "dataType": "DateTime"},
        {"propertyName": "j", "dataType": "jsonObject", "maxLength": 10},
        {"propertyName": "x", "dataType": "binary", "maxLength": 2},
        {"propertyName": "r", "dataType": "int", "required": true}
    ]));
    let good = json!({"n": -5, "d": 1.5, "s": "bb", "b": true, "t": "20240229T235959Z",
                      "j": {"k": 1}, "x": "0aFF", "r": 0});
    model.check_report("S", &good).unwrap();
    let bad = [
        ("n", json!(6), "6 is outside -5..=5"),
        ("n", json!(1.5), "not an integer"),
        ("n", json!("1"), "not an integer"),
        ("d", json!(0.4), "outside"),
        ("d", json!("1"), "not a number"),
        ("s", json!("c"), "is not one of"),
        ("s", json!(3), "not a string"),
        ("b", json!(1), "not true or false"),
        ("t", json!("20230229T000000Z"), "not a time"),
        ("t", json!("2024-02-29T00:00:00Z"), "not a time"),
        ("j", json!([1]), "not a JSON object"),
        ("j", json!({"key": 123}), "11 bytes is longer than 10"),
        ("x", json!("0a0b0c"), "3 bytes is longer than 2"),
        ("x", json!("0g"), "not hex"),
    ];
    for (name, value, expected) in bad {
        let mut data = good.clone();
        data[name] = value;
        let error = model
            .check_report("S", &data)
            .expect_err(&format!("{name} = {}", data[name]));
        let CodecError::Value { field, reason } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(field, name);
        assert!(reason.contains(expected), "{name}: {reason}");
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("r");
    assert!(model
        .check_report("S", &missing)
        .unwrap_err()
        .to_string()
        .contains("r: is required"));
    let mut unknown = good.clone();
    unknown["zz"] = json!(1);
    assert!(model
        .check_report("S", &unknown)
        .unwrap_err()
        .to_string()
        .contains("zz is not one of its fields"));
    assert_eq!(
        model.check_report("Q", &good).unwrap_err(),
        CodecError::UnknownService("Q".into())
    );
    assert!(matches!(
        model.check_command("S", "nope", &json!({})),
        Err(CodecError::UnknownCommand { .. })
    ));
}
