//! DTLS under any datagram engine: [`SecureNode`] wraps a [`DatagramNode`] (a CoAP endpoint, an
//! LwM2M client or server) so that everything it sends and receives goes through DTLS-PSK
//! sessions, one per peer. The engine inside sees plain datagrams and does not know the
//! difference: plain and secure run on the same engine API.
//!
//! A server holds state only for peers that started a handshake: a datagram from an unknown peer
//! opens a session only if it starts with a plaintext handshake record, and the session is dropped
//! at once if OpenSSL does not answer it (it was no ClientHello). A session that answered keeps a
//! retransmission timer until its handshake ends, so a peer that goes silent mid-handshake costs a
//! session only until the retransmissions run out; a failed session is dropped as well.

use crate::records::starts_with_plaintext_handshake;
use crate::{context, Config, DtlsSession, Error, Event, PskLookup, SessionFailure, State};
use nbmodem_clock::Instant;
use nbmodem_net::{DatagramNode, Transmit};
use openssl::ssl::SslContext;
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

/// What happened to the sessions of a [`SecureNode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecureEvent {
    /// The handshake with `peer` completed.
    Connected { peer: SocketAddr },
    /// The session with `peer` failed, and why: a refused or broken handshake, one that got no
    /// answer (which is how a wrong pre-shared key ends), or a fatal error later. A client opens
    /// a new session the next time its engine sends to `peer`.
    Failed {
        peer: SocketAddr,
        cause: SessionFailure,
    },
    /// The peer closed the session.
    Closed { peer: SocketAddr },
}

/// A datagram engine behind DTLS.
pub struct SecureNode<N> {
    inner: N,
    role: Role,
    /// The server's OpenSSL context, built for the first ClientHello and shared by all sessions.
    server_context: Option<SslContext>,
    sessions: HashMap<SocketAddr, DtlsSession>,
    outgoing: VecDeque<Transmit>,
    events: VecDeque<SecureEvent>,
    now: Instant,
}

impl<N: DatagramNode> SecureNode<N> {
    pub fn new(inner: N, role: Role) -> Self {
        SecureNode {
            inner,
            role,
            server_context: None,
            sessions: HashMap::new(),
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
            now: Instant::default(),
        }
    }

    pub fn inner_mut(&mut self) -> &mut N {
        &mut self.inner
    }

    /// The PSK identity a peer presented (server side), once its handshake is done.
    pub fn peer_identity(&self, peer: SocketAddr) -> Option<&[u8]> {
        self.sessions.get(&peer)?.peer_identity()
    }

    /// What happened to the sessions since the last call.
    pub fn poll_event(&mut self) -> Option<SecureEvent> {
        self.events.pop_front()
    }

    /// How many peers have a session, established or handshaking.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
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

    /// Opens a server session for a datagram from an unknown peer, if the datagram may be a
    /// ClientHello. Returns whether a session was opened.
    fn accept(&mut self, from: SocketAddr, datagram: &[u8]) -> bool {
        if !starts_with_plaintext_handshake(datagram) {
            return false;
        }
        match self.server_session() {
            Ok(Some(session)) => {
                self.sessions.insert(from, session);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!("cannot accept a DTLS session from {from}: {e}");
                false
            }
        }
    }

    /// A new server session on the shared context (`None` for a client node).
    fn server_session(&mut self) -> Result<Option<DtlsSession>, Error> {
        let Role::Server { lookup } = &self.role else {
            return Ok(None);
        };
        let config = Config::default();
        let context = match &mut self.server_context {
            Some(context) => context,
            empty => empty.insert(context::server(lookup.clone(), &config)?),
        };
        DtlsSession::server_on(context, config).map(Some)
    }

    /// Drops a server session that did not answer the datagram that opened it: OpenSSL found no
    /// ClientHello in it. (Answering starts a retransmission timer that runs until the handshake
    /// ends, so a session handshaking without one is waiting for a ClientHello.) A ClientHello
    /// fragmented over several datagrams is refused too, which costs nothing in practice: a PSK
    /// ClientHello is a few hundred bytes.
    fn drop_if_unanswered(&mut self, peer: SocketAddr) {
        let unanswered = self
            .sessions
            .get(&peer)
            .is_some_and(|s| s.state() == State::Handshaking && s.poll_timeout().is_none());
        if unanswered {
            self.sessions.remove(&peer);
        }
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
                Event::Connected => self.events.push_back(SecureEvent::Connected { peer }),
                Event::Closed => {
                    ended = true;
                    self.events.push_back(SecureEvent::Closed { peer });
                }
                Event::Failed(cause) => {
                    ended = true;
                    self.events.push_back(SecureEvent::Failed { peer, cause });
                }
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
        let opened = !self.sessions.contains_key(&from) && self.accept(from, datagram);
        let Some(session) = self.sessions.get_mut(&from) else {
            return;
        };
        session.handle_datagram(now, datagram);
        if opened {
            self.drop_if_unanswered(from);
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
