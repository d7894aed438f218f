//! China Mobile DM (CMDMP) as a service of the module (behaviour.md §4.4, protocols.md §3): at the
//! first attach of every boot, an LwM2M Register with the encrypted endpoint name, then an Update
//! with the `epi=` query every update period; object 666 carries the AT+QDMPCFGEX values, each
//! encrypted. The service turns the LwM2M client's events into the states AT+QDMPCFG=6 reports.
//!
//! A failed or timed-out Register is not retried until the next boot. On the models whose Update
//! does not wake them (the BC25 family, seed 000), an Update that falls due in deep sleep is not
//! sent; the next one is due an update period later.

use crate::identity::Operator;
use crate::nvram::Section;
use crate::profile::{DmConfig, Feature, Profile};
use crate::radio::Rai;
use crate::routing::Router;
use crate::service::{Env, Service, Start};
use crate::services::self_registration;
use nbmodem_clock::Instant;
use nbmodem_coap::EndpointConfig;
use nbmodem_lwm2m::client::{ClientConfig, ClientEvent, Lwm2mClient};
use nbmodem_lwm2m::content::{ResourceType, Value};
use nbmodem_lwm2m::object::{DataObject, ObjectStore, Operations, ResourceDef, ResourceValue};
use nbmodem_net::{DatagramNode, Transmit};
use nbmodem_operators::dm::{self, DeviceIdentity, TerminalType};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

/// The DM states of AT+QDMPCFG=6 / AT+DMPCONFIG=6.
pub mod state {
    pub const INITIAL: u8 = 0;
    /// The server's address is known and the Register is on its way.
    pub const CONNECTED: u8 = 4;
    pub const REGISTERED: u8 = 6;
    pub const REGISTER_FAILED: u8 = 7;
    pub const REGISTER_TIMEOUT: u8 = 8;
    /// The registration's lifetime ran out without an Update (e.g. skipped in deep sleep).
    pub const LIFETIME_TIMEOUT: u8 = 9;
    pub const UPDATED: u8 = 11;
    pub const UPDATE_FAILED: u8 = 12;
    pub const UPDATE_TIMEOUT: u8 = 13;
}

/// The DM object.
const DM_OBJECT: u16 = 666;

/// China Mobile DM settings; `None` (or absent) is the factory default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmSettings {
    #[serde(default)]
    pub mode: Option<bool>,
    #[serde(default)]
    pub server: Option<DmServerSetting>,
    #[serde(default)]
    pub credentials: Option<DmCredentials>,
    /// AT+DMPCONFIG type 3.
    #[serde(default)]
    pub plmns: Vec<String>,
    /// AT+QDMPCFGEX values by type; a value not there reads `NULL`.
    #[serde(default)]
    pub info: std::collections::BTreeMap<u8, Vec<String>>,
}

impl DmSettings {
    /// DM_mode: on unless switched off.
    pub fn enabled(&self) -> bool {
        self.mode.unwrap_or(true)
    }

    /// The configured port, or the default.
    pub fn port(&self) -> u16 {
        self.server
            .as_ref()
            .and_then(|s| s.port)
            .unwrap_or(dm::DEFAULT_PORT)
    }

    /// The configured update period, or the profile's default.
    pub fn period(&self, dm: &DmConfig) -> u32 {
        self.server.as_ref().map_or(dm.default_period, |s| s.period)
    }

    /// See [`Section::check`].
    fn check_values(&self, dm: &DmConfig) -> Result<(), String> {
        let bad = |field: &str, value: &dyn std::fmt::Debug, want: &str| {
            Err(format!("`{field}` is {value:?}, but must be {want}"))
        };
        if let Some(server) = &self.server {
            let (low, high) = dm.port_range;
            if !(300..=4_294_966).contains(&server.period) {
                return bad("server.period", &server.period, "300 to 4294966 seconds");
            }
            if server.port.is_some_and(|p| !(low..=high).contains(&p)) {
                return bad("server.port", &server.port, &format!("{low} to {high}"));
            }
            if server.host.len() > 253 {
                return bad("server.host", &server.host, "at most 253 characters");
            }
        }
        if let Some(c) = &self.credentials {
            let key_ok = (1..=64).contains(&c.app_key.len());
            let password_ok = (1..=64).contains(&c.password.len());
            if !key_ok || !password_ok {
                return bad(
                    "credentials",
                    &c.app_key,
                    "an app key and password of 1 to 64 characters",
                );
            }
            if c.terminal_type > 2 || !(15..=17).contains(&c.terminal_imei.len()) {
                return bad(
                    "credentials",
                    &(c.terminal_type, &c.terminal_imei),
                    "terminal type 0 to 2 and an IMEI of 15 to 17 characters",
                );
            }
        }
        let plmn_ok =
            |p: &String| (5..=6).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
        if self.plmns.len() > 3 || !self.plmns.iter().all(plmn_ok) {
            return bad("plmns", &self.plmns, "at most 3 PLMNs of 5 or 6 digits");
        }
        for (kind, values) in &self.info {
            let limits = dm::DEVICE_INFO.get(usize::from(*kind));
            let fits = limits.is_some_and(|limits| {
                limits.len() == values.len()
                    && limits
                        .iter()
                        .zip(values)
                        .all(|((_, max), v)| v.len() <= *max)
            });
            if !fits {
                return bad(
                    "info",
                    &(kind, values),
                    "AT+QDMPCFGEX values of types 0 to 5",
                );
            }
        }
        Ok(())
    }

    /// The configured credentials, or the factory's: the profile's key and password for a
    /// module (terminal type 0) with the module's own IMEI.
    pub fn credentials(&self, dm: &DmConfig, imei: &str) -> DmCredentials {
        self.credentials
            .clone()
            .unwrap_or_else(|| DmCredentials::factory(dm, imei))
    }
}

/// AT+QDMPCFG type 1. An empty host or no port: the default (AT+DMPCONFIG=1, , ,300).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmServerSetting {
    pub host: String,
    pub port: Option<u16>,
    pub period: u32,
}

/// AT+QDMPCFG type 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmCredentials {
    pub app_key: String,
    pub password: String,
    pub terminal_type: u8,
    pub terminal_imei: String,
}

impl DmCredentials {
    /// What a factory module registers with.
    pub fn factory(dm: &DmConfig, imei: &str) -> Self {
        DmCredentials {
            app_key: dm.factory_key.app_key.into(),
            password: dm.factory_key.password.into(),
            terminal_type: 0,
            terminal_imei: imei.into(),
        }
    }
}

impl Section for DmSettings {
    const NAME: &'static str = "dm";

    fn check(&self, profile: &Profile) -> Result<(), String> {
        self.check_values(&profile.dm)
    }
}

/// The lifetime registered: the update period plus COAP_MAX_TRANSMIT_WAIT (46 s), as the modules
/// do (protocols.md §3.3), so the Update always comes before the lifetime ends.
const LIFETIME_MARGIN: u32 = 46;

/// The service's name in console notices.
const NAME: &str = "CMDMP";

pub struct Cmdmp {
    client: Lwm2mClient,
    /// When the registration runs out unless an Update renews it.
    registered_until: Option<Instant>,
    /// The state AT+QDMPCFG=6 reports.
    state: u8,
    /// Whether the periodic Update may wake the module from deep sleep (BC260Y-CN, seed 001).
    update_wakes: bool,
}

/// Starts DM on a China Mobile SIM when the firmware has a CMDMP client, DM_mode is on (and, on
/// the BC25 family, self-registration too) and the SIM's PLMN is allowed; with the factory app key
/// unless another is configured.
pub fn start(start: &Start<'_>, env: &mut Env<'_>) -> Option<Box<dyn Service>> {
    let profile = start.profile;
    let mobile = start.sim.operator() == Operator::ChinaMobile
        && profile.operators.contains(&Operator::ChinaMobile);
    let settings = &start.in_use.section::<DmSettings>().unwrap_or_default();
    let switched_on = !profile.dm.needs_self_registration_switch
        || self_registration::switched_on(start.in_use, profile);
    let plmn_allowed =
        settings.plmns.is_empty() || settings.plmns.iter().any(|p| p == start.sim.plmn());
    let firmware = profile.has_feature(Feature::Cmdmp, &start.in_use.firmware);
    if !(mobile && firmware && settings.enabled() && switched_on && plmn_allowed) {
        return None;
    }
    let credentials = settings.credentials(&profile.dm, &start.in_use.imei);
    let server = server(&profile.dm, settings, start.router);
    let period = settings.period(&profile.dm);
    let mut config = client_config(&credentials, start.sim.imsi(), server);
    config.lifetime = Some(period.saturating_add(LIFETIME_MARGIN));
    config.update_interval = Some(Duration::from_secs(u64::from(period)));
    let coap = EndpointConfig {
        params: profile.coap.cmdmp.params(),
        seed: env.engine_seed(),
        ..Default::default()
    };
    let mut client = Lwm2mClient::new(config, objects(settings, &credentials.password), coap);
    client.register(start.now);
    env.of(NAME).notice(format_args!(
        "registering with {server} (app key {})",
        credentials.app_key
    ));
    Some(Box::new(Cmdmp {
        client,
        registered_until: None,
        state: state::CONNECTED,
        update_wakes: profile.dm.update_wakes_from_deep_sleep,
    }))
}

/// The configured DM server, or the default, resolved; a domain that does not resolve falls back
/// to the profile's address.
fn server(dm: &DmConfig, settings: &DmSettings, router: &Router) -> SocketAddr {
    let configured = settings.server.as_ref().filter(|s| !s.host.is_empty());
    let host = configured.map_or(dm.default_server, |s| s.host.as_str());
    let port = settings.port();
    router
        .resolve_to_address(host, port)
        .unwrap_or_else(|_| SocketAddr::new(dm.fallback_ip.into(), port))
}

/// The LwM2M client of these credentials: the encrypted endpoint name, the EPI of each Update,
/// and the Security object listed, as the cis SDK does.
fn client_config(credentials: &DmCredentials, imsi: &str, server: SocketAddr) -> ClientConfig {
    let terminal = TerminalType::from_number(u64::from(credentials.terminal_type))
        .unwrap_or(TerminalType::Interface);
    let identity = DeviceIdentity {
        imei: credentials.terminal_imei.clone(),
        imei2: String::new(),
        imsi: imsi.into(),
    };
    let (key, password) = (&credentials.app_key, &credentials.password);
    let mut config = ClientConfig::new(
        &dm::endpoint_name(terminal, key, password, &identity),
        server,
    );
    config.update_query = vec![format!(
        "epi={}",
        dm::epi(terminal, key, password, &identity)
    )];
    config.include_security_object = true;
    config
}

impl Cmdmp {
    /// The state AT+QDMPCFG=6 (AT+DMPCONFIG=6) reports.
    pub fn state(&self) -> u8 {
        self.state
    }

    /// How long a Register or Update keeps the device registered.
    fn lifetime(&self) -> Duration {
        Duration::from_secs(self.client.config().lifetime.map_or(0, u64::from))
    }

    /// Follows the client's events: the new state, and a new lifetime after a registration or an
    /// Update.
    fn follow_client(&mut self, now: Instant, env: &mut Env) {
        while let Some(event) = self.client.poll_event() {
            if matches!(event, ClientEvent::Registered { .. } | ClientEvent::Updated) {
                self.registered_until = Some(now + self.lifetime());
            }
            let changed = match event {
                ClientEvent::Registered { .. } => state::REGISTERED,
                ClientEvent::RegistrationFailed { status: Some(_) } => state::REGISTER_FAILED,
                ClientEvent::RegistrationFailed { status: None } => state::REGISTER_TIMEOUT,
                ClientEvent::Updated => state::UPDATED,
                ClientEvent::UpdateFailed { status: Some(_) } => state::UPDATE_FAILED,
                ClientEvent::UpdateFailed { status: None } => state::UPDATE_TIMEOUT,
                _ => continue,
            };
            self.set_state(changed, env);
        }
    }

    /// A new state, and what it means for the person at the console.
    fn set_state(&mut self, new: u8, env: &mut Env) {
        self.state = new;
        let meaning = match new {
            state::REGISTERED => "registered (state 6)",
            state::REGISTER_FAILED => {
                "registration refused (state 7); no retry until the next power-on"
            }
            state::REGISTER_TIMEOUT => {
                "registration timed out (state 8); no retry until the next power-on"
            }
            state::LIFETIME_TIMEOUT => "the registration's lifetime ran out (state 9)",
            state::UPDATED => "updated (state 11)",
            state::UPDATE_FAILED => "update refused (state 12)",
            state::UPDATE_TIMEOUT => "update timed out (state 13)",
            _ => return,
        };
        let next = self
            .client
            .next_update_at()
            .map(|at| format!("; next update at {}", at.date_time()))
            .unwrap_or_default();
        env.notice(format_args!("{meaning}{next}"));
    }
}

impl Service for Cmdmp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8], env: &mut Env) {
        self.client.handle_datagram(now, from, datagram);
        self.follow_client(now, env);
    }

    fn poll_transmit(&mut self) -> Option<(Transmit, Rai)> {
        Some((self.client.poll_transmit()?, Rai::None))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.client.poll_timeout(), self.registered_until]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, now: Instant, env: &mut Env) {
        let update_due = self.client.next_update_at().is_some_and(|at| at <= now);
        if update_due && env.asleep && !self.update_wakes {
            env.notice("update skipped: the module is in deep sleep");
            self.client.skip_update();
        }
        self.client.handle_timeout(now);
        self.follow_client(now, env);
        if self.registered_until.is_some_and(|end| end <= now) {
            self.registered_until = None;
            self.set_state(state::LIFETIME_TIMEOUT, env);
        }
    }

    fn is_busy(&self) -> bool {
        self.client.is_busy()
    }

    fn take_retransmissions(&mut self) -> u32 {
        self.client.take_retransmissions()
    }
}

/// The Security object (listed, as the cis SDK does) and object 666 with every configured
/// AT+QDMPCFGEX value encrypted with the password; unset values are left out.
fn objects(settings: &DmSettings, password: &str) -> ObjectStore {
    let definitions = (6601..=6614)
        .map(|id| ResourceDef::new(id, ResourceType::String, Operations::Read))
        .collect();
    let mut device = DataObject::new(DM_OBJECT, definitions).with_instance(0);
    for (kind, values) in &settings.info {
        let resources = dm::DEVICE_INFO
            .get(usize::from(*kind))
            .copied()
            .unwrap_or(&[]);
        for ((id, _), value) in resources.iter().zip(values) {
            let encrypted = Value::String(dm::encrypt(password, value));
            device.set(0, *id, ResourceValue::Single(encrypted));
        }
    }
    let mut store = ObjectStore::new();
    store.add(DataObject::new(0, Vec::new()).with_instance(0));
    store.add(device);
    store
}
