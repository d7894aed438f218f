//! China Telecom (`zzhc.vnet.cn:5683/nb`) and China Unicom (`114.255.193.236:5683/`)
//! self-registration: the record the module posts and the answer it expects (protocols.md §1–2).
//!
//! The body is the base64 (standard alphabet, padded) of a JSON object whose values are all
//! strings. China Telecom names the model `MODEL`, China Unicom `MODELSMS`. The answer is plain
//! JSON; success is `resultCode` "0" with `resultDesc` "Success".

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};
use thiserror::Error;

/// Which registry a record is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Registry {
    ChinaTelecom,
    ChinaUnicom,
}

impl Registry {
    fn model_key(self) -> &'static str {
        match self {
            Registry::ChinaTelecom => "MODEL",
            Registry::ChinaUnicom => "MODELSMS",
        }
    }
}

/// The fields of a module's self-registration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegistrationRecord {
    pub regver: String,
    /// The IMEI (the key is MEID for historical reasons).
    pub meid: String,
    pub model: String,
    pub swver: String,
    pub iccid: String,
    pub imsi: String,
}

/// The protocol version NB modules send.
pub const REGVER: &str = "2";

/// `<vendor code>-<model>` with a single `-`: later dashes become spaces, as the registries allow
/// only one (protocols.md §1.2).
pub fn model_field(vendor: &str, model: &str) -> String {
    format!("{vendor}-{}", model.replace('-', " "))
}

impl RegistrationRecord {
    /// The request body: base64 of the JSON object, fields in the order the modules send them.
    pub fn encode(&self, registry: Registry) -> Vec<u8> {
        let fields = [
            ("REGVER", &self.regver),
            ("MEID", &self.meid),
            (registry.model_key(), &self.model),
            ("SWVER", &self.swver),
            ("SIM1ICCID", &self.iccid),
            ("SIM1LTEIMSI", &self.imsi),
        ];
        let object: Map<String, Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        STANDARD
            .encode(Value::Object(object).to_string())
            .into_bytes()
    }

    /// Reads a request body for `registry`.
    pub fn decode(registry: Registry, body: &[u8]) -> Result<RegistrationRecord, RecordError> {
        let json = STANDARD
            .decode(body.trim_ascii())
            .map_err(|_| RecordError::NotBase64)?;
        let value: Value = serde_json::from_slice(&json).map_err(|_| RecordError::NotJson)?;
        let object = value.as_object().ok_or(RecordError::NotJson)?;
        let field = |key: &'static str| -> Result<String, RecordError> {
            match object.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(RecordError::NotAString(key)),
                None => Err(RecordError::Missing(key)),
            }
        };
        Ok(RegistrationRecord {
            regver: field("REGVER")?,
            meid: field("MEID")?,
            model: field(registry.model_key())?,
            swver: field("SWVER")?,
            iccid: field("SIM1ICCID")?,
            imsi: field("SIM1LTEIMSI")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("the body is not base64")]
    NotBase64,
    #[error("the body is not a JSON object")]
    NotJson,
    #[error("field {0} is missing")]
    Missing(&'static str),
    #[error("field {0} is not a string")]
    NotAString(&'static str),
}

/// The registry's answer.
pub fn answer(code: &str, description: &str) -> Vec<u8> {
    serde_json::json!({ "resultCode": code, "resultDesc": description })
        .to_string()
        .into_bytes()
}

/// Whether an answer means success: `resultCode` "0" (as a number too) and `resultDesc` "Success".
pub fn is_success(answer: &[u8]) -> bool {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(answer) else {
        return false;
    };
    let code_is_zero = match object.get("resultCode") {
        Some(Value::String(s)) => s.trim().parse::<i64>() == Ok(0),
        Some(Value::Number(n)) => n.as_i64() == Some(0),
        _ => false,
    };
    code_is_zero && object.get("resultDesc") == Some(&Value::String("Success".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RegistrationRecord {
        RegistrationRecord {
            regver: REGVER.into(),
            meid: "865975030000001".into(),
            model: model_field("QUE", "BC260Y-CN"),
            swver: "BC260YCNAAR02A01".into(),
            iccid: "89861100000000000001".into(),
            imsi: "460110000000001".into(),
        }
    }

    #[test]
    fn body_is_base64_of_json_in_module_field_order() {
        let body = record().encode(Registry::ChinaTelecom);
        let json = String::from_utf8(STANDARD.decode(&body).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"REGVER":"2","MEID":"865975030000001","MODEL":"QUE-BC260Y CN","SWVER":"BC260YCNAAR02A01","SIM1ICCID":"89861100000000000001","SIM1LTEIMSI":"460110000000001"}"#
        );
        assert_eq!(
            RegistrationRecord::decode(Registry::ChinaTelecom, &body),
            Ok(record())
        );
    }

    #[test]
    fn unicom_names_the_model_modelsms() {
        let body = record().encode(Registry::ChinaUnicom);
        let json = String::from_utf8(STANDARD.decode(&body).unwrap()).unwrap();
        assert!(json.contains(r#""MODELSMS":"QUE-BC260Y CN""#));
        assert_eq!(
            RegistrationRecord::decode(Registry::ChinaTelecom, &body),
            Err(RecordError::Missing("MODEL"))
        );
    }

    #[test]
    fn malformed_bodies() {
        assert_eq!(
            RegistrationRecord::decode(Registry::ChinaTelecom, b"%%%"),
            Err(RecordError::NotBase64)
        );
        assert_eq!(
            RegistrationRecord::decode(Registry::ChinaTelecom, STANDARD.encode("[1]").as_bytes()),
            Err(RecordError::NotJson)
        );
        let number = STANDARD.encode(r#"{"REGVER":2}"#);
        assert_eq!(
            RegistrationRecord::decode(Registry::ChinaTelecom, number.as_bytes()),
            Err(RecordError::NotAString("REGVER"))
        );
    }

    #[test]
    fn success_needs_code_zero_and_the_word_success() {
        assert!(is_success(&answer("0", "Success")));
        assert!(is_success(br#"{"resultCode":0,"resultDesc":"Success"}"#));
        assert!(!is_success(&answer("1", "Success")));
        assert!(!is_success(&answer("0", "Sucess")));
        assert!(!is_success(b"Success"));
    }
}
