//! Block-wise transfer (RFC 7959): the Block1/Block2 option values, and the bodies an endpoint is
//! serving or receiving block by block.

use crate::message::Response;
use coap_lite::block_handler::BlockValue;
use coap_lite::{CoapOption, Packet};
use nbmodem_clock::Instant;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a body being served or received block by block is kept between two blocks.
const BODY_LIFETIME: Duration = Duration::from_secs(247);

/// A Block1 or Block2 option as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block {
    pub num: usize,
    pub more: bool,
    pub size: usize,
}

impl Block {
    pub fn read(packet: &Packet, option: CoapOption) -> Option<Block> {
        let value: BlockValue = packet.get_first_option_as(option)?.ok()?;
        Some(Block {
            num: usize::from(value.num),
            more: value.more,
            size: 1 << (value.size_exponent + 4),
        })
    }

    pub fn write(self, packet: &mut Packet, option: CoapOption) {
        packet.clear_option(option);
        // `size` is always a power of two from 16 to 1024 and `num` fits: a bad value is our bug.
        if let Ok(value) = BlockValue::new(self.num, self.more, self.size) {
            packet.add_option_as(option, value);
        }
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
}

/// A block size we can use: a power of two from 16 to 1024.
pub(crate) fn valid_size(size: usize) -> usize {
    size.clamp(16, 1024).next_power_of_two().min(1024)
}

#[derive(Debug)]
struct Served {
    response: Response,
    expires: Instant,
}

#[derive(Debug)]
struct Arriving {
    body: Vec<u8>,
    next: usize,
    size: usize,
    expires: Instant,
}

/// Why a Block1 block was refused; the transfer is dropped either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Out of order, of another size than the first block, or with no transfer under way.
    OutOfOrder,
    /// The body would pass the size limit.
    TooLarge,
}

/// Bodies in the middle of a block-wise transfer, by peer and resource (path and query).
#[derive(Debug, Default)]
pub(crate) struct BlockState {
    served: HashMap<(SocketAddr, String), Served>,
    arriving: HashMap<(SocketAddr, String), Arriving>,
}

impl BlockState {
    /// Keeps a whole response so that its later blocks can be served.
    pub fn keep_served(&mut self, now: Instant, peer: SocketAddr, key: String, response: Response) {
        self.served.insert(
            (peer, key),
            Served {
                response,
                expires: now + BODY_LIFETIME,
            },
        );
    }

    pub fn served(&self, peer: SocketAddr, key: &str) -> Option<&Response> {
        self.served
            .get(&(peer, key.to_string()))
            .map(|s| &s.response)
    }

    /// Keeps the response being served to `peer` for another lifetime: a block of it was served.
    pub fn keep_serving(&mut self, now: Instant, peer: SocketAddr, key: &str) {
        if let Some(served) = self.served.get_mut(&(peer, key.to_string())) {
            served.expires = now + BODY_LIFETIME;
        }
    }

    /// Adds block `block` of a request body, or refuses it and drops the transfer.
    pub fn receive(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        key: String,
        block: Block,
        data: &[u8],
        max: usize,
    ) -> Result<(), Refused> {
        let slot = (peer, key);
        if block.num == 0 {
            let fresh = Arriving {
                body: Vec::new(),
                next: 0,
                size: block.size,
                expires: now,
            };
            self.arriving.insert(slot.clone(), fresh);
        }
        let Some(arriving) = self.arriving.get_mut(&slot) else {
            return Err(Refused::OutOfOrder);
        };
        let refused = if block.num != arriving.next || block.size != arriving.size {
            Some(Refused::OutOfOrder)
        } else if arriving.body.len() + data.len() > max {
            Some(Refused::TooLarge)
        } else {
            None
        };
        if let Some(refused) = refused {
            self.arriving.remove(&slot);
            return Err(refused);
        }
        arriving.body.extend_from_slice(data);
        arriving.next += 1;
        arriving.expires = now + BODY_LIFETIME;
        Ok(())
    }

    pub fn finish_receiving(&mut self, peer: SocketAddr, key: &str) -> Option<Vec<u8>> {
        self.arriving
            .remove(&(peer, key.to_string()))
            .map(|a| a.body)
    }

    pub fn sweep(&mut self, now: Instant) {
        self.served.retain(|_, s| s.expires > now);
        self.arriving.retain(|_, a| a.expires > now);
    }

    pub fn is_empty(&self) -> bool {
        self.served.is_empty() && self.arriving.is_empty()
    }
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
            Some(Block {
                num: 3,
                more: true,
                size: 512
            })
        );
    }

    #[test]
    fn sizes_are_powers_of_two_in_range() {
        assert_eq!(valid_size(1000), 1024);
        assert_eq!(valid_size(4096), 1024);
        assert_eq!(valid_size(1), 16);
        assert_eq!(valid_size(512), 512);
    }
}
