//! The one seeded random generator of nbmodem: message IDs, tokens, retransmission jitter, the
//! in-memory network's loss and delay, test data. Seeded by the caller, so that a simulation in
//! virtual time repeats exactly, run after run; not for secrets (keys and passwords come from
//! OpenSSL).

/// 2^64 divided by the golden ratio: SplitMix64's increment.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (Steele, Lea and Flood): a bijection on u64 in which each input
/// bit flips about half of the output bits.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(GOLDEN_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xorshift64* (Marsaglia; Vigna's multiplier).
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    /// A generator whose stream depends on every bit of `seed`: seeds that differ in one bit (two
    /// engines started a millisecond apart) give unrelated streams.
    pub fn new(seed: u64) -> Self {
        let state = mix(seed);
        // Zero is the one state xorshift never leaves.
        SeededRng(if state == 0 { GOLDEN_GAMMA } else { state })
    }

    /// A seed for another generator (a new protocol engine), drawn from this one so that no two
    /// engines of a run share a stream.
    pub fn fork(&mut self) -> u64 {
        self.next_u64()
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A value in [0, n) (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeatable_and_spread() {
        let (mut a, mut b) = (SeededRng::new(7), SeededRng::new(7));
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(SeededRng::new(1).next_u64(), SeededRng::new(2).next_u64());
        assert!((0..1000).map(|_| a.unit()).all(|u| (0.0..1.0).contains(&u)));
        assert!((0..1000).all(|_| a.below(10) < 10));
        assert_eq!(a.below(0), 0);
    }

    #[test]
    fn seeds_one_bit_apart_give_unrelated_streams() {
        for seed in [0u64, 1, 0x9E37_79B9_7F4A_7C15, u64::MAX, 1_765_000_000_000] {
            let (mut a, mut b) = (SeededRng::new(seed), SeededRng::new(seed ^ 1));
            let same = (0..64).filter(|_| a.next_u64() == b.next_u64()).count();
            assert_eq!(same, 0, "seed {seed:#x}");
            let (mut a, mut b) = (SeededRng::new(seed), SeededRng::new(seed ^ 1));
            // The first draws differ in about half their bits, not in a few.
            let flipped = (a.next_u64() ^ b.next_u64()).count_ones();
            assert!(
                (16..=48).contains(&flipped),
                "seed {seed:#x}: {flipped} bits"
            );
        }
    }

    #[test]
    fn forked_seeds_differ_from_each_other_and_the_parent() {
        let mut parent = SeededRng::new(3);
        let seeds: Vec<u64> = (0..100).map(|_| parent.fork()).collect();
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), seeds.len());
        let mut child = SeededRng::new(seeds[0]);
        assert_ne!(child.next_u64(), parent.next_u64());
    }
}
