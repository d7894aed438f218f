//! The real-time answers to a host's [`Lookup`]s: names through the system resolver, pings with an
//! ICMP echo request. A ping uses an unprivileged ICMP socket where the system allows one
//! (`net.ipv4.ping_group_range`), else a raw socket (root, or `CAP_NET_RAW`); with neither it
//! is [`LookupAnswer::PingFailed`], said at once. Each runs on a task of its own and answers
//! within its time limit.

use crate::{Lookup, LookupAnswer};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a name may take to resolve.
const RESOLVE_LIMIT: Duration = Duration::from_secs(10);

/// The TTL reported when the socket does not show the reply's IP header (an unprivileged ICMP
/// socket): the usual initial TTL of Linux.
const ASSUMED_TTL: u8 = 64;

/// The sequence number of the next echo request of this process.
static NEXT_SEQUENCE: AtomicU16 = AtomicU16::new(1);

/// An answer for the service on a local port.
pub(crate) type PortAnswer = (u16, LookupAnswer);

/// Starts answering `lookup`; the answer comes on `answers`.
pub(crate) fn start(lookup: Lookup, answers: mpsc::UnboundedSender<PortAnswer>) {
    let port = lookup.port();
    match lookup {
        Lookup::Resolve { name, .. } => {
            tokio::spawn(async move {
                let found = tokio::time::timeout(RESOLVE_LIMIT, tokio::net::lookup_host((name, 0)));
                let answer = match found.await {
                    Ok(Ok(addresses)) => {
                        let ips: Vec<IpAddr> = addresses.map(|a| a.ip()).collect();
                        if ips.is_empty() {
                            LookupAnswer::NotResolved
                        } else {
                            LookupAnswer::Resolved(ips)
                        }
                    }
                    _ => LookupAnswer::NotResolved,
                };
                let _ = answers.send((port, answer));
            });
        }
        Lookup::Ping {
            to, size, timeout, ..
        } => {
            tokio::task::spawn_blocking(move || {
                let _ = answers.send((port, ping(to, size, timeout)));
            });
        }
    }
}

/// One ICMP echo request to `to`, and its reply.
fn ping(to: IpAddr, size: usize, timeout: Duration) -> LookupAnswer {
    let IpAddr::V4(_) = to else {
        return LookupAnswer::PingFailed;
    };
    let unprivileged = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4));
    let (socket, raw) = match unprivileged {
        Ok(socket) => (socket, false),
        Err(_) => match Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)) {
            Ok(socket) => (socket, true),
            Err(e) => {
                tracing::debug!("no ICMP socket for a ping: {e}");
                return LookupAnswer::PingFailed;
            }
        },
    };
    let id = (std::process::id() & 0xFFFF) as u16;
    let sequence = NEXT_SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let request = echo_request(id, sequence, size);
    let start = Instant::now();
    if socket
        .send_to(&request, &SockAddr::from(SocketAddr::new(to, 0)))
        .is_err()
    {
        return LookupAnswer::PingFailed;
    }
    let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
    loop {
        let Some(left) = timeout
            .checked_sub(start.elapsed())
            .filter(|l| !l.is_zero())
        else {
            return LookupAnswer::NoPong;
        };
        if socket.set_read_timeout(Some(left)).is_err() {
            return LookupAnswer::PingFailed;
        }
        let Ok(n) = socket.recv(&mut buf) else {
            return LookupAnswer::NoPong;
        };
        // SAFETY: `recv` initialised the first `n` bytes.
        let packet: Vec<u8> = buf[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        if let Some(ttl) = echo_reply(&packet, raw, id, sequence) {
            return LookupAnswer::Pong {
                rtt: start.elapsed(),
                ttl,
            };
        }
    }
}

/// An ICMP echo request: type 8, code 0, checksum, identifier, sequence, `size` bytes of data.
fn echo_request(id: u16, sequence: u16, size: usize) -> Vec<u8> {
    let mut packet = vec![8, 0, 0, 0];
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend((0..size).map(|i| i as u8));
    let sum = checksum(&packet);
    packet[2..4].copy_from_slice(&sum.to_be_bytes());
    packet
}

/// The TTL of `packet` if it is the echo reply to (`id`, `sequence`). A raw socket shows the IP
/// header (and every ICMP packet, so the identifier is checked); an unprivileged one shows the
/// ICMP message only, its identifier set by the kernel.
fn echo_reply(packet: &[u8], raw: bool, id: u16, sequence: u16) -> Option<u8> {
    let (icmp, ttl) = if raw {
        let header = usize::from(packet.first()? & 0x0F) * 4;
        (packet.get(header..)?, *packet.get(8)?)
    } else {
        (packet, ASSUMED_TTL)
    };
    let is_reply = icmp.len() >= 8 && icmp[0] == 0 && icmp[1] == 0;
    let same_id = !raw || icmp[4..6] == id.to_be_bytes();
    (is_reply && same_id && icmp[6..8] == sequence.to_be_bytes()).then_some(ttl)
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_request_checks_out_and_its_reply_is_recognised() {
        let request = echo_request(0x1234, 7, 12);
        assert_eq!(request.len(), 20);
        assert_eq!(
            checksum(&request),
            0,
            "a packet with its checksum sums to zero"
        );
        let mut reply = request.clone();
        reply[0] = 0;
        assert_eq!(echo_reply(&reply, false, 0x1234, 7), Some(ASSUMED_TTL));
        assert_eq!(echo_reply(&reply, false, 0x1234, 8), None);
        let mut with_ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 57, 1];
        with_ip.resize(20, 0);
        with_ip.extend(&reply);
        assert_eq!(echo_reply(&with_ip, true, 0x1234, 7), Some(57));
        assert_eq!(
            echo_reply(&with_ip, true, 0x4321, 7),
            None,
            "another process's"
        );
    }
}
