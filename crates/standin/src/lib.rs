//! The stand-in operator platforms' engines (behaviour.md §6), sans-IO: each is fed datagrams and
//! the time, and gives datagrams, timers and the writes it needs stored. None of them reads a
//! socket, a clock or a disk; the platform crate puts them on UDP sockets or a simulated network,
//! and the store crate stores their writes.
//!
//! - [`registry`]: the China Telecom (`POST /nb`) and China Unicom (`POST /`) self-registration
//!   registries (protocols.md §1–2);
//! - [`dm`]: the China Mobile CMDMP DM server (protocols.md §3), an LwM2M server that decrypts
//!   endpoint names and object 666 with the password issued for an app key;
//! - [`ctiot`]: the China Telecom IoT platform and CTWing AEP (protocols.md §4), each on a plain
//!   and a DTLS address, with products, devices, uplinks, downlinks and DFOTA upgrades.
//!
//! Each engine runs in the one [`shell::Shell`]: the fault gate ([`fault`]), one look at each
//! datagram ([`peek`]), and its answers held until the writes before them ([`write`]) are durable
//! in a [`shell::Journal`]. What a server records of each request is a [`record::RequestRecord`].

pub mod ctiot;
pub mod dm;
pub mod fault;
pub mod peek;
pub mod record;
pub mod registry;
pub mod shell;
pub mod write;

pub use ctiot::{CtIotEngine, Flavour};
pub use dm::{resource_name, AppKeys, DmDevice, DmEngine};
pub use fault::{Fault, Faults, Faulty, ServerFault};
pub use record::{RequestRecord, Server, Verdict};
pub use registry::RegistryEngine;
pub use shell::{Engine, Journal, Shell};
pub use write::{Ticket, Write};

use std::sync::{Mutex, MutexGuard};

/// Locks what an engine shares with its policies or the other nodes; a panic elsewhere while it
/// was held leaves it as it was, so we carry on.
pub(crate) fn lock<T>(shared: &Mutex<T>) -> MutexGuard<'_, T> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}
