//! China Mobile DM (CMDMP) as a service of the module (behaviour.md §4.4, protocols.md §3): at the
//! first attach of every boot, an LwM2M Register with the encrypted endpoint name, then an Update
//! with the `epi=` query every update period; object 666 carries the AT+QDMPCFGEX values, each
//! encrypted. The service turns the LwM2M client's events into the states AT+QDMPCFG=6 reports.
//!
//! A failed or timed-out Register is not retried until the next boot. On the models whose Update
//! does not wake them (the BC25 family, seed 000), an Update that falls due in deep sleep is not
//! sent; the next one is due an update period later.

use crate::identity::Operator;
use crate::nvram::{DmCredentials, DmSettings};
use crate::profile::{DmConfig, Feature};
use crate::radio::Rai;
use crate::routing::Router;
use crate::service::{Env, Service, Start};
use nbmodem_clock::Instant;
use nbmodem_coap::EndpointConfig;
use nbmodem_lwm2m::client::{ClientConfig, ClientEvent, Lwm2mClient};
use nbmodem_lwm2m::content::{ResourceType, Value};
use nbmodem_lwm2m::object::{DataObject, ObjectStore, Operations, ResourceDef, ResourceValue};
use nbmodem_net::{DatagramNode, Transmit};
use nbmodem_operators::dm::{self, DeviceIdentity, TerminalType};
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
    let settings = &start.in_use.dm;
    let switched_on =
        !profile.dm.needs_self_registration_switch || start.in_use.self_registration_on(profile);
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
    env.of(NAME).notice(format!(
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
        env.notice(format!("{meaning}{next}"));
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
