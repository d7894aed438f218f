//! A fleet in real time: the agenda and steps of [`crate::run`], the modules on one tokio runtime
//! and the system clock, each on UDP sockets through `nbmodem_net::udp` (the project's one
//! real-time loop, the one `nbmodem modem` runs a module on), and the stand-in platforms in the
//! same process on a thread of their own (`nbmodem_platform::serve::Background`, as `nbmodem
//! sandbox` starts them) on loopback, on ports the system picks. Routes given win over the
//! stand-ins', so that a fleet can be pointed at a server of the user's.
//!
//! Sockets: a module sends from an address of its own in 127.0.0.0/8 (all of it is loopback on
//! Linux), as a real module has its own address and a CoAP or LwM2M server tells its clients
//! apart by their source address (docs/decisions.md). Toward loopback — the stand-ins, or a
//! server of the user's on this machine — the modules share one socket per local port
//! ([`udp::SharedPorts`]): each datagram names its module's address as its source, and what comes
//! back is handed to the module by the address it was sent to, so that the fleet opens a handful
//! of files whatever its size. Toward a server beyond the machine a module needs a socket of its
//! own per local port, bound on every address; before the start, the run then raises its soft
//! limit of open files to the hard one and refuses, saying so, a fleet that needs more
//! ([`SOCKETS_PER_MODULE`] a module). A module that still cannot open a socket stops the run with
//! the system's error.

use crate::run::{
    indices, members, platform_with_devices, router_to, Member, MemberNode, Testbed, Written,
};
use crate::{DeviceRow, Fleet, Progress, Run, RunError, Shard, Summary};
use nbmodem_clock::{Clock, Instant, RealClock};
use nbmodem_module::Route;
use nbmodem_net::udp::{self, lock, Ports, SharedPorts};
use nbmodem_net::HostNode;
use nbmodem_platform::control::{self, ControlToken};
use nbmodem_platform::serve::{Background, ServeConfig};
use nbmodem_platform::{Addresses, Fault, Server, Writing};
use std::future::pending;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// The sockets a module of a fleet file routed beyond the machine is counted for: its
/// self-registration's and its platform link's. A module that opens AT sockets too has more.
pub const SOCKETS_PER_MODULE: u64 = 2;

/// Open files beside the modules' sockets: the stand-ins' sockets, listeners and database, the
/// runtime, standard streams.
const FILES_BESIDE: u64 = 256;

/// How often the progress callback is told.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The modules on their sockets, the stand-ins beside them.
pub struct RealBed {
    nodes: Vec<Arc<Mutex<MemberNode>>>,
    /// Each module's loopback address ([`loopback_of`]).
    addresses: Vec<Ipv4Addr>,
    /// Each module's driver's wake: notified after the agenda acted on the module.
    wakes: Vec<Arc<Notify>>,
    control: SocketAddr,
    token: ControlToken,
    platforms: Option<Background>,
}

impl RealBed {
    fn with_module<R>(&self, slot: usize, f: impl FnOnce(&mut MemberNode) -> R) -> R {
        let result = f(&mut lock(&self.nodes[slot]));
        self.wakes[slot].notify_one();
        result
    }
}

impl Testbed for RealBed {
    fn now(&self) -> Instant {
        RealClock.now()
    }

    fn power_on(&mut self, slot: usize, now: Instant) {
        self.with_module(slot, |member| member.node.module_mut().power_on(now));
    }

    fn power_off(&mut self, slot: usize) {
        self.with_module(slot, |member| member.node.module_mut().power_off());
    }

    fn type_in(&mut self, slot: usize, line: &[u8], now: Instant) {
        self.with_module(slot, |member| {
            // The agenda and the module's driver wake for the same instant (the end of the
            // boot): the module's timers run first, as they would on the simulated network.
            member.handle_timeout(now);
            let module = member.node.module_mut();
            module.take_output();
            module.receive(line, now);
        });
    }

    fn take_output(&mut self, slot: usize) -> Vec<u8> {
        lock(&self.nodes[slot]).node.module_mut().take_output()
    }

    /// On the stand-ins' control port, as `nbmodem platform fault` does it.
    fn set_fault(&mut self, server: Server, fault: Option<Fault>) -> Result<(), RunError> {
        let line = match fault {
            Some(fault) => format!("fault {server} {fault}"),
            None => format!("fault {server} clear"),
        };
        let answer = control::request(self.control, &self.token, &line)
            .map_err(|e| RunError::Platform(format!("the control port: {e}")))?;
        match answer.last().map(String::as_str) {
            Some("OK") => Ok(()),
            other => Err(RunError::Platform(format!(
                "`{line}`: {}",
                other.unwrap_or("no answer")
            ))),
        }
    }

    fn micro_amp_hours(&mut self, slot: usize, now: Instant) -> f64 {
        lock(&self.nodes[slot])
            .node
            .module()
            .energy(now)
            .total_micro_amp_hours()
    }

    fn coap_retransmissions(&mut self, slot: usize) -> u64 {
        lock(&self.nodes[slot]).node.module().coap_retransmissions()
    }

    fn address(&self, slot: usize) -> IpAddr {
        IpAddr::V4(self.addresses[slot])
    }

    /// Stops the stand-ins, which commits what they wrote.
    fn settle(&mut self) -> Result<(), RunError> {
        match self.platforms.take() {
            Some(platforms) => platforms
                .stop()
                .map_err(|e| RunError::Platform(format!("{e:#}"))),
            None => Ok(()),
        }
    }
}

/// Runs the shard of `fleet` in real time for the fleet's duration, the stand-ins' database in
/// `data_dir`, the modules routed by `routes` where they say (before the stand-ins); `progress`
/// is told once a second.
pub fn run(
    fleet: &Fleet,
    shard: Shard,
    data_dir: &Path,
    routes: &[Route],
    progress: impl FnMut(Progress),
) -> Result<(Summary, Vec<DeviceRow>), RunError> {
    let indices = indices(fleet, shard);
    let limit = open_files_for(indices.len(), routes)?;
    // Committed at once (without waiting for the disk), for the stand-ins to find when they
    // open the database.
    drop(platform_with_devices(
        fleet,
        &indices,
        data_dir,
        Writing::Unsynced,
    )?);
    let platforms = Background::start(stand_ins(fleet, data_dir))
        .map_err(|e| RunError::Platform(format!("{e:#}")))?;
    let router = router_to(&platforms.addresses, routes)?;
    let wrote = Written::default();
    let (members, nodes): (Vec<Member>, Vec<MemberNode>) =
        members(fleet, &indices, &router, &wrote)?
            .into_iter()
            .unzip();
    let token = ControlToken::read(data_dir)
        .map_err(|e| RunError::Platform(format!("the control token: {e}")))?;
    let bed = RealBed {
        nodes: nodes
            .into_iter()
            .map(|node| Arc::new(Mutex::new(node)))
            .collect(),
        addresses: members.iter().map(|m| loopback_of(m.index)).collect(),
        wakes: members.iter().map(|_| Arc::new(Notify::new())).collect(),
        control: platforms.control_address,
        token,
        platforms: Some(platforms),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError::Sockets(format!("a runtime: {e}")))?;
    runtime.block_on(async {
        let stepped = Arc::new(Notify::new());
        let networks = start_networks(&bed, &stepped);
        let run = Run::on(fleet, bed, members, wrote, RealClock.now(), data_dir);
        drive(run, networks, stepped, limit, progress).await
    })
}

/// The stand-ins of a run: every server on loopback on a port the system picks.
fn stand_ins(fleet: &Fleet, data_dir: &Path) -> ServeConfig {
    let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    ServeConfig {
        data: data_dir.to_path_buf(),
        addresses: Addresses {
            ct: any_port,
            cu: any_port,
            dm: any_port,
            iot: any_port,
            iot_dtls: any_port,
            aep: any_port,
            aep_dtls: any_port,
        },
        control: any_port,
        api: any_port,
        faults: Vec::new(),
        seed: fleet.seed,
        console: None,
        devices: Vec::new(),
        // Every record, as in virtual time: the summary counts self-registrations from them.
        records_kept: u64::MAX,
        module: None,
    }
}

/// Each module's network loop, a task of the returned set that ends only on an error.
fn start_networks(bed: &RealBed, stepped: &Arc<Notify>) -> JoinSet<(usize, std::io::Result<()>)> {
    let mut networks = JoinSet::new();
    let shared = SharedPorts::new();
    for slot in 0..bed.nodes.len() {
        let node = Arc::clone(&bed.nodes[slot]);
        let wake = Arc::clone(&bed.wakes[slot]);
        let stepped = Some(Arc::clone(stepped));
        let ports = Ports::Shared(Arc::clone(&shared), bed.addresses[slot]);
        networks.spawn(async move {
            let ended = udp::run_host(node, ports, wake, stepped, pending()).await;
            (slot, ended)
        });
    }
    networks
}

/// The loopback address the module with global index `index` sends from: 127.0.0.2 on.
fn loopback_of(index: usize) -> Ipv4Addr {
    let n = (index + 2) as u32;
    Ipv4Addr::from(0x7F00_0000 | (n & 0x00FF_FFFF))
}

/// Runs the agenda on the system clock until the fleet's duration is over, reading the output of
/// the modules that wrote something whenever one of them stepped; then sums up.
async fn drive(
    mut run: Run<'_, RealBed>,
    mut networks: JoinSet<(usize, std::io::Result<()>)>,
    stepped: Arc<Notify>,
    open_files: u64,
    mut progress: impl FnMut(Progress),
) -> Result<(Summary, Vec<DeviceRow>), RunError> {
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    loop {
        let now = RealClock.now();
        while run.act_due(now)? {}
        if now >= run.end() {
            break;
        }
        let next = run.next_due().map_or(run.end(), |t| t.min(run.end()));
        tokio::select! {
            () = tokio::time::sleep(next.saturating_since(RealClock.now())) => {}
            () = stepped.notified() => run.read_written(),
            Some(ended) = networks.join_next() => {
                return Err(network_stopped(&run, ended, open_files));
            }
            _ = tick.tick() => progress(run.progress()),
        }
    }
    run.read_written();
    progress(run.progress());
    networks.shutdown().await;
    run.finish()
}

/// Why a module's network loop ended (it ends only on an error).
fn network_stopped(
    run: &Run<'_, RealBed>,
    ended: Result<(usize, std::io::Result<()>), tokio::task::JoinError>,
    open_files: u64,
) -> RunError {
    match ended {
        Ok((slot, result)) => {
            let why = result
                .err()
                .map_or("it ended".to_string(), |e| e.to_string());
            RunError::Sockets(format!(
                "module {}: its network stopped: {why} (the process may open {open_files} files)",
                run.member_index(slot)
            ))
        }
        Err(e) => RunError::Sockets(format!("a module's network stopped: {e}")),
    }
}

/// Makes sure the process may open the files a fleet of `modules` routed by `routes` needs,
/// raising its soft limit to the hard one if need be; returns the limit. Modules whose every
/// route leads to IPv4 loopback share their sockets (the stand-ins are there): they need none of
/// their own.
fn open_files_for(modules: usize, routes: &[Route]) -> Result<u64, RunError> {
    let sockets_per_module = if routes.iter().all(|r| SharedPorts::carries(r.to)) {
        0
    } else {
        SOCKETS_PER_MODULE
    };
    let needed = modules as u64 * sockets_per_module + FILES_BESIDE;
    let limit = raise_open_files().map_err(|e| RunError::Sockets(format!("ulimit -n: {e}")))?;
    if needed <= limit {
        return Ok(limit);
    }
    let why = if sockets_per_module == 0 {
        format!(
            "a fleet in real time needs about {needed} open files (the stand-ins, their \
             database, the sockets the modules share)"
        )
    } else {
        format!(
            "{modules} modules in real time routed beyond this machine need about {needed} open \
             files ({SOCKETS_PER_MODULE} sockets a module)"
        )
    };
    Err(RunError::Sockets(format!(
        "{why}, and this process may open {limit} (ulimit -n): raise the limit, or run the \
         fleet in shards, a process each (--shard K/N)"
    )))
}

/// Raises the soft limit of open files to the hard one; returns it.
fn raise_open_files() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write only the struct they are handed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Ok(limit.rlim_cur)
}
