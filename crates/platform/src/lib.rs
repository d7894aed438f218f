//! Stand-in operator platforms (behaviour.md §6), so that a module can be exercised end to end
//! without the real networks:
//!
//! - [`RegistryServer`]: the China Telecom (`POST /nb`) or China Unicom (`POST /`)
//!   self-registration registry (protocols.md §1–2);
//! - [`DmServer`]: the China Mobile CMDMP DM server (protocols.md §3), an LwM2M server that
//!   decrypts endpoint names and object 666 with the password issued for an app key ([`appkey`]);
//! - [`CtIotServer`]: the China Telecom IoT platform and CTWing AEP (protocols.md §4), each on a
//!   plain and a DTLS address, with products, devices, uplinks and downlinks ([`ctiot`]).
//!
//! Each is a sans-IO [`DatagramNode`](nbmodem_net::DatagramNode): [`Platform::attach`] puts all
//! three on a [`SimNetwork`] in virtual time, [`serve::serve`] runs them on UDP sockets in real
//! time. Every request is recorded durably ([`store`], [`record`]), through a writer that
//! commits in batches off the engine path and holds each answer until its record is on disk
//! ([`writer`]); faults (drop, reject, delay)
//! can be injected per server ([`fault`]), at start-up or through the control port ([`control`]).
//! The CT IoT platforms are managed through an HTTP JSON API ([`api`]). [`cli`] is the
//! `nbmodem platform` command.

pub mod api;
pub mod appkey;
pub mod cli;
pub mod console;
pub mod control;
mod control_port;
pub mod ctiot;
mod dm;
pub mod fault;
pub mod peek;
pub mod private;
pub mod process;
pub mod record;
mod registry;
pub mod schema;
pub mod serve;
pub mod shell;
pub mod store;
pub mod writer;

pub use console::Console;
pub use ctiot::{CtIotServer, Flavour};
pub use dm::{resource_name, DmServer};
pub use fault::{Fault, Faults, Faulty, ServerFault};
pub use record::{RequestRecord, Server, Verdict};
pub use registry::RegistryServer;
pub use store::{AppKey, DmDevice, Store, StoreError};
pub use writer::Writing;

use nbmodem_net::sim::SimNetwork;
use nbmodem_operators::selfreg::Registry;
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

/// The servers, recording into one data directory.
pub struct Platform {
    pub ct: RegistryServer,
    pub cu: RegistryServer,
    pub dm: DmServer,
    /// The CT IoT platforms, in the order of [`Addresses::ctiot`].
    pub ctiot: Vec<CtIotServer>,
    /// What the CT IoT platforms share (devices, downlinks), for those who manage them.
    pub ctiot_state: ctiot::SharedState,
}

impl Platform {
    /// Opens the servers on the database in `data_dir`, writing as `writing` says; `seed` seeds
    /// their CoAP message IDs and tokens.
    pub fn open(data_dir: &Path, seed: u64, writing: Writing) -> Result<Platform, StoreError> {
        let registry = |r, s| RegistryServer::open(r, data_dir, s, writing);
        let ctiot_state = Store::open(data_dir)?.ctiot_state()?.shared();
        let ctiot = Addresses::default()
            .ctiot()
            .into_iter()
            .zip(3u64..)
            .map(|((flavour, secure, _), n)| {
                let state = std::sync::Arc::clone(&ctiot_state);
                CtIotServer::open(
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
            dm: DmServer::open(data_dir, seed.wrapping_add(2), writing)?,
            ctiot,
            ctiot_state,
        })
    }

    /// Gives `console` a line per request each server handles (none: no lines).
    pub fn set_console(&mut self, console: Option<Console>) {
        self.ct.journal_mut().set_console(console.clone());
        self.cu.journal_mut().set_console(console.clone());
        self.dm.journal_mut().set_console(console.clone());
        for node in &mut self.ctiot {
            node.journal_mut().set_console(console.clone());
        }
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
