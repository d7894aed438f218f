//! The software NB-IoT module.
//!
//! - [`profile`]: every model of the seeds as data ([`Profile`], [`PROFILES`]).
//! - [`module`]: the sans-IO [`Module`] fed with UART bytes and time.
//! - [`commands`]: the AT command handlers and each profile's command table.
//! - [`nvram`]: saved settings and their atomic stores.
//! - [`errors`]: error kinds and each profile's `+CME ERROR` table.
//! - [`identity`]: IMEI, SIM and operator; [`revision`]: firmware revisions and their order.
//! - [`radio`]: the simulated network registration; [`routing`]: the module's view of the internet.
//! - [`sleep`]: deep sleep (PSM): when the module enters it, what wakes it.

pub mod commands;
pub mod dm;
pub mod errors;
pub mod identity;
pub mod module;
pub mod node;
pub mod nvram;
pub mod profile;
pub mod radio;
pub mod revision;
pub mod routing;
pub mod selfreg;
pub mod sleep;

pub use identity::{Operator, Sim};
pub use module::{Module, ModuleConfig, ModuleError, Notice, BOOT_TIME};
pub use nvram::{FileStore, MemoryStore, NvramData, NvramStore};
pub use profile::{find as find_profile, Profile, PROFILES};
pub use radio::NetworkConfig;
pub use routing::{Route, Router};
