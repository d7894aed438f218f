//! Plain text (content format 0) for a single resource value.
//!
//! Integers and times are decimal, floats decimal (no infinities or NaN), booleans `0` or `1`,
//! object links `obj:inst` and strings themselves. Opaque values have no text form: the opaque
//! format (42) carries them.

use super::value::parse_object_link;
use super::{ResourceType, Value, ValueError};

/// The text of a value.
pub fn encode(value: &Value) -> Result<String, ValueError> {
    match value {
        Value::Integer(int) | Value::Time(int) => Ok(int.to_string()),
        // `Display` prints the shortest decimal that reads back to the same number.
        Value::Float(float) if float.is_finite() => Ok(float.to_string()),
        Value::Float(_) => Err(ValueError::Invalid(ResourceType::Float)),
        Value::Boolean(boolean) => Ok(if *boolean { "1" } else { "0" }.to_owned()),
        Value::String(text) => Ok(text.clone()),
        Value::ObjectLink(object, instance) => Ok(format!("{object}:{instance}")),
        Value::Opaque(_) => Err(ValueError::Unsupported(ResourceType::Opaque)),
    }
}

/// Reads text as a value of type `ty`.
pub fn decode(bytes: &[u8], ty: ResourceType) -> Result<Value, ValueError> {
    let text = || std::str::from_utf8(bytes).map_err(|_| ValueError::Utf8);
    let invalid = ValueError::Invalid(ty);
    match ty {
        ResourceType::Integer => text()?.parse().map(Value::Integer).map_err(|_| invalid),
        ResourceType::Time => text()?.parse().map(Value::Time).map_err(|_| invalid),
        ResourceType::Float => decode_float(text()?).map(Value::Float).ok_or(invalid),
        ResourceType::Boolean => match text()? {
            "0" => Ok(Value::Boolean(false)),
            "1" => Ok(Value::Boolean(true)),
            _ => Err(invalid),
        },
        ResourceType::ObjectLink => parse_object_link(text()?)
            .map(|(object, instance)| Value::ObjectLink(object, instance))
            .ok_or(invalid),
        ResourceType::String => Ok(Value::String(text()?.to_owned())),
        ResourceType::Opaque => Err(ValueError::Unsupported(ty)),
    }
}

/// A finite decimal number, with an optional exponent.
fn decode_float(text: &str) -> Option<f64> {
    // `f64::from_str` also takes "inf" and "NaN", which are not decimal numbers.
    let decimal = text
        .bytes()
        .all(|byte| byte.is_ascii_digit() || matches!(byte, b'+' | b'-' | b'.' | b'e' | b'E'));
    let float: f64 = text.parse().ok().filter(|_| decimal)?;
    float.is_finite().then_some(float)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: Value) -> String {
        encode(&value).unwrap()
    }

    fn read(bytes: &str, ty: ResourceType) -> Result<Value, ValueError> {
        decode(bytes.as_bytes(), ty)
    }

    #[test]
    fn the_spec_example_reads_the_manufacturer() {
        // OMA-TS-LightweightM2M-V1_0 §6.4.1: GET /3/0/0 answers "Open Mobile Alliance".
        assert_eq!(
            read("Open Mobile Alliance", ResourceType::String),
            Ok(Value::String("Open Mobile Alliance".into()))
        );
    }

    #[test]
    fn values_have_their_text_forms() {
        assert_eq!(text(Value::Integer(-42)), "-42");
        assert_eq!(text(Value::Integer(i64::MIN)), "-9223372036854775808");
        assert_eq!(text(Value::Time(1_367_491_215)), "1367491215");
        assert_eq!(text(Value::Float(3.5)), "3.5");
        assert_eq!(text(Value::Float(-0.1)), "-0.1");
        assert_eq!(text(Value::Float(100.0)), "100");
        assert_eq!(text(Value::Boolean(true)), "1");
        assert_eq!(text(Value::Boolean(false)), "0");
        assert_eq!(text(Value::ObjectLink(1, 0)), "1:0");
        assert_eq!(text(Value::ObjectLink(65535, 65535)), "65535:65535");
        assert_eq!(text(Value::String("+02:00".into())), "+02:00");
    }

    #[test]
    fn texts_read_as_their_types() {
        assert_eq!(read("-42", ResourceType::Integer), Ok(Value::Integer(-42)));
        assert_eq!(
            read("1367491215", ResourceType::Time),
            Ok(Value::Time(1_367_491_215))
        );
        assert_eq!(read("3.5", ResourceType::Float), Ok(Value::Float(3.5)));
        assert_eq!(read("2", ResourceType::Float), Ok(Value::Float(2.0)));
        assert_eq!(
            read("-1.5e3", ResourceType::Float),
            Ok(Value::Float(-1500.0))
        );
        assert_eq!(read("1", ResourceType::Boolean), Ok(Value::Boolean(true)));
        assert_eq!(read("0", ResourceType::Boolean), Ok(Value::Boolean(false)));
        assert_eq!(
            read("3:0", ResourceType::ObjectLink),
            Ok(Value::ObjectLink(3, 0))
        );
        assert_eq!(
            read("", ResourceType::String),
            Ok(Value::String(String::new()))
        );
    }

    #[test]
    fn malformed_texts_are_refused() {
        let cases = [
            ("", ResourceType::Integer),
            ("4 2", ResourceType::Integer),
            ("1.0", ResourceType::Integer),
            ("9223372036854775808", ResourceType::Integer),
            (" 5", ResourceType::Time),
            ("", ResourceType::Float),
            ("inf", ResourceType::Float),
            ("NaN", ResourceType::Float),
            ("1e400", ResourceType::Float),
            ("1,5", ResourceType::Float),
            ("true", ResourceType::Boolean),
            ("2", ResourceType::Boolean),
            ("3", ResourceType::ObjectLink),
            ("3:65536", ResourceType::ObjectLink),
        ];
        for (bytes, ty) in cases {
            assert_eq!(
                read(bytes, ty),
                Err(ValueError::Invalid(ty)),
                "{bytes:?} as {ty:?}"
            );
        }
    }

    #[test]
    fn text_must_be_utf8() {
        assert_eq!(decode(&[0xFF], ResourceType::String), Err(ValueError::Utf8));
    }

    #[test]
    fn opaque_has_no_text_form() {
        let unsupported = ValueError::Unsupported(ResourceType::Opaque);
        assert_eq!(encode(&Value::Opaque(vec![1, 2])), Err(unsupported));
        assert_eq!(decode(b"0102", ResourceType::Opaque), Err(unsupported));
    }

    #[test]
    fn non_finite_floats_have_no_text_form() {
        for float in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(
                encode(&Value::Float(float)),
                Err(ValueError::Invalid(ResourceType::Float))
            );
        }
    }
}
