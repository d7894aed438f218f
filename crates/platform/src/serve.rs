//! The platforms in real time: the three servers on UDP sockets (tokio, the system clock) and the
//! fault control port on loopback TCP, until shutdown.

use crate::control::{ControlToken, FaultTargets, TOKEN_FILE};
use crate::control_port;
use crate::fault::{Faulty, ServerFault};
use crate::record::Server;
use crate::store::DATABASE_FILE;
use crate::{Addresses, DmServer, Platform, RegistryServer};
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
    /// Faults in force from the start.
    pub faults: Vec<ServerFault>,
    pub seed: u64,
    /// Print a line on standard error for every request handled.
    pub console: bool,
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
}

impl FaultTargets for Nodes {
    fn with_server(&mut self, server: Server, action: &mut dyn FnMut(&mut dyn Faulty)) {
        match server {
            Server::Ct => self.ct.act(action),
            Server::Cu => self.cu.act(action),
            Server::Dm => self.dm.act(action),
        }
    }
}

/// The platforms with their sockets bound, ready to run.
pub struct Bound {
    platform: Platform,
    sockets: [UdpSocket; 3],
    control: TcpListener,
    token: ControlToken,
    /// Where each server listens (port 0 resolved to the port the system chose).
    pub addresses: Addresses,
    /// Where the control port listens.
    pub control_address: SocketAddr,
    data: PathBuf,
}

/// Opens the database and binds every socket; fails, saying which, when one cannot be had (a
/// port another platform holds, say).
pub async fn bind(config: ServeConfig) -> Result<Bound> {
    if !config.control.ip().is_loopback() {
        bail!(
            "the control port {} is not a loopback address: anyone reaching it could set faults",
            config.control
        );
    }
    let mut platform = Platform::open(&config.data, config.seed, crate::Writing::Thread)
        .with_context(|| format!("opening the database in {}", config.data.display()))?;
    for fault in &config.faults {
        platform.faulty(fault.server).set_fault(fault.fault);
    }
    platform.set_console(config.console);
    let sockets = [
        bind_udp("China Telecom registry (--ct)", config.addresses.ct)?,
        bind_udp("China Unicom registry (--cu)", config.addresses.cu)?,
        bind_udp("CMDMP DM server (--dm)", config.addresses.dm)?,
    ];
    let control = TcpListener::bind(config.control).await.with_context(|| {
        format!(
            "the control port (--control) cannot listen on {}; is another platform running?",
            config.control
        )
    })?;
    let token = ControlToken::create(&config.data)
        .with_context(|| format!("writing the control token in {}", config.data.display()))?;
    let addresses = Addresses {
        ct: sockets[0].local_addr()?,
        cu: sockets[1].local_addr()?,
        dm: sockets[2].local_addr()?,
    };
    Ok(Bound {
        platform,
        sockets,
        control_address: control.local_addr()?,
        control,
        token,
        addresses,
        data: config.data,
    })
}

impl Bound {
    /// Where each server listens, the control port, the database and the module routes.
    pub fn banner(&self) -> String {
        banner(&self.data, &self.addresses, self.control_address)
    }

    /// Serves until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let control = Control {
            listener: self.control,
            token: self.token,
        };
        run(self.platform, self.sockets, control, shutdown).await
    }
}

/// Runs the platforms until `shutdown` completes, after printing the banner.
pub async fn serve(config: ServeConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
    let bound = bind(config).await?;
    eprintln!("{}", bound.banner());
    bound.run(shutdown).await
}

/// The platforms on a thread and a runtime of their own, so that their disk writes never delay
/// the timers of a module running beside them (the sandbox).
pub struct Background {
    pub addresses: Addresses,
    pub control_address: SocketAddr,
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
                        let started = (bound.addresses, bound.control_address, bound.banner());
                        let _ = ready_tx.send(Ok(started));
                        bound
                            .run(async {
                                let _ = stopped.await;
                            })
                            .await
                    })
                })?;
        let (addresses, control_address, banner) = ready_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the platforms' thread ended before starting"))??;
        Ok(Background {
            addresses,
            control_address,
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

/// The control port and the token its connections must present.
struct Control {
    listener: TcpListener,
    token: ControlToken,
}

async fn run(
    platform: Platform,
    [ct, cu, dm]: [UdpSocket; 3],
    control: Control,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let nodes = Nodes {
        ct: Running::new(platform.ct),
        cu: Running::new(platform.cu),
        dm: Running::new(platform.dm),
    };
    // Each writer wakes its node's driver when a batch is durable, so held answers go out.
    lock(&nodes.ct.node).set_wake(Arc::clone(&nodes.ct.wake));
    lock(&nodes.cu.node).set_wake(Arc::clone(&nodes.cu.wake));
    lock(&nodes.dm.node).set_wake(Arc::clone(&nodes.dm.wake));
    let Nodes {
        ct: ct_node,
        cu: cu_node,
        dm: dm_node,
    } = nodes.clone();
    tokio::select! {
        result = udp::run(ct_node.node, ct, ct_node.wake, pending()) => result?,
        result = udp::run(cu_node.node, cu, cu_node.wake, pending()) => result?,
        result = udp::run(dm_node.node, dm, dm_node.wake, pending()) => result?,
        () = control_port::serve(control.listener, control.token, nodes.clone()) => {}
        () = shutdown => {}
    }
    Ok(())
}

fn banner(data: &std::path::Path, bound: &Addresses, control: SocketAddr) -> String {
    let routes: Vec<String> = bound
        .routes()
        .iter()
        .map(|route| format!("--route {route}"))
        .collect();
    [
        format!("ct  China Telecom registry  coap://{}/nb", bound.ct),
        format!("cu  China Unicom registry   coap://{}/", bound.cu),
        format!("dm  CMDMP DM server         coap://{}/rd", bound.dm),
        format!("control {control}"),
        format!("token {}", data.join(TOKEN_FILE).display()),
        format!("records {}", data.join(DATABASE_FILE).display()),
        format!("module routes: {}", routes.join(" ")),
    ]
    .join("\n")
}
