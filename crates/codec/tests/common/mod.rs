//! What the codec tests share: the water meter fixture and a model built from fields.

#![allow(dead_code)] // each test binary uses part of it

use nbmodem_codec::{Command, ProductModel};
use serde_json::{json, Value};

pub const WATER_METER_PROFILE: &str = include_str!("../fixtures/water_meter_profile.json");
pub const WATER_METER_PLUGIN: &str = include_str!("../fixtures/water_meter_plugin.js");

pub fn water_meter() -> ProductModel {
    let profile: Value = serde_json::from_str(WATER_METER_PROFILE).unwrap();
    ProductModel::from_profile(&profile).unwrap()
}

pub fn valve_command(state: &str, id: u16) -> Command {
    Command {
        service_id: "Valve".into(),
        command: "SET_VALVE".into(),
        params: json!({ "state": state }),
        id,
    }
}

/// A profile with one service "S" (compact number 1) whose properties are `properties`, and a
/// command "C" (number 2) whose parameters and response parameters are the same fields.
pub fn profile_with(properties: Value) -> Value {
    let paras: Vec<Value> = properties
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if let Some(name) = p.as_object_mut().unwrap().remove("propertyName") {
                p["paraName"] = name;
            }
            p
        })
        .collect();
    json!({
        "devices": [{ "serviceTypeCapabilities": [
            { "serviceId": "S", "serviceType": "T", "option": "Master" }
        ]}],
        "services": [{
            "serviceType": "T",
            "compactId": 1,
            "properties": properties,
            "commands": [{
                "commandName": "C",
                "compactId": 2,
                "paras": paras,
                "responses": [{ "responseName": "R", "paras": paras }]
            }]
        }]
    })
}

pub fn model_with(properties: Value) -> ProductModel {
    ProductModel::from_profile(&profile_with(properties)).unwrap()
}
