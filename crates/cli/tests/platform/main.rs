//! The `nbmodem platform` command as a user runs it (its HTTP API too), and the CT registry it
//! serves against an independent CoAP client (libcoap). The full disk and the sample record are
//! those of the store's and the platform's own tests (their `tests/shared`), so that all agree.

mod api;
mod api_bounds;
mod binary;
mod cli;
mod codec;
mod console_api;
mod durable;
mod fota_api;
#[path = "../../../store/tests/shared/full_disk.rs"]
mod full_disk;
mod interop_libcoap;
mod operations;
#[path = "../../../platform/tests/shared/sample.rs"]
mod sample;
