//! `nbmodem-bench fleet-sim`: `--modules` BC260Y-CN modules on one simulated network with the
//! stand-in platforms, in virtual time, each a whole module driven by AT lines as its host
//! firmware would drive it; how the simulator's wall time and the heap grow with the fleet.
//!
//! Each module sits at an address of its own (`10.x.y.z`) with its own NVRAM and IMEI, known to
//! the CT IoT platform. Its firmware ([`Firmware`]) powers it on (boots spread over the first
//! [`BOOT_SPREAD`]), answers `+CPIN: READY` with `ATE0`, `AT+NNMI=1` and `AT+QSCLK=0` (each
//! after the previous `OK`), registers with `AT+NCDPOPEN="180.101.147.115",5683` (spread over
//! [`REGISTER_SPREAD`]), and from [`UPLINKS_FROM`] on sends a confirmable `AT+NMGS` every
//! [`UPLINK_PERIOD`], the modules' first uplinks spread over one period. It counts what the
//! module prints: `+QLWEVTIND: 3` registered, `4` an uplink acknowledged, `5` one not.
//!
//! The firmware lives in the node ([`FleetModule`] wraps the module's `ModuleNode`): it runs
//! only when the network calls the node (its own timer, or a datagram for it), so the bench adds
//! no scan of the fleet to the simulator's own work.
//!
//! Reported: the wall time of the registration phase and of each virtual hour of uplinks (and per
//! uplink, with the CPU time beside it), the uplinks sent, acknowledged and stored in the platform's database, the datagrams
//! the network kept records of, and the heap per module (everything allocated on the simulation's
//! thread since before the first module was built, over the number of modules: module, network
//! and platform state together) after boot, after registration, and idle at the end; and the
//! part of it that is the platform's entry for the device, and the module as built before power-on;
//! at the end, what the modules alone hold (what detaching them from the network gives back).
//!
//! `--durable` has the platform wait for the disk at each commit (`Writing::Inline`, an fsync per
//! uplink); by default it commits in batches and does not wait (`Writing::Batched`). `--keep-records` has the network keep a
//! record of every datagram, as tests and traces do.

use crate::alloc::thread_live_bytes;
use anyhow::{Context, Result};
use nbmodem_clock::{Instant, VirtualClock};
use nbmodem_module::node::ModuleNode;
use nbmodem_module::nvram::MemoryStore;
use nbmodem_module::{find_profile, Module, ModuleConfig, Router};
use nbmodem_net::sim::{Records, SimNetwork};
use nbmodem_net::{HostNode, HostTransmit, Lookup, LookupAnswer, StreamEvent, StreamRequest};
use nbmodem_platform::ctiot::{Admin, NewDevice};
use nbmodem_platform::{Addresses, Flavour, Platform, RecordWriter, Store, Writing};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

const MODEL: &str = "BC260Y-CN";
/// Boots are spread over this much virtual time from the start.
const BOOT_SPREAD: Duration = Duration::from_secs(10);
/// When the heap of the booted fleet is measured: every module booted, none registering.
const BOOTED_AT: Duration = Duration::from_secs(25);
/// Registrations start then, spread over [`REGISTER_SPREAD`].
const REGISTER_FROM: Duration = Duration::from_secs(30);
const REGISTER_SPREAD: Duration = Duration::from_secs(60);
/// The uplinks start then (the registration phase ends), one every [`UPLINK_PERIOD`] per module.
const UPLINKS_FROM: Duration = Duration::from_secs(600);
const UPLINK_PERIOD: Duration = Duration::from_secs(600);
const HOUR: Duration = Duration::from_secs(3600);
const UPLINK: &str = "AT+NMGS=5,00454c4c4f,100";
const REGISTER: &str = "AT+NCDPOPEN=\"180.101.147.115\",5683";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Modules in the fleet.
    #[arg(long, default_value_t = 100)]
    modules: usize,
    /// Virtual hours of uplinks after the registration phase.
    #[arg(long, default_value_t = 1)]
    hours: u32,
    /// Waits for the disk at each of the platform's commits (`Writing::Inline`), as a platform
    /// that must survive a power cut does; by default it commits in batches and does not wait
    /// (`Writing::Batched`).
    #[arg(long)]
    durable: bool,
    /// Keeps a record of every datagram in memory, as tests and traces do.
    #[arg(long)]
    keep_records: bool,
}

/// What one module's firmware saw.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    registered: usize,
    sent: usize,
    acknowledged: usize,
    not_acknowledged: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.registered += other.registered;
        self.sent += other.sent;
        self.acknowledged += other.acknowledged;
        self.not_acknowledged += other.not_acknowledged;
    }
}

/// The host firmware of one module: AT lines out, the module's lines in.
struct Firmware {
    power_on_at: Instant,
    register_at: Instant,
    next_uplink: Instant,
    powered: bool,
    registering: bool,
    /// Configuration lines still to send, each after the previous one's `OK`.
    to_configure: Vec<&'static str>,
    /// Output not yet split into lines.
    partial: Vec<u8>,
    counts: Counts,
}

/// A module and its firmware, as one host on the network.
struct FleetModule {
    node: ModuleNode,
    firmware: Firmware,
}

impl FleetModule {
    /// Runs the firmware's due steps and reads what the module printed, until nothing changes.
    fn step(&mut self, now: Instant) {
        let module = self.node.module_mut();
        let firmware = &mut self.firmware;
        if !firmware.powered && now >= firmware.power_on_at {
            firmware.powered = true;
            module.power_on(now);
        }
        if firmware.counts.registered == 0 && !firmware.registering && now >= firmware.register_at {
            firmware.registering = true;
            send(module, REGISTER, now);
        }
        if now >= firmware.next_uplink {
            firmware.next_uplink = firmware.next_uplink + UPLINK_PERIOD;
            if firmware.counts.registered > 0 {
                firmware.counts.sent += 1;
                send(module, UPLINK, now);
            }
        }
        self.read_output(now);
    }

    /// Acts on each complete line the module wrote.
    fn read_output(&mut self, now: Instant) {
        loop {
            let output = self.node.module_mut().take_output();
            if output.is_empty() {
                return;
            }
            let firmware = &mut self.firmware;
            firmware.partial.extend_from_slice(&output);
            let Some(end) = firmware.partial.iter().rposition(|b| *b == b'\n') else {
                continue;
            };
            let lines: Vec<u8> = firmware.partial.drain(..=end).collect();
            firmware.partial.shrink_to_fit();
            for line in lines.split(|b| *b == b'\r' || *b == b'\n') {
                if let Some(next) = firmware.on_line(line) {
                    send(self.node.module_mut(), next, now);
                }
            }
        }
    }
}

impl Firmware {
    /// Counts `line`; returns the next line to send, if it calls for one.
    fn on_line(&mut self, line: &[u8]) -> Option<&'static str> {
        match line {
            b"+CPIN: READY" => {
                self.to_configure = vec!["AT+QSCLK=0", "AT+NNMI=1", "ATE0"];
                self.to_configure.pop()
            }
            b"OK" => self.to_configure.pop(),
            b"+QLWEVTIND: 3" => {
                self.counts.registered += 1;
                None
            }
            b"+QLWEVTIND: 4" => {
                self.counts.acknowledged += 1;
                None
            }
            b"+QLWEVTIND: 5" => {
                self.counts.not_acknowledged += 1;
                None
            }
            _ => None,
        }
    }

    /// When the firmware next acts on its own.
    fn next_step(&self) -> Instant {
        if !self.powered {
            self.power_on_at
        } else if self.counts.registered == 0 && !self.registering {
            self.register_at
        } else {
            self.next_uplink
        }
    }
}

fn send(module: &mut Module, line: &str, now: Instant) {
    module.receive(format!("{line}\r").as_bytes(), now);
}

impl HostNode for FleetModule {
    fn handle_datagram(&mut self, now: Instant, port: u16, from: SocketAddr, datagram: &[u8]) {
        self.node.handle_datagram(now, port, from, datagram);
        self.read_output(now);
    }
    fn poll_transmit(&mut self) -> Option<HostTransmit> {
        self.node.poll_transmit()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        let module = self.node.poll_timeout();
        Some(module.map_or(self.firmware.next_step(), |t| {
            t.min(self.firmware.next_step())
        }))
    }
    fn handle_timeout(&mut self, now: Instant) {
        if self.node.poll_timeout().is_some_and(|t| t <= now) {
            self.node.handle_timeout(now);
        }
        self.step(now);
    }
    fn poll_stream(&mut self) -> Option<StreamRequest> {
        self.node.poll_stream()
    }
    fn handle_stream(&mut self, now: Instant, port: u16, event: StreamEvent) {
        self.node.handle_stream(now, port, event);
        self.read_output(now);
    }
    fn poll_lookup(&mut self) -> Option<Lookup> {
        self.node.poll_lookup()
    }
    fn handle_lookup(&mut self, now: Instant, port: u16, answer: LookupAnswer) {
        self.node.handle_lookup(now, port, answer);
        self.read_output(now);
    }
}

/// The `index`-th module's address, IMEI and firmware.
fn ip_of(index: usize) -> IpAddr {
    let n = index as u32 + 1;
    IpAddr::V4(Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8))
}

fn imei_of(index: usize) -> String {
    format!("8640{index:011}")
}

/// `index`'s share of `spread`, so that the fleet's modules are evenly spread over it.
fn offset(index: usize, modules: usize, spread: Duration) -> Duration {
    spread.mul_f64(index as f64 / modules as f64)
}

fn firmware(index: usize, modules: usize, start: Instant) -> Firmware {
    Firmware {
        power_on_at: start + offset(index, modules, BOOT_SPREAD),
        register_at: start + REGISTER_FROM + offset(index, modules, REGISTER_SPREAD),
        next_uplink: start + UPLINKS_FROM + offset(index, modules, UPLINK_PERIOD),
        powered: false,
        registering: false,
        to_configure: Vec::new(),
        partial: Vec::new(),
        counts: Counts::default(),
    }
}

fn module(index: usize, router: &Router) -> Result<Module> {
    let profile = find_profile(MODEL).context("no BC260Y-CN profile")?;
    let mut config = ModuleConfig::new(profile);
    config.imei = Some(imei_of(index));
    config.router = router.clone();
    Ok(Module::new(config, Box::new(MemoryStore::new()))?)
}

/// The heap per module since `baseline`, in KB.
fn per_module_kb(baseline: isize, modules: usize) -> f64 {
    (thread_live_bytes() - baseline) as f64 / modules as f64 / 1000.0
}

pub fn run(args: Args) -> Result<()> {
    let n = args.modules.max(1);
    println!(
        "fleet-sim: {n} {MODEL} modules, {} virtual hours of uplinks every {} min, {} commits, \
         records {}, load average {:.2}",
        args.hours,
        UPLINK_PERIOD.as_secs() / 60,
        if args.durable { "durable" } else { "batched" },
        if args.keep_records { "kept" } else { "off" },
        crate::sys::load_average()?
    );
    let dir = tempfile::tempdir()?;
    let addresses = Addresses::default();
    let start = VirtualClock::DEFAULT_START;
    let mut net = SimNetwork::new(start, 0x5EED);
    if !args.keep_records {
        net.set_records(Records::Off);
    }
    let writing = if args.durable {
        Writing::Inline
    } else {
        Writing::Batched
    };
    let platform = Platform::open(dir.path(), 7, writing)?;
    let mut admin = Admin::new(
        Arc::clone(&platform.ctiot_state),
        RecordWriter::open(dir.path(), writing)?,
    );
    platform.attach(&mut net, &addresses);
    // One routing table for the whole fleet, as `nbmodem fleet` has.
    let mut router = Router::new();
    for route in addresses.routes() {
        router.add_route(route.parse().map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    let baseline = thread_live_bytes();
    for index in 0..n {
        let device = NewDevice {
            imei: imei_of(index),
            psk: None,
            product: None,
            reply: None,
        };
        let pending = admin.add_device(Flavour::Iot, device)?;
        admin.apply(pending);
    }
    let devices = per_module_kb(baseline, n);
    for index in 0..n {
        let node = FleetModule {
            node: ModuleNode::new(module(index, &router)?),
            firmware: firmware(index, n, start),
        };
        net.attach_host(ip_of(index), node);
    }

    let built = per_module_kb(baseline, n) - devices;
    let wall = std::time::Instant::now();
    net.run_until(start + BOOTED_AT);
    let booted = per_module_kb(baseline, n);
    net.run_until(start + UPLINKS_FROM);
    let registration_wall = wall.elapsed();
    let registered_counts = counts(&mut net, n);
    let registered = per_module_kb(baseline, n);

    let (wall, cpu) = (std::time::Instant::now(), process_cpu()?);
    net.run_until(start + UPLINKS_FROM + HOUR * args.hours);
    let uplink_wall = wall.elapsed();
    let uplink_cpu = process_cpu()? - cpu;
    let idle = per_module_kb(baseline, n);
    let total = counts(&mut net, n);
    addresses.flush_writes(&mut net);
    let stored = stored_uplinks(dir.path(), n)?;
    // The modules alone, idle: what taking them off the network gives back.
    let with_modules = thread_live_bytes();
    for index in 0..n {
        net.detach_host(ip_of(index));
    }
    let alone = (with_modules - thread_live_bytes()) as f64 / n as f64 / 1000.0;

    println!(
        "registration phase ({} s virtual): {:.2} s wall, {} of {n} registered",
        UPLINKS_FROM.as_secs(),
        registration_wall.as_secs_f64(),
        registered_counts.registered
    );
    let hours = f64::from(args.hours.max(1));
    println!(
        "uplinks: {} sent, {} acknowledged, {} not, {stored} stored",
        total.sent, total.acknowledged, total.not_acknowledged
    );
    let sent = total.sent.max(1) as f64;
    println!(
        "wall time: {:.3} s per virtual hour, {:.3} ms per uplink (CPU time: {:.3} s, {:.3} ms)",
        uplink_wall.as_secs_f64() / hours,
        uplink_wall.as_secs_f64() * 1000.0 / sent,
        uplink_cpu.as_secs_f64() / hours,
        uplink_cpu.as_secs_f64() * 1000.0 / sent
    );
    println!(
        "datagram records kept by the network: {}",
        net.records().len()
    );
    println!(
        "heap per module: booted {booted:.1} KB, registered {registered:.1} KB, idle {idle:.1} KB \
         (of which the platform's device entry {devices:.1} KB, the module as built, powered \
         off, {built:.1} KB); idle, the module alone (AT layer, NVRAM, radio, services, \
         engines) {alone:.1} KB"
    );
    Ok(())
}

/// The CPU time the simulation's thread (the main one) has used: unlike the wall time, it does
/// not count the time other work on the machine took.
fn process_cpu() -> Result<Duration> {
    crate::sys::process_cpu(std::process::id())
}

/// What the fleet's firmware counted so far.
fn counts(net: &mut SimNetwork, modules: usize) -> Counts {
    let mut total = Counts::default();
    for index in 0..modules {
        if let Some(module) = net.host::<FleetModule>(ip_of(index)) {
            total += module.firmware.counts;
        }
    }
    total
}

/// The uplinks the CT IoT platform stored, over the whole fleet.
fn stored_uplinks(dir: &std::path::Path, modules: usize) -> Result<usize> {
    let store = Store::open(dir)?;
    let mut stored = 0;
    for index in 0..modules {
        stored += store
            .uplinks(Flavour::Iot, &imei_of(index), None, usize::MAX)?
            .len();
    }
    Ok(stored)
}
