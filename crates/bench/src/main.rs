//! `nbmodem-bench`: load and memory measurements of the LwM2M server, the LwM2M client and the
//! CoAP server, against the targets in `docs/performance.md` (where the figures are written up).
//! All traffic stays on 127.0.0.1.
//!
//! - `lwm2m-server`: Register/Update exchanges per second and memory per registered client.
//! - `lwm2m-client-memory`: memory per simulated `Lwm2mClient`.
//! - `coap-get`: GET throughput of our CoAP server and of libcoap's.
//! - `ct-registry`: durable self-registration records per second of the CT stand-in.
//! - `ct-iot`: durable uplinks per second, and memory per device, of the CT IoT platform stand-in.
//! - `dtls-flood`: memory and time of a flood of cookie-returning ClientHellos against a DTLS
//!   server, and whether a device with the key still connects.
//! - `fota-download`: wall-clock time of a DFOTA download and upgrade in virtual time.
//! - `fleet-sim`: wall time per virtual hour and heap per module of a fleet of whole modules with
//!   the stand-in platforms in virtual time.
//! - `fleet-real-time`: whether a fleet of whole modules in real time, on loopback sockets with
//!   the stand-in platforms in the process, holds the uplink rate its fleet file asks for.
//! - `fota-serve`: firmware blocks per second the CT IoT platform stand-in serves to concurrent
//!   downloads.

mod alloc;
mod client_memory;
mod coap_get;
mod ct_iot;
mod ct_registry;
mod dtls_flood;
mod fleet_real_time;
mod fleet_sim;
mod fota_download;
mod fota_serve;
mod load;
mod lwm2m_server;
mod measure;
mod served;
mod sys;
mod wire;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

#[derive(Debug, Parser)]
#[command(
    name = "nbmodem-bench",
    about = "Load and memory benchmarks of nbmodem's engines"
)]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// N raw-CoAP LwM2M clients against an Lwm2mServer on one thread: Register, then Updates.
    Lwm2mServer(lwm2m_server::Args),
    /// N Lwm2mClients registered on a SimNetwork: memory per client.
    Lwm2mClientMemory(client_memory::Args),
    /// Confirmable GETs against our CoAP server and libcoap's coap-server-notls.
    CoapGet(coap_get::Args),
    /// Modules posting self-registration records to the CT stand-in: durable records per second.
    CtRegistry(ct_registry::Args),
    /// Devices sending confirmable uplinks to the CT IoT platform stand-in: durable uplinks per
    /// second and memory per device.
    CtIot(ct_iot::Args),
    /// ClientHellos that return their cookie, against a DTLS server in virtual time: memory, time,
    /// and whether a device with the key connects during the flood.
    DtlsFlood(dtls_flood::Args),
    /// A BC260Y-CN upgraded by DFOTA in virtual time: wall-clock time of the download.
    FotaDownload(fota_download::Args),
    /// A fleet of BC260Y-CN modules driven by AT lines, registered with the CT IoT platform
    /// stand-in and sending uplinks, in virtual time: wall time per virtual hour, heap per module.
    FleetSim(fleet_sim::Args),
    /// A fleet of BC260Y-CN modules in real time on loopback sockets, the stand-in platforms in
    /// the process: whether it holds the uplink rate it asks for.
    FleetRealTime(fleet_real_time::Args),
    /// Concurrent downloads of a firmware package from the CT IoT platform stand-in: blocks per
    /// second.
    FotaServe(fota_serve::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Bench::Lwm2mServer(args) => lwm2m_server::run(args),
        Bench::Lwm2mClientMemory(args) => client_memory::run(args),
        Bench::CoapGet(args) => coap_get::run(args),
        Bench::CtRegistry(args) => ct_registry::run(args),
        Bench::CtIot(args) => ct_iot::run(args),
        Bench::DtlsFlood(args) => dtls_flood::run(args),
        Bench::FotaDownload(args) => fota_download::run(args),
        Bench::FotaServe(args) => fota_serve::run(args),
        Bench::FleetSim(args) => fleet_sim::run(args),
        Bench::FleetRealTime(args) => fleet_real_time::run(args),
    }
}
