//! The pieces of the `nbmodem` command that tests and benchmarks use too: the real-time driver
//! ([`driver`]) and the ways a host connects to the module's AT port ([`port`]).

pub mod driver;
pub mod port;
