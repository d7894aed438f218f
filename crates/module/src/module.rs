//! The module: a sans-IO state machine fed with UART bytes and time.
//!
//! [`Module::receive`] takes what the host MCU writes, [`Module::take_output`] gives what the module
//! writes back, and the [`Timed`] methods say when the module next needs to run (boot, network
//! attach, RRC release, reboot). The module never reads a clock or touches a socket.
//!
//! Output discipline: a command's information text and final result are written together; URCs
//! raised while a command runs wait until its final result is out, so a URC is never written inside
//! a response.

use crate::commands::CommandError;
use crate::dm::{self, DmSession, DmStart};
use crate::identity::Operator;
use crate::identity::{check_imei, IdentityError, Sim, DEFAULT_IMEI};
use crate::nvram::DmSettings;
use crate::nvram::Registered;
use crate::nvram::{NvramData, NvramError, NvramStore};
use crate::profile::{Feature, Profile};
use crate::radio::{address_for, NetworkConfig, Radio, RegStatus};
use crate::revision::Revision;
use crate::routing::Router;
use crate::selfreg::{self, Outcome, SelfRegistrar, Target};
use nbmodem_at::{format, parse_line, FinalResult, LineAssembler, LineEvent, ResultFormat};
use nbmodem_clock::{Instant, Timed, Timers};
use nbmodem_net::Transmit;
use nbmodem_operators::selfreg::{model_field, RegistrationRecord, REGVER};
use std::net::Ipv4Addr;
use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;

/// The vendor code of the MODEL field of self-registration records (at most three characters).
pub const VENDOR_CODE: &str = "QUE";

/// A first round and two retries an hour apart (seeds 000 and 001).
const SELF_REGISTRATION_ROUNDS: u32 = 3;

/// From power-on to the boot URCs.
pub const BOOT_TIME: Duration = Duration::from_secs(1);

/// How a module is built: its model, what the command line overrides, its SIM and its world.
#[derive(Debug, Clone)]
pub struct ModuleConfig {
    pub profile: &'static Profile,
    /// Installs this firmware revision (kept in NVRAM); `None` keeps what is installed.
    pub firmware: Option<String>,
    /// Programs this IMEI (kept in NVRAM); `None` keeps what is programmed.
    pub imei: Option<String>,
    /// The SIM card; `None` inserts a test SIM of the profile's first operator.
    pub sim: Option<Sim>,
    pub network: NetworkConfig,
    pub router: Router,
    /// Keep [`Notice`]s of what the protocol engines do, for a console ([`Module::take_notices`]).
    pub notices: bool,
}

/// What a protocol engine did, told in a short line for the person at the console: a round
/// started, a datagram sent, an answer, a give-up, when the next try comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub at: Instant,
    /// Which engine: `CT self-registration`, `CMDMP`…
    pub source: &'static str,
    pub text: String,
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.at.time_of_day(),
            self.source,
            self.text
        )
    }
}

/// The most notices kept for a console that does not take them; older ones are dropped.
const MAX_NOTICES: usize = 256;

/// The name of the DM engine in notices.
const DM_SOURCE: &str = "CMDMP";

impl ModuleConfig {
    pub fn new(profile: &'static Profile) -> Self {
        ModuleConfig {
            profile,
            firmware: None,
            imei: None,
            sim: None,
            network: NetworkConfig::default(),
            router: Router::new(),
            notices: false,
        }
    }
}

#[derive(Debug, Error)]
pub enum ModuleError {
    #[error(transparent)]
    Nvram(#[from] NvramError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("not a firmware revision: {0:?} (expected e.g. BC25PAR01A04)")]
    Firmware(String),
    #[error(
        "this data directory holds a {found} module, not a {wanted}; use another --data directory"
    )]
    ModelMismatch { found: String, wanted: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Power {
    Off,
    Booting,
    Ready,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    BootDone,
    Attach,
    RrcRelease,
    Restart,
    /// The registry's re-registration (China Unicom: 30 days after the last success).
    Renewal,
    /// The host has been quiet long enough for deep sleep (see [`crate::sleep`]).
    HostIdle,
}

/// What a power cut loses.
#[derive(Debug)]
pub(crate) struct Ram {
    pub echo: bool,
    pub results: ResultFormat,
    pub cereg_mode: u8,
    pub cscon_mode: u8,
    /// The DM state AT+QDMPCFG=6 reports (0 until DM has run).
    pub dm_state: u8,
    pub radio: Radio,
    /// The first attach of this boot has happened: self-registration and DM start at it and at
    /// no later attach ("only the next power-on triggers again", seeds 000 and 001).
    pub attached_since_boot: bool,
    lines: LineAssembler,
    /// URCs waiting for the command in progress to finish.
    held_urcs: Vec<String>,
    in_command: bool,
}

impl Ram {
    fn new(profile: &Profile) -> Self {
        Ram {
            echo: profile.echo_default,
            results: profile.cmee_default,
            cereg_mode: 0,
            cscon_mode: 0,
            dm_state: dm::state::INITIAL,
            radio: Radio::new(),
            attached_since_boot: false,
            lines: LineAssembler::new(),
            held_urcs: Vec::new(),
            in_command: false,
        }
    }
}

/// One software module.
pub struct Module {
    pub(crate) profile: &'static Profile,
    pub(crate) sim: Sim,
    pub(crate) network: NetworkConfig,
    router: Router,
    store: Box<dyn NvramStore>,
    /// The saved settings: always what the store holds.
    pub(crate) saved: NvramData,
    /// The settings in use: the saved ones as they were at boot.
    pub(crate) in_use: NvramData,
    pub(crate) now: Instant,
    power: Power,
    pub(crate) ram: Ram,
    pub(crate) timers: Timers<Timer>,
    output: Vec<u8>,
    /// The operator self-registration run of this boot, if one started.
    pub(crate) self_registration: Option<SelfRegistrar>,
    /// The China Mobile DM session of this boot, if one started.
    pub(crate) dm: Option<DmSession>,
    /// Notices for the console, when asked for (`None` otherwise).
    notices: Option<std::collections::VecDeque<Notice>>,
}

impl Module {
    /// Builds a powered-off module on `store`, creating its NVRAM on first use and applying the
    /// firmware and IMEI overrides of `config`.
    pub fn new(
        config: ModuleConfig,
        mut store: Box<dyn NvramStore>,
    ) -> Result<Module, ModuleError> {
        let profile = config.profile;
        if let Some(imei) = &config.imei {
            check_imei(imei)?;
        }
        if let Some(firmware) = &config.firmware {
            Revision::parse(firmware).ok_or_else(|| ModuleError::Firmware(firmware.clone()))?;
        }
        let loaded = store.load()?;
        let mut saved = match loaded.clone() {
            Some(data) if data.model != profile.model => {
                return Err(ModuleError::ModelMismatch {
                    found: data.model,
                    wanted: profile.model.into(),
                })
            }
            Some(data) => data,
            None => NvramData {
                sleep_mode: profile.sleep_default,
                ..NvramData::new(profile.model, DEFAULT_IMEI, profile.default_firmware)
            },
        };
        if let Some(imei) = config.imei {
            saved.imei = imei;
        }
        if let Some(firmware) = config.firmware {
            note_firmware_update(profile, &mut saved, &firmware);
            saved.firmware = firmware;
        }
        if loaded.as_ref() != Some(&saved) {
            store.save(&saved)?;
        }
        let sim = config
            .sim
            .unwrap_or_else(|| Sim::default_for(profile.operators[0]));
        Ok(Module {
            profile,
            sim,
            network: config.network,
            router: config.router,
            store,
            in_use: saved.clone(),
            saved,
            now: Instant::default(),
            power: Power::Off,
            ram: Ram::new(profile),
            timers: Timers::default(),
            output: Vec::new(),
            self_registration: None,
            dm: None,
            notices: config.notices.then(Default::default),
        })
    }

    /// The notices since the last call (see [`ModuleConfig::notices`]).
    pub fn take_notices(&mut self) -> Vec<Notice> {
        self.notices
            .as_mut()
            .map(|n| n.drain(..).collect())
            .unwrap_or_default()
    }

    /// Tells the console what `source` did, if anyone listens.
    pub(crate) fn notice(&mut self, source: &'static str, text: impl Into<String>) {
        let at = self.now;
        if let Some(notices) = self.notices.as_mut() {
            if notices.len() == MAX_NOTICES {
                notices.pop_front();
            }
            notices.push_back(Notice {
                at,
                source,
                text: text.into(),
            });
        }
    }

    pub fn profile(&self) -> &'static Profile {
        self.profile
    }

    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    pub fn imei(&self) -> &str {
        &self.in_use.imei
    }

    pub fn firmware(&self) -> &str {
        &self.in_use.firmware
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    pub fn router_mut(&mut self) -> &mut Router {
        &mut self.router
    }

    /// Whether the firmware in use has `feature` (CMDMP only on `_ONT` firmware, say).
    pub fn has_feature(&self, feature: Feature) -> bool {
        self.profile.has_feature(feature, &self.in_use.firmware)
    }

    pub fn is_powered(&self) -> bool {
        self.power != Power::Off
    }

    /// Whether the module has booted and takes AT commands.
    pub fn is_ready(&self) -> bool {
        self.power == Power::Ready
    }

    /// Turns the power on: the in-use settings are loaded from NVRAM and the boot sequence starts.
    pub fn power_on(&mut self, now: Instant) {
        self.now = now;
        if self.is_powered() {
            return;
        }
        self.power = Power::Booting;
        self.in_use = self.saved.clone();
        self.ram = Ram::new(self.profile);
        self.timers.clear();
        self.timers.set(Timer::BootDone, now + BOOT_TIME);
    }

    /// Cuts the power: everything but NVRAM is lost. What was already written stays written.
    pub fn power_off(&mut self) {
        self.power = Power::Off;
        self.timers.clear();
        self.ram = Ram::new(self.profile);
        self.self_registration = None;
        self.dm = None;
    }

    /// A datagram from `from` (the public address of an operator's server). A module in deep
    /// sleep cannot be reached: the datagram is lost.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.now = now;
        if self.is_in_deep_sleep() || !self.ram.radio.registered() {
            tracing::debug!("datagram from {from} lost: the module cannot be reached");
            return;
        }
        self.traffic();
        self.deliver_datagram(from, datagram);
    }

    fn deliver_datagram(&mut self, from: SocketAddr, datagram: &[u8]) {
        let now = self.now;
        if let Some(session) = self.dm.as_mut().filter(|d| d.server() == from) {
            if let Some(state) = session.handle_datagram(now, from, datagram) {
                self.dm_state_changed(state);
            }
            return;
        }
        let Some(run) = self
            .self_registration
            .as_mut()
            .filter(|r| r.server() == Some(from))
        else {
            return;
        };
        if let Some(outcome) = run.handle_datagram(now, from, datagram) {
            self.self_registration_outcome(outcome);
        }
    }

    /// The next datagram the module sends, addressed to a public address. Sending wakes the
    /// module and (re)establishes its RRC connection; without network registration the datagram
    /// is lost.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        loop {
            let registration = self.self_registration.as_mut().and_then(|run| {
                let source = run.target().source;
                run.poll_transmit().map(|t| (source, t))
            });
            let (source, transmit) =
                registration.or_else(|| Some((DM_SOURCE, self.dm.as_mut()?.poll_transmit()?)))?;
            let (len, to) = (transmit.payload.len(), transmit.destination);
            if self.ram.radio.registered() {
                self.notice(source, format!("sent {len} bytes to {to}"));
                self.traffic();
                return Some(transmit);
            }
            self.notice(source, format!("{len} bytes to {to} lost: not attached"));
            tracing::debug!("datagram to {to} lost: not registered");
        }
    }

    /// Takes bytes written by the host. Before the module has booted they are lost, as on a UART
    /// whose other end is not running yet.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) {
        self.now = now;
        if !self.is_ready() || bytes.is_empty() {
            return;
        }
        self.host_activity();
        for &byte in bytes {
            // Echo as the byte is taken, so that ATE0 stops the echo of what follows it.
            if self.ram.echo {
                self.output.push(byte);
            }
            if let Some(event) = self.ram.lines.push(byte) {
                self.handle_line(event);
            }
            if !self.is_ready() {
                // A command rebooted the module: the rest of the input is lost.
                break;
            }
        }
    }

    /// Whatever the module has written since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    fn handle_line(&mut self, event: LineEvent) {
        let (lines, result, plain_error) = match event {
            LineEvent::TooLong => (Vec::new(), FinalResult::Error, true),
            LineEvent::Line(line) if line.iter().all(u8::is_ascii_whitespace) => return,
            LineEvent::Line(line) => self.run_command(&line),
        };
        format::write_info(&mut self.output, &lines);
        let result = match result {
            FinalResult::CmeError { .. } if plain_error => FinalResult::Error,
            other => other,
        };
        format::write_final(&mut self.output, result, self.ram.results);
        for urc in std::mem::take(&mut self.ram.held_urcs) {
            format::write_urc(&mut self.output, &urc);
        }
    }

    /// Parses and runs one line; returns the information text, the final result and whether the
    /// command answers every error with a plain `ERROR`.
    fn run_command(&mut self, line: &[u8]) -> (Vec<String>, FinalResult, bool) {
        let Ok(command) = parse_line(line) else {
            return (Vec::new(), FinalResult::Error, true);
        };
        let Some(spec) = self.profile.commands.lookup(command.name) else {
            return (Vec::new(), FinalResult::Error, true);
        };
        let installed = spec.handler.feature.is_none_or(|f| self.has_feature(f));
        if !installed || !spec.forms.accepts(command.form) {
            return (Vec::new(), FinalResult::Error, true);
        }
        self.ram.in_command = true;
        let outcome = (spec.handler.run)(self, &command);
        self.ram.in_command = false;
        match outcome {
            Ok(lines) => (lines, FinalResult::Ok, spec.plain_error),
            Err(CommandError::Syntax) => (Vec::new(), FinalResult::Error, true),
            Err(CommandError::Cme(kind)) => {
                let entry = self.profile.errors.lookup(kind);
                (
                    Vec::new(),
                    FinalResult::CmeError {
                        code: entry.code,
                        text: entry.text,
                    },
                    spec.plain_error,
                )
            }
        }
    }

    /// Writes a URC now, or after the final result of the command in progress.
    pub(crate) fn urc(&mut self, text: String) {
        if self.ram.in_command {
            self.ram.held_urcs.push(text);
        } else {
            format::write_urc(&mut self.output, &text);
        }
    }

    /// `+NAME: value` in the profile's style.
    pub(crate) fn line(&self, name: &str, value: impl std::fmt::Display) -> String {
        format!("{name}{}{value}", self.profile.separator)
    }

    /// Changes the saved settings: written to the store at once, in use from the next boot.
    pub(crate) fn save(&mut self, change: impl FnOnce(&mut NvramData)) -> Result<(), CommandError> {
        let mut next = self.saved.clone();
        change(&mut next);
        self.store.save(&next).map_err(|e| {
            tracing::warn!("NVRAM write failed: {e}");
            CommandError::Cme(crate::errors::ErrorKind::MemoryFailure)
        })?;
        self.saved = next;
        Ok(())
    }

    /// The address the network gave the module, while registered.
    pub fn address(&self) -> Option<Ipv4Addr> {
        self.ram
            .radio
            .registered()
            .then(|| address_for(self.sim.imsi()))
    }

    /// Starts looking for the network (after boot, AT+CFUN=1 or AT+CGATT=1).
    pub(crate) fn start_search(&mut self) {
        if self.ram.radio.status != RegStatus::NotSearching {
            return;
        }
        self.set_status(RegStatus::Searching);
        if self.network.coverage {
            self.timers
                .set(Timer::Attach, self.now + self.network.attach_delay);
        }
    }

    /// Leaves the network (AT+CFUN=0, AT+CGATT=0).
    pub(crate) fn detach(&mut self) {
        self.timers.cancel(Timer::Attach);
        self.set_rrc(false);
        self.set_status(RegStatus::NotSearching);
    }

    /// Registered with the network. The first attach after power-on starts self-registration and
    /// DM; a later one (after AT+CFUN=0/1 or AT+CGATT=0/1) does not: the seeds trigger them at
    /// power-on ("开机入网") only, and a run that gave up waits for the next power-on.
    fn attach(&mut self) {
        self.set_status(RegStatus::Home);
        self.set_rrc(true);
        if std::mem::replace(&mut self.ram.attached_since_boot, true) {
            return;
        }
        self.start_self_registration();
        self.start_dm();
    }

    /// After the first attach of a boot: China Mobile DM registers on a China Mobile SIM when the
    /// firmware has a CMDMP client, DM_mode is on (and, on the BC25 family, self-registration
    /// too) and the SIM's PLMN is allowed; with the factory app key unless another is configured.
    fn start_dm(&mut self) {
        self.dm = None;
        let mobile = self.sim.operator() == Operator::ChinaMobile
            && self.profile.operators.contains(&Operator::ChinaMobile);
        let settings = self.in_use.dm.clone();
        let switched_on = !self.profile.dm.needs_self_registration_switch
            || self.in_use.self_registration_on(self.profile);
        let plmn_allowed =
            settings.plmns.is_empty() || settings.plmns.iter().any(|p| p == self.sim.plmn());
        let wanted = mobile
            && self.has_feature(Feature::Cmdmp)
            && settings.enabled()
            && switched_on
            && plmn_allowed;
        if !wanted {
            return;
        }
        let credentials = settings.credentials(&self.profile.dm, &self.in_use.imei);
        let start = DmStart {
            server: self.dm_server(&settings),
            settings: &settings,
            credentials: &credentials,
            imsi: self.sim.imsi(),
            period: settings.period(&self.profile.dm),
            timing: self.profile.coap.cmdmp.params(),
            seed: self.now.unix_millis() ^ 0xD0D0,
        };
        let server = start.server;
        self.dm = Some(DmSession::start(self.now, start));
        self.ram.dm_state = dm::state::CONNECTED;
        self.notice(
            DM_SOURCE,
            format!(
                "registering with {server} (app key {})",
                credentials.app_key
            ),
        );
    }

    /// A new DM state (AT+QDMPCFG=6), and what it means for the person at the console.
    fn dm_state_changed(&mut self, state: u8) {
        self.ram.dm_state = state;
        let meaning = match state {
            dm::state::REGISTERED => "registered (state 6)",
            dm::state::REGISTER_FAILED => {
                "registration refused (state 7); no retry until the next power-on"
            }
            dm::state::REGISTER_TIMEOUT => {
                "registration timed out (state 8); no retry until the next power-on"
            }
            dm::state::LIFETIME_TIMEOUT => "the registration's lifetime ran out (state 9)",
            dm::state::UPDATED => "updated (state 11)",
            dm::state::UPDATE_FAILED => "update refused (state 12)",
            dm::state::UPDATE_TIMEOUT => "update timed out (state 13)",
            _ => return,
        };
        let next = self
            .dm
            .as_ref()
            .and_then(DmSession::next_update_at)
            .map(|at| format!("; next update at {}", at.date_time()))
            .unwrap_or_default();
        self.notice(DM_SOURCE, format!("{meaning}{next}"));
    }

    /// The configured DM server, or the default, resolved; a domain that does not resolve falls
    /// back to the profile's address.
    fn dm_server(&self, settings: &DmSettings) -> SocketAddr {
        let configured = settings.server.as_ref().filter(|s| !s.host.is_empty());
        let host = configured.map_or(self.profile.dm.default_server, |s| s.host.as_str());
        let port = settings.port();
        self.router
            .resolve_to_address(host, port)
            .unwrap_or_else(|_| SocketAddr::new(self.profile.dm.fallback_ip.into(), port))
    }

    /// The registry this module registers with on this SIM, when its switch is on.
    fn self_registration_target(&self) -> Option<Target> {
        let target = match self.sim.operator() {
            Operator::ChinaTelecom => selfreg::CHINA_TELECOM,
            Operator::ChinaUnicom => selfreg::CHINA_UNICOM,
            _ => return None,
        };
        let served = self.profile.operators.contains(&self.sim.operator());
        (served && self.in_use.self_registration_on(self.profile)).then_some(target)
    }

    /// Due when the firmware, IMEI or ICCID changed since the last success, or when the registry
    /// asks for a renewal (China Unicom, 30 days) and it is time.
    fn self_registration_due(&self, target: Target) -> bool {
        let Some(last) = self.saved.registered(target.registry) else {
            return true;
        };
        let changed = last.firmware != self.in_use.firmware
            || last.imei != self.in_use.imei
            || last.iccid != self.sim.iccid();
        changed || renewal_at(target, last).is_some_and(|at| at <= self.now)
    }

    /// After attach: starts the operator's self-registration when it is due.
    fn start_self_registration(&mut self) {
        let Some(target) = self.self_registration_target() else {
            return;
        };
        if !self.self_registration_due(target) {
            if let Some(at) = self
                .saved
                .registered(target.registry)
                .and_then(|last| renewal_at(target, last))
            {
                self.timers.set(Timer::Renewal, at);
            }
            return;
        }
        let record = RegistrationRecord {
            regver: REGVER.into(),
            meid: self.in_use.imei.clone(),
            model: model_field(VENDOR_CODE, self.profile.model),
            swver: self.in_use.firmware.clone(),
            iccid: self.sim.iccid().into(),
            imsi: self.sim.imsi().into(),
        };
        let params = self.profile.coap.self_registration.params();
        let seed = self
            .in_use
            .imei
            .bytes()
            .fold(self.now.unix_millis(), |h, b| {
                h.wrapping_mul(31).wrapping_add(u64::from(b))
            });
        let mut run = SelfRegistrar::new(target, record, SELF_REGISTRATION_ROUNDS, params, seed);
        self.notice(
            target.source,
            format!(
                "posting the record to {}:{}{} (round 1 of {SELF_REGISTRATION_ROUNDS})",
                target.host, target.port, target.path
            ),
        );
        let outcome = run.start_round(self.now, &self.router);
        self.self_registration = Some(run);
        if let Some(outcome) = outcome {
            self.self_registration_outcome(outcome);
        }
    }

    fn self_registration_outcome(&mut self, outcome: Outcome) {
        let Some(target) = self.self_registration.as_ref().map(SelfRegistrar::target) else {
            return;
        };
        match outcome {
            Outcome::Registered => {
                self.notice(target.source, "registered");
                tracing::info!("{:?} self-registration succeeded", target.registry);
                let record = Registered {
                    firmware: self.in_use.firmware.clone(),
                    imei: self.in_use.imei.clone(),
                    iccid: self.sim.iccid().into(),
                    at_ms: self.now.unix_millis(),
                };
                if let Some(at) = renewal_at(target, &record) {
                    self.timers.set(Timer::Renewal, at);
                }
                let saved = self.save(|nv| nv.set_registered(target.registry, record));
                if saved.is_err() {
                    tracing::warn!("the self-registration success could not be saved");
                }
            }
            Outcome::RoundFailed {
                round,
                reason,
                last,
            } => {
                tracing::info!(
                    "{:?} self-registration round {round} failed: {reason}",
                    target.registry
                );
                let sleeps = self
                    .profile
                    .self_registration
                    .no_retry_unless_sleep_disabled
                    && !self.sleep_disabled();
                if !last && sleeps {
                    if let Some(run) = self.self_registration.as_mut() {
                        run.stop();
                    }
                }
                let next = match (last, sleeps) {
                    (true, _) => "no more rounds until the next power-on".to_string(),
                    (false, true) => {
                        "no retry while sleep is enabled (AT+QSCLK=0 disables it) until the next power-on"
                            .to_string()
                    }
                    (false, false) => {
                        let at = self.now + selfreg::ROUND_INTERVAL;
                        format!("next round at {}", at.date_time())
                    }
                };
                self.notice(
                    target.source,
                    format!(
                        "round {round} of {SELF_REGISTRATION_ROUNDS} failed ({reason}); {next}"
                    ),
                );
            }
        }
    }

    fn set_status(&mut self, status: RegStatus) {
        if self.ram.radio.status == status {
            return;
        }
        self.ram.radio.status = status;
        if self.ram.cereg_mode > 0 {
            let text = self.line("+CEREG", self.cereg_fields(false));
            self.urc(text);
        }
    }

    /// The `<stat>[,<tac>,<ci>,<AcT>]` part of AT+CEREG; `<n>` comes first in the read answer.
    pub(crate) fn cereg_fields(&self, with_mode: bool) -> String {
        let mode = self.ram.cereg_mode;
        let status = self.ram.radio.status as u8;
        let mut fields = if with_mode {
            format!("{mode},{status}")
        } else {
            status.to_string()
        };
        if mode >= 2 && self.ram.radio.registered() {
            fields.push_str(&format!(
                ",\"{:04X}\",\"{:08X}\",9",
                self.network.tac, self.network.cell_id
            ));
        }
        fields
    }

    pub(crate) fn set_rrc(&mut self, connected: bool) {
        if connected {
            self.timers
                .set(Timer::RrcRelease, self.now + self.network.inactivity);
        } else {
            self.timers.cancel(Timer::RrcRelease);
        }
        if self.ram.radio.rrc_connected == connected {
            return;
        }
        self.ram.radio.rrc_connected = connected;
        if self.ram.cscon_mode == 1 {
            let text = format!(
                "+CSCON{}{}",
                self.profile.cscon_urc_separator,
                u8::from(connected)
            );
            self.urc(text);
        }
    }

    fn finish_boot(&mut self) {
        self.power = Power::Ready;
        for urc in self.profile.boot_urcs {
            format::write_urc(&mut self.output, urc);
        }
        self.start_search();
    }
}

/// When `target`'s registry wants the registration `last` renewed, if it does.
fn renewal_at(target: Target, last: &Registered) -> Option<Instant> {
    target
        .renewal
        .map(|period| Instant::from_unix_millis(last.at_ms) + period)
}

/// A firmware update from BC260YCNAAR01A03 (or earlier) to a later revision with self-registration
/// on keeps the setting but makes AT+QSREGENABLE? read 3 (seed 001).
fn note_firmware_update(profile: &Profile, saved: &mut NvramData, new: &str) {
    let Some(limit) = profile
        .self_registration
        .read_three_after_update_from
        .and_then(Revision::parse)
    else {
        return;
    };
    let (Some(old), Some(new)) = (Revision::parse(&saved.firmware), Revision::parse(new)) else {
        return;
    };
    let crosses = old.is_at_most(&limit) && limit.is_at_most(&new) && new != limit;
    if crosses && saved.self_registration == Some(true) {
        saved.self_registration_reads_three = true;
    }
}

impl Timed for Module {
    fn poll_timeout(&self) -> Option<Instant> {
        let run = self
            .self_registration
            .as_ref()
            .and_then(SelfRegistrar::poll_timeout);
        let dm = self.dm.as_ref().and_then(DmSession::poll_timeout);
        [self.timers.next(), run, dm].into_iter().flatten().min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::BootDone => self.finish_boot(),
                Timer::Attach => self.attach(),
                Timer::RrcRelease => self.set_rrc(false),
                Timer::Restart => {
                    self.power_off();
                    self.power_on(now);
                }
                Timer::Renewal => self.start_self_registration(),
                // Deep sleep may now begin: checked below, after every timer.
                Timer::HostIdle => {}
            }
        }
        self.skip_dm_update_in_deep_sleep();
        let outcome = match self.self_registration.as_mut() {
            Some(run) => run.handle_timeout(now, &self.router),
            None => None,
        };
        if let Some(outcome) = outcome {
            self.self_registration_outcome(outcome);
        }
        if let Some(state) = self.dm.as_mut().and_then(|d| d.handle_timeout(now)) {
            self.dm_state_changed(state);
        }
        self.enter_deep_sleep_if_allowed();
    }
}
