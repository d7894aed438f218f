//! The `nbmodem platform` command as a user runs it (its HTTP API too), and the CT registry it serves against an
//! independent CoAP client (libcoap).

mod api;
mod api_bounds;
mod binary;
mod cli;
mod durable;
mod fota_api;
#[path = "../../../store/tests/shared/full_disk.rs"]
mod full_disk;
mod interop_libcoap;
#[path = "../shared/sample.rs"]
mod sample;
