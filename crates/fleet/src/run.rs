//! A fleet's run: every module of the shard a whole `nbmodem` module (AT layer, NVRAM in memory,
//! radio, services) typed at as firmware would. An agenda (a binary heap keyed by time and
//! sequence, so runs repeat) holds what the fleet does next — a module's power-on, its start
//! script, a round of its schedule, a step's deadline, a power cut, a fault switched on or off;
//! between agenda items the modules run, and those that wrote something meanwhile have their
//! output read (each member's node notes it: reading every module waiting for an answer after
//! each of the network's events would cost a pass over all of them when a whole fleet registers
//! at once).
//!
//! Where the modules run is a [`Testbed`]: here, in virtual time, one simulated network with the
//! stand-in platforms ([`SimBed`]); in real time, sockets ([`crate::real_time`]). The agenda and
//! the steps are the same on both.

use crate::shard::Shard;
use crate::spec::{EventKind, Every, Fleet, Group, Step};
use crate::summary::{Hour, Summary, Tally};
use nbmodem_clock::{Instant, VirtualClock};
use nbmodem_module::node::ModuleNode;
use nbmodem_module::nvram::MemoryStore;
use nbmodem_module::{Module, RadioCondition, Route, Router, BOOT_TIME};
use nbmodem_net::sim::{Records, SimNetwork};
use nbmodem_net::{HostNode, HostTransmit, Lookup, LookupAnswer, StreamEvent, StreamRequest};
use nbmodem_platform::ctiot::{Admin, NewDevice};
use nbmodem_platform::record::{Server, Verdict};
use nbmodem_platform::{Addresses, Fault, Platform, RecordWriter, Store, Writing};
use nbmodem_scenario::ModuleSetup;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The commands that send an uplink, whose answers are counted as uplinks.
const UPLINK_COMMANDS: &[&str] = &[
    "AT+NMGS=",
    "AT+QLWULDATAEX=",
    "AT+NSOST=",
    "AT+NSOSTF=",
    "AT+QISEND=",
    "AT+QISENDEX=",
];

/// How often, in virtual time, a run tells its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the stand-in platforms: {0}")]
    Platform(String),
    #[error("module {index}: {reason}")]
    Module { index: usize, reason: String },
    #[error("{0}")]
    Sockets(String),
}

/// Where a run's modules live (each at a slot, in the order of the run's members) and the
/// stand-ins they reach: what the agenda does to them, whichever the time.
pub trait Testbed {
    /// The time on the testbed's clock.
    fn now(&self) -> Instant;
    fn power_on(&mut self, slot: usize, now: Instant);
    fn power_off(&mut self, slot: usize);
    /// Types `line` into the module; what it wrote before is dropped, as it is not the line's
    /// answer (boot URCs, a late answer to an earlier step).
    fn type_in(&mut self, slot: usize, line: &[u8], now: Instant);
    /// What the module wrote since the last call.
    fn take_output(&mut self, slot: usize) -> Vec<u8>;
    /// Sets a fault on a stand-in server, or clears its faults (`None`).
    fn set_fault(&mut self, server: Server, fault: Option<Fault>) -> Result<(), RunError>;
    /// The charge the module drew from power-on until `now`.
    fn micro_amp_hours(&mut self, slot: usize, now: Instant) -> f64;
    /// The confirmable CoAP messages the module sent again, since it was made.
    fn coap_retransmissions(&mut self, slot: usize) -> u64;
    /// The address the stand-ins see the module's datagrams come from.
    fn address(&self, slot: usize) -> IpAddr;
    /// The run is over: what the stand-ins wrote is committed, for the summary to read.
    fn settle(&mut self) -> Result<(), RunError>;
}

/// The modules and the stand-ins on one simulated network, in virtual time.
pub struct SimBed {
    net: SimNetwork,
    addresses: Addresses,
    /// Each member's address on the network.
    ips: Vec<IpAddr>,
}

impl SimBed {
    fn module(&mut self, slot: usize) -> &mut Module {
        self.net
            .host::<MemberNode>(self.ips[slot])
            .expect("every member is attached")
            .node
            .module_mut()
    }
}

impl Testbed for SimBed {
    fn now(&self) -> Instant {
        self.net.now()
    }

    fn power_on(&mut self, slot: usize, now: Instant) {
        self.module(slot).power_on(now);
        self.net.flush();
    }

    fn power_off(&mut self, slot: usize) {
        self.module(slot).power_off();
    }

    fn type_in(&mut self, slot: usize, line: &[u8], now: Instant) {
        self.module(slot).take_output();
        self.module(slot).receive(line, now);
        self.net.flush();
    }

    fn take_output(&mut self, slot: usize) -> Vec<u8> {
        // Reading the output changes nothing the network polls the module for.
        self.net
            .host_untouched::<MemberNode>(self.ips[slot])
            .expect("every member is attached")
            .node
            .take_output()
    }

    fn set_fault(&mut self, server: Server, fault: Option<Fault>) -> Result<(), RunError> {
        self.addresses
            .set_fault(&mut self.net, server, fault)
            .map_err(RunError::Platform)
    }

    fn micro_amp_hours(&mut self, slot: usize, now: Instant) -> f64 {
        self.module(slot).energy(now).total_micro_amp_hours()
    }

    fn coap_retransmissions(&mut self, slot: usize) -> u64 {
        self.module(slot).coap_retransmissions()
    }

    fn address(&self, slot: usize) -> IpAddr {
        self.ips[slot]
    }

    fn settle(&mut self) -> Result<(), RunError> {
        self.addresses.flush_writes(&mut self.net);
        Ok(())
    }
}

/// What one module did, as `--devices` writes it (a JSON line each).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeviceRow {
    pub index: usize,
    pub group: String,
    pub imei: String,
    pub imsi: String,
    pub coverage: String,
    pub started: bool,
    pub starts: u64,
    pub steps: u64,
    pub steps_ok: u64,
    pub uplinks_sent: u64,
    pub uplinks_acknowledged: u64,
    pub uplinks_stored: u64,
    pub power_cuts: u64,
    pub rounds_missed: u64,
    pub self_registrations: u64,
    pub self_registrations_accepted: u64,
    pub coap_retransmissions: u64,
    pub failures: BTreeMap<String, u64>,
    pub energy_uah_per_day: f64,
}

/// Where the run is, for a progress line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub virtual_elapsed: Duration,
    pub started: u64,
    pub modules: u64,
    pub uplinks_sent: u64,
    pub uplinks_acknowledged: u64,
    pub failures: u64,
}

/// What the fleet does next.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    PowerOn(usize),
    Start(usize),
    Round {
        member: usize,
        every: usize,
        round: u64,
    },
    Deadline {
        member: usize,
        step: u64,
    },
    Resume {
        member: usize,
        step: u64,
    },
    Event(usize),
    ClearFault(usize),
}

/// A step's line in flight.
#[derive(Debug)]
struct InFlight {
    at: String,
    expect: Option<String>,
    within: Duration,
    /// Its number among the module's steps, for its deadline.
    number: u64,
    typed: Instant,
    answered: bool,
    expect_met: bool,
}

/// One module of the shard and what is under way on it.
pub(crate) struct Member {
    pub(crate) index: usize,
    group: usize,
    powered: bool,
    /// Booted and taking AT lines (from its start script on, until its power goes).
    booted: bool,
    starting: bool,
    start_failed: bool,
    /// The start script's steps still to type.
    script: VecDeque<Step>,
    /// The schedule's steps still to type, after the start script.
    pending: VecDeque<Step>,
    current: Option<InFlight>,
    /// The number of the pause step under way.
    paused: Option<u64>,
    steps_typed: u64,
    line: Vec<u8>,
    row: DeviceRow,
    tally: Tally,
}

/// The run of one shard of a fleet, on a testbed (by default, the simulated network).
pub struct Run<'f, B: Testbed = SimBed> {
    fleet: &'f Fleet,
    pub(crate) bed: B,
    data_dir: std::path::PathBuf,
    start: Instant,
    end: Instant,
    members: Vec<Member>,
    agenda: BinaryHeap<Reverse<(Instant, u64, Action)>>,
    sequence: u64,
    /// Members whose modules wrote something since their output was last read, as their nodes
    /// noted them.
    wrote: Written,
    hours: Vec<Hour>,
}

/// A number from the fleet's seed and a module's facts alone (splitmix64), so that a module's
/// coverage, jitter and fate are the same in whichever shard runs it.
fn mix(seed: u64, parts: &[u64]) -> u64 {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    for part in parts {
        x = x.wrapping_add(*part).wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
    }
    x
}

/// The address of the module with global index `index`: 10.0.0.0/8 has room for 16 million.
fn address_of(index: usize) -> IpAddr {
    let n = (index + 1) as u32;
    IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | (n & 0x00FF_FFFF)))
}

/// The shard's global indices.
pub(crate) fn indices(fleet: &Fleet, shard: Shard) -> Vec<usize> {
    (0..fleet.size()).filter(|i| shard.owns(*i)).collect()
}

/// The stand-ins' database in `data_dir`, opened with `writing`, every request recorded, and
/// the device of each module of `indices` on the CT IoT platform its group names.
pub(crate) fn platform_with_devices(
    fleet: &Fleet,
    indices: &[usize],
    data_dir: &Path,
    writing: Writing,
) -> Result<Platform, RunError> {
    let platform_error = |e: &dyn std::fmt::Display| RunError::Platform(e.to_string());
    let platform = Platform::open(data_dir, fleet.seed, writing).map_err(|e| platform_error(&e))?;
    // The summary counts each module's self-registrations from the records: keep them all,
    // rejections included (a server records a sample of those, else).
    let storage = nbmodem_platform::writer::Storage::of(data_dir);
    storage.set_records_kept(u64::MAX);
    storage.record_every_request();
    let writer = RecordWriter::open(data_dir, writing).map_err(|e| platform_error(&e))?;
    let mut admin = Admin::new(Arc::clone(&platform.ctiot_state), writer);
    for &index in indices {
        let (group, n) = fleet.group_of(index).expect("an index of the fleet");
        let Some(flavour) = group.platform else {
            continue;
        };
        let device = NewDevice {
            imei: group.imei(n),
            psk: None,
            product: None,
            reply: None,
        };
        let pending = admin
            .add_device(flavour, device)
            .map_err(|e| platform_error(&e))?;
        admin.apply(pending);
    }
    Ok(platform)
}

/// One routing table, shared by every module (see `Router`): `routes` of the stand-ins, then
/// `given` (which win).
pub(crate) fn router_to(addresses: &Addresses, given: &[Route]) -> Result<Router, RunError> {
    let mut router = Router::new();
    for route in addresses.routes() {
        let route = route
            .parse()
            .map_err(|e| RunError::Platform(format!("{e}")))?;
        router.add_route(route);
    }
    for route in given {
        router.add_route(route.clone());
    }
    Ok(router)
}

/// The members of `indices` and their modules' nodes (powered off), on `router`; a node notes
/// in `wrote` when its module writes.
pub(crate) fn members(
    fleet: &Fleet,
    indices: &[usize],
    router: &Router,
    wrote: &Written,
) -> Result<Vec<(Member, MemberNode)>, RunError> {
    // Room for all at once: a member and its module take kilobytes, and a vector grown by
    // doubling would copy them all again at every step.
    let mut built = Vec::with_capacity(indices.len());
    for (slot, &index) in indices.iter().enumerate() {
        let (member, module) = Member::new(fleet, index, router)?;
        let node = MemberNode {
            node: ModuleNode::new(module),
            slot,
            wrote: Arc::clone(wrote),
        };
        built.push((member, node));
    }
    Ok(built)
}

impl<'f> Run<'f> {
    /// Builds the shard's modules and the stand-ins (their database in `data_dir`), powered off,
    /// on one simulated network.
    pub fn new(fleet: &'f Fleet, shard: Shard, data_dir: &Path) -> Result<Run<'f>, RunError> {
        let indices = indices(fleet, shard);
        // The run reads the database only at its end: the stand-ins commit in batches, and
        // never wait for the disk.
        let platform = platform_with_devices(fleet, &indices, data_dir, Writing::Batched)?;
        let start = VirtualClock::DEFAULT_START;
        let mut net = SimNetwork::new(start, fleet.seed);
        // Nothing reads the datagrams' records: kept, they would grow with every datagram.
        net.set_records(Records::Off);
        let addresses = Addresses::default();
        platform.attach(&mut net, &addresses);
        let router = router_to(&addresses, &[])?;
        let wrote = Written::default();
        let mut members = Vec::with_capacity(indices.len());
        let mut ips = Vec::with_capacity(indices.len());
        for (member, node) in self::members(fleet, &indices, &router, &wrote)? {
            let ip = address_of(member.index);
            net.attach_host(ip, node);
            ips.push(ip);
            members.push(member);
        }
        let bed = SimBed {
            net,
            addresses,
            ips,
        };
        Ok(Run::on(fleet, bed, members, wrote, start, data_dir))
    }

    /// Runs the fleet to the end of its duration; `progress` is told at most once per
    /// [`PROGRESS_EVERY`] of virtual time (counting it visits every member).
    pub fn run(
        mut self,
        mut progress: impl FnMut(Progress),
    ) -> Result<(Summary, Vec<DeviceRow>), RunError> {
        let mut told: Option<Instant> = None;
        loop {
            let next = [self.next_due(), self.bed.net.next_event()]
                .into_iter()
                .flatten()
                .min()
                .filter(|t| *t <= self.end);
            let Some(next) = next else { break };
            self.bed.net.run_until(next);
            self.read_written();
            while self.act_due(next)? {}
            if told.is_none_or(|t| next >= t + PROGRESS_EVERY) {
                told = Some(next);
                progress(self.progress());
            }
        }
        self.bed.net.run_until(self.end);
        self.read_written();
        self.finish()
    }
}

impl<'f, B: Testbed> Run<'f, B> {
    /// The run of `members` on `bed` from `start`, their power-ons, schedules and the fleet's
    /// events on the agenda; their nodes note in `wrote` when their modules write.
    pub(crate) fn on(
        fleet: &'f Fleet,
        bed: B,
        members: Vec<Member>,
        wrote: Written,
        start: Instant,
        data_dir: &Path,
    ) -> Run<'f, B> {
        let mut run = Run {
            fleet,
            bed,
            data_dir: data_dir.to_path_buf(),
            start,
            end: start + fleet.duration,
            members,
            agenda: BinaryHeap::new(),
            sequence: 0,
            wrote,
            hours: Vec::new(),
        };
        run.plan();
        run
    }

    /// When the next agenda item is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.agenda.peek().map(|Reverse((t, _, _))| *t)
    }

    /// When the run ends.
    pub(crate) fn end(&self) -> Instant {
        self.end
    }

    /// The global index of the member at `slot`.
    pub(crate) fn member_index(&self, slot: usize) -> usize {
        self.members[slot].index
    }

    /// Carries out the next agenda item if it is due by `now`; says whether there was one.
    pub(crate) fn act_due(&mut self, now: Instant) -> Result<bool, RunError> {
        match self.agenda.peek() {
            Some(Reverse((time, _, _))) if *time <= now => {}
            _ => return Ok(false),
        }
        let Some(Reverse((_, _, action))) = self.agenda.pop() else {
            return Ok(false);
        };
        self.act(action)?;
        Ok(true)
    }

    /// Puts every member's power-on and schedule, and the fleet's events, on the agenda.
    fn plan(&mut self) {
        for slot in 0..self.members.len() {
            self.at(self.start, Action::PowerOn(slot));
            let group = &self.fleet.groups[self.members[slot].group];
            for (every, schedule) in group.every.iter().enumerate() {
                let due = self.round_time(slot, schedule, every, 1);
                self.at(
                    due,
                    Action::Round {
                        member: slot,
                        every,
                        round: 1,
                    },
                );
            }
        }
        for (n, event) in self.fleet.events.iter().enumerate() {
            self.at(self.start + event.at, Action::Event(n));
        }
    }

    /// When round `round` of a member's schedule `every` is due: `round` periods in, plus its
    /// jitter.
    fn round_time(&self, slot: usize, schedule: &Every, every: usize, round: u64) -> Instant {
        let index = self.members[slot].index as u64;
        let jitter_ms = schedule.jitter.as_millis() as u64;
        let jitter = match jitter_ms {
            0 => 0,
            j => mix(self.fleet.seed, &[index, every as u64, round]) % (j + 1),
        };
        let period = schedule.period.saturating_mul(round as u32);
        self.start + period + Duration::from_millis(jitter)
    }

    fn at(&mut self, time: Instant, action: Action) {
        self.sequence += 1;
        self.agenda.push(Reverse((time, self.sequence, action)));
    }

    pub(crate) fn progress(&self) -> Progress {
        let mut progress = Progress {
            virtual_elapsed: self.bed.now().saturating_since(self.start),
            modules: self.members.len() as u64,
            ..Progress::default()
        };
        for member in &self.members {
            progress.started += u64::from(member.row.started);
            progress.uplinks_sent += member.tally.uplinks_sent;
            progress.uplinks_acknowledged += member.tally.uplinks_acknowledged;
            progress.failures += member.tally.failures.values().sum::<u64>();
        }
        progress
    }

    fn act(&mut self, action: Action) -> Result<(), RunError> {
        let now = self.bed.now();
        match action {
            Action::PowerOn(slot) => {
                self.bed.power_on(slot, now);
                self.members[slot].powered = true;
                self.at(now + BOOT_TIME, Action::Start(slot));
            }
            Action::Start(slot) => {
                let group = &self.fleet.groups[self.members[slot].group];
                let member = &mut self.members[slot];
                member.booted = true;
                member.starting = true;
                member.start_failed = false;
                member.script = group.start.iter().cloned().collect();
                self.next_step(slot);
            }
            Action::Round {
                member: slot,
                every,
                round,
            } => {
                let group = &self.fleet.groups[self.members[slot].group];
                let schedule = &group.every[every];
                let next = self.round_time(slot, schedule, every, round + 1);
                let member = &mut self.members[slot];
                if member.powered {
                    member.pending.extend(schedule.steps.iter().cloned());
                    self.next_step(slot);
                } else {
                    member.tally.rounds_missed += 1;
                }
                self.at(
                    next,
                    Action::Round {
                        member: slot,
                        every,
                        round: round + 1,
                    },
                );
            }
            Action::Deadline { member: slot, step } => self.deadline(slot, step),
            Action::Resume { member: slot, step } => {
                if self.members[slot].paused == Some(step) {
                    self.members[slot].paused = None;
                    self.next_step(slot);
                }
            }
            Action::Event(n) => self.event(n)?,
            Action::ClearFault(n) => {
                if let EventKind::Fault { fault, .. } = &self.fleet.events[n].kind {
                    self.bed.set_fault(fault.server, None)?;
                }
            }
        }
        Ok(())
    }

    fn event(&mut self, n: usize) -> Result<(), RunError> {
        let now = self.bed.now();
        match &self.fleet.events[n].kind {
            EventKind::PowerCut { per_cent, off } => {
                let (per_cent, off) = (u64::from(*per_cent), *off);
                for slot in 0..self.members.len() {
                    let index = self.members[slot].index as u64;
                    let cut = mix(self.fleet.seed, &[index, 0xC07, n as u64]) % 100 < per_cent;
                    if cut && self.members[slot].powered {
                        self.bed.power_off(slot);
                        let member = &mut self.members[slot];
                        member.powered = false;
                        member.booted = false;
                        member.starting = false;
                        member.script.clear();
                        member.pending.clear();
                        member.current = None;
                        member.paused = None;
                        member.line.clear();
                        member.tally.power_cuts += 1;
                        member.row.started = false;
                        self.at(now + off, Action::PowerOn(slot));
                    }
                }
            }
            EventKind::Fault { fault, until } => {
                self.bed.set_fault(fault.server, Some(fault.fault))?;
                if let Some(until) = until {
                    self.at(self.start + *until, Action::ClearFault(n));
                }
            }
        }
        Ok(())
    }

    /// Types the member's next step, if it is booted and free: its start script's first, then
    /// its schedule's. The start script ends when its last step is done.
    fn next_step(&mut self, slot: usize) {
        let member = &self.members[slot];
        if !member.booted || member.current.is_some() || member.paused.is_some() {
            return;
        }
        if member.starting && member.script.is_empty() {
            self.start_done(slot);
        }
        let member = &mut self.members[slot];
        let next = match member.starting {
            true => member.script.pop_front(),
            false => member.pending.pop_front(),
        };
        let Some(step) = next else {
            return;
        };
        let now = self.bed.now();
        let member = &mut self.members[slot];
        member.steps_typed += 1;
        let number = member.steps_typed;
        let (at, expect, within) = match step {
            Step::Pause(pause) => {
                member.paused = Some(number);
                self.at(
                    now + pause,
                    Action::Resume {
                        member: slot,
                        step: number,
                    },
                );
                return;
            }
            Step::At { at, expect, within } => (at, expect, within),
        };
        member.tally.steps += 1;
        member.line.clear();
        let line = format!("{at}\r");
        member.current = Some(InFlight {
            at,
            expect,
            within,
            number,
            typed: now,
            answered: false,
            expect_met: false,
        });
        self.at(
            now + within,
            Action::Deadline {
                member: slot,
                step: number,
            },
        );
        self.bed.type_in(slot, line.as_bytes(), now);
        self.read(slot);
    }

    /// The start script is over: counted if every step of it succeeded.
    fn start_done(&mut self, slot: usize) {
        let now = self.bed.now();
        let member = &mut self.members[slot];
        member.starting = false;
        if !member.start_failed {
            member.tally.starts += 1;
            member.row.started = true;
            self.hour(now).starts += 1;
        }
    }

    fn hour(&mut self, now: Instant) -> &mut Hour {
        let hour = (now.saturating_since(self.start).as_secs() / 3600) as usize;
        if self.hours.len() <= hour {
            self.hours.resize(hour + 1, Hour::default());
        }
        &mut self.hours[hour]
    }

    /// Reads the members whose modules wrote something, in the order they wrote it (a member
    /// with no step in flight has its lines dropped, as before its next step).
    pub(crate) fn read_written(&mut self) {
        let wrote = std::mem::take(&mut *lock(&self.wrote));
        for slot in wrote {
            self.read(slot);
        }
    }

    /// Reads what the member wrote and acts on each complete line.
    fn read(&mut self, slot: usize) {
        let output = self.bed.take_output(slot);
        self.members[slot].line.extend(output);
        while let Some(end) = find_line_end(&self.members[slot].line) {
            let line = &mut self.members[slot].line;
            let text = String::from_utf8_lossy(&line[..end]).trim().to_string();
            line.drain(..end + 2);
            if !text.is_empty() {
                self.line(slot, &text);
            }
        }
    }

    /// One line of the member's output, while a step is in flight.
    fn line(&mut self, slot: usize, text: &str) {
        let now = self.bed.now();
        let Some(current) = self.members[slot].current.as_mut() else {
            return;
        };
        let uplink = is_uplink(&current.at);
        if text == current.at {
            return; // the echo
        }
        if text == "OK" {
            current.answered = true;
            let done = current.expect.is_none() || current.expect_met;
            let member = &mut self.members[slot];
            member.tally.steps_ok += 1;
            if uplink {
                member.tally.uplinks_sent += 1;
                self.hour(now).uplinks_sent += 1;
            }
            if done {
                self.step_done(slot);
            }
        } else if text == "ERROR"
            || text.starts_with("+CME ERROR")
            || text.starts_with("+CMS ERROR")
        {
            self.step_failed(slot, text.to_string());
        } else if current
            .expect
            .as_deref()
            .is_some_and(|e| text.starts_with(e))
            && !current.expect_met
        {
            current.expect_met = true;
            let latency = now.saturating_since(current.typed).as_millis() as u64;
            let answered = current.answered;
            let member = &mut self.members[slot];
            member.tally.latency_ms.record(latency);
            if uplink {
                member.tally.uplinks_acknowledged += 1;
            }
            if answered {
                self.step_done(slot);
            }
        }
    }

    fn step_done(&mut self, slot: usize) {
        self.members[slot].current = None;
        self.next_step(slot);
    }

    fn step_failed(&mut self, slot: usize, cause: String) {
        let now = self.bed.now();
        let member = &mut self.members[slot];
        member.tally.fail(cause);
        if member.starting {
            member.start_failed = true;
        }
        self.hour(now).failures += 1;
        self.step_done(slot);
    }

    /// A step's time is up: if it is still in flight, it failed for want of what it waited for.
    fn deadline(&mut self, slot: usize, number: u64) {
        let Some(current) = &self.members[slot].current else {
            return;
        };
        if current.number != number {
            return;
        }
        let within = nbmodem_clock::format_duration(current.within);
        let cause = match (&current.expect, current.answered) {
            (Some(expect), true) => format!("no {expect} within {within}"),
            _ => format!("no answer within {within}"),
        };
        self.step_failed(slot, cause);
    }

    /// The run is over: each member's energy and stored uplinks, then the tallies.
    pub(crate) fn finish(mut self) -> Result<(Summary, Vec<DeviceRow>), RunError> {
        self.bed.settle()?;
        let store = Store::open(&self.data_dir).map_err(|e| RunError::Platform(e.to_string()))?;
        let now = self.bed.now();
        let days = self.fleet.duration.as_secs_f64().max(1.0) / 86_400.0;
        let mut groups: BTreeMap<String, Tally> = BTreeMap::new();
        let mut total = Tally::default();
        let mut rows = Vec::new();
        let registrations = self_registrations(&store)?;
        for slot in 0..self.members.len() {
            let micro_amp_hours = self.bed.micro_amp_hours(slot, now);
            let address = self.bed.address(slot);
            let member = &mut self.members[slot];
            let group = &self.fleet.groups[member.group];
            let nah_per_day = (micro_amp_hours * 1000.0 / days).round() as u64;
            member.tally.energy_nah_per_day.record(nah_per_day);
            if let Some(flavour) = group.platform {
                let stored = store
                    .uplink_count(flavour, &member.row.imei)
                    .map_err(|e| RunError::Platform(e.to_string()))?;
                member.tally.uplinks_stored = stored;
            }
            if let Some(requests) = registrations.get(&address) {
                member.tally.count_self_registrations(requests);
            }
            member.tally.coap_retransmissions = self.bed.coap_retransmissions(slot);
            member.tally.modules = 1;
            member.tally.started = u64::from(member.row.started);
            member.row.fill(&member.tally, nah_per_day);
            groups
                .entry(group.name.clone())
                .or_default()
                .merge(&member.tally);
            total.merge(&member.tally);
            rows.push(member.row.clone());
        }
        let summary = Summary {
            seed: self.fleet.seed,
            fleet_size: self.fleet.size() as u64,
            virtual_seconds: self.fleet.duration.as_secs(),
            shards: Vec::new(),
            total,
            groups,
            hours: self.hours,
        };
        Ok((summary, rows))
    }
}

/// What the self-registration registries (CT, CU) recorded from each module, by its address:
/// each request's time (ms) and whether it was accepted, oldest first.
fn self_registrations(store: &Store) -> Result<HashMap<IpAddr, Vec<(u64, bool)>>, RunError> {
    let mut by_module: HashMap<IpAddr, Vec<(u64, bool)>> = HashMap::new();
    for server in [Server::Ct, Server::Cu] {
        let records = store
            .records(server)
            .map_err(|e| RunError::Platform(e.to_string()))?;
        for record in records {
            if let Ok(source) = record.source.parse::<SocketAddr>() {
                let accepted = record.verdict == Verdict::Accepted;
                let requests = by_module.entry(source.ip()).or_default();
                requests.push((record.time_ms, accepted));
            }
        }
    }
    for requests in by_module.values_mut() {
        requests.sort_unstable();
    }
    Ok(by_module)
}

impl Tally {
    /// Counts a module's self-registration requests and the gaps between them.
    fn count_self_registrations(&mut self, requests: &[(u64, bool)]) {
        self.self_registrations += requests.len() as u64;
        let accepted = requests.iter().filter(|(_, accepted)| *accepted).count();
        self.self_registrations_accepted += accepted as u64;
        for pair in requests.windows(2) {
            let gap_s = (pair[1].0 - pair[0].0 + 500) / 1000;
            *self.self_registration_gaps_s.entry(gap_s).or_default() += 1;
        }
    }
}

impl Member {
    /// The member with global index `index` and its module, powered off, on `router`.
    fn new(fleet: &Fleet, index: usize, router: &Router) -> Result<(Member, Module), RunError> {
        let (group, n) = fleet.group_of(index).expect("an index of the fleet");
        let group_number = fleet
            .groups
            .iter()
            .position(|g| std::ptr::eq(g, group))
            .unwrap_or(0);
        let coverage = coverage_of(group, fleet.seed, index);
        let failed = |reason: String| RunError::Module { index, reason };
        let mut setup = ModuleSetup::model(&group.model);
        setup.imei = Some(group.imei(n));
        setup.imsi = Some(group.imsi(n));
        setup.coverage = coverage.map(|name| name.parse::<RadioCondition>().expect("a preset"));
        let mut config = setup.config().map_err(|e| failed(e.to_string()))?;
        config.router = router.clone();
        let module =
            Module::new(config, Box::new(MemoryStore::new())).map_err(|e| failed(e.to_string()))?;
        let row = DeviceRow {
            index,
            group: group.name.clone(),
            imei: group.imei(n),
            imsi: group.imsi(n),
            coverage: coverage.unwrap_or("good").to_string(),
            ..DeviceRow::default()
        };
        let member = Member {
            index,
            group: group_number,
            powered: false,
            booted: false,
            starting: false,
            start_failed: false,
            script: VecDeque::new(),
            pending: VecDeque::new(),
            current: None,
            paused: None,
            steps_typed: 0,
            line: Vec::new(),
            row,
            tally: Tally::default(),
        };
        Ok((member, module))
    }
}

/// The slots of the members whose modules wrote something, in order (a slot may repeat).
pub(crate) type Written = Arc<Mutex<Vec<usize>>>;

fn lock(wrote: &Written) -> std::sync::MutexGuard<'_, Vec<usize>> {
    // Only plain numbers inside: a panic elsewhere cannot leave them broken.
    wrote
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A member's module on the network: after each call that may make the module write (a
/// datagram, a timer, a stream's or a lookup's answer), notes the member if it did.
pub(crate) struct MemberNode {
    pub(crate) node: ModuleNode,
    slot: usize,
    wrote: Written,
}

impl MemberNode {
    /// Runs `call` on the node, then notes the member if its module wrote something.
    fn noting(&mut self, call: impl FnOnce(&mut ModuleNode)) {
        let before = self.node.module().output_len();
        call(&mut self.node);
        if self.node.module().output_len() > before {
            lock(&self.wrote).push(self.slot);
        }
    }
}

impl HostNode for MemberNode {
    fn handle_datagram(&mut self, now: Instant, port: u16, from: SocketAddr, datagram: &[u8]) {
        self.noting(|node| node.handle_datagram(now, port, from, datagram));
    }
    fn poll_transmit(&mut self) -> Option<HostTransmit> {
        self.node.poll_transmit()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.node.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.noting(|node| node.handle_timeout(now));
    }
    fn poll_stream(&mut self) -> Option<StreamRequest> {
        self.node.poll_stream()
    }
    fn handle_stream(&mut self, now: Instant, port: u16, event: StreamEvent) {
        self.noting(|node| node.handle_stream(now, port, event));
    }
    fn poll_lookup(&mut self) -> Option<Lookup> {
        self.node.poll_lookup()
    }
    fn handle_lookup(&mut self, now: Instant, port: u16, answer: LookupAnswer) {
        self.noting(|node| node.handle_lookup(now, port, answer));
    }
}

impl DeviceRow {
    fn fill(&mut self, tally: &Tally, nah_per_day: u64) {
        self.starts = tally.starts;
        self.steps = tally.steps;
        self.steps_ok = tally.steps_ok;
        self.uplinks_sent = tally.uplinks_sent;
        self.uplinks_acknowledged = tally.uplinks_acknowledged;
        self.uplinks_stored = tally.uplinks_stored;
        self.power_cuts = tally.power_cuts;
        self.rounds_missed = tally.rounds_missed;
        self.self_registrations = tally.self_registrations;
        self.self_registrations_accepted = tally.self_registrations_accepted;
        self.coap_retransmissions = tally.coap_retransmissions;
        self.failures = tally.failures.clone();
        self.energy_uah_per_day = nah_per_day as f64 / 1000.0;
    }
}

/// The radio condition of module `index` of `group` (none without a mix: datagrams cross at
/// once, as in `nbmodem sandbox` without `--coverage`).
fn coverage_of(group: &Group, seed: u64, index: usize) -> Option<&'static str> {
    let mix_of = group.coverage?;
    let draw = (mix(seed, &[index as u64, 0xC0FE]) % 100) as u32;
    Some(if draw < mix_of.good {
        "good"
    } else if draw < mix_of.good + mix_of.edge {
        "edge"
    } else {
        "deep"
    })
}

fn is_uplink(line: &str) -> bool {
    let line = line.as_bytes();
    UPLINK_COMMANDS.iter().any(|c| {
        line.get(..c.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(c.as_bytes()))
    })
}

fn find_line_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uplink_is_known_by_its_command_in_any_case() {
        assert!(is_uplink("AT+NMGS=5,00454C4C4F"));
        assert!(is_uplink("at+qlwuldataex=5,00454C4C4F,0x0100"));
        assert!(is_uplink("AT+QISENDEX=0,2,AB"));
        assert!(!is_uplink("AT+NMGS"), "shorter than the command");
        assert!(!is_uplink("AT+CSQ"));
        assert!(!is_uplink("ATE0"));
    }
}
