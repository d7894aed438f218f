//! What the CT IoT platforms know, shared by their server nodes and the HTTP API: products (and
//! their codecs, compiled), devices, each device's downlinks still to deliver (and commands still
//! to be answered), where each device is, and the faults of each flavour. The durable copy is in the store; this is loaded from it at start-up and changed
//! only after the store has the change.

use super::fota::{Package, Task, Upgrade, UpgradeStatus};
use super::keys::ManufacturerKey;
use super::operation::{DeviceOperation, OperationStatus, KEPT};
use super::{codec, Device, Downlink, DownlinkStatus, Flavour, Product};
use crate::fault::Faults;
use nbmodem_codec::{Codec, Command};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The state behind a lock, as the nodes and the API hold it.
pub type SharedState = Arc<Mutex<CtIotState>>;

type Key = (Flavour, String);

/// Where a device is, as the platform saw it last.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub registered: bool,
    /// The platform observes its /19/0/0: it can send data.
    pub observed: bool,
    /// Over DTLS.
    pub secure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// When it last sent anything (ms since the Unix epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<u32>,
}

#[derive(Debug, Default)]
pub struct CtIotState {
    products: HashMap<Key, Product>,
    devices: HashMap<Key, Device>,
    /// Downlinks not delivered or failed yet, in the order they were queued.
    pending: HashMap<Key, VecDeque<Downlink>>,
    presence: HashMap<Key, Presence>,
    faults: HashMap<Flavour, Faults>,
    packages: HashMap<Key, Package>,
    tasks: HashMap<Key, Task>,
    /// Each device's upgrade by each task: by (flavour, task), then IMEI.
    upgrades: HashMap<Key, HashMap<String, Upgrade>>,
    /// The manufacturers' DFOTA public keys, by (flavour, manufacturer).
    keys: HashMap<Key, ManufacturerKey>,
    /// The IMEI each DTLS peer proved with its key.
    identities: HashMap<SocketAddr, String>,
    last_downlink: u64,
    /// Each product's codec, compiled when the product was put, or why it does not compile.
    codecs: HashMap<Key, Result<Arc<Codec>, String>>,
    /// Each device's operations asked through the API, oldest first (not durable).
    operations: HashMap<Key, VecDeque<DeviceOperation>>,
    last_operation: u64,
}

fn key(flavour: Flavour, imei: &str) -> Key {
    (flavour, imei.to_string())
}

/// The values of `flavour` in a map by (flavour, id), by id.
fn of_flavour<T: Clone>(map: &HashMap<Key, T>, flavour: Flavour) -> Vec<T> {
    let mut entries: Vec<(&Key, &T)> = map.iter().filter(|(k, _)| k.0 == flavour).collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries.into_iter().map(|(_, v)| v.clone()).collect()
}

impl CtIotState {
    /// The state the store holds: products, devices, the downlinks still pending.
    pub fn load(
        products: Vec<Product>,
        devices: Vec<Device>,
        pending: Vec<Downlink>,
        last_downlink: u64,
    ) -> Self {
        let mut state = CtIotState {
            last_downlink,
            ..Default::default()
        };
        for product in products {
            state.put_product(product);
        }
        for device in devices {
            state
                .devices
                .insert(key(device.flavour, &device.imei), device);
        }
        for mut downlink in pending {
            // One that was on its way when the platform stopped is tried again; a delivered
            // command still waits for its response.
            if downlink.status == DownlinkStatus::Sent {
                downlink.status = DownlinkStatus::Queued;
            }
            state.queue(downlink);
        }
        state
    }

    /// Adds the DFOTA packages, tasks and upgrades the store holds.
    pub fn load_fota(&mut self, packages: Vec<Package>, tasks: Vec<Task>, upgrades: Vec<Upgrade>) {
        for package in packages {
            self.put_package(package);
        }
        for task in tasks {
            self.put_task(task);
        }
        for upgrade in upgrades {
            self.put_upgrade(upgrade);
        }
    }

    /// Adds the manufacturers' keys the store holds.
    pub fn load_keys(&mut self, keys: Vec<ManufacturerKey>) {
        for manufacturer_key in keys {
            self.put_key(manufacturer_key);
        }
    }

    pub fn put_key(&mut self, manufacturer_key: ManufacturerKey) {
        let at = key(manufacturer_key.flavour, &manufacturer_key.manufacturer);
        self.keys.insert(at, manufacturer_key);
    }

    pub fn remove_key(&mut self, flavour: Flavour, manufacturer: &str) -> Option<ManufacturerKey> {
        self.keys.remove(&key(flavour, manufacturer))
    }

    pub fn manufacturer_key(
        &self,
        flavour: Flavour,
        manufacturer: &str,
    ) -> Option<&ManufacturerKey> {
        self.keys.get(&key(flavour, manufacturer))
    }

    /// The keys of `flavour`, by manufacturer.
    pub fn manufacturer_keys(&self, flavour: Flavour) -> Vec<ManufacturerKey> {
        of_flavour(&self.keys, flavour)
    }

    pub fn put_package(&mut self, package: Package) {
        self.packages
            .insert(key(package.flavour, &package.id), package);
    }

    pub fn package(&self, flavour: Flavour, id: &str) -> Option<&Package> {
        self.packages.get(&key(flavour, id))
    }

    pub fn packages(&self, flavour: Flavour) -> Vec<Package> {
        of_flavour(&self.packages, flavour)
    }

    pub fn put_task(&mut self, task: Task) {
        self.tasks.insert(key(task.flavour, &task.id), task);
    }

    pub fn task(&self, flavour: Flavour, id: &str) -> Option<&Task> {
        self.tasks.get(&key(flavour, id))
    }

    pub fn tasks(&self, flavour: Flavour) -> Vec<Task> {
        of_flavour(&self.tasks, flavour)
    }

    pub fn put_upgrade(&mut self, upgrade: Upgrade) {
        self.upgrades
            .entry(key(upgrade.flavour, &upgrade.task))
            .or_default()
            .insert(upgrade.imei.clone(), upgrade);
    }

    /// The upgrades of a task, by IMEI.
    pub fn upgrades(&self, flavour: Flavour, task: &str) -> Vec<Upgrade> {
        let mut upgrades: Vec<Upgrade> = self
            .upgrades
            .get(&key(flavour, task))
            .map(|u| u.values().cloned().collect())
            .unwrap_or_default();
        upgrades.sort_by(|a, b| a.imei.cmp(&b.imei));
        upgrades
    }

    /// The device's upgrade under way (downloading or updating), else one a started task may
    /// begin at `now_ms` within its concurrency limit.
    pub fn upgrade_for(&self, flavour: Flavour, imei: &str, now_ms: u64) -> Option<Upgrade> {
        let mut candidates = self.tasks(flavour).into_iter().filter(|t| t.started);
        let mine = |task: &Task| self.upgrades.get(&key(flavour, &task.id))?.get(imei);
        let tasks: Vec<Task> = candidates.by_ref().collect();
        if let Some(active) = tasks.iter().filter_map(mine).find(|u| u.status.is_active()) {
            return Some(active.clone());
        }
        tasks.iter().find_map(|task| {
            let upgrade = mine(task)?;
            let ready = upgrade.status == UpgradeStatus::Waiting && upgrade.retry_at_ms <= now_ms;
            let active = self
                .upgrades(flavour, &task.id)
                .iter()
                .filter(|u| u.status.is_active())
                .count();
            (ready && active < task.max_concurrent as usize).then(|| upgrade.clone())
        })
    }

    pub fn shared(self) -> SharedState {
        Arc::new(Mutex::new(self))
    }

    pub fn device(&self, flavour: Flavour, imei: &str) -> Option<&Device> {
        self.devices.get(&key(flavour, imei))
    }

    /// The devices of `flavour`, by IMEI.
    pub fn devices(&self, flavour: Flavour) -> Vec<Device> {
        let mut devices: Vec<Device> = self
            .devices
            .values()
            .filter(|d| d.flavour == flavour)
            .cloned()
            .collect();
        devices.sort_by(|a, b| a.imei.cmp(&b.imei));
        devices
    }

    /// Adds or replaces a device (already in the store).
    pub fn put_device(&mut self, device: Device) {
        self.devices
            .insert(key(device.flavour, &device.imei), device);
    }

    /// Removes a device and forgets its downlinks (already done in the store).
    pub fn remove_device(&mut self, flavour: Flavour, imei: &str) -> Option<Device> {
        self.pending.remove(&key(flavour, imei));
        self.devices.remove(&key(flavour, imei))
    }

    pub fn product(&self, flavour: Flavour, id: &str) -> Option<&Product> {
        self.products.get(&key(flavour, id))
    }

    pub fn products(&self, flavour: Flavour) -> Vec<Product> {
        let mut products: Vec<Product> = self
            .products
            .values()
            .filter(|p| p.flavour == flavour)
            .cloned()
            .collect();
        products.sort_by(|a, b| a.id.cmp(&b.id));
        products
    }

    /// Puts a product, compiling its codec (a codec that does not compile is kept as its reason:
    /// the product's uplinks say it).
    pub fn put_product(&mut self, product: Product) {
        let compiled = codec::compile(&product).map(Arc::new);
        self.put_compiled(product, compiled.map_err(|e| e.to_string()));
    }

    /// Puts a product whose codec was compiled already.
    pub fn put_compiled(&mut self, product: Product, codec: Result<Arc<Codec>, String>) {
        let id = key(product.flavour, &product.id);
        self.codecs.insert(id.clone(), codec);
        self.products.insert(id, product);
    }

    /// A product's codec, or why it does not compile; none for an unknown product.
    pub fn codec(&self, flavour: Flavour, product: &str) -> Option<Result<Arc<Codec>, String>> {
        self.codecs.get(&key(flavour, product)).cloned()
    }

    /// The codec of a device's product; none for a device without a product.
    pub fn device_codec(&self, flavour: Flavour, imei: &str) -> Option<Result<Arc<Codec>, String>> {
        let product = self.device(flavour, imei)?.product.as_deref()?;
        self.codec(flavour, product)
    }

    /// The device's commands that may be answered now, with their downlink ids.
    pub fn waiting_commands(&self, flavour: Flavour, imei: &str) -> Vec<(u64, Command)> {
        self.pending
            .get(&key(flavour, imei))
            .map(codec::waiting)
            .unwrap_or_default()
    }

    /// Adds an operation for a device, with the next id; the oldest beyond [`KEPT`] are forgotten.
    pub fn add_operation(&mut self, mut operation: DeviceOperation) -> DeviceOperation {
        self.last_operation += 1;
        operation.id = self.last_operation;
        let kept = self
            .operations
            .entry(key(operation.flavour, &operation.imei))
            .or_default();
        kept.push_back(operation.clone());
        while kept.len() > KEPT {
            kept.pop_front();
        }
        operation
    }

    /// A device's operations, newest first.
    pub fn operations(&self, flavour: Flavour, imei: &str) -> Vec<DeviceOperation> {
        let kept = self.operations.get(&key(flavour, imei));
        kept.map(|ops| ops.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// A device's operations waiting for its next contact, oldest first.
    pub fn queued_operations(&self, flavour: Flavour, imei: &str) -> Vec<DeviceOperation> {
        let mut queued = self.operations(flavour, imei);
        queued.retain(|op| op.status == OperationStatus::Queued);
        queued.reverse();
        queued
    }

    /// Changes a device's operation (if it is still kept).
    pub fn update_operation(
        &mut self,
        flavour: Flavour,
        imei: &str,
        id: u64,
        change: impl FnOnce(&mut DeviceOperation),
    ) {
        let kept = self.operations.get_mut(&key(flavour, imei));
        if let Some(operation) = kept.and_then(|ops| ops.iter_mut().find(|op| op.id == id)) {
            change(operation);
        }
    }

    /// The id the next downlink gets.
    pub fn next_downlink_id(&mut self) -> u64 {
        self.last_downlink += 1;
        self.last_downlink
    }

    /// Queues a downlink (already in the store) behind the device's others.
    pub fn queue(&mut self, downlink: Downlink) {
        self.pending
            .entry(key(downlink.flavour, &downlink.imei))
            .or_default()
            .push_back(downlink);
    }

    /// The device's downlinks that wait to be sent, oldest first.
    pub fn queued(&self, flavour: Flavour, imei: &str) -> Vec<Downlink> {
        self.pending
            .get(&key(flavour, imei))
            .map(|q| {
                q.iter()
                    .filter(|d| d.status == DownlinkStatus::Queued)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A pending downlink by id.
    pub fn downlink(&self, flavour: Flavour, imei: &str, id: u64) -> Option<&Downlink> {
        self.pending
            .get(&key(flavour, imei))?
            .iter()
            .find(|d| d.id == id)
    }

    /// Changes a pending downlink; one that is done leaves the queue. Returns it as changed.
    pub fn update_downlink(
        &mut self,
        flavour: Flavour,
        imei: &str,
        id: u64,
        change: impl FnOnce(&mut Downlink),
    ) -> Option<Downlink> {
        let queue = self.pending.get_mut(&key(flavour, imei))?;
        let index = queue.iter().position(|d| d.id == id)?;
        change(&mut queue[index]);
        let changed = queue[index].clone();
        if changed.is_done() {
            queue.remove(index);
        }
        if queue.is_empty() {
            self.pending.remove(&key(flavour, imei));
        }
        Some(changed)
    }

    pub fn presence(&self, flavour: Flavour, imei: &str) -> Presence {
        self.presence
            .get(&key(flavour, imei))
            .cloned()
            .unwrap_or_default()
    }

    /// Changes where a device is.
    pub fn update_presence(
        &mut self,
        flavour: Flavour,
        imei: &str,
        change: impl FnOnce(&mut Presence),
    ) {
        change(self.presence.entry(key(flavour, imei)).or_default());
    }

    pub fn faults(&self, flavour: Flavour) -> Faults {
        self.faults.get(&flavour).copied().unwrap_or_default()
    }

    pub fn faults_mut(&mut self, flavour: Flavour) -> &mut Faults {
        self.faults.entry(flavour).or_default()
    }

    /// Notes the IMEI a DTLS peer proved with its key.
    pub fn set_identity(&mut self, peer: SocketAddr, imei: Option<String>) {
        match imei {
            Some(imei) => self.identities.insert(peer, imei),
            None => self.identities.remove(&peer),
        };
    }

    pub fn identity(&self, peer: SocketAddr) -> Option<&str> {
        self.identities.get(&peer).map(String::as_str)
    }
}
