//! The LwM2M TLV format (content format 11542, OMA-TS-LightweightM2M-V1_0 §6.4.3).
//!
//! Each TLV is a type byte, an 8- or 16-bit id, an optional 8/16/24-bit length and the value:
//!
//! ```text
//! type byte: 7-6 kind   00 Object Instance, 01 Resource Instance,
//!                       10 Multiple Resource, 11 Resource with Value
//!            5   id     0 = 8 bits, 1 = 16 bits
//!            4-3 length 00 = in bits 2-0, 01/10/11 = an 8/16/24-bit field follows the id
//!            2-0 length of the value when bits 4-3 are 00
//! ```
//!
//! An Object Instance holds Resources and Multiple Resources; a Multiple Resource holds Resource
//! Instances; the other two hold a value. [`decode`] turns bytes into a tree of [`Entry`] whose
//! types make any other nesting unrepresentable, and [`encode`] writes it back in the shortest
//! form. [`encode_value`] and [`decode_value`] convert between a [`Value`] and the value bytes.

use thiserror::Error;

use super::{ResourceType, Value, ValueError};

/// The reserved id (`MAX_ID`); no entry may use it.
const RESERVED_ID: u16 = u16::MAX;
/// The largest value a 24-bit length field can declare.
const MAX_LEN: usize = 0x00FF_FFFF;

/// The four kinds of TLV, from bits 7-6 of the type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `00`: an object instance, holding resources.
    ObjectInstance,
    /// `01`: one instance of a multiple resource, holding a value.
    ResourceInstance,
    /// `10`: a multiple resource, holding resource instances.
    MultipleResource,
    /// `11`: a single resource, holding a value.
    Resource,
}

/// A top-level TLV: what a payload may carry, depending on the path it answers or writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// An object instance and its resources.
    ObjectInstance {
        /// The instance id.
        id: u16,
        /// Its resources, in payload order.
        resources: Vec<Resource>,
    },
    /// A single or multiple resource.
    Resource(Resource),
    /// One resource instance.
    ResourceInstance(ResourceInstance),
}

/// A resource TLV: a value, or the instances of a multiple resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// A Resource with Value.
    Single {
        /// The resource id.
        id: u16,
        /// The value bytes (see [`decode_value`]).
        value: Vec<u8>,
    },
    /// A Multiple Resource.
    Multiple {
        /// The resource id.
        id: u16,
        /// Its instances, in payload order.
        instances: Vec<ResourceInstance>,
    },
}

/// A Resource Instance TLV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInstance {
    /// The resource instance id.
    pub id: u16,
    /// The value bytes (see [`decode_value`]).
    pub value: Vec<u8>,
}

/// Why bytes are not a TLV payload, or a tree cannot be encoded. Offsets count from the start of
/// the payload (of the output, when encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TlvError {
    /// The payload, or the enclosing TLV, ends inside the header of the TLV at `offset`.
    #[error("TLV header at byte {offset} is cut short")]
    Truncated {
        /// Where the TLV starts.
        offset: usize,
    },
    /// The TLV at `offset` declares a longer value than the payload or enclosing TLV has left.
    #[error("TLV at byte {offset} declares {len} bytes of value, only {available} remain")]
    LengthOverflow {
        /// Where the TLV starts.
        offset: usize,
        /// The declared length.
        len: usize,
        /// The bytes left after its header.
        available: usize,
    },
    /// A TLV inside a parent that may not hold its kind.
    #[error("{child:?} TLV at byte {offset} cannot be inside a {parent:?}")]
    BadNesting {
        /// Where the child starts.
        offset: usize,
        /// The enclosing kind.
        parent: Kind,
        /// The kind found inside it.
        child: Kind,
    },
    /// A TLV with the reserved id 65535.
    #[error("TLV at byte {offset} has the reserved id 65535")]
    ReservedId {
        /// Where the TLV starts.
        offset: usize,
    },
    /// A value or child list longer than a 24-bit length field can declare.
    #[error("TLV at byte {offset} is {len} bytes long, more than 16777215")]
    TooLong {
        /// Where the TLV starts.
        offset: usize,
        /// Its length.
        len: usize,
    },
}

/// Decodes a whole TLV payload.
///
/// Accepts non-minimal headers (a 16-bit id below 256, a length field for a short value).
pub fn decode(bytes: &[u8]) -> Result<Vec<Entry>, TlvError> {
    Headers::new(bytes, 0, bytes.len())
        .map(|header| entry_from(bytes, header?))
        .collect()
}

/// Encodes entries, each header in its shortest form.
pub fn encode(entries: &[Entry]) -> Result<Vec<u8>, TlvError> {
    let mut out = Vec::with_capacity(entries.iter().map(entry_len).fold(0, usize::saturating_add));
    for entry in entries {
        write_entry(&mut out, entry)?;
    }
    Ok(out)
}

/// The value bytes of a TLV holding `value`: integers and times in the shortest of 1/2/4/8 bytes,
/// floats in 4 bytes when that loses nothing (else 8), booleans in 1 byte, object links in 4,
/// strings as UTF-8 and opaque values as they are. All big-endian.
pub fn encode_value(value: &Value) -> Vec<u8> {
    match value {
        Value::Integer(int) | Value::Time(int) => encode_integer(*int),
        Value::Float(float) => encode_float(*float),
        Value::Boolean(boolean) => vec![u8::from(*boolean)],
        Value::String(text) => text.as_bytes().to_vec(),
        Value::Opaque(bytes) => bytes.clone(),
        Value::ObjectLink(object, instance) => {
            [object.to_be_bytes(), instance.to_be_bytes()].concat()
        }
    }
}

/// Reads the value bytes of a TLV as a value of type `ty`.
pub fn decode_value(bytes: &[u8], ty: ResourceType) -> Result<Value, ValueError> {
    let wrong_length = ValueError::Length {
        ty,
        len: bytes.len(),
    };
    match ty {
        ResourceType::Integer => decode_integer(bytes)
            .map(Value::Integer)
            .ok_or(wrong_length),
        ResourceType::Time => decode_integer(bytes).map(Value::Time).ok_or(wrong_length),
        ResourceType::Float => decode_float(bytes).map(Value::Float).ok_or(wrong_length),
        ResourceType::Boolean => match bytes {
            [0] => Ok(Value::Boolean(false)),
            [1] => Ok(Value::Boolean(true)),
            [_] => Err(ValueError::Invalid(ty)),
            _ => Err(wrong_length),
        },
        ResourceType::ObjectLink => match bytes {
            [o1, o2, i1, i2] => Ok(Value::ObjectLink(
                u16::from_be_bytes([*o1, *o2]),
                u16::from_be_bytes([*i1, *i2]),
            )),
            _ => Err(wrong_length),
        },
        ResourceType::String => String::from_utf8(bytes.to_vec())
            .map(Value::String)
            .map_err(|_| ValueError::Utf8),
        ResourceType::Opaque => Ok(Value::Opaque(bytes.to_vec())),
    }
}

fn encode_integer(int: i64) -> Vec<u8> {
    if let Ok(small) = i8::try_from(int) {
        small.to_be_bytes().to_vec()
    } else if let Ok(small) = i16::try_from(int) {
        small.to_be_bytes().to_vec()
    } else if let Ok(small) = i32::try_from(int) {
        small.to_be_bytes().to_vec()
    } else {
        int.to_be_bytes().to_vec()
    }
}

fn decode_integer(bytes: &[u8]) -> Option<i64> {
    match bytes.len() {
        1 => bytes.try_into().ok().map(i8::from_be_bytes).map(i64::from),
        2 => bytes.try_into().ok().map(i16::from_be_bytes).map(i64::from),
        4 => bytes.try_into().ok().map(i32::from_be_bytes).map(i64::from),
        8 => bytes.try_into().ok().map(i64::from_be_bytes),
        _ => None,
    }
}

fn encode_float(float: f64) -> Vec<u8> {
    // Compare bits, not values, so that -0.0 and NaN payloads survive the round trip.
    let single = float as f32;
    if f64::from(single).to_bits() == float.to_bits() {
        single.to_be_bytes().to_vec()
    } else {
        float.to_be_bytes().to_vec()
    }
}

fn decode_float(bytes: &[u8]) -> Option<f64> {
    match bytes.len() {
        4 => bytes.try_into().ok().map(f32::from_be_bytes).map(f64::from),
        8 => bytes.try_into().ok().map(f64::from_be_bytes),
        _ => None,
    }
}

/// The encoded size of an entry, header included (saturating: oversize is reported on writing).
fn entry_len(entry: &Entry) -> usize {
    match entry {
        Entry::ObjectInstance { id, resources } => tlv_len(*id, resources_len(resources)),
        Entry::Resource(resource) => resource_len(resource),
        Entry::ResourceInstance(instance) => tlv_len(instance.id, instance.value.len()),
    }
}

fn resources_len(resources: &[Resource]) -> usize {
    resources
        .iter()
        .map(resource_len)
        .fold(0, usize::saturating_add)
}

fn resource_len(resource: &Resource) -> usize {
    match resource {
        Resource::Single { id, value } => tlv_len(*id, value.len()),
        Resource::Multiple { id, instances } => tlv_len(*id, instances_len(instances)),
    }
}

fn instances_len(instances: &[ResourceInstance]) -> usize {
    instances
        .iter()
        .map(|instance| tlv_len(instance.id, instance.value.len()))
        .fold(0, usize::saturating_add)
}

fn tlv_len(id: u16, value_len: usize) -> usize {
    let header_len = 1 + id_width(id) + length_width(value_len);
    header_len.saturating_add(value_len)
}

fn id_width(id: u16) -> usize {
    if id > 0xFF {
        2
    } else {
        1
    }
}

/// The bytes of the length field: none when the length fits in the type byte.
fn length_width(len: usize) -> usize {
    match len {
        0..=0x07 => 0,
        0x08..=0xFF => 1,
        0x100..=0xFFFF => 2,
        _ => 3,
    }
}

fn write_entry(out: &mut Vec<u8>, entry: &Entry) -> Result<(), TlvError> {
    match entry {
        Entry::ObjectInstance { id, resources } => {
            write_header(out, Kind::ObjectInstance, *id, resources_len(resources))?;
            resources
                .iter()
                .try_for_each(|resource| write_resource(out, resource))
        }
        Entry::Resource(resource) => write_resource(out, resource),
        Entry::ResourceInstance(instance) => write_instance(out, instance),
    }
}

fn write_resource(out: &mut Vec<u8>, resource: &Resource) -> Result<(), TlvError> {
    match resource {
        Resource::Single { id, value } => {
            write_header(out, Kind::Resource, *id, value.len())?;
            out.extend_from_slice(value);
            Ok(())
        }
        Resource::Multiple { id, instances } => {
            write_header(out, Kind::MultipleResource, *id, instances_len(instances))?;
            instances
                .iter()
                .try_for_each(|instance| write_instance(out, instance))
        }
    }
}

fn write_instance(out: &mut Vec<u8>, instance: &ResourceInstance) -> Result<(), TlvError> {
    write_header(
        out,
        Kind::ResourceInstance,
        instance.id,
        instance.value.len(),
    )?;
    out.extend_from_slice(&instance.value);
    Ok(())
}

fn write_header(out: &mut Vec<u8>, kind: Kind, id: u16, len: usize) -> Result<(), TlvError> {
    let offset = out.len();
    if id == RESERVED_ID {
        return Err(TlvError::ReservedId { offset });
    }
    if len > MAX_LEN {
        return Err(TlvError::TooLong { offset, len });
    }
    let kind_bits = match kind {
        Kind::ObjectInstance => 0x00,
        Kind::ResourceInstance => 0x40,
        Kind::MultipleResource => 0x80,
        Kind::Resource => 0xC0,
    };
    let id_bit = if id_width(id) == 2 { 0x20 } else { 0x00 };
    let width = length_width(len);
    // Lengths up to 7 live in bits 2-0; `len` is at most 24 bits here, so the casts are exact.
    let length_bits = if width == 0 {
        len as u8
    } else {
        (width as u8) << 3
    };
    out.push(kind_bits | id_bit | length_bits);
    out.extend(id.to_be_bytes().iter().skip(2 - id_width(id)));
    out.extend((len as u32).to_be_bytes().iter().skip(4 - width));
    Ok(())
}

/// A TLV header, with absolute positions in the payload.
struct Header {
    offset: usize,
    kind: Kind,
    id: u16,
    value_start: usize,
    value_end: usize,
}

/// The TLVs that follow one another in `bytes[start..end]`.
struct Headers<'a> {
    bytes: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Headers<'a> {
    fn new(bytes: &'a [u8], start: usize, end: usize) -> Self {
        Headers {
            bytes,
            pos: start,
            end,
        }
    }

    fn read(&self) -> Result<Header, TlvError> {
        let offset = self.pos;
        let truncated = TlvError::Truncated { offset };
        let room = self.bytes.get(offset..self.end).ok_or(truncated)?;
        let (&type_byte, rest) = room.split_first().ok_or(truncated)?;
        let id_width = if type_byte & 0x20 == 0 { 1 } else { 2 };
        let length_width = usize::from((type_byte >> 3) & 0x03);
        let id_bytes = rest.get(..id_width).ok_or(truncated)?;
        let length_bytes = rest
            .get(id_width..id_width + length_width)
            .ok_or(truncated)?;
        let id = match *id_bytes {
            [byte] => u16::from(byte),
            [high, low] => u16::from_be_bytes([high, low]),
            _ => return Err(truncated),
        };
        if id == RESERVED_ID {
            return Err(TlvError::ReservedId { offset });
        }
        let len = if length_width == 0 {
            usize::from(type_byte & 0x07)
        } else {
            read_be(length_bytes)
        };
        let value_start = offset + 1 + id_width + length_width;
        let available = self.end - value_start;
        if len > available {
            return Err(TlvError::LengthOverflow {
                offset,
                len,
                available,
            });
        }
        Ok(Header {
            offset,
            kind: kind_from_type(type_byte),
            id,
            value_start,
            value_end: value_start + len,
        })
    }
}

impl Iterator for Headers<'_> {
    type Item = Result<Header, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.end {
            return None;
        }
        let header = self.read();
        // After an error, stop: the position of the next TLV is unknown.
        self.pos = header.as_ref().map_or(self.end, |header| header.value_end);
        Some(header)
    }
}

/// A big-endian length field of one to three bytes.
fn read_be(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .fold(0, |acc, &byte| (acc << 8) | usize::from(byte))
}

fn kind_from_type(type_byte: u8) -> Kind {
    match type_byte >> 6 {
        0 => Kind::ObjectInstance,
        1 => Kind::ResourceInstance,
        2 => Kind::MultipleResource,
        _ => Kind::Resource,
    }
}

fn entry_from(bytes: &[u8], header: Header) -> Result<Entry, TlvError> {
    match header.kind {
        Kind::ObjectInstance => Ok(Entry::ObjectInstance {
            id: header.id,
            resources: children(bytes, &header)
                .map(|child| resource_from(bytes, child?))
                .collect::<Result<_, _>>()?,
        }),
        Kind::ResourceInstance => Ok(Entry::ResourceInstance(ResourceInstance {
            id: header.id,
            value: value_of(bytes, &header),
        })),
        // Both kinds `resource_from` accepts, so its nesting error cannot fire here.
        Kind::MultipleResource | Kind::Resource => {
            resource_from(bytes, header).map(Entry::Resource)
        }
    }
}

/// A resource, as found at top level or inside an Object Instance.
fn resource_from(bytes: &[u8], header: Header) -> Result<Resource, TlvError> {
    match header.kind {
        Kind::Resource => Ok(Resource::Single {
            id: header.id,
            value: value_of(bytes, &header),
        }),
        Kind::MultipleResource => Ok(Resource::Multiple {
            id: header.id,
            instances: children(bytes, &header)
                .map(|child| instance_from(bytes, child?))
                .collect::<Result<_, _>>()?,
        }),
        child => Err(TlvError::BadNesting {
            offset: header.offset,
            parent: Kind::ObjectInstance,
            child,
        }),
    }
}

/// A resource instance inside a Multiple Resource.
fn instance_from(bytes: &[u8], header: Header) -> Result<ResourceInstance, TlvError> {
    match header.kind {
        Kind::ResourceInstance => Ok(ResourceInstance {
            id: header.id,
            value: value_of(bytes, &header),
        }),
        child => Err(TlvError::BadNesting {
            offset: header.offset,
            parent: Kind::MultipleResource,
            child,
        }),
    }
}

fn children<'a>(bytes: &'a [u8], header: &Header) -> Headers<'a> {
    Headers::new(bytes, header.value_start, header.value_end)
}

fn value_of(bytes: &[u8], header: &Header) -> Vec<u8> {
    // The header reader checked the range against the payload; `unwrap_or_default` never fires.
    bytes
        .get(header.value_start..header.value_end)
        .unwrap_or_default()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(id: u16, value: &[u8]) -> Entry {
        Entry::Resource(Resource::Single {
            id,
            value: value.to_vec(),
        })
    }

    fn multiple(id: u16, instances: &[(u16, &[u8])]) -> Resource {
        Resource::Multiple {
            id,
            instances: instances
                .iter()
                .map(|(id, value)| ResourceInstance {
                    id: *id,
                    value: value.to_vec(),
                })
                .collect(),
        }
    }

    /// The Device object instance of OMA-TS-LightweightM2M-V1_0 §6.4.3.1 (read of `/3/0`), as
    /// bytes written out from the header rules in the module documentation.
    fn device_bytes() -> Vec<u8> {
        [
            // 0xC8 = Resource with Value, 8-bit id, 8-bit length field.
            &[0xC8, 0x00, 20][..],
            b"Open Mobile Alliance",
            &[0xC8, 0x01, 22],
            b"Lightweight M2M Client",
            &[0xC8, 0x02, 9],
            b"345000123",
            // 0xC3 = Resource with Value, length 3 in the type byte.
            &[0xC3, 0x03],
            b"1.0",
            // 0x86 = Multiple Resource of 6 bytes; 0x41 = Resource Instance of 1 byte.
            &[0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x01, 0x05],
            // 0x88 = Multiple Resource with an 8-bit length field: its 8 bytes do not fit in the
            // type byte. 0x42 = Resource Instance of 2 bytes: 3800 and 5000 mV.
            &[
                0x88, 0x07, 0x08, 0x42, 0x00, 0x0E, 0xD8, 0x42, 0x01, 0x13, 0x88,
            ],
            // 0x87 = Multiple Resource of 7 bytes: 125 and 900 mA.
            &[0x87, 0x08, 0x41, 0x00, 0x7D, 0x42, 0x01, 0x03, 0x84],
            &[0xC1, 0x09, 0x64],
            &[0xC1, 0x0A, 0x0F],
            &[0x83, 0x0B, 0x41, 0x00, 0x00],
            // 0xC4 = Resource with Value of 4 bytes: the time 1367491215.
            &[0xC4, 0x0D, 0x51, 0x82, 0x42, 0x8F],
            &[0xC6, 0x0E],
            b"+02:00",
            &[0xC1, 0x10],
            b"U",
        ]
        .concat()
    }

    fn device_entries() -> Vec<Entry> {
        vec![
            single(0, b"Open Mobile Alliance"),
            single(1, b"Lightweight M2M Client"),
            single(2, b"345000123"),
            single(3, b"1.0"),
            Entry::Resource(multiple(6, &[(0, &[0x01]), (1, &[0x05])])),
            Entry::Resource(multiple(7, &[(0, &[0x0E, 0xD8]), (1, &[0x13, 0x88])])),
            Entry::Resource(multiple(8, &[(0, &[0x7D]), (1, &[0x03, 0x84])])),
            single(9, &[0x64]),
            single(10, &[0x0F]),
            Entry::Resource(multiple(11, &[(0, &[0x00])])),
            single(13, &[0x51, 0x82, 0x42, 0x8F]),
            single(14, b"+02:00"),
            single(16, b"U"),
        ]
    }

    #[test]
    fn the_device_instance_decodes_and_encodes() {
        assert_eq!(decode(&device_bytes()), Ok(device_entries()));
        assert_eq!(encode(&device_entries()), Ok(device_bytes()));
    }

    #[test]
    fn the_device_values_read_as_their_types() {
        let entries = decode(&device_bytes()).unwrap();
        let value = |index: usize, ty| match &entries[index] {
            Entry::Resource(Resource::Single { value, .. }) => decode_value(value, ty),
            other => panic!("not a single resource: {other:?}"),
        };
        let manufacturer = Value::String("Open Mobile Alliance".into());
        assert_eq!(value(0, ResourceType::String), Ok(manufacturer));
        assert_eq!(value(7, ResourceType::Integer), Ok(Value::Integer(100)));
        assert_eq!(
            value(10, ResourceType::Time),
            Ok(Value::Time(1_367_491_215))
        );
        let Entry::Resource(Resource::Multiple { instances, .. }) = &entries[5] else {
            panic!("resource 7 is multiple");
        };
        let voltages: Vec<_> = instances
            .iter()
            .map(|instance| decode_value(&instance.value, ResourceType::Integer))
            .collect();
        assert_eq!(
            voltages,
            [Ok(Value::Integer(3800)), Ok(Value::Integer(5000))]
        );
    }

    /// Two Access Control object instances (read of `/2`, §6.4.3.2); instance 2 grants rights to
    /// server 310, whose 16-bit id needs type byte 0x61.
    #[test]
    fn object_instances_nest_resources() {
        let bytes = [
            0x08, 0x00, 0x0E, // Object Instance 0, 14 bytes
            0xC1, 0x00, 0x01, 0xC1, 0x01, 0x00, //
            0x83, 0x02, 0x41, 0x7F, 0x07, // Multiple Resource 2: {127: 7}
            0xC1, 0x03, 0x7F, //
            0x08, 0x02, 0x12, // Object Instance 2, 18 bytes
            0xC1, 0x00, 0x03, 0xC1, 0x01, 0x00, //
            0x87, 0x02, 0x41, 0x7F, 0x07, 0x61, 0x01, 0x36, 0x01, // {127: 7, 310: 1}
            0xC1, 0x03, 0x7F,
        ];
        let instance = |id, object: u8, acl| Entry::ObjectInstance {
            id,
            resources: vec![
                Resource::Single {
                    id: 0,
                    value: vec![object],
                },
                Resource::Single {
                    id: 1,
                    value: vec![0],
                },
                acl,
                Resource::Single {
                    id: 3,
                    value: vec![0x7F],
                },
            ],
        };
        let entries = vec![
            instance(0, 1, multiple(2, &[(127, &[7])])),
            instance(2, 3, multiple(2, &[(127, &[7]), (310, &[1])])),
        ];
        assert_eq!(decode(&bytes), Ok(entries.clone()));
        assert_eq!(encode(&entries), Ok(bytes.to_vec()));
    }

    #[test]
    fn headers_grow_with_ids_and_lengths() {
        let cases: [(u16, usize, &[u8]); 6] = [
            (5, 7, &[0xC7, 0x05]),
            (5, 8, &[0xC8, 0x05, 0x08]),
            (300, 1, &[0xE1, 0x01, 0x2C]),
            (5, 0x100, &[0xD0, 0x05, 0x01, 0x00]),
            (5, 0x1_0000, &[0xD8, 0x05, 0x01, 0x00, 0x00]),
            (65534, 0xFFFF, &[0xF0, 0xFF, 0xFE, 0xFF, 0xFF]),
        ];
        for (id, len, header) in cases {
            let entry = single(id, &vec![0xAA; len]);
            let bytes = encode(std::slice::from_ref(&entry)).unwrap();
            assert_eq!(&bytes[..header.len()], header, "id {id}, length {len}");
            assert_eq!(bytes.len(), header.len() + len);
            assert_eq!(decode(&bytes), Ok(vec![entry]));
        }
    }

    #[test]
    fn longer_headers_than_needed_are_accepted() {
        // A 16-bit id of 5, then an 8-bit length field of 1.
        assert_eq!(
            decode(&[0xE1, 0x00, 0x05, 0xAA]),
            Ok(vec![single(5, &[0xAA])])
        );
        assert_eq!(
            decode(&[0xC8, 0x05, 0x01, 0xAA]),
            Ok(vec![single(5, &[0xAA])])
        );
    }

    #[test]
    fn empty_payloads_and_containers_are_valid() {
        assert_eq!(decode(&[]), Ok(vec![]));
        let empty = vec![
            Entry::ObjectInstance {
                id: 1,
                resources: vec![],
            },
            Entry::Resource(multiple(2, &[])),
            single(3, &[]),
            Entry::ResourceInstance(ResourceInstance {
                id: 4,
                value: vec![],
            }),
        ];
        let bytes = [0x00, 0x01, 0x80, 0x02, 0xC0, 0x03, 0x40, 0x04];
        assert_eq!(decode(&bytes), Ok(empty.clone()));
        assert_eq!(encode(&empty), Ok(bytes.to_vec()));
    }

    #[test]
    fn cut_headers_are_truncated() {
        let cases: [&[u8]; 5] = [
            &[0xC8],
            &[0xC8, 0x00],
            &[0xE1, 0x01],
            &[0xD8, 0x00, 0x01, 0x00],
            // Object Instance of 1 byte: only a type byte fits inside it.
            &[0x01, 0x00, 0xC1, 0x00, 0x05],
        ];
        let offsets = [0, 0, 0, 0, 2];
        for (bytes, offset) in cases.into_iter().zip(offsets) {
            assert_eq!(
                decode(bytes),
                Err(TlvError::Truncated { offset }),
                "{bytes:02X?}"
            );
        }
    }

    #[test]
    fn lengths_past_the_end_overflow() {
        assert_eq!(
            decode(&[0xC3, 0x00, 0x31]),
            Err(TlvError::LengthOverflow {
                offset: 0,
                len: 3,
                available: 1
            })
        );
        assert_eq!(
            decode(&[0xD8, 0x00, 0xFF, 0xFF, 0xFF]),
            Err(TlvError::LengthOverflow {
                offset: 0,
                len: 0xFF_FFFF,
                available: 0
            })
        );
        // The payload goes on, but the Object Instance holds only three bytes.
        assert_eq!(
            decode(&[0x03, 0x00, 0xC3, 0x00, 0x31, 0x32, 0x33]),
            Err(TlvError::LengthOverflow {
                offset: 2,
                len: 3,
                available: 1
            })
        );
        // A good entry followed by a cut one.
        assert_eq!(
            decode(&[0xC1, 0x00, 0x01, 0xC2, 0x01, 0x00]),
            Err(TlvError::LengthOverflow {
                offset: 3,
                len: 2,
                available: 1
            })
        );
    }

    #[test]
    fn bad_nesting_is_refused() {
        use Kind::*;
        let cases: [(&[u8], Kind, Kind); 4] = [
            (
                &[0x03, 0x00, 0x41, 0x00, 0x01],
                ObjectInstance,
                ResourceInstance,
            ),
            (&[0x02, 0x00, 0x00, 0x01], ObjectInstance, ObjectInstance),
            (&[0x83, 0x06, 0xC1, 0x00, 0x01], MultipleResource, Resource),
            (
                &[0x82, 0x06, 0x80, 0x00],
                MultipleResource,
                MultipleResource,
            ),
        ];
        for (bytes, parent, child) in cases {
            assert_eq!(
                decode(bytes),
                Err(TlvError::BadNesting {
                    offset: 2,
                    parent,
                    child
                }),
                "{bytes:02X?}"
            );
        }
    }

    #[test]
    fn the_reserved_id_is_refused() {
        assert_eq!(
            decode(&[0xE1, 0xFF, 0xFF, 0x00]),
            Err(TlvError::ReservedId { offset: 0 })
        );
        let nested = [Entry::ObjectInstance {
            id: 0,
            resources: vec![multiple(1, &[(65535, &[])])],
        }];
        assert_eq!(encode(&nested), Err(TlvError::ReservedId { offset: 4 }));
    }

    #[test]
    fn values_longer_than_24_bits_cannot_be_encoded() {
        let entry = single(1, &vec![0; MAX_LEN + 1]);
        assert_eq!(
            encode(&[entry]),
            Err(TlvError::TooLong {
                offset: 0,
                len: MAX_LEN + 1
            })
        );
    }

    #[test]
    fn integers_take_the_shortest_width() {
        let cases: [(i64, &[u8]); 9] = [
            (0, &[0x00]),
            (127, &[0x7F]),
            (-128, &[0x80]),
            (128, &[0x00, 0x80]),
            (-129, &[0xFF, 0x7F]),
            (32_768, &[0x00, 0x00, 0x80, 0x00]),
            (i64::from(i32::MIN), &[0x80, 0x00, 0x00, 0x00]),
            (1 << 31, &[0, 0, 0, 0, 0x80, 0, 0, 0]),
            (i64::MIN, &[0x80, 0, 0, 0, 0, 0, 0, 0]),
        ];
        for (int, bytes) in cases {
            assert_eq!(encode_value(&Value::Integer(int)), bytes, "{int}");
            assert_eq!(
                decode_value(bytes, ResourceType::Integer),
                Ok(Value::Integer(int))
            );
        }
    }

    #[test]
    fn typed_values_have_fixed_encodings() {
        let cases: [(Value, &[u8]); 7] = [
            (Value::Float(1.5), &[0x3F, 0xC0, 0x00, 0x00]),
            (
                Value::Float(0.1),
                &[0x3F, 0xB9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9A],
            ),
            (Value::Boolean(true), &[0x01]),
            (Value::Boolean(false), &[0x00]),
            (Value::ObjectLink(1, 0), &[0x00, 0x01, 0x00, 0x00]),
            (Value::Time(1_367_491_215), &[0x51, 0x82, 0x42, 0x8F]),
            (Value::Opaque(vec![0xDE, 0xAD]), &[0xDE, 0xAD]),
        ];
        for (value, bytes) in cases {
            assert_eq!(encode_value(&value), bytes, "{value:?}");
            assert_eq!(decode_value(bytes, value.resource_type()), Ok(value));
        }
    }

    #[test]
    fn malformed_values_are_refused() {
        use ResourceType::*;
        let length = |ty, len| Err(ValueError::Length { ty, len });
        assert_eq!(decode_value(&[0; 3], Integer), length(Integer, 3));
        assert_eq!(decode_value(&[], Time), length(Time, 0));
        assert_eq!(decode_value(&[0; 2], Float), length(Float, 2));
        assert_eq!(decode_value(&[0; 2], Boolean), length(Boolean, 2));
        assert_eq!(decode_value(&[0; 3], ObjectLink), length(ObjectLink, 3));
        assert_eq!(
            decode_value(&[2], Boolean),
            Err(ValueError::Invalid(Boolean))
        );
        assert_eq!(decode_value(&[0xC3, 0x28], String), Err(ValueError::Utf8));
    }
}
