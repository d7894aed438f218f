//! How sans-IO datagram engines meet the world.
//!
//! An engine (a CoAP endpoint, an LwM2M client or server, a DTLS session stack) is a
//! [`DatagramNode`]: it takes datagrams and time, and gives datagrams and the instant it next needs
//! to run. Two drivers run any node:
//! - [`sim::SimNetwork`]: an in-memory network in virtual time, where loss, delay, reordering and
//!   partitions can be injected and nothing ever sleeps;
//! - [`udp::run`] (feature `udp`): a tokio UDP socket on the system clock.

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
