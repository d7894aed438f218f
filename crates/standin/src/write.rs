//! What the engines ask to be stored ([`Write`]), the place of each write in its journal's order
//! ([`Ticket`]), and the datagrams held until the writes before them are durable ([`HeldOutput`]).
//! The engines only describe writes; a [`Journal`](crate::shell::Journal) outside this crate
//! stores them.

use crate::ctiot::{self, Device as CtIotDevice, Downlink, Flavour, Product, Uplink};
use crate::dm::DmDevice;
use crate::record::RequestRecord;
use nbmodem_net::Transmit;
use std::collections::VecDeque;

/// What an engine asks to be stored.
#[derive(Debug, Clone)]
pub enum Write {
    Record(RequestRecord),
    /// What the DM server read and decrypted about a device (replacing what it knew).
    Device(DmDevice),
    /// A CT IoT platform's product, added or replaced.
    Product(Product),
    /// A device registered with a CT IoT platform, added or replaced.
    CtIotDevice(CtIotDevice),
    /// A device removed from a CT IoT platform, with its downlinks.
    RemoveCtIotDevice(Flavour, String),
    /// An uplink a CT IoT platform received.
    Uplink(Uplink),
    /// A downlink queued, or its new status.
    Downlink(Downlink),
    /// A firmware package accepted by a CT IoT platform.
    FotaPackage(ctiot::fota::Package),
    /// An upgrade task, created or changed.
    FotaTask(ctiot::fota::Task),
    /// A device's upgrade, changed.
    FotaUpgrade(ctiot::fota::Upgrade),
    /// A manufacturer's DFOTA public key, added or replaced.
    FotaKey(ctiot::keys::ManufacturerKey),
    /// A manufacturer's DFOTA public key removed.
    RemoveFotaKey(Flavour, String),
}

/// The place of a write in its journal's order; every write up to a committed ticket is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Ticket(pub u64);

/// A node's datagrams, each held until the writes handed over before it was sent are durable.
#[derive(Debug, Default)]
pub struct HeldOutput {
    queue: VecDeque<(Ticket, Transmit)>,
}

impl HeldOutput {
    /// Queues `transmit`, sent after the write `after` (the writer's last ticket then).
    pub fn push(&mut self, after: Ticket, transmit: Transmit) {
        self.queue.push_back((after, transmit));
    }

    /// The next datagram whose writes are all durable, in the order they were queued.
    pub fn pop(&mut self, committed: Ticket) -> Option<Transmit> {
        match self.queue.front() {
            Some((after, _)) if *after <= committed => self.queue.pop_front().map(|(_, t)| t),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_waits_for_the_writes_before_it() {
        let mut held = HeldOutput::default();
        let t = |n| Transmit {
            destination: "127.0.0.1:2".parse().unwrap(),
            payload: vec![n],
        };
        held.push(Ticket(0), t(0));
        held.push(Ticket(2), t(2));
        held.push(Ticket(3), t(3));
        assert_eq!(held.pop(Ticket(1)), Some(t(0)));
        assert_eq!(held.pop(Ticket(1)), None, "its record is not on disk yet");
        assert_eq!(held.pop(Ticket(3)), Some(t(2)));
        assert_eq!(held.pop(Ticket(3)), Some(t(3)));
        assert!(held.is_empty());
    }
}
