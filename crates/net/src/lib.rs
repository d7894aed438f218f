//! How sans-IO datagram engines meet the world.
//!
//! An engine (a CoAP endpoint, an LwM2M client or server, a DTLS session stack) is a
//! [`DatagramNode`]: it takes datagrams and time, and gives datagrams and the instant it next needs
//! to run. A [`HostNode`] is the same with several local ports on one host: a module, whose
//! services each have their own port, so that a datagram reaches the service it is for by the
//! port it was sent to. Two drivers run either:
//! - [`sim::SimNetwork`]: an in-memory network in virtual time, where loss, delay, reordering and
//!   partitions can be injected and nothing ever sleeps;
//! - [`udp::run_host`] (feature `udp`): tokio UDP sockets on the system clock, one per local
//!   port; [`udp::run`] for a node on one socket.
//!
//! A host may also open TCP streams: it hands out [`StreamRequest`]s (connect, send, close), each
//! naming the local port of the socket that makes it, and is handed [`StreamEvent`]s back for
//! that port. The real-time driver maps them onto tokio `TcpStream`s, the in-memory network onto
//! its simulated stream servers ([`sim::StreamServer`]). The engines stay sans-IO: a stream is
//! bytes in and bytes out, in order, like a datagram that happens to be reliable. The same way a
//! host asks the network itself ([`Lookup`]): a name to resolve, an address to ping.

#[cfg(feature = "udp")]
mod lookup;
pub mod sim;
#[cfg(feature = "udp")]
mod tcp;
#[cfg(feature = "udp")]
pub mod udp;

use nbmodem_clock::Instant;
use std::net::{IpAddr, SocketAddr};

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub destination: SocketAddr,
    pub payload: Vec<u8>,
}

/// A sans-IO engine bound to one datagram socket.
pub trait DatagramNode {
    /// A datagram arrived from `from`.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]);
    /// The next datagram to send.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// When [`DatagramNode::handle_timeout`] must next be called.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Runs everything due at or before `now`.
    fn handle_timeout(&mut self, now: Instant);
}

/// A datagram a host sends from one of its local ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTransmit {
    pub source_port: u16,
    pub transmit: Transmit,
}

/// What a host asks of a TCP stream, for the socket on its local port `port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamRequest {
    /// Opens a connection from `port` to `to`; answered by [`StreamEvent::Connected`] or
    /// [`StreamEvent::Refused`].
    Connect { port: u16, to: SocketAddr },
    /// Writes bytes on the connection of `port`.
    Send { port: u16, bytes: Vec<u8> },
    /// Closes the connection of `port` (nothing more is told of it).
    Close { port: u16 },
}

impl StreamRequest {
    /// The local port of the socket making the request.
    pub fn port(&self) -> u16 {
        match self {
            StreamRequest::Connect { port, .. }
            | StreamRequest::Send { port, .. }
            | StreamRequest::Close { port } => *port,
        }
    }
}

/// What happened on a host's TCP stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    Connected,
    /// The connection could not be made: refused, or the host unreachable.
    Refused,
    /// Bytes the peer wrote.
    Data(Vec<u8>),
    /// The peer closed the connection, or it broke.
    Closed,
}

/// A question a host asks of the network rather than of a peer, for the service on its local
/// port `port`: a name to resolve, or an address to ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Resolves `name` to addresses (the system resolver in real time).
    Resolve { port: u16, name: String },
    /// Sends one ICMP echo request of `size` bytes to `to`, waiting at most `timeout`.
    Ping {
        port: u16,
        to: IpAddr,
        size: usize,
        timeout: std::time::Duration,
    },
}

impl Lookup {
    pub fn port(&self) -> u16 {
        match self {
            Lookup::Resolve { port, .. } | Lookup::Ping { port, .. } => *port,
        }
    }
}

/// The network's answer to a [`Lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupAnswer {
    Resolved(Vec<IpAddr>),
    /// The name does not resolve (or the resolver failed).
    NotResolved,
    /// The echo reply came after `rtt`, with this TTL.
    Pong {
        rtt: std::time::Duration,
        ttl: u8,
    },
    /// No reply within the time allowed.
    NoPong,
    /// The ping could not be sent (no ICMP socket on this system, no route).
    PingFailed,
}

/// A sans-IO engine with any number of local ports on one host.
pub trait HostNode {
    /// A datagram arrived from `from` at local port `local_port`.
    fn handle_datagram(&mut self, now: Instant, local_port: u16, from: SocketAddr, datagram: &[u8]);
    /// The next datagram to send, and the local port it leaves from.
    fn poll_transmit(&mut self) -> Option<HostTransmit>;
    /// When [`HostNode::handle_timeout`] must next be called.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Runs everything due at or before `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The next request for a TCP stream (most hosts have none).
    fn poll_stream(&mut self) -> Option<StreamRequest> {
        None
    }
    /// Something happened on the stream of local port `port`.
    fn handle_stream(&mut self, _now: Instant, _port: u16, _event: StreamEvent) {}
    /// The next question for the network (most hosts have none).
    fn poll_lookup(&mut self) -> Option<Lookup> {
        None
    }
    /// The answer to the question of the service on local port `port`.
    fn handle_lookup(&mut self, _now: Instant, _port: u16, _answer: LookupAnswer) {}
}

/// A [`DatagramNode`] seen as a host with one port (numbered [`OnePort::PORT`]).
pub struct OnePort<'a, N>(pub &'a mut N);

impl<N> OnePort<'_, N> {
    /// The number of the one port, whatever the socket's real port is.
    pub const PORT: u16 = 0;
}

impl<N: DatagramNode> HostNode for OnePort<'_, N> {
    fn handle_datagram(&mut self, now: Instant, _: u16, from: SocketAddr, datagram: &[u8]) {
        self.0.handle_datagram(now, from, datagram)
    }

    fn poll_transmit(&mut self) -> Option<HostTransmit> {
        self.0.poll_transmit().map(|transmit| HostTransmit {
            source_port: Self::PORT,
            transmit,
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now)
    }
}
