//! DTLS under any datagram engine: [`SecureNode`] wraps a [`DatagramNode`] (a CoAP endpoint, an
//! LwM2M client or server) so that everything it sends and receives goes through DTLS-PSK
//! sessions, one per peer. The engine inside sees plain datagrams and does not know the
//! difference: plain and secure run on the same engine API.
//!
//! A server keeps no state for a peer until the peer has proved it receives at its address: a
//! ClientHello is answered with a HelloVerifyRequest carrying a cookie, statelessly (OpenSSL's
//! `DTLSv1_listen` on one listening session), and only a ClientHello that returns a valid cookie
//! gets a session. A new ClientHello from an address that already has an established session
//! goes through the same exchange and, once its cookie verifies, replaces the old session (RFC
//! 6347 §4.2.8): a device that vanished without closing (deep sleep, a NAT rebinding) can always
//! come back. Sessions idle for [`ServerLimits::idle_timeout`] are dropped; at most
//! [`ServerLimits::max_sessions`] sessions are kept, and a verified ClientHello past that limit is
//! dropped (the client retransmits).
//!
//! A handshake proves nothing until it finishes, so it is kept only for
//! [`ServerLimits::handshake_timeout`], and the handshake slots are shared fairly between source
//! addresses (`handshakes.rs`): a flood of ClientHellos that return their cookie neither fills
//! the server's memory nor keeps a device with the key out.

use crate::ffi::Listened;
use crate::handshakes::{shrink_if_sparse, Admission, Handshakes};
use crate::records::starts_with_client_hello;
use crate::{context, Config, DtlsSession, Error, Event, PskLookup, SessionFailure, State};
use nbmodem_clock::Instant;
use nbmodem_net::{DatagramNode, Transmit};
use openssl::ssl::SslContext;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

/// After this many handshakes dropped unfinished (a flood's), or once none is left, the freed
/// memory is handed back to the system: about 44 KB a handshake, 11 MB for this many.
const TRIM_AFTER_DROPPED_HANDSHAKES: usize = 256;

/// Which side of the handshakes this node takes.
#[derive(Clone)]
pub enum Role {
    /// Opens a session to each peer it sends to, with this identity and key.
    Client { identity: Vec<u8>, key: Vec<u8> },
    /// Accepts sessions from any peer whose identity has a key.
    Server { lookup: PskLookup },
}

/// How much a server keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Sessions, established or handshaking.
    pub max_sessions: usize,
    /// Sessions whose handshake is not finished.
    pub max_handshakes: usize,
    /// Unfinished handshakes one source (an IPv4 address, or an IPv6 /64) may hold at once. When
    /// every slot is taken, a verified ClientHello from a source holding fewer takes the oldest
    /// handshake of the source holding the most.
    pub max_handshakes_per_source: usize,
    /// A handshake not finished this long after its ClientHello returned the cookie is dropped
    /// ([`SessionFailure::TimedOut`]). Leaves time for three retransmissions of the server's
    /// flight (at 1, 3 and 7 s) and for NB-IoT round trips of several seconds; the retransmission
    /// budget of [`Config`] alone would hold it for two minutes.
    pub handshake_timeout: Duration,
    /// A session with no datagram either way for this long is dropped. Well above the LwM2M
    /// lifetimes devices use (a day by default), so that a device updating its registration keeps
    /// its session.
    pub idle_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_sessions: 100_000,
            max_handshakes: 1_000,
            max_handshakes_per_source: 100,
            handshake_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(7 * 86_400),
        }
    }
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
    /// The session with `peer` ended: the peer (or we) closed it, it was idle too long, or a new
    /// handshake from the same address replaced it.
    Closed { peer: SocketAddr },
}

/// One peer's session and when it was last used.
struct Peer {
    session: DtlsSession,
    last_active: Instant,
}

/// A datagram engine behind DTLS.
pub struct SecureNode<N> {
    inner: N,
    role: Role,
    limits: ServerLimits,
    config: Config,
    /// The server's OpenSSL context, built for the first ClientHello and shared by all sessions.
    server_context: Option<SslContext>,
    /// The server's listening session: it answers ClientHellos until one verifies.
    listener: Option<DtlsSession>,
    peers: HashMap<SocketAddr, Peer>,
    /// The server's unfinished handshakes (a client's are bounded by its own retransmissions).
    handshakes: Handshakes,
    /// Handshakes dropped unfinished since freed memory was last handed back.
    dropped_handshakes: usize,
    /// Peers whose session was touched since their output was last collected.
    dirty: BTreeSet<SocketAddr>,
    /// Peers whose session has a timer running (a handshake).
    timed: BTreeSet<SocketAddr>,
    next_sweep: Option<Instant>,
    outgoing: VecDeque<Transmit>,
    events: VecDeque<SecureEvent>,
    now: Instant,
}

impl<N: DatagramNode> SecureNode<N> {
    pub fn new(inner: N, role: Role) -> Self {
        SecureNode {
            inner,
            role,
            limits: ServerLimits::default(),
            config: Config::default(),
            server_context: None,
            listener: None,
            peers: HashMap::new(),
            handshakes: Handshakes::default(),
            dropped_handshakes: 0,
            dirty: BTreeSet::new(),
            timed: BTreeSet::new(),
            next_sweep: None,
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
            now: Instant::default(),
        }
    }

    /// The same with other limits (a server's).
    pub fn with_limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The same with other session settings (`seed` for the cookie secret, say).
    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    pub fn inner(&self) -> &N {
        &self.inner
    }

    pub fn inner_mut(&mut self) -> &mut N {
        &mut self.inner
    }

    /// The PSK identity a peer presented (server side), once its handshake is done.
    pub fn peer_identity(&self, peer: SocketAddr) -> Option<&[u8]> {
        self.peers.get(&peer)?.session.peer_identity()
    }

    /// How many peers have a session, established or handshaking.
    pub fn session_count(&self) -> usize {
        self.peers.len()
    }

    /// How many of those a server holds with an unfinished handshake.
    pub fn handshake_count(&self) -> usize {
        self.handshakes.len()
    }

    /// What happened to the sessions since the last call.
    pub fn poll_event(&mut self) -> Option<SecureEvent> {
        self.events.pop_front()
    }

    /// Closes every session (close_notify to each established one): a client that is done.
    pub fn close_all(&mut self, now: Instant) {
        self.now = now;
        let peers: Vec<SocketAddr> = self.peers.keys().copied().collect();
        for peer in peers {
            if let Some(entry) = self.peers.get_mut(&peer) {
                entry.session.close();
            }
            self.touch(peer);
            self.deliver(peer);
        }
        self.pump();
    }

    /// Hands what the inner engine wants to send to the sessions, and collects the datagrams of
    /// the sessions touched since the last time.
    fn pump(&mut self) {
        let now = self.now;
        while let Some(t) = self.inner.poll_transmit() {
            let peer = t.destination;
            let Some(session) = self.session_for_sending(peer) else {
                continue;
            };
            if let Err(e) = session.send(now, &t.payload) {
                tracing::debug!("DTLS send to {peer} refused: {e}");
            }
            self.touch(peer);
        }
        for peer in std::mem::take(&mut self.dirty) {
            let Some(entry) = self.peers.get_mut(&peer) else {
                continue;
            };
            while let Some(payload) = entry.session.poll_transmit() {
                self.outgoing.push_back(Transmit {
                    destination: peer,
                    payload,
                });
            }
            if entry.session.poll_timeout().is_some() {
                self.timed.insert(peer);
            } else {
                self.timed.remove(&peer);
            }
        }
    }

    /// Marks `peer`'s session used now: its output is to be collected, its idle time restarts.
    fn touch(&mut self, peer: SocketAddr) {
        if let Some(entry) = self.peers.get_mut(&peer) {
            entry.last_active = entry.last_active.max(self.now);
            self.dirty.insert(peer);
        }
    }

    /// Starts the look for idle sessions, if there are sessions. Only from calls that are given
    /// the time (`poll_transmit` is not: its `now` may be stale).
    fn schedule_sweep(&mut self) {
        if self.next_sweep.is_none() && !self.peers.is_empty() {
            self.next_sweep = Some(self.now + self.sweep_interval());
        }
    }

    /// How often idle sessions are looked for: a tenth of the idle timeout, at least a second.
    fn sweep_interval(&self) -> Duration {
        (self.limits.idle_timeout / 10).max(Duration::from_secs(1))
    }

    /// The session to `peer`; a client opens one on first use, a server only answers.
    fn session_for_sending(&mut self, peer: SocketAddr) -> Option<&mut DtlsSession> {
        if !self.peers.contains_key(&peer) {
            let Role::Client { identity, key } = &self.role else {
                return None;
            };
            match DtlsSession::client_with_config(self.now, identity, key, self.config) {
                Ok(session) => {
                    let last_active = self.now;
                    self.peers.insert(
                        peer,
                        Peer {
                            session,
                            last_active,
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!("cannot open a DTLS session to {peer}: {e}");
                    return None;
                }
            }
        }
        self.peers.get_mut(&peer).map(|entry| &mut entry.session)
    }

    /// A ClientHello from `from`, looked at statelessly: answered with a HelloVerifyRequest, or,
    /// when its cookie verifies, the start of a session for `from`, which replaces any session
    /// `from` had.
    fn listen(&mut self, from: SocketAddr, datagram: &[u8]) {
        let now = self.now;
        let listener = match self.listener.take() {
            Some(listener) => listener,
            None => match self.server_session() {
                Ok(Some(session)) => session,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!("cannot listen for DTLS handshakes: {e}");
                    return;
                }
            },
        };
        let mut listener = listener;
        match listener.listen(now, from.to_string().as_bytes(), datagram) {
            Listened::Nothing => {
                while let Some(payload) = listener.poll_transmit() {
                    self.outgoing.push_back(Transmit {
                        destination: from,
                        payload,
                    });
                }
                self.listener = Some(listener);
            }
            Listened::Verified if self.make_room_for(from) => {
                let last_active = now;
                self.handshakes.insert(from, now);
                let replaced = self.peers.insert(
                    from,
                    Peer {
                        session: listener,
                        last_active,
                    },
                );
                if replaced.is_some() {
                    tracing::debug!("a new DTLS handshake from {from} replaces its session");
                    self.events.push_back(SecureEvent::Closed { peer: from });
                }
                self.touch(from);
                self.deliver(from);
            }
            // Past a limit, the verified ClientHello is dropped; the client will send it again.
            Listened::Verified | Listened::Failed => {}
        }
    }

    /// Whether a new handshake from `peer` (which has no handshake in progress) fits the limits,
    /// once another source's handshake is dropped if that is fair. Replacing its own established
    /// session does not count against `max_sessions`.
    fn make_room_for(&mut self, peer: SocketAddr) -> bool {
        let sessions = self.peers.len() - usize::from(self.peers.contains_key(&peer));
        if sessions >= self.limits.max_sessions {
            return false;
        }
        match self.handshakes.admission(peer, &self.limits) {
            Admission::Admit => true,
            Admission::AdmitDisplacing(victim) => {
                tracing::debug!("DTLS handshake with {victim} dropped for one from {peer}");
                self.end_handshake(victim, SessionFailure::Displaced);
                true
            }
            Admission::Refuse => false,
        }
    }

    /// Drops the unfinished handshake of `peer`, and says why.
    fn end_handshake(&mut self, peer: SocketAddr, cause: SessionFailure) {
        self.forget(peer);
        self.events.push_back(SecureEvent::Failed { peer, cause });
        self.dropped_handshakes += 1;
        if self.dropped_handshakes >= TRIM_AFTER_DROPPED_HANDSHAKES || self.handshakes.len() == 0 {
            self.dropped_handshakes = 0;
            give_memory_back();
        }
    }

    /// Drops everything kept for `peer`.
    fn forget(&mut self, peer: SocketAddr) {
        self.peers.remove(&peer);
        shrink_if_sparse(&mut self.peers);
        self.handshakes.remove(peer);
        self.timed.remove(&peer);
        self.dirty.remove(&peer);
    }

    /// A new server session on the shared context (`None` for a client node).
    fn server_session(&mut self) -> Result<Option<DtlsSession>, Error> {
        let Role::Server { lookup } = &self.role else {
            return Ok(None);
        };
        let context = match &mut self.server_context {
            Some(context) => context,
            empty => empty.insert(context::server(lookup.clone(), &self.config)?),
        };
        DtlsSession::server_on(context, self.config).map(Some)
    }

    /// Passes decrypted data up, reports what happened, and drops sessions that ended.
    fn deliver(&mut self, peer: SocketAddr) {
        let Some(entry) = self.peers.get_mut(&peer) else {
            return;
        };
        let mut ended = false;
        let mut received = Vec::new();
        while let Some(event) = entry.session.poll_event() {
            match event {
                Event::Received(data) => received.push(data),
                Event::Connected => {
                    self.handshakes.remove(peer);
                    self.events.push_back(SecureEvent::Connected { peer });
                }
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
            // What it still had to send (a close_notify) goes first.
            while let Some(payload) = self
                .peers
                .get_mut(&peer)
                .and_then(|e| e.session.poll_transmit())
            {
                self.outgoing.push_back(Transmit {
                    destination: peer,
                    payload,
                });
            }
            self.forget(peer);
        }
    }

    /// Drops the sessions idle for longer than the idle timeout.
    fn sweep(&mut self) {
        let now = self.now;
        let idle = self.limits.idle_timeout;
        let stale: Vec<SocketAddr> = self
            .peers
            .iter()
            .filter(|(_, p)| now.saturating_since(p.last_active) >= idle)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in stale {
            tracing::debug!("DTLS session with {peer} idle too long: dropped");
            self.forget(peer);
            self.events.push_back(SecureEvent::Closed { peer });
        }
        self.next_sweep = (!self.peers.is_empty()).then(|| now + self.sweep_interval());
    }
}

impl<N: DatagramNode> DatagramNode for SecureNode<N> {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.now = now;
        let is_server = matches!(self.role, Role::Server { .. });
        let handshaking = self
            .peers
            .get(&from)
            .map(|p| p.session.state() == State::Handshaking);
        match handshaking {
            // A new ClientHello from an address with an established session, or from a new one.
            Some(false) | None if is_server && starts_with_client_hello(datagram) => {
                self.listen(from, datagram)
            }
            Some(_) => {
                if let Some(entry) = self.peers.get_mut(&from) {
                    entry.session.handle_datagram(now, datagram);
                }
                self.touch(from);
                self.deliver(from);
            }
            None => {}
        }
        self.pump();
        self.schedule_sweep();
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.pump();
        self.outgoing.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timed
            .iter()
            .filter_map(|peer| self.peers.get(peer)?.session.poll_timeout())
            .chain(self.inner.poll_timeout())
            .chain(self.handshakes.next_expiry(&self.limits))
            .chain(self.next_sweep)
            .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.inner.handle_timeout(now);
        let due: Vec<SocketAddr> = self
            .timed
            .iter()
            .filter(|peer| {
                self.peers
                    .get(peer)
                    .and_then(|p| p.session.poll_timeout())
                    .is_some_and(|t| t <= now)
            })
            .copied()
            .collect();
        for peer in due {
            if let Some(entry) = self.peers.get_mut(&peer) {
                entry.session.handle_timeout(now);
            }
            self.dirty.insert(peer);
            self.deliver(peer);
        }
        for peer in self.handshakes.expired(now, &self.limits) {
            tracing::debug!("DTLS handshake with {peer} not finished in time: dropped");
            self.end_handshake(peer, SessionFailure::TimedOut);
        }
        if self.next_sweep.is_some_and(|at| at <= now) {
            self.sweep();
        }
        self.pump();
        self.schedule_sweep();
    }
}

/// Hands the free pages of the heap back to the system. glibc returns only the top of its heap by
/// itself, and a flood's handshakes are freed among longer-lived allocations, so without this the
/// process would keep the flood's size after it ended.
fn give_memory_back() {
    // SAFETY: malloc_trim only releases pages the allocator holds free.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
    }
}
