//! The server side: requests we receive, our responses (piggybacked or separate), block-wise
//! bodies in both directions, and observations of our resources (RFC 7641 §4).

use crate::block::{valid_size, BadBlock, Block, Refused};
use crate::endpoint::{
    CancelReason, Endpoint, Event, IncomingId, ObservationId, Purpose, Token, MAX_SEQUENCE,
    MAX_TOKEN,
};
use crate::message::{Request, Response, Status};
use coap_lite::option_value::OptionValueU32;
use coap_lite::{CoapOption, MessageClass, Packet};
use nbmodem_clock::Instant;
use std::collections::VecDeque;
use std::net::SocketAddr;

#[derive(Debug)]
pub(crate) struct IncomingExchange {
    peer: SocketAddr,
    mid: u16,
    token: Vec<u8>,
    confirmable: bool,
    acknowledged: bool,
    pub(crate) received: Instant,
    /// Path and query, which identify the resource for block-wise transfers.
    key: String,
    observe: Option<u32>,
    /// The Block2 block the peer asked for.
    block2: Option<Block>,
    /// The last Block1 block of the body, echoed in the response.
    block1: Option<Block>,
}

/// An observation of one of our resources, as kept across a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedObservation {
    pub peer: SocketAddr,
    pub token: Vec<u8>,
    /// The sequence number of the last notification sent.
    pub sequence: u32,
    /// The observed resource's path and query.
    pub resource: String,
}

#[derive(Debug)]
pub(crate) struct ServerObservation {
    peer: SocketAddr,
    /// A received token has at most 8 bytes (coap-lite refuses longer ones), as a restored one.
    token: Token,
    sequence: u32,
    key: String,
    /// Message IDs of recent non-confirmable notifications: a Reset to one cancels (§3.6).
    recent_non: VecDeque<u16>,
}

/// The critical options (odd numbers, RFC 7252 §5.4.1) the endpoint acts on; any other in a
/// request refuses it. If-Match and If-None-Match are among the refused: no server here makes
/// requests conditional, and ignoring them would act unconditionally.
const UNDERSTOOD_CRITICAL: [CoapOption; 7] = [
    CoapOption::UriHost,
    CoapOption::UriPort,
    CoapOption::UriPath,
    CoapOption::UriQuery,
    CoapOption::Accept,
    CoapOption::Block2,
    CoapOption::Block1,
];

/// Why a request is refused before the application sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Refusal {
    /// Answered with this status.
    Status(Status),
    /// Rejected with a Reset: a non-confirmable request with an unknown critical option (§4.3).
    Reset,
}

impl IncomingExchange {
    fn new(peer: SocketAddr, packet: &Packet, received: Instant) -> Self {
        IncomingExchange {
            peer,
            mid: packet.header.message_id,
            token: packet.get_token().to_vec(),
            confirmable: packet.header.get_type() == coap_lite::MessageType::Confirmable,
            acknowledged: false,
            received,
            key: String::new(),
            observe: None,
            block2: None,
            block1: None,
        }
    }
}

/// Checks what the endpoint must refuse in a request: a method code it does not know (4.05), a
/// proxy request (5.05), an unknown critical option (4.02, or a Reset when non-confirmable), a
/// Block option that is not one (4.00).
fn screen(packet: &Packet) -> Result<(), Refusal> {
    if !matches!(packet.header.code, MessageClass::Request(_)) {
        return Err(Refusal::Status(Status::MethodNotAllowed));
    }
    let numbers = || {
        packet
            .options()
            .map(|(number, _)| CoapOption::from(*number))
    };
    if numbers().any(|o| matches!(o, CoapOption::ProxyUri | CoapOption::ProxyScheme)) {
        return Err(Refusal::Status(Status::ProxyingNotSupported));
    }
    let critical = |o: &CoapOption| u16::from(*o) % 2 == 1;
    if numbers().any(|o| critical(&o) && !UNDERSTOOD_CRITICAL.contains(&o)) {
        let confirmable = packet.header.get_type() == coap_lite::MessageType::Confirmable;
        return Err(match confirmable {
            true => Refusal::Status(Status::BadOption),
            false => Refusal::Reset,
        });
    }
    let block1 = Block::read(packet, CoapOption::Block1);
    let fits = match block1 {
        Ok(Some(block)) => block.fits(&packet.payload),
        Ok(None) => true,
        Err(BadBlock) => false,
    };
    if !fits || Block::read(packet, CoapOption::Block2).is_err() {
        return Err(Refusal::Status(Status::BadRequest));
    }
    Ok(())
}

impl Endpoint {
    /// A request, or a message with a request's class and a method code nobody assigned.
    pub(crate) fn request_received(&mut self, peer: SocketAddr, packet: &Packet) {
        let mut exchange = IncomingExchange::new(peer, packet, self.now);
        if let Err(refusal) = screen(packet) {
            return self.refuse(exchange, refusal);
        }
        let Some(mut request) = Request::from_packet(packet) else {
            return;
        };
        exchange.key = request.resource_key();
        exchange.observe = request.observe;
        exchange.block2 = Block::read(packet, CoapOption::Block2).ok().flatten();
        if let Ok(Some(block)) = Block::read(packet, CoapOption::Block1) {
            match self.receive_block1(&mut exchange, block, &request.payload) {
                Some(body) => request.payload = body,
                None => return,
            }
        }
        if let Some(asked) = exchange.block2.filter(|b| b.num > 0) {
            if self.serve_kept_block(&exchange, asked) {
                return;
            }
        }
        if request.observe == Some(1) {
            self.deregister_observer(peer, &exchange.token);
        }
        let id = IncomingId(self.next_id());
        self.incoming.insert(id, exchange);
        self.push_event(Event::Request { id, peer, request });
    }

    fn refuse(&mut self, exchange: IncomingExchange, refusal: Refusal) {
        match refusal {
            Refusal::Reset => self.send_reset(exchange.peer, exchange.mid),
            Refusal::Status(status) => self.answer_status(&exchange, status),
        }
    }

    /// Answers with a bare status, as the request calls for (piggybacked or non-confirmable).
    fn answer_status(&mut self, exchange: &IncomingExchange, status: Status) {
        let mut reply = Packet::new();
        reply.set_token(exchange.token.clone());
        Response::new(status).write_to(&mut reply);
        self.send_reply(exchange, reply);
    }

    /// Adds a Block1 block; answers 2.31 Continue (or an error) itself and returns `None` until
    /// the body is complete.
    fn receive_block1(
        &mut self,
        exchange: &mut IncomingExchange,
        block: Block,
        data: &[u8],
    ) -> Option<Vec<u8>> {
        let (peer, max) = (exchange.peer, self.config.max_body_size);
        let received = self
            .blocks
            .receive(self.now, peer, &exchange.key, block, data, max);
        let mut response = match (received, block.more) {
            (Err(Refused::TooLarge), _) => {
                // Size1 tells the client the largest body we take (RFC 7959 §2.9.3).
                let mut response = Response::new(Status::RequestEntityTooLarge);
                let size1 = u32::try_from(max).unwrap_or(u32::MAX);
                response.other.push((60, Vec::from(OptionValueU32(size1))));
                response
            }
            (Err(Refused::OutOfOrder), _) => Response::new(Status::RequestEntityIncomplete),
            (Err(Refused::Busy), _) => Response::new(Status::ServiceUnavailable),
            (Ok(()), true) => Response::new(Status::Continue),
            (Ok(()), false) => {
                exchange.block1 = Some(block);
                return self.blocks.finish_receiving(peer, &exchange.key);
            }
        };
        if received == Err(Refused::Busy) {
            response.max_age = Some(BUSY_RETRY_SECS);
        }
        let mut reply = Packet::new();
        reply.set_token(exchange.token.clone());
        response.write_to(&mut reply);
        if response.status == Status::Continue {
            block.write(&mut reply, CoapOption::Block1);
        }
        self.send_reply(exchange, reply);
        None
    }

    /// Answers a request. When the request registered an Observe and `response.observe` is set
    /// (to any value), the peer becomes an observer: the returned id sends it notifications.
    pub fn respond(
        &mut self,
        now: Instant,
        id: IncomingId,
        mut response: Response,
    ) -> Option<ObservationId> {
        self.now = now;
        let exchange = self.incoming.remove(&id)?;
        self.removed = true;
        let observation = self.accept_observer(&exchange, &mut response);
        self.send_response(exchange, response);
        observation
    }

    /// Acknowledges a confirmable request now; its response will follow separately.
    pub fn acknowledge(&mut self, now: Instant, id: IncomingId) {
        self.now = now;
        let Some(exchange) = self.incoming.get_mut(&id) else {
            return;
        };
        if exchange.confirmable && !exchange.acknowledged {
            exchange.acknowledged = true;
            let (peer, mid) = (exchange.peer, exchange.mid);
            self.send_empty_ack(peer, mid);
        }
    }

    /// Sends a notification to an observer; returns its sequence number, or `None` when the
    /// observation has ended. A confirmable notification's fate comes as
    /// [`Event::NotificationAcked`] or [`Event::ObservationCancelled`].
    pub fn notify(
        &mut self,
        now: Instant,
        id: ObservationId,
        mut response: Response,
        confirmable: bool,
    ) -> Option<u32> {
        self.now = now;
        let observation = self.observations.get_mut(&id)?;
        observation.sequence = (observation.sequence + 1) & 0x00FF_FFFF;
        let sequence = observation.sequence;
        response.observe = Some(sequence);
        let (peer, token, key) = (
            observation.peer,
            observation.token.as_slice().to_vec(),
            observation.key.clone(),
        );
        let mut packet = Packet::new();
        packet.set_token(token);
        self.write_first_block(peer, key, response, None, &mut packet);
        if confirmable {
            self.send_confirmable(peer, packet, Purpose::Notification(id, sequence));
        } else if let Some(mid) = self.send_non_confirmable(peer, packet) {
            if let Some(observation) = self.observations.get_mut(&id) {
                if observation.recent_non.len() == 4 {
                    observation.recent_non.pop_front();
                }
                observation.recent_non.push_back(mid);
            }
        }
        Some(sequence)
    }

    /// What identifies an observation of one of our resources, to keep it across a restart: a
    /// device saves the platform's observation of its firmware state before it reboots into new
    /// firmware, and notifies on it afterwards (protocols.md §5).
    pub fn saved_observation(&self, id: ObservationId) -> Option<SavedObservation> {
        let o = self.observations.get(&id)?;
        Some(SavedObservation {
            peer: o.peer,
            token: o.token.as_slice().to_vec(),
            sequence: o.sequence,
            resource: o.key.clone(),
        })
    }

    /// Takes an observation saved by [`Endpoint::saved_observation`] (of this endpoint or an
    /// earlier one) back: its next notification goes on the same token, with the next sequence
    /// number, as if it had never been interrupted. `None`, and nothing restored, for a token
    /// longer than [`MAX_TOKEN`] bytes: no CoAP message can carry it (coap-lite would panic on
    /// one of 16 bytes or more). A sequence number past the Observe option's 24 bits goes on from
    /// its low 24 bits.
    pub fn restore_observation(&mut self, saved: SavedObservation) -> Option<ObservationId> {
        if saved.token.len() > MAX_TOKEN {
            return None;
        }
        let slot = (saved.peer, Token::new(&saved.token));
        if let Some(&id) = self.observation_tokens.get(&slot) {
            return Some(id);
        }
        let id = ObservationId(self.next_id());
        self.observations.insert(
            id,
            Box::new(ServerObservation {
                peer: saved.peer,
                token: slot.1,
                sequence: saved.sequence & MAX_SEQUENCE,
                key: saved.resource,
                recent_non: VecDeque::new(),
            }),
        );
        self.observation_tokens.insert(slot, id);
        Some(id)
    }

    /// Ends an observation from our side, without telling the observer (it will get no more
    /// notifications).
    pub fn drop_observation(&mut self, id: ObservationId) {
        self.remove_observation(id);
    }

    fn accept_observer(
        &mut self,
        exchange: &IncomingExchange,
        response: &mut Response,
    ) -> Option<ObservationId> {
        if exchange.observe != Some(0) || response.observe.is_none() || !response.is_success() {
            response.observe = None;
            return None;
        }
        let slot = (exchange.peer, Token::new(&exchange.token));
        // The same token again is a re-registration (RFC 7641 §4.1): the observation goes on.
        let id = match self.observation_tokens.get(&slot) {
            Some(id) => *id,
            None => {
                let id = ObservationId(self.next_id());
                let observation = Box::new(ServerObservation {
                    peer: exchange.peer,
                    token: slot.1,
                    sequence: 0,
                    key: exchange.key.clone(),
                    recent_non: VecDeque::new(),
                });
                self.observations.insert(id, observation);
                self.observation_tokens.insert(slot, id);
                id
            }
        };
        response.observe = self.observations.get(&id).map(|o| o.sequence);
        Some(id)
    }

    fn deregister_observer(&mut self, peer: SocketAddr, token: &[u8]) {
        if let Some(&id) = self.observation_tokens.get(&(peer, Token::new(token))) {
            self.end_observation(id, CancelReason::Deregistered);
        }
    }

    pub(crate) fn end_observation(&mut self, id: ObservationId, reason: CancelReason) {
        if self.remove_observation(id) {
            self.push_event(Event::ObservationCancelled { id, reason });
        }
    }

    fn remove_observation(&mut self, id: ObservationId) -> bool {
        let Some(observation) = self.observations.remove(&id) else {
            return false;
        };
        self.observation_tokens
            .remove(&(observation.peer, observation.token));
        self.abandon_matching(|purpose| matches!(purpose, Purpose::Notification(o, _) if o == id));
        true
    }

    /// A Reset that matches no confirmable message may answer a non-confirmable notification.
    pub(crate) fn reset_of_non_notification(&mut self, peer: SocketAddr, mid: u16) {
        let found = self
            .observations
            .iter()
            .find(|(_, o)| o.peer == peer && o.recent_non.contains(&mid))
            .map(|(id, _)| *id);
        if let Some(id) = found {
            self.end_observation(id, CancelReason::Reset);
        }
    }

    /// Sends a response to `exchange`: block-wise when it is larger than a block, piggybacked when
    /// the request is still unacknowledged, otherwise separate.
    fn send_response(&mut self, exchange: IncomingExchange, response: Response) {
        let mut packet = Packet::new();
        packet.set_token(exchange.token.clone());
        self.write_first_block(
            exchange.peer,
            exchange.key.clone(),
            response,
            exchange.block2,
            &mut packet,
        );
        if let Some(block) = exchange.block1 {
            block.write(&mut packet, CoapOption::Block1);
        }
        self.send_reply(&exchange, packet);
    }

    /// Writes `response` into `packet`, or, when it does not fit one block, the block asked for
    /// (the first by default) while the whole is kept for the later blocks.
    fn write_first_block(
        &mut self,
        peer: SocketAddr,
        key: String,
        response: Response,
        asked: Option<Block>,
        packet: &mut Packet,
    ) {
        let size = self.block2_size(asked);
        let num = asked.map_or(0, |b| b.num);
        if response.payload.len() <= size && num == 0 {
            response.write_to(packet);
            return;
        }
        if let Some(more) = write_block2(&response, num, size, packet) {
            if more || num > 0 {
                self.blocks.keep_served(self.now, peer, key, response);
            }
        }
    }

    /// Answers a request for a later Block2 block from the response kept for its resource, by
    /// reference: a body of n blocks is not copied once per block. Returns false when no response
    /// is kept (the request then goes to the application).
    fn serve_kept_block(&mut self, exchange: &IncomingExchange, asked: Block) -> bool {
        let size = self.block2_size(Some(asked));
        let (peer, key) = (exchange.peer, exchange.key.as_str());
        let Some(response) = self.blocks.served(peer, key) else {
            return false;
        };
        let mut packet = Packet::new();
        packet.set_token(exchange.token.clone());
        if write_block2(response, asked.num, size, &mut packet).is_some() {
            self.blocks.keep_serving(self.now, peer, key);
        }
        if let Some(block) = exchange.block1 {
            block.write(&mut packet, CoapOption::Block1);
        }
        self.send_reply(exchange, packet);
        true
    }

    /// The Block2 size of our responses: the size the peer asked for, at most ours.
    fn block2_size(&self, asked: Option<Block>) -> usize {
        let ours = self.config.block_size;
        valid_size(asked.map_or(ours, |b| b.size.min(ours)))
    }

    /// Sends `packet` in the way the request calls for: piggybacked on the ACK of a confirmable
    /// request not yet acknowledged, as a separate confirmable response after an empty ACK, or
    /// non-confirmable to a non-confirmable request.
    fn send_reply(&mut self, exchange: &IncomingExchange, packet: Packet) {
        match (exchange.confirmable, exchange.acknowledged) {
            (true, false) => self.send_ack(exchange.peer, exchange.mid, packet),
            (true, true) => {
                self.send_confirmable(exchange.peer, packet, Purpose::SeparateResponse);
            }
            (false, _) => {
                self.send_non_confirmable(exchange.peer, packet);
            }
        }
    }
}

/// How long a client whose block passed the memory budget is asked to wait (the Max-Age of the
/// 5.03): meanwhile the bodies held finish, or expire when nobody extends them.
const BUSY_RETRY_SECS: u32 = 30;

/// Writes Block2 block `num` of `size` bytes of `response` into `packet`, and returns whether more
/// blocks follow; past the end of the body, writes 4.02 Bad Option instead and returns `None`.
fn write_block2(response: &Response, num: usize, size: usize, packet: &mut Packet) -> Option<bool> {
    let Some((data, more)) = Block::slice(&response.payload, num, size) else {
        Response::new(Status::BadOption).write_to(packet);
        return None;
    };
    response.write_with_payload(packet, data);
    Block { num, more, size }.write(packet, CoapOption::Block2);
    Some(more)
}
