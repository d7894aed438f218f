//! AT+QNTP's time query: one SNTP request (RFC 4330) to the server the host names, and the time
//! of its answer reported as a URC, or a failure code when no answer comes in time.
//!
//! The service only reports: the module's clock already follows the network's time (see
//! `commands::general`), so the answer does not set it.

use crate::radio::Rai;
use crate::service::{Effect, Env, Service};
use nbmodem_clock::Instant;
use nbmodem_net::Transmit;
use std::net::SocketAddr;
use std::time::Duration;

/// How long the query waits for its answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Quectel's TCP/IP result code for an operation that timed out.
pub const TIMED_OUT: u16 = 569;

/// Seconds from 1900-01-01 (NTP's era 0) to 1970-01-01.
const NTP_TO_UNIX: u64 = 2_208_988_800;

/// Writes the URC of an outcome: the server's time (Unix milliseconds) or a result code.
pub type Report = Box<dyn Fn(Result<u64, u16>) -> String + Send>;

pub struct Sntp {
    server: SocketAddr,
    outbox: Option<Transmit>,
    /// Our request's transmit timestamp, which the answer echoes as its originate timestamp.
    sent: [u8; 8],
    deadline: Option<Instant>,
    report: Report,
}

impl Sntp {
    /// A query to `server`, sent at `now`.
    pub fn new(now: Instant, server: SocketAddr, report: Report) -> Sntp {
        let sent = ntp_timestamp(now);
        let mut request = vec![0u8; 48];
        // LI 0, version 4, mode 3 (client).
        request[0] = (4 << 3) | 3;
        request[40..48].copy_from_slice(&sent);
        Sntp {
            server,
            outbox: Some(Transmit {
                destination: server,
                payload: request,
            }),
            sent,
            deadline: Some(now + ANSWER_TIMEOUT),
            report,
        }
    }

    fn finish(&mut self, outcome: Result<u64, u16>, env: &mut Env) {
        self.deadline = None;
        env.effect(Effect::Urc((self.report)(outcome)));
    }
}

/// `now` as an NTP timestamp: seconds since 1900 and a binary fraction.
fn ntp_timestamp(now: Instant) -> [u8; 8] {
    let ms = now.unix_millis();
    let seconds = (ms / 1000 + NTP_TO_UNIX) as u32;
    let fraction = (((ms % 1000) << 32) / 1000) as u32;
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&seconds.to_be_bytes());
    out[4..].copy_from_slice(&fraction.to_be_bytes());
    out
}

/// The Unix milliseconds of an NTP timestamp.
fn unix_millis(timestamp: &[u8]) -> Option<u64> {
    let seconds = u64::from(u32::from_be_bytes(timestamp.get(..4)?.try_into().ok()?));
    let fraction = u64::from(u32::from_be_bytes(timestamp.get(4..8)?.try_into().ok()?));
    let since_1970 = seconds.checked_sub(NTP_TO_UNIX)?;
    Some(since_1970 * 1000 + ((fraction * 1000) >> 32))
}

impl Service for Sntp {
    fn name(&self) -> &'static str {
        "SNTP"
    }

    /// Takes the server's answer to our request: mode 4 (server), our timestamp echoed. Anything
    /// else is ignored.
    fn handle_datagram(&mut self, _now: Instant, from: SocketAddr, datagram: &[u8], env: &mut Env) {
        let answers_us = datagram.len() >= 48
            && from == self.server
            && datagram[0] & 0x07 == 4
            && datagram[24..32] == self.sent;
        if !answers_us || self.deadline.is_none() {
            return;
        }
        if let Some(time) = unix_millis(&datagram[40..48]) {
            env.notice(format_args!("time from {from}"));
            self.finish(Ok(time), env);
        }
    }

    fn poll_transmit(&mut self) -> Option<(Transmit, Rai)> {
        self.outbox.take().map(|t| (t, Rai::None))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn handle_timeout(&mut self, now: Instant, env: &mut Env) {
        if self.deadline.is_some_and(|d| d <= now) {
            env.notice(format_args!("no answer from {} in time", self.server));
            self.finish(Err(TIMED_OUT), env);
        }
    }

    fn is_busy(&self) -> bool {
        self.deadline.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_timestamps_round_trip() {
        let now = Instant::from_unix_millis(1_767_225_600_250);
        assert_eq!(unix_millis(&ntp_timestamp(now)), Some(1_767_225_600_250));
        assert_eq!(unix_millis(&[0; 8]), None, "before 1970");
    }
}
