//! Fault injection, so that a device's failure paths can be tested: each server can drop requests
//! (no answer at all, so the device retransmits), reject them (a failure answer) or delay them.
//!
//! Faults act on request datagrams inside the sans-IO nodes, on the time the node is given, so
//! they work the same on a real socket and in virtual time:
//! - `drop=N`: the next N request datagrams, retransmissions included, are ignored and recorded
//!   as dropped;
//! - `reject=N`: the next N requests that reach the registry resource (CT/CU) or the DM admission
//!   check are answered with a failure;
//! - `delay=D`: every request datagram is held for D before the server sees it, until the delay
//!   is set to `0s` or cleared (so the answer goes out D after the request arrived). Changing the
//!   delay applies to the datagrams already held too: clearing it releases them at once. A delay
//!   is at most a day ([`MAX_DELAY`]).
//!
//! The CT IoT platforms count uplinks among the datagrams `drop` and `delay` act on, and take two
//! more ([`Server::takes`]):
//! - `reset=N`: the next N uplinks are answered with a Reset (the platform forgets its
//!   observation), which ends the device's uplink channel;
//! - `noack=N`: the next N confirmable uplinks are stored but never acknowledged.

use crate::peek::Datagram;
use crate::record::Server;
use nbmodem_clock::{format_duration, parse_duration, Instant};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// The most datagrams held by a delay at once; beyond it a request is dropped (and recorded so).
const MAX_HELD: usize = 1024;

/// The longest delay: longer than any retry schedule a device waits through for one answer, short
/// enough that a typing slip (`delay=2777777h`) is refused rather than holding requests forever.
pub const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);

/// One fault setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Drop(u32),
    Reject(u32),
    Delay(Duration),
    Reset(u32),
    NoAck(u32),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad fault {0:?}: write drop=N, reject=N, delay=DURATION (e.g. delay=5s, at most 24h), \
     reset=N or noack=N"
)]
pub struct FaultParseError(pub String);

impl FromStr for Fault {
    type Err = FaultParseError;

    /// `drop=3`, `reject=2`, `delay=5s`.
    fn from_str(s: &str) -> Result<Fault, FaultParseError> {
        let err = || FaultParseError(s.to_string());
        let (kind, value) = s.trim().split_once('=').ok_or_else(err)?;
        let count = || value.trim().parse::<u32>().map_err(|_| err());
        match kind.trim() {
            "drop" => Ok(Fault::Drop(count()?)),
            "reject" => Ok(Fault::Reject(count()?)),
            "reset" => Ok(Fault::Reset(count()?)),
            "noack" => Ok(Fault::NoAck(count()?)),
            "delay" => match parse_duration(value) {
                Ok(delay) if delay <= MAX_DELAY => Ok(Fault::Delay(delay)),
                _ => Err(err()),
            },
            _ => Err(err()),
        }
    }
}

impl Fault {
    /// `drop`, `reject`, `delay`, `reset` or `noack`.
    pub fn kind(self) -> &'static str {
        match self {
            Fault::Drop(_) => "drop",
            Fault::Reject(_) => "reject",
            Fault::Delay(_) => "delay",
            Fault::Reset(_) => "reset",
            Fault::NoAck(_) => "noack",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Drop(n) => write!(f, "drop={n}"),
            Fault::Reject(n) => write!(f, "reject={n}"),
            Fault::Delay(d) => write!(f, "delay={}", format_duration(*d)),
            Fault::Reset(n) => write!(f, "reset={n}"),
            Fault::NoAck(n) => write!(f, "noack={n}"),
        }
    }
}

/// A fault for one server: `ct:drop=3`, as `--fault` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerFault {
    pub server: Server,
    pub fault: Fault,
}

impl FromStr for ServerFault {
    type Err = FaultParseError;

    /// `ct:drop=3`; a fault the server does not take (`ct:reset=1`) is refused.
    fn from_str(s: &str) -> Result<ServerFault, FaultParseError> {
        let err = || FaultParseError(s.to_string());
        let (server, fault) = s.split_once(':').ok_or_else(err)?;
        let server: Server = server.trim().parse().map_err(|_| err())?;
        let fault: Fault = fault.parse()?;
        if !server.takes(fault) {
            return Err(err());
        }
        Ok(ServerFault { server, fault })
    }
}

impl Server {
    /// Whether this server's faults include `fault`'s kind: `reset` and `noack` act on uplinks,
    /// which only the CT IoT platforms have.
    pub fn takes(self, fault: Fault) -> bool {
        let ctiot = matches!(self, Server::Iot | Server::Aep);
        ctiot || matches!(fault, Fault::Drop(_) | Fault::Reject(_) | Fault::Delay(_))
    }
}

/// The faults in force on one server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Request datagrams still to drop.
    pub drop: u32,
    /// Requests still to reject.
    pub reject: u32,
    /// How long each request datagram is held (zero: not at all).
    pub delay: Duration,
    /// Uplinks still to answer with a Reset (CT IoT).
    pub reset: u32,
    /// Confirmable uplinks still to leave unacknowledged (CT IoT).
    pub noack: u32,
}

impl Faults {
    /// Sets one kind of fault, leaving the others as they are.
    pub fn set(&mut self, fault: Fault) {
        match fault {
            Fault::Drop(n) => self.drop = n,
            Fault::Reject(n) => self.reject = n,
            Fault::Delay(d) => self.delay = d,
            Fault::Reset(n) => self.reset = n,
            Fault::NoAck(n) => self.noack = n,
        }
    }

    /// Whether to drop this request datagram (counting it).
    pub fn take_drop(&mut self) -> bool {
        take(&mut self.drop)
    }

    /// Whether to reject this request (counting it).
    pub fn take_reject(&mut self) -> bool {
        take(&mut self.reject)
    }

    /// Whether to answer this uplink with a Reset (counting it).
    pub fn take_reset(&mut self) -> bool {
        take(&mut self.reset)
    }

    /// Whether to leave this confirmable uplink unacknowledged (counting it).
    pub fn take_noack(&mut self) -> bool {
        take(&mut self.noack)
    }
}

fn take(count: &mut u32) -> bool {
    let due = *count > 0;
    *count = count.saturating_sub(1);
    due
}

/// `drop=0 reject=0 delay=0s`, then `reset=N` and `noack=N` when they are set.
impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "drop={} reject={} delay={}",
            self.drop,
            self.reject,
            format_duration(self.delay)
        )?;
        if self.reset > 0 {
            write!(f, " reset={}", self.reset)?;
        }
        if self.noack > 0 {
            write!(f, " noack={}", self.noack)?;
        }
        Ok(())
    }
}

/// The faults of one record: `delay=5s` and `reject` together read `delay=5s,reject`.
pub(crate) fn join_faults(first: Option<String>, second: Option<String>) -> Option<String> {
    match (first, second) {
        (Some(a), Some(b)) => Some(format!("{a},{b}")),
        (a, b) => a.or(b),
    }
}

/// A server whose faults can be set.
pub trait Faulty {
    fn faults(&self) -> Faults;
    fn set_fault(&mut self, fault: Fault);
    fn clear_faults(&mut self);
}

/// What to do with an incoming datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Hand it to the engine now.
    Pass,
    /// Ignore it; the string is the fault to record.
    Drop(String),
    /// Held by a delay; [`Gate::release`] gives it back.
    Hold,
}

/// A request datagram held by a delay.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Held {
    pub arrived: Instant,
    pub from: SocketAddr,
    pub datagram: Vec<u8>,
    /// What the datagram was seen to be when it arrived.
    pub peeked: Datagram,
    /// The fault to record (`delay=5s`).
    pub fault: String,
}

/// Applies drop and delay faults to request datagrams, and keeps the delayed ones. Faults are set
/// through it, so that a new delay applies to the datagrams it holds.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    held: BTreeMap<(Instant, u64), Held>,
    sequence: u64,
}

impl Gate {
    /// Decides the fate of a datagram (`peeked` is what it was seen to be); only a `subject`
    /// datagram is subject to faults.
    pub fn admit(
        &mut self,
        faults: &mut Faults,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        peeked: &Datagram,
        subject: bool,
    ) -> Admit {
        if !subject {
            return Admit::Pass;
        }
        if faults.take_drop() {
            return Admit::Drop("drop".into());
        }
        if faults.delay.is_zero() {
            return Admit::Pass;
        }
        if self.held.len() >= MAX_HELD {
            return Admit::Drop("delay queue full".into());
        }
        self.sequence += 1;
        let held = Held {
            arrived: now,
            from,
            datagram: datagram.to_vec(),
            peeked: peeked.clone(),
            fault: Fault::Delay(faults.delay).to_string(),
        };
        self.held.insert((now + faults.delay, self.sequence), held);
        Admit::Hold
    }

    /// Sets one kind of fault. A shorter delay brings the held datagrams forward to their arrival
    /// plus the new delay (a held datagram is never put back).
    pub fn set(&mut self, faults: &mut Faults, fault: Fault) {
        faults.set(fault);
        if let Fault::Delay(delay) = fault {
            let held = std::mem::take(&mut self.held);
            self.held = held
                .into_iter()
                .map(|((due, sequence), held)| ((due.min(held.arrived + delay), sequence), held))
                .collect();
        }
    }

    /// Clears every fault; the held datagrams are due at once.
    pub fn clear(&mut self, faults: &mut Faults) {
        self.set(faults, Fault::Delay(Duration::ZERO));
        *faults = Faults::default();
    }

    /// The held datagrams due at `now`, in the order they are due.
    pub fn release(&mut self, now: Instant) -> Vec<Held> {
        let mut due = Vec::new();
        while let Some(entry) = self.held.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        due
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.held.keys().next().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_print() {
        assert_eq!("drop=3".parse(), Ok(Fault::Drop(3)));
        assert_eq!("reject=2".parse(), Ok(Fault::Reject(2)));
        assert_eq!(
            "delay=1m30s".parse(),
            Ok(Fault::Delay(Duration::from_secs(90)))
        );
        for bad in ["drop", "drop=-1", "delay=5", "lose=1", "=3"] {
            assert!(bad.parse::<Fault>().is_err(), "{bad}");
        }
        assert_eq!(Fault::Delay(Duration::from_secs(5)).to_string(), "delay=5s");
        assert_eq!(
            "dm:reject=2".parse(),
            Ok(ServerFault {
                server: Server::Dm,
                fault: Fault::Reject(2)
            })
        );
        assert!("xx:drop=1".parse::<ServerFault>().is_err());
        assert!("drop=1".parse::<ServerFault>().is_err());
    }

    #[test]
    fn counts_run_down_and_delays_release_in_order() {
        let mut faults = Faults::default();
        faults.set(Fault::Drop(1));
        faults.set(Fault::Delay(Duration::from_secs(5)));
        let mut gate = Gate::default();
        let from: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let t0 = Instant::from_unix_millis(1000);
        assert_eq!(
            gate.admit(&mut faults, t0, from, b"a", &Datagram::Other, false),
            Admit::Pass
        );
        assert_eq!(
            gate.admit(&mut faults, t0, from, b"a", &Datagram::Other, true),
            Admit::Drop("drop".into())
        );
        assert_eq!(
            gate.admit(&mut faults, t0, from, b"b", &Datagram::Other, true),
            Admit::Hold
        );
        assert_eq!(gate.poll_timeout(), Some(Instant::from_unix_millis(6000)));
        assert!(gate.release(Instant::from_unix_millis(5999)).is_empty());
        let released = gate.release(Instant::from_unix_millis(6000));
        assert_eq!(released[0].datagram, b"b");
        assert_eq!(released[0].fault, "delay=5s");
        assert_eq!(faults.to_string(), "drop=0 reject=0 delay=5s");
    }

    #[test]
    fn absurd_delays_are_refused() {
        assert_eq!("delay=24h".parse(), Ok(Fault::Delay(MAX_DELAY)));
        assert!("delay=24h1ms".parse::<Fault>().is_err());
        assert!("delay=2777777777777h".parse::<Fault>().is_err());
    }

    #[test]
    fn a_changed_delay_applies_to_what_is_held() {
        let mut faults = Faults::default();
        let mut gate = Gate::default();
        let from: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let t0 = Instant::from_unix_millis(1000);
        gate.set(&mut faults, Fault::Delay(MAX_DELAY));
        assert_eq!(
            gate.admit(&mut faults, t0, from, b"a", &Datagram::Other, true),
            Admit::Hold
        );
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(
            gate.admit(&mut faults, t1, from, b"b", &Datagram::Other, true),
            Admit::Hold
        );
        gate.set(&mut faults, Fault::Delay(Duration::from_secs(60)));
        assert_eq!(gate.poll_timeout(), Some(t0 + Duration::from_secs(60)));
        gate.set(&mut faults, Fault::Delay(Duration::from_secs(3600)));
        assert_eq!(
            gate.poll_timeout(),
            Some(t0 + Duration::from_secs(60)),
            "a longer delay does not put a held datagram back"
        );
        gate.clear(&mut faults);
        assert_eq!(faults, Faults::default());
        let released = gate.release(t1);
        let order: Vec<&[u8]> = released.iter().map(|h| &h.datagram[..]).collect();
        assert_eq!(order, [&b"a"[..], b"b"], "in arrival order");
    }
}
