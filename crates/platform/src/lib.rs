//! Stand-in operator platforms (behaviour.md §6), so that a module can be exercised end to end
//! without the real networks:
//!
//! - [`RegistryServer`]: the China Telecom (`POST /nb`) or China Unicom (`POST /`)
//!   self-registration registry (protocols.md §1–2);
//! - [`DmServer`]: the China Mobile CMDMP DM server (protocols.md §3), an LwM2M server that
//!   decrypts endpoint names and object 666 with the password issued for an app key ([`appkey`]).
//!
//! Each is a sans-IO [`DatagramNode`](nbmodem_net::DatagramNode): [`Platform::attach`] puts all
//! three on a [`SimNetwork`] in virtual time, [`serve::serve`] runs them on UDP sockets in real
//! time. Every request is recorded durably ([`store`], [`record`]), through a writer that
//! commits in batches off the engine path and holds each answer until its record is on disk
//! ([`writer`]); faults (drop, reject, delay)
//! can be injected per server ([`fault`]), at start-up or through the control port ([`control`]).
//! [`cli`] is the `nbmodem platform` command.

pub mod appkey;
pub mod cli;
pub mod control;
mod control_port;
mod dm;
pub mod fault;
mod peek;
pub mod process;
pub mod record;
mod registry;
pub mod serve;
pub mod store;
pub mod writer;

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

/// Where the three servers listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    pub ct: SocketAddr,
    pub cu: SocketAddr,
    pub dm: SocketAddr,
}

impl Default for Addresses {
    /// 127.0.0.1 ports 15683 (CT), 15684 (CU) and 15685 (DM).
    fn default() -> Self {
        let at = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        Addresses {
            ct: at(15683),
            cu: at(15684),
            dm: at(15685),
        }
    }
}

impl Addresses {
    /// The `HOST=IP:PORT` routes that send a module's traffic for the operators' hosts here (each
    /// is the value of a `--route` argument of `nbmodem sandbox`).
    pub fn routes(&self) -> Vec<String> {
        [
            (CT_HOSTS, self.ct),
            (CU_HOSTS, self.cu),
            (DM_HOSTS, self.dm),
        ]
        .iter()
        .flat_map(|(hosts, to)| hosts.iter().map(move |host| format!("{host}={to}")))
        .collect()
    }
}

/// The three servers, recording into one data directory.
pub struct Platform {
    pub ct: RegistryServer,
    pub cu: RegistryServer,
    pub dm: DmServer,
}

impl Platform {
    /// Opens the three servers on the database in `data_dir`, writing as `writing` says;
    /// `seed` seeds their CoAP message IDs and tokens.
    pub fn open(data_dir: &Path, seed: u64, writing: Writing) -> Result<Platform, StoreError> {
        let registry = |r, s| RegistryServer::open(r, data_dir, s, writing);
        Ok(Platform {
            ct: registry(Registry::ChinaTelecom, seed)?,
            cu: registry(Registry::ChinaUnicom, seed.wrapping_add(1))?,
            dm: DmServer::open(data_dir, seed.wrapping_add(2), writing)?,
        })
    }

    /// Prints a line per request each server handles on standard error.
    pub fn set_console(&mut self, on: bool) {
        self.ct.set_console(on);
        self.cu.set_console(on);
        self.dm.set_console(on);
    }

    /// Attaches the servers to a simulated network; reach each afterwards with
    /// `net.node::<RegistryServer>(at.ct)` or `net.node::<DmServer>(at.dm)`.
    pub fn attach(self, net: &mut SimNetwork, at: &Addresses) {
        net.attach(at.ct, self.ct);
        net.attach(at.cu, self.cu);
        net.attach(at.dm, self.dm);
    }

    /// The server named `server`, to set its faults.
    pub fn faulty(&mut self, server: Server) -> &mut dyn Faulty {
        match server {
            Server::Ct => &mut self.ct,
            Server::Cu => &mut self.cu,
            Server::Dm => &mut self.dm,
        }
    }
}
