//! The stand-in operator platforms of a scenario (`module … --platform`): the CT and CU registries,
//! the CMDMP server and the CT IoT platforms on the in-memory network, their database in a
//! temporary directory, the module routed to them.

use crate::bench::{Bench, ModuleSetup, SetupError};
use nbmodem_module::Route;
use nbmodem_platform::ctiot::admin::{NewCommand, NewPackage, NewTask};
use nbmodem_platform::ctiot::fota::Upgrade;
use nbmodem_platform::ctiot::operation::{DeviceOperation, NewOperation};
use nbmodem_platform::ctiot::{Admin, CodecChoice, Downlink, NewDevice};
use nbmodem_platform::writer::RecordWriter;
use nbmodem_platform::{
    Addresses, Fault, Flavour, Platform, Server, Store, StoreError, Verdict, Writing,
};
use std::path::Path;
use std::sync::Arc;

pub struct StandIns {
    dir: tempfile::TempDir,
    addresses: Addresses,
    /// Manages the CT IoT platforms' devices and downlinks, once attached.
    admin: Option<Admin>,
}

impl StandIns {
    /// Prepares the platforms and routes the module's operator hosts to them.
    pub fn new(setup: &mut ModuleSetup) -> Result<StandIns, SetupError> {
        let dir = tempfile::tempdir().map_err(|e| SetupError::Platform(e.to_string()))?;
        let stand_ins = StandIns {
            dir,
            addresses: Addresses::default(),
            admin: None,
        };
        stand_ins.route(setup)?;
        Ok(stand_ins)
    }

    /// Routes the operators' hosts of `setup` to the platforms (for a setup that replaces the
    /// bench's, after a firmware update say).
    pub fn route(&self, setup: &mut ModuleSetup) -> Result<(), SetupError> {
        for route in self.addresses.routes() {
            let route: Route = route
                .parse()
                .map_err(|e| SetupError::Platform(format!("{e}")))?;
            setup.routes.push(route);
        }
        Ok(())
    }

    /// Where the platforms keep their database (open it with [`Store::open`]).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the platforms on the bench's network.
    pub fn attach(&mut self, bench: &mut Bench) -> Result<(), SetupError> {
        let failed = |e: StoreError| SetupError::Platform(e.to_string());
        // A scenario's database lives as long as its run, in a temporary directory: committed at
        // once (what the platform answers is in it), but never waited on the disk for.
        let writing = Writing::Unsynced;
        let platform = Platform::open(self.dir.path(), 7, writing).map_err(failed)?;
        let writer = RecordWriter::open(self.dir.path(), writing).map_err(failed)?;
        self.admin = Some(Admin::new(Arc::clone(&platform.ctiot_state), writer));
        platform.attach(bench.network(), &self.addresses);
        Ok(())
    }

    fn admin(&mut self) -> Result<&mut Admin, String> {
        self.admin
            .as_mut()
            .ok_or_else(|| "the platforms are not running".to_string())
    }

    /// Adds a product with its profile and codec to a CT IoT platform.
    pub fn add_product(
        &mut self,
        flavour: Flavour,
        id: &str,
        profile: serde_json::Value,
        codec: CodecChoice,
    ) -> Result<(), String> {
        let admin = self.admin()?;
        let pending = admin
            .add_product(flavour, id, profile, codec)
            .map_err(|e| e.to_string())?;
        admin.apply(pending);
        Ok(())
    }

    /// Registers a device on a CT IoT platform.
    pub fn add_device(&mut self, flavour: Flavour, device: NewDevice) -> Result<(), String> {
        let admin = self.admin()?;
        let pending = admin
            .add_device(flavour, device)
            .map_err(|e| e.to_string())?;
        admin.apply(pending);
        Ok(())
    }

    /// Adds a firmware package (the bytes of a delta package) to a CT IoT platform.
    pub fn add_package(
        &mut self,
        flavour: Flavour,
        id: &str,
        bytes: Vec<u8>,
        uri: Option<String>,
    ) -> Result<(), String> {
        let new = NewPackage {
            id: id.into(),
            bytes,
            manufacturer: "quectel".into(),
            device_type: "WaterMeter".into(),
            model: "NBIoTDevice".into(),
            protocol: "CoAP".into(),
            uri,
        };
        let admin = self.admin()?;
        let pending = admin.add_package(flavour, new).map_err(|e| e.to_string())?;
        admin.apply(pending);
        Ok(())
    }

    /// Flips the last byte of the copy of a package a CT IoT platform serves, as a damaged disk
    /// would: the platform accepted the package whole (it refuses a corrupt one), so a corrupt
    /// download can only come from damage after that.
    pub fn damage_package(&mut self, flavour: Flavour, id: &str) -> Result<(), String> {
        let mut state = nbmodem_net::udp::lock(self.admin()?.state());
        let mut package = state.package(flavour, id).ok_or("no such package")?.clone();
        let mut bytes = package.bytes.to_vec();
        if let Some(last) = bytes.last_mut() {
            *last ^= 0xFF;
        }
        package.bytes = Arc::new(bytes);
        state.put_package(package);
        Ok(())
    }

    /// Creates an upgrade task on a CT IoT platform.
    pub fn create_task(&mut self, flavour: Flavour, task: NewTask) -> Result<(), String> {
        let admin = self.admin()?;
        let pending = admin
            .create_task(flavour, task)
            .map_err(|e| e.to_string())?;
        admin.apply(pending);
        Ok(())
    }

    /// Starts an upgrade task.
    pub fn start_task(&mut self, flavour: Flavour, id: &str) -> Result<(), String> {
        let admin = self.admin()?;
        let pending = admin.start_task(flavour, id).map_err(|e| e.to_string())?;
        admin.apply(pending);
        Ok(())
    }

    /// A device's upgrade by a task.
    pub fn upgrade(&mut self, flavour: Flavour, task: &str, imei: &str) -> Option<Upgrade> {
        let admin = self.admin().ok()?;
        let upgrades = nbmodem_net::udp::lock(admin.state()).upgrades(flavour, task);
        upgrades.into_iter().find(|u| u.imei == imei)
    }

    /// Queues a command for a device of a CT IoT platform, encoded by its product's codec; it
    /// goes at the device's next contact. The downlink that carries it.
    pub fn queue_command(
        &mut self,
        bench: &mut Bench,
        flavour: Flavour,
        imei: &str,
        command: NewCommand,
    ) -> Result<Downlink, String> {
        let now = bench.now();
        let admin = self.admin()?;
        let pending = admin
            .queue_command(now, flavour, imei, command)
            .map_err(|e| e.to_string())?;
        Ok(admin.apply(pending))
    }

    /// Asks an operation of a device on a CT IoT platform, as the API does: queued for the
    /// device's next contact.
    pub fn operate(
        &mut self,
        bench: &Bench,
        flavour: Flavour,
        imei: &str,
        new: NewOperation,
    ) -> Result<DeviceOperation, String> {
        let operation = new.queued(flavour, imei, bench.now().unix_millis())?;
        Ok(nbmodem_net::udp::lock(self.admin()?.state()).add_operation(operation))
    }

    /// A device's operations on a CT IoT platform, newest first.
    pub fn operations(
        &mut self,
        flavour: Flavour,
        imei: &str,
    ) -> Result<Vec<DeviceOperation>, String> {
        Ok(nbmodem_net::udp::lock(self.admin()?.state()).operations(flavour, imei))
    }

    /// Queues a downlink for a device of a CT IoT platform; it goes at the device's next
    /// contact (uplink, Update or Register).
    pub fn queue_downlink(
        &mut self,
        bench: &mut Bench,
        flavour: Flavour,
        imei: &str,
        data: &str,
    ) -> Result<(), String> {
        let now = bench.now();
        let admin = self.admin()?;
        let pending = admin
            .queue_downlink(now, flavour, imei, data)
            .map_err(|e| e.to_string())?;
        admin.apply(pending);
        Ok(())
    }

    /// A device's downlinks on a CT IoT platform, newest first, with their status.
    pub fn downlinks(&self, flavour: Flavour, imei: &str) -> Result<Vec<Downlink>, String> {
        let store = Store::open(self.dir.path()).map_err(|e| e.to_string())?;
        store
            .downlinks(Some((flavour, imei)))
            .map_err(|e| e.to_string())
    }

    /// How many uplinks a CT IoT platform stored from a device.
    pub fn uplinks(&self, flavour: Flavour, imei: &str) -> Result<usize, String> {
        let store = Store::open(self.dir.path()).map_err(|e| e.to_string())?;
        let uplinks = store.uplinks(flavour, imei, None, usize::MAX);
        Ok(uplinks.map_err(|e| e.to_string())?.len())
    }

    /// Sets a fault on `server`, or clears its faults when `fault` is `None`.
    pub fn set_fault(
        &self,
        bench: &mut Bench,
        server: Server,
        fault: Option<Fault>,
    ) -> Result<(), String> {
        self.addresses.set_fault(bench.network(), server, fault)
    }

    /// Issues an app key with its password on the CMDMP server (in its store, where the server
    /// looks each Register's key up).
    pub fn issue_app_key(&self, key: &str, password: &str) -> Result<(), String> {
        let mut store = Store::open(self.dir.path()).map_err(|e| e.to_string())?;
        nbmodem_platform::appkey::issue(&mut store, Some(key), Some(password))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// How many requests `server` recorded (with `verdict`, when given).
    pub fn records(&self, server: Server, verdict: Option<Verdict>) -> Result<usize, String> {
        let store = Store::open(self.dir.path()).map_err(|e| e.to_string())?;
        let records = store.records(server).map_err(|e| e.to_string())?;
        Ok(records
            .iter()
            .filter(|r| verdict.is_none_or(|v| r.verdict == v))
            .count())
    }
}
