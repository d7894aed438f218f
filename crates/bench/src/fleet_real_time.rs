//! `nbmodem-bench fleet-real-time`: whether a fleet of `--modules` BC260Y-CN modules in real
//! time (`nbmodem fleet --real-time`: one process, one tokio runtime, loopback sockets, the
//! stand-in platforms in the process) holds the uplink rate its fleet file asks for.
//!
//! The fleet file: every module registers with the CT IoT platform at power-on (all at once: a
//! registration storm), then sends a confirmable `AT+NMGS` every `--period`, each round up to half
//! a period late (jitter), and waits for the platform's `AAAA0000`. The run lasts `--rounds`
//! periods and three quarters of one, so that each module has exactly `--rounds` rounds, the last
//! a quarter of a period at least before the end.
//!
//! The rate is held when every module registered and every round was sent and acknowledged
//! (none missed, none failed): the fleet then sent `modules / period` uplinks a second. Reported
//! beside it: the latency percentiles of the uplinks' acknowledgements, the CPU time and peak
//! memory of the process, the most files it had open (read once a second: the modules share
//! their sockets), and the load average (other work on the machine skews the figures).

use crate::sys::load_average;
use anyhow::{Context, Result};
use nbmodem_clock::format_duration;
use nbmodem_fleet::{Fleet, Shard, Summary};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Modules in the fleet.
    #[arg(long, default_value_t = 1000)]
    modules: usize,
    /// A module's period between uplinks (e.g. 60s).
    #[arg(long, value_parser = nbmodem_clock::parse_duration, default_value = "60s")]
    period: Duration,
    /// Rounds of uplinks each module sends.
    #[arg(long, default_value_t = 2)]
    rounds: u32,
}

pub fn run(args: Args) -> Result<()> {
    let fleet = Fleet::parse(&fleet_file(&args)).context("the bench's fleet file")?;
    let asked = args.modules as f64 / args.period.as_secs_f64();
    println!(
        "fleet-real-time: {} modules, an uplink every {} each ({asked:.1} a second), {} rounds, \
         {} in all; load average {:.2}",
        args.modules,
        format_duration(args.period),
        args.rounds,
        format_duration(fleet.duration),
        load_average()?
    );
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let mut most_open = 0;
    let (summary, _) =
        nbmodem_fleet::real_time::run(&fleet, Shard::WHOLE, dir.path(), &[], |_| {
            most_open = most_open.max(open_files());
        })?;
    let wall = started.elapsed();
    let usage = usage();
    report(&args, &summary, asked);
    println!(
        "wall {:.1} s, CPU {:.1} s ({:.0} % of one core), peak RSS {} MiB, at most {most_open} \
         files open, load average {:.2}",
        wall.as_secs_f64(),
        usage.0.as_secs_f64(),
        100.0 * usage.0.as_secs_f64() / wall.as_secs_f64(),
        usage.1 / (1024 * 1024),
        load_average()?
    );
    Ok(())
}

/// Says whether the rate was held, and what the fleet did.
fn report(args: &Args, summary: &Summary, asked: f64) {
    let total = &summary.total;
    let due = args.modules as u64 * u64::from(args.rounds);
    let failures: u64 = total.failures.values().sum();
    let held = total.started == args.modules as u64
        && total.uplinks_acknowledged == due
        && total.rounds_missed == 0
        && failures == 0;
    let readout = Summary::readout(total);
    println!(
        "started {}/{}, uplinks due {due}, sent {}, acknowledged {}, stored {}, rounds missed {}, \
         failures {failures} {:?}",
        total.started,
        args.modules,
        total.uplinks_sent,
        total.uplinks_acknowledged,
        total.uplinks_stored,
        total.rounds_missed,
        total.failures
    );
    println!(
        "latency (line to expected URC, ms): {}",
        readout["latency_ms"]
    );
    println!(
        "rate asked {asked:.1} uplinks/s: {}",
        if held { "HELD" } else { "NOT HELD" }
    );
}

/// The fleet file of the bench.
fn fleet_file(args: &Args) -> String {
    let period = args.period;
    let duration = period * args.rounds + period * 3 / 4;
    format!(
        r#"
seed = 7
duration = "{duration}"
[[group]]
name = "meters"
model = "BC260Y-CN"
count = {modules}
platform = "iot"
start = ["ATE0", "AT+QSCLK=0", "AT+NNMI=1", {{ pause = "5s" }},
         {{ at = 'AT+NCDPOPEN="180.101.147.115",5683', expect = "+QLWEVTIND: 3", within = "60s" }}]
[[group.every]]
period = "{period}"
jitter = "{jitter}"
steps = [{{ at = "AT+NMGS=5,00454C4C4F", expect = "+NNMI: 4,AAAA0000", within = "{within}" }}]
"#,
        duration = format_duration(duration),
        modules = args.modules,
        period = format_duration(period),
        jitter = format_duration(period / 2),
        within = format_duration(period / 4),
    )
}

/// The files the process has open now (Linux; 0 where /proc is not there).
fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// CPU time of the whole process (every thread) and its peak resident memory.
fn usage() -> (Duration, u64) {
    // SAFETY: getrusage writes only the struct it is handed.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cpu = time(usage.ru_utime) + time(usage.ru_stime);
    (cpu, usage.ru_maxrss as u64 * 1024)
}
