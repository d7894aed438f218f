//! DTLS under any datagram engine: [`SecureNode`] wraps a [`DatagramNode`] (a CoAP endpoint, an
//! LwM2M client or server) so that everything it sends and receives goes through DTLS-PSK
//! sessions, one per peer. The engine inside sees plain datagrams and does not know the
//! difference: plain and secure run on the same engine API.

use crate::{DtlsSession, Event, PskLookup};
use nbmodem_clock::Instant;
use nbmodem_net::{DatagramNode, Transmit};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

/// Which side of the handshakes this node takes.
#[derive(Clone)]
pub enum Role {
    /// Opens a session to each peer it sends to, with this identity and key.
    Client { identity: Vec<u8>, key: Vec<u8> },
    /// Accepts sessions from any peer whose identity has a key.
    Server { lookup: PskLookup },
}

/// A datagram engine behind DTLS.
pub struct SecureNode<N> {
    inner: N,
    role: Role,
    sessions: HashMap<SocketAddr, DtlsSession>,
    outgoing: VecDeque<Transmit>,
    now: Instant,
}

impl<N: DatagramNode> SecureNode<N> {
    pub fn new(inner: N, role: Role) -> Self {
        SecureNode {
            inner,
            role,
            sessions: HashMap::new(),
            outgoing: VecDeque::new(),
            now: Instant::default(),
        }
    }

    pub fn inner(&self) -> &N {
        &self.inner
    }

    pub fn inner_mut(&mut self) -> &mut N {
        &mut self.inner
    }

    /// The PSK identity a peer presented (server side), once its handshake is done.
    pub fn peer_identity(&self, peer: SocketAddr) -> Option<&[u8]> {
        self.sessions.get(&peer)?.peer_identity()
    }

    /// Hands what the inner engine wants to send to the sessions, and collects their datagrams.
    fn pump(&mut self) {
        let now = self.now;
        while let Some(t) = self.inner.poll_transmit() {
            let Some(session) = self.session_for_sending(t.destination) else {
                continue;
            };
            if let Err(e) = session.send(now, &t.payload) {
                tracing::debug!("DTLS send to {} refused: {e}", t.destination);
            }
        }
        for (peer, session) in &mut self.sessions {
            while let Some(payload) = session.poll_transmit() {
                self.outgoing.push_back(Transmit {
                    destination: *peer,
                    payload,
                });
            }
        }
    }

    /// The session to `peer`; a client opens one on first use, a server only answers.
    fn session_for_sending(&mut self, peer: SocketAddr) -> Option<&mut DtlsSession> {
        if !self.sessions.contains_key(&peer) {
            let Role::Client { identity, key } = &self.role else {
                return None;
            };
            match DtlsSession::client(self.now, identity, key) {
                Ok(session) => {
                    self.sessions.insert(peer, session);
                }
                Err(e) => {
                    tracing::warn!("cannot open a DTLS session to {peer}: {e}");
                    return None;
                }
            }
        }
        self.sessions.get_mut(&peer)
    }

    /// Passes decrypted data up and drops sessions that ended.
    fn deliver(&mut self, peer: SocketAddr) {
        let Some(session) = self.sessions.get_mut(&peer) else {
            return;
        };
        let mut ended = false;
        let mut received = Vec::new();
        while let Some(event) = session.poll_event() {
            match event {
                Event::Received(data) => received.push(data),
                Event::Closed | Event::Failed(_) => ended = true,
                Event::Connected => {}
            }
        }
        for data in received {
            self.inner.handle_datagram(self.now, peer, &data);
        }
        if ended {
            self.sessions.remove(&peer);
        }
    }
}

impl<N: DatagramNode> DatagramNode for SecureNode<N> {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.now = now;
        if !self.sessions.contains_key(&from) {
            let Role::Server { lookup } = &self.role else {
                return;
            };
            match DtlsSession::server(lookup.clone()) {
                Ok(session) => {
                    self.sessions.insert(from, session);
                }
                Err(e) => return tracing::warn!("cannot accept a DTLS session from {from}: {e}"),
            }
        }
        if let Some(session) = self.sessions.get_mut(&from) {
            session.handle_datagram(now, datagram);
        }
        self.deliver(from);
        self.pump();
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.pump();
        self.outgoing.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.sessions
            .values()
            .filter_map(|s| s.poll_timeout())
            .chain(self.inner.poll_timeout())
            .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.inner.handle_timeout(now);
        let due: Vec<SocketAddr> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.poll_timeout().is_some_and(|t| t <= now))
            .map(|(p, _)| *p)
            .collect();
        for peer in due {
            if let Some(session) = self.sessions.get_mut(&peer) {
                session.handle_timeout(now);
            }
            self.deliver(peer);
        }
        self.pump();
    }
}
