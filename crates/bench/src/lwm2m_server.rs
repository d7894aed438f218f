//! `nbmodem-bench lwm2m-server`: an `Lwm2mServer` on its own thread and UDP socket, and N raw-CoAP
//! LwM2M clients against it. Phase 1 registers every client, phase 2 sends Updates for a while;
//! then the server's clock jumps past EXCHANGE_LIFETIME so that its duplicate-detection records
//! are swept and only the registration store is left. Reports exchanges per second and memory per
//! registered client after each step.

use crate::load::{Generator, Rounds, Script};
use crate::measure::{jump_clock, phase, Memory, Skewed};
use crate::served::{serve, Served};
use crate::sys;
use crate::wire::{Reply, RequestWriter, CHANGED, CONTENT_FORMAT, CREATED, LOCATION_PATH, POST};
use crate::wire::{URI_PATH, URI_QUERY};
use anyhow::{bail, Result};
use nbmodem_clock::Instant;
use nbmodem_coap::EndpointConfig;
use nbmodem_lwm2m::server::{Lwm2mServer, ServerEvent};
use nbmodem_net::{DatagramNode, Transmit};
use std::net::SocketAddr;
use std::time::Duration;

/// The registration payload of a typical NB-IoT module (security, device, connectivity
/// monitoring, and the two binary app data containers of a CT/OneNET style platform).
const LINKS: &[u8] = b"</>;rt=\"oma.lwm2m\",</1/0>,</3/0>,</4/0>,</19/0>,</19/1>";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Simulated clients.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// How long phase 2 sends Updates.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Client sockets (source ports); clients share them when there are fewer. Default: one per
    /// client, at most 10 000 (the open-file limit here is 20 000).
    #[arg(long)]
    sockets: Option<usize>,
    /// Requests outstanding at most, over all sockets.
    #[arg(long, default_value_t = 128)]
    window: usize,
}

/// A 15-digit IMEI-like endpoint name.
pub fn imei(i: usize) -> String {
    format!("86597503{:07}", i)
}

/// A client: its Register, then Updates to the location the server gave it.
struct Lwm2mPeer {
    register: Vec<u8>,
    update: Vec<u8>,
    registered: bool,
}

/// The Register of client `i` (lifetime 86 400 s, binding U), its objects in link format.
pub fn register(i: usize, links: &[u8]) -> Vec<u8> {
    let mut register = Vec::with_capacity(128);
    RequestWriter::new(&mut register, POST)
        .option(URI_PATH, b"rd")
        .option(CONTENT_FORMAT, &[40])
        .option(URI_QUERY, format!("ep={}", imei(i)).as_bytes())
        .option(URI_QUERY, b"lt=86400")
        .option(URI_QUERY, b"lwm2m=1.0")
        .option(URI_QUERY, b"b=U")
        .payload(links);
    register
}

impl Lwm2mPeer {
    fn new(i: usize) -> Self {
        Lwm2mPeer {
            register: register(i, LINKS),
            // Room for `/rd/<n>`, so that registering allocates nothing on this side.
            update: Vec::with_capacity(32),
            registered: false,
        }
    }

    /// Turns the Location-Path of the 2.01 into the Update's Uri-Path.
    fn learn_location(&mut self, reply: &Reply<'_>) -> Result<(), String> {
        let mut writer = RequestWriter::new(&mut self.update, POST);
        let mut segments = reply.options().filter(|(n, _)| *n == LOCATION_PATH);
        match segments.next() {
            Some((_, b"rd")) => writer.option(URI_PATH, b"rd"),
            _ => return Err("2.01 without a Location-Path under /rd".into()),
        };
        for (_, segment) in segments {
            writer.option(URI_PATH, segment);
        }
        Ok(())
    }
}

pub fn expect(reply: &Reply<'_>, code: u8) -> Result<(), String> {
    if reply.code == code {
        Ok(())
    } else {
        Err(format!(
            "expected {}.{:02}, got {}",
            code >> 5,
            code & 0x1F,
            reply.code_text()
        ))
    }
}

impl Script for Lwm2mPeer {
    fn message(&mut self) -> &mut Vec<u8> {
        if self.registered {
            &mut self.update
        } else {
            &mut self.register
        }
    }

    fn check(&mut self, reply: &Reply<'_>) -> Result<(), String> {
        if self.registered {
            return expect(reply, CHANGED);
        }
        expect(reply, CREATED)?;
        self.learn_location(reply)?;
        self.registered = true;
        Ok(())
    }
}

/// The server as an application runs it: events are taken (and counted) as they come.
struct BenchServer {
    inner: Lwm2mServer,
    registered: u64,
    updated: u64,
    other_events: u64,
}

impl BenchServer {
    fn new() -> Skewed<Self> {
        Skewed::new(BenchServer {
            inner: Lwm2mServer::new(EndpointConfig::default()),
            registered: 0,
            updated: 0,
            other_events: 0,
        })
    }

    fn drain(&mut self) {
        while let Some(event) = self.inner.poll_event() {
            match event {
                ServerEvent::Registered { .. } => self.registered += 1,
                ServerEvent::Updated { .. } => self.updated += 1,
                ServerEvent::Answered { status, .. } if !status.is_error() => {}
                _ => self.other_events += 1,
            }
        }
    }
}

impl DatagramNode for BenchServer {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.inner.handle_datagram(now, from, datagram);
        self.drain();
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.inner.poll_transmit()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        self.drain();
    }
}

type Server = Served<Skewed<BenchServer>>;

pub fn run(args: Args) -> Result<()> {
    let sockets = args.sockets.unwrap_or(args.clients.min(10_000));
    let server = serve(BenchServer::new)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(measure(&args, sockets, &server));
    server.stop()?;
    outcome
}

async fn measure(args: &Args, sockets: usize, server: &Server) -> Result<()> {
    let n = args.clients;
    println!(
        "lwm2m-server: {n} clients on {sockets} sockets, window {}, load average {:.2}",
        args.window,
        sys::load_average()?
    );
    let clients: Vec<Lwm2mPeer> = (0..n).map(Lwm2mPeer::new).collect();
    let mut generator = Generator::start(server.address, clients, sockets, args.window).await?;
    let me = sys::thread_id()?;
    let base = Memory::now()?;
    let registered = phase(&mut generator, server, me, Rounds::Once, "register").await?;
    if registered.exchanges != n as u64 {
        bail!(
            "{} Register exchanges for {n} clients",
            registered.exchanges
        );
    }
    check_counts(server, n as u64, 0)?;
    let after_register = Memory::now()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.seconds);
    let updated = phase(
        &mut generator,
        server,
        me,
        Rounds::Until(deadline),
        "update",
    )
    .await?;
    check_counts(server, n as u64, updated.exchanges)?;
    let after_update = Memory::now()?;
    jump_clock(server).await?;
    let settled = Memory::now()?;
    generator.stop();
    println!("memory per registered client:");
    let client = "client";
    println!(
        "  after Register:   {}",
        after_register.describe(&base, n, client)
    );
    println!(
        "  after Updates:    {}",
        after_update.describe(&base, n, client)
    );
    println!("  after clock jump: {}", settled.describe(&base, n, client));
    let count = server.node().inner.inner.registration_count();
    println!("registrations at the end: {count} (expected {n})");
    if count != n {
        bail!("{count} registrations, expected {n}");
    }
    Ok(())
}

/// The server must have seen exactly the exchanges the generator completed.
fn check_counts(server: &Server, registered: u64, updated: u64) -> Result<()> {
    let node = server.node();
    let node = &node.inner;
    if node.registered != registered || node.updated != updated || node.other_events != 0 {
        bail!(
            "the server counted {} Register, {} Update and {} other events; the generator \
             completed {registered} Register and {updated} Update exchanges",
            node.registered,
            node.updated,
            node.other_events,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{stamp, ACK};

    /// Sends the peer's next message to a sans-IO server and checks the answer with the peer.
    fn exchange(server: &mut Lwm2mServer, peer: &mut Lwm2mPeer, mid: u16) -> Result<(), String> {
        let from: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let now = Instant::from_unix_millis(1_000_000);
        stamp(peer.message(), mid, Some(u32::from(mid)));
        server.handle_datagram(now, from, peer.message());
        let answer = server.poll_transmit().expect("an answer");
        let reply = Reply::parse(&answer.payload).unwrap();
        assert_eq!((reply.kind, reply.mid), (ACK, mid));
        peer.check(&reply)
    }

    #[test]
    fn the_server_accepts_the_raw_register_and_update() {
        let mut server = Lwm2mServer::new(EndpointConfig::default());
        let mut peer = Lwm2mPeer::new(42);
        exchange(&mut server, &mut peer, 1).unwrap();
        let registration = server.registration("865975030000042").unwrap();
        assert_eq!(registration.lifetime, 86_400);
        assert_eq!(registration.objects.len(), 5);
        exchange(&mut server, &mut peer, 2).unwrap();
        let events: Vec<ServerEvent> = std::iter::from_fn(|| server.poll_event())
            .filter(|e| !matches!(e, ServerEvent::Answered { .. }))
            .collect();
        assert!(matches!(
            events[..],
            [ServerEvent::Registered { .. }, ServerEvent::Updated { .. }]
        ));
    }

    #[test]
    fn a_wrong_answer_is_reported() {
        let mut server = Lwm2mServer::new(EndpointConfig::default());
        let mut peer = Lwm2mPeer::new(1);
        exchange(&mut server, &mut peer, 1).unwrap();
        RequestWriter::new(&mut peer.update, POST)
            .option(URI_PATH, b"rd")
            .option(URI_PATH, b"999");
        assert_eq!(
            exchange(&mut server, &mut peer, 2),
            Err("expected 2.04, got 4.04".into())
        );
    }
}
