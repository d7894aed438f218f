//! The CT IoT platforms as the HTTP API manages them: adding products, devices, keys and DFOTA
//! packages and tasks, and queueing downlinks, each durably first ([`admin`]), and the checks of
//! a signed package's upload ([`upload`]). The platforms' engine, its state and its types are
//! the stand-in crate's ([`nbmodem_standin::ctiot`]), re-exported here.

pub mod admin;
pub mod upload;

pub use admin::{Admin, AdminError, NewDevice};
pub use nbmodem_standin::ctiot::*;
