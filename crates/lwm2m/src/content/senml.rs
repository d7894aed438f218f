//! SenML JSON (content format 110, RFC 8428), read side: a payload becomes `(path, value)` pairs.
//!
//! Each record's name is the last base name (`bn`) seen so far followed by its own name (`n`),
//! and must be an LwM2M path. Its value is one of `v` (number), `vs` (string), `vb` (boolean),
//! `vd` (base64url bytes) or `vlo` (the LwM2M object link `obj:inst`). JSON numbers without a
//! fraction or exponent that fit in 64 bits become [`Value::Integer`], other numbers
//! [`Value::Float`]; a caller that knows the resource is a Time or Float converts.
//!
//! Time fields (`t`, `bt`), units and sums are ignored. Base value and base sum (`bv`, `bs`) and
//! fields ending in `_` change the meaning of records and are not supported: they are errors.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, Engine};
use serde_json::{Map, Value as Json};
use thiserror::Error;

use super::{Path, PathError, Value};

/// RFC 8428 omits the padding of `vd`; some peers add it, and either is accepted.
const DATA_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The value fields; a record holds exactly one.
const VALUE_FIELDS: [&str; 5] = ["v", "vs", "vb", "vd", "vlo"];
/// Base fields this reader does not apply.
const UNSUPPORTED_FIELDS: [&str; 2] = ["bv", "bs"];

/// Why a payload is not SenML JSON this reader accepts. `index` counts records from 0.
#[derive(Debug, Error)]
pub enum SenmlError {
    /// Not JSON, or not an array of objects.
    #[error("not a SenML JSON array: {0}")]
    Json(#[from] serde_json::Error),
    /// A known field with the wrong JSON type.
    #[error("record {index}: field {field:?} has the wrong JSON type")]
    FieldType {
        /// The record.
        index: usize,
        /// The field.
        field: &'static str,
    },
    /// A field this reader does not support (`bv`, `bs`, or one ending in `_`).
    #[error("record {index}: field {field:?} is not supported")]
    UnsupportedField {
        /// The record.
        index: usize,
        /// The field.
        field: String,
    },
    /// A record with none of the value fields.
    #[error("record {index} has no value")]
    NoValue {
        /// The record.
        index: usize,
    },
    /// A record with more than one value field.
    #[error("record {index} has more than one value")]
    MultipleValues {
        /// The record.
        index: usize,
    },
    /// A `vd` that is not base64url, or a `vlo` that is not `obj:inst`.
    #[error("record {index}: invalid {field:?} value")]
    InvalidValue {
        /// The record.
        index: usize,
        /// The field.
        field: &'static str,
    },
    /// A resolved name that is not an LwM2M path.
    #[error("record {index}: name {name:?} is not an LwM2M path: {source}")]
    Name {
        /// The record.
        index: usize,
        /// The resolved name.
        name: String,
        /// What is wrong with it.
        source: PathError,
    },
}

/// Reads a SenML JSON payload into `(path, value)` pairs, in record order.
pub fn decode(bytes: &[u8]) -> Result<Vec<(Path, Value)>, SenmlError> {
    let records: Vec<Map<String, Json>> = serde_json::from_slice(bytes)?;
    let mut base_name = String::new();
    records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            check_fields(index, record)?;
            if let Some(name) = string_field(index, record, "bn")? {
                name.clone_into(&mut base_name);
            }
            let name = format!(
                "{base_name}{}",
                string_field(index, record, "n")?.unwrap_or("")
            );
            let path = name.parse().map_err(|source| SenmlError::Name {
                index,
                name,
                source,
            })?;
            Ok((path, value_of(index, record)?))
        })
        .collect()
}

fn check_fields(index: usize, record: &Map<String, Json>) -> Result<(), SenmlError> {
    let unsupported = record
        .keys()
        .find(|field| field.ends_with('_') || UNSUPPORTED_FIELDS.contains(&field.as_str()));
    match unsupported {
        Some(field) => Err(SenmlError::UnsupportedField {
            index,
            field: field.clone(),
        }),
        None => Ok(()),
    }
}

fn value_of(index: usize, record: &Map<String, Json>) -> Result<Value, SenmlError> {
    let mut present = VALUE_FIELDS
        .into_iter()
        .filter(|field| record.contains_key(*field));
    let field = present.next().ok_or(SenmlError::NoValue { index })?;
    if present.next().is_some() {
        return Err(SenmlError::MultipleValues { index });
    }
    let json = record.get(field).unwrap_or(&Json::Null);
    let wrong_type = SenmlError::FieldType { index, field };
    let invalid = SenmlError::InvalidValue { index, field };
    match (field, json) {
        ("v", Json::Number(number)) => match number.as_i64() {
            Some(int) => Ok(Value::Integer(int)),
            None => number.as_f64().map(Value::Float).ok_or(invalid),
        },
        ("vs", Json::String(text)) => Ok(Value::String(text.clone())),
        ("vb", Json::Bool(boolean)) => Ok(Value::Boolean(*boolean)),
        ("vd", Json::String(data)) => DATA_ENGINE
            .decode(data)
            .map(Value::Opaque)
            .map_err(|_| invalid),
        ("vlo", Json::String(link)) => super::value::parse_object_link(link)
            .map(|(object, instance)| Value::ObjectLink(object, instance))
            .ok_or(invalid),
        _ => Err(wrong_type),
    }
}

fn string_field<'a>(
    index: usize,
    record: &'a Map<String, Json>,
    field: &'static str,
) -> Result<Option<&'a str>, SenmlError> {
    match record.get(field) {
        None => Ok(None),
        Some(Json::String(text)) => Ok(Some(text)),
        Some(_) => Err(SenmlError::FieldType { index, field }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Vec<(String, Value)> {
        let pairs = decode(json.as_bytes()).unwrap();
        pairs
            .into_iter()
            .map(|(path, value)| (path.to_string(), value))
            .collect()
    }

    fn refuse(json: &str) -> SenmlError {
        decode(json.as_bytes()).unwrap_err()
    }

    /// The Device object instance of the TLV example, as an LwM2M 1.1 peer writes it in SenML.
    #[test]
    fn the_device_instance_resolves_names_against_the_base() {
        let json = r#"[
            {"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},
            {"n":"1","vs":"Lightweight M2M Client"},
            {"n":"6/0","v":1},
            {"n":"6/1","v":5},
            {"n":"13","v":1367491215},
            {"n":"14","vs":"+02:00"}
        ]"#;
        let expected = [
            ("/3/0/0", Value::String("Open Mobile Alliance".into())),
            ("/3/0/1", Value::String("Lightweight M2M Client".into())),
            ("/3/0/6/0", Value::Integer(1)),
            ("/3/0/6/1", Value::Integer(5)),
            ("/3/0/13", Value::Integer(1_367_491_215)),
            ("/3/0/14", Value::String("+02:00".into())),
        ];
        let expected: Vec<_> = expected
            .into_iter()
            .map(|(path, value)| (path.into(), value))
            .collect();
        assert_eq!(read(json), expected);
    }

    #[test]
    fn every_value_field_is_read() {
        let json = r#"[
            {"bn":"/1/0/0","v":-2.5},
            {"bn":"/1/0/","n":"1","v":86400,"t":0,"u":"s"},
            {"n":"6","vb":true},
            {"n":"2","vd":"3q2-7w"},
            {"n":"3","vd":"3q2-7w=="},
            {"n":"4","vlo":"65535:65535"},
            {"bn":"/2/0/1","vs":""},
            {"n":"","v":18446744073709551615}
        ]"#;
        let expected = [
            ("/1/0/0", Value::Float(-2.5)),
            ("/1/0/1", Value::Integer(86400)),
            ("/1/0/6", Value::Boolean(true)),
            ("/1/0/2", Value::Opaque(vec![0xDE, 0xAD, 0xBE, 0xEF])),
            ("/1/0/3", Value::Opaque(vec![0xDE, 0xAD, 0xBE, 0xEF])),
            ("/1/0/4", Value::ObjectLink(65535, 65535)),
            ("/2/0/1", Value::String(String::new())),
            ("/2/0/1", Value::Float(18_446_744_073_709_551_615.0)),
        ];
        let expected: Vec<_> = expected
            .into_iter()
            .map(|(path, value)| (path.into(), value))
            .collect();
        assert_eq!(read(json), expected);
    }

    #[test]
    fn an_empty_array_holds_nothing() {
        assert!(read("[]").is_empty());
    }

    #[test]
    fn malformed_json_is_refused() {
        for json in ["", "{}", "[1]", r#"[{"n":"/1/0/0","v":1}"#, "[[]]", "null"] {
            assert!(matches!(refuse(json), SenmlError::Json(_)), "{json:?}");
        }
    }

    #[test]
    fn malformed_records_are_refused() {
        assert!(matches!(
            refuse(r#"[{"n":"/1/0/0"}]"#),
            SenmlError::NoValue { index: 0 }
        ));
        assert!(matches!(
            refuse(r#"[{"n":"/1/0/0","v":1},{"n":"/1/0/1","v":1,"vs":"1"}]"#),
            SenmlError::MultipleValues { index: 1 }
        ));
        assert!(matches!(
            refuse(r#"[{"n":"/1/0/0","v":"1"}]"#),
            SenmlError::FieldType {
                index: 0,
                field: "v"
            }
        ));
        assert!(matches!(
            refuse(r#"[{"n":1,"v":1}]"#),
            SenmlError::FieldType {
                index: 0,
                field: "n"
            }
        ));
        assert!(matches!(
            refuse(r#"[{"bn":null,"n":"/1/0/0","v":1}]"#),
            SenmlError::FieldType {
                index: 0,
                field: "bn"
            }
        ));
        assert!(matches!(
            refuse(r#"[{"n":"/1/0/0","vd":"3q2+7w"}]"#),
            SenmlError::InvalidValue {
                index: 0,
                field: "vd"
            }
        ));
        assert!(matches!(
            refuse(r#"[{"n":"/1/0/0","vlo":"1"}]"#),
            SenmlError::InvalidValue {
                index: 0,
                field: "vlo"
            }
        ));
    }

    #[test]
    fn unsupported_fields_are_refused() {
        for field in ["bv", "bs", "t_", "_"] {
            let json = format!(r#"[{{"n":"/1/0/0","v":1,"{field}":1}}]"#);
            match refuse(&json) {
                SenmlError::UnsupportedField {
                    index: 0,
                    field: found,
                } => assert_eq!(found, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn names_must_resolve_to_paths() {
        let cases = [
            (r#"[{"v":1}]"#, "", PathError::Empty),
            (
                r#"[{"n":"1/0/0","v":1}]"#,
                "1/0/0",
                PathError::NoLeadingSlash,
            ),
            (
                r#"[{"bn":"/1/0/","v":1}]"#,
                "/1/0/",
                PathError::EmptySegment,
            ),
            (
                r#"[{"bn":"/1/0/","n":"65535","v":1}]"#,
                "/1/0/65535",
                PathError::IdOutOfRange(65535),
            ),
        ];
        for (json, resolved, error) in cases {
            match refuse(json) {
                SenmlError::Name {
                    index: 0,
                    name,
                    source,
                } => {
                    assert_eq!((name.as_str(), source), (resolved, error));
                }
                other => panic!("{json}: {other:?}"),
            }
        }
    }
}
