//! China Telecom (`zzhc.vnet.cn:5683/nb`) and China Unicom (`114.255.193.236:5683/`)
//! self-registration: the record the module posts and the answer it expects (protocols.md §1–2).
//!
//! The body is the base64 (standard alphabet, padded) of a JSON object whose values are all
//! strings. China Telecom names the model `MODEL`, China Unicom `MODELSMS`. The answer is plain
//! JSON; success is `resultCode` "0" with `resultDesc` "Success".
//!
//! A registry checks a record as an operator would ([`FIELD_RULES`]): the IMEI is 15 digits, the
//! ICCID 19 or 20, the model `<vendor code>-<model>`, and so on; a body is at most
//! [`MAX_BODY`] bytes and names each key once.

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
        if body.len() > MAX_BODY {
            return Err(RecordError::TooLarge);
        }
        let json = STANDARD
            .decode(body.trim_ascii())
            .map_err(|_| RecordError::NotBase64)?;
        let object = unique_object(&json)?;
        let field = |key: &'static str| -> Result<String, RecordError> {
            let value = match object.get(key) {
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(RecordError::NotAString(key)),
                None => return Err(RecordError::Missing(key)),
            };
            check_field(key, &value)?;
            Ok(value)
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

/// The longest body a registry takes: a module's record is about 200 bytes.
pub const MAX_BODY: usize = 1024;

/// What a registry takes in a field.
#[derive(Debug, Clone, Copy)]
pub struct FieldRule {
    pub key: &'static str,
    pub shortest: usize,
    pub longest: usize,
    pub allowed: fn(char) -> bool,
    /// The rule in words, for the error: "must be …".
    pub rule: &'static str,
}

/// The record's fields as the registries check them (protocols.md §1.2, §2.2). The model also has
/// one `-` after a vendor code of 1 to 3 characters ([`check_field`]).
pub const FIELD_RULES: [FieldRule; 7] = [
    FieldRule {
        key: "REGVER",
        shortest: 1,
        longest: 8,
        allowed: |c| c.is_ascii_digit() || c == '.',
        rule: "a version such as 2 or 5.0",
    },
    FieldRule {
        key: "MEID",
        shortest: 14,
        longest: 15,
        allowed: |c| c.is_ascii_hexdigit(),
        rule: "the 15-digit IMEI (or a 14-digit MEID)",
    },
    FieldRule {
        key: "MODEL",
        shortest: 3,
        longest: 40,
        allowed: model_character,
        rule: "<vendor code of 1-3 characters>-<model>, in letters, digits, spaces and +",
    },
    FieldRule {
        key: "MODELSMS",
        shortest: 3,
        longest: 40,
        allowed: model_character,
        rule: "<vendor code of 1-3 characters>-<model>, in letters, digits, spaces and +",
    },
    FieldRule {
        key: "SWVER",
        shortest: 1,
        longest: 64,
        allowed: |c| c.is_ascii_graphic() || c == ' ',
        rule: "1 to 64 printable ASCII characters",
    },
    FieldRule {
        key: "SIM1ICCID",
        shortest: 19,
        longest: 20,
        allowed: |c| c.is_ascii_hexdigit(),
        rule: "the 19- or 20-digit ICCID",
    },
    FieldRule {
        key: "SIM1LTEIMSI",
        shortest: 15,
        longest: 15,
        allowed: |c| c.is_ascii_digit(),
        rule: "the 15-digit IMSI",
    },
];

fn model_character(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ' ' || c == '+' || c == '-'
}

/// Checks a field's value against its rule.
pub fn check_field(key: &'static str, value: &str) -> Result<(), RecordError> {
    let Some(rule) = FIELD_RULES.iter().find(|r| r.key == key) else {
        return Ok(());
    };
    let length = value.chars().count();
    let fits = (rule.shortest..=rule.longest).contains(&length) && value.chars().all(rule.allowed);
    let vendor_ok = !key.starts_with("MODEL")
        || value.matches('-').count() == 1
            && value.find('-').is_some_and(|dash| (1..=3).contains(&dash));
    if fits && vendor_ok {
        Ok(())
    } else {
        Err(RecordError::BadField {
            key,
            rule: rule.rule,
        })
    }
}

/// The JSON object in `json`, refused when it names a key twice (which of the two counts is
/// anybody's guess; serde_json would keep the last).
fn unique_object(json: &[u8]) -> Result<Map<String, Value>, RecordError> {
    let Pairs(pairs) = serde_json::from_slice(json).map_err(|_| RecordError::NotJson)?;
    let mut object = Map::new();
    for (key, value) in pairs {
        if object.contains_key(&key) {
            return Err(RecordError::DuplicateKey(key.chars().take(40).collect()));
        }
        object.insert(key, value);
    }
    Ok(object)
}

/// A JSON object's members in order, duplicates included.
struct Pairs(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Pairs, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Pairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("the body is longer than {MAX_BODY} bytes")]
    TooLarge,
    #[error("the body is not base64")]
    NotBase64,
    #[error("the body is not a JSON object")]
    NotJson,
    #[error("key {0} appears more than once")]
    DuplicateKey(String),
    #[error("field {0} is missing")]
    Missing(&'static str),
    #[error("field {0} is not a string")]
    NotAString(&'static str),
    #[error("field {key} must be {rule}")]
    BadField {
        key: &'static str,
        rule: &'static str,
    },
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

    fn decode_json(json: &str) -> Result<RegistrationRecord, RecordError> {
        RegistrationRecord::decode(Registry::ChinaTelecom, STANDARD.encode(json).as_bytes())
    }

    /// The record's JSON with one field's value replaced.
    fn with_field(key: &str, value: &str) -> String {
        let body = record().encode(Registry::ChinaTelecom);
        let mut fields: Map<String, Value> =
            serde_json::from_slice(&STANDARD.decode(body).unwrap()).unwrap();
        fields.insert(key.into(), Value::String(value.into()));
        Value::Object(fields).to_string()
    }

    #[test]
    fn fields_are_checked_as_the_operators_would() {
        let bad = [
            ("MEID", "8659750300000011"),
            ("MEID", &"9".repeat(40_000)),
            ("MEID", "86597503000000x"),
            ("MEID", "8659750300\u{7}0001"),
            ("SIM1ICCID", "898611000000"),
            ("SIM1LTEIMSI", "46011000000000"),
            ("SIM1LTEIMSI", "46011000000000a"),
            ("MODEL", "QUECTEL-BC260Y"),
            ("MODEL", "QUE-BC260Y-CN"),
            ("MODEL", "QUEBC260Y"),
            ("MODEL", "QUE-BC260Y\nCN"),
            ("SWVER", ""),
            ("SWVER", "BC260Y\u{0}"),
            ("SWVER", &"A".repeat(65)),
            ("REGVER", "two"),
        ];
        for (key, value) in bad {
            let result = decode_json(&with_field(key, value));
            assert!(
                matches!(result, Err(RecordError::BadField { key: k, .. }) if k == key)
                    || result == Err(RecordError::TooLarge),
                "{key}={value:?}: {result:?}"
            );
        }
        for (key, value) in [
            ("MEID", "A0000012345678"),
            ("SIM1ICCID", "8986110000000000001F"),
            ("REGVER", "5.0"),
        ] {
            assert!(
                decode_json(&with_field(key, value)).is_ok(),
                "{key}={value}"
            );
        }
        let error = decode_json(&with_field("SIM1LTEIMSI", "4601")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "field SIM1LTEIMSI must be the 15-digit IMSI"
        );
    }

    #[test]
    fn a_key_named_twice_and_a_body_too_long_are_refused() {
        let json =
            with_field("MEID", "865975030000001").replacen('{', r#"{"MEID":"865975030000002","#, 1);
        assert_eq!(
            decode_json(&json),
            Err(RecordError::DuplicateKey("MEID".into()))
        );
        let padded = with_field("UETYEP", &"x".repeat(MAX_BODY));
        assert_eq!(decode_json(&padded), Err(RecordError::TooLarge));
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
