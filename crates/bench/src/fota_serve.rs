//! `nbmodem-bench fota-serve`: the China Telecom IoT platform stand-in (plain CoAP) on its own
//! thread and UDP socket, with one firmware package on it, serving N concurrent downloads: N raw
//! CoAP clients, each on a socket of its own, fetch `GET /fota/<id>` block by block (Block2,
//! 512-byte blocks, the next block after each answer, from the first again after the last), for
//! a while. Every block is checked against the package's bytes. Reports blocks per second, and
//! how many blocks the platform itself answered (each writes a `download` record; the CoAP
//! endpoint answers the others from the response it kept for the peer, while its block memory
//! budget lasts).
//!
//! The platform serves `/fota/…` to any peer, registered or not (its LwM2M server hands every
//! request under `/fota` to the platform before any registration is looked up), so the clients do
//! not register.

use crate::load::{Generator, Rounds, Script};
use crate::lwm2m_server::expect;
use crate::measure::phase;
use crate::served::serve;
use crate::sys;
use crate::wire::{self, Reply, RequestWriter, CONTENT, GET, URI_PATH};
use anyhow::{bail, Result};
use nbmodem_fota::DeltaPackage;
use nbmodem_platform::ctiot::admin::NewPackage;
use nbmodem_platform::ctiot::fota::FOTA_PATH;
use nbmodem_platform::ctiot::Admin;
use nbmodem_platform::writer::RecordWriter;
use nbmodem_platform::{CtIotServer, Flavour, Server, Store, Writing};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The Block2 option (RFC 7959).
const BLOCK2: u16 = 23;
/// SZX 5: 512-byte blocks, as the modules ask.
const SZX: u32 = 5;
const BLOCK: usize = 16 << SZX;
const PACKAGE: &str = "p1";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Concurrent downloads: clients, each on a socket of its own.
    #[arg(long, default_value_t = 1_000)]
    clients: usize,
    /// Payload bytes of the package (its header adds 89).
    #[arg(long, default_value_t = 100 * 1024)]
    size: usize,
    /// How long the clients download.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Requests outstanding at most, over all clients.
    #[arg(long, default_value_t = 128)]
    window: usize,
}

/// A client downloading the package block by block, over and over.
struct Downloader {
    package: Arc<Vec<u8>>,
    /// The block asked for next.
    num: usize,
    request: Vec<u8>,
}

impl Downloader {
    fn new(package: Arc<Vec<u8>>) -> Self {
        let mut downloader = Downloader {
            package,
            num: 0,
            request: Vec::with_capacity(32),
        };
        downloader.ask(0);
        downloader
    }

    /// Writes the GET of block `num` into the request.
    fn ask(&mut self, num: usize) {
        self.num = num;
        let mut block = [0; 4];
        let value = (num as u32) << 4 | SZX;
        RequestWriter::new(&mut self.request, GET)
            .option(URI_PATH, FOTA_PATH.as_bytes())
            .option(URI_PATH, PACKAGE.as_bytes())
            .option(BLOCK2, wire::uint(value, &mut block));
    }

    /// Checks a block against the package; returns whether more follow.
    fn check_block(&self, reply: &Reply<'_>) -> Result<bool, String> {
        expect(reply, CONTENT)?;
        let Some((_, value)) = reply.options().find(|(n, _)| *n == BLOCK2) else {
            return Err("no Block2 option".into());
        };
        let value = value.iter().fold(0u32, |v, b| v << 8 | u32::from(*b));
        let (num, more, szx) = ((value >> 4) as usize, value & 0x8 != 0, value & 0x7);
        let start = self.num * BLOCK;
        let expected = &self.package[start..(start + BLOCK).min(self.package.len())];
        let last = start + BLOCK >= self.package.len();
        if num != self.num || szx != SZX || more == last || reply.payload != expected {
            return Err(format!(
                "block {} asked, block {num} (SZX {szx}, more {more}) of {} bytes came, not the \
                 package's",
                self.num,
                reply.payload.len()
            ));
        }
        Ok(more)
    }
}

impl Script for Downloader {
    fn message(&mut self) -> &mut Vec<u8> {
        &mut self.request
    }

    fn check(&mut self, reply: &Reply<'_>) -> Result<(), String> {
        let next = if self.check_block(reply)? {
            self.num + 1
        } else {
            0
        };
        self.ask(next);
        Ok(())
    }
}

/// The IoT platform's plain-CoAP node on a fresh database in `dir`, with `package` on it.
fn open_platform(dir: &Path, package: Vec<u8>) -> Result<CtIotServer> {
    let state = Store::open(dir)?.ctiot_state()?.shared();
    let mut admin = Admin::new(
        Arc::clone(&state),
        RecordWriter::open(dir, Writing::Inline)?,
    );
    let new = NewPackage {
        id: PACKAGE.into(),
        bytes: package,
        manufacturer: "quectel".into(),
        device_type: "WaterMeter".into(),
        model: "NBIoTDevice".into(),
        protocol: "CoAP".into(),
        uri: None,
    };
    let pending = admin.add_package(Flavour::Iot, new)?;
    admin.apply(pending);
    Ok(nbmodem_platform::ctiot_server(
        Flavour::Iot,
        false,
        state,
        dir,
        1,
        Writing::Thread,
    )?)
}

pub fn run(args: Args) -> Result<()> {
    let package =
        DeltaPackage::make("BC260YCNAAR02A01", "BC260YCNAAR02A02", args.size, 7)?.encode();
    let dir = tempfile::tempdir()?;
    let platform = open_platform(dir.path(), package.clone())?;
    let server = serve(move || platform)?;
    let wake = server.wake_handle();
    server.node().journal_mut().set_wake(wake);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let package = Arc::new(package);
    let outcome = runtime.block_on(async {
        println!(
            "fota-serve: {} clients, a socket each, a {}-byte package ({} blocks), window {}, \
             load average {:.2}",
            args.clients,
            package.len(),
            package.len().div_ceil(BLOCK),
            args.window,
            sys::load_average()?
        );
        let clients = (0..args.clients)
            .map(|_| Downloader::new(Arc::clone(&package)))
            .collect();
        let mut generator =
            Generator::start(server.address, clients, args.clients, args.window).await?;
        let me = sys::thread_id()?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(args.seconds);
        let tally = phase(
            &mut generator,
            &server,
            me,
            Rounds::Until(deadline),
            "blocks",
        )
        .await?;
        generator.stop();
        if tally.exchanges == 0 {
            bail!("no block was served");
        }
        anyhow::Ok(tally.exchanges)
    });
    server.stop()?;
    let blocks = outcome?;
    let recorded = Store::open(dir.path())?
        .records(Server::Iot)?
        .iter()
        .filter(|r| r.operation == "download")
        .count();
    println!(
        "every one of the {blocks} blocks was the package's ({:.1} packages' worth); {recorded} \
         of them answered by the platform (a download record each), the others from the kept \
         response",
        blocks as f64 / package.len().div_ceil(BLOCK) as f64
    );
    Ok(())
}
