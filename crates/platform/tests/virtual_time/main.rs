//! The platforms in virtual time, on a simulated network: the CT and CU registries against a CoAP
//! client, each fault kind, and the DM server against a real LwM2M client.

mod common;
mod dm;
mod durable;
mod faults;
#[path = "../../../store/tests/shared/full_disk.rs"]
mod full_disk;
mod registries;
#[path = "../shared/sample.rs"]
mod sample;
