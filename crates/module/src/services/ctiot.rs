//! The China Telecom IoT platform / CTWing AEP link of the BC260Y-CN (seed 002 chapters 2 and 3,
//! protocols.md §4) as a service of the module, from boot: AT+NNMI and the downlink buffer exist
//! before any connection. The Neul family (BC35-G, BC28, BC95) runs the same link with its own
//! commands: the platform saved by AT+NCDP is registered with at the first attach (AT+QREGSWT=1)
//! or by the first uplink, which waits for it ([`CtIot::send_or_register`]); what differs is the
//! profile's [`CtIotConfig`].
//!
//! AT+NCDPOPEN starts an LwM2M client named by the IMEI (over DTLS-PSK with the IMEI as identity
//! when a key is given) that registers objects 1, 3 and 19 (instances 0 and 1). The platform
//! observes /19/0/0; an uplink (AT+NMGS) is a notification on that observation, confirmable or
//! not, with the release assistance its `<type>` asks; a downlink is a Write to /19/1/0, which
//! AT+NNMI prints, buffers, or both. The client's events become the `+QLWEVTIND` URCs and the
//! states of AT+NMSTATUS and AT+QLWULDATASTATUS.
//!
//! With DFOTA (chapter 5) the link also holds Object 5: what the platform writes to /5/0/1 and
//! executes on /5/0/2 goes to the firmware service ([`crate::services::fota`]) as a
//! [`Message`], the state and result it sends back are notified on /5/0/3; the observation of
//! /5/0/3 (`+QLWEVTIND: 8`, its end `+QLWEVTIND: 9`) is kept in NVRAM while the module reboots
//! into new firmware, and the result is notified on it after the next registration.
//!
//! Two rules of the seed that the engine does not give by itself:
//! - a confirmable uplink that goes unacknowledged fails (`+QLWEVTIND: 5`) but leaves the uplink
//!   channel open, so the host can send again: the observation is taken back as it was;
//! - a Reset to an uplink ends the channel (`+QLWEVTIND: 10`): no more data until AT+NCDPOPEN
//!   connects again.

use crate::neul::{registration, CdpServer};
use crate::nvram::{NvramEdit, Section};
use crate::profile::{CtIotConfig, Feature, Profile};
use crate::radio::{RadioEvent, Rai, RegStatus};
use crate::service::{Effect, Env, Message, Service, Start};
use crate::services::firmware_object::{FirmwareMessage, FirmwareObject};
use nbmodem_clock::Instant;
use nbmodem_coap::{CancelReason, EndpointConfig, SavedObservation};
use nbmodem_dtls::secure::{Role, SecureNode};
use nbmodem_dtls::SecureEvent;
use nbmodem_lwm2m::client::{ClientConfig, ClientEvent, Lwm2mClient};
use nbmodem_lwm2m::content::{Path, ResourceType, Value};
use nbmodem_lwm2m::object::{DataObject, ObjectStore, Operations, ResourceDef, ResourceValue};
use nbmodem_net::{DatagramNode, Transmit};
use nbmodem_operators::ctiot::firmware::{self, PACKAGE_URI, STATE, UPDATE};
use nbmodem_operators::ctiot::{hex, DATA_OBJECT, DOWNLINK, UPLINK};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

/// The service's name in console notices until a link names its platform.
const NAME: &str = "CT IoT";

/// `1 byte`, `5 bytes`.
fn byte_count(n: usize) -> String {
    match n {
        1 => "1 byte".into(),
        n => format!("{n} bytes"),
    }
}

fn uplink_path() -> Path {
    Path::new(&UPLINK).expect("a valid path")
}

fn downlink_path() -> Path {
    Path::new(&DOWNLINK).expect("a valid path")
}

fn firmware_path(resource: u16) -> Path {
    Path::new(&firmware::path(resource)).expect("a valid path")
}

/// AT+NMSTATUS (seed §2.3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    Uninitialised,
    Registering,
    RejectedByServer,
    Timeout,
    Registered,
    RegisteredAndObserved,
    Deregistered,
    ResumptionFailed,
}

impl LinkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Uninitialised => "UNINITIALISED",
            LinkStatus::Registering => "REGISTERING",
            LinkStatus::RejectedByServer => "REJECTED_BY_SERVER",
            LinkStatus::Timeout => "TIMEOUT",
            LinkStatus::Registered => "REGISTERED",
            LinkStatus::RegisteredAndObserved => "REGISTERED_AND_OBSERVED",
            LinkStatus::Deregistered => "DEREGISTERED",
            LinkStatus::ResumptionFailed => "RESUMPTION_FAILED",
        }
    }

    fn registered(self) -> bool {
        matches!(
            self,
            LinkStatus::Registered | LinkStatus::RegisteredAndObserved
        )
    }
}

/// AT+QLWULDATASTATUS: what became of the last confirmable uplink (seed §2.3.8).
pub mod con_status {
    pub const NOT_SENT: u8 = 0;
    pub const SENT: u8 = 1;
    pub const FAILED: u8 = 2;
    pub const TIMEOUT: u8 = 3;
    pub const DELIVERED: u8 = 4;
    pub const RESET: u8 = 5;
}

/// The `<type>` values of `+QLWEVTIND` (seed §3.1).
pub mod indication {
    pub const EXCEPTION: i8 = -1;
    pub const REGISTERED: i8 = 0;
    pub const FAILED: i8 = 1;
    pub const UPDATED: i8 = 2;
    pub const OBSERVED: i8 = 3;
    pub const CON_DELIVERED: i8 = 4;
    pub const CON_FAILED: i8 = 5;
    pub const RESUMED: i8 = 6;
    pub const RESUME_FAILED: i8 = 7;
    pub const FIRMWARE_OBSERVED: i8 = 8;
    pub const FIRMWARE_UNOBSERVED: i8 = 9;
    pub const RESET: i8 = 10;
}

/// The downlink buffer of AT+NNMI 0 and 2, and the counts of AT+NQMGR since boot.
#[derive(Debug, Default)]
struct Downlinks {
    messages: VecDeque<Vec<u8>>,
    received: u32,
    dropped: u32,
}

impl Downlinks {
    fn bytes(&self) -> usize {
        self.messages.iter().map(Vec::len).sum()
    }
}

/// The LwM2M client, plain or behind DTLS.
enum Link {
    Plain(Box<Lwm2mClient>),
    Secure(Box<SecureNode<Lwm2mClient>>),
}

impl Link {
    fn client(&mut self) -> &mut Lwm2mClient {
        match self {
            Link::Plain(client) => client,
            Link::Secure(node) => node.inner_mut(),
        }
    }

    fn node(&mut self) -> &mut dyn DatagramNode {
        match self {
            Link::Plain(client) => client.as_mut(),
            Link::Secure(node) => node.as_mut(),
        }
    }

    fn node_ref(&self) -> &dyn DatagramNode {
        match self {
            Link::Plain(client) => client.as_ref(),
            Link::Secure(node) => node.as_ref(),
        }
    }

    fn is_busy(&self) -> bool {
        match self {
            Link::Plain(client) => client.is_busy(),
            Link::Secure(node) => node.inner().is_busy(),
        }
    }

    fn secure_event(&mut self) -> Option<SecureEvent> {
        match self {
            Link::Plain(_) => None,
            Link::Secure(node) => node.poll_event(),
        }
    }
}

/// An uplink of AT+NMGS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uplink {
    pub data: Vec<u8>,
    pub confirmable: bool,
    pub rai: Rai,
}

/// What AT+NQMGR reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownlinkCounts {
    pub buffered: usize,
    pub received: u32,
    pub dropped: u32,
}

/// Who the module is, for the link's objects and name.
#[derive(Debug, Clone)]
struct Identity {
    imei: String,
    manufacturer: &'static str,
    model: &'static str,
    firmware: String,
}

pub struct CtIot {
    /// The platform of the link, as console notices name it (`CT IoT`, `CTWing AEP`).
    name: &'static str,
    /// The model's link settings, in its profile (not copied into each module).
    config: &'static CtIotConfig,
    identity: Identity,
    /// The AT+NCFG lifetime in use (loaded at boot).
    lifetime: u32,
    nnmi: u8,
    downlinks: Downlinks,
    status: LinkStatus,
    con_status: u8,
    link: Option<Link>,
    /// Datagrams taken from the link, with the release assistance each goes with.
    outbox: VecDeque<(Transmit, Rai)>,
    /// A Reset ended the uplink channel: no data until a new connection.
    blocked: bool,
    /// The platform observed /19/0/0 before the Register's answer came.
    observed_early: bool,
    /// AT+NCDPCLOSE: the De-register is answered, or this time passes.
    closing_until: Option<Instant>,
    /// The uplink observation as it was before the confirmable uplink in flight.
    before_con: Option<SavedObservation>,
    /// When the registration lapses unless an Update renews it.
    registered_until: Option<Instant>,
    /// The link was up when the module went to deep sleep: waking resumes it.
    sleeping_link: bool,
    /// Object 5's state and update result, as the firmware service last told.
    firmware_state: (u8, u8),
    /// The /5/0/3 observation kept across the reboot into new firmware, to report on.
    kept_observation: Option<KeptObservation>,
    /// Between a URC's name and its values, as the model prints it.
    separator: &'static str,
    /// AT+NCDP's platform (the Neul family), and AT+QREGSWT in use: when the link registers
    /// with it ([`registration`]). The first attach of the boot clears `register_at_attach`.
    cdp: Option<CdpServer>,
    register_at_attach: bool,
    registration_disabled: bool,
    /// Uplinks waiting for the registration they started (the Neul family).
    pending: VecDeque<Uplink>,
    /// AT+NSMI: `+NSMI` URCs on each uplink sent or discarded.
    nsmi: bool,
    /// AT+NQMGS's counts since boot.
    counts: UplinkCounts,
}

/// What AT+NQMGS reports: uplinks sent (a confirmable one once acknowledged) and failed since
/// boot; the pending ones are counted when asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UplinkCounts {
    pub pending: usize,
    pub sent: u32,
    pub failed: u32,
}

/// What the link keeps in NVRAM: the AT+NCFG lifetime, seconds (0: the model's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkSettings {
    pub lifetime: u32,
}

impl Section for LinkSettings {
    const NAME: &'static str = "ctiot";

    fn check(&self, profile: &Profile) -> Result<(), String> {
        let Some(ctiot) = &profile.ctiot else {
            return Ok(());
        };
        let lifetime = self.lifetime;
        if lifetime > ctiot.lifetime_max || (1..ctiot.lifetime_floor).contains(&lifetime) {
            return Err(format!(
                "`lifetime` is {lifetime}, but must be 0 or {} to {}",
                ctiot.lifetime_floor, ctiot.lifetime_max
            ));
        }
        Ok(())
    }
}

/// An observation the platform made, as the device keeps it across a reboot: its token and the
/// sequence number of the last notification (the server's address is the one it registers with).
/// The link keeps the /5/0/3 observation across the reboot into new firmware, to report the
/// update's result on it after the next registration (protocols.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptObservation {
    /// The token, as hex.
    pub token: String,
    pub sequence: u32,
}

impl Section for KeptObservation {
    const NAME: &'static str = "fota_observation";

    /// A token of 0 to 8 bytes in hex and a sequence number that fits the Observe option (24
    /// bits).
    fn check(&self, _: &Profile) -> Result<(), String> {
        let token = nbmodem_operators::ctiot::decode_hex(&self.token);
        let token_ok = token.is_some_and(|t| t.len() <= nbmodem_coap::MAX_TOKEN);
        if token_ok && self.sequence <= nbmodem_coap::MAX_SEQUENCE {
            return Ok(());
        }
        Err(format!(
            "{self:?}, but must have a token of 0 to {} bytes in hex and a sequence of at most {}",
            nbmodem_coap::MAX_TOKEN,
            nbmodem_coap::MAX_SEQUENCE
        ))
    }
}

/// Starts the service at boot on firmware with the link (BC260Y-CN R02 and later).
pub fn start(start: &Start<'_>, _env: &mut Env<'_>) -> Option<Box<dyn Service>> {
    let config = start.profile.ctiot.as_ref()?;
    if !start
        .profile
        .has_feature(Feature::CtIot, &start.in_use.firmware)
    {
        return None;
    }
    let neul_settings = crate::neul::saved(start.in_use);
    let registration_mode = start
        .profile
        .neul
        .as_ref()
        .map(|config| neul_settings.registration_mode(config));
    let identity = Identity {
        imei: start.in_use.imei.clone(),
        manufacturer: start.profile.identification.manufacturer,
        model: start.profile.model,
        firmware: start.in_use.firmware.clone(),
    };
    Some(Box::new(CtIot {
        name: NAME,
        config,
        identity,
        lifetime: match start
            .in_use
            .section::<LinkSettings>()
            .map_or(0, |s| s.lifetime)
        {
            0 => config.default_lifetime,
            set => set,
        },
        nnmi: config.nnmi_default,
        downlinks: Downlinks::default(),
        status: LinkStatus::Uninitialised,
        con_status: con_status::NOT_SENT,
        link: None,
        outbox: VecDeque::new(),
        blocked: false,
        observed_early: false,
        closing_until: None,
        before_con: None,
        registered_until: None,
        sleeping_link: false,
        firmware_state: (firmware::state::IDLE, 0),
        kept_observation: start.in_use.section(),
        separator: start.profile.separator,
        cdp: neul_settings.cdp.clone(),
        register_at_attach: registration_mode == Some(registration::AT_ATTACH),
        registration_disabled: registration_mode == Some(registration::DISABLED),
        pending: VecDeque::new(),
        nsmi: false,
        counts: UplinkCounts::default(),
    }))
}

/// Why the link refuses what the host asked; the commands answer each with the profile's error
/// code (commands/ctiot.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// A registration is under way.
    Registering,
    /// Not now: registered already, closing, or blocked by an unanswered CON uplink.
    NotPermitted,
    /// Not registered with the platform.
    NotRegistered,
    /// Registered, but the platform has not observed the data object yet.
    NoSession,
    /// AT+NCDPCLOSE while a connection is being made: refused as a bad command (seed §2.3.1
    /// note 3).
    ClosingWhileRegistering,
    /// The Neul family: too many uplinks wait for the registration they started.
    UplinkBusy,
    /// The Neul family: no platform set with AT+NCDP.
    NoPlatform,
    /// The platform's address cannot be found now.
    TemporarilyUnavailable,
}

impl CtIot {
    pub fn status(&self) -> LinkStatus {
        self.status
    }

    /// AT+NMSTATUS's word for the status, as the model names it.
    pub fn status_text(&self) -> &'static str {
        match self.status {
            LinkStatus::RegisteredAndObserved => self.config.observed_status,
            other => other.as_str(),
        }
    }

    pub fn nsmi(&self) -> bool {
        self.nsmi
    }

    pub fn set_nsmi(&mut self, on: bool) {
        self.nsmi = on;
    }

    /// AT+NCDP: the platform of the next registration.
    pub fn set_cdp(&mut self, cdp: CdpServer) {
        self.cdp = Some(cdp);
    }

    /// AT+NQMGS: the uplinks waiting (for the registration, or a confirmable one for its
    /// acknowledgement), sent and failed since boot.
    pub fn uplink_counts(&self) -> UplinkCounts {
        let in_flight = usize::from(self.con_status == con_status::SENT);
        UplinkCounts {
            pending: self.pending.len() + in_flight,
            ..self.counts
        }
    }

    /// An uplink of the Neul family (AT+NMGS, AT+QLWULDATAEX): sent at once when the platform
    /// observes the uplink channel; otherwise it waits for the registration, which it starts
    /// with the AT+NCDP platform if none is under way.
    pub fn send_or_register(
        &mut self,
        now: Instant,
        uplink: Uplink,
        env: &mut Env,
    ) -> Result<(), LinkError> {
        let ready = self.status == LinkStatus::RegisteredAndObserved && self.pending.is_empty();
        if self.registration_disabled {
            return Err(LinkError::NotPermitted);
        }
        // A channel the platform reset stays closed: the refusal comes from `send`.
        if ready || self.blocked || !self.config.registers_on_uplink {
            return self.send(now, uplink, env);
        }
        if self.pending.len() >= self.config.max_pending {
            return Err(LinkError::UplinkBusy);
        }
        if !matches!(
            self.status,
            LinkStatus::Registering | LinkStatus::Registered | LinkStatus::RegisteredAndObserved
        ) {
            self.register_with_cdp(now, env)?;
        }
        self.pending.push_back(uplink);
        Ok(())
    }

    /// Registers with the AT+NCDP platform.
    fn register_with_cdp(&mut self, now: Instant, env: &mut Env) -> Result<(), LinkError> {
        let cdp = self.cdp.clone().ok_or(LinkError::NoPlatform)?;
        let server = env
            .router
            .resolve_to_address(&cdp.host, cdp.port)
            .map_err(|_| LinkError::TemporarilyUnavailable)?;
        let platform = nbmodem_operators::ctiot::platform_name(&cdp.host);
        self.open(now, server, None, platform, env)
    }

    /// Sends the uplinks that waited for the registration, once the platform observes.
    fn send_pending(&mut self, now: Instant, env: &mut Env) {
        while self.status == LinkStatus::RegisteredAndObserved {
            let Some(uplink) = self.pending.pop_front() else {
                return;
            };
            if self.send(now, uplink, env).is_err() {
                self.discard(env);
            }
        }
    }

    /// An uplink that cannot be sent: counted, and told with `+NSMI:DISCARDED`.
    fn discard(&mut self, env: &mut Env) {
        self.counts.failed += 1;
        if self.nsmi {
            self.urc(env, "+NSMI", "DISCARDED");
        }
    }

    pub fn con_status(&self) -> u8 {
        self.con_status
    }

    pub fn nnmi(&self) -> u8 {
        self.nnmi
    }

    pub fn set_nnmi(&mut self, mode: u8) {
        self.nnmi = mode;
    }

    pub fn config(&self) -> &CtIotConfig {
        self.config
    }

    pub fn downlink_counts(&self) -> DownlinkCounts {
        DownlinkCounts {
            buffered: self.downlinks.messages.len(),
            received: self.downlinks.received,
            dropped: self.downlinks.dropped,
        }
    }

    /// AT+NMGR: the oldest buffered downlink, taken out of the buffer.
    pub fn take_downlink(&mut self) -> Option<Vec<u8>> {
        self.downlinks.messages.pop_front()
    }

    /// AT+NCDPOPEN: registers with `platform` at `server`, over DTLS when `psk` is given. The
    /// downlink buffer is emptied.
    pub fn open(
        &mut self,
        now: Instant,
        server: SocketAddr,
        psk: Option<Vec<u8>>,
        platform: &'static str,
        env: &mut Env,
    ) -> Result<(), LinkError> {
        match self.status {
            LinkStatus::Registering => return Err(LinkError::Registering),
            status if status.registered() => return Err(LinkError::NotPermitted),
            _ => {}
        }
        self.name = platform;
        let env = env.of(platform);
        let mut client = self.client(server, env.engine_seed());
        client.register(now);
        let secure = psk.is_some();
        self.link = Some(match psk {
            None => Link::Plain(Box::new(client)),
            Some(key) => {
                let role = Role::Client {
                    identity: self.identity.imei.clone().into_bytes(),
                    key,
                };
                Link::Secure(Box::new(SecureNode::new(client, role)))
            }
        });
        self.status = LinkStatus::Registering;
        self.con_status = con_status::NOT_SENT;
        self.blocked = false;
        self.downlinks.messages.clear();
        let how = if secure { "over DTLS" } else { "without DTLS" };
        env.notice(format_args!("registering with {server} {how}"));
        Ok(())
    }

    /// The LwM2M client of a new connection.
    fn client(&self, server: SocketAddr, seed: u64) -> Lwm2mClient {
        let mut config = ClientConfig::new(&self.identity.imei, server);
        config.lifetime = (self.lifetime > 0).then_some(self.lifetime);
        let coap = EndpointConfig {
            params: self.config.link.params(),
            seed,
            ..Default::default()
        };
        Lwm2mClient::new(config, objects(&self.identity, self.firmware_state), coap)
    }

    /// AT+NCDPCLOSE: de-registers; the link is DEREGISTERED when the platform answers, or after
    /// the profile's wait. Refused while a connection is being made (seed §2.3.1 note 3).
    pub fn close(&mut self, now: Instant, env: &mut Env) -> Result<(), LinkError> {
        if self.status == LinkStatus::Registering {
            return Err(LinkError::ClosingWhileRegistering);
        }
        if !self.status.registered() || self.closing_until.is_some() {
            return Err(LinkError::NotRegistered);
        }
        if let Some(link) = self.link.as_mut() {
            link.client().deregister(now);
        }
        self.closing_until = Some(now + self.config.deregister_timeout);
        env.notice("de-registering");
        Ok(())
    }

    /// AT+NMGS: sends `uplink` on the uplink channel.
    pub fn send(&mut self, now: Instant, uplink: Uplink, env: &mut Env) -> Result<(), LinkError> {
        match self.status {
            LinkStatus::Registering => return Err(LinkError::Registering),
            _ if self.closing_until.is_some() || self.blocked => {
                return Err(LinkError::NotPermitted)
            }
            LinkStatus::Registered => return Err(LinkError::NoSession),
            LinkStatus::RegisteredAndObserved => {}
            _ => return Err(LinkError::NotRegistered),
        }
        let Some(link) = self.link.as_mut() else {
            return Err(LinkError::NotRegistered);
        };
        // What the link had to send before goes without this uplink's release assistance.
        while let Some(transmit) = link.node().poll_transmit() {
            self.outbox.push_back((transmit, Rai::None));
        }
        let client = link.client();
        if let Some(object) = client.store_mut().object_as::<DataObject>(DATA_OBJECT) {
            object.set(
                0,
                0,
                ResourceValue::Single(Value::Opaque(uplink.data.clone())),
            );
        }
        let before = client.saved_observation(uplink_path());
        let Some(sequence) = client.notify(now, uplink_path(), uplink.confirmable) else {
            if uplink.confirmable {
                self.con_status = con_status::FAILED;
            }
            return Err(LinkError::NoSession);
        };
        while let Some(transmit) = link.node().poll_transmit() {
            self.outbox.push_back((transmit, uplink.rai));
        }
        if uplink.confirmable {
            self.con_status = con_status::SENT;
            self.before_con = before.map(|saved| SavedObservation { sequence, ..saved });
        } else {
            self.counts.sent += 1;
            if self.nsmi {
                self.urc(env, "+NSMI", "SENT");
            }
        }
        let kind = if uplink.confirmable { "CON" } else { "NON" };
        env.notice(format_args!(
            "uplink of {} ({kind})",
            byte_count(uplink.data.len())
        ));
        Ok(())
    }

    /// Writes a `+QLWEVTIND` URC, on the models that report the link's events so.
    fn indicate(&self, env: &mut Env, kind: i8) {
        if self.config.event_urcs {
            env.effect(Effect::Urc(format!("+QLWEVTIND: {kind}")));
        }
    }

    /// `+NAME` and its value in the model's style (`+NNMI:3,AABBCC` on the Neul family).
    fn urc(&self, env: &mut Env, name: &str, value: impl std::fmt::Display) {
        env.effect(Effect::Urc(format!("{name}{}{value}", self.separator)));
    }

    /// The end of a confirmable uplink, on the models that report it with a
    /// `+QLWULDATASTATUS` URC (the Neul family's AT+QLWULDATAEX).
    fn con_outcome(&mut self, status: u8, env: &mut Env) {
        self.con_status = status;
        if status == con_status::DELIVERED {
            self.counts.sent += 1;
        } else {
            self.counts.failed += 1;
        }
        if !self.config.event_urcs {
            self.urc(env, "+QLWULDATASTATUS", status);
        }
    }

    /// Turns what the link did into states and URCs.
    fn follow(&mut self, now: Instant, env: &mut Env) {
        loop {
            let Some(link) = self.link.as_mut() else {
                return;
            };
            if let Some(secure) = link.secure_event() {
                self.secure_event(secure, env);
                continue;
            }
            let Some(event) = link.client().poll_event() else {
                break;
            };
            self.client_event(now, event, env);
        }
        self.send_pending(now, env);
    }

    fn secure_event(&mut self, event: SecureEvent, env: &mut Env) {
        match event {
            SecureEvent::Failed { cause, .. } => {
                env.notice(format_args!("DTLS failed: {cause}"));
                if self.status.registered() {
                    self.indicate(env, indication::EXCEPTION);
                }
            }
            SecureEvent::Connected { .. } => env.notice("DTLS session up"),
            SecureEvent::Closed { .. } => env.notice("DTLS session closed"),
        }
    }

    /// What the LwM2M client reported, applied to the link.
    fn client_event(&mut self, now: Instant, event: ClientEvent, env: &mut Env) {
        // Each part takes the events it knows and hands on the others; the rest (reads, writes
        // of other resources) need nothing from the link.
        let _rest = self
            .registration_event(now, event, env)
            .and_then(|event| self.data_event(event, env))
            .and_then(|event| self.firmware_event(event, env));
    }

    /// Register, Update and De-register: the link's status and its URCs.
    fn registration_event(
        &mut self,
        now: Instant,
        event: ClientEvent,
        env: &mut Env,
    ) -> Option<ClientEvent> {
        match event {
            ClientEvent::Registered { location } => {
                self.status = LinkStatus::Registered;
                self.renew(now);
                env.notice(format_args!("registered at {location}"));
                self.indicate(env, indication::REGISTERED);
                self.report_firmware_update(now, env);
                // The platform's Observe can come before the Register's answer (that answer
                // lost, and sent again for the Register's retransmission): the client served
                // it then, and the link is ready for data from now.
                if std::mem::take(&mut self.observed_early) {
                    self.ready_for_data(env);
                }
            }
            ClientEvent::RegistrationFailed { status } => {
                let (state, why) = match status {
                    Some(status) => (
                        LinkStatus::RejectedByServer,
                        format!("refused ({status:?})"),
                    ),
                    None => (LinkStatus::Timeout, "no answer".to_string()),
                };
                self.status = state;
                self.end_link(now);
                for _ in std::mem::take(&mut self.pending) {
                    self.discard(env);
                }
                env.notice(format_args!("registration failed: {why}"));
                self.indicate(env, indication::FAILED);
            }
            ClientEvent::Updated => {
                self.renew(now);
                env.notice("registration updated");
                self.indicate(env, indication::UPDATED);
            }
            ClientEvent::UpdateFailed { status } => {
                env.notice(format_args!("update failed ({status:?})"));
            }
            ClientEvent::Deregistered => self.deregistered(now, env),
            other => return Some(other),
        }
        None
    }

    /// The data channel: the platform's observation of /19/0/0, confirmable uplinks delivered,
    /// downlinks written to /19/1/0.
    fn data_event(&mut self, event: ClientEvent, env: &mut Env) -> Option<ClientEvent> {
        match event {
            // Before the Register's answer: counted when that comes (`registration_event`).
            ClientEvent::ObservationStarted { path }
                if path == uplink_path() && self.status == LinkStatus::Registering =>
            {
                self.observed_early = true
            }
            ClientEvent::ObservationStarted { path } if path == uplink_path() => {
                self.ready_for_data(env)
            }
            ClientEvent::ObservationEnded { path, reason } if path == uplink_path() => {
                self.uplink_channel_ended(reason, env)
            }
            ClientEvent::NotificationAcked { path, .. } if path == uplink_path() => {
                self.con_outcome(con_status::DELIVERED, env);
                self.before_con = None;
                self.indicate(env, indication::CON_DELIVERED);
            }
            ClientEvent::Written { paths } if paths.contains(&downlink_path()) => {
                if let Some(data) = self.written_downlink() {
                    self.downlink(data, env);
                }
            }
            other => return Some(other),
        }
        None
    }

    /// The platform observes /19/0/0.
    fn ready_for_data(&mut self, env: &mut Env) {
        if self.status == LinkStatus::Registered {
            self.status = LinkStatus::RegisteredAndObserved;
        }
        env.notice("the platform observes /19/0/0: ready for data");
        self.indicate(env, indication::OBSERVED);
    }

    /// What the platform wrote to /19/1/0.
    fn written_downlink(&mut self) -> Option<Vec<u8>> {
        let store = self.link.as_mut()?.client().store_mut();
        match store.object_as::<DataObject>(DATA_OBJECT)?.get(1, 0) {
            Some(ResourceValue::Single(Value::Opaque(data))) => Some(data.clone()),
            _ => None,
        }
    }

    /// Object 5: the platform observing /5/0/3, writing the package URI, executing the update;
    /// the firmware service is told through messages.
    fn firmware_event(&mut self, event: ClientEvent, env: &mut Env) -> Option<ClientEvent> {
        match event {
            ClientEvent::ObservationStarted { path } if path == firmware_path(STATE) => {
                env.notice("the platform observes /5/0/3: a firmware update may come");
                self.indicate(env, indication::FIRMWARE_OBSERVED);
            }
            // An unacknowledged notification ends it too, but the platform did not cancel it.
            ClientEvent::ObservationEnded { path, reason }
                if path == firmware_path(STATE) && reason != CancelReason::Timeout =>
            {
                env.notice("the platform stopped observing /5/0/3");
                self.indicate(env, indication::FIRMWARE_UNOBSERVED);
            }
            ClientEvent::Written { paths } if paths.contains(&firmware_path(PACKAGE_URI)) => {
                if let Some(uri) = self.package_uri() {
                    env.effect(Effect::Message(Message::new(FirmwareMessage::PackageUri(
                        uri,
                    ))));
                }
            }
            ClientEvent::Executed { path, .. } if path == firmware_path(UPDATE) => {
                env.effect(Effect::Message(Message::new(
                    FirmwareMessage::UpdateFirmware,
                )));
            }
            other => return Some(other),
        }
        None
    }

    /// What the platform wrote to /5/0/1.
    fn package_uri(&mut self) -> Option<String> {
        let store = self.link.as_mut()?.client().store_mut();
        store
            .object_as::<FirmwareObject>(firmware::OBJECT)?
            .package_uri()
    }

    /// The firmware service changed Object 5: the platform's observer is told; entering the
    /// update, the observation is kept in NVRAM for the report after the reboot.
    fn firmware_state(&mut self, now: Instant, state: u8, result: u8, env: &mut Env) {
        self.firmware_state = (state, result);
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let client = link.client();
        if let Some(object) = client
            .store_mut()
            .object_as::<FirmwareObject>(firmware::OBJECT)
        {
            object.set_state(state, result);
        }
        client.value_changed(now, firmware_path(STATE));
        if state != firmware::state::UPDATING {
            return;
        }
        if let Some(saved) = client.saved_observation(firmware_path(STATE)) {
            let kept = KeptObservation {
                token: hex(&saved.token),
                sequence: saved.sequence,
            };
            env.effect(Effect::save(kept));
        }
    }

    /// After the reboot into new firmware (or back into the old one), the update's result is
    /// notified on the observation kept from before.
    fn report_firmware_update(&mut self, now: Instant, env: &mut Env) {
        let (Some(kept), Some(link)) = (self.kept_observation.take(), self.link.as_mut()) else {
            return;
        };
        env.effect(Effect::Save(NvramEdit::new(|nv, _| {
            nv.remove_section::<KeptObservation>()
        })));
        let Some(token) = nbmodem_operators::ctiot::decode_hex(&kept.token) else {
            return;
        };
        let client = link.client();
        let saved = SavedObservation {
            peer: client.config().server,
            token,
            sequence: kept.sequence,
            resource: format!("{}?", firmware_path(STATE)),
        };
        // NVRAM's check at start refuses a token CoAP cannot carry; this is the last guard.
        if !client.restore_observation(firmware_path(STATE), saved) {
            env.notice("the kept observation's token is too long for CoAP: result not reported");
            return;
        }
        client.notify(now, firmware_path(STATE), false);
        let (state, result) = self.firmware_state;
        env.notice(format_args!(
            "firmware update reported: state {state}, result {result}"
        ));
    }

    /// The lifetime starts again (a registration or an Update).
    fn renew(&mut self, now: Instant) {
        self.registered_until =
            (self.lifetime > 0).then(|| now + Duration::from_secs(u64::from(self.lifetime)));
    }

    fn uplink_channel_ended(&mut self, reason: CancelReason, env: &mut Env) {
        match reason {
            CancelReason::Timeout => {
                // The confirmable uplink went unacknowledged: it failed, the channel stays.
                self.con_outcome(con_status::TIMEOUT, env);
                if let (Some(saved), Some(link)) = (self.before_con.take(), self.link.as_mut()) {
                    // Saved by this endpoint a moment ago: its token is one CoAP carries.
                    let _ = link.client().restore_observation(uplink_path(), saved);
                }
                env.notice("the confirmable uplink was not acknowledged");
                self.indicate(env, indication::CON_FAILED);
            }
            CancelReason::Reset => {
                if self.con_status == con_status::SENT {
                    self.con_outcome(con_status::RESET, env);
                }
                self.blocked = true;
                self.status = LinkStatus::Registered;
                env.notice(
                    "the platform reset the uplink: no data until AT+NCDPOPEN connects again",
                );
                self.indicate(env, indication::RESET);
            }
            CancelReason::Deregistered => {
                self.status = LinkStatus::Registered;
                env.notice("the platform stopped observing /19/0/0");
            }
        }
    }

    /// A downlink, as AT+NNMI says: printed (1), buffered silently (0), or buffered and
    /// announced (2); a message that does not fit the buffer is dropped and announced.
    fn downlink(&mut self, data: Vec<u8>, env: &mut Env) {
        self.downlinks.received += 1;
        env.notice(format_args!("downlink of {}", byte_count(data.len())));
        if self.nnmi == 1 {
            self.urc(env, "+NNMI", format!("{},{}", data.len(), hex(&data)));
            return;
        }
        let full = self.downlinks.messages.len() >= self.config.buffer_messages
            || self.downlinks.bytes() + data.len() > self.config.buffer_bytes;
        if full {
            self.downlinks.dropped += 1;
            // The Neul family drops it silently: AT+NQMGR counts it.
            if self.config.event_urcs {
                env.effect(Effect::Urc("+NNMI: \"recv\",buff full".into()));
            }
            return;
        }
        self.downlinks.messages.push_back(data);
        if self.nnmi == 2 {
            env.effect(Effect::Urc("+NNMI".into()));
        }
    }

    fn deregistered(&mut self, now: Instant, env: &mut Env) {
        self.status = LinkStatus::Deregistered;
        self.closing_until = None;
        self.end_link(now);
        env.notice("de-registered");
    }

    /// Drops the link, after its last datagrams (a DTLS close_notify) are taken.
    fn end_link(&mut self, now: Instant) {
        let Some(mut link) = self.link.take() else {
            return;
        };
        if let Link::Secure(node) = &mut link {
            node.close_all(now);
        }
        while let Some(transmit) = link.node().poll_transmit() {
            self.outbox.push_back((transmit, Rai::None));
        }
        self.registered_until = None;
        self.before_con = None;
        self.observed_early = false;
    }

    /// The first attach of the boot registers with the AT+NCDP platform when AT+QREGSWT is 1
    /// (the Neul family's automatic registration).
    fn attached(&mut self, now: Instant, env: &mut Env) {
        let first = std::mem::take(&mut self.register_at_attach);
        if first && self.cdp.is_some() && self.status == LinkStatus::Uninitialised {
            // With a platform set and no link yet, only its address can fail.
            if self.register_with_cdp(now, env).is_err() {
                env.notice("no automatic registration: the AT+NCDP address cannot be reached");
            }
        }
    }

    /// Waking from deep sleep resumes the link from what was kept (seed §3.1: "+QLWEVTIND: 6 only
    /// means a local recovery, without the network"); a registration whose lifetime ran out
    /// meanwhile cannot be resumed.
    fn woke(&mut self, now: Instant, env: &mut Env) {
        if !std::mem::take(&mut self.sleeping_link) {
            return;
        }
        if self.registered_until.is_some_and(|until| until <= now) {
            self.status = LinkStatus::ResumptionFailed;
            self.end_link(now);
            env.notice("the registration lapsed during deep sleep: resumption failed");
            self.indicate(env, indication::RESUME_FAILED);
        } else {
            env.notice("resumed after deep sleep");
            self.indicate(env, indication::RESUMED);
        }
    }
}

/// Object 3's resources the link serves: manufacturer, model, serial number (the IMEI) and
/// firmware version, read-only. One table for every module.
const DEVICE_RESOURCES: &[ResourceDef] = &[
    ResourceDef::new(0, ResourceType::String, Operations::Read),
    ResourceDef::new(1, ResourceType::String, Operations::Read),
    ResourceDef::new(2, ResourceType::String, Operations::Read),
    ResourceDef::new(3, ResourceType::String, Operations::Read),
];

/// Object 19's one resource: the data, opaque.
const DATA_RESOURCES: &[ResourceDef] = &[ResourceDef::new(
    0,
    ResourceType::Opaque,
    Operations::ReadWrite,
)];

/// Object 1's one resource: the short server id.
const SERVER_RESOURCES: &[ResourceDef] =
    &[ResourceDef::new(1, ResourceType::Integer, Operations::Read)];

/// Objects 1 (server), 3 (device), 5 (firmware update) and 19 (the data: instance 0 up,
/// instance 1 down).
fn objects(identity: &Identity, firmware_state: (u8, u8)) -> ObjectStore {
    let text = |s: &str| ResourceValue::Single(Value::String(s.into()));
    let mut device = DataObject::with_table(3, DEVICE_RESOURCES).with_instance(0);
    device.set(0, 0, text(identity.manufacturer));
    device.set(0, 1, text(identity.model));
    device.set(0, 2, text(&identity.imei));
    device.set(0, 3, text(&identity.firmware));
    let mut data = DataObject::with_table(DATA_OBJECT, DATA_RESOURCES)
        .with_instance(0)
        .with_instance(1);
    for instance in [0, 1] {
        data.set(
            instance,
            0,
            ResourceValue::Single(Value::Opaque(Vec::new())),
        );
    }
    let server = DataObject::with_table(1, SERVER_RESOURCES).with_instance(0);
    let mut store = ObjectStore::new();
    store.add(server);
    store.add(device);
    store.add(FirmwareObject::new(firmware_state.0, firmware_state.1));
    store.add(data);
    store
}

impl Service for CtIot {
    fn name(&self) -> &'static str {
        self.name
    }

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8], env: &mut Env) {
        if let Some(link) = self.link.as_mut() {
            link.node().handle_datagram(now, from, datagram);
        }
        self.follow(now, env);
    }

    fn poll_transmit(&mut self) -> Option<(Transmit, Rai)> {
        if let Some(next) = self.outbox.pop_front() {
            return Some(next);
        }
        // Emptied: its room goes back (an uplink's datagrams pass through it now and then).
        self.outbox = VecDeque::new();
        Some((self.link.as_mut()?.node().poll_transmit()?, Rai::None))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let link = self.link.as_ref().and_then(|l| l.node_ref().poll_timeout());
        [link, self.closing_until].into_iter().flatten().min()
    }

    fn handle_timeout(&mut self, now: Instant, env: &mut Env) {
        if let Some(link) = self.link.as_mut() {
            link.node().handle_timeout(now);
        }
        self.follow(now, env);
        if self.closing_until.is_some_and(|until| until <= now) {
            self.deregistered(now, env);
        }
    }

    fn message(&mut self, now: Instant, message: &Message, env: &mut Env) {
        if let Some(&FirmwareMessage::FirmwareState { state, result }) = message.get() {
            self.firmware_state(now, state, result, env);
        }
    }

    fn radio_event(&mut self, now: Instant, event: RadioEvent, env: &mut Env) {
        match event {
            RadioEvent::DeepSleep(true) => self.sleeping_link = self.status.registered(),
            RadioEvent::DeepSleep(false) => self.woke(now, env),
            RadioEvent::Registration(RegStatus::Home) => self.attached(now, env),
            _ => {}
        }
    }

    fn is_busy(&self) -> bool {
        !self.outbox.is_empty() || self.link.as_ref().is_some_and(Link::is_busy)
    }

    fn take_retransmissions(&mut self) -> u32 {
        self.link
            .as_mut()
            .map_or(0, |link| link.client().take_retransmissions())
    }
}
