//! The CoAP endpoint: one UDP socket's worth of CoAP, for any number of peers, as a state machine.
//!
//! Feed it datagrams ([`Endpoint::handle_datagram`]) and time ([`Endpoint::handle_timeout`]); take
//! from it datagrams to send ([`Endpoint::poll_transmit`]), events ([`Endpoint::poll_event`]) and
//! the instant it next needs to run ([`Endpoint::poll_timeout`]). It never touches a socket or a
//! clock, so the same code runs on a tokio socket in real time and on an in-memory network in
//! virtual time.
//!
//! The message layer lives here: message IDs, confirmable retransmission with exponential back-off
//! (RFC 7252 §4.2), ACK and RST matching, duplicate detection, and ping. The request/response layer
//! is in `client.rs` (requests we send) and `server.rs` (requests we receive).

use crate::block::BlockState;
use crate::client::ClientExchange;
use crate::message::{Request, Response};
use crate::params::TransmissionParams;
use crate::server::{IncomingExchange, ServerObservation};
use crate::timer_set::TimerSet;
use coap_lite::{MessageClass, MessageType, Packet};
use nbmodem_clock::{Instant, SeededRng};
use nbmodem_net::{DatagramNode, Transmit};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

/// The longest token a CoAP message carries (RFC 7252 §3: token lengths 9 to 15 are reserved).
pub const MAX_TOKEN: usize = 8;

/// The largest Observe sequence number: the option holds at most 3 bytes (RFC 7641 §4.4).
pub const MAX_SEQUENCE: u32 = 0x00FF_FFFF;

/// The token of a request we sent: at most 8 bytes (RFC 7252 §3), kept without a heap
/// allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Token {
    len: u8,
    bytes: [u8; 8],
}

impl Token {
    /// The token `token`, cut to its first 8 bytes (no CoAP message carries a longer one).
    pub(crate) fn new(token: &[u8]) -> Token {
        let len = token.len().min(MAX_TOKEN);
        let mut bytes = [0; 8];
        bytes[..len].copy_from_slice(&token[..len]);
        Token {
            len: len as u8,
            bytes,
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A request this endpoint sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

/// A request this endpoint received and has not answered yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IncomingId(pub(crate) u64);

/// An observation of one of our resources by a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObservationId(pub(crate) u64);

/// Why a request of ours got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeError {
    /// No acknowledgement after every retransmission, or no response in time.
    Timeout,
    /// The peer answered with a Reset.
    Reset,
    /// A block-wise transfer broke off (the peer answered a block out of order, or the body grew
    /// past the size limit).
    BlockTransfer,
    /// The request does not encode as a CoAP message: its options (a huge query, say) pass
    /// coap-lite's message size limit, `Packet::MAX_SIZE`. Nothing was sent.
    Unencodable,
}

/// Why an observation of one of our resources ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The observer answered a notification with a Reset.
    Reset,
    /// The observer sent GET with Observe=1.
    Deregistered,
    /// A confirmable notification was never acknowledged.
    Timeout,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A request arrived (block-wise bodies already reassembled). Answer it with
    /// [`Endpoint::respond`].
    Request {
        id: IncomingId,
        peer: SocketAddr,
        request: Request,
    },
    /// The response to one of our requests (block-wise bodies already reassembled). For an Observe
    /// registration this is the first response; later ones come as [`Event::Notification`].
    Response { id: RequestId, response: Response },
    /// One Block2 block of a download ([`Endpoint::download`]), in order.
    Block {
        id: RequestId,
        num: usize,
        size: usize,
        /// More blocks follow.
        more: bool,
        payload: Vec<u8>,
    },
    /// A later notification of an observation we registered.
    Notification { id: RequestId, response: Response },
    /// One of our requests failed.
    RequestFailed { id: RequestId, error: ExchangeError },
    /// A confirmable notification we sent was acknowledged.
    NotificationAcked { id: ObservationId, sequence: u32 },
    /// An observation of one of our resources ended.
    ObservationCancelled {
        id: ObservationId,
        reason: CancelReason,
    },
}

/// How an endpoint behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndpointConfig {
    pub params: TransmissionParams,
    /// Seeds message IDs, tokens and jitter, so that a simulation repeats exactly.
    pub seed: u64,
    /// Bytes in the tokens of our requests (1–8).
    pub token_length: usize,
    /// Block size for block-wise transfers we start (16–1024, a power of two).
    pub block_size: usize,
    /// The largest body we reassemble from blocks.
    pub max_body_size: usize,
    /// The most bytes held for block-wise transfers of all peers together: request bodies
    /// arriving block by block and responses kept for their later blocks.
    pub block_memory: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            params: TransmissionParams::default(),
            seed: 0,
            token_length: 4,
            block_size: 1024,
            max_body_size: 1 << 20,
            block_memory: 4 << 20,
        }
    }
}

/// How often expired state (duplicate-detection records, block caches, unanswered requests) is
/// swept away.
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// The most message IDs remembered per peer for duplicate detection. Each is kept for
/// EXCHANGE_LIFETIME; the bound only stops one hostile peer from growing the table without end
/// (a well-behaved peer has one confirmable exchange in flight, NSTART 1).
const DEDUP_PER_PEER: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    Retransmit(SocketAddr, u16),
    ResponseDeadline(RequestId),
    Sweep,
}

/// Why we sent a confirmable message: who to tell when it is acknowledged or given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Request(RequestId),
    Notification(ObservationId, u32),
    SeparateResponse,
}

#[derive(Debug)]
struct PendingCon {
    bytes: Vec<u8>,
    transmissions: u32,
    timeout: Duration,
    deadline: Instant,
    purpose: Purpose,
}

/// A message ID recently received from a peer, and what we answered to it: the reply is kept
/// as a boxed slice, its exact length, since each lasts EXCHANGE_LIFETIME.
#[derive(Debug)]
struct Seen {
    mid: u16,
    expires: Instant,
    reply: Option<Box<[u8]>>,
}

pub struct Endpoint {
    pub(crate) config: EndpointConfig,
    pub(crate) rng: SeededRng,
    next_mid: u16,
    next_id: u64,
    pub(crate) now: Instant,
    timers: TimerSet<(Instant, Timer)>,
    sweep_at: Option<Instant>,
    seen: HashMap<SocketAddr, VecDeque<Seen>>,
    pending: HashMap<(SocketAddr, u16), PendingCon>,
    /// Boxed: an observation keeps its exchange for as long as it lasts, and a map holds spare
    /// slots of its value size (a registered LwM2M client with an observation costs an entry).
    pub(crate) client: HashMap<RequestId, Box<ClientExchange>>,
    pub(crate) client_tokens: HashMap<(SocketAddr, Token), RequestId>,
    pub(crate) incoming: HashMap<IncomingId, IncomingExchange>,
    /// Boxed, as `client` is: an observation lasts as long as the registration.
    pub(crate) observations: HashMap<ObservationId, Box<ServerObservation>>,
    pub(crate) observation_tokens: HashMap<(SocketAddr, Token), ObservationId>,
    pub(crate) blocks: BlockState,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// Something left a table that [`Endpoint::release_idle_capacity`] trims since it last ran:
    /// only then is there capacity to release, so a poll with nothing to do does no work.
    pub(crate) removed: bool,
    /// Confirmable messages sent again since [`Endpoint::take_retransmissions`] last read it.
    retransmitted: u32,
}

impl Endpoint {
    pub fn new(config: EndpointConfig) -> Self {
        let mut rng = SeededRng::new(config.seed);
        let next_mid = rng.next_u64() as u16;
        Endpoint {
            config,
            rng,
            next_mid,
            next_id: 1,
            now: Instant::default(),
            timers: TimerSet::default(),
            sweep_at: None,
            seen: HashMap::new(),
            pending: HashMap::new(),
            client: HashMap::new(),
            client_tokens: HashMap::new(),
            incoming: HashMap::new(),
            observations: HashMap::new(),
            observation_tokens: HashMap::new(),
            blocks: BlockState::new(config.block_memory),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            removed: false,
            retransmitted: 0,
        }
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// How many confirmable messages were sent again (after no acknowledgement within their
    /// timeout) since the last call: a count its owner adds up, as it may drop the endpoint.
    pub fn take_retransmissions(&mut self) -> u32 {
        std::mem::take(&mut self.retransmitted)
    }

    /// The bytes held for block-wise transfers in the middle (at most
    /// [`EndpointConfig::block_memory`]).
    pub fn block_memory(&self) -> usize {
        self.blocks.held()
    }

    /// Takes a datagram from `peer`. Malformed datagrams are answered with a Reset when their header
    /// can be read, and otherwise dropped.
    pub fn handle_datagram(&mut self, now: Instant, peer: SocketAddr, datagram: &[u8]) {
        self.now = now;
        let packet = match Packet::from_bytes(datagram) {
            Ok(packet) => packet,
            Err(_) => return self.reject_malformed(peer, datagram),
        };
        let mid = packet.header.message_id;
        match (packet.header.get_type(), packet.header.code) {
            (MessageType::Reset, _) => self.reset_received(peer, mid),
            (MessageType::Acknowledgement, MessageClass::Empty) => self.ack_received(peer, mid),
            (MessageType::Acknowledgement, MessageClass::Response(_)) => {
                self.ack_received(peer, mid);
                self.response_received(peer, &packet);
            }
            (MessageType::Confirmable, MessageClass::Empty) => self.send_reset(peer, mid),
            // Request codes nobody assigned (0.08–0.31) are answered 4.05 like unknown methods.
            (kind, MessageClass::Request(_) | MessageClass::Reserved(0x08..=0x1F))
                if !self.is_duplicate(peer, mid, kind == MessageType::Confirmable) =>
            {
                self.request_received(peer, &packet)
            }
            (kind, MessageClass::Response(_)) => {
                if self.is_duplicate(peer, mid, kind == MessageType::Confirmable) {
                    return;
                }
                let known = self.response_received(peer, &packet);
                match (kind, known) {
                    (MessageType::Confirmable, true) => self.send_empty_ack(peer, mid),
                    (_, false) => self.send_reset(peer, mid),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let next = self.transmits.pop_front();
        self.after_poll(next.is_some());
        next
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        let next = self.events.pop_front();
        self.after_poll(next.is_some());
        next
    }

    /// After a poll that took something (`took`) or found its queue empty: the first empty poll
    /// after something was removed releases the capacity of the tables that are empty again.
    fn after_poll(&mut self, took: bool) {
        if took {
            self.removed = true;
        } else if std::mem::take(&mut self.removed) {
            self.release_idle_capacity();
        }
    }

    /// Frees the capacity of tables that are empty again. A device's endpoint has one exchange in
    /// flight now and then; without this, the tables of its last exchange stay allocated between
    /// exchanges, which multiplies by thousands of simulated devices.
    fn release_idle_capacity(&mut self) {
        if self.transmits.is_empty() {
            self.transmits.shrink_to_fit();
        }
        if self.events.is_empty() {
            self.events.shrink_to_fit();
        }
        if self.pending.is_empty() {
            self.pending.shrink_to_fit();
        }
        if self.client.is_empty() {
            self.client.shrink_to_fit();
            self.client_tokens.shrink_to_fit();
        }
        if self.incoming.is_empty() {
            self.incoming.shrink_to_fit();
        }
        if self.seen.is_empty() {
            self.seen.shrink_to_fit();
        }
    }

    /// Whether an exchange is in flight: a request awaiting its response, a confirmable message
    /// awaiting its acknowledgement, a request of a peer not answered yet, or a datagram waiting to
    /// be sent. A device does not go to deep sleep while its endpoint is busy.
    pub fn is_busy(&self) -> bool {
        !(self.client.is_empty()
            && self.pending.is_empty()
            && self.incoming.is_empty()
            && self.transmits.is_empty())
    }

    /// When [`Endpoint::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Runs everything due at or before `now`: retransmissions, give-ups, the sweep.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, timer));
            match timer {
                Timer::Retransmit(peer, mid) => self.retransmit_or_give_up(peer, mid),
                Timer::ResponseDeadline(id) => self.fail_request(id, ExchangeError::Timeout),
                Timer::Sweep => self.sweep(),
            }
        }
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn new_token(&mut self, peer: SocketAddr) -> Token {
        loop {
            let bytes = self.rng.next_u64().to_be_bytes();
            let token = Token::new(&bytes[..self.config.token_length.clamp(1, 8)]);
            if !self.client_tokens.contains_key(&(peer, token)) {
                return token;
            }
        }
    }

    fn new_mid(&mut self) -> u16 {
        self.next_mid = self.next_mid.wrapping_add(1);
        self.next_mid
    }

    pub(crate) fn set_timer(&mut self, at: Instant, timer: Timer) {
        self.timers.insert((at, timer));
    }

    pub(crate) fn cancel_timer(&mut self, at: Instant, timer: Timer) {
        self.timers.remove(&(at, timer));
    }

    pub(crate) fn push_event(&mut self, event: Event) {
        self.events.push_back(event);
    }

    fn push_transmit(&mut self, destination: SocketAddr, payload: Vec<u8>) {
        self.transmits.push_back(Transmit {
            destination,
            payload,
        });
    }

    /// Sends `packet` as a confirmable message; retransmitted until acknowledged. Returns its
    /// message ID, or `None` when it does not encode (nothing is sent).
    pub(crate) fn send_confirmable(
        &mut self,
        peer: SocketAddr,
        mut packet: Packet,
        purpose: Purpose,
    ) -> Option<u16> {
        let mid = self.new_mid();
        packet.header.set_type(MessageType::Confirmable);
        packet.header.message_id = mid;
        let bytes = encode(&packet)?;
        let timeout = self.config.params.initial_timeout(self.rng.unit());
        let deadline = self.now + timeout;
        self.push_transmit(peer, bytes.clone());
        self.pending.insert(
            (peer, mid),
            PendingCon {
                bytes,
                transmissions: 1,
                timeout,
                deadline,
                purpose,
            },
        );
        self.set_timer(deadline, Timer::Retransmit(peer, mid));
        Some(mid)
    }

    /// Sends `packet` as a non-confirmable message; returns its message ID, or `None` when it does
    /// not encode (nothing is sent).
    pub(crate) fn send_non_confirmable(
        &mut self,
        peer: SocketAddr,
        mut packet: Packet,
    ) -> Option<u16> {
        let mid = self.new_mid();
        packet.header.set_type(MessageType::NonConfirmable);
        packet.header.message_id = mid;
        let bytes = encode(&packet)?;
        self.push_transmit(peer, bytes);
        Some(mid)
    }

    /// Sends `packet` as the acknowledgement of `mid` (a piggybacked response), remembering it so
    /// that a duplicate of the request gets the same answer.
    pub(crate) fn send_ack(&mut self, peer: SocketAddr, mid: u16, mut packet: Packet) {
        packet.header.set_type(MessageType::Acknowledgement);
        packet.header.message_id = mid;
        if let Some(bytes) = encode(&packet) {
            self.remember_reply(peer, mid, &bytes);
            self.push_transmit(peer, bytes);
        }
    }

    pub(crate) fn send_empty_ack(&mut self, peer: SocketAddr, mid: u16) {
        let mut packet = Packet::new();
        packet.header.code = MessageClass::Empty;
        self.send_ack(peer, mid, packet);
    }

    pub(crate) fn send_reset(&mut self, peer: SocketAddr, mid: u16) {
        let mut packet = Packet::new();
        packet.header.set_type(MessageType::Reset);
        packet.header.code = MessageClass::Empty;
        packet.header.message_id = mid;
        if let Some(bytes) = encode(&packet) {
            self.push_transmit(peer, bytes);
        }
    }

    /// A datagram coap-lite cannot parse: a Reset if it has a CoAP header asking for an answer.
    fn reject_malformed(&mut self, peer: SocketAddr, datagram: &[u8]) {
        let [first, _, hi, lo, ..] = *datagram else {
            return;
        };
        let version = first >> 6;
        let kind = (first >> 4) & 0b11;
        if version == 1 && kind <= 1 {
            self.send_reset(peer, u16::from_be_bytes([hi, lo]));
        }
    }

    /// Whether (peer, mid) was seen within EXCHANGE_LIFETIME; a duplicate confirmable message gets
    /// the reply it got the first time.
    fn is_duplicate(&mut self, peer: SocketAddr, mid: u16, confirmable: bool) -> bool {
        let now = self.now;
        let lifetime = self.config.params.exchange_lifetime();
        let recent = self.seen.entry(peer).or_default();
        recent.retain(|s| s.expires > now);
        if let Some(seen) = recent.iter().find(|s| s.mid == mid) {
            if let (true, Some(reply)) = (confirmable, &seen.reply) {
                let reply = reply.to_vec();
                self.push_transmit(peer, reply);
            }
            return true;
        }
        if recent.len() == DEDUP_PER_PEER {
            recent.pop_front();
        }
        recent.push_back(Seen {
            mid,
            expires: now + lifetime,
            reply: None,
        });
        self.schedule_sweep();
        false
    }

    fn remember_reply(&mut self, peer: SocketAddr, mid: u16, reply: &[u8]) {
        if let Some(seen) = self
            .seen
            .get_mut(&peer)
            .and_then(|r| r.iter_mut().find(|s| s.mid == mid))
        {
            seen.reply = Some(reply.into());
        }
    }

    fn ack_received(&mut self, peer: SocketAddr, mid: u16) {
        let Some(pending) = self.take_pending(peer, mid) else {
            return;
        };
        match pending.purpose {
            Purpose::Request(id) => self.request_acknowledged(id),
            Purpose::Notification(id, sequence) => {
                self.push_event(Event::NotificationAcked { id, sequence })
            }
            Purpose::SeparateResponse => {}
        }
    }

    fn reset_received(&mut self, peer: SocketAddr, mid: u16) {
        match self.take_pending(peer, mid).map(|p| p.purpose) {
            Some(Purpose::Request(id)) => self.fail_request(id, ExchangeError::Reset),
            Some(Purpose::Notification(id, _)) => self.end_observation(id, CancelReason::Reset),
            Some(Purpose::SeparateResponse) => {}
            None => self.reset_of_non_notification(peer, mid),
        }
    }

    fn take_pending(&mut self, peer: SocketAddr, mid: u16) -> Option<PendingCon> {
        let pending = self.pending.remove(&(peer, mid))?;
        self.removed = true;
        self.cancel_timer(pending.deadline, Timer::Retransmit(peer, mid));
        Some(pending)
    }

    fn retransmit_or_give_up(&mut self, peer: SocketAddr, mid: u16) {
        let max_transmissions = self.config.params.max_retransmit + 1;
        let Some(pending) = self.pending.get_mut(&(peer, mid)) else {
            return;
        };
        if pending.transmissions >= max_transmissions {
            let purpose = pending.purpose;
            self.pending.remove(&(peer, mid));
            self.removed = true;
            match purpose {
                // Nothing more is sent; the request fails at its total timeout.
                Purpose::Request(id) if self.has_total_timeout(id) => {}
                Purpose::Request(id) => self.fail_request(id, ExchangeError::Timeout),
                Purpose::Notification(id, _) => self.end_observation(id, CancelReason::Timeout),
                Purpose::SeparateResponse => {}
            }
            return;
        }
        pending.transmissions += 1;
        self.retransmitted = self.retransmitted.saturating_add(1);
        pending.timeout *= 2;
        pending.deadline = self.now + pending.timeout;
        let (deadline, bytes) = (pending.deadline, pending.bytes.clone());
        self.push_transmit(peer, bytes);
        self.set_timer(deadline, Timer::Retransmit(peer, mid));
    }

    /// Forgets a confirmable message still being retransmitted for `purpose`.
    pub(crate) fn abandon(&mut self, purpose: Purpose) {
        self.abandon_matching(|p| p == purpose);
    }

    /// Forgets every confirmable message still being retransmitted whose purpose matches.
    pub(crate) fn abandon_matching(&mut self, matches: impl Fn(Purpose) -> bool) {
        let keys: Vec<_> = self
            .pending
            .iter()
            .filter(|(_, p)| matches(p.purpose))
            .map(|(k, _)| *k)
            .collect();
        for (peer, mid) in keys {
            self.take_pending(peer, mid);
        }
    }

    fn schedule_sweep(&mut self) {
        if self.sweep_at.is_none() {
            let at = self.now + SWEEP_INTERVAL;
            self.sweep_at = Some(at);
            self.set_timer(at, Timer::Sweep);
        }
    }

    /// Drops expired duplicate-detection records, block caches and requests nobody answered.
    fn sweep(&mut self) {
        self.sweep_at = None;
        let now = self.now;
        self.seen.retain(|_, recent| {
            recent.retain(|s| s.expires > now);
            !recent.is_empty()
        });
        let lifetime = self.config.params.exchange_lifetime();
        self.incoming
            .retain(|_, ex| now.saturating_since(ex.received) < lifetime);
        self.removed = true;
        self.blocks.sweep(now);
        if !self.seen.is_empty() || !self.incoming.is_empty() || !self.blocks.is_empty() {
            self.schedule_sweep();
        }
    }
}

impl DatagramNode for Endpoint {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        Endpoint::handle_datagram(self, now, from, datagram)
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        Endpoint::poll_transmit(self)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Endpoint::poll_timeout(self)
    }

    fn handle_timeout(&mut self, now: Instant) {
        Endpoint::handle_timeout(self, now)
    }
}

/// Encodes a packet. A packet that does not encode (past coap-lite's size limit, with options the
/// application chose) is logged and not sent; a request fails with [`ExchangeError::Unencodable`].
pub(crate) fn encode(packet: &Packet) -> Option<Vec<u8>> {
    match packet.to_bytes() {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::warn!("cannot encode a CoAP message: {e:?}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Status;

    #[test]
    fn capacity_is_released_after_an_exchange_and_an_idle_poll_does_nothing() {
        let (client_at, server_at): (SocketAddr, SocketAddr) = (
            "10.0.0.1:5683".parse().unwrap(),
            "10.0.0.2:5683".parse().unwrap(),
        );
        let mut client = Endpoint::new(EndpointConfig::default());
        let mut server = Endpoint::new(EndpointConfig {
            seed: 9,
            ..EndpointConfig::default()
        });
        let now = Instant::from_unix_millis(0);
        client.request(now, server_at, Request::get("/x"), true);
        let request = client.poll_transmit().unwrap();
        server.handle_datagram(now, client_at, &request.payload);
        let Some(Event::Request { id, .. }) = server.poll_event() else {
            panic!("no request");
        };
        server.respond(now, id, Response::new(Status::Content));
        let response = server.poll_transmit().unwrap();
        client.handle_datagram(now, server_at, &response.payload);
        assert!(matches!(client.poll_event(), Some(Event::Response { .. })));
        assert!(client.removed, "the exchange left the tables");
        assert!(client.poll_event().is_none() && client.poll_transmit().is_none());
        assert!(!client.removed, "released once, by the first idle poll");
        let capacities = [
            client.pending.capacity(),
            client.client.capacity(),
            client.client_tokens.capacity(),
            client.transmits.capacity(),
            client.events.capacity(),
        ];
        assert_eq!(capacities, [0; 5]);
    }

    #[test]
    fn a_duplicate_gets_the_same_reply_and_the_records_go_after_their_lifetime() {
        let client_at: SocketAddr = "10.0.0.1:5683".parse().unwrap();
        let mut client = Endpoint::new(EndpointConfig::default());
        let mut server = Endpoint::new(EndpointConfig {
            seed: 9,
            ..EndpointConfig::default()
        });
        let now = Instant::from_unix_millis(0);
        client.request(
            now,
            "10.0.0.2:5683".parse().unwrap(),
            Request::get("/x"),
            true,
        );
        let request = client.poll_transmit().unwrap().payload;
        server.handle_datagram(now, client_at, &request);
        let Some(Event::Request { id, .. }) = server.poll_event() else {
            panic!("no request");
        };
        server.respond(now, id, Response::new(Status::Content));
        let reply = server.poll_transmit().unwrap().payload;
        server.handle_datagram(now, client_at, &request);
        assert_eq!(server.poll_transmit().unwrap().payload, reply);
        assert!(server.poll_event().is_none());
        // Past EXCHANGE_LIFETIME and the next sweep, nothing of the exchange is left.
        let later = now + server.config.params.exchange_lifetime() + SWEEP_INTERVAL * 2;
        while server.poll_timeout().is_some_and(|t| t <= later) {
            server.handle_timeout(later);
        }
        assert!(server.poll_event().is_none() && server.poll_transmit().is_none());
        assert_eq!(server.seen.capacity(), 0);
        assert_eq!(server.poll_timeout(), None);
        // The same message ID is new again.
        server.handle_datagram(later, client_at, &request);
        assert!(matches!(server.poll_event(), Some(Event::Request { .. })));
    }
}
