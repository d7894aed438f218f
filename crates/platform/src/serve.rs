//! The platforms in real time: the servers on UDP sockets (tokio, the system clock), the fault
//! control port and the CT IoT platforms' HTTP API on loopback TCP, until shutdown.

use crate::control::{ControlToken, FaultTargets, ModuleControl, TOKEN_FILE};
use crate::control_port;
use crate::fault::{Faulty, ServerFault};
use crate::record::Server;
use crate::shell::{Engine, Shell};
use crate::store::DATABASE_FILE;
use crate::writer::RecordWriter;
use crate::{Addresses, CtIotServer, DmServer, Flavour, Platform, RegistryServer};
use anyhow::{bail, Context, Result};
use nbmodem_net::udp::{self, lock};
use std::future::{pending, Future};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Notify;

/// How `nbmodem platform` runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data: PathBuf,
    pub addresses: Addresses,
    /// The control port; it must be a loopback address.
    pub control: SocketAddr,
    /// The HTTP API (docs/api.md); it must be a loopback address too.
    pub api: SocketAddr,
    /// Faults in force from the start.
    pub faults: Vec<ServerFault>,
    pub seed: u64,
    /// Where a line for every request handled goes, if anywhere.
    pub console: Option<crate::Console>,
    /// IMEIs registered on both CT IoT platforms at start-up, if they are not yet (the sandbox's
    /// module).
    pub devices: Vec<String>,
    /// How many request records the database keeps (the oldest go first).
    pub records_kept: u64,
    /// The module running beside the platforms, for the control port's `coverage` (the
    /// sandbox's).
    pub module: Option<ModuleControl>,
}

/// A running server: the node its driver runs, and how to wake the driver after acting on it.
struct Running<N> {
    node: Arc<Mutex<N>>,
    wake: Arc<Notify>,
}

impl<N> Running<N> {
    fn new(node: N) -> Self {
        Running {
            node: Arc::new(Mutex::new(node)),
            wake: Arc::new(Notify::new()),
        }
    }
}

impl<N> Clone for Running<N> {
    fn clone(&self) -> Self {
        Running {
            node: Arc::clone(&self.node),
            wake: Arc::clone(&self.wake),
        }
    }
}

impl<N: Faulty> Running<N> {
    fn act(&self, action: &mut dyn FnMut(&mut dyn Faulty)) {
        action(&mut *lock(&self.node));
        self.wake.notify_one();
    }
}

/// The running servers, shared with their drivers and the control sessions.
#[derive(Clone)]
struct Nodes {
    ct: Running<RegistryServer>,
    cu: Running<RegistryServer>,
    dm: Running<DmServer>,
    /// In the order of [`Addresses::ctiot`].
    ctiot: Vec<Running<CtIotServer>>,
    module: Option<ModuleControl>,
}

impl crate::api::CtIotNodes for Nodes {
    fn with_nodes(&self, flavour: Flavour, action: &mut dyn FnMut(&mut CtIotServer)) {
        for node in &self.ctiot {
            let mut server = lock(&node.node);
            if server.flavour() == flavour {
                action(&mut server);
                node.wake.notify_one();
            }
        }
    }
}

impl FaultTargets for Nodes {
    fn with_server(&mut self, server: Server, action: &mut dyn FnMut(&mut dyn Faulty)) {
        match server {
            Server::Ct => self.ct.act(action),
            Server::Cu => self.cu.act(action),
            Server::Dm => self.dm.act(action),
            Server::Iot | Server::Aep => {
                for node in &self.ctiot {
                    if lock(&node.node).flavour().server() == server {
                        node.act(action);
                    }
                }
            }
        }
    }

    fn module(&self) -> Option<ModuleControl> {
        self.module.clone()
    }
}

/// One socket per server: the three registries', then the CT IoT platforms' (as
/// [`Addresses::ctiot`] orders them).
struct Sockets {
    ct: UdpSocket,
    cu: UdpSocket,
    dm: UdpSocket,
    ctiot: Vec<UdpSocket>,
}

/// The platforms with their sockets bound, ready to run.
pub struct Bound {
    platform: Platform,
    sockets: Sockets,
    control: TcpListener,
    token: ControlToken,
    api: TcpListener,
    module: Option<ModuleControl>,
    /// Where each server listens (port 0 resolved to the port the system chose).
    pub addresses: Addresses,
    /// Where the control port listens.
    pub control_address: SocketAddr,
    /// Where the HTTP API listens.
    pub api_address: SocketAddr,
    data: PathBuf,
    /// The data directory's files whose permissions were tightened at start (see
    /// [`crate::private`]).
    tightened: Vec<String>,
}

/// Opens the database and binds every socket; fails, saying which, when one cannot be had (a
/// port another platform holds, say).
pub async fn bind(config: ServeConfig) -> Result<Bound> {
    for (what, address) in [("control port", config.control), ("API", config.api)] {
        if !address.ip().is_loopback() {
            bail!("the {what} {address} is not a loopback address: anyone reaching it could change the platforms");
        }
    }
    // Before anything opens the database: its files hold device keys.
    let tightened = crate::private::create_dir(&config.data)
        .and_then(|()| crate::private::tighten(&config.data))
        .with_context(|| format!("making {} owner-only", config.data.display()))?;
    for imei in &config.devices {
        crate::ctiot::admin::ensure_device(&config.data, imei)
            .with_context(|| format!("registering {imei} on the CT IoT platforms"))?;
    }
    let mut platform = Platform::open(&config.data, config.seed, crate::Writing::Thread)
        .with_context(|| format!("opening the database in {}", config.data.display()))?;
    crate::writer::Storage::of(&config.data).set_records_kept(config.records_kept);
    for fault in &config.faults {
        platform.with_faulty(fault.server, &mut |s| s.set_fault(fault.fault));
    }
    platform.set_console(config.console.clone());
    let at = config.addresses;
    let ctiot = at
        .ctiot()
        .into_iter()
        .map(|(flavour, secure, address)| {
            let option = format!("--{flavour}{}", if secure { "-dtls" } else { "" });
            bind_udp(&format!("CT IoT platform ({option})"), address)
        })
        .collect::<Result<Vec<_>>>()?;
    let sockets = Sockets {
        ct: bind_udp("China Telecom registry (--ct)", at.ct)?,
        cu: bind_udp("China Unicom registry (--cu)", at.cu)?,
        dm: bind_udp("CMDMP DM server (--dm)", at.dm)?,
        ctiot,
    };
    let control = TcpListener::bind(config.control).await.with_context(|| {
        format!(
            "the control port (--control) cannot listen on {}; is another platform running?",
            config.control
        )
    })?;
    let api = TcpListener::bind(config.api).await.with_context(|| {
        format!(
            "the API (--api) cannot listen on {}; is another platform running?",
            config.api
        )
    })?;
    let token = ControlToken::create(&config.data)
        .with_context(|| format!("writing the control token in {}", config.data.display()))?;
    let bound_at = |socket: &UdpSocket| socket.local_addr();
    let ctiot_at: Vec<SocketAddr> = sockets
        .ctiot
        .iter()
        .map(bound_at)
        .collect::<Result<_, _>>()?;
    let addresses = Addresses {
        ct: bound_at(&sockets.ct)?,
        cu: bound_at(&sockets.cu)?,
        dm: bound_at(&sockets.dm)?,
        iot: ctiot_at[0],
        iot_dtls: ctiot_at[1],
        aep: ctiot_at[2],
        aep_dtls: ctiot_at[3],
    };
    Ok(Bound {
        platform,
        sockets,
        control_address: control.local_addr()?,
        control,
        token,
        api_address: api.local_addr()?,
        api,
        module: config.module,
        addresses,
        data: config.data,
        tightened,
    })
}

impl Bound {
    /// A line per file whose permissions were tightened; then where each server listens, the
    /// control port, the database and the module routes.
    pub fn banner(&self) -> String {
        let notices = self.tightened.iter().map(|t| format!("notice: {t}\n"));
        let lines = banner(
            &self.data,
            &self.addresses,
            self.control_address,
            self.api_address,
        );
        notices.collect::<String>() + &lines
    }

    /// Serves until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let control = Control {
            listener: self.control,
            token: self.token,
            api: self.api,
            data: self.data,
            module: self.module,
        };
        run(self.platform, self.sockets, control, shutdown).await
    }
}

/// Runs the platforms until `shutdown` completes, after printing the banner.
pub async fn serve(config: ServeConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
    let bound = bind(config).await?;
    // A standard error that cannot be written (a full disk) is no reason not to serve.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{}", bound.banner());
    bound.run(shutdown).await
}

/// The platforms on a thread and a runtime of their own, so that their disk writes never delay
/// the timers of a module running beside them (the sandbox).
pub struct Background {
    pub addresses: Addresses,
    pub control_address: SocketAddr,
    pub api_address: SocketAddr,
    pub banner: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Closed when the platforms' thread ends.
    ended: tokio::sync::oneshot::Receiver<()>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Background {
    /// Binds the platforms on their own thread and starts them; fails if they cannot start.
    pub fn start(config: ServeConfig) -> Result<Background> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ending, ended) = tokio::sync::oneshot::channel::<()>();
        let thread =
            std::thread::Builder::new()
                .name("platforms".into())
                .spawn(move || -> Result<()> {
                    // Dropped when the thread ends, however it ends: that closes `ended`.
                    let _ending = ending;
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(async move {
                        let bound = match bind(config).await {
                            Ok(bound) => bound,
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return Ok(());
                            }
                        };
                        let started = (
                            bound.addresses,
                            bound.control_address,
                            bound.api_address,
                            bound.banner(),
                        );
                        let _ = ready_tx.send(Ok(started));
                        bound
                            .run(async {
                                let _ = stopped.await;
                            })
                            .await
                    })
                })?;
        let (addresses, control_address, api_address, banner) = ready_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the platforms' thread ended before starting"))??;
        Ok(Background {
            addresses,
            control_address,
            api_address,
            banner,
            stop: Some(stop),
            ended,
            thread: Some(thread),
        })
    }

    /// Completes if the platforms stop on their own (an error: [`Background::stop`] tells it).
    pub async fn stopped(&mut self) {
        let _ = (&mut self.ended).await;
    }

    /// Stops the platforms and waits for them; returns the error that stopped them, if any.
    pub fn stop(mut self) -> Result<()> {
        self.stop.take().map(|stop| stop.send(()));
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => bail!("the platforms' thread panicked"),
            None => Ok(()),
        }
    }
}

fn bind_udp(what: &str, address: SocketAddr) -> Result<UdpSocket> {
    let (socket, _) = udp::bind_server(address).with_context(|| {
        format!("the {what} cannot listen on {address}; is another platform running? (port 0 picks a free one)")
    })?;
    Ok(socket)
}

/// The control port and the token its connections must present; the API, which takes the same
/// token, and the data directory its changes are written to.
struct Control {
    listener: TcpListener,
    token: ControlToken,
    api: TcpListener,
    data: PathBuf,
    module: Option<ModuleControl>,
}

async fn run(
    mut platform: Platform,
    sockets: Sockets,
    control: Control,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    // Every writer's committed writes, for the web console's pages.
    let events = crate::web::events::Events::default();
    platform.set_observer(events.observer());
    let platform_state = platform.ctiot_state;
    let nodes = Nodes {
        ct: Running::new(platform.ct),
        cu: Running::new(platform.cu),
        dm: Running::new(platform.dm),
        ctiot: platform.ctiot.into_iter().map(Running::new).collect(),
        module: control.module.clone(),
    };
    let api = crate::api::router(
        &control.data,
        platform_state,
        control.token.clone(),
        Arc::new(nodes.clone()),
        crate::api::Everything {
            servers: Box::new(nodes.clone()),
            events,
        },
    )
    .with_context(|| format!("opening the database in {}", control.data.display()))?;
    let mut drivers = tokio::task::JoinSet::new();
    drive(&mut drivers, &nodes.ct, sockets.ct);
    drive(&mut drivers, &nodes.cu, sockets.cu);
    drive(&mut drivers, &nodes.dm, sockets.dm);
    for (node, socket) in nodes.ctiot.iter().zip(sockets.ctiot) {
        drive(&mut drivers, node, socket);
    }
    tokio::select! {
        Some(ended) = drivers.join_next() => ended??,
        () = control_port::serve(control.listener, control.token, nodes.clone()) => {}
        served = crate::api::serve(control.api, api) => served.context("the API stopped")?,
        () = shutdown => {}
    }
    Ok(())
}

/// Runs `node` on `socket` as a task of `drivers`; its writer wakes the driver when a batch is
/// durable, so that held answers go out.
fn drive<E>(
    drivers: &mut tokio::task::JoinSet<std::io::Result<()>>,
    node: &Running<Shell<E, RecordWriter>>,
    socket: UdpSocket,
) where
    E: Engine + Send + 'static,
{
    lock(&node.node)
        .journal_mut()
        .set_wake(Arc::clone(&node.wake));
    let (shared, wake) = (Arc::clone(&node.node), Arc::clone(&node.wake));
    drivers.spawn(udp::run(shared, socket, wake, pending()));
}

fn banner(
    data: &std::path::Path,
    bound: &Addresses,
    control: SocketAddr,
    api: SocketAddr,
) -> String {
    let routes: Vec<String> = bound
        .routes()
        .iter()
        .map(|route| format!("--route {route}"))
        .collect();
    [
        format!("ct  China Telecom registry  coap://{}/nb", bound.ct),
        format!("cu  China Unicom registry   coap://{}/", bound.cu),
        format!("dm  CMDMP DM server         coap://{}/rd", bound.dm),
        format!(
            "iot China Telecom IoT       coap://{} coaps://{}",
            bound.iot, bound.iot_dtls
        ),
        format!(
            "aep CTWing AEP              coap://{} coaps://{}",
            bound.aep, bound.aep_dtls
        ),
        format!("control {control}"),
        format!("api http://{api}"),
        format!("console http://{api}{}", crate::web::PATH),
        format!("token {}", data.join(TOKEN_FILE).display()),
        format!("records {}", data.join(DATABASE_FILE).display()),
        format!("module routes: {}", routes.join(" ")),
    ]
    .join("\n")
}
