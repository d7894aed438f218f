//! Operator self-registration (China Telecom and China Unicom) as a service of the module: when
//! it is due, one confirmable CoAP POST of the record per round, rounds an hour apart, what a
//! success leaves in NVRAM, and the China Unicom renewal 30 days later (behaviour.md §4.2–4.3,
//! protocols.md §1–2).
//!
//! A round is one CoAP exchange with the profile's retransmission parameters (BC25: sends at 0, 3,
//! 9, 21 and 45 s, given up at 93 s). A DNS failure, a timeout, a reset or an answer that is not a
//! success fail the round. After the last round nothing happens until the next boot. BC260Y-CN
//! with sleep not disabled stops after a failed first round (seed 001: it goes to deep sleep).

use crate::identity::Operator;
use crate::nvram::{NvramData, NvramEdit, Section};
use crate::profile::Profile;
use crate::radio::Rai;
use crate::revision::Revision;
use crate::routing::Router;
use crate::service::{Effect, Env, Service, Start};
use nbmodem_clock::Instant;
use nbmodem_coap::{Endpoint, EndpointConfig, Event, Method, Request, RequestId};
use nbmodem_net::Transmit;
use nbmodem_operators::selfreg::{is_success, model_field, RegistrationRecord, Registry, REGVER};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

/// What self-registration keeps in NVRAM: the switch (AT+QSELFREGISTER / AT+QSREGENABLE) and
/// what the last success with each registry registered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfRegistrationSettings {
    /// `None` until set: the firmware's default.
    #[serde(default)]
    pub switch: Option<bool>,
    /// BC260Y-CN: reads as 3 after a firmware update, until set again (seed 001).
    #[serde(default)]
    pub reads_three: bool,
    #[serde(default)]
    pub china_telecom: Option<Registered>,
    #[serde(default)]
    pub china_unicom: Option<Registered>,
}

impl Section for SelfRegistrationSettings {
    const NAME: &'static str = "self_registration";

    fn check(&self, _: &Profile) -> Result<(), String> {
        for (field, registered) in [
            ("china_telecom", &self.china_telecom),
            ("china_unicom", &self.china_unicom),
        ] {
            if registered.as_ref().is_some_and(|r| !r.is_sound()) {
                return Err(format!(
                    "`{field}` is {registered:?}, but must be a revision, a 15-digit IMEI and an \
                     ICCID"
                ));
            }
        }
        Ok(())
    }
}

impl SelfRegistrationSettings {
    /// Whether self-registration is switched on: the setting, or `firmware`'s default.
    pub fn is_on(&self, profile: &Profile, firmware: &str) -> bool {
        self.switch
            .unwrap_or_else(|| profile.self_registration.default_on(firmware))
    }

    /// The last successful self-registration with `registry`.
    pub fn registered(&self, registry: Registry) -> Option<&Registered> {
        match registry {
            Registry::ChinaTelecom => self.china_telecom.as_ref(),
            Registry::ChinaUnicom => self.china_unicom.as_ref(),
        }
    }

    fn set_registered(&mut self, registry: Registry, registered: Registered) {
        let slot = match registry {
            Registry::ChinaTelecom => &mut self.china_telecom,
            Registry::ChinaUnicom => &mut self.china_unicom,
        };
        *slot = Some(registered);
    }
}

/// A successful self-registration: the firmware, IMEI and ICCID it registered, and when (ms since
/// the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub firmware: String,
    pub imei: String,
    pub iccid: String,
    pub at_ms: u64,
}

impl Registered {
    /// Whether every field is one a self-registration could have recorded.
    fn is_sound(&self) -> bool {
        crate::identity::check_imei(&self.imei).is_ok()
            && crate::identity::check_iccid(&self.iccid).is_ok()
            && Revision::parse(&self.firmware).is_some()
    }
}

/// Whether self-registration is switched on in `data` (China Mobile DM of the BC25 family needs
/// it too, behaviour.md §4.1).
pub fn switched_on(data: &NvramData, profile: &Profile) -> bool {
    data.section::<SelfRegistrationSettings>()
        .unwrap_or_default()
        .is_on(profile, &data.firmware)
}

/// Installs firmware revision `new` (`--firmware` or a firmware update). It lives here because
/// of one rule of self-registration: on the BC260Y-CN an update from
/// `read_three_after_update_from` (or earlier) to a later revision with self-registration on
/// keeps the setting but makes AT+QSREGENABLE? read 3 (seed 001).
pub fn install_firmware(data: &mut NvramData, profile: &Profile, new: &str) {
    let limit = profile
        .self_registration
        .read_three_after_update_from
        .and_then(Revision::parse);
    if let (Some(limit), Some(old), Some(next)) =
        (limit, Revision::parse(&data.firmware), Revision::parse(new))
    {
        let crosses = old.is_at_most(&limit) && limit.is_at_most(&next) && next != limit;
        let settings = data.section::<SelfRegistrationSettings>();
        if crosses && settings.is_some_and(|s| s.switch == Some(true)) {
            data.edit(|s: &mut SelfRegistrationSettings| s.reads_three = true);
        }
    }
    data.firmware = new.into();
}

/// Content-Format application/json (50).
const JSON: u16 = 50;
/// How long after a failed round the next one starts.
pub const ROUND_INTERVAL: Duration = Duration::from_secs(3600);
/// A first round and two retries an hour apart (seeds 000 and 001).
pub const ROUNDS: u32 = 3;
/// The vendor code of the MODEL field of self-registration records (at most three characters).
pub const VENDOR_CODE: &str = "QUE";

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InFlight(RequestId),
    /// The next round, or the renewal, starts then.
    Waiting(Instant),
    Finished,
}

/// One operator's self-registration.
pub struct SelfRegistration {
    target: Target,
    record: RegistrationRecord,
    /// What a success records in NVRAM (the time is filled in then).
    registered: Registered,
    /// Stop after a failed round instead of retrying (BC260Y-CN with sleep not disabled).
    no_retry_unless_sleep_disabled: bool,
    round: u32,
    endpoint: Endpoint,
    state: State,
}

/// Starts the self-registration of the SIM's operator when the module serves it, its switch is
/// on, and it is due: the firmware, IMEI or ICCID changed since the last success, or the
/// registry's renewal date has passed. Otherwise, with a renewal to come, the service waits for it.
pub fn start(start: &Start<'_>, env: &mut Env<'_>) -> Option<Box<dyn Service>> {
    let target = match start.sim.operator() {
        Operator::ChinaTelecom => CHINA_TELECOM,
        Operator::ChinaUnicom => CHINA_UNICOM,
        _ => return None,
    };
    let served = start.profile.operators.contains(&start.sim.operator());
    if !served || !switched_on(start.in_use, start.profile) {
        return None;
    }
    let registered = Registered {
        firmware: start.in_use.firmware.clone(),
        imei: start.in_use.imei.clone(),
        iccid: start.sim.iccid().into(),
        at_ms: 0,
    };
    let saved = start
        .saved
        .section::<SelfRegistrationSettings>()
        .unwrap_or_default();
    let last = saved.registered(target.registry);
    let renewal = last.and_then(|last| renewal_at(target, last));
    let changed = last.is_none_or(|last| {
        (&last.firmware, &last.imei, &last.iccid)
            != (&registered.firmware, &registered.imei, &registered.iccid)
    });
    let due = changed || renewal.is_some_and(|at| at <= start.now);
    if !due && renewal.is_none() {
        return None;
    }
    let record = RegistrationRecord {
        regver: REGVER.into(),
        meid: registered.imei.clone(),
        model: model_field(VENDOR_CODE, start.profile.model),
        swver: registered.firmware.clone(),
        iccid: start.sim.iccid().into(),
        imsi: start.sim.imsi().into(),
    };
    let endpoint = Endpoint::new(EndpointConfig {
        params: start.profile.coap.self_registration.params(),
        seed: env.engine_seed(),
        ..Default::default()
    });
    let mut service = SelfRegistration {
        target,
        record,
        registered,
        no_retry_unless_sleep_disabled: start
            .profile
            .self_registration
            .no_retry_unless_sleep_disabled,
        round: 0,
        endpoint,
        state: State::Finished,
    };
    let env = env.of(target.source);
    match (due, renewal) {
        (true, _) => service.start_round(start.now, start.router, env),
        (false, Some(at)) => service.state = State::Waiting(at),
        (false, None) => {}
    }
    Some(Box::new(service))
}

/// When `target`'s registry wants the registration `last` renewed, if it does.
fn renewal_at(target: Target, last: &Registered) -> Option<Instant> {
    target
        .renewal
        .map(|period| Instant::from_unix_millis(last.at_ms) + period)
}

impl SelfRegistration {
    /// Starts the next round: resolves the registry and posts the record.
    fn start_round(&mut self, now: Instant, router: &Router, env: &mut Env) {
        self.round += 1;
        let target = self.target;
        env.notice(format_args!(
            "posting the record to {}:{}{} (round {} of {ROUNDS})",
            target.host, target.port, target.path, self.round
        ));
        let address = match router.resolve_to_address(target.host, target.port) {
            Ok(address) => address,
            Err(e) => return self.round_failed(now, e.to_string(), env),
        };
        let body = self.record.encode(target.registry);
        let request = Request::new(Method::Post, target.path).with_payload(JSON, body);
        self.state = State::InFlight(self.endpoint.request(now, address, request, true));
    }

    /// Acts on what the exchange of the round reported.
    fn follow_exchange(&mut self, now: Instant, env: &mut Env) {
        let State::InFlight(id) = self.state else {
            while self.endpoint.poll_event().is_some() {}
            return;
        };
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::Response { id: got, response } if got == id => {
                    if is_success(&response.payload) {
                        self.registered_now(now, env);
                    } else {
                        let reason = format!(
                            "answer {} {}",
                            response.status_text(),
                            String::from_utf8_lossy(&response.payload)
                        );
                        self.round_failed(now, reason, env);
                    }
                }
                Event::RequestFailed { id: got, error } if got == id => {
                    self.round_failed(now, format!("{error:?}"), env);
                }
                _ => {}
            }
        }
    }

    fn registered_now(&mut self, now: Instant, env: &mut Env) {
        let registered = Registered {
            at_ms: now.unix_millis(),
            ..self.registered.clone()
        };
        self.state = match renewal_at(self.target, &registered) {
            Some(at) => State::Waiting(at),
            None => State::Finished,
        };
        self.round = 0;
        env.notice("registered");
        let registry = self.target.registry;
        env.effect(Effect::Save(NvramEdit::new(move |nv, _| {
            nv.edit(|s: &mut SelfRegistrationSettings| s.set_registered(registry, registered))
        })));
    }

    fn round_failed(&mut self, now: Instant, reason: String, env: &mut Env) {
        let last = self.round >= ROUNDS;
        let stops = self.no_retry_unless_sleep_disabled && !env.sleep_disabled;
        let (state, next) = match (last, stops) {
            (true, _) => (
                State::Finished,
                "no more rounds until the next power-on".to_string(),
            ),
            (false, true) => (
                State::Finished,
                "no retry while sleep is enabled (AT+QSCLK=0 disables it) until the next power-on"
                    .to_string(),
            ),
            (false, false) => {
                let at = now + ROUND_INTERVAL;
                (
                    State::Waiting(at),
                    format!("next round at {}", at.date_time()),
                )
            }
        };
        self.state = state;
        env.notice(format_args!(
            "round {} of {ROUNDS} failed ({reason}); {next}",
            self.round
        ));
    }
}

impl Service for SelfRegistration {
    fn name(&self) -> &'static str {
        self.target.source
    }

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8], env: &mut Env) {
        self.endpoint.handle_datagram(now, from, datagram);
        self.follow_exchange(now, env);
    }

    fn poll_transmit(&mut self) -> Option<(Transmit, Rai)> {
        Some((self.endpoint.poll_transmit()?, Rai::None))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let waiting = match self.state {
            State::Waiting(at) => Some(at),
            _ => None,
        };
        [self.endpoint.poll_timeout(), waiting]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs due retransmissions and give-ups, and starts a round (or the renewal) that is due.
    fn handle_timeout(&mut self, now: Instant, env: &mut Env) {
        self.endpoint.handle_timeout(now);
        self.follow_exchange(now, env);
        if matches!(self.state, State::Waiting(at) if at <= now) {
            let router = env.router;
            self.start_round(now, router, env);
        }
    }

    fn is_busy(&self) -> bool {
        self.endpoint.is_busy()
    }

    fn take_retransmissions(&mut self) -> u32 {
        self.endpoint.take_retransmissions()
    }
}
