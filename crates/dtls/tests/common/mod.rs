//! A client and a server session joined by an in-memory link, with a clock of our own.

#![allow(dead_code)] // each test file uses its own subset of these helpers

use std::sync::Arc;

use nbmodem_clock::Instant;
use nbmodem_dtls::{Config, DtlsSession, Event, PskLookup};

pub const IMEI: &[u8] = b"867530912345678";
pub const KEY: &[u8] = b"\x5e\x3c\x11\x7a\x90\x21\x4b\xd8\x0f\x66\xa1\x3e\xc4\x72\x08\x9d";

/// Virtual start time: 2026-01-01T00:00:00Z.
pub const START: Instant = Instant::from_unix_millis(1_767_225_600_000);

/// Upper bound on datagrams moved by one [`Pair::shuttle`], so that no bug can loop forever.
const MAX_DATAGRAMS: usize = 1_000;

/// A server key table knowing only [`IMEI`] with [`KEY`].
pub fn lookup() -> PskLookup {
    Arc::new(|identity: &[u8]| (identity == IMEI).then(|| KEY.to_vec()))
}

pub struct Pair {
    pub client: DtlsSession,
    pub server: DtlsSession,
    pub now: Instant,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
}

impl Pair {
    /// A client presenting [`IMEI`] with `client_key`, and a server using [`lookup`].
    pub fn with_key(client_key: &[u8], config: Config) -> Pair {
        let client = DtlsSession::client_with_config(START, IMEI, client_key, config).unwrap();
        let server = DtlsSession::server_with_config(lookup(), config).unwrap();
        Pair::from_sessions(client, server)
    }

    pub fn new() -> Pair {
        Pair::with_key(KEY, Config::default())
    }

    pub fn from_sessions(client: DtlsSession, server: DtlsSession) -> Pair {
        Pair {
            client,
            server,
            now: START,
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// Moves datagrams both ways until none is left in flight.
    pub fn shuttle(&mut self) {
        for _ in 0..MAX_DATAGRAMS {
            if let Some(d) = self.client.poll_transmit() {
                self.server.handle_datagram(self.now, &d);
            } else if let Some(d) = self.server.poll_transmit() {
                self.client.handle_datagram(self.now, &d);
            } else {
                self.collect_events();
                return;
            }
        }
        panic!("the sessions never stopped sending");
    }

    /// Handshake and wait until both sides report [`Event::Connected`].
    pub fn connect(&mut self) {
        self.shuttle();
        assert_eq!(self.client_events, [Event::Connected]);
        assert_eq!(self.server_events, [Event::Connected]);
        self.client_events.clear();
        self.server_events.clear();
    }

    pub fn collect_events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    /// Moves the clock to the earlier of the two sessions' deadlines and runs the timers due.
    /// Returns false when neither session has a timer.
    pub fn advance_to_next_timeout(&mut self) -> bool {
        let next = [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { return false };
        self.now = self.now.max(next);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        true
    }
}
