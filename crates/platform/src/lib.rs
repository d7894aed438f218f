//! The stand-in operator platforms (behaviour.md §6) assembled and served, so that a module can be
//! exercised end to end without the real networks:
//!
//! - the CT and CU self-registration registries ([`RegistryServer`]), the CMDMP DM server
//!   ([`DmServer`]) and the CT IoT platform and CTWing AEP ([`CtIotServer`]): each a sans-IO
//!   engine of [`nbmodem_standin`] in its [`Shell`], writing through a [`RecordWriter`] of
//!   [`nbmodem_store`];
//! - [`Platform::attach`] puts them all on a [`SimNetwork`] in virtual time; [`serve::serve`]
//!   runs them on UDP sockets in real time, with the fault control port ([`control`]) and the
//!   HTTP API of the CT IoT platforms ([`api`]) and the web console it serves ([`web`]), under a
//!   lock on the data directory ([`process`]).
//!
//! What the engines, the store and the writer are is re-exported here under their old names
//! (`fault`, `record`, `store`, `writer`, …), so that users of the platform find them in one
//! place.
//!
//! This is a library: the `nbmodem platform` command that runs and manages the platforms, with
//! its client of the API, is in the nbmodem-cli crate (`crates/cli/src/platform/`).

pub mod api;
pub mod control;
mod control_port;
pub mod ctiot;
pub mod process;
pub mod serve;
pub mod web;

pub use nbmodem_standin::{dm, fault, peek, record, registry, shell, write};
pub use nbmodem_standin::{
    resource_name, DmDevice, Fault, Faults, Faulty, Flavour, RequestRecord, Server, ServerFault,
    Shell, Verdict, Write,
};
pub use nbmodem_store as store;
pub use nbmodem_store::{appkey, console, private, schema, writer};
pub use nbmodem_store::{AppKey, Console, RecordWriter, Store, StoreError, Writing};

use nbmodem_coap::EndpointConfig;
use nbmodem_net::sim::SimNetwork;
use nbmodem_operators::selfreg::Registry;
use nbmodem_standin::ctiot::SharedState;
use nbmodem_standin::{CtIotEngine, DmEngine, RegistryEngine};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;

/// The operators' hosts each server stands in for: the names and addresses a module sends to.
pub const CT_HOSTS: &[&str] = &["zzhc.vnet.cn"];
pub const CU_HOSTS: &[&str] = &["114.255.193.236"];
pub const DM_HOSTS: &[&str] = &[
    "m.fxltsbl.com",
    "shipei.fxltsbl.com",
    "117.161.2.41",
    "117.161.2.7",
];

/// Where the platforms keep their database unless told otherwise; the sandbox's too, so that
/// `nbmodem platform records` run where the sandbox runs finds its database.
pub const DEFAULT_DATA: &str = "nbmodem-data";

/// Where the fault control port ([`control`]) listens unless told otherwise.
pub const DEFAULT_CONTROL: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 15680));

/// Where the servers listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    pub ct: SocketAddr,
    pub cu: SocketAddr,
    pub dm: SocketAddr,
    /// The CT IoT platforms, plain CoAP and DTLS.
    pub iot: SocketAddr,
    pub iot_dtls: SocketAddr,
    pub aep: SocketAddr,
    pub aep_dtls: SocketAddr,
}

impl Default for Addresses {
    /// 127.0.0.1 ports 15683 (CT), 15684 (CU), 15685 (DM), 15686 and 15687 (IoT platform, plain
    /// and DTLS), 15688 and 15689 (AEP).
    fn default() -> Self {
        let at = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        Addresses {
            ct: at(15683),
            cu: at(15684),
            dm: at(15685),
            iot: at(15686),
            iot_dtls: at(15687),
            aep: at(15688),
            aep_dtls: at(15689),
        }
    }
}

impl Addresses {
    /// The CT IoT platforms' addresses: each flavour, plain (`false`) and DTLS (`true`).
    pub fn ctiot(&self) -> [(Flavour, bool, SocketAddr); 4] {
        [
            (Flavour::Iot, false, self.iot),
            (Flavour::Iot, true, self.iot_dtls),
            (Flavour::Aep, false, self.aep),
            (Flavour::Aep, true, self.aep_dtls),
        ]
    }

    /// Commits what the stand-ins' writers hold back ([`Writing::Batched`]), so that the
    /// database has everything they stored.
    pub fn flush_writes(&self, net: &mut SimNetwork) {
        for address in [self.ct, self.cu] {
            if let Some(server) = net.node::<RegistryServer>(address) {
                server.journal_mut().flush();
            }
        }
        if let Some(server) = net.node::<DmServer>(self.dm) {
            server.journal_mut().flush();
        }
        for (_, _, address) in self.ctiot() {
            if let Some(server) = net.node::<CtIotServer>(address) {
                server.journal_mut().flush();
            }
        }
    }

    /// Sets a fault on `server`'s nodes attached to `net` at these addresses (both addresses of
    /// a CT IoT platform), or clears their faults when `fault` is `None`.
    pub fn set_fault(
        &self,
        net: &mut SimNetwork,
        server: Server,
        fault: Option<Fault>,
    ) -> Result<(), String> {
        let apply = |faulty: &mut dyn Faulty| match fault {
            Some(fault) => faulty.set_fault(fault),
            None => faulty.clear_faults(),
        };
        match server {
            Server::Ct => apply(
                net.node::<RegistryServer>(self.ct)
                    .ok_or("no CT registry")?,
            ),
            Server::Cu => apply(
                net.node::<RegistryServer>(self.cu)
                    .ok_or("no CU registry")?,
            ),
            Server::Dm => apply(net.node::<DmServer>(self.dm).ok_or("no DM server")?),
            Server::Iot | Server::Aep => {
                for (flavour, _, address) in self.ctiot() {
                    if flavour.server() == server {
                        let node = net.node::<CtIotServer>(address);
                        apply(node.ok_or("no CT IoT platform")?);
                    }
                }
            }
        }
        Ok(())
    }

    /// The `HOST[:PORT]=IP:PORT` routes that send a module's traffic for the operators' hosts here
    /// (each is the value of a `--route` argument of `nbmodem sandbox`).
    pub fn routes(&self) -> Vec<String> {
        let registries = [
            (CT_HOSTS, self.ct),
            (CU_HOSTS, self.cu),
            (DM_HOSTS, self.dm),
        ];
        let registries = registries
            .into_iter()
            .flat_map(|(hosts, to)| hosts.iter().map(move |host| format!("{host}={to}")));
        let ctiot = self.ctiot().into_iter().map(|(flavour, secure, to)| {
            let port = if secure {
                nbmodem_operators::ctiot::DTLS_PORT
            } else {
                nbmodem_operators::ctiot::PLAIN_PORT
            };
            format!("{}:{port}={to}", flavour.host())
        });
        registries.chain(ctiot).collect()
    }
}

/// A self-registration registry in its shell, recording through a [`RecordWriter`].
pub type RegistryServer = Shell<RegistryEngine, RecordWriter>;

/// The DM server in its shell, recording (and storing devices) through a [`RecordWriter`].
pub type DmServer = Shell<DmEngine, RecordWriter>;

/// One CT IoT platform address in its shell, storing through a [`RecordWriter`].
pub type CtIotServer = Shell<CtIotEngine, RecordWriter>;

/// A CoAP endpoint configuration whose message IDs and tokens are seeded with `seed`.
fn coap(seed: u64) -> EndpointConfig {
    EndpointConfig {
        seed,
        ..EndpointConfig::default()
    }
}

/// A registry recording into the database in `data_dir`, as `writing` says.
pub fn registry_server(
    registry: Registry,
    data_dir: &Path,
    seed: u64,
    writing: Writing,
) -> Result<RegistryServer, StoreError> {
    let engine = RegistryEngine::new(registry, coap(seed));
    Ok(Shell::new(engine, RecordWriter::open(data_dir, writing)?))
}

/// A DM server finding its app keys in the database in `data_dir` and writing records and
/// devices there, as `writing` says.
pub fn dm_server(data_dir: &Path, seed: u64, writing: Writing) -> Result<DmServer, StoreError> {
    let keys = Box::new(Store::open(data_dir)?);
    let engine = DmEngine::new(keys, coap(seed));
    Ok(Shell::new(engine, RecordWriter::open(data_dir, writing)?))
}

/// The `flavour` platform's plain (or, with `secure`, DTLS) address, sharing `state` with the
/// other addresses and writing into the database in `data_dir` as `writing` says.
pub fn ctiot_server(
    flavour: Flavour,
    secure: bool,
    state: SharedState,
    data_dir: &Path,
    seed: u64,
    writing: Writing,
) -> Result<CtIotServer, StoreError> {
    let engine = CtIotEngine::new(flavour, secure, state, coap(seed));
    Ok(Shell::new(engine, RecordWriter::open(data_dir, writing)?))
}

/// The servers, recording into one data directory.
pub struct Platform {
    pub ct: RegistryServer,
    pub cu: RegistryServer,
    pub dm: DmServer,
    /// The CT IoT platforms, in the order of [`Addresses::ctiot`].
    pub ctiot: Vec<CtIotServer>,
    /// What the CT IoT platforms share (devices, downlinks), for those who manage them.
    pub ctiot_state: SharedState,
}

impl Platform {
    /// Opens the servers on the database in `data_dir`, writing as `writing` says; `seed` seeds
    /// their CoAP message IDs and tokens.
    pub fn open(data_dir: &Path, seed: u64, writing: Writing) -> Result<Platform, StoreError> {
        let registry = |r, s| registry_server(r, data_dir, s, writing);
        let ctiot_state = Store::open(data_dir)?.ctiot_state()?.shared();
        let ctiot = Addresses::default()
            .ctiot()
            .into_iter()
            .zip(3u64..)
            .map(|((flavour, secure, _), n)| {
                let state = std::sync::Arc::clone(&ctiot_state);
                ctiot_server(
                    flavour,
                    secure,
                    state,
                    data_dir,
                    seed.wrapping_add(n),
                    writing,
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Platform {
            ct: registry(Registry::ChinaTelecom, seed)?,
            cu: registry(Registry::ChinaUnicom, seed.wrapping_add(1))?,
            dm: dm_server(data_dir, seed.wrapping_add(2), writing)?,
            ctiot,
            ctiot_state,
        })
    }

    /// Gives `console` a line per request each server handles (none: no lines).
    pub fn set_console(&mut self, console: Option<Console>) {
        for writer in self.writers() {
            writer.set_console(console.clone());
        }
    }

    /// Calls `observer` with each write any server commits (the web console's live events).
    pub fn set_observer(&mut self, observer: writer::Observer) {
        for writer in self.writers() {
            writer.set_observer(std::sync::Arc::clone(&observer));
        }
    }

    /// Every server's writer.
    fn writers(&mut self) -> impl Iterator<Item = &mut RecordWriter> {
        let registries = [
            self.ct.journal_mut(),
            self.cu.journal_mut(),
            self.dm.journal_mut(),
        ];
        let ctiot = self.ctiot.iter_mut().map(|node| node.journal_mut());
        registries.into_iter().chain(ctiot)
    }

    /// Attaches the servers to a simulated network; reach each afterwards with
    /// `net.node::<RegistryServer>(at.ct)`, `net.node::<DmServer>(at.dm)` or
    /// `net.node::<CtIotServer>(at.aep)`.
    pub fn attach(self, net: &mut SimNetwork, at: &Addresses) {
        net.attach(at.ct, self.ct);
        net.attach(at.cu, self.cu);
        net.attach(at.dm, self.dm);
        for (node, (_, _, address)) in self.ctiot.into_iter().zip(at.ctiot()) {
            net.attach(address, node);
        }
    }

    /// Runs `action` on each node of `server` (the CT IoT platforms have two), to set its faults.
    pub fn with_faulty(&mut self, server: Server, action: &mut dyn FnMut(&mut dyn Faulty)) {
        match server {
            Server::Ct => action(&mut self.ct),
            Server::Cu => action(&mut self.cu),
            Server::Dm => action(&mut self.dm),
            Server::Iot | Server::Aep => {
                for node in &mut self.ctiot {
                    if node.flavour().server() == server {
                        action(node);
                    }
                }
            }
        }
    }
}
