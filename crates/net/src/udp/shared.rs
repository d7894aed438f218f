//! Sockets shared by many hosts on loopback, for a fleet in real time.
//!
//! A fleet's modules each send from an address of their own in 127.0.0.0/8, so that a server tells
//! them apart as it tells real modules apart (by source address). With a socket per module and
//! service, 20 000 modules need 20 000–40 000 open files, more than a process may usually open.
//! Here the hosts share one socket per local port instead: it is bound on the unspecified address
//! (on a port the system picks), so that it receives what comes to that port on every loopback
//! address, and it asks the kernel for each datagram's destination address (`IP_PKTINFO`), by
//! which [`SharedPorts`] hands the datagram to the host with that address. Going out, each
//! datagram names its host's address as its source in the same control message; Linux accepts
//! any local address there, and all of 127.0.0.0/8 is local. So a server sees host A as
//! `127.0.0.2:Q` and host B as `127.0.0.3:Q`, exactly as if each had a socket of its own, and the
//! fleet opens a handful of files whatever its size.
//!
//! Each shared socket is read by a thread of its own, which hands the datagrams to the hosts'
//! queues: one socket's buffer takes the datagrams of the whole fleet, and a reader on the
//! hosts' busy runtime would let it overflow in a burst (a registration storm) and lose
//! datagrams no real module would lose. The runtime only sends on it.
//!
//! Only IPv4 loopback traffic can be shared this way: toward any other address a host needs a
//! source address of the machine's own, and so a socket (and port) of its own
//! (`Ports::Shared` falls back to that). A host whose queue is full loses the datagram, as a full
//! socket buffer would.

use super::{bind_with_server_buffer, lock, Received, MAX_DATAGRAM};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags,
    SockaddrIn,
};
use std::collections::HashMap;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::{Arc, Mutex, Weak};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;

/// How long a reader waits for a datagram before it looks whether its ports are still in use.
const READER_WAKES_EVERY_MS: u8 = 100;

/// A socket the hosts share: they send on it through the runtime (which watches it only for
/// room to write); its reader thread takes what comes.
pub struct SharedSocket(AsyncFd<UdpSocket>);

/// The sockets of a set of hosts, one per local port, and where each host's datagrams go.
#[derive(Default)]
pub struct SharedPorts {
    /// Each host's queue, by its loopback address.
    hosts: Mutex<HashMap<Ipv4Addr, mpsc::Sender<Received>>>,
    /// The socket of each local port, bound when a host first sends from that port.
    sockets: Mutex<HashMap<u16, Arc<SharedSocket>>>,
}

impl SharedPorts {
    pub fn new() -> Arc<SharedPorts> {
        Arc::new(SharedPorts::default())
    }

    /// Whether datagrams to `to` can go out on shared sockets: IPv4 loopback only, where every
    /// host's address is the machine's own (see the module's documentation).
    pub fn carries(to: SocketAddr) -> bool {
        matches!(to, SocketAddr::V4(v4) if v4.ip().is_loopback())
    }

    /// How many sockets the hosts share: one per local port any of them has sent from.
    pub fn sockets(&self) -> usize {
        lock(&self.sockets).len()
    }

    /// Datagrams to `address` go to `received` from now on.
    pub(super) fn join(&self, address: Ipv4Addr, received: mpsc::Sender<Received>) {
        lock(&self.hosts).insert(address, received);
    }

    /// Datagrams to `address` are dropped from now on.
    pub(super) fn leave(&self, address: Ipv4Addr) {
        lock(&self.hosts).remove(&address);
    }

    /// The socket of local port `port`, bound now (with a thread that reads it) if no host has
    /// sent from that port yet. Must be called inside a tokio runtime.
    pub(super) fn socket(self: &Arc<Self>, port: u16) -> io::Result<Arc<SharedSocket>> {
        let mut sockets = lock(&self.sockets);
        if let Some(socket) = sockets.get(&port) {
            return Ok(Arc::clone(socket));
        }
        // A server's receive buffer: the socket takes the datagrams of every host.
        let (socket, _) = bind_with_server_buffer(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))?;
        setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)?;
        // SAFETY: the `AsyncFd` owns the socket, and so its file descriptor, for its whole life.
        let watched = unsafe { AsyncFd::register_with_interest(socket, Interest::WRITABLE) };
        let socket = Arc::new(SharedSocket(watched.map_err(|e| e.into_parts().1)?));
        let (ports, reading) = (Arc::downgrade(self), Arc::clone(&socket));
        std::thread::Builder::new()
            .name(format!("shared-udp-{port}"))
            .spawn(move || read(&ports, port, &reading))?;
        sockets.insert(port, Arc::clone(&socket));
        Ok(socket)
    }

    fn hand_over(&self, port: u16, from: SocketAddr, to: Ipv4Addr, datagram: &[u8]) {
        let hosts = lock(&self.hosts);
        let Some(host) = hosts.get(&to) else {
            tracing::debug!("datagram from {from} to {to}, which no host has: dropped");
            return;
        };
        if host.try_send((port, from, datagram.to_vec())).is_err() {
            tracing::debug!("datagram from {from} to {to}: the host's queue is full, dropped");
        }
    }
}

/// Reads the shared `socket` of `port`, handing each datagram to the host it was sent to, until
/// nobody holds the ports any more.
fn read(ports: &Weak<SharedPorts>, port: u16, socket: &SharedSocket) {
    let socket = socket.0.get_ref();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while let Some(ports) = ports.upgrade() {
        let mut waiting = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
        if let Err(e) = poll(&mut waiting, PollTimeout::from(READER_WAKES_EVERY_MS)) {
            tracing::debug!("waiting on a shared socket: {e}");
            continue;
        }
        loop {
            match receive(socket, &mut buf) {
                Ok((len, from, to)) => ports.hand_over(port, from, to, &buf[..len]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // ICMP errors (port unreachable) surface here on Linux; they are not fatal.
                Err(e) => tracing::debug!("receive error on a shared socket: {e}"),
            }
        }
    }
}

/// Sends `payload` to `to` on a shared `socket`, from the address `from`.
pub(super) async fn send(
    socket: &SharedSocket,
    from: Ipv4Addr,
    to: SocketAddrV4,
    payload: &[u8],
) -> io::Result<()> {
    let source = libc::in_pktinfo {
        ipi_ifindex: 0,
        ipi_spec_dst: in_addr(from),
        ipi_addr: in_addr(Ipv4Addr::UNSPECIFIED),
    };
    let to = SockaddrIn::from(to);
    socket
        .0
        .async_io(Interest::WRITABLE, |socket| {
            sendmsg(
                socket.as_raw_fd(),
                &[IoSlice::new(payload)],
                &[ControlMessage::Ipv4PacketInfo(&source)],
                MsgFlags::empty(),
                Some(&to),
            )
            .map_err(io::Error::from)
        })
        .await
        .map(drop)
}

/// One datagram from a shared socket: its length in `buf`, its sender, the address it was sent to.
fn receive(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Ipv4Addr)> {
    let mut control = nix::cmsg_space!(libc::in_pktinfo);
    let mut parts = [IoSliceMut::new(buf)];
    let message = recvmsg::<SockaddrIn>(
        socket.as_raw_fd(),
        &mut parts,
        Some(&mut control),
        MsgFlags::empty(),
    )?;
    let from = message
        .address
        .map(|a| SocketAddr::V4(SocketAddrV4::new(a.ip(), a.port())))
        .ok_or_else(|| io::Error::other("a datagram without a sender"))?;
    let to = message
        .cmsgs()?
        .find_map(|c| match c {
            ControlMessageOwned::Ipv4PacketInfo(info) => {
                Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)))
            }
            _ => None,
        })
        .ok_or_else(|| io::Error::other("a datagram without its destination address"))?;
    Ok((message.bytes, from, to))
}

fn in_addr(address: Ipv4Addr) -> libc::in_addr {
    libc::in_addr {
        s_addr: u32::from(address).to_be(),
    }
}
