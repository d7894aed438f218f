//! The software NB-IoT module.
//!
//! - [`profile`]: every model of the seeds as data ([`Profile`], [`PROFILES`]).
//! - [`module`]: the sans-IO [`Module`] fed with UART bytes and time.
//! - [`commands`]: the AT command handlers and each profile's command table.
//! - [`nvram`]: saved settings and their atomic stores.
//! - [`errors`]: error kinds and each profile's `+CME ERROR` table.
//! - [`neul`]: the Neul family's saved settings (AT+NCONFIG, AT+NBAND, AT+NCDP, …).
//! - [`identity`]: IMEI, SIM and operator; [`revision`]: firmware revisions and their order.
//! - [`radio`]: the radio as one state machine: registration, the RRC connection with its release
//!   assistance, deep sleep (PSM), periodic TAU and paging; [`coverage`]: the radio condition (CE
//!   level, signal values, airtimes); [`power_saving`]: PSM and eDRX requested and granted;
//!   [`air`]: datagrams held for their airtime; [`routing`]: the module's view of the internet.
//! - [`service`]: the module's network services, each on its own local port, and the effects they
//!   have on the module; [`services`]: the protocol engines (self-registration, CMDMP DM).
//! - [`node`]: the module on a network, as a host with a port per service.
//! - [`tap`]: the UART lines, datagrams and notices a trace or a capture sees.

pub mod air;
pub mod commands;
pub mod coverage;
pub mod energy;
pub mod errors;
pub mod identity;
pub mod module;
pub mod neul;
pub mod node;
pub mod nvram;
pub mod power_saving;
pub mod profile;
pub mod radio;
pub mod revision;
pub mod routing;
pub mod service;
pub mod services;
pub mod tap;

pub use coverage::RadioCondition;
pub use identity::{Operator, Sim};
pub use module::{Module, ModuleConfig, ModuleError, Notice, BOOT_TIME, MAX_OUTPUT};
pub use nvram::{FileStore, MemoryStore, NvramData, NvramStore};
pub use profile::{find as find_profile, Profile, SleepControl, PROFILES};
pub use radio::NetworkConfig;
pub use routing::{Route, Router};
