//! Block-wise transfer (RFC 7959): the Block1/Block2 option values, and the bodies an endpoint is
//! serving or receiving block by block, within a memory budget.

use crate::message::{set_uint, uint, Response};
use coap_lite::{CoapOption, Packet};
use nbmodem_clock::Instant;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a body being served or received block by block is kept between two blocks.
const BODY_LIFETIME: Duration = Duration::from_secs(247);

/// The most bodies kept per peer in each direction. A client uploads or downloads one body at a
/// time; the bound stops one peer from holding the budget with transfers it never finishes (a
/// fifth one pushes out its least recently used).
const BODIES_PER_PEER: usize = 4;

/// A Block1 or Block2 option as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block {
    pub num: usize,
    pub more: bool,
    pub size: usize,
}

/// A Block option whose value is not one: longer than 3 bytes, or the reserved SZX 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadBlock;

impl Block {
    /// The block option in `packet`, if any. The value is read by hand: NUM has 20 bits (a 4 MB
    /// firmware image has 8 192 blocks of 512 bytes), which coap-lite's 16-bit `BlockValue`
    /// cannot hold.
    pub fn read(packet: &Packet, option: CoapOption) -> Result<Option<Block>, BadBlock> {
        let Some(raw) = packet.get_first_option(option) else {
            return Ok(None);
        };
        let value = uint(packet, option)
            .filter(|_| raw.len() <= 3)
            .ok_or(BadBlock)?;
        let exponent = value & 0b111;
        if exponent == 7 {
            return Err(BadBlock);
        }
        Ok(Some(Block {
            num: (value >> 4) as usize,
            more: value & 0b1000 != 0,
            size: 1 << (exponent + 4),
        }))
    }

    pub fn write(self, packet: &mut Packet, option: CoapOption) {
        // `size` is always a power of two from 16 to 1024 and `num` below 2^20: a bad value is
        // our bug, and writes no option.
        let exponent = self.size.trailing_zeros().wrapping_sub(4);
        let value = (self.num < 1 << 20 && self.size.is_power_of_two() && exponent <= 6)
            .then(|| (self.num as u32) << 4 | u32::from(self.more) << 3 | exponent);
        set_uint(packet, option, value);
    }

    /// Block `num` of `size` bytes of `body`, and whether more follow; `None` past the end.
    pub fn slice(body: &[u8], num: usize, size: usize) -> Option<(&[u8], bool)> {
        let start = num.checked_mul(size)?;
        if start > body.len() || (start == body.len() && start != 0) {
            return None;
        }
        let end = (start + size).min(body.len());
        Some((&body[start..end], end < body.len()))
    }

    /// Whether `payload` has the size this block declares: exactly its size when more follow, at
    /// most its size for the last block (RFC 7959 §2.2).
    pub fn fits(self, payload: &[u8]) -> bool {
        if self.more {
            payload.len() == self.size
        } else {
            payload.len() <= self.size
        }
    }
}

/// A block size we can use: a power of two from 16 to 1024.
pub(crate) fn valid_size(size: usize) -> usize {
    size.clamp(16, 1024).next_power_of_two().min(1024)
}

/// A response kept whole so that its later Block2 blocks can be served.
#[derive(Debug)]
struct Served {
    key: String,
    response: Response,
    expires: Instant,
}

/// A request body arriving block by block.
#[derive(Debug)]
struct Arriving {
    key: String,
    body: Vec<u8>,
    next: usize,
    size: usize,
    expires: Instant,
}

impl Served {
    fn bytes(&self) -> usize {
        self.key.len() + self.response.payload.len()
    }
}

impl Arriving {
    fn bytes(&self) -> usize {
        self.key.len() + self.body.capacity()
    }
}

/// Why a Block1 block was refused; the transfer is dropped either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Out of order, of another size than the first block, or with no transfer under way.
    OutOfOrder,
    /// The body would pass the size limit.
    TooLarge,
    /// The bodies of all peers together would pass the memory budget.
    Busy,
}

/// One peer's bodies in the middle of a block-wise transfer, by resource (path and query).
#[derive(Debug, Default)]
struct PeerBodies {
    served: Vec<Served>,
    arriving: Vec<Arriving>,
}

/// Bodies in the middle of a block-wise transfer, for every peer, and the bytes they hold. The
/// total stays within `budget`: a response that does not fit is not kept (its later blocks are
/// asked of the application again), an upload that does not fit is refused.
#[derive(Debug)]
pub(crate) struct BlockState {
    peers: HashMap<SocketAddr, PeerBodies>,
    held: usize,
    budget: usize,
}

impl BlockState {
    pub fn new(budget: usize) -> Self {
        BlockState {
            peers: HashMap::new(),
            held: 0,
            budget,
        }
    }

    /// The bytes held for all peers.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Keeps a whole response so that its later blocks can be served, if it fits the budget.
    pub fn keep_served(&mut self, now: Instant, peer: SocketAddr, key: String, response: Response) {
        self.forget_served(peer, &key);
        let served = Served {
            key,
            response,
            expires: now + BODY_LIFETIME,
        };
        let bodies = self.peers.entry(peer).or_default();
        if bodies.served.len() == BODIES_PER_PEER {
            let oldest = least_recent(&bodies.served, |s| s.expires);
            self.held -= bodies.served.swap_remove(oldest).bytes();
        }
        if self.held + served.bytes() <= self.budget {
            self.held += served.bytes();
            bodies.served.push(served);
        }
        self.drop_peer_if_empty(peer);
    }

    pub fn served(&self, peer: SocketAddr, key: &str) -> Option<&Response> {
        let bodies = self.peers.get(&peer)?;
        bodies
            .served
            .iter()
            .find(|s| s.key == key)
            .map(|s| &s.response)
    }

    /// Keeps the response being served to `peer` for another lifetime: a block of it was served.
    pub fn keep_serving(&mut self, now: Instant, peer: SocketAddr, key: &str) {
        let bodies = self.peers.get_mut(&peer);
        if let Some(served) = bodies.and_then(|b| b.served.iter_mut().find(|s| s.key == key)) {
            served.expires = now + BODY_LIFETIME;
        }
    }

    /// Adds block `block` of a request body, or refuses it and drops the transfer. The caller
    /// has checked that the block's payload has the size it declares.
    pub fn receive(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        key: &str,
        block: Block,
        data: &[u8],
        max: usize,
    ) -> Result<(), Refused> {
        if block.num == 0 {
            self.start_receiving(peer, key, block.size);
        }
        let result = self.extend(now, peer, key, block, data, max);
        if result.is_err() {
            self.finish_receiving(peer, key);
        }
        result
    }

    fn start_receiving(&mut self, peer: SocketAddr, key: &str, size: usize) {
        self.finish_receiving(peer, key);
        let bodies = self.peers.entry(peer).or_default();
        if bodies.arriving.len() == BODIES_PER_PEER {
            let oldest = least_recent(&bodies.arriving, |a| a.expires);
            self.held -= bodies.arriving.swap_remove(oldest).bytes();
        }
        let fresh = Arriving {
            key: key.to_string(),
            body: Vec::new(),
            next: 0,
            size,
            expires: Instant::default(),
        };
        self.held += fresh.bytes();
        bodies.arriving.push(fresh);
    }

    fn extend(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        key: &str,
        block: Block,
        data: &[u8],
        max: usize,
    ) -> Result<(), Refused> {
        let arriving = self
            .peers
            .get_mut(&peer)
            .and_then(|b| b.arriving.iter_mut().find(|a| a.key == key))
            .ok_or(Refused::OutOfOrder)?;
        if block.num != arriving.next || block.size != arriving.size {
            return Err(Refused::OutOfOrder);
        }
        if arriving.body.len() + data.len() > max {
            return Err(Refused::TooLarge);
        }
        let before = arriving.bytes();
        // Grown by at most one block: the capacity, which is what the budget counts, stays close
        // to the length.
        let grown = (arriving.body.len() + data.len()).max(arriving.body.capacity());
        if self.held - before + arriving.key.len() + grown > self.budget {
            return Err(Refused::Busy);
        }
        arriving.body.reserve_exact(data.len());
        arriving.body.extend_from_slice(data);
        arriving.next += 1;
        arriving.expires = now + BODY_LIFETIME;
        self.held = self.held - before + arriving.bytes();
        Ok(())
    }

    /// Takes the body received from `peer` for `key` out of the state (complete, or dropped).
    pub fn finish_receiving(&mut self, peer: SocketAddr, key: &str) -> Option<Vec<u8>> {
        let bodies = self.peers.get_mut(&peer)?;
        let index = bodies.arriving.iter().position(|a| a.key == key)?;
        let arriving = bodies.arriving.swap_remove(index);
        self.held -= arriving.bytes();
        self.drop_peer_if_empty(peer);
        Some(arriving.body)
    }

    fn forget_served(&mut self, peer: SocketAddr, key: &str) {
        let Some(bodies) = self.peers.get_mut(&peer) else {
            return;
        };
        if let Some(index) = bodies.served.iter().position(|s| s.key == key) {
            self.held -= bodies.served.swap_remove(index).bytes();
        }
    }

    fn drop_peer_if_empty(&mut self, peer: SocketAddr) {
        if let Some(bodies) = self.peers.get(&peer) {
            if bodies.served.is_empty() && bodies.arriving.is_empty() {
                self.peers.remove(&peer);
            }
        }
    }

    pub fn sweep(&mut self, now: Instant) {
        let mut freed = 0;
        self.peers.retain(|_, bodies| {
            bodies.served.retain(|s| {
                let keep = s.expires > now;
                freed += if keep { 0 } else { s.bytes() };
                keep
            });
            bodies.arriving.retain(|a| {
                let keep = a.expires > now;
                freed += if keep { 0 } else { a.bytes() };
                keep
            });
            !(bodies.served.is_empty() && bodies.arriving.is_empty())
        });
        self.held -= freed;
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

/// The index of the entry that expires first: the one used least recently.
fn least_recent<T>(entries: &[T], expires: impl Fn(&T) -> Instant) -> usize {
    (0..entries.len())
        .min_by_key(|&i| expires(&entries[i]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_a_body() {
        let body: Vec<u8> = (0..100).collect();
        assert_eq!(Block::slice(&body, 0, 64), Some((&body[..64], true)));
        assert_eq!(Block::slice(&body, 1, 64), Some((&body[64..], false)));
        assert_eq!(Block::slice(&body, 2, 64), None);
        assert_eq!(Block::slice(&[], 0, 16), Some((&[][..], false)));
        assert_eq!(Block::slice(&body, usize::MAX, 1024), None);
    }

    #[test]
    fn option_round_trip() {
        let mut packet = Packet::new();
        Block {
            num: 3,
            more: true,
            size: 512,
        }
        .write(&mut packet, CoapOption::Block2);
        assert_eq!(
            Block::read(&packet, CoapOption::Block2),
            Ok(Some(Block {
                num: 3,
                more: true,
                size: 512
            }))
        );
    }

    #[test]
    fn block_numbers_have_twenty_bits() {
        let mut packet = Packet::new();
        let block = Block {
            num: (1 << 20) - 1,
            more: false,
            size: 1024,
        };
        block.write(&mut packet, CoapOption::Block2);
        assert_eq!(
            packet.get_first_option(CoapOption::Block2).unwrap().len(),
            3
        );
        assert_eq!(Block::read(&packet, CoapOption::Block2), Ok(Some(block)));
    }

    #[test]
    fn reserved_size_and_long_values_are_bad() {
        let mut packet = Packet::new();
        packet.add_option(CoapOption::Block1, vec![0x07]);
        assert_eq!(Block::read(&packet, CoapOption::Block1), Err(BadBlock));
        packet.clear_option(CoapOption::Block1);
        packet.add_option(CoapOption::Block1, vec![0, 0, 0, 0x10]);
        assert_eq!(Block::read(&packet, CoapOption::Block1), Err(BadBlock));
        assert_eq!(Block::read(&packet, CoapOption::Block2), Ok(None));
    }

    #[test]
    fn a_block_fits_its_declared_size() {
        let block = |more| Block {
            num: 0,
            more,
            size: 16,
        };
        assert!(block(true).fits(&[0; 16]));
        assert!(!block(true).fits(&[0; 15]));
        assert!(!block(true).fits(&[0; 17]));
        assert!(block(false).fits(&[0; 3]));
        assert!(!block(false).fits(&[0; 60_000]));
    }

    fn peer(n: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], n))
    }

    fn first(size: usize) -> Block {
        Block {
            num: 0,
            more: true,
            size,
        }
    }

    #[test]
    fn a_peer_keeps_at_most_four_uploads() {
        let mut state = BlockState::new(1 << 20);
        let now = Instant::from_unix_millis(0);
        for k in 0..10 {
            let key = format!("/nb?k={k}");
            assert_eq!(
                state.receive(now, peer(1), &key, first(16), &[0; 16], 1000),
                Ok(())
            );
        }
        assert_eq!(state.peers[&peer(1)].arriving.len(), BODIES_PER_PEER);
        assert!(state.held() <= BODIES_PER_PEER * (16 + 8));
        let next = Block {
            num: 1,
            ..first(16)
        };
        assert_eq!(
            state.receive(now, peer(1), "/nb?k=9", next, &[0; 16], 1000),
            Ok(())
        );
        assert_eq!(
            state.receive(now, peer(1), "/nb?k=0", next, &[0; 16], 1000),
            Err(Refused::OutOfOrder),
            "the oldest upload was pushed out"
        );
    }

    #[test]
    fn all_peers_together_stay_within_the_budget() {
        let mut state = BlockState::new(10_000);
        let now = Instant::from_unix_millis(0);
        let mut busy = 0;
        for n in 0..1000 {
            if state.receive(now, peer(n), "/up", first(64), &[0; 64], 1000) == Err(Refused::Busy) {
                busy += 1;
            }
            assert!(state.held() <= 10_000);
        }
        assert!(busy > 800, "{busy} refused");
        state.sweep(now + BODY_LIFETIME);
        assert_eq!(state.held(), 0);
        assert!(state.is_empty());
    }

    #[test]
    fn a_response_that_does_not_fit_is_not_kept() {
        let mut state = BlockState::new(100);
        let now = Instant::from_unix_millis(0);
        let big = Response::new(crate::Status::Content).with_payload(0, vec![0; 200]);
        state.keep_served(now, peer(1), "/fw".into(), big);
        assert!(state.served(peer(1), "/fw").is_none());
        assert_eq!(state.held(), 0);
        let small = Response::new(crate::Status::Content).with_payload(0, vec![0; 50]);
        state.keep_served(now, peer(1), "/fw".into(), small);
        assert!(state.served(peer(1), "/fw").is_some());
        assert_eq!(state.held(), 53);
        state.finish_receiving(peer(1), "/fw");
        state.sweep(now + BODY_LIFETIME);
        assert_eq!(state.held(), 0);
    }

    #[test]
    fn sizes_are_powers_of_two_in_range() {
        assert_eq!(valid_size(1000), 1024);
        assert_eq!(valid_size(4096), 1024);
        assert_eq!(valid_size(1), 16);
        assert_eq!(valid_size(512), 512);
    }
}
