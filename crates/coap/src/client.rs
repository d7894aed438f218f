//! The client side: requests we send, their responses, block-wise bodies in both directions, and
//! observations we register (RFC 7641 §3).

use crate::block::{valid_size, Block};
use crate::endpoint::{Endpoint, Event, ExchangeError, Purpose, RequestId, Timer, Token};
use crate::message::{Request, Response, Status};
use coap_lite::{CoapOption, MessageType, Packet};
use nbmodem_clock::Instant;
use std::net::SocketAddr;
use std::time::Duration;

/// Where an exchange is in a block-wise transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Sending the request, or its next Block1 block starting at this offset.
    Sending { offset: usize },
    /// Fetching Block2 block `num` of the response.
    Fetching { num: usize, size: usize },
}

#[derive(Debug)]
pub(crate) struct ClientExchange {
    peer: SocketAddr,
    token: Token,
    request: Request,
    confirmable: bool,
    stage: Stage,
    /// The response body so far, during a Block2 transfer.
    body: Vec<u8>,
    /// The Observe value of a notification whose body is still being fetched block by block.
    notification_sequence: Option<u32>,
    response_deadline: Option<Instant>,
    /// With a total timeout ([`crate::TransmissionParams::exchange_timeout`]): when the request
    /// now in flight fails unless answered.
    give_up_at: Option<Instant>,
    /// Observe registration accepted; later responses are notifications.
    observing: bool,
    /// A download: each Block2 block is delivered as it comes ([`Event::Block`]) instead of
    /// being gathered into one response.
    by_block: bool,
    /// The last notification's sequence number and arrival, for the freshness rule.
    last_notification: Option<(u32, Instant)>,
}

/// RFC 7641 §3.4: after this long, a notification is fresh whatever its sequence number.
const FRESHNESS_WINDOW: Duration = Duration::from_secs(128);

impl Endpoint {
    /// Sends `request` to `peer`, confirmable or not. Its outcome comes as [`Event::Response`] (and
    /// [`Event::Notification`]s for an Observe registration) or [`Event::RequestFailed`]. A payload
    /// larger than the block size is sent block-wise.
    pub fn request(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        request: Request,
        confirmable: bool,
    ) -> RequestId {
        let stage = Stage::Sending { offset: 0 };
        self.start_exchange(now, peer, request, confirmable, stage, false)
    }

    /// Fetches the representation `request` asks for block by block (RFC 7959 Block2), starting
    /// at block `start` of `size` bytes (a power of two from 16 to 1024): resuming a download
    /// after a power cut is asking for the next block not yet stored. Each block comes as
    /// [`Event::Block`] as it arrives; the exchange ends with [`Event::Response`] carrying the
    /// last response without its payload (or an error response), or [`Event::RequestFailed`].
    pub fn download(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        request: Request,
        start: usize,
        size: usize,
    ) -> RequestId {
        let stage = Stage::Fetching {
            num: start,
            size: valid_size(size),
        };
        self.start_exchange(now, peer, request, true, stage, true)
    }

    fn start_exchange(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        request: Request,
        confirmable: bool,
        stage: Stage,
        by_block: bool,
    ) -> RequestId {
        self.now = now;
        let id = RequestId(self.next_id());
        let token = self.new_token(peer);
        self.client_tokens.insert((peer, token), id);
        let exchange = ClientExchange {
            peer,
            token,
            request,
            confirmable,
            stage,
            body: Vec::new(),
            notification_sequence: None,
            response_deadline: None,
            give_up_at: None,
            observing: false,
            by_block,
            last_notification: None,
        };
        self.client.insert(id, Box::new(exchange));
        self.send_stage(id);
        id
    }

    /// Ends an observation we registered, proactively: a GET with Observe=1 on the same token. Its
    /// response comes as [`Event::Response`].
    pub fn cancel_observation(&mut self, now: Instant, id: RequestId) {
        self.now = now;
        let Some(ex) = self.client.get_mut(&id) else {
            return;
        };
        ex.observing = false;
        ex.request.observe = Some(1);
        ex.request.payload.clear();
        ex.stage = Stage::Sending { offset: 0 };
        self.send_stage(id);
    }

    /// Registers an observation again (RFC 7641 §3.3.1): the same GET with Observe=0, same token.
    pub fn reregister(&mut self, now: Instant, id: RequestId) {
        self.now = now;
        let Some(ex) = self.client.get_mut(&id) else {
            return;
        };
        ex.stage = Stage::Sending { offset: 0 };
        self.send_stage(id);
    }

    /// Forgets a request or observation: no event will come for it, and later notifications are
    /// answered with a Reset (RFC 7641 §3.6, reactive cancellation).
    pub fn forget(&mut self, id: RequestId) {
        self.remove_exchange(id);
        self.abandon(Purpose::Request(id));
    }

    /// The token of an observation we registered ([`Endpoint::request`] with Observe=0, answered),
    /// to keep across a restart of the peer: a device that reboots into new firmware notifies
    /// the result on the token it saved (protocols.md §5).
    pub fn observation_token(&self, id: RequestId) -> Option<Vec<u8>> {
        let ex = self.client.get(&id)?;
        ex.observing.then(|| ex.token.as_slice().to_vec())
    }

    /// Takes back an observation of `request`'s resource at `peer` on `token`, registered before
    /// (and kept with [`Endpoint::observation_token`]), without sending anything: its
    /// notifications come as [`Event::Notification`], and [`Endpoint::cancel_observation`] ends
    /// it. A token already in use for `peer` is taken over; one longer than 8 bytes, which no
    /// CoAP message carries, is cut to 8.
    pub fn restore_observation_of(
        &mut self,
        peer: SocketAddr,
        token: Vec<u8>,
        request: Request,
    ) -> RequestId {
        let id = RequestId(self.next_id());
        let token = Token::new(&token);
        if let Some(old) = self.client_tokens.insert((peer, token), id) {
            self.client.remove(&old);
            self.removed = true;
        }
        let exchange = ClientExchange {
            peer,
            token,
            request: request.with_observe(0),
            confirmable: true,
            stage: Stage::Sending { offset: 0 },
            body: Vec::new(),
            notification_sequence: None,
            response_deadline: None,
            give_up_at: None,
            observing: true,
            by_block: false,
            last_notification: None,
        };
        self.client.insert(id, Box::new(exchange));
        id
    }

    /// Sends the message the exchange's stage calls for.
    fn send_stage(&mut self, id: RequestId) {
        let block_size = valid_size(self.config.block_size);
        let Some(ex) = self.client.get(&id) else {
            return;
        };
        let mut packet = Packet::new();
        packet.set_token(ex.token.as_slice().to_vec());
        let (peer, confirmable, stage) = (ex.peer, ex.confirmable, ex.stage);
        match stage {
            Stage::Sending { offset } => {
                // The options only: a block-wise body is sliced, never copied whole per block.
                ex.request.write_options_to(&mut packet);
                if ex.request.payload.len() > block_size {
                    let num = offset / block_size;
                    if let Some((data, more)) = Block::slice(&ex.request.payload, num, block_size) {
                        packet.payload = data.to_vec();
                        Block {
                            num,
                            more,
                            size: block_size,
                        }
                        .write(&mut packet, CoapOption::Block1);
                    }
                } else {
                    packet.payload = ex.request.payload.clone();
                }
            }
            Stage::Fetching { num, size } => {
                // RFC 7959 §2.4: the same options as the initial request (servers key the
                // transfer on them), without the body and without registering again.
                let mut continuation = Request {
                    payload: Vec::new(),
                    ..ex.request.clone()
                };
                continuation.observe = None;
                continuation.write_options_to(&mut packet);
                Block {
                    num,
                    more: false,
                    size,
                }
                .write(&mut packet, CoapOption::Block2);
            }
        }
        let sent = if confirmable {
            self.send_confirmable(peer, packet, Purpose::Request(id))
        } else {
            self.send_non_confirmable(peer, packet)
        };
        match sent {
            // Left in place, an exchange with nothing in flight and no timer would never end.
            None => self.fail_request(id, ExchangeError::Unencodable),
            Some(_) => {
                if stage == (Stage::Sending { offset: 0 }) {
                    self.start_total_timeout(id);
                }
                if !confirmable {
                    self.await_response(id);
                }
            }
        }
    }

    /// A new request round (the request, a re-registration, a cancel) went out: with a total
    /// timeout, it fails that long from now unless answered.
    fn start_total_timeout(&mut self, id: RequestId) {
        let Some(total) = self.config.params.exchange_timeout else {
            return;
        };
        let at = self.now + total;
        if let Some(ex) = self.client.get_mut(&id) {
            ex.give_up_at = Some(at);
        }
        self.set_deadline(id, at);
    }

    /// Whether the request `id` waits for its total timeout rather than failing when its last
    /// retransmission goes unacknowledged.
    pub(crate) fn has_total_timeout(&self, id: RequestId) -> bool {
        self.client
            .get(&id)
            .and_then(|ex| ex.give_up_at)
            .is_some_and(|at| at > self.now)
    }

    /// An empty ACK came: the response will be separate.
    pub(crate) fn request_acknowledged(&mut self, id: RequestId) {
        self.await_response(id);
    }

    /// Waits for a (separate) response, within the total timeout if there is one.
    fn await_response(&mut self, id: RequestId) {
        let separate = self.now + self.config.params.separate_response_timeout;
        let Some(ex) = self.client.get(&id) else {
            return;
        };
        let at = ex.give_up_at.map_or(separate, |total| total.min(separate));
        self.set_deadline(id, at);
    }

    fn set_deadline(&mut self, id: RequestId, at: Instant) {
        let Some(ex) = self.client.get_mut(&id) else {
            return;
        };
        if let Some(old) = ex.response_deadline.replace(at) {
            self.cancel_timer(old, Timer::ResponseDeadline(id));
        }
        self.set_timer(at, Timer::ResponseDeadline(id));
    }

    fn clear_deadline(&mut self, id: RequestId) {
        let Some(ex) = self.client.get_mut(&id) else {
            return;
        };
        ex.give_up_at = None;
        if let Some(at) = ex.response_deadline.take() {
            self.cancel_timer(at, Timer::ResponseDeadline(id));
        }
    }

    /// A response (piggybacked or separate) or a notification arrived. Returns whether its token
    /// belongs to one of our exchanges.
    pub(crate) fn response_received(&mut self, peer: SocketAddr, packet: &Packet) -> bool {
        let token = packet.get_token();
        let Some(&id) = (token.len() <= 8)
            .then(|| self.client_tokens.get(&(peer, Token::new(token))))
            .flatten()
        else {
            return false;
        };
        let Some(response) = Response::from_packet(packet) else {
            return true;
        };
        self.clear_deadline(id);
        if self.continue_block1(id, &response) || self.continue_block2(id, &response, packet) {
            return true;
        }
        let had_block2 = Block::read(packet, CoapOption::Block2) != Ok(None);
        let separate = packet.header.get_type() != MessageType::Acknowledgement;
        self.deliver(id, response, had_block2, separate);
        true
    }

    /// 2.31 Continue to a Block1 block: sends the next one. (A server may ask for smaller blocks,
    /// RFC 7959 §2.5; we keep our size, which a server must accept.)
    fn continue_block1(&mut self, id: RequestId, response: &Response) -> bool {
        let block_size = valid_size(self.config.block_size);
        let Some(ex) = self.client.get_mut(&id) else {
            return false;
        };
        let (Stage::Sending { offset }, Status::Continue) = (ex.stage, response.status) else {
            return false;
        };
        ex.stage = Stage::Sending {
            offset: offset + block_size,
        };
        self.send_stage(id);
        true
    }

    /// A Block2 block with more to come: keeps it and asks for the next.
    fn continue_block2(&mut self, id: RequestId, response: &Response, packet: &Packet) -> bool {
        let max = self.config.max_body_size;
        let block = match Block::read(packet, CoapOption::Block2) {
            Ok(Some(block)) => block,
            Ok(None) => return false,
            Err(_) => {
                self.fail_request(id, ExchangeError::BlockTransfer);
                return true;
            }
        };
        let Some(ex) = self.client.get_mut(&id) else {
            return false;
        };
        let expected = match ex.stage {
            Stage::Fetching { num, .. } => num,
            Stage::Sending { .. } => 0,
        };
        let too_large = !ex.by_block && ex.body.len() + response.payload.len() > max;
        if block.num != expected || too_large {
            self.fail_request(id, ExchangeError::BlockTransfer);
            return true;
        }
        if ex.by_block {
            self.push_event(Event::Block {
                id,
                num: block.num,
                size: block.size,
                more: block.more,
                payload: response.payload.clone(),
            });
            let Some(ex) = self.client.get_mut(&id) else {
                return true;
            };
            if !block.more {
                return false;
            }
            ex.stage = Stage::Fetching {
                num: block.num + 1,
                size: block.size,
            };
            self.send_stage(id);
            return true;
        }
        if !block.more {
            return false;
        }
        if expected == 0 {
            ex.notification_sequence = response.observe;
        }
        ex.body.extend_from_slice(&response.payload);
        ex.stage = Stage::Fetching {
            num: block.num + 1,
            size: block.size,
        };
        self.send_stage(id);
        true
    }

    /// A whole response: the first response, a notification, or the end of the exchange.
    /// `separate`: it came in a message of its own, not piggybacked on an acknowledgement.
    fn deliver(&mut self, id: RequestId, mut response: Response, had_block2: bool, separate: bool) {
        let now = self.now;
        if !self.finish_download(id, &mut response, had_block2) {
            return;
        }
        let Some(ex) = self.client.get_mut(&id) else {
            return;
        };
        // An error in the middle of a Block2 transfer is delivered as it is.
        let body = std::mem::take(&mut ex.body);
        if !body.is_empty() && response.is_success() {
            response.payload = [body, response.payload].concat();
        }
        if let Some(sequence) = ex.notification_sequence.take() {
            response.observe = Some(sequence);
        }
        ex.stage = Stage::Sending { offset: 0 };
        let registering = ex.request.observe == Some(0);
        match (
            registering,
            response.observe.filter(|_| response.is_success()),
        ) {
            (true, Some(sequence)) => {
                let fresh = ex
                    .last_notification
                    .is_none_or(|(last, at)| is_fresh(last, at, sequence, now));
                let first = !ex.observing;
                ex.observing = true;
                if fresh {
                    ex.last_notification = Some((sequence, now));
                    if first {
                        // A notification the peer sent on its own answered the registration
                        // (its piggybacked answer was lost): it registers the observation and is
                        // a notification all the same, whose content must not be lost.
                        if separate {
                            let notification = response.clone();
                            self.push_event(Event::Response { id, response });
                            self.push_event(Event::Notification {
                                id,
                                response: notification,
                            });
                        } else {
                            self.push_event(Event::Response { id, response });
                        }
                    } else {
                        self.push_event(Event::Notification { id, response });
                    }
                }
            }
            _ => {
                self.remove_exchange(id);
                self.push_event(Event::Response { id, response });
            }
        }
    }

    /// The end of a download ([`Endpoint::download`]): its blocks went out as events, so the
    /// final response goes without a payload; a representation that came whole, in one message
    /// with no Block2 option, is its only block (or a failure, when a later block was asked for).
    /// Returns whether the response is still to be delivered.
    fn finish_download(
        &mut self,
        id: RequestId,
        response: &mut Response,
        had_block2: bool,
    ) -> bool {
        let Some(ex) = self.client.get(&id) else {
            return false;
        };
        if !ex.by_block || !response.is_success() {
            return true;
        }
        let payload = std::mem::take(&mut response.payload);
        if had_block2 {
            return true;
        }
        match ex.stage {
            Stage::Fetching { num: 0, size } => self.push_event(Event::Block {
                id,
                num: 0,
                size,
                more: false,
                payload,
            }),
            _ => {
                self.fail_request(id, ExchangeError::BlockTransfer);
                return false;
            }
        }
        true
    }

    pub(crate) fn fail_request(&mut self, id: RequestId, error: ExchangeError) {
        if self.remove_exchange(id) {
            self.abandon(Purpose::Request(id));
            self.push_event(Event::RequestFailed { id, error });
        }
    }

    fn remove_exchange(&mut self, id: RequestId) -> bool {
        self.clear_deadline(id);
        match self.client.remove(&id) {
            Some(ex) => {
                self.client_tokens.remove(&(ex.peer, ex.token));
                self.removed = true;
                true
            }
            None => false,
        }
    }
}

/// RFC 7641 §3.4: whether notification `new` is newer than `last`, received at `last_at`.
fn is_fresh(last: u32, last_at: Instant, new: u32, now: Instant) -> bool {
    const HALF: u32 = 1 << 23;
    (last < new && new - last < HALF)
        || (last > new && last - new > HALF)
        || now.saturating_since(last_at) > FRESHNESS_WINDOW
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_rule_of_rfc_7641() {
        let t = Instant::from_unix_millis(1_000_000);
        assert!(is_fresh(5, t, 6, t));
        assert!(!is_fresh(6, t, 5, t));
        assert!(is_fresh(0xFF_FFF0, t, 2, t), "24-bit wrap-around");
        assert!(
            is_fresh(6, t, 5, t + Duration::from_secs(129)),
            "old enough to trust"
        );
    }
}
