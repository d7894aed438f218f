//! Datagrams on the air: an uplink is held until its airtime is over, a downlink until it has
//! crossed the link (after the paging occasion, for a module in eDRX). Each direction carries one
//! datagram at a time, so a burst queues behind its first datagram, as on a real carrier. The
//! airtimes come from the radio condition's [`crate::coverage::Link`]; this only keeps the queues,
//! and, being fed `now`, works in real and in virtual time alike.

use crate::service::Uplink;
use nbmodem_clock::Instant;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

/// A datagram for the module, delivered when it has crossed the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downlink {
    pub at: Instant,
    pub port: u16,
    pub from: SocketAddr,
    pub payload: Vec<u8>,
}

/// How many datagrams, and bytes, crossed the link each way since power-on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounts {
    pub sent: u64,
    pub sent_bytes: u64,
    pub received: u64,
    pub received_bytes: u64,
}

/// Gives an empty queue's memory back: a module spends most of its life between exchanges, and a
/// fleet holds many of them.
fn release_if_empty<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() {
        *queue = VecDeque::new();
    }
}

/// The datagrams in flight between the module and the cell; lost at power-off.
#[derive(Debug, Default)]
pub struct Air {
    counts: LinkCounts,
    /// Uplinks and the instant each has left the module, in that order.
    uplinks: VecDeque<(Instant, Uplink)>,
    uplink_free_at: Option<Instant>,
    downlinks: VecDeque<Downlink>,
    downlink_free_at: Option<Instant>,
}

impl Air {
    /// Puts an uplink on the air at `now`, behind those already on it; returns when it is sent.
    pub fn send(&mut self, now: Instant, uplink: Uplink, airtime: Duration) -> Instant {
        let done = self.uplink_free_at.map_or(now, |free| free.max(now)) + airtime;
        self.uplink_free_at = Some(done);
        self.counts.sent += 1;
        self.counts.sent_bytes += uplink.transmit.payload.len() as u64;
        self.uplinks.push_back((done, uplink));
        done
    }

    /// The next uplink whose airtime is over at `now`.
    pub fn take_sent(&mut self, now: Instant) -> Option<Uplink> {
        let done = self.uplinks.front()?.0;
        let uplink = (done <= now).then(|| self.uplinks.pop_front().map(|(_, u)| u))??;
        release_if_empty(&mut self.uplinks);
        Some(uplink)
    }

    /// A downlink the cell starts sending at `start` (the paging occasion, or its arrival),
    /// behind those already on the air.
    pub fn receive(
        &mut self,
        start: Instant,
        airtime: Duration,
        port: u16,
        from: SocketAddr,
        payload: &[u8],
    ) {
        let at = self.downlink_free_at.map_or(start, |free| free.max(start)) + airtime;
        self.downlink_free_at = Some(at);
        self.downlinks.push_back(Downlink {
            at,
            port,
            from,
            payload: payload.to_vec(),
        });
    }

    /// The next downlink that has reached the module at `now`.
    pub fn take_received(&mut self, now: Instant) -> Option<Downlink> {
        let first = self.downlinks.front()?.at;
        let downlink = (first <= now).then(|| self.downlinks.pop_front())??;
        release_if_empty(&mut self.downlinks);
        self.counts.received += 1;
        self.counts.received_bytes += downlink.payload.len() as u64;
        Some(downlink)
    }

    pub fn counts(&self) -> LinkCounts {
        self.counts
    }

    /// Whether a datagram is still crossing the link at `now` (the module does not sleep
    /// meanwhile); an uplink whose airtime is over only waits to be taken.
    pub fn is_busy(&self, now: Instant) -> bool {
        !self.downlinks.is_empty() || self.uplinks.iter().any(|(done, _)| *done > now)
    }

    /// When the next datagram has crossed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let up = self.uplinks.front().map(|(done, _)| *done);
        let down = self.downlinks.front().map(|d| d.at);
        up.into_iter().chain(down).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nbmodem_net::Transmit;

    fn at(millis: u64) -> Instant {
        Instant::from_unix_millis(millis)
    }

    fn uplink(n: u8) -> Uplink {
        Uplink {
            source_port: 49152,
            transmit: Transmit {
                destination: "127.0.0.1:5683".parse().unwrap(),
                payload: vec![n],
            },
            rai: Default::default(),
            direct: false,
        }
    }

    #[test]
    fn the_queues_give_their_memory_back_once_empty() {
        let mut air = Air::default();
        let ms = Duration::from_millis;
        air.send(at(0), uplink(1), ms(100));
        air.send(at(0), uplink(2), ms(100));
        air.receive(
            at(0),
            ms(50),
            49152,
            "127.0.0.1:5683".parse().unwrap(),
            &[7],
        );
        assert!(air.take_sent(at(200)).is_some());
        assert!(air.uplinks.capacity() > 0, "one still on the air");
        assert!(air.take_sent(at(200)).is_some());
        assert!(air.take_received(at(50)).is_some());
        assert_eq!((air.uplinks.capacity(), air.downlinks.capacity()), (0, 0));
    }

    #[test]
    fn uplinks_queue_behind_each_other_and_leave_when_sent() {
        let mut air = Air::default();
        let ms = Duration::from_millis;
        assert_eq!(air.send(at(0), uplink(1), ms(100)), at(100));
        assert_eq!(air.send(at(10), uplink(2), ms(100)), at(200));
        assert_eq!(air.poll_timeout(), Some(at(100)));
        assert!(air.take_sent(at(99)).is_none());
        assert!(air.is_busy(at(99)));
        assert_eq!(air.take_sent(at(100)).unwrap().transmit.payload, [1]);
        assert!(air.take_sent(at(150)).is_none());
        assert_eq!(air.take_sent(at(200)).unwrap().transmit.payload, [2]);
        assert!(!air.is_busy(at(200)));
        assert_eq!(air.poll_timeout(), None);
    }

    #[test]
    fn downlinks_arrive_after_their_airtime_in_order() {
        let mut air = Air::default();
        let from = "127.0.0.1:5683".parse().unwrap();
        let ms = Duration::from_millis;
        air.receive(at(1000), ms(50), 1, from, b"a");
        air.receive(at(1010), ms(50), 1, from, b"b");
        assert!(air.is_busy(at(0)));
        assert_eq!(air.poll_timeout(), Some(at(1050)));
        assert!(air.take_received(at(1049)).is_none());
        assert_eq!(air.take_received(at(1050)).unwrap().payload, b"a");
        assert_eq!(air.take_received(at(1100)).unwrap().payload, b"b");
        assert!(!air.is_busy(at(1100)));
    }
}
