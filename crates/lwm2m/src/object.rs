//! The client's object model: objects, their resource definitions and values, and how Read,
//! Write, Execute and Discover map onto them in each content format.
//!
//! An [`Object`] serves one object id and its instances. [`DataObject`] is an object backed by plain
//! data, enough for most objects a module exposes (0, 1, 3, 19, 666…); a layer above can implement
//! [`Object`] itself for special behaviour. The [`ObjectStore`] holds a client's objects and does the
//! encoding: plain text or opaque for one resource, TLV for anything larger.

use crate::content::{link, senml, text, tlv, ContentFormat, Path, ResourceType, Value};
use nbmodem_coap::Status;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// What may be done with a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operations {
    Read,
    Write,
    ReadWrite,
    Execute,
}

impl Operations {
    fn readable(self) -> bool {
        matches!(self, Operations::Read | Operations::ReadWrite)
    }

    fn writable(self) -> bool {
        matches!(self, Operations::Write | Operations::ReadWrite)
    }
}

/// One resource of an object definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceDef {
    pub id: u16,
    pub kind: ResourceType,
    pub multiple: bool,
    pub operations: Operations,
}

impl ResourceDef {
    pub const fn new(id: u16, kind: ResourceType, operations: Operations) -> Self {
        ResourceDef {
            id,
            kind,
            multiple: false,
            operations,
        }
    }

    pub const fn multiple(id: u16, kind: ResourceType, operations: Operations) -> Self {
        ResourceDef {
            id,
            kind,
            multiple: true,
            operations,
        }
    }
}

/// A resource's value: one value, or instances of a multiple resource.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceValue {
    Single(Value),
    Multiple(Vec<(u16, Value)>),
}

/// Why an operation on the object model failed; each maps to a CoAP response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lwm2mError {
    NotFound,
    MethodNotAllowed,
    BadRequest,
    NotAcceptable,
    UnsupportedContentFormat,
}

impl Lwm2mError {
    pub fn status(self) -> Status {
        match self {
            Lwm2mError::NotFound => Status::NotFound,
            Lwm2mError::MethodNotAllowed => Status::MethodNotAllowed,
            Lwm2mError::BadRequest => Status::BadRequest,
            Lwm2mError::NotAcceptable => Status::NotAcceptable,
            Lwm2mError::UnsupportedContentFormat => Status::UnsupportedContentFormat,
        }
    }
}

/// One object and its instances.
pub trait Object: Send {
    fn id(&self) -> u16;
    fn definitions(&self) -> &[ResourceDef];
    fn instances(&self) -> Vec<u16>;
    /// The value of a resource (only called for readable resources of existing instances).
    fn read(&self, instance: u16, resource: u16) -> Option<ResourceValue>;
    /// Stores a value (only called for writable resources of existing instances).
    fn write(
        &mut self,
        instance: u16,
        resource: u16,
        value: ResourceValue,
    ) -> Result<(), Lwm2mError>;
    /// Runs an executable resource.
    fn execute(&mut self, instance: u16, resource: u16, arguments: &[u8])
        -> Result<(), Lwm2mError>;
    /// The object as `Any`, so that its owner can reach its concrete type.
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

/// An object backed by plain data: writes store the value, execute does nothing itself (the client
/// reports it as an event).
#[derive(Debug, Clone)]
pub struct DataObject {
    id: u16,
    /// The object's definition: a `'static` table shared by every device of a model, or a
    /// vector of its own.
    definitions: Cow<'static, [ResourceDef]>,
    /// Instances in id order, each with its resources in id order. Sorted vectors rather than
    /// maps, grown one entry at a time ([`insert_exact`]): an object has a handful of entries,
    /// and thousands of simulated devices each hold several objects.
    values: Vec<(u16, Vec<(u16, ResourceValue)>)>,
}

/// Inserts `item` at `index`, growing the vector by exactly one slot: a vector's usual growth
/// (room for four at the first push) would mostly stay empty here.
fn insert_exact<T>(items: &mut Vec<T>, index: usize, item: T) {
    items.reserve_exact(1);
    items.insert(index, item);
}

impl DataObject {
    pub fn new(id: u16, definitions: Vec<ResourceDef>) -> Self {
        DataObject {
            id,
            definitions: Cow::Owned(definitions),
            values: Vec::new(),
        }
    }

    /// An object of a definition every device of a model shares: nothing of it is copied.
    pub fn with_table(id: u16, definitions: &'static [ResourceDef]) -> Self {
        DataObject {
            id,
            definitions: Cow::Borrowed(definitions),
            values: Vec::new(),
        }
    }

    /// The resources of `instance`, created when missing.
    fn instance_mut(&mut self, instance: u16) -> &mut Vec<(u16, ResourceValue)> {
        let index = match self.values.binary_search_by_key(&instance, |(id, _)| *id) {
            Ok(index) => index,
            Err(index) => {
                insert_exact(&mut self.values, index, (instance, Vec::new()));
                index
            }
        };
        &mut self.values[index].1
    }

    /// Adds (or keeps) instance `instance`.
    pub fn with_instance(mut self, instance: u16) -> Self {
        self.instance_mut(instance);
        self
    }

    /// Sets a value directly (the device's side, not the server's).
    pub fn set(&mut self, instance: u16, resource: u16, value: ResourceValue) {
        let resources = self.instance_mut(instance);
        match resources.binary_search_by_key(&resource, |(id, _)| *id) {
            Ok(index) => resources[index].1 = value,
            Err(index) => insert_exact(resources, index, (resource, value)),
        }
    }

    pub fn get(&self, instance: u16, resource: u16) -> Option<&ResourceValue> {
        let (_, resources) = self.values.iter().find(|(id, _)| *id == instance)?;
        resources
            .iter()
            .find(|(id, _)| *id == resource)
            .map(|(_, value)| value)
    }
}

impl Object for DataObject {
    fn id(&self) -> u16 {
        self.id
    }

    fn definitions(&self) -> &[ResourceDef] {
        &self.definitions
    }

    fn instances(&self) -> Vec<u16> {
        self.values.iter().map(|(id, _)| *id).collect()
    }

    fn read(&self, instance: u16, resource: u16) -> Option<ResourceValue> {
        self.get(instance, resource).cloned()
    }

    fn write(
        &mut self,
        instance: u16,
        resource: u16,
        value: ResourceValue,
    ) -> Result<(), Lwm2mError> {
        self.set(instance, resource, value);
        Ok(())
    }

    fn execute(&mut self, _: u16, _: u16, _: &[u8]) -> Result<(), Lwm2mError> {
        Ok(())
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// A client's objects.
#[derive(Default)]
pub struct ObjectStore {
    /// In id order.
    objects: Vec<Box<dyn Object>>,
}

/// An encoded representation: Content-Format and bytes.
pub type Encoded = (u16, Vec<u8>);

impl ObjectStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, object: impl Object + 'static) {
        let id = object.id();
        match self.objects.binary_search_by_key(&id, |o| o.id()) {
            Ok(index) => self.objects[index] = Box::new(object),
            Err(index) => insert_exact(&mut self.objects, index, Box::new(object)),
        }
    }

    pub fn object_mut(&mut self, id: u16) -> Option<&mut (dyn Object + 'static)> {
        self.objects
            .iter_mut()
            .find(|o| o.id() == id)
            .map(|b| b.as_mut())
    }

    /// An object of the store as its concrete type (a [`DataObject`], say), to change its values.
    pub fn object_as<T: 'static>(&mut self, id: u16) -> Option<&mut T> {
        self.object_mut(id)?.as_any_mut().downcast_mut()
    }

    /// The registration payload: `</1/0>,</3/0>,…`, every instance of every object except the
    /// Security object (0) unless `include_security`, preceded by `root` when given
    /// (e.g. `</>;rt="oma.lwm2m"`).
    pub fn registration_links(&self, include_security: bool, root: Option<&str>) -> String {
        let mut parts: Vec<String> = root.map(String::from).into_iter().collect();
        for object in self
            .objects
            .iter()
            .filter(|o| include_security || o.id() != 0)
        {
            let instances = object.instances();
            if instances.is_empty() {
                parts.push(format!("</{}>", object.id()));
            }
            parts.extend(instances.iter().map(|i| format!("</{}/{i}>", object.id())));
        }
        parts.join(",")
    }

    /// Read: one resource as text or opaque (or TLV when asked), anything larger as TLV.
    pub fn read(&self, path: Path, accept: Option<u16>) -> Result<Encoded, Lwm2mError> {
        let object = self
            .objects
            .iter()
            .find(|o| o.id() == path.object())
            .ok_or(Lwm2mError::NotFound)?;
        match (path.instance(), path.resource()) {
            (None, _) => {
                let entries = object
                    .instances()
                    .into_iter()
                    .map(|i| {
                        Ok(tlv::Entry::ObjectInstance {
                            id: i,
                            resources: read_instance(object.as_ref(), i)?,
                        })
                    })
                    .collect::<Result<Vec<_>, Lwm2mError>>()?;
                encode_tlv(&entries, accept)
            }
            (Some(instance), None) => {
                check_instance(object.as_ref(), instance)?;
                let resources = read_instance(object.as_ref(), instance)?;
                encode_tlv(
                    &resources
                        .into_iter()
                        .map(tlv::Entry::Resource)
                        .collect::<Vec<_>>(),
                    accept,
                )
            }
            (Some(instance), Some(resource)) => {
                read_resource(object.as_ref(), instance, resource, accept)
            }
        }
    }

    /// Write (replace or partial update) of an instance or a resource; returns the paths written.
    pub fn write(
        &mut self,
        path: Path,
        format: Option<u16>,
        payload: &[u8],
    ) -> Result<Vec<Path>, Lwm2mError> {
        let object = self
            .objects
            .iter_mut()
            .find(|o| o.id() == path.object())
            .ok_or(Lwm2mError::NotFound)?;
        let instance = path.instance().ok_or(Lwm2mError::MethodNotAllowed)?;
        check_instance(object.as_ref(), instance)?;
        let values = decode_write(object.definitions(), path, format, payload)?;
        let mut written = Vec::new();
        for (resource, value) in values {
            let def = definition(object.as_ref(), resource)?;
            if !def.operations.writable() {
                return Err(Lwm2mError::MethodNotAllowed);
            }
            object.write(instance, resource, value)?;
            written.push(
                Path::new(&[path.object(), instance, resource])
                    .map_err(|_| Lwm2mError::BadRequest)?,
            );
        }
        Ok(written)
    }

    pub fn execute(&mut self, path: Path, arguments: &[u8]) -> Result<(), Lwm2mError> {
        let object = self
            .objects
            .iter_mut()
            .find(|o| o.id() == path.object())
            .ok_or(Lwm2mError::NotFound)?;
        let (Some(instance), Some(resource)) = (path.instance(), path.resource()) else {
            return Err(Lwm2mError::MethodNotAllowed);
        };
        check_instance(object.as_ref(), instance)?;
        if definition(object.as_ref(), resource)?.operations != Operations::Execute {
            return Err(Lwm2mError::MethodNotAllowed);
        }
        object.execute(instance, resource, arguments)
    }

    /// Discover: the links of an object, an instance or a resource, with `attributes` appended to
    /// the link of `path` itself.
    pub fn discover(&self, path: Path, attributes: &str) -> Result<String, Lwm2mError> {
        let object = self
            .objects
            .iter()
            .find(|o| o.id() == path.object())
            .ok_or(Lwm2mError::NotFound)?;
        // `Path` displays with its leading slash: `/3/0` links as `</3/0>`.
        let own = format!("<{path}>");
        let with_attributes = |target: String| {
            if target == own {
                target + attributes
            } else {
                target
            }
        };
        let mut links = Vec::new();
        let instances = match path.instance() {
            Some(i) => {
                check_instance(object.as_ref(), i)?;
                vec![i]
            }
            None => {
                links.push(with_attributes(format!("<{path}>")));
                object.instances()
            }
        };
        for instance in instances {
            links.push(with_attributes(format!("</{}/{instance}>", path.object())));
            for def in object.definitions() {
                let in_scope = path.resource().is_none_or(|r| r == def.id);
                if in_scope
                    && (object.read(instance, def.id).is_some()
                        || def.operations == Operations::Execute)
                {
                    links.push(with_attributes(format!(
                        "</{}/{instance}/{}>",
                        path.object(),
                        def.id
                    )));
                }
            }
        }
        if path.resource().is_some() && links.len() <= 1 {
            return Err(Lwm2mError::NotFound);
        }
        // Keep the link-format rules: a parser must read back what we write.
        let joined = links.join(",");
        link::parse(joined.as_bytes()).map_err(|_| Lwm2mError::BadRequest)?;
        Ok(joined)
    }
}

fn check_instance(object: &dyn Object, instance: u16) -> Result<(), Lwm2mError> {
    object
        .instances()
        .contains(&instance)
        .then_some(())
        .ok_or(Lwm2mError::NotFound)
}

fn definition(object: &dyn Object, resource: u16) -> Result<ResourceDef, Lwm2mError> {
    object
        .definitions()
        .iter()
        .find(|d| d.id == resource)
        .copied()
        .ok_or(Lwm2mError::NotFound)
}

/// Every readable resource with a value, as TLV resources.
fn read_instance(object: &dyn Object, instance: u16) -> Result<Vec<tlv::Resource>, Lwm2mError> {
    Ok(object
        .definitions()
        .iter()
        .filter(|d| d.operations.readable())
        .filter_map(|d| object.read(instance, d.id).map(|v| tlv_resource(d.id, &v)))
        .collect())
}

fn tlv_resource(id: u16, value: &ResourceValue) -> tlv::Resource {
    match value {
        ResourceValue::Single(v) => tlv::Resource::Single {
            id,
            value: tlv::encode_value(v),
        },
        ResourceValue::Multiple(items) => tlv::Resource::Multiple {
            id,
            instances: items
                .iter()
                .map(|(i, v)| tlv::ResourceInstance {
                    id: *i,
                    value: tlv::encode_value(v),
                })
                .collect(),
        },
    }
}

fn read_resource(
    object: &dyn Object,
    instance: u16,
    resource: u16,
    accept: Option<u16>,
) -> Result<Encoded, Lwm2mError> {
    check_instance(object, instance)?;
    let def = definition(object, resource)?;
    if !def.operations.readable() {
        return Err(Lwm2mError::MethodNotAllowed);
    }
    let value = object
        .read(instance, resource)
        .ok_or(Lwm2mError::NotFound)?;
    let single = match (&value, accept.map(ContentFormat::try_from)) {
        (
            ResourceValue::Single(v),
            None | Some(Ok(ContentFormat::Text | ContentFormat::Opaque)),
        ) => v,
        _ => {
            return encode_tlv(
                &[tlv::Entry::Resource(tlv_resource(resource, &value))],
                accept,
            )
        }
    };
    match (single, accept) {
        (Value::Opaque(bytes), None | Some(42)) => {
            Ok((ContentFormat::Opaque.code(), bytes.clone()))
        }
        (Value::Opaque(_), _) => Err(Lwm2mError::NotAcceptable),
        (v, None | Some(0)) => {
            let text = text::encode(v).map_err(|_| Lwm2mError::NotAcceptable)?;
            Ok((ContentFormat::Text.code(), text.into_bytes()))
        }
        _ => Err(Lwm2mError::NotAcceptable),
    }
}

fn encode_tlv(entries: &[tlv::Entry], accept: Option<u16>) -> Result<Encoded, Lwm2mError> {
    if accept.is_some_and(|a| a != ContentFormat::Tlv.code()) {
        return Err(Lwm2mError::NotAcceptable);
    }
    let bytes = tlv::encode(entries).map_err(|_| Lwm2mError::BadRequest)?;
    Ok((ContentFormat::Tlv.code(), bytes))
}

/// The values a Write carries, by resource id, typed by the object's definitions.
fn decode_write(
    definitions: &[ResourceDef],
    path: Path,
    format: Option<u16>,
    payload: &[u8],
) -> Result<Vec<(u16, ResourceValue)>, Lwm2mError> {
    let kind_of = |id: u16| {
        definitions
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.kind)
            .ok_or(Lwm2mError::NotFound)
    };
    let format = ContentFormat::try_from(format.unwrap_or(0))
        .map_err(|_| Lwm2mError::UnsupportedContentFormat)?;
    match (format, path.resource()) {
        (ContentFormat::Text, Some(r)) => {
            let value = text::decode(payload, kind_of(r)?).map_err(|_| Lwm2mError::BadRequest)?;
            Ok(vec![(r, ResourceValue::Single(value))])
        }
        (ContentFormat::Opaque, Some(r)) => Ok(vec![(
            r,
            ResourceValue::Single(Value::Opaque(payload.to_vec())),
        )]),
        (ContentFormat::SenmlJson, _) => {
            let records = senml::decode(payload).map_err(|_| Lwm2mError::BadRequest)?;
            senml_resources(path, records, &kind_of)
        }
        (ContentFormat::Tlv, _) => {
            let entries = tlv::decode(payload).map_err(|_| Lwm2mError::BadRequest)?;
            let resources = flatten_resources(entries, path.instance());
            resources
                .into_iter()
                .filter(|r| path.resource().is_none_or(|want| resource_id(r) == want))
                .map(|r| typed_resource(r, &kind_of))
                .collect()
        }
        _ => Err(Lwm2mError::UnsupportedContentFormat),
    }
}

/// The resources of a SenML Write under `path`: single values, or instances of multiple resources.
fn senml_resources(
    path: Path,
    records: Vec<(Path, Value)>,
    kind_of: &impl Fn(u16) -> Result<ResourceType, Lwm2mError>,
) -> Result<Vec<(u16, ResourceValue)>, Lwm2mError> {
    let mut resources: BTreeMap<u16, ResourceValue> = BTreeMap::new();
    for (record, value) in records {
        let (Some(resource), true) = (record.resource(), record.ids().starts_with(path.ids()))
        else {
            return Err(Lwm2mError::BadRequest);
        };
        let value = coerce(value, kind_of(resource)?)?;
        match record.resource_instance() {
            None => {
                resources.insert(resource, ResourceValue::Single(value));
            }
            Some(instance) => match resources
                .entry(resource)
                .or_insert(ResourceValue::Multiple(Vec::new()))
            {
                ResourceValue::Multiple(items) => items.push((instance, value)),
                ResourceValue::Single(_) => return Err(Lwm2mError::BadRequest),
            },
        }
    }
    Ok(resources.into_iter().collect())
}

/// SenML carries numbers without their LwM2M type: an integer may stand for a time or a float.
fn coerce(value: Value, kind: ResourceType) -> Result<Value, Lwm2mError> {
    match (value, kind) {
        (value, kind) if value.resource_type() == kind => Ok(value),
        (Value::Integer(i), ResourceType::Time) => Ok(Value::Time(i)),
        (Value::Integer(i), ResourceType::Float) => Ok(Value::Float(i as f64)),
        _ => Err(Lwm2mError::BadRequest),
    }
}

fn resource_id(resource: &tlv::Resource) -> u16 {
    match resource {
        tlv::Resource::Single { id, .. } | tlv::Resource::Multiple { id, .. } => *id,
    }
}

/// The resources of a TLV body, whether wrapped in the instance's Object Instance entry or not.
fn flatten_resources(entries: Vec<tlv::Entry>, instance: Option<u16>) -> Vec<tlv::Resource> {
    entries
        .into_iter()
        .flat_map(|entry| match entry {
            tlv::Entry::ObjectInstance { id, resources } if Some(id) == instance => resources,
            tlv::Entry::ObjectInstance { .. } => Vec::new(),
            tlv::Entry::Resource(r) => vec![r],
            tlv::Entry::ResourceInstance(_) => Vec::new(),
        })
        .collect()
}

fn typed_resource(
    resource: tlv::Resource,
    kind_of: &impl Fn(u16) -> Result<ResourceType, Lwm2mError>,
) -> Result<(u16, ResourceValue), Lwm2mError> {
    let decode =
        |bytes: &[u8], kind| tlv::decode_value(bytes, kind).map_err(|_| Lwm2mError::BadRequest);
    match resource {
        tlv::Resource::Single { id, value } => {
            Ok((id, ResourceValue::Single(decode(&value, kind_of(id)?)?)))
        }
        tlv::Resource::Multiple { id, instances } => {
            let kind = kind_of(id)?;
            let items = instances
                .iter()
                .map(|i| Ok((i.id, decode(&i.value, kind)?)))
                .collect::<Result<Vec<_>, Lwm2mError>>()?;
            Ok((id, ResourceValue::Multiple(items)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_in_id_order_without_spare_room() {
        const DEFS: &[ResourceDef] = &[ResourceDef::new(
            0,
            ResourceType::Integer,
            Operations::ReadWrite,
        )];
        let defs = DEFS;
        let mut object = DataObject::with_table(7, defs)
            .with_instance(2)
            .with_instance(0);
        for resource in [5, 1, 3] {
            object.set(
                2,
                resource,
                ResourceValue::Single(Value::Integer(resource.into())),
            );
        }
        object.set(2, 1, ResourceValue::Single(Value::Integer(10)));
        assert_eq!(object.instances(), [0, 2]);
        assert_eq!(object.values.capacity(), 2);
        let resources = &object.values[1].1;
        let ids: Vec<u16> = resources.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [1, 3, 5]);
        assert_eq!(resources.capacity(), 3);
        assert_eq!(
            object.get(2, 1),
            Some(&ResourceValue::Single(Value::Integer(10)))
        );
        assert_eq!(object.definitions(), defs);
    }
}
