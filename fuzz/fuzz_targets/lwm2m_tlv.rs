//! Fuzzes the LwM2M TLV decoder with arbitrary payloads. Besides not panicking, checks that
//! whatever decodes encodes again, no longer than the input (the encoder picks the shortest
//! headers), and decodes back to the same tree; and feeds every value to the typed value decoder
//! for each resource type, checking the type of what comes out.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nbmodem_lwm2m::content::tlv::{self, Entry, Resource};
use nbmodem_lwm2m::content::ResourceType;

fuzz_target!(|data: &[u8]| {
    check_values(data);
    let Ok(entries) = tlv::decode(data) else {
        return;
    };
    let encoded = tlv::encode(&entries).expect("a decoded tree encodes");
    assert!(encoded.len() <= data.len(), "encoding grew the payload");
    assert_eq!(tlv::decode(&encoded).as_ref(), Ok(&entries));
    for entry in &entries {
        match entry {
            Entry::ObjectInstance { resources, .. } => resources.iter().for_each(check_resource),
            Entry::Resource(resource) => check_resource(resource),
            Entry::ResourceInstance(instance) => check_values(&instance.value),
        }
    }
});

fn check_resource(resource: &Resource) {
    match resource {
        Resource::Single { value, .. } => check_values(value),
        Resource::Multiple { instances, .. } => instances
            .iter()
            .for_each(|instance| check_values(&instance.value)),
    }
}

fn check_values(bytes: &[u8]) {
    for ty in ResourceType::ALL {
        if let Ok(value) = tlv::decode_value(bytes, ty) {
            assert_eq!(value.resource_type(), ty);
        }
    }
}
