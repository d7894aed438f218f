//! The typed value of a resource, the resource types of OMA object definitions, and the error a
//! format reports when bytes do not hold a value of the expected type.

use thiserror::Error;

/// The data type of a resource, as the `Type` element of an OMA object definition names it.
///
/// Decoders that see only bytes (TLV, plain text) need it to know what the bytes mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// `String`: UTF-8 text.
    String,
    /// `Integer`: a signed 64-bit integer.
    Integer,
    /// `Float`: a 32- or 64-bit IEEE 754 number.
    Float,
    /// `Boolean`.
    Boolean,
    /// `Opaque`: a sequence of bytes.
    Opaque,
    /// `Time`: seconds since the Unix epoch, as a signed integer.
    Time,
    /// `Objlnk`: a reference to an object instance.
    ObjectLink,
}

impl ResourceType {
    /// Every type, for code that must try each.
    pub const ALL: [ResourceType; 7] = [
        ResourceType::String,
        ResourceType::Integer,
        ResourceType::Float,
        ResourceType::Boolean,
        ResourceType::Opaque,
        ResourceType::Time,
        ResourceType::ObjectLink,
    ];
}

/// A resource value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A signed integer.
    Integer(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Boolean(bool),
    /// UTF-8 text.
    String(String),
    /// Raw bytes.
    Opaque(Vec<u8>),
    /// Seconds since the Unix epoch.
    Time(i64),
    /// An object link: object id, then instance id (`65535:65535` is the null link).
    ObjectLink(u16, u16),
}

impl Value {
    /// The resource type this value belongs to.
    pub fn resource_type(&self) -> ResourceType {
        match self {
            Self::Integer(_) => ResourceType::Integer,
            Self::Float(_) => ResourceType::Float,
            Self::Boolean(_) => ResourceType::Boolean,
            Self::String(_) => ResourceType::String,
            Self::Opaque(_) => ResourceType::Opaque,
            Self::Time(_) => ResourceType::Time,
            Self::ObjectLink(..) => ResourceType::ObjectLink,
        }
    }
}

/// Why bytes could not be read as, or a value could not be written in, a content format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ValueError {
    /// The encoding of this type has no variant of this many bytes.
    #[error("a {ty:?} value cannot be {len} bytes long")]
    Length {
        /// The expected type.
        ty: ResourceType,
        /// The length found.
        len: usize,
    },
    /// The bytes are not a valid encoding of the expected type.
    #[error("not a valid {0:?} value")]
    Invalid(ResourceType),
    /// Text that is not UTF-8.
    #[error("text is not UTF-8")]
    Utf8,
    /// The format cannot carry values of this type (opaque as plain text, for instance).
    #[error("{0:?} values cannot be carried in this content format")]
    Unsupported(ResourceType),
}

/// Parses the textual object link `obj:inst` used by plain text and SenML (`vlo`).
pub(crate) fn parse_object_link(text: &str) -> Option<(u16, u16)> {
    let (object, instance) = text.split_once(':')?;
    Some((parse_u16(object)?, parse_u16(instance)?))
}

/// Parses plain decimal digits; unlike `str::parse` it refuses a sign.
fn parse_u16(digits: &str) -> Option<u16> {
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_links_parse() {
        assert_eq!(parse_object_link("3:0"), Some((3, 0)));
        assert_eq!(parse_object_link("65535:65535"), Some((65535, 65535)));
    }

    #[test]
    fn malformed_object_links_are_refused() {
        for text in [
            "", ":", "3", "3:", ":0", "3:0:1", "+3:0", "3:-0", "65536:0", " 3:0", "a:b",
        ] {
            assert_eq!(parse_object_link(text), None, "{text:?}");
        }
    }
}
