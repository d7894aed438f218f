//! Running nbmodem in virtual time.
//!
//! - [`Bench`] holds a module on a [`VirtualClock`](nbmodem_clock::VirtualClock): send it bytes,
//!   read what it writes, move time forward (timer to timer, never sleeping), cut its power.
//! - [`script`] parses plain-text scenario scripts (the format is documented in
//!   `docs/scenarios.md`), and [`run`] plays one on a bench, stopping at the first expectation that
//!   does not hold with a report that shows the difference.
//! - [`expected`] builds the answers tests expect, framed as the module frames them.
//! - [`StandIns`] puts the stand-in operator platforms beside a bench's module.

mod bench;
pub mod expected;
mod run;
pub mod script;
mod stand_ins;

pub use bench::{Bench, ModuleSetup, SetupError, MODULE_IP};
pub use run::{run, run_tapped, Passed, ScenarioFailure};
pub use script::{parse, Scenario, ScriptError, Step};
pub use stand_ins::StandIns;
