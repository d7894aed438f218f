//! [`DtlsSession`]: one DTLS 1.2 PSK association, client or server, driven by datagrams and time.

use std::collections::VecDeque;

use nbmodem_clock::{Instant, Timed};
use openssl::error::ErrorStack;
use openssl::ssl::{ErrorCode, Ssl, SslCipherRef, SslContext, SslStream};
use tracing::debug;

use crate::config::{self, check_identity, check_key, Config, MAX_WAITING_MESSAGES};
use crate::context::{self, PskLookup};
use crate::error::{Error, SessionFailure};
use crate::ffi::{self, Listened, TimeoutOutcome};
use crate::records;
use crate::timer::RetransmitTimer;
use crate::transport::Datagrams;

/// The largest DTLS plaintext record, the most one `SSL_read` returns.
const MAX_RECORD_PLAINTEXT: usize = 16_384;

/// What happened in a session, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed; messages queued by [`DtlsSession::send`] have been sent.
    Connected,
    /// A message of application data from the peer.
    Received(Vec<u8>),
    /// The peer sent close_notify, or [`DtlsSession::close`] was called.
    Closed,
    /// The session is dead.
    Failed(SessionFailure),
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Handshaking,
    Connected,
    Closed,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Client,
    Server,
}

/// One DTLS 1.2 PSK session with one peer.
///
/// Sans-IO: feed it received datagrams ([`handle_datagram`](Self::handle_datagram)) and the time
/// ([`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout)); send what
/// [`poll_transmit`](Self::poll_transmit) returns and act on [`poll_event`](Self::poll_event).
/// The caller keeps one session per peer address.
#[derive(Debug)]
pub struct DtlsSession {
    stream: SslStream<Datagrams>,
    role: Role,
    state: State,
    config: Config,
    timer: RetransmitTimer,
    /// Messages sent before the handshake completed.
    waiting: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    peer_identity: Option<Vec<u8>>,
    cipher_suite: Option<&'static str>,
    /// A server session's peer address, which its cookies are bound to (empty for a session used
    /// without [`DtlsSession::listen`]).
    peer: Vec<u8>,
}

impl DtlsSession {
    /// A client with the default [`Config`]; its first flight (ClientHello) is ready for
    /// [`poll_transmit`](Self::poll_transmit) at once, sent at `now`.
    pub fn client(now: Instant, identity: &[u8], psk: &[u8]) -> Result<Self, Error> {
        Self::client_with_config(now, identity, psk, Config::default())
    }

    /// A client with the given settings.
    pub fn client_with_config(
        now: Instant,
        identity: &[u8],
        psk: &[u8],
        config: Config,
    ) -> Result<Self, Error> {
        check_identity(identity)?;
        check_key(psk)?;
        config.validate()?;
        let ctx = context::client(identity, psk, &config)?;
        let mut session = Self::new(&ctx, Role::Client, config)?;
        session.advance_handshake();
        session.settle(now);
        Ok(session)
    }

    /// A server with the default [`Config`]; it waits for a ClientHello and finds the key of the
    /// client's identity with `psk_lookup` (`None`: unknown identity, the handshake fails).
    pub fn server(psk_lookup: PskLookup) -> Result<Self, Error> {
        Self::server_with_config(psk_lookup, Config::default())
    }

    /// A server with the given settings.
    pub fn server_with_config(psk_lookup: PskLookup, config: Config) -> Result<Self, Error> {
        config.validate()?;
        let ctx = context::server(psk_lookup, &config)?;
        Self::server_on(&ctx, config)
    }

    /// A server on a context from `context::server`, built with the same valid `config` and shared
    /// by many sessions: a context is far costlier to build than a session.
    pub(crate) fn server_on(ctx: &SslContext, config: Config) -> Result<Self, Error> {
        Self::new(ctx, Role::Server, config)
    }

    fn new(ctx: &SslContext, role: Role, config: Config) -> Result<Self, Error> {
        let mut ssl = Ssl::new(ctx)?;
        ssl.set_mtu(u32::from(config.max_datagram_size))?;
        let timer = RetransmitTimer::new(&config);
        timer.attach(&mut ssl)?;
        match role {
            Role::Client => ssl.set_connect_state(),
            Role::Server => ssl.set_accept_state(),
        }
        Ok(DtlsSession {
            stream: SslStream::new(ssl, Datagrams::default())?,
            role,
            state: State::Handshaking,
            config,
            timer,
            waiting: VecDeque::new(),
            events: VecDeque::new(),
            peer_identity: None,
            cipher_suite: None,
            peer: Vec::new(),
        })
    }

    /// A server session that has not begun: looks at `datagram` from `peer` without keeping
    /// anything for it (RFC 6347 §4.2.1). A ClientHello without a valid cookie is answered with a
    /// HelloVerifyRequest (ready for [`poll_transmit`](Self::poll_transmit)); one with a valid
    /// cookie starts the handshake in this session, which then belongs to `peer`.
    pub(crate) fn listen(&mut self, now: Instant, peer: &[u8], datagram: &[u8]) -> Listened {
        if self.before_openssl().is_err() {
            return Listened::Failed;
        }
        self.stream.get_mut().push_inbound(datagram);
        let listened = context::with_peer(peer, || ffi::listen(self.stream.ssl()));
        self.stream.get_mut().discard_inbound();
        if listened == Listened::Verified {
            self.peer = peer.to_vec();
            self.as_own_peer(|session| session.advance_handshake());
        }
        self.settle(now);
        listened
    }

    /// Runs `f` with this session's peer as the one the cookie callbacks check against (OpenSSL
    /// checks a ClientHello's cookie again as the handshake goes on).
    fn as_own_peer<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let peer = std::mem::take(&mut self.peer);
        let result = context::with_peer(&peer, || f(self));
        self.peer = peer;
        result
    }

    /// Processes one datagram from the peer. Datagrams that are not valid DTLS records for this
    /// session (garbage, replays, other epochs, failed authentication) are dropped. During the
    /// handshake, when nothing is authenticated yet, an unexpected plaintext record (an alert, a
    /// malformed handshake message) fails the handshake, as in any DTLS 1.2 stack.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        // An empty read would look like end-of-file to OpenSSL.
        if datagram.is_empty() || !self.is_open() {
            return;
        }
        if !records::whole_dtls_records(datagram) {
            debug!("dropped a datagram that is not whole DTLS records");
            return;
        }
        if !records::protected_records_long_enough(datagram, self.min_protected_record_len()) {
            debug!("dropped a datagram with a truncated protected record");
            return;
        }
        self.stream.get_mut().push_inbound(datagram);
        if self.state == State::Handshaking {
            self.as_own_peer(|session| session.advance_handshake());
        }
        if self.state == State::Connected {
            self.read_application_data();
        }
        self.stream.get_mut().discard_inbound();
        self.settle(now);
    }

    /// Sends one message (one DTLS record, one datagram). Before the handshake completes the
    /// message is queued (up to [`MAX_WAITING_MESSAGES`]) and sent right after it; if the
    /// handshake fails or the session is closed first, queued messages are dropped. A refused
    /// message ([`Error`]) leaves the session as it was, except [`Error::NotOpen`] after a failed
    /// write, which also reports [`Event::Failed`].
    pub fn send(&mut self, now: Instant, plaintext: &[u8]) -> Result<(), Error> {
        if plaintext.is_empty() {
            return Err(Error::EmptyMessage);
        }
        let max = self.max_message_len();
        if plaintext.len() > max {
            return Err(Error::MessageTooLong {
                len: plaintext.len(),
                max,
            });
        }
        match self.state {
            State::Handshaking if self.waiting.len() >= MAX_WAITING_MESSAGES => {
                Err(Error::QueueFull)
            }
            State::Handshaking => {
                self.waiting.push_back(plaintext.to_vec());
                Ok(())
            }
            State::Connected => {
                let written = self.write_record(plaintext);
                self.settle(now);
                written
            }
            State::Closed | State::Failed => Err(Error::NotOpen),
        }
    }

    /// The next datagram to send to the peer.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.stream.get_mut().pop_outbound()
    }

    /// The next event, in the order they happened.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called: the retransmission
    /// deadline of the current handshake flight, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer.deadline()
    }

    /// Retransmits the last handshake flight if its deadline has passed, or fails the handshake
    /// once the retransmissions are used up.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.is_open() || !self.timer.is_due(now) {
            return;
        }
        if self.timer.exhausted() {
            self.give_up();
            return;
        }
        if let Err(reason) = self.before_openssl() {
            return self.fail_with(reason);
        }
        match ffi::handle_timeout(self.stream.ssl()) {
            TimeoutOutcome::Retransmitted => {}
            TimeoutOutcome::NotExpired => self.timer.declined(now),
            TimeoutOutcome::Failed => self.fail_with(ErrorStack::get().to_string()),
        }
        // A declined attempt left OpenSSL's timer as it was: settling keeps the new deadline.
        self.settle(now);
    }

    /// Sends close_notify if connected, and closes the session (an [`Event::Closed`] follows).
    /// During the handshake, just abandons it.
    pub fn close(&mut self) {
        match self.state {
            State::Connected => self.send_close_notify(),
            State::Handshaking => {}
            State::Closed | State::Failed => return,
        }
        self.end(State::Closed, Event::Closed);
    }

    /// Where the session stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// The identity the client presented (its IMEI for nbmodem), on a server whose handshake
    /// completed.
    pub fn peer_identity(&self) -> Option<&[u8]> {
        self.peer_identity.as_deref()
    }

    /// The negotiated cipher suite (OpenSSL's name, e.g. `PSK-AES128-CCM8`) once connected.
    pub fn cipher_suite(&self) -> Option<&'static str> {
        self.cipher_suite
    }

    /// The longest message [`send`](Self::send) accepts: what fits one datagram with the
    /// negotiated suite once connected, and with the most expensive offered suite before.
    pub fn max_message_len(&self) -> usize {
        let negotiated = match self.state {
            State::Connected => ffi::data_mtu(self.stream.ssl()),
            _ => 0,
        };
        if negotiated > 0 {
            negotiated
        } else {
            self.config.safe_message_len()
        }
    }

    /// The shortest valid protected record: for the negotiated suite once it is known.
    fn min_protected_record_len(&self) -> usize {
        match self.stream.ssl().current_cipher() {
            Some(cipher) => config::min_protected_record_len(cipher.name()),
            None => self.config.min_protected_record_len(),
        }
    }

    fn is_open(&self) -> bool {
        matches!(self.state, State::Handshaking | State::Connected)
    }

    fn advance_handshake(&mut self) {
        if let Err(reason) = self.before_openssl() {
            return self.fail(SessionFailure::Handshake(reason));
        }
        match self.stream.do_handshake() {
            Ok(()) => self.on_connected(),
            Err(e) if would_block(&e) => {}
            Err(e) => self.fail(SessionFailure::Handshake(e.to_string())),
        }
    }

    fn on_connected(&mut self) {
        self.state = State::Connected;
        let ssl = self.stream.ssl();
        self.cipher_suite = ssl.current_cipher().map(SslCipherRef::name);
        if self.role == Role::Server {
            self.peer_identity = ssl.psk_identity().map(<[u8]>::to_vec);
        }
        debug!(cipher_suite = ?self.cipher_suite, "DTLS handshake complete");
        self.events.push_back(Event::Connected);
        while let Some(message) = self.waiting.pop_front() {
            if self.write_record(&message).is_err() {
                break;
            }
        }
    }

    /// Reads every record OpenSSL has ready. Records that fail authentication or replay checks
    /// never come out of OpenSSL: DTLS drops them silently.
    fn read_application_data(&mut self) {
        while self.state == State::Connected {
            if let Err(reason) = self.before_openssl() {
                return self.fail(SessionFailure::Connection(reason));
            }
            // A buffer per record rather than one per session: most sessions are idle most of
            // the time, and a record's buffer becomes its message.
            let mut message = vec![0; MAX_RECORD_PLAINTEXT];
            match self.stream.ssl_read(&mut message) {
                // SSL_read never hands out empty records; stop rather than spin if it ever does.
                Ok(0) => break,
                Ok(len) => {
                    message.truncate(len);
                    message.shrink_to_fit();
                    self.events.push_back(Event::Received(message));
                }
                Err(e) if e.code() == ErrorCode::ZERO_RETURN => {
                    self.end(State::Closed, Event::Closed);
                }
                Err(e) if would_block(&e) => break,
                Err(e) => self.fail(SessionFailure::Connection(e.to_string())),
            }
        }
    }

    fn write_record(&mut self, plaintext: &[u8]) -> Result<(), Error> {
        if let Err(reason) = self.before_openssl() {
            self.fail(SessionFailure::Connection(reason));
            return Err(Error::NotOpen);
        }
        // A DTLS write sends the whole record or nothing: there is no partial count to handle.
        match self.stream.ssl_write(plaintext) {
            Ok(_) => Ok(()),
            Err(e) => {
                self.fail(SessionFailure::Connection(e.to_string()));
                Err(Error::NotOpen)
            }
        }
    }

    fn send_close_notify(&mut self) {
        if let Err(reason) = self.before_openssl() {
            debug!(reason, "close_notify not sent");
            return;
        }
        if let Err(e) = self.stream.shutdown() {
            debug!(error = %e, "close_notify not sent");
        }
        ffi::free_buffers(self.stream.ssl());
    }

    /// Our retransmission budget ran out.
    fn give_up(&mut self) {
        match self.state {
            State::Handshaking => self.fail(SessionFailure::TimedOut),
            // A timer after the handshake only re-sends our last flight in case the peer missed
            // it; the session itself is fine.
            _ => self.timer.stop(),
        }
    }

    fn fail_with(&mut self, reason: String) {
        let failure = match self.state {
            State::Handshaking => SessionFailure::Handshake(reason),
            _ => SessionFailure::Connection(reason),
        };
        self.fail(failure);
    }

    fn fail(&mut self, failure: SessionFailure) {
        debug!(%failure, "DTLS session failed");
        self.end(State::Failed, Event::Failed(failure));
    }

    fn end(&mut self, state: State, event: Event) {
        self.state = state;
        self.timer.stop();
        self.waiting.clear();
        self.events.push_back(event);
    }

    /// Readies OpenSSL for a call: empties its error queue, and allocates the record buffers that
    /// [`settle`](Self::settle) gave back (OpenSSL's DTLS code writes into them without looking
    /// whether they are there). An error when there is no memory for them.
    fn before_openssl(&self) -> Result<(), String> {
        discard_stale_errors();
        if ffi::alloc_buffers(self.stream.ssl()) {
            Ok(())
        } else {
            Err("no memory for OpenSSL's record buffers".to_string())
        }
    }

    /// After a call into OpenSSL: re-arms our retransmission timer, and gives OpenSSL's record
    /// buffers back (about 34 KB a session, which would otherwise stay with every idle session and
    /// every unfinished handshake).
    fn settle(&mut self, now: Instant) {
        if self.is_open() {
            let armed = ffi::timer_armed(self.stream.ssl());
            self.timer.sync(now, armed);
        }
        ffi::free_buffers(self.stream.ssl());
    }
}

impl Timed for DtlsSession {
    fn poll_timeout(&self) -> Option<Instant> {
        DtlsSession::poll_timeout(self)
    }

    fn handle_timeout(&mut self, now: Instant) {
        DtlsSession::handle_timeout(self, now)
    }
}

fn would_block(e: &openssl::ssl::Error) -> bool {
    e.code() == ErrorCode::WANT_READ || e.code() == ErrorCode::WANT_WRITE
}

/// Empties this thread's OpenSSL error queue. `SSL_get_error` blames any error left there on the
/// next call, so leftovers from an earlier call (ours or anyone's on this thread) would turn a
/// harmless "want read" into a failure.
fn discard_stale_errors() {
    let stale = ErrorStack::get();
    if !stale.errors().is_empty() {
        debug!(%stale, "discarding stale OpenSSL errors");
    }
}
