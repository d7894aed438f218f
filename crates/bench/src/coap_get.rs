//! `nbmodem-bench coap-get`: confirmable GET throughput against our CoAP test server
//! (`coap_tool::TestServer` on its own thread, GET /test, 18 bytes) and against libcoap's example
//! server (`coap-server-notls`, GET /time, 15 bytes), with the same raw load generator.

use crate::load::{Generator, Rounds, Script, Tally};
use crate::served::serve;
use crate::sys;
use crate::wire::{Reply, RequestWriter, CONTENT, GET, URI_PATH};
use anyhow::{bail, Context, Result};
use nbmodem_cli::coap_tool::TestServer;
use nbmodem_coap::EndpointConfig;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    Nbmodem,
    Libcoap,
    Both,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = Target::Both)]
    server: Target,
    /// How long each server is measured.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Client sockets, one client each (libcoap's cost per request grows with the number of peers).
    #[arg(long, default_value_t = 100)]
    sockets: usize,
    /// Requests outstanding at most, over all sockets.
    #[arg(long, default_value_t = 128)]
    window: usize,
}

/// A client that GETs one resource and expects 2.05 with a payload.
struct Getter {
    request: Vec<u8>,
}

impl Getter {
    fn new(path: &str) -> Self {
        let mut request = Vec::new();
        let mut writer = RequestWriter::new(&mut request, GET);
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            writer.option(URI_PATH, segment.as_bytes());
        }
        Getter { request }
    }
}

impl Script for Getter {
    fn message(&mut self) -> &mut Vec<u8> {
        &mut self.request
    }

    fn check(&mut self, reply: &Reply<'_>) -> Result<(), String> {
        match (reply.code, reply.payload.is_empty()) {
            (CONTENT, false) => Ok(()),
            _ => Err(format!("expected 2.05 with a payload, got {reply:?}")),
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "coap-get: {} sockets, window {}, {} s each, load average {:.2}",
        args.sockets,
        args.window,
        args.seconds,
        sys::load_average()?
    );
    let ours = matches!(args.server, Target::Nbmodem | Target::Both)
        .then(|| runtime.block_on(nbmodem(&args)))
        .transpose()?;
    let theirs = matches!(args.server, Target::Libcoap | Target::Both)
        .then(|| runtime.block_on(libcoap(&args)))
        .transpose()?;
    if let (Some(ours), Some(theirs)) = (ours, theirs) {
        println!("ratio nbmodem / libcoap: {:.2}", ours / theirs);
    }
    Ok(())
}

/// Our test server on its own thread; returns GETs per second.
async fn nbmodem(args: &Args) -> Result<f64> {
    let server = serve(|| TestServer::new(EndpointConfig::default()))?;
    let tid = server.tid;
    let rate = drive(args, "nbmodem /test", server.address, "/test", || {
        sys::thread_cpu(tid)
    })
    .await;
    server.stop()?;
    rate
}

/// libcoap's example server as a child process; returns GETs per second.
async fn libcoap(args: &Args) -> Result<f64> {
    let port = free_port()?;
    let mut child = Command::new("coap-server-notls")
        .args(["-A", "127.0.0.1", "-p", &port.to_string()])
        .spawn()
        .context("starting coap-server-notls (Debian package libcoap3-bin)")?;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let pid = child.id();
    let rate = match wait_until_up(address, &mut child) {
        Ok(()) => {
            drive(args, "libcoap /time", address, "/time", || {
                sys::process_cpu(pid)
            })
            .await
        }
        Err(e) => Err(e),
    };
    child.kill()?;
    child.wait()?;
    rate
}

/// A port nothing listens on right now.
fn free_port() -> Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Sends a GET about every 100 ms until the server answers (for 5 to 10 s).
fn wait_until_up(server: SocketAddr, child: &mut Child) -> Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(server)?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut probe = Getter::new("/time");
    let mut buf = [0u8; 512];
    for mid in 0..50u16 {
        if let Some(status) = child.try_wait()? {
            bail!("coap-server-notls exited: {status}");
        }
        crate::wire::stamp(probe.message(), mid, Some(0));
        // Until the server binds, sends and receives fail at once (ICMP port unreachable).
        if socket.send(probe.message()).is_ok() && socket.recv(&mut buf).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("coap-server-notls does not answer on {server}")
}

/// A warm-up round (one GET per socket), then GETs for `args.seconds`.
async fn drive(
    args: &Args,
    name: &str,
    server: SocketAddr,
    path: &str,
    server_cpu: impl Fn() -> Result<Duration>,
) -> Result<f64> {
    let clients: Vec<Getter> = (0..args.sockets).map(|_| Getter::new(path)).collect();
    let mut generator = Generator::start(server, clients, args.sockets, args.window).await?;
    generator.run(Rounds::Once).await?;
    let me = sys::thread_id()?;
    let (server_before, me_before) = (server_cpu()?, sys::thread_cpu(me)?);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.seconds);
    let tally: Tally = generator.run(Rounds::Until(deadline)).await?;
    let (server_used, me_used) = (
        server_cpu()? - server_before,
        sys::thread_cpu(me)? - me_before,
    );
    generator.stop();
    println!("{name}: {}", tally.describe(server_used, me_used));
    Ok(tally.per_second())
}
