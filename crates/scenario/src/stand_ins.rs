//! The stand-in operator platforms of a scenario (`module … --platform`): the CT and CU registries
//! and the CMDMP server on the in-memory network, their database in a temporary directory, the
//! module routed to them.

use crate::bench::{Bench, ModuleSetup, SetupError};
use nbmodem_module::Route;
use nbmodem_platform::{
    Addresses, DmServer, Fault, Faulty, Platform, RegistryServer, Server, Store, Verdict,
};
use std::path::Path;

pub struct StandIns {
    dir: tempfile::TempDir,
    addresses: Addresses,
}

impl StandIns {
    /// Prepares the platforms and routes the module's operator hosts to them.
    pub fn new(setup: &mut ModuleSetup) -> Result<StandIns, SetupError> {
        let dir = tempfile::tempdir().map_err(|e| SetupError::Platform(e.to_string()))?;
        let stand_ins = StandIns {
            dir,
            addresses: Addresses::default(),
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
    pub fn attach(&self, bench: &mut Bench) -> Result<(), SetupError> {
        let platform = Platform::open(self.dir.path(), 7, nbmodem_platform::Writing::Inline)
            .map_err(|e| SetupError::Platform(e.to_string()))?;
        platform.attach(bench.network(), &self.addresses);
        Ok(())
    }

    /// Sets a fault on `server`, or clears its faults when `fault` is `None`.
    pub fn set_fault(
        &self,
        bench: &mut Bench,
        server: Server,
        fault: Option<Fault>,
    ) -> Result<(), String> {
        let net = bench.network();
        let faulty: &mut dyn Faulty = match server {
            Server::Ct => net
                .node::<RegistryServer>(self.addresses.ct)
                .ok_or("no CT registry")?,
            Server::Cu => net
                .node::<RegistryServer>(self.addresses.cu)
                .ok_or("no CU registry")?,
            Server::Dm => net
                .node::<DmServer>(self.addresses.dm)
                .ok_or("no DM server")?,
        };
        match fault {
            Some(fault) => faulty.set_fault(fault),
            None => faulty.clear_faults(),
        }
        Ok(())
    }

    /// Issues an app key with its password on the CMDMP server.
    pub fn issue_app_key(
        &self,
        bench: &mut Bench,
        key: &str,
        password: &str,
    ) -> Result<(), String> {
        let dm = bench
            .network()
            .node::<DmServer>(self.addresses.dm)
            .ok_or("no DM server")?;
        dm.issue_app_key(Some(key), Some(password))
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
