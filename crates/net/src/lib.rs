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

pub mod sim;
#[cfg(feature = "udp")]
pub mod udp;

use nbmodem_clock::Instant;
use std::net::SocketAddr;

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
