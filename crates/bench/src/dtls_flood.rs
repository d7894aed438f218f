//! `nbmodem-bench dtls-flood`: a flood of ClientHellos that return their cookie, against a DTLS
//! server (`SecureNode` over a CoAP endpoint, default `ServerLimits`), in-process and in virtual
//! time, as issue 16 reproduced it against the CT IoT platform's DTLS port.
//!
//! Each hello of the flood comes from a port of its own on one of `--sources` IPv4 addresses: a
//! fresh client session sends its ClientHello, takes the HelloVerifyRequest, sends the ClientHello
//! again with the cookie, and then never answers (it has no key). Then a device with the right key
//! connects from another address, and virtual time runs until the flood's handshakes are gone.
//!
//! Reports the wall-clock time the server spent on the flood, its memory at each step (RSS, the
//! C heap in use as glibc counts it, which includes OpenSSL's allocations, and the Rust heap of this
//! thread), whether the device got through, and when the flood's handshakes expired.

use crate::alloc;
use crate::sys;
use anyhow::{ensure, Result};
use nbmodem_clock::Instant;
use nbmodem_coap::{Endpoint, EndpointConfig};
use nbmodem_dtls::secure::{Role, SecureNode};
use nbmodem_dtls::{DtlsSession, PskLookup, State};
use nbmodem_net::DatagramNode;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// ClientHellos that return their cookie, each from a port of its own.
    #[arg(long, default_value_t = 1_100)]
    hellos: usize,
    /// IPv4 addresses the flood comes from (its ports are spread over them).
    #[arg(long, default_value_t = 1)]
    sources: usize,
}

const IMEI: &[u8] = b"865975030000001";
const KEY: &[u8] = b"0123456789abcdef";
/// Virtual start time: 2026-01-01T00:00:00Z.
const START: Instant = Instant::from_unix_millis(1_767_225_600_000);
/// How long virtual time may run for the flood's handshakes to go.
const EXPIRY_LIMIT: Duration = Duration::from_secs(300);

type Server = SecureNode<Endpoint>;

pub fn run(args: Args) -> Result<()> {
    ensure!(args.sources >= 1, "--sources must be at least 1");
    let mut server = server();
    let mut now = START;
    // A first device connects, so that what the server builds once (its OpenSSL context) is
    // not counted as the flood's.
    ensure!(
        connect(&mut server, now, device_address(0)),
        "the first device did not connect"
    );
    let before = Memory::now()?;
    let mut server_time = Duration::ZERO;
    for i in 0..args.hellos {
        let from = flood_address(i, args.sources);
        server_time += echo_cookie(&mut server, now, from);
    }
    let peak = Memory::now()?;
    let held = server.session_count() - 1;
    let device = connect(&mut server, now, device_address(1));
    // The devices' sessions, which stay.
    let established = 1 + usize::from(device);
    let flood_start = now;
    while server.session_count() > established && now.saturating_since(flood_start) < EXPIRY_LIMIT {
        let Some(next) = server.poll_timeout() else {
            break;
        };
        now = now.max(next);
        server.handle_timeout(now);
        while server.poll_transmit().is_some() {}
    }
    let after = Memory::now()?;
    let left = server.session_count() - established;

    println!(
        "flood: {} hellos returning their cookie from {} source address(es)",
        args.hellos, args.sources
    );
    println!(
        "server time: {:.1} ms in all, {:.1} µs per hello",
        server_time.as_secs_f64() * 1e3,
        server_time.as_secs_f64() * 1e6 / args.hellos as f64
    );
    println!("handshakes held after the flood: {held}");
    println!(
        "a device with the key during the flood: {}",
        if device { "connected" } else { "locked out" }
    );
    println!(
        "flood handshakes left after {:.0} s of virtual time: {left}",
        now.saturating_since(flood_start).as_secs_f64()
    );
    println!("memory before the flood: {before}");
    println!("memory after the flood:  {peak}");
    println!("memory once it expired:  {after}");
    let grown = peak.c_heap.saturating_sub(before.c_heap);
    if held > 0 {
        println!(
            "C heap per handshake held: {} B (Rust heap {} B)",
            grown / held as u64,
            (peak.rust_heap - before.rust_heap) / held as isize
        );
    }
    Ok(())
}

fn server() -> Server {
    let lookup: PskLookup = Arc::new(|identity: &[u8]| (identity == IMEI).then(|| KEY.to_vec()));
    SecureNode::new(
        Endpoint::new(EndpointConfig::default()),
        Role::Server { lookup },
    )
}

/// The `i`-th hello of the flood: port 1024 + i / sources of address 10.1.x.y.
fn flood_address(i: usize, sources: usize) -> SocketAddr {
    let source = (i % sources) as u32;
    let port = 1024 + (i / sources) % 64_000;
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 0, 0)) + source);
    SocketAddr::from((ip, port as u16))
}

fn device_address(n: u8) -> SocketAddr {
    SocketAddr::from(([10, 200, 0, n], 40_000))
}

/// One hello of the flood from `from`: a ClientHello, and again with the cookie of the answer.
/// Returns the time the server spent on it.
fn echo_cookie(server: &mut Server, now: Instant, from: SocketAddr) -> Duration {
    let mut client = DtlsSession::client(now, b"intruder", b"no key at all").expect("a client");
    let mut spent = Duration::ZERO;
    for _ in 0..2 {
        let Some(hello) = client.poll_transmit() else {
            break;
        };
        let started = std::time::Instant::now();
        server.handle_datagram(now, from, &hello);
        let answers: Vec<Vec<u8>> = std::iter::from_fn(|| server.poll_transmit())
            .map(|t| t.payload)
            .collect();
        spent += started.elapsed();
        for answer in answers {
            client.handle_datagram(now, &answer);
        }
    }
    spent
}

/// A device with the right key handshakes from `from` at `now`; whether it connected.
fn connect(server: &mut Server, now: Instant, from: SocketAddr) -> bool {
    let mut client = DtlsSession::client(now, IMEI, KEY).expect("a client");
    for _ in 0..20 {
        let mut moved = false;
        while let Some(d) = client.poll_transmit() {
            server.handle_datagram(now, from, &d);
            moved = true;
        }
        while let Some(t) = server.poll_transmit() {
            if t.destination == from {
                client.handle_datagram(now, &t.payload);
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    client.state() == State::Connected
}

/// The process's memory at one moment.
struct Memory {
    rss: u64,
    /// Bytes glibc's malloc has handed out and not taken back (OpenSSL's and Rust's).
    c_heap: u64,
    /// Bytes Rust code on this thread has allocated and not freed.
    rust_heap: isize,
}

impl Memory {
    fn now() -> Result<Memory> {
        Ok(Memory {
            rss: sys::rss_bytes()?,
            c_heap: sys::malloc_in_use(),
            rust_heap: alloc::thread_live_bytes(),
        })
    }
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: f64| b / (1024.0 * 1024.0);
        write!(
            f,
            "RSS {:.1} MiB, C heap {:.1} MiB, Rust heap {:.1} MiB",
            mib(self.rss as f64),
            mib(self.c_heap as f64),
            mib(self.rust_heap as f64)
        )
    }
}
