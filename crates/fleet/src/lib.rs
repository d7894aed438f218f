//! `nbmodem fleet`: many whole modules at once, each the same byte-exact module as `nbmodem
//! modem`, typed at in AT as firmware would, against the stand-in platforms in virtual or real time.
//!
//! - [`spec`]: the fleet file (TOML): groups (model, count, identities from the index, coverage
//!   mix, a start script and schedules of AT steps) and events (power cuts, platform faults);
//! - [`shard`]: which slice of the fleet one process runs (`--shard K/N`, or a Kubernetes
//!   Indexed Job's index);
//! - [`run`]: the run itself, its agenda and steps, on one simulated network;
//! - [`parallel`]: a shard run on several threads, a slice and a simulated network each;
//! - [`real_time`]: the same run in real time, on sockets, with the stand-ins in the process or
//!   routes to the user's servers;
//! - [`summary`]: what it measured, per group and in total, in a form shards merge exactly;
//! - [`plot`]: the run as a picture (SVG): starts and uplinks over time, energy per device.

pub mod parallel;
pub mod plot;
pub mod real_time;
pub mod run;
pub mod shard;
pub mod spec;
pub mod summary;

pub use run::{DeviceRow, Progress, Run, RunError, Testbed};
pub use shard::Shard;
pub use spec::{Fleet, SpecError};
pub use summary::{MergeError, Summary};
