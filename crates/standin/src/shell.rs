//! The shell every stand-in server runs in: one [`DatagramNode`] around an [`Engine`].
//!
//! For each datagram the shell
//! 1. serves nothing while the journal cannot store (a full disk): the device retransmits;
//! 2. looks at the datagram once ([`peek`]) and hands that look on, so that neither the fault gate
//!    nor the engine parses it again to decide what it is;
//! 3. lets the fault [`Gate`] drop or delay it (only what the engine says faults act on);
//! 4. hands it to the engine, then the engine's writes to the [`Journal`];
//! 5. holds everything the engine sends until the writes handed over before it are durable
//!    ([`HeldOutput`]): an answer never leaves before the record of its request is on disk.
//!
//! The engine is sans-IO and knows nothing of disks or threads: it takes datagrams and time, and
//! gives datagrams and writes ([`Engine::poll_write`]). The journal is whatever stores the writes
//! (the platform's writer thread, or an inline writer in virtual time) and says which are durable.

use crate::fault::{Admit, Fault, Faults, Faulty, Gate};
use crate::peek::{peek, Datagram};
use crate::write::{HeldOutput, Ticket, Write};
use nbmodem_clock::Instant;
use nbmodem_net::{DatagramNode, Transmit};
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};

/// Where a shell's writes go: it takes them in order and says how far they are durable.
pub trait Journal {
    /// Takes a write; the ticket is committed once it is durable.
    fn submit(&mut self, write: Write) -> Ticket;
    /// Takes the writes of one step of the engine, in order (a journal may store them
    /// together); the last one's ticket is committed once they all are durable.
    fn submit_all(&mut self, writes: Vec<Write>) -> Ticket {
        for write in writes {
            self.submit(write);
        }
        self.last()
    }
    /// The last ticket handed out.
    fn last(&self) -> Ticket;
    /// Every write up to this ticket is durable.
    fn committed(&self) -> Ticket;
    /// Whether a datagram must be left unserved now, because writes cannot be stored.
    fn refuses(&mut self) -> bool;
}

/// A stand-in server's protocol engine, sans-IO.
pub trait Engine {
    /// Whether faults (drop, delay) act on this datagram: requests, unless the engine says more.
    fn is_subject(&self, peeked: &Datagram) -> bool {
        matches!(peeked, Datagram::Request(_))
    }

    /// Serves a datagram the gate let through; `delay` is the fault that held it, if one did.
    fn handle(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        peeked: Datagram,
        delay: Option<String>,
    );

    /// Notes a datagram a fault dropped (the engine decides what is recorded of it).
    fn dropped(&mut self, now: Instant, from: SocketAddr, peeked: Datagram, fault: String);

    fn handle_timeout(&mut self, now: Instant);
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_transmit(&mut self) -> Option<Transmit>;

    /// The next thing to store, in the order the engine decided it.
    fn poll_write(&mut self) -> Option<Write>;

    /// The faults in force.
    fn faults(&self) -> Faults;

    /// Runs `change` on the faults in force (the engine keeps them where its policies see them).
    fn with_faults(&mut self, change: &mut dyn FnMut(&mut Faults));
}

/// An engine in its shell, writing through `J`.
pub struct Shell<E, J> {
    engine: E,
    journal: J,
    gate: Gate,
    held: HeldOutput,
}

impl<E: Engine, J: Journal> Shell<E, J> {
    pub fn new(engine: E, journal: J) -> Self {
        Shell {
            engine,
            journal,
            gate: Gate::default(),
            held: HeldOutput::default(),
        }
    }

    pub fn journal(&self) -> &J {
        &self.journal
    }

    pub fn journal_mut(&mut self) -> &mut J {
        &mut self.journal
    }

    /// Hands what the engine wrote to the journal, then queues what it sent behind those writes.
    fn collect(&mut self) {
        let writes: Vec<Write> = std::iter::from_fn(|| self.engine.poll_write()).collect();
        if !writes.is_empty() {
            self.journal.submit_all(writes);
        }
        while let Some(transmit) = self.engine.poll_transmit() {
            self.held.push(self.journal.last(), transmit);
        }
    }
}

/// The engine's own methods (its state, its settings) through the shell.
impl<E, J> Deref for Shell<E, J> {
    type Target = E;

    fn deref(&self) -> &E {
        &self.engine
    }
}

impl<E, J> DerefMut for Shell<E, J> {
    fn deref_mut(&mut self) -> &mut E {
        &mut self.engine
    }
}

impl<E: Engine, J: Journal> DatagramNode for Shell<E, J> {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        // While the writes cannot be stored, nothing is served: the device retransmits.
        if self.journal.refuses() {
            return;
        }
        let peeked = peek(datagram);
        let subject = self.engine.is_subject(&peeked);
        let mut admit = Admit::Pass;
        let gate = &mut self.gate;
        self.engine.with_faults(&mut |faults| {
            admit = gate.admit(faults, now, from, datagram, &peeked, subject);
        });
        match admit {
            Admit::Pass => self.engine.handle(now, from, datagram, peeked, None),
            Admit::Hold => {}
            Admit::Drop(fault) => self.engine.dropped(now, from, peeked, fault),
        }
        self.collect();
    }

    /// What the engine sends, once the writes made before it are durable.
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.collect();
        self.held.pop(self.journal.committed())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.engine.poll_timeout(), self.gate.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.engine.handle_timeout(now);
        for held in self.gate.release(now) {
            let delay = Some(held.fault);
            self.engine
                .handle(now, held.from, &held.datagram, held.peeked, delay);
        }
        self.collect();
    }
}

impl<E: Engine, J> Faulty for Shell<E, J> {
    fn faults(&self) -> Faults {
        self.engine.faults()
    }

    fn set_fault(&mut self, fault: Fault) {
        let gate = &mut self.gate;
        self.engine
            .with_faults(&mut |faults| gate.set(faults, fault));
    }

    fn clear_faults(&mut self) {
        let gate = &mut self.gate;
        self.engine.with_faults(&mut |faults| gate.clear(faults));
    }
}
