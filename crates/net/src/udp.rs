//! The real-time driver: a node on tokio UDP sockets and the system clock. One loop serves every
//! real-time use: a server on one socket ([`run`]), a module whose services each send from their
//! own local port ([`run_host`] with [`Ports::OnDemand`]), the modules of a fleet each on an
//! address of its own, sharing one socket per local port ([`Ports::Shared`], [`shared`]).
//!
//! The node is shared (`Arc<Mutex<_>>`) so that the application can act on it — send a request,
//! answer one, type an AT command — from another task; after doing so it calls
//! `wake.notify_one()` so that the driver sends what the node now has to send and re-reads its
//! timer. A `stepped` notifier, when given, is notified after every step of the driver, so that
//! the application can collect what the step produced (a module's UART output).
//!
//! A host's TCP streams ([`crate::StreamRequest`]) run beside its datagrams, one task per
//! connection (`tcp.rs`); their events are handed to the host in the same loop.

pub mod shared;

use crate::tcp::Streams;
use crate::{DatagramNode, HostNode, OnePort};
use nbmodem_clock::{Clock, RealClock};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

pub use shared::SharedPorts;

/// The largest datagram accepted.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams read from the sockets and not yet handed to the node.
const RECEIVE_QUEUE: usize = 1024;

/// The receive buffer a server's socket asks for: while the node is busy, room for a burst of some
/// 60 datagrams of 64 KB or thousands of small ones (the registries answer 27 000–30 000 a second,
/// docs/performance.md). The default (208 KB on Linux) drops a burst of four large datagrams.
pub const SERVER_RECEIVE_BUFFER: usize = 4 << 20;

/// A server's socket bound to `address`, with a receive buffer of [`SERVER_RECEIVE_BUFFER`] or as
/// much of it as the system allows (Linux caps it at `net.core.rmem_max`, and a warning says so);
/// also returns the size the system reports (Linux reports twice what it grants, its bookkeeping
/// included). Must be called inside a tokio runtime.
pub fn bind_server(address: SocketAddr) -> io::Result<(UdpSocket, usize)> {
    let (socket, granted) = bind_with_server_buffer(address)?;
    Ok((UdpSocket::from_std(socket)?, granted))
}

/// [`bind_server`]'s socket, non-blocking, before tokio takes it.
fn bind_with_server_buffer(address: SocketAddr) -> io::Result<(std::net::UdpSocket, usize)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    // Asked before binding, so that no datagram arrives into a smaller buffer.
    socket.set_recv_buffer_size(SERVER_RECEIVE_BUFFER)?;
    socket.bind(&address.into())?;
    socket.set_nonblocking(true)?;
    let granted = socket.recv_buffer_size()?;
    if granted < SERVER_RECEIVE_BUFFER {
        tracing::warn!(
            "the UDP receive buffer of {address} is {} KiB, not the {} KiB asked: the system caps \
             it (net.core.rmem_max), so a burst of large datagrams may be dropped",
            granted / 1024,
            SERVER_RECEIVE_BUFFER / 1024
        );
    }
    Ok((socket.into(), granted))
}

/// A node the driver can step: locked for each step, seen as a host.
pub trait Shared {
    fn step<R>(&self, f: impl FnOnce(&mut dyn HostNode) -> R) -> R;
}

impl<H: HostNode> Shared for Arc<Mutex<H>> {
    fn step<R>(&self, f: impl FnOnce(&mut dyn HostNode) -> R) -> R {
        f(&mut *lock(self))
    }
}

/// A single-socket node, shared.
pub struct OneSocket<N>(pub Arc<Mutex<N>>);

impl<N: DatagramNode> Shared for OneSocket<N> {
    fn step<R>(&self, f: impl FnOnce(&mut dyn HostNode) -> R) -> R {
        f(&mut OnePort(&mut *lock(&self.0)))
    }
}

/// Where the node's datagrams go out and come in.
pub enum Ports {
    /// One socket, for a node with one port ([`OnePort::PORT`]).
    One(UdpSocket),
    /// A socket per local port, bound on this address (on a port the system picks) when the node
    /// first sends from that port; what comes back to it arrives on that local port.
    OnDemand(IpAddr),
    /// The sockets of a set of hosts, one per local port, each host on a loopback address of its
    /// own: its datagrams to IPv4 loopback go out from this address on the set's socket of their
    /// local port, and what comes back to this address on that socket is the host's. Toward any
    /// other address a local port has a socket of its own, as with [`Ports::OnDemand`].
    Shared(Arc<SharedPorts>, Ipv4Addr),
}

/// Runs `node` on `socket` until `shutdown` completes.
pub async fn run<N: DatagramNode>(
    node: Arc<Mutex<N>>,
    socket: UdpSocket,
    wake: Arc<Notify>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    run_host(OneSocket(node), Ports::One(socket), wake, None, shutdown).await
}

/// Runs `node` on `ports` until `shutdown` completes.
pub async fn run_host(
    node: impl Shared,
    ports: Ports,
    wake: Arc<Notify>,
    stepped: Option<Arc<Notify>>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let clock = RealClock;
    let (received, mut incoming) = mpsc::channel(RECEIVE_QUEUE);
    let mut sockets = Sockets::new(ports, received)?;
    let (stream_events, mut stream_event) = mpsc::unbounded_channel();
    let (answers, mut answer) = mpsc::unbounded_channel();
    let mut streams = Streams::new(stream_events);
    tokio::pin!(shutdown);
    loop {
        // Take what the node wants to send while holding the lock, send it after releasing it.
        let (outgoing, requests, lookups, wait) = node.step(|n| {
            let outgoing: Vec<_> = std::iter::from_fn(|| n.poll_transmit()).collect();
            let requests: Vec<_> = std::iter::from_fn(|| n.poll_stream()).collect();
            let lookups: Vec<_> = std::iter::from_fn(|| n.poll_lookup()).collect();
            (outgoing, requests, lookups, n.poll_timeout())
        });
        for request in requests {
            streams.request(request);
        }
        for lookup in lookups {
            crate::lookup::start(lookup, answers.clone());
        }
        for t in outgoing {
            let socket = sockets
                .for_port(t.source_port, t.transmit.destination)
                .await?;
            if let Err(e) = socket
                .send(&t.transmit.payload, t.transmit.destination)
                .await
            {
                tracing::debug!("datagram to {} not sent: {e}", t.transmit.destination);
            }
        }
        if let Some(stepped) = &stepped {
            stepped.notify_one();
        }
        let wait = wait.map(|t| t.saturating_since(clock.now()));
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            Some((port, from, datagram)) = incoming.recv() => {
                node.step(|n| n.handle_datagram(clock.now(), port, from, &datagram));
            }
            Some((port, event)) = stream_event.recv() => {
                node.step(|n| n.handle_stream(clock.now(), port, event));
            }
            Some((port, found)) = answer.recv() => {
                node.step(|n| n.handle_lookup(clock.now(), port, found));
            }
            _ = sleep(wait) => node.step(|n| n.handle_timeout(clock.now())),
            _ = wake.notified() => {}
        }
    }
}

/// A datagram read: the local port it came to, its sender, its bytes.
type Received = (u16, SocketAddr, Vec<u8>);

/// Where a local port's datagrams go out.
#[derive(Clone)]
enum PortSocket {
    /// A socket of the host's own.
    Own(Arc<UdpSocket>),
    /// A socket shared with other hosts, from the host's address.
    Shared(Arc<shared::SharedSocket>, Ipv4Addr),
}

impl PortSocket {
    async fn send(&self, payload: &[u8], to: SocketAddr) -> io::Result<()> {
        match (self, to) {
            (PortSocket::Own(socket), _) => socket.send_to(payload, to).await.map(drop),
            (PortSocket::Shared(socket, from), SocketAddr::V4(to)) => {
                shared::send(socket, *from, to, payload).await
            }
            (PortSocket::Shared(..), SocketAddr::V6(_)) => Err(io::Error::other(
                "a port on a shared IPv4 socket cannot send to an IPv6 address",
            )),
        }
    }
}

/// The sockets of a running node, each of its own with a task that reads it.
struct Sockets {
    by_port: HashMap<u16, PortSocket>,
    bind_on: Option<IpAddr>,
    shared: Option<(Arc<SharedPorts>, Ipv4Addr)>,
    received: mpsc::Sender<Received>,
    readers: Vec<JoinHandle<()>>,
}

impl Sockets {
    fn new(ports: Ports, received: mpsc::Sender<Received>) -> io::Result<Sockets> {
        let mut sockets = Sockets {
            by_port: HashMap::new(),
            bind_on: None,
            shared: None,
            received,
            readers: Vec::new(),
        };
        match ports {
            Ports::One(socket) => sockets.add(OnePort::<()>::PORT, socket),
            Ports::OnDemand(ip) => sockets.bind_on = Some(ip),
            Ports::Shared(shared, ip) => {
                shared.join(ip, sockets.received.clone());
                sockets.bind_on = Some(IpAddr::V4(ip));
                sockets.shared = Some((shared, ip));
            }
        }
        Ok(sockets)
    }

    /// The socket of `port`, chosen now if it is the node's first datagram from it: the shared
    /// socket of that port if the node has one and the datagram goes to IPv4 loopback; else one
    /// of its own, bound on the driver's address, or, when that is a loopback address and the
    /// first datagram goes beyond the machine (or is IPv6), on every address of the datagram's
    /// family, as a loopback socket cannot send there.
    async fn for_port(&mut self, port: u16, first_to: SocketAddr) -> io::Result<PortSocket> {
        if let Some(socket) = self.by_port.get(&port) {
            return Ok(socket.clone());
        }
        let Some(ip) = self.bind_on else {
            return Err(io::Error::other(format!(
                "the node sent from port {port}, which it has no socket for"
            )));
        };
        if let Some((shared, address)) = &self.shared {
            if SharedPorts::carries(first_to) {
                let socket = PortSocket::Shared(shared.socket(port)?, *address);
                self.by_port.insert(port, socket.clone());
                return Ok(socket);
            }
        }
        let ip = match (ip, first_to) {
            (IpAddr::V4(v4), SocketAddr::V4(to)) if v4.is_loopback() && !to.ip().is_loopback() => {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            }
            (IpAddr::V4(v4), SocketAddr::V6(_)) if v4.is_loopback() => {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            }
            (other, _) => other,
        };
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        self.add(port, socket);
        Ok(self.by_port[&port].clone())
    }

    fn add(&mut self, port: u16, socket: UdpSocket) {
        let socket = Arc::new(socket);
        self.by_port
            .insert(port, PortSocket::Own(Arc::clone(&socket)));
        let received = self.received.clone();
        self.readers.push(tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                match socket.recv_from(&mut buf).await {
                    Ok((len, from)) => {
                        if received
                            .send((port, from, buf[..len].to_vec()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    // ICMP errors (port unreachable) surface here on Linux; they are not fatal.
                    Err(e) => tracing::debug!("receive error: {e}"),
                }
            }
        }));
    }
}

impl Drop for Sockets {
    fn drop(&mut self) {
        for reader in &self.readers {
            reader.abort();
        }
        if let Some((shared, address)) = &self.shared {
            shared.leave(*address);
        }
    }
}

/// Locks a node; a panic elsewhere while holding it leaves it as it was, so we carry on.
pub fn lock<N>(node: &Mutex<N>) -> std::sync::MutexGuard<'_, N> {
    node.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn sleep(wait: Option<std::time::Duration>) {
    match wait {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
