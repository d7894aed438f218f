//! What the server benchmarks measure around a served node: its memory (the process's RSS and the
//! heap of every thread but the load generator's), the CPU time of a phase, and a jump of the
//! node's clock past EXCHANGE_LIFETIME, so that only its steady state is left to measure.

use crate::alloc;
use crate::load::{Generator, Rounds, Tally};
use crate::served::Served;
use crate::sys;
use anyhow::{bail, Result};
use nbmodem_clock::Instant;
use nbmodem_net::{DatagramNode, Transmit};
use std::net::SocketAddr;
use std::time::Duration;

/// How far a clock jump goes: EXCHANGE_LIFETIME (247 s) plus the 30-s sweep interval, and a
/// margin.
pub const CLOCK_JUMP: Duration = Duration::from_secs(280);

/// A node whose clock can run ahead of the real one.
pub struct Skewed<N> {
    pub inner: N,
    /// Added to every instant the driver passes in.
    skew: Duration,
    /// Timer runs so far, to tell when the node has run its timers after a jump.
    timeouts: u64,
}

impl<N> Skewed<N> {
    pub fn new(inner: N) -> Self {
        Skewed {
            inner,
            skew: Duration::ZERO,
            timeouts: 0,
        }
    }
}

impl<N: DatagramNode> DatagramNode for Skewed<N> {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.inner.handle_datagram(now + self.skew, from, datagram);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.inner.poll_transmit()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout().map(|t| t - self.skew)
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now + self.skew);
        self.timeouts += 1;
    }
}

/// Moves the node's clock [`CLOCK_JUMP`] ahead and waits until it has run its timers.
pub async fn jump_clock<N>(server: &Served<Skewed<N>>) -> Result<()> {
    let timeouts = {
        let mut node = server.node();
        node.skew += CLOCK_JUMP;
        node.timeouts
    };
    server.wake();
    for _ in 0..500 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if server.node().timeouts > timeouts {
            return Ok(());
        }
    }
    bail!("the server did not run its timers after the clock jump")
}

/// Memory at one point: this process's RSS, and the heap of every thread but the calling one (the
/// load generator's): the server thread, and its record writer if it has one.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    rss: u64,
    heap: isize,
}

impl Memory {
    pub fn now() -> Result<Self> {
        Ok(Memory {
            rss: sys::rss_bytes()?,
            heap: alloc::other_threads_live_bytes(),
        })
    }

    /// `RSS +x MiB = y B/<unit>; server heap +z MiB = w B/<unit>` relative to `base`.
    pub fn describe(&self, base: &Memory, count: usize, unit: &str) -> String {
        let rss = self.rss as f64 - base.rss as f64;
        let heap = (self.heap - base.heap) as f64;
        format!(
            "RSS {:+.1} MiB = {:.0} B/{unit}; server heap {:+.1} MiB = {:.0} B/{unit}",
            rss / 1048576.0,
            rss / count as f64,
            heap / 1048576.0,
            heap / count as f64
        )
    }
}

/// CPU time of the server thread and of the generator thread.
struct Cpu {
    server: Duration,
    generator: Duration,
}

impl Cpu {
    fn now(server_tid: u32, generator_tid: u32) -> Result<Self> {
        Ok(Cpu {
            server: sys::thread_cpu(server_tid)?,
            generator: sys::thread_cpu(generator_tid)?,
        })
    }
}

/// Runs one phase and prints its figures; `me` is the generator's thread.
pub async fn phase<N>(
    generator: &mut Generator,
    server: &Served<N>,
    me: u32,
    rounds: Rounds,
    name: &str,
) -> Result<Tally> {
    let before = Cpu::now(server.tid, me)?;
    let tally = generator.run(rounds).await?;
    let after = Cpu::now(server.tid, me)?;
    let (server_cpu, generator_cpu) = (
        after.server - before.server,
        after.generator - before.generator,
    );
    println!("{name}: {}", tally.describe(server_cpu, generator_cpu));
    Ok(tally)
}
