//! The opaque format (content format 42): the bytes of one opaque resource, passed through.

use super::{Value, ValueError};

/// The bytes of an opaque value; other types have no opaque form.
pub fn encode(value: &Value) -> Result<Vec<u8>, ValueError> {
    match value {
        Value::Opaque(bytes) => Ok(bytes.clone()),
        other => Err(ValueError::Unsupported(other.resource_type())),
    }
}

/// Any bytes, as an opaque value.
pub fn decode(bytes: &[u8]) -> Value {
    Value::Opaque(bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::ResourceType;

    #[test]
    fn bytes_pass_through() {
        let bytes = vec![0x00, 0xFF, 0x10];
        assert_eq!(decode(&bytes), Value::Opaque(bytes.clone()));
        assert_eq!(encode(&Value::Opaque(bytes.clone())), Ok(bytes));
    }

    #[test]
    fn other_types_are_refused() {
        assert_eq!(
            encode(&Value::String("x".into())),
            Err(ValueError::Unsupported(ResourceType::String))
        );
        assert_eq!(
            encode(&Value::Integer(1)),
            Err(ValueError::Unsupported(ResourceType::Integer))
        );
    }
}
