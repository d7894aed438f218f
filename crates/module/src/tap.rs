//! The module's taps: what a trace or a capture needs to see, told as it happens — each line on
//! the UART, each datagram on the air, each console notice — with the instant it happened.
//!
//! The UART tap is where the module frames its output and assembles the host's lines; the air
//! tap is where datagrams enter and leave the module ([`Module::handle_datagram`] and
//! [`Module::poll_transmit`](crate::Module::poll_transmit)), so that the addresses are the ones
//! the module believes in: its own address from the network and the operators' public
//! addresses, whatever the routes behind them. The module only queues what it saw; a driver
//! takes it ([`Module::take_tapped`](crate::Module::take_tapped)) and writes it where it likes,
//! so no file is written inside the engine.
//!
//! [`Module::handle_datagram`]: crate::Module::handle_datagram

use crate::module::Notice;
use nbmodem_clock::Instant;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// The most events kept for a driver that does not take them; the oldest are dropped beyond it.
/// Drivers take them after every step, which never comes near it.
const MAX_TAPPED: usize = 16 * 1024;

/// One thing the module did or saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tapped {
    /// A line the host wrote, as the module assembled it (backspaces applied).
    LineIn { at: Instant, text: String },
    /// A line the module wrote.
    LineOut {
        at: Instant,
        kind: LineKind,
        text: String,
    },
    /// A datagram the module sent or received.
    Datagram(Datagram),
    /// A protocol event, as the console shows it.
    Notice(Notice),
    /// A line of the stand-in platforms' console beside the module (the sandbox's: a request
    /// handled, an uplink stored); handed in by the driver, never made by the module.
    Platform { at: Instant, text: String },
    /// Events dropped because nobody took them (see [`MAX_TAPPED`]), told when the rest is taken.
    Lost { at: Instant, count: u64 },
}

/// What a line the module writes is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// The host's own line, echoed back (ATE1).
    Echo,
    /// Information text of a command's answer.
    Response,
    /// A command's final result: `OK`, `ERROR`, `+CME ERROR: …`.
    Result,
    /// An unsolicited result code, boot URCs included.
    Urc,
}

impl LineKind {
    pub fn name(self) -> &'static str {
        match self {
            LineKind::Echo => "echo",
            LineKind::Response => "response",
            LineKind::Result => "result",
            LineKind::Urc => "urc",
        }
    }
}

/// A datagram on the air, with the addresses the module believes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub at: Instant,
    /// True for an uplink (sent by the module).
    pub sent: bool,
    /// The module's address from the network and the local port of the service.
    pub module: SocketAddr,
    /// The operator's public address (`180.101.147.115:5683`), not where it is routed.
    pub peer: SocketAddr,
    pub payload: Vec<u8>,
}

/// The queue of tapped events of a module that taps.
#[derive(Debug, Default)]
pub(crate) struct Tap {
    events: VecDeque<Tapped>,
    lost: u64,
}

impl Tap {
    pub(crate) fn push(&mut self, event: Tapped) {
        if self.events.len() == MAX_TAPPED {
            self.events.pop_front();
            self.lost += 1;
        }
        self.events.push_back(event);
    }

    /// Each line of `written` (framing and empty lines left out) as a line of `kind`.
    pub(crate) fn lines_out(&mut self, at: Instant, kind: LineKind, written: &[u8]) {
        for line in written.split(|b| *b == b'\r' || *b == b'\n') {
            if !line.is_empty() {
                let text = String::from_utf8_lossy(line).into_owned();
                self.push(Tapped::LineOut { at, kind, text });
            }
        }
    }

    /// Everything since the last call, after a [`Tapped::Lost`] if some was dropped.
    pub(crate) fn take(&mut self, now: Instant) -> Vec<Tapped> {
        let count = std::mem::take(&mut self.lost);
        let lost = (count > 0).then_some(Tapped::Lost { at: now, count });
        lost.into_iter().chain(self.events.drain(..)).collect()
    }
}
