//! The pieces of the `nbmodem` command that tests and benchmarks use too: the real-time driver
//! ([`driver`]) and the writer of its trace and capture ([`capture`]), the ways a host connects
//! to the module's AT port ([`port`]), the CoAP test server and client ([`coap_tool`]), the
//! DFOTA signing tool ([`fota`]), the console that shares a terminal with the AT port
//! ([`console`]), and `nbmodem platform` with its client of the platforms' HTTP API
//! ([`platform`]).

pub mod capture;
pub mod coap_tool;
pub mod console;
pub mod driver;
pub mod fleet;
pub mod fota;
pub mod platform;
pub mod port;
