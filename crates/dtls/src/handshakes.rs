//! A server's unfinished handshakes: how many it keeps, how they are shared between sources, and
//! when they expire.
//!
//! A handshake begins when a ClientHello returns its cookie, which only proves that the peer
//! receives at its address, not that it has a key. So a handshake is held briefly
//! ([`ServerLimits::handshake_timeout`]), and the slots ([`ServerLimits::max_handshakes`]) are
//! shared by source: one source holds at most [`ServerLimits::max_handshakes_per_source`], and
//! when every slot is taken, a newcomer whose source holds fewer than the largest holder takes the
//! slot of that holder's oldest handshake (among equal holders, the oldest of all). A flood from a
//! few addresses therefore keeps nobody else out; one from more addresses than there are slots
//! only shortens each handshake's life to the time the flood takes to send that many hellos (3.4
//! s for the 1 100 hellos in 3.8 s of issue 16), which still leaves a device with the key time for
//! its round trip.
//!
//! A source is an IPv4 address, or the /64 prefix of an IPv6 address: a host is commonly given a
//! whole /64, so its addresses cost it nothing.

use crate::secure::ServerLimits;
use nbmodem_clock::Instant;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// What to do with a verified ClientHello, as far as the handshake slots go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// There is a slot.
    Admit,
    /// There is one once this peer's handshake is dropped.
    AdmitDisplacing(SocketAddr),
    /// No slot: the ClientHello is dropped (the client sends it again).
    Refuse,
}

/// The handshakes in progress, by start time and by source.
#[derive(Debug, Default)]
pub(crate) struct Handshakes {
    started: HashMap<SocketAddr, Instant>,
    /// The same, oldest first.
    by_age: BTreeSet<(Instant, SocketAddr)>,
    per_source: BTreeMap<IpAddr, usize>,
}

impl Handshakes {
    pub(crate) fn len(&self) -> usize {
        self.started.len()
    }

    /// Whether a handshake from `peer` (which has none in progress) gets a slot.
    pub(crate) fn admission(&self, peer: SocketAddr, limits: &ServerLimits) -> Admission {
        let own = self.held_by(source_of(peer));
        if own >= limits.max_handshakes_per_source {
            return Admission::Refuse;
        }
        if self.len() < limits.max_handshakes {
            return Admission::Admit;
        }
        // Full: a slot of the largest holders' is fair game for a source holding fewer.
        let most = self.per_source.values().copied().max().unwrap_or(0);
        if most <= own {
            return Admission::Refuse;
        }
        self.by_age
            .iter()
            .map(|(_, peer)| *peer)
            .find(|peer| self.held_by(source_of(*peer)) == most)
            .map_or(Admission::Refuse, Admission::AdmitDisplacing)
    }

    pub(crate) fn insert(&mut self, peer: SocketAddr, now: Instant) {
        self.remove(peer);
        self.started.insert(peer, now);
        self.by_age.insert((now, peer));
        *self.per_source.entry(source_of(peer)).or_default() += 1;
    }

    /// Forgets `peer`'s handshake (finished, failed or dropped), if it has one.
    pub(crate) fn remove(&mut self, peer: SocketAddr) {
        let Some(started) = self.started.remove(&peer) else {
            return;
        };
        self.by_age.remove(&(started, peer));
        let source = source_of(peer);
        if let Some(held) = self.per_source.get_mut(&source) {
            *held -= 1;
            if *held == 0 {
                self.per_source.remove(&source);
            }
        }
        shrink_if_sparse(&mut self.started);
    }

    /// When the oldest handshake runs out of time.
    pub(crate) fn next_expiry(&self, limits: &ServerLimits) -> Option<Instant> {
        let (started, _) = self.by_age.first()?;
        Some(*started + limits.handshake_timeout)
    }

    /// The peers whose handshake has run out of time at `now`.
    pub(crate) fn expired(&self, now: Instant, limits: &ServerLimits) -> Vec<SocketAddr> {
        self.by_age
            .iter()
            .take_while(|(started, _)| *started + limits.handshake_timeout <= now)
            .map(|(_, peer)| *peer)
            .collect()
    }

    fn held_by(&self, source: IpAddr) -> usize {
        self.per_source.get(&source).copied().unwrap_or(0)
    }
}

/// The source a peer's handshakes count against: its IPv4 address (also when written as an
/// IPv4-mapped IPv6 address), or the /64 prefix of its IPv6 address.
pub(crate) fn source_of(peer: SocketAddr) -> IpAddr {
    match peer.ip() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// Gives a map's memory back once it holds far fewer entries than it has room for (after a
/// flood), without reallocating at every removal.
pub(crate) fn shrink_if_sparse<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>) {
    if map.capacity() > 64 && map.len() < map.capacity() / 4 {
        map.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(max: usize, per_source: usize) -> ServerLimits {
        ServerLimits {
            max_handshakes: max,
            max_handshakes_per_source: per_source,
            handshake_timeout: Duration::from_secs(10),
            ..ServerLimits::default()
        }
    }

    fn peer(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn at(s: u64) -> Instant {
        Instant::from_unix_millis(s * 1000)
    }

    #[test]
    fn a_source_holds_at_most_its_share() {
        let mut h = Handshakes::default();
        let limits = limits(10, 2);
        h.insert(peer("10.0.0.1:1"), at(0));
        assert_eq!(h.admission(peer("10.0.0.1:2"), &limits), Admission::Admit);
        h.insert(peer("10.0.0.1:2"), at(0));
        assert_eq!(h.admission(peer("10.0.0.1:3"), &limits), Admission::Refuse);
        assert_eq!(h.admission(peer("10.0.0.2:3"), &limits), Admission::Admit);
        h.remove(peer("10.0.0.1:1"));
        assert_eq!(h.admission(peer("10.0.0.1:3"), &limits), Admission::Admit);
    }

    #[test]
    fn when_full_the_largest_source_gives_up_its_oldest() {
        let mut h = Handshakes::default();
        let limits = limits(4, 4);
        for (port, second) in [(1, 5), (2, 3), (3, 4)] {
            h.insert(peer(&format!("10.0.0.1:{port}")), at(second));
        }
        h.insert(peer("10.0.0.2:1"), at(0));
        assert_eq!(
            h.admission(peer("10.0.0.3:1"), &limits),
            Admission::AdmitDisplacing(peer("10.0.0.1:2"))
        );
        assert_eq!(
            h.admission(peer("10.0.0.2:2"), &limits),
            Admission::AdmitDisplacing(peer("10.0.0.1:2"))
        );
        // The largest holder gains nothing from its equals, nor from itself.
        h.remove(peer("10.0.0.1:2"));
        h.insert(peer("10.0.0.2:2"), at(6));
        assert_eq!(h.admission(peer("10.0.0.2:3"), &limits), Admission::Refuse);
        assert_eq!(h.admission(peer("10.0.0.1:9"), &limits), Admission::Refuse);
    }

    #[test]
    fn among_equal_holders_the_oldest_handshake_of_all_goes() {
        let mut h = Handshakes::default();
        let limits = limits(3, 4);
        h.insert(peer("10.0.0.1:1"), at(2));
        h.insert(peer("10.0.0.2:1"), at(1));
        h.insert(peer("10.0.0.3:1"), at(3));
        assert_eq!(
            h.admission(peer("10.0.0.4:1"), &limits),
            Admission::AdmitDisplacing(peer("10.0.0.2:1"))
        );
        assert_eq!(h.admission(peer("10.0.0.1:2"), &limits), Admission::Refuse);
    }

    #[test]
    fn no_slot_at_all_admits_nobody() {
        let h = Handshakes::default();
        assert_eq!(
            h.admission(peer("10.0.0.1:1"), &limits(0, 4)),
            Admission::Refuse
        );
        assert_eq!(
            h.admission(peer("10.0.0.1:1"), &limits(4, 0)),
            Admission::Refuse
        );
    }

    #[test]
    fn handshakes_expire_oldest_first() {
        let mut h = Handshakes::default();
        let limits = limits(10, 10);
        h.insert(peer("10.0.0.1:1"), at(3));
        h.insert(peer("10.0.0.2:1"), at(1));
        assert_eq!(h.next_expiry(&limits), Some(at(11)));
        assert!(h.expired(at(10), &limits).is_empty());
        assert_eq!(
            h.expired(at(13), &limits),
            [peer("10.0.0.2:1"), peer("10.0.0.1:1")]
        );
        h.remove(peer("10.0.0.2:1"));
        h.remove(peer("10.0.0.1:1"));
        h.remove(peer("10.0.0.1:1"));
        assert_eq!(h.len(), 0);
        assert_eq!(h.next_expiry(&limits), None);
        assert!(h.per_source.is_empty());
    }

    #[test]
    fn ipv6_peers_count_by_their_64_bit_prefix() {
        assert_eq!(
            source_of(peer("[2001:db8:1:2:aaaa::1]:5684")),
            source_of(peer("[2001:db8:1:2:bbbb::7]:40000"))
        );
        assert_ne!(
            source_of(peer("[2001:db8:1:2::1]:5684")),
            source_of(peer("[2001:db8:1:3::1]:5684"))
        );
        assert_eq!(
            source_of(peer("[::ffff:10.0.0.1]:1")),
            source_of(peer("10.0.0.1:2"))
        );
    }

    #[test]
    fn a_map_emptied_after_a_flood_gives_its_room_back() {
        let mut h = Handshakes::default();
        for port in 0..1_000 {
            h.insert(peer(&format!("10.0.0.1:{port}")), at(0));
        }
        for port in 0..1_000 {
            h.remove(peer(&format!("10.0.0.1:{port}")));
        }
        assert!(h.started.capacity() <= 64, "{}", h.started.capacity());
    }
}
