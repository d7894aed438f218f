//! LwM2M Object 5, Firmware Update, as the BC260Y-CN's CT IoT link serves it (protocols.md §5):
//! the package URI, the update, its state and result, pull delivery only.
//!
//! The data is plain; what is not is the Execute of /5/0/2, which the object refuses unless it
//! can be done: with arguments 4.00 (the update takes none), and 4.05 unless a package is
//! downloaded (state 2). A refused Execute never reaches the download service.

use nbmodem_lwm2m::content::{ResourceType, Value};
use nbmodem_lwm2m::object::{
    DataObject, Lwm2mError, Object, Operations, ResourceDef, ResourceValue,
};
use nbmodem_operators::ctiot::firmware::{
    self, state, DELIVERY_METHOD, PACKAGE_URI, STATE, UPDATE, UPDATE_RESULT,
};

/// What the link and the firmware update tell each other about Object 5 (carried as a
/// [`crate::service::Message`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirmwareMessage {
    /// The platform wrote a firmware package URI to /5/0/1.
    PackageUri(String),
    /// The platform executed /5/0/2.
    UpdateFirmware,
    /// The firmware update's state (/5/0/3) and result (/5/0/5) are now these.
    FirmwareState { state: u8, result: u8 },
}

/// Object 5's resources the modules serve. One table for every module.
const RESOURCES: &[ResourceDef] = &[
    ResourceDef::new(PACKAGE_URI, ResourceType::String, Operations::ReadWrite),
    ResourceDef::new(UPDATE, ResourceType::Opaque, Operations::Execute),
    ResourceDef::new(STATE, ResourceType::Integer, Operations::Read),
    ResourceDef::new(UPDATE_RESULT, ResourceType::Integer, Operations::Read),
    ResourceDef::new(DELIVERY_METHOD, ResourceType::Integer, Operations::Read),
];

/// Object 5, instance 0.
pub struct FirmwareObject(DataObject);

impl FirmwareObject {
    /// With this state and result (as NVRAM keeps them), and no URI.
    pub fn new(state: u8, result: u8) -> Self {
        let mut object = DataObject::with_table(firmware::OBJECT, RESOURCES).with_instance(0);
        object.set(
            0,
            PACKAGE_URI,
            ResourceValue::Single(Value::String(String::new())),
        );
        object.set(0, DELIVERY_METHOD, ResourceValue::Single(Value::Integer(0)));
        let mut object = FirmwareObject(object);
        object.set_state(state, result);
        object
    }

    /// Sets the state and the update result.
    pub fn set_state(&mut self, state: u8, result: u8) {
        let int = |v: u8| ResourceValue::Single(Value::Integer(i64::from(v)));
        self.0.set(0, STATE, int(state));
        self.0.set(0, UPDATE_RESULT, int(result));
    }

    /// What the platform wrote to /5/0/1.
    pub fn package_uri(&self) -> Option<String> {
        match self.0.get(0, PACKAGE_URI) {
            Some(ResourceValue::Single(Value::String(uri))) => Some(uri.clone()),
            _ => None,
        }
    }

    fn state(&self) -> Option<u8> {
        match self.0.get(0, STATE) {
            Some(ResourceValue::Single(Value::Integer(state))) => u8::try_from(*state).ok(),
            _ => None,
        }
    }
}

impl Object for FirmwareObject {
    fn id(&self) -> u16 {
        self.0.id()
    }

    fn definitions(&self) -> &[ResourceDef] {
        self.0.definitions()
    }

    fn instances(&self) -> Vec<u16> {
        self.0.instances()
    }

    fn read(&self, instance: u16, resource: u16) -> Option<ResourceValue> {
        self.0.read(instance, resource)
    }

    fn write(
        &mut self,
        instance: u16,
        resource: u16,
        value: ResourceValue,
    ) -> Result<(), Lwm2mError> {
        self.0.write(instance, resource, value)
    }

    fn execute(
        &mut self,
        instance: u16,
        resource: u16,
        arguments: &[u8],
    ) -> Result<(), Lwm2mError> {
        if resource == UPDATE && !arguments.is_empty() {
            return Err(Lwm2mError::BadRequest);
        }
        if resource == UPDATE && self.state() != Some(state::DOWNLOADED) {
            return Err(Lwm2mError::MethodNotAllowed);
        }
        self.0.execute(instance, resource, arguments)
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_update_is_executed_only_without_arguments_on_a_downloaded_package() {
        let mut object = FirmwareObject::new(state::IDLE, 0);
        assert_eq!(
            object.execute(0, UPDATE, b""),
            Err(Lwm2mError::MethodNotAllowed)
        );
        object.set_state(state::DOWNLOADING, 0);
        assert_eq!(
            object.execute(0, UPDATE, b""),
            Err(Lwm2mError::MethodNotAllowed)
        );
        object.set_state(state::DOWNLOADED, 0);
        assert_eq!(
            object.execute(0, UPDATE, b"0='x'"),
            Err(Lwm2mError::BadRequest)
        );
        assert_eq!(object.execute(0, UPDATE, b""), Ok(()));
    }

    #[test]
    fn the_package_uri_is_what_was_written() {
        let mut object = FirmwareObject::new(state::IDLE, 0);
        assert_eq!(object.package_uri().as_deref(), Some(""));
        let uri = ResourceValue::Single(Value::String("coap://h/fota/p1".into()));
        object.write(0, PACKAGE_URI, uri).unwrap();
        assert_eq!(object.package_uri().as_deref(), Some("coap://h/fota/p1"));
    }
}
