//! Managing the CT IoT platforms: products, devices and downlinks, as the HTTP API, the
//! `nbmodem platform` subcommands and scenario steps do it.
//!
//! Every change is checked, written to the store, and only then made to the shared state the
//! servers read: a method returns a [`Pending`] change with the ticket of its write; the caller
//! waits for the ticket to be committed (at once in virtual time) and [`Admin::apply`]s the change.
//! A downlink that reached the servers before its queued row was durable could have its later
//! status overwritten; this order rules that out.

use super::codec::{self, compile};
use super::fota::{Package, Task, TaskStyle, Upgrade, MAX_PACKAGE};
use super::keys::{ManufacturerKey, MAX_MANUFACTURER};
use super::state::{CtIotState, SharedState};
use super::upload::{self, SignedUpload};
use super::{
    decode_hex, hex, CodecChoice, CommandCall, Device, Downlink, DownlinkStatus, Flavour, Product,
};
use crate::writer::{OnFailure, RecordWriter, Writing};
use nbmodem_clock::Instant;
use nbmodem_codec::Codec;
use nbmodem_fota::{DeltaPackage, PublicKey};
use nbmodem_net::udp::lock;
use nbmodem_standin::{Ticket, Write};
use serde::Deserialize;
use std::sync::Arc;

/// The longest downlink, as the module's longest uplink (seed 002 §2.3.3).
pub const MAX_DOWNLINK: usize = 1024;
/// The longest key a device takes (seed 002 §2.3.1: 256 bytes).
pub const MAX_PSK: usize = 256;
/// The longest product, package or task id.
pub const MAX_PRODUCT_ID: usize = 64;
/// The longest package URI: what fits /5/0/1 on the modules (protocols.md §5).
pub const MAX_PACKAGE_URI: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("the IMEI must be 15 digits")]
    BadImei,
    #[error("the key must be 1 to {MAX_PSK} bytes in hex")]
    BadPsk,
    #[error("the data must be 1 to {MAX_DOWNLINK} bytes in hex")]
    BadData,
    #[error("no device {1} on the {0} platform")]
    NoSuchDevice(Flavour, String),
    #[error("no product {1} on the {0} platform")]
    NoSuchProduct(Flavour, String),
    #[error("an id must be 1 to {MAX_PRODUCT_ID} letters, digits, '-' or '_'")]
    BadProductId,
    #[error("the profile is not one of seed 002 §5.1.2: {0}")]
    BadProfile(String),
    #[error("the codec cannot be used: {0}")]
    BadCodec(String),
    #[error("device {1} of the {0} platform has no product with a codec: send bytes as a downlink instead")]
    NoCodec(Flavour, String),
    #[error("not a command the device's product takes: {0}")]
    BadCommand(String),
    #[error("not a usable firmware package: {0}")]
    BadPackage(String),
    #[error("no firmware package {1} on the {0} platform")]
    NoSuchPackage(Flavour, String),
    #[error("no upgrade task {1} on the {0} platform")]
    NoSuchTask(Flavour, String),
    #[error("not a usable upgrade task: {0}")]
    BadTask(String),
    #[error("a manufacturer must be 1 to {MAX_MANUFACTURER} characters, none of them control characters")]
    BadManufacturer,
    #[error("not a usable public key: {0}")]
    BadKey(String),
    #[error("no public key of manufacturer {1} on the {0} platform")]
    NoSuchKey(Flavour, String),
    #[error("the {0} platform has no public key of manufacturer {1}: add it before uploading its packages")]
    NoKey(Flavour, String),
    #[error("the package's signature does not check against manufacturer {0}'s key: {1}")]
    BadSignature(String, String),
    /// An archive refused before its signature could be checked (not a zip, too many entries,
    /// an unsafe name, a missing entry…): the text is the reason itself.
    #[error("{0}")]
    BadArchive(String),
    #[error("product {0}'s profile has no device with omCapability.fwUpgradeCapability {{\"supportUpgrade\": true, \"upgradeProtocolType\": \"LWM2M\", \"downloadProtocolType\": \"CoAP\"}} (seed 002 §5.1.2)")]
    NoUpgradeCapability(String),
    #[error(
        "the package's {1} is not a device of product {0}'s profile ({2}); they must match exactly"
    )]
    ProfileMismatch(String, String, String),
}

/// A firmware package to add: its bytes and the metadata of seed §5.1.5 (which must be the
/// product profile's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPackage {
    pub id: String,
    pub bytes: Vec<u8>,
    pub manufacturer: String,
    pub device_type: String,
    pub model: String,
    pub protocol: String,
    /// Where devices download it, when not from the platform's own `/fota/<id>` (see
    /// [`Package::uri`]).
    pub uri: Option<String>,
}

/// An upgrade task to create.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub package: String,
    /// The device group of an IoT platform batch task; absent for an AEP task.
    #[serde(default)]
    pub group: Option<String>,
    pub devices: Vec<String>,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub retry_after_s: u64,
    #[serde(default = "one")]
    pub max_concurrent: u32,
    /// Start at once (a batch task always does).
    #[serde(default)]
    pub start: bool,
}

fn one() -> u32 {
    1
}

/// A device of a product can take only a package whose metadata is its profile's (seed §5.1.5's
/// note), and only if the profile declares the upgrade capability (§5.1.2); a device without a
/// product takes any.
fn check_device_product(
    state: &CtIotState,
    device: &Device,
    package: &Package,
) -> Result<(), AdminError> {
    let Some(id) = &device.product else {
        return Ok(());
    };
    let product = state
        .product(device.flavour, id)
        .ok_or_else(|| AdminError::NoSuchProduct(device.flavour, id.clone()))?;
    upload::check_fits(product, package)
        .map_err(|why| AdminError::BadTask(format!("device {}: {why}", device.imei)))
}

/// A product, package or task id: it goes into URIs and file names as it is.
fn check_id(id: &str) -> Result<(), AdminError> {
    let id_ok = (1..=MAX_PRODUCT_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    id_ok.then_some(()).ok_or(AdminError::BadProductId)
}

/// A package URI given by hand: printable ASCII without spaces, at most [`MAX_PACKAGE_URI`]
/// characters. Whether the device can use it is the device's to say (protocols.md §5).
fn check_package_uri(uri: &str) -> Result<(), AdminError> {
    let uri_ok =
        (1..=MAX_PACKAGE_URI).contains(&uri.len()) && uri.bytes().all(|b| b.is_ascii_graphic());
    uri_ok.then_some(()).ok_or_else(|| {
        AdminError::BadPackage(format!(
            "a URI must be 1 to {MAX_PACKAGE_URI} printable characters"
        ))
    })
}

/// A device to add, as the API and the command line give it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    pub imei: String,
    #[serde(default)]
    pub psk: Option<String>,
    #[serde(default)]
    pub product: Option<String>,
    /// Answer each uplink with `AAAA0000`; the platform's default when absent.
    #[serde(default)]
    pub reply: Option<bool>,
}

/// A change written to the store, to be made to the shared state once the write is durable.
#[derive(Debug)]
pub struct Pending<T> {
    pub ticket: Ticket,
    change: Change,
    /// What the change is about (the device added, the downlink queued).
    pub value: T,
}

#[derive(Debug)]
enum Change {
    Device(Device),
    RemoveDevice(Flavour, String),
    Product(Product, Arc<Codec>),
    Downlink(Downlink),
    Package(Package),
    Task(Task, Vec<Upgrade>),
    Key(ManufacturerKey),
    RemoveKey(Flavour, String),
}

pub struct Admin {
    state: SharedState,
    writer: RecordWriter,
}

impl Admin {
    pub fn new(state: SharedState, writer: RecordWriter) -> Self {
        Admin { state, writer }
    }

    /// Whether the store cannot be written now (a commit is failing): no change is made then.
    pub fn store_fails(&mut self) -> bool {
        self.writer.refuses()
    }

    pub fn state(&self) -> &SharedState {
        &self.state
    }

    /// Whether the write of `ticket` (the newest) is durable: yes, no (its commit failed and was
    /// given up, if the writer gives up) or not yet.
    pub fn is_committed(&self, ticket: Ticket) -> Option<bool> {
        if self.writer.committed() >= ticket {
            Some(true)
        } else if self.writer.given_up() >= ticket {
            Some(false)
        } else {
            None
        }
    }

    /// Who to wake when a batch of writes is durable.
    pub fn set_wake(&mut self, wake: std::sync::Arc<tokio::sync::Notify>) {
        self.writer.set_wake(wake);
    }

    /// Makes a durable change to the shared state.
    pub fn apply<T>(&mut self, pending: Pending<T>) -> T {
        let mut state = lock(&self.state);
        match pending.change {
            Change::Device(device) => state.put_device(device),
            Change::RemoveDevice(flavour, imei) => {
                state.remove_device(flavour, &imei);
            }
            Change::Product(product, codec) => state.put_compiled(product, Ok(codec)),
            Change::Downlink(downlink) => state.queue(downlink),
            Change::Package(package) => state.put_package(package),
            Change::Key(key) => state.put_key(key),
            Change::RemoveKey(flavour, manufacturer) => {
                state.remove_key(flavour, &manufacturer);
            }
            Change::Task(task, upgrades) => {
                state.put_task(task);
                for upgrade in upgrades {
                    state.put_upgrade(upgrade);
                }
            }
        }
        pending.value
    }

    fn pending<T>(&mut self, write: Write, change: Change, value: T) -> Pending<T> {
        Pending {
            ticket: self.writer.submit(write),
            change,
            value,
        }
    }

    /// Adds (or replaces) a device of `flavour`.
    pub fn add_device(
        &mut self,
        flavour: Flavour,
        new: NewDevice,
    ) -> Result<Pending<Device>, AdminError> {
        check_imei(&new.imei)?;
        let psk = new
            .psk
            .map(|key| match decode_hex(&key) {
                Some(bytes) if (1..=MAX_PSK).contains(&bytes.len()) => Ok(hex(&bytes)),
                _ => Err(AdminError::BadPsk),
            })
            .transpose()?;
        if let Some(product) = &new.product {
            if lock(&self.state).product(flavour, product).is_none() {
                return Err(AdminError::NoSuchProduct(flavour, product.clone()));
            }
        }
        let device = Device {
            flavour,
            imei: new.imei,
            psk,
            product: new.product,
            reply: new.reply.unwrap_or(flavour.replies_by_default()),
        };
        let write = Write::CtIotDevice(device.clone());
        Ok(self.pending(write, Change::Device(device.clone()), device))
    }

    /// Removes a device and its downlinks.
    pub fn remove_device(
        &mut self,
        flavour: Flavour,
        imei: &str,
    ) -> Result<Pending<()>, AdminError> {
        if lock(&self.state).device(flavour, imei).is_none() {
            return Err(AdminError::NoSuchDevice(flavour, imei.to_string()));
        }
        let write = Write::RemoveCtIotDevice(flavour, imei.to_string());
        Ok(self.pending(write, Change::RemoveDevice(flavour, imei.to_string()), ()))
    }

    /// Adds (or replaces) a product with its profile document and its codec, which must compile
    /// (the model of its services, the plug-in's script): a plug-in's load is bounded by its work
    /// budget (`nbmodem_codec::ScriptLimits`).
    pub fn add_product(
        &mut self,
        flavour: Flavour,
        id: &str,
        profile: serde_json::Value,
        codec: CodecChoice,
    ) -> Result<Pending<Product>, AdminError> {
        check_id(id)?;
        check_profile(&profile)?;
        let product = Product {
            flavour,
            id: id.to_string(),
            profile,
            codec,
        };
        let compiled = compile(&product).map_err(|e| AdminError::BadCodec(e.to_string()))?;
        let write = Write::Product(product.clone());
        let change = Change::Product(product.clone(), Arc::new(compiled));
        Ok(self.pending(write, change, product))
    }

    /// Changes a product's codec, keeping its profile.
    pub fn set_codec(
        &mut self,
        flavour: Flavour,
        id: &str,
        codec: CodecChoice,
    ) -> Result<Pending<Product>, AdminError> {
        let profile = lock(&self.state)
            .product(flavour, id)
            .map(|p| p.profile.clone())
            .ok_or_else(|| AdminError::NoSuchProduct(flavour, id.to_string()))?;
        self.add_product(flavour, id, profile, codec)
    }

    /// Adds (or replaces) a firmware package: a delta package whose digest checks, with its
    /// metadata. (A signed upload checks the signature first and adds the package inside.)
    pub fn add_package(
        &mut self,
        flavour: Flavour,
        new: NewPackage,
    ) -> Result<Pending<Package>, AdminError> {
        check_id(&new.id)?;
        if let Some(uri) = &new.uri {
            check_package_uri(uri)?;
        }
        if new.bytes.len() > MAX_PACKAGE {
            return Err(AdminError::BadPackage(format!(
                "larger than {MAX_PACKAGE} bytes"
            )));
        }
        let delta =
            DeltaPackage::parse(&new.bytes).map_err(|e| AdminError::BadPackage(e.to_string()))?;
        let package = Package {
            flavour,
            id: new.id,
            version: delta.target,
            source: delta.source,
            manufacturer: new.manufacturer,
            device_type: new.device_type,
            model: new.model,
            protocol: new.protocol,
            size: new.bytes.len(),
            uri: new.uri,
            bytes: std::sync::Arc::new(new.bytes),
        };
        let write = Write::FotaPackage(package.clone());
        Ok(self.pending(write, Change::Package(package.clone()), package))
    }

    /// Adds (or replaces) a manufacturer's public key (PEM, of a kind a signature algorithm uses).
    pub fn add_key(
        &mut self,
        flavour: Flavour,
        manufacturer: &str,
        public_key: &str,
    ) -> Result<Pending<ManufacturerKey>, AdminError> {
        check_manufacturer(manufacturer)?;
        let bad_key = |e: nbmodem_fota::SignError| AdminError::BadKey(e.to_string());
        let parsed = PublicKey::from_pem(public_key).map_err(bad_key)?;
        let key = ManufacturerKey {
            flavour,
            manufacturer: manufacturer.to_string(),
            algorithm: parsed.algorithm().name().to_string(),
            public_key: parsed.to_pem().map_err(bad_key)?,
        };
        let write = Write::FotaKey(key.clone());
        Ok(self.pending(write, Change::Key(key.clone()), key))
    }

    /// Removes a manufacturer's public key (its packages stay).
    pub fn remove_key(
        &mut self,
        flavour: Flavour,
        manufacturer: &str,
    ) -> Result<Pending<ManufacturerKey>, AdminError> {
        let key = lock(&self.state)
            .manufacturer_key(flavour, manufacturer)
            .cloned()
            .ok_or_else(|| AdminError::NoSuchKey(flavour, manufacturer.to_string()))?;
        let write = Write::RemoveFotaKey(flavour, manufacturer.to_string());
        let change = Change::RemoveKey(flavour, manufacturer.to_string());
        Ok(self.pending(write, change, key))
    }

    /// Adds a signed package once its upload passes every check (`upload.rs`).
    pub fn upload_package(
        &mut self,
        flavour: Flavour,
        upload: SignedUpload,
    ) -> Result<Pending<Package>, AdminError> {
        let new = super::upload::check(&lock(&self.state), flavour, upload)?;
        self.add_package(flavour, new)
    }

    /// Creates an upgrade task for devices of the platform; each gets an upgrade, waiting.
    pub fn create_task(
        &mut self,
        flavour: Flavour,
        new: NewTask,
    ) -> Result<Pending<Task>, AdminError> {
        check_id(&new.id)?;
        {
            let state = lock(&self.state);
            // Replacing a task would orphan its upgrades' history.
            if state.task(flavour, &new.id).is_some() {
                return Err(AdminError::BadTask(format!(
                    "task {} exists already",
                    new.id
                )));
            }
            let package = state
                .package(flavour, &new.package)
                .ok_or_else(|| AdminError::NoSuchPackage(flavour, new.package.clone()))?;
            for imei in &new.devices {
                let device = state
                    .device(flavour, imei)
                    .ok_or_else(|| AdminError::NoSuchDevice(flavour, imei.clone()))?;
                check_device_product(&state, device, package)?;
            }
        }
        if new.devices.is_empty() || new.max_concurrent == 0 {
            return Err(AdminError::BadTask(
                "a task needs devices and a concurrency of at least 1".into(),
            ));
        }
        let style = match new.group {
            Some(group) => TaskStyle::Batch { group },
            None => TaskStyle::Aep,
        };
        let started = new.start || matches!(style, TaskStyle::Batch { .. });
        let task = Task {
            flavour,
            name: new.name.unwrap_or_else(|| new.id.clone()),
            id: new.id,
            style,
            package: new.package,
            devices: new.devices,
            retries: new.retries,
            retry_after_s: new.retry_after_s,
            max_concurrent: new.max_concurrent,
            started,
        };
        let upgrades: Vec<Upgrade> = task
            .devices
            .iter()
            .map(|imei| Upgrade::new(flavour, &task.id, imei))
            .collect();
        Ok(self.task_change(task, upgrades))
    }

    /// Starts a task ("立即启动").
    pub fn start_task(&mut self, flavour: Flavour, id: &str) -> Result<Pending<Task>, AdminError> {
        let task = lock(&self.state).task(flavour, id).cloned();
        let mut task = task.ok_or_else(|| AdminError::NoSuchTask(flavour, id.to_string()))?;
        task.started = true;
        Ok(self.task_change(task, Vec::new()))
    }

    /// Writes a task and new upgrades of it in one batch.
    fn task_change(&mut self, task: Task, upgrades: Vec<Upgrade>) -> Pending<Task> {
        for upgrade in &upgrades {
            self.writer.submit(Write::FotaUpgrade(upgrade.clone()));
        }
        let write = Write::FotaTask(task.clone());
        self.pending(write, Change::Task(task.clone(), upgrades), task)
    }

    /// Queues a downlink for a device; the servers send it when the device is awake.
    pub fn queue_downlink(
        &mut self,
        now: Instant,
        flavour: Flavour,
        imei: &str,
        data: &str,
    ) -> Result<Pending<Downlink>, AdminError> {
        let bytes = decode_hex(data)
            .filter(|b| (1..=MAX_DOWNLINK).contains(&b.len()))
            .ok_or(AdminError::BadData)?;
        let id = self.next_downlink_id(flavour, imei)?;
        Ok(self.queue(now, flavour, imei, id, bytes, None))
    }

    /// Queues a command for a device (the CT console's 命令下发): encoded by the codec of the
    /// device's product, with the message id its response will carry (the downlink id's low 16
    /// bits), and followed from `queued` to `answered` as its response comes back.
    pub fn queue_command(
        &mut self,
        now: Instant,
        flavour: Flavour,
        imei: &str,
        call: NewCommand,
    ) -> Result<Pending<Downlink>, AdminError> {
        let codec = match lock(&self.state).device_codec(flavour, imei) {
            Some(Ok(codec)) => codec,
            Some(Err(reason)) => return Err(AdminError::BadCodec(reason)),
            None => return Err(AdminError::NoCodec(flavour, imei.to_string())),
        };
        let id = self.next_downlink_id(flavour, imei)?;
        let call = CommandCall {
            service: call.service,
            command: call.command,
            params: call.params,
            mid: codec::mid_of(id),
        };
        let bytes = codec
            .encode_command(&codec::command(&call))
            .map_err(|e| AdminError::BadCommand(e.to_string()))?;
        if !(1..=MAX_DOWNLINK).contains(&bytes.len()) {
            return Err(AdminError::BadCommand(format!(
                "it encodes to {} bytes; a downlink has 1 to {MAX_DOWNLINK}",
                bytes.len()
            )));
        }
        Ok(self.queue(now, flavour, imei, id, bytes, Some(call)))
    }

    /// The id of a new downlink for a device of the platform.
    fn next_downlink_id(&mut self, flavour: Flavour, imei: &str) -> Result<u64, AdminError> {
        let mut state = lock(&self.state);
        if state.device(flavour, imei).is_none() {
            return Err(AdminError::NoSuchDevice(flavour, imei.to_string()));
        }
        Ok(state.next_downlink_id())
    }

    fn queue(
        &mut self,
        now: Instant,
        flavour: Flavour,
        imei: &str,
        id: u64,
        data: Vec<u8>,
        command: Option<CommandCall>,
    ) -> Pending<Downlink> {
        let downlink = Downlink {
            id,
            flavour,
            imei: imei.to_string(),
            data,
            status: DownlinkStatus::Queued,
            queued_ms: now.unix_millis(),
            updated_ms: now.unix_millis(),
            attempts: 0,
            command,
            response: None,
        };
        let write = Write::Downlink(downlink.clone());
        self.pending(write, Change::Downlink(downlink.clone()), downlink)
    }
}

/// A command to queue: which service's command, with which parameters (checked against the
/// product's model by its codec).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCommand {
    pub service: String,
    pub command: String,
    #[serde(default = "no_params")]
    pub params: serde_json::Value,
}

fn no_params() -> serde_json::Value {
    serde_json::json!({})
}

/// Registers `imei` on both platforms, with their defaults, where it is not registered yet (the
/// sandbox's own module, at start-up, before the servers run).
pub fn ensure_device(data_dir: &std::path::Path, imei: &str) -> anyhow::Result<()> {
    let store = crate::store::Store::open(data_dir)?;
    let state = store.ctiot_state()?.shared();
    let writer = RecordWriter::open_with(data_dir, Writing::Inline, OnFailure::GiveUp)?;
    let mut admin = Admin::new(state, writer);
    for flavour in Flavour::ALL {
        if lock(admin.state()).device(flavour, imei).is_some() {
            continue;
        }
        let new = NewDevice {
            imei: imei.to_string(),
            psk: None,
            product: None,
            reply: None,
        };
        let pending = admin.add_device(flavour, new)?;
        if admin.is_committed(pending.ticket) != Some(true) {
            anyhow::bail!("the database cannot be written (is the disk full?)");
        }
        admin.apply(pending);
    }
    Ok(())
}

fn check_manufacturer(manufacturer: &str) -> Result<(), AdminError> {
    let ok = (1..=MAX_MANUFACTURER).contains(&manufacturer.chars().count())
        && !manufacturer.chars().any(char::is_control);
    ok.then_some(()).ok_or(AdminError::BadManufacturer)
}

pub(crate) fn check_imei(imei: &str) -> Result<(), AdminError> {
    if imei.len() == 15 && imei.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(AdminError::BadImei)
    }
}

/// A profile document as seed 002 §5.1.2 shows one: `devices`, each with `manufacturerId`,
/// `model`, `deviceType` and `protocolType` as text.
fn check_profile(profile: &serde_json::Value) -> Result<(), AdminError> {
    let bad = |why: &str| Err(AdminError::BadProfile(why.to_string()));
    let Some(devices) = profile.get("devices").and_then(|d| d.as_array()) else {
        return bad("no \"devices\" list");
    };
    if devices.is_empty() {
        return bad("the \"devices\" list is empty");
    }
    for device in devices {
        for field in ["manufacturerId", "model", "deviceType", "protocolType"] {
            if !device.get(field).is_some_and(|v| v.is_string()) {
                return Err(AdminError::BadProfile(format!(
                    "a device has no \"{field}\" text"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::Writing;

    fn admin(dir: &std::path::Path) -> Admin {
        let store = crate::store::Store::open(dir).unwrap();
        let state = store.ctiot_state().unwrap().shared();
        Admin::new(state, RecordWriter::open(dir, Writing::Inline).unwrap())
    }

    fn device(imei: &str) -> NewDevice {
        NewDevice {
            imei: imei.into(),
            psk: None,
            product: None,
            reply: None,
        }
    }

    #[test]
    fn bad_input_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut admin = admin(dir.path());
        let refused = [
            device("86597503000000"),
            device("86597503000000x"),
            NewDevice {
                psk: Some("abc".into()),
                ..device("865975030000001")
            },
            NewDevice {
                psk: Some("00".repeat(MAX_PSK + 1)),
                ..device("865975030000001")
            },
            NewDevice {
                product: Some("nope".into()),
                ..device("865975030000001")
            },
        ];
        for new in refused {
            assert!(admin.add_device(Flavour::Iot, new).is_err());
        }
        let now = Instant::from_unix_millis(0);
        assert_eq!(
            admin
                .queue_downlink(now, Flavour::Iot, "865975030000001", "AA")
                .unwrap_err(),
            AdminError::NoSuchDevice(Flavour::Iot, "865975030000001".into())
        );
        assert!(admin
            .add_product(
                Flavour::Aep,
                "p 1",
                serde_json::json!({}),
                CodecChoice::PassThrough
            )
            .is_err());
        assert!(matches!(
            admin.add_product(
                Flavour::Aep,
                "p1",
                serde_json::json!({"devices": [{"model": "x"}]}),
                CodecChoice::PassThrough
            ),
            Err(AdminError::BadProfile(_))
        ));
        assert!(lock(admin.state()).devices(Flavour::Iot).is_empty());
        let store = crate::store::Store::open(dir.path()).unwrap();
        assert!(store.ctiot_devices().unwrap().is_empty());
    }

    #[test]
    fn a_change_reaches_the_servers_once_durable() {
        let dir = tempfile::tempdir().unwrap();
        let mut admin = admin(dir.path());
        let pending = admin
            .add_device(Flavour::Aep, device("865975030000001"))
            .unwrap();
        assert_eq!(admin.is_committed(pending.ticket), Some(true));
        let added = admin.apply(pending);
        assert!(!added.reply, "AEP does not reply by default");
        let now = Instant::from_unix_millis(5);
        let pending = admin
            .queue_downlink(now, Flavour::Aep, "865975030000001", "aa01")
            .unwrap();
        assert_eq!(pending.value.data, [0xAA, 0x01]);
        admin.apply(pending);
        let state = lock(admin.state());
        assert_eq!(state.queued(Flavour::Aep, "865975030000001").len(), 1);
        drop(state);
        let store = crate::store::Store::open(dir.path()).unwrap();
        assert_eq!(store.downlinks(None).unwrap().len(), 1);
    }

    fn package(id: &str, bytes: Vec<u8>, uri: Option<&str>) -> NewPackage {
        NewPackage {
            id: id.into(),
            bytes,
            manufacturer: "quectel".into(),
            device_type: "WaterMeter".into(),
            model: "NBIoTDevice".into(),
            protocol: "CoAP".into(),
            uri: uri.map(String::from),
        }
    }

    fn delta(size: usize) -> Vec<u8> {
        DeltaPackage::make("BC260YCNAAR02A01", "BC260YCNAAR02A02", size, 1)
            .unwrap()
            .encode()
    }

    fn task(id: &str, package: &str, devices: &[&str]) -> NewTask {
        NewTask {
            id: id.into(),
            name: None,
            package: package.into(),
            group: None,
            devices: devices.iter().map(|d| d.to_string()).collect(),
            retries: 0,
            retry_after_s: 0,
            max_concurrent: 1,
            start: false,
        }
    }

    #[test]
    fn bad_packages_and_tasks_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut admin = admin(dir.path());
        let mut corrupt = delta(100);
        *corrupt.last_mut().unwrap() ^= 1;
        let long_uri = format!("coap://h/{}", "a".repeat(MAX_PACKAGE_URI));
        let refused = [
            package("p 1", delta(10), None),
            package("p1", b"not a package".to_vec(), None),
            package("p1", corrupt, None),
            package("p1", delta(10), Some("")),
            package("p1", delta(10), Some("coap://h/a b")),
            package("p1", delta(10), Some(&long_uri)),
        ];
        for new in refused {
            assert!(admin.add_package(Flavour::Iot, new).is_err());
        }
        let imei = "865975030000001";
        assert_eq!(
            admin
                .create_task(Flavour::Iot, task("t1", "p1", &[imei]))
                .unwrap_err(),
            AdminError::NoSuchPackage(Flavour::Iot, "p1".into())
        );
        let pending = admin.add_package(Flavour::Iot, package("p1", delta(10), None));
        admin.apply(pending.unwrap());
        assert_eq!(
            admin
                .create_task(Flavour::Iot, task("t1", "p1", &[imei]))
                .unwrap_err(),
            AdminError::NoSuchDevice(Flavour::Iot, imei.into())
        );
        let pending = admin.add_device(Flavour::Iot, device(imei)).unwrap();
        admin.apply(pending);
        let no_devices = task("t1", "p1", &[]);
        let no_concurrency = NewTask {
            max_concurrent: 0,
            ..task("t1", "p1", &[imei])
        };
        for new in [no_devices, no_concurrency, task("t/1", "p1", &[imei])] {
            assert!(admin.create_task(Flavour::Iot, new).is_err());
        }
        assert!(admin.start_task(Flavour::Iot, "t1").is_err());
        assert!(lock(admin.state()).tasks(Flavour::Iot).is_empty());
        let store = crate::store::Store::open(dir.path()).unwrap();
        assert_eq!(store.fota_packages().unwrap().len(), 1);
        assert!(store.fota_tasks().unwrap().is_empty());
        assert!(store.fota_upgrades().unwrap().is_empty());
    }

    #[test]
    fn a_task_and_its_upgrades_are_durable_before_the_servers_see_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut admin = admin(dir.path());
        let imei = "865975030000001";
        let pending = admin.add_device(Flavour::Aep, device(imei)).unwrap();
        admin.apply(pending);
        let pending = admin.add_package(Flavour::Aep, package("p1", delta(10), None));
        admin.apply(pending.unwrap());
        let pending = admin
            .create_task(Flavour::Aep, task("t1", "p1", &[imei]))
            .unwrap();
        assert_eq!(admin.is_committed(pending.ticket), Some(true));
        assert!(
            lock(admin.state()).task(Flavour::Aep, "t1").is_none(),
            "not applied yet"
        );
        let store = crate::store::Store::open(dir.path()).unwrap();
        assert_eq!(store.fota_upgrades().unwrap().len(), 1, "already durable");
        let created = admin.apply(pending);
        assert!(!created.started, "an AEP task waits to be started");
        let pending = admin.start_task(Flavour::Aep, "t1").unwrap();
        admin.apply(pending);
        let state = lock(admin.state());
        assert!(state.task(Flavour::Aep, "t1").unwrap().started);
        let upgrade = state.upgrade_for(Flavour::Aep, imei, 0).unwrap();
        assert_eq!(upgrade.status, crate::ctiot::fota::UpgradeStatus::Waiting);
    }
}
