//! Property tests of the content codecs: encoding then decoding gives back what was encoded, and
//! no decoder panics on any input.

use nbmodem_lwm2m::content::link::{self, Attribute, AttributeValue, Link};
use nbmodem_lwm2m::content::tlv::{self, Entry, Resource, ResourceInstance};
use nbmodem_lwm2m::content::{senml, text, Path, ResourceType, Value};
use proptest::prelude::*;

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Integer),
        any::<f64>().prop_map(Value::Float),
        any::<bool>().prop_map(Value::Boolean),
        any::<String>().prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..32).prop_map(Value::Opaque),
        any::<i64>().prop_map(Value::Time),
        any::<(u16, u16)>().prop_map(|(object, instance)| Value::ObjectLink(object, instance)),
    ]
}

/// Equality that tells floats apart by their bits, so NaN equals itself and -0.0 differs from 0.0.
fn same(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Float(left), Value::Float(right)) => left.to_bits() == right.to_bits(),
        _ => left == right,
    }
}

/// Ids up to 65534, biased towards both header widths.
fn id() -> impl Strategy<Value = u16> {
    prop_oneof![0..=255u16, 256..=65534u16]
}

/// Values around the 7-byte and 255-byte length boundaries.
fn value_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..10),
        prop::collection::vec(any::<u8>(), 250..300),
    ]
}

fn instance() -> impl Strategy<Value = ResourceInstance> {
    (id(), value_bytes()).prop_map(|(id, value)| ResourceInstance { id, value })
}

fn resource() -> impl Strategy<Value = Resource> {
    prop_oneof![
        (id(), value_bytes()).prop_map(|(id, value)| Resource::Single { id, value }),
        (id(), prop::collection::vec(instance(), 0..4))
            .prop_map(|(id, instances)| Resource::Multiple { id, instances }),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        (id(), prop::collection::vec(resource(), 0..4))
            .prop_map(|(id, resources)| Entry::ObjectInstance { id, resources }),
        resource().prop_map(Entry::Resource),
        instance().prop_map(Entry::ResourceInstance),
    ]
}

fn link_value() -> impl Strategy<Value = Option<AttributeValue>> {
    prop_oneof![
        Just(None),
        "[a-zA-Z0-9.:/<>=!#$%&'()*+?@^_`{|}~-]{1,8}".prop_map(|t| Some(AttributeValue::Token(t))),
        any::<String>().prop_map(|text| Some(AttributeValue::Quoted(text))),
    ]
}

fn any_link() -> impl Strategy<Value = Link> {
    let attribute =
        ("[a-z][a-z0-9*]{0,5}", link_value()).prop_map(|(name, value)| Attribute { name, value });
    (
        "/[a-z0-9/._%-]{0,12}",
        prop::collection::vec(attribute, 0..4),
    )
        .prop_map(|(target, attributes)| Link { target, attributes })
}

fn any_path() -> impl Strategy<Value = Path> {
    prop::collection::vec(0..=65534u16, 1..=4).prop_map(|ids| Path::new(&ids).unwrap())
}

/// Link-format-looking text, so that the fuzzing reaches past the first byte.
fn linkish() -> impl Strategy<Value = String> {
    "[<>/;=,\" \\\\a-z0-9.]{0,48}"
}

/// SenML-looking JSON records built from fragments.
fn senmlish() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        Just(r#""bn":"/3/0/""#),
        Just(r#""n":"1""#),
        Just(r#""n":"6/0""#),
        Just(r#""v":1.5"#),
        Just(r#""v":-7"#),
        Just(r#""vs":"x""#),
        Just(r#""vb":false"#),
        Just(r#""vd":"AAE""#),
        Just(r#""vlo":"3:0""#),
        Just(r#""bv":1"#),
        Just(r#""n":5"#),
    ];
    let record =
        prop::collection::vec(field, 0..4).prop_map(|fields| format!("{{{}}}", fields.join(",")));
    prop::collection::vec(record, 0..4).prop_map(|records| format!("[{}]", records.join(",")))
}

proptest! {
    #[test]
    fn tlv_trees_round_trip(entries in prop::collection::vec(entry(), 0..4)) {
        let bytes = tlv::encode(&entries).unwrap();
        prop_assert_eq!(tlv::decode(&bytes), Ok(entries));
    }

    #[test]
    fn tlv_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(entries) = tlv::decode(&bytes) {
            // Whatever decodes encodes (perhaps shorter) and decodes to the same tree.
            let encoded = tlv::encode(&entries).unwrap();
            prop_assert!(encoded.len() <= bytes.len());
            prop_assert_eq!(tlv::decode(&encoded), Ok(entries));
        }
    }

    #[test]
    fn tlv_values_round_trip(value in any_value()) {
        let bytes = tlv::encode_value(&value);
        let decoded = tlv::decode_value(&bytes, value.resource_type()).unwrap();
        prop_assert!(same(&decoded, &value), "{:?} came back as {:?}", value, decoded);
    }

    #[test]
    fn text_values_round_trip(value in any_value()) {
        match text::encode(&value) {
            Ok(text) => {
                let decoded = text::decode(text.as_bytes(), value.resource_type()).unwrap();
                prop_assert!(same(&decoded, &value), "{:?} came back as {:?}", value, decoded);
            }
            Err(_) => prop_assert!(
                matches!(value, Value::Opaque(_)) || matches!(value, Value::Float(f) if !f.is_finite())
            ),
        }
    }

    #[test]
    fn value_decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..12)) {
        for ty in ResourceType::ALL {
            if let Ok(value) = tlv::decode_value(&bytes, ty) {
                prop_assert_eq!(value.resource_type(), ty);
            }
            if let Ok(value) = text::decode(&bytes, ty) {
                prop_assert_eq!(value.resource_type(), ty);
            }
        }
    }

    #[test]
    fn links_round_trip(links in prop::collection::vec(any_link(), 0..4)) {
        let text = link::serialize(&links).unwrap();
        prop_assert_eq!(link::parse(text.as_bytes()), Ok(links));
    }

    #[test]
    fn link_parsing_never_panics(text in linkish(), bytes in prop::collection::vec(any::<u8>(), 0..48)) {
        for input in [text.as_bytes(), &bytes] {
            if let Ok(links) = link::parse(input) {
                let again = link::serialize(&links).unwrap();
                prop_assert_eq!(link::parse(again.as_bytes()), Ok(links.clone()));
                let _ = link::registered_objects(&links);
            }
        }
    }

    #[test]
    fn senml_decoding_never_panics(json in senmlish(), bytes in prop::collection::vec(any::<u8>(), 0..48)) {
        for input in [json.as_bytes(), &bytes] {
            let _ = senml::decode(input);
        }
    }

    #[test]
    fn paths_round_trip(path in any_path()) {
        prop_assert_eq!(path.to_string().parse::<Path>(), Ok(path));
    }

    #[test]
    fn path_parsing_never_panics(text in "[/0-9a+-]{0,24}") {
        if let Ok(path) = text.parse::<Path>() {
            prop_assert_eq!(path.to_string().parse::<Path>(), Ok(path));
        }
    }
}
