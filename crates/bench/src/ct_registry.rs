//! `nbmodem-bench ct-registry`: the China Telecom self-registration stand-in on its own thread and
//! UDP socket, its records in a fresh database, and N raw-CoAP clients posting their records to it
//! for a while. Every request is a durable record before it is answered; the figure is
//! registrations answered per second, and the records stored are counted at the end.

use crate::load::{Generator, Rounds, Script};
use crate::served::serve;
use crate::sys;
use crate::wire::{Reply, RequestWriter, CONTENT, CONTENT_FORMAT, POST, URI_PATH};
use anyhow::{bail, Context, Result};
use nbmodem_operators::selfreg::{model_field, RegistrationRecord, Registry, REGVER};
use nbmodem_platform::{Server, Store, Writing};
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Simulated modules.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// How long they post.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Requests outstanding at most, over all sockets.
    #[arg(long, default_value_t = 128)]
    window: usize,
    /// Client sockets (source ports).
    #[arg(long, default_value_t = 256)]
    sockets: usize,
}

/// A module posting its self-registration record again and again.
struct Module {
    post: Vec<u8>,
}

impl Module {
    fn new(i: usize) -> Self {
        let record = RegistrationRecord {
            regver: REGVER.into(),
            meid: format!("86597503{i:07}"),
            model: model_field("QUE", "BC260Y-CN"),
            swver: "BC260YCNAAR02A01".into(),
            iccid: format!("8986110000{i:010}"),
            imsi: format!("46011{i:010}"),
        };
        let mut post = Vec::with_capacity(256);
        RequestWriter::new(&mut post, POST)
            .option(URI_PATH, b"nb")
            .option(CONTENT_FORMAT, &[50])
            .payload(&record.encode(Registry::ChinaTelecom));
        Module { post }
    }
}

impl Script for Module {
    fn message(&mut self) -> &mut Vec<u8> {
        &mut self.post
    }

    fn check(&mut self, reply: &Reply<'_>) -> Result<(), String> {
        if reply.code != CONTENT || !reply.payload.windows(7).any(|w| w == b"Success") {
            return Err(format!(
                "answered {} {:?}",
                reply.code_text(),
                reply.payload
            ));
        }
        Ok(())
    }
}

pub fn run(args: Args) -> Result<()> {
    let dir = tempfile::tempdir()?;
    // Every record is counted afterwards: none may be removed to keep the database's size (a
    // fast run passes the default 100 000).
    nbmodem_platform::writer::Storage::of(dir.path()).set_records_kept(u64::MAX);
    let data = dir.path().to_path_buf();
    let server = serve(move || {
        nbmodem_platform::registry_server(Registry::ChinaTelecom, &data, 1, Writing::Thread)
            .expect("opening the database")
    })?;
    let wake = server.wake_handle();
    server.node().journal_mut().set_wake(wake);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tally = runtime.block_on(async {
        println!(
            "ct-registry: {} clients on {} sockets, window {}, load average {:.2}",
            args.clients,
            args.sockets,
            args.window,
            sys::load_average()?
        );
        let clients: Vec<Module> = (0..args.clients).map(Module::new).collect();
        let mut generator =
            Generator::start(server.address, clients, args.sockets, args.window).await?;
        let me = sys::thread_id()?;
        let (server_before, me_before) = (sys::thread_cpu(server.tid)?, sys::thread_cpu(me)?);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(args.seconds);
        let tally = generator.run(Rounds::Until(deadline)).await?;
        let (server_cpu, my_cpu) = (
            sys::thread_cpu(server.tid)? - server_before,
            sys::thread_cpu(me)? - me_before,
        );
        println!("register: {}", tally.describe(server_cpu, my_cpu));
        generator.stop();
        anyhow::Ok(tally)
    })?;
    server.stop()?;
    let stored = Store::open(dir.path())?
        .records(Server::Ct)
        .context("reading the records back")?
        .len() as u64;
    println!(
        "records stored: {stored} (exchanges answered: {})",
        tally.exchanges
    );
    if stored < tally.exchanges {
        bail!(
            "{} answered registrations have no record",
            tally.exchanges - stored
        );
    }
    Ok(())
}
