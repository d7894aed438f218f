//! Operator self-registration (China Telecom and China Unicom), as the module runs it after boot
//! and attach: when it is due, one confirmable CoAP POST of the record per round, rounds an hour
//! apart, and what a success leaves in NVRAM (behaviour.md §4.2–4.3, protocols.md §1–2).
//!
//! A round is one CoAP exchange with the profile's retransmission parameters (BC25: sends at 0, 3,
//! 9, 21 and 45 s, given up at 93 s). A DNS failure, a timeout, a reset or an answer that is not a
//! success fail the round. After the last round nothing happens until the next boot.

use crate::routing::Router;
use nbmodem_clock::Instant;
use nbmodem_coap::{
    Endpoint, EndpointConfig, Event, Method, Request, RequestId, TransmissionParams,
};
use nbmodem_operators::selfreg::{is_success, RegistrationRecord, Registry};
use std::net::SocketAddr;
use std::time::Duration;

/// Content-Format application/json (50).
const JSON: u16 = 50;
/// How long after a failed round the next one starts.
pub const ROUND_INTERVAL: Duration = Duration::from_secs(3600);

/// Where a registry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub registry: Registry,
    pub host: &'static str,
    pub port: u16,
    pub path: &'static str,
    /// How long after a success the registry wants the registration again, if it does.
    pub renewal: Option<Duration>,
    /// Its name in console notices.
    pub source: &'static str,
}

pub const CHINA_TELECOM: Target = Target {
    registry: Registry::ChinaTelecom,
    host: "zzhc.vnet.cn",
    port: 5683,
    path: "/nb",
    renewal: None,
    source: "CT self-registration",
};
pub const CHINA_UNICOM: Target = Target {
    registry: Registry::ChinaUnicom,
    host: "114.255.193.236",
    port: 5683,
    path: "/",
    // China Unicom asks for a registration again 30 days after a success (seed 000).
    renewal: Some(Duration::from_secs(30 * 86_400)),
    source: "CU self-registration",
};

/// What a registration run reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Registered: NVRAM records the identity (and time) of this success.
    Registered,
    /// A round failed; another follows after [`ROUND_INTERVAL`] unless this was the last.
    RoundFailed {
        round: u32,
        reason: String,
        last: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    InFlight(RequestId),
    Waiting(Instant),
    Finished,
}

/// One operator's self-registration run.
pub struct SelfRegistrar {
    target: Target,
    record: RegistrationRecord,
    rounds: u32,
    round: u32,
    server: Option<SocketAddr>,
    endpoint: Endpoint,
    state: State,
}

impl SelfRegistrar {
    /// A run of at most `rounds` rounds.
    pub fn new(
        target: Target,
        record: RegistrationRecord,
        rounds: u32,
        params: TransmissionParams,
        seed: u64,
    ) -> Self {
        SelfRegistrar {
            target,
            record,
            rounds,
            round: 0,
            server: None,
            endpoint: Endpoint::new(EndpointConfig {
                params,
                seed,
                ..Default::default()
            }),
            state: State::Idle,
        }
    }

    pub fn target(&self) -> Target {
        self.target
    }

    /// The registry's address once resolved, to recognise its datagrams.
    pub fn server(&self) -> Option<SocketAddr> {
        self.server
    }

    /// Whether a round's exchange is in flight (which keeps the module out of deep sleep).
    pub fn is_busy(&self) -> bool {
        self.endpoint.is_busy()
    }

    /// Starts the next round: resolves the registry and posts the record.
    pub fn start_round(&mut self, now: Instant, router: &Router) -> Option<Outcome> {
        self.round += 1;
        let address = match router.resolve_to_address(self.target.host, self.target.port) {
            Ok(address) => address,
            Err(e) => return Some(self.round_failed(now, e.to_string())),
        };
        self.server = Some(address);
        let body = self.record.encode(self.target.registry);
        let request = Request::new(Method::Post, self.target.path).with_payload(JSON, body);
        self.state = State::InFlight(self.endpoint.request(now, address, request, true));
        None
    }

    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Option<Outcome> {
        self.endpoint.handle_datagram(now, from, datagram);
        self.outcome(now)
    }

    pub fn poll_transmit(&mut self) -> Option<nbmodem_net::Transmit> {
        self.endpoint.poll_transmit()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let next_round = match self.state {
            State::Waiting(at) => Some(at),
            _ => None,
        };
        [self.endpoint.poll_timeout(), next_round]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs due retransmissions and give-ups, and starts a due round.
    pub fn handle_timeout(&mut self, now: Instant, router: &Router) -> Option<Outcome> {
        self.endpoint.handle_timeout(now);
        if let Some(outcome) = self.outcome(now) {
            return Some(outcome);
        }
        match self.state {
            State::Waiting(at) if at <= now => self.start_round(now, router),
            _ => None,
        }
    }

    fn outcome(&mut self, now: Instant) -> Option<Outcome> {
        let State::InFlight(id) = self.state else {
            while self.endpoint.poll_event().is_some() {}
            return None;
        };
        let mut result = None;
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::Response { id: got, response }
                    if got == id && is_success(&response.payload) =>
                {
                    self.state = State::Finished;
                    result = Some(Outcome::Registered);
                }
                Event::Response { id: got, response } if got == id => {
                    let reason = format!(
                        "answer {} {}",
                        response.status_text(),
                        String::from_utf8_lossy(&response.payload)
                    );
                    result = Some(self.round_failed(now, reason));
                }
                Event::RequestFailed { id: got, error } if got == id => {
                    result = Some(self.round_failed(now, format!("{error:?}")));
                }
                _ => {}
            }
        }
        result
    }

    fn round_failed(&mut self, now: Instant, reason: String) -> Outcome {
        let last = self.round >= self.rounds;
        self.state = if last {
            State::Finished
        } else {
            State::Waiting(now + ROUND_INTERVAL)
        };
        Outcome::RoundFailed {
            round: self.round,
            reason,
            last,
        }
    }

    /// Stops a run that has not finished (the module gave up on retries, e.g. to sleep).
    pub fn stop(&mut self) {
        self.state = State::Finished;
    }
}
