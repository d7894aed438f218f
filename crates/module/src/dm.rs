//! China Mobile DM (CMDMP) as the module runs it (behaviour.md §4.4, protocols.md §3): on every
//! boot and attach, an LwM2M Register with the encrypted endpoint name, then an Update with the
//! `epi=` query every update period; object 666 carries the AT+QDMPCFGEX values, each encrypted.
//! [`DmSession`] wraps the LwM2M client and turns its events into the states AT+QDMPCFG=6 reports.

use crate::nvram::{DmCredentials, DmSettings};
use nbmodem_clock::Instant;
use nbmodem_coap::{EndpointConfig, TransmissionParams};
use nbmodem_lwm2m::client::{ClientConfig, ClientEvent, Lwm2mClient};
use nbmodem_lwm2m::content::{ResourceType, Value};
use nbmodem_lwm2m::object::{DataObject, ObjectStore, Operations, ResourceDef, ResourceValue};
use nbmodem_net::Transmit;
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

/// The DM server's port when none is configured.
pub const DEFAULT_PORT: u16 = 5683;

/// The AT+QDMPCFGEX values of each type: the object 666 resource that carries each (protocols.md
/// §3.5) and its maximum length (seed 000 §3.2.2).
pub const DEVICE_INFO: [&[(u16, usize)]; 6] = [
    &[(6602, 255)],
    &[(6603, 19)],
    &[(6604, 19), (6605, 19), (6606, 19), (6607, 47)],
    &[(6608, 47), (6609, 47)],
    &[(6610, 7), (6611, 19), (6612, 47), (6613, 19)],
    &[(6614, 255)],
];

/// The lifetime registered: the update period plus COAP_MAX_TRANSMIT_WAIT (46 s), as the modules
/// do (protocols.md §3.3), so the Update always comes before the lifetime ends.
const LIFETIME_MARGIN: u32 = 46;

pub struct DmSession {
    client: Lwm2mClient,
    /// When the registration runs out unless an Update renews it.
    registered_until: Option<Instant>,
}

/// What a DM session is started with.
pub struct DmStart<'a> {
    pub server: SocketAddr,
    pub settings: &'a DmSettings,
    pub credentials: &'a DmCredentials,
    pub imsi: &'a str,
    /// The update period, in seconds.
    pub period: u32,
    pub timing: TransmissionParams,
    pub seed: u64,
}

impl DmSession {
    /// A session to the server, registered at once.
    pub fn start(now: Instant, start: DmStart<'_>) -> DmSession {
        let DmStart {
            server,
            settings,
            credentials,
            imsi,
            period,
            timing,
            seed,
        } = start;
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
        config.lifetime = Some(period.saturating_add(LIFETIME_MARGIN));
        config.update_interval = Some(Duration::from_secs(u64::from(period)));
        config.update_query = vec![format!(
            "epi={}",
            dm::epi(terminal, key, password, &identity)
        )];
        config.include_security_object = true;
        let coap = EndpointConfig {
            params: timing,
            seed,
            ..Default::default()
        };
        let mut client = Lwm2mClient::new(config, objects(settings, password), coap);
        client.register(now);
        DmSession {
            client,
            registered_until: None,
        }
    }

    pub fn server(&self) -> SocketAddr {
        self.client.config().server
    }

    /// How long a Register or Update keeps the device registered.
    fn lifetime(&self) -> Duration {
        Duration::from_secs(self.client.config().lifetime.map_or(0, u64::from))
    }

    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Option<u8> {
        nbmodem_net::DatagramNode::handle_datagram(&mut self.client, now, from, datagram);
        self.state_change(now)
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        nbmodem_net::DatagramNode::poll_transmit(&mut self.client)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let client = nbmodem_net::DatagramNode::poll_timeout(&self.client);
        [client, self.registered_until].into_iter().flatten().min()
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Option<u8> {
        nbmodem_net::DatagramNode::handle_timeout(&mut self.client, now);
        let change = self.state_change(now);
        if self.registered_until.is_some_and(|end| end <= now) {
            self.registered_until = None;
            return Some(state::LIFETIME_TIMEOUT);
        }
        change
    }

    /// Whether an exchange with the DM server is in flight.
    pub fn is_busy(&self) -> bool {
        self.client.is_busy()
    }

    /// Whether the periodic Update is due at `now`.
    pub fn update_due(&self, now: Instant) -> bool {
        self.client.next_update_at().is_some_and(|at| at <= now)
    }

    /// When the next periodic Update is due.
    pub fn next_update_at(&self) -> Option<Instant> {
        self.client.next_update_at()
    }

    /// Lets a due Update pass unsent; the next comes an update period later.
    pub fn skip_update(&mut self) {
        self.client.skip_update();
    }

    /// The latest DM state the client's events call for; a registration or Update also starts a
    /// new lifetime.
    fn state_change(&mut self, now: Instant) -> Option<u8> {
        let mut latest = None;
        while let Some(event) = self.client.poll_event() {
            if matches!(event, ClientEvent::Registered { .. } | ClientEvent::Updated) {
                self.registered_until = Some(now + self.lifetime());
            }
            let changed = match event {
                ClientEvent::Registered { .. } => Some(state::REGISTERED),
                ClientEvent::RegistrationFailed { status: Some(_) } => Some(state::REGISTER_FAILED),
                ClientEvent::RegistrationFailed { status: None } => Some(state::REGISTER_TIMEOUT),
                ClientEvent::Updated => Some(state::UPDATED),
                ClientEvent::UpdateFailed { status: Some(_) } => Some(state::UPDATE_FAILED),
                ClientEvent::UpdateFailed { status: None } => Some(state::UPDATE_TIMEOUT),
                _ => None,
            };
            latest = changed.or(latest);
        }
        latest
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
        let resources = DEVICE_INFO.get(usize::from(*kind)).copied().unwrap_or(&[]);
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
