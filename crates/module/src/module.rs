//! The module: a sans-IO state machine fed with UART bytes, datagrams and time.
//!
//! [`Module::receive`] takes what the host MCU writes, [`Module::take_output`] gives what the module
//! writes back; [`Module::handle_datagram`] and [`Module::poll_transmit`] carry its datagrams, each
//! from or to the local port of one of its [`Services`]; the [`Timed`] methods say when it next
//! needs to run. The module never reads a clock or touches a socket.
//!
//! The module owns the AT command layer, NVRAM, the [`Radio`] and the set of services. It names
//! no protocol engine: the services start from [`AT_BOOT`] and [`AT_FIRST_ATTACH`], commands reach
//! them through [`Services::get_mut`], and what they do to the module comes back as [`Effect`]s
//! applied in [`Module::apply`].
//!
//! Output discipline: a command's information text and final result are written together; URCs
//! raised while a command runs wait until its final result is out, so a URC is never written inside
//! a response. Output nobody takes is bounded ([`MAX_OUTPUT`]): the oldest bytes are dropped, as a
//! UART's buffer overflows, and counted.
//!
//! Datagrams cross the radio as the coverage allows ([`crate::air`]): an uplink leaves the module
//! when its airtime is over, a downlink reaches its service when it has crossed the link (after
//! the paging occasion, in eDRX); a downlink for a module in PSM is lost.
//!
//! For a trace or a capture the module can tap its UART lines and datagrams ([`crate::tap`]).

use crate::air::{Air, Downlink};
use crate::commands::general::{self, GeneralRam};
use crate::commands::{quectel, CommandError, Handler};
use crate::coverage::RadioCondition;
use crate::energy::{EnergyAccount, EnergyMeter, PowerState};
use crate::identity::{check_imei, IdentityError, Sim, DEFAULT_IMEI};
use crate::nvram::{NvramData, NvramError, NvramStore};
use crate::power_saving::bit_string;
use crate::profile::{Feature, Profile, SleepControl};
use crate::radio::{address_for, NetworkConfig, Radio, RadioEvent, Rai, RegStatus, SleepSetting};
use crate::revision::Revision;
use crate::routing::Router;
use crate::service::{
    Effect, Env, LookupOp, Services, SleepState, Start, Starter, StreamOp, Uplink,
};
use crate::services::self_registration::install_firmware;
use crate::services::socket::{Socket, SocketSession};
use crate::services::{AT_BOOT, AT_FIRST_ATTACH};
use crate::tap::{Datagram, LineKind, Tap, Tapped};
use nbmodem_at::{
    format, parse_line, Command, CommandSpec, DataEnd, FinalResult, Form, LineAssembler, LineEvent,
    ParamError, ResultFormat, Syntax,
};
use nbmodem_clock::{Instant, SeededRng, Timed, Timers};
use nbmodem_net::{Lookup, LookupAnswer, StreamEvent, StreamRequest};
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;

/// From power-on to the boot URCs.
pub const BOOT_TIME: Duration = Duration::from_secs(1);

/// The most UART output kept for a host that does not read it; beyond it the oldest is dropped.
pub const MAX_OUTPUT: usize = 64 * 1024;

/// AT+QSCLK's values: no sleep; light and deep sleep (2 is light sleep only).
const SLEEP_DISABLED: u8 = 0;
const DEEP_SLEEP_ENABLED: u8 = 1;

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
    /// Seeds the module's one random generator (with its IMEI mixed in, so that modules of one
    /// run differ): the same seed repeats a run in virtual time; a real-time driver gives the
    /// clock.
    pub seed: u64,
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
            seed: 0,
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
        "this data directory holds a {found} module, not a {wanted}: each model needs a data \
         directory of its own (e.g. --data nbmodem-data-{})",
        wanted.to_ascii_lowercase()
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
    Restart,
    /// AT+QPOWD: `POWERED DOWN`, then off.
    PowerDown,
}

/// What a power cut loses.
#[derive(Debug)]
pub(crate) struct Ram {
    pub echo: bool,
    pub results: ResultFormat,
    pub cereg_mode: u8,
    pub cscon_mode: u8,
    pub radio: Radio,
    /// Datagrams crossing the link.
    air: Air,
    /// AT+NPSMR=1: `+NPSMR` reports entering and leaving PSM.
    pub npsmr: bool,
    /// The general commands' state (clock, network selection, contexts).
    pub general: GeneralRam,
    /// Time and charge per power state since power-on.
    energy: EnergyMeter,
    /// The first attach of this boot has happened: the services of [`AT_FIRST_ATTACH`] start at
    /// it and at no later attach ("only the next power-on triggers again", seeds 000 and 001).
    pub attached_since_boot: bool,
    lines: LineAssembler,
    /// URCs waiting for the command in progress to finish.
    held_urcs: Vec<String>,
    in_command: bool,
    /// The command in progress ends without a final result (AT+NRB: `REBOOTING`, then the boot
    /// banner with its own `OK`).
    no_final_result: bool,
    /// The data sockets' settings and the data being typed after a `>` prompt.
    pub sockets: SocketSession,
}

impl Ram {
    fn new(profile: &Profile, network: &NetworkConfig, now: Instant) -> Self {
        Ram {
            echo: profile.echo_default,
            results: profile.cmee_default,
            cereg_mode: 0,
            cscon_mode: 0,
            radio: Radio::new(network.clone()),
            air: Air::default(),
            npsmr: false,
            general: GeneralRam::new(now),
            energy: EnergyMeter::new(now),
            attached_since_boot: false,
            lines: LineAssembler::new(),
            held_urcs: Vec::new(),
            in_command: false,
            no_final_result: false,
            sockets: SocketSession::default(),
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
    /// AT+QSCLK in use (see [`Module::sleep_mode`]), read from `in_use` once rather than at
    /// every event, which asks it.
    sleep_mode: Option<u8>,
    pub(crate) now: Instant,
    power: Power,
    pub(crate) ram: Ram,
    pub(crate) timers: Timers<Timer>,
    output: Vec<u8>,
    /// Bytes of output dropped because nobody took them.
    output_dropped: u64,
    /// Confirmable CoAP messages its engines sent again, since the module was made.
    coap_retransmissions: u64,
    /// The protocol engines running in this boot.
    pub(crate) services: Services,
    /// Notices for the console, when asked for (`None` otherwise).
    notices: Option<VecDeque<Notice>>,
    /// The seed of the generator: `ModuleConfig::seed` with the IMEI folded in.
    seed: u64,
    /// The one generator, seeded anew at each power-on: each protocol engine started draws its
    /// seed from it.
    rng: SeededRng,
    /// What a trace or capture sees, while one is made (`None` otherwise).
    tap: Option<Tap>,
    /// The reboot due was asked for with AT+NRB, whose banner names it (the profile's
    /// `nrb_urcs`); set until that reboot's boot is done.
    rebooted_by_nrb: bool,
    /// The local ports of TCP connections whose sockets are gone (closed by the host, or lost
    /// with the power), still to be closed in the network.
    pub(crate) closing_streams: Vec<u16>,
}

impl Module {
    /// Builds a powered-off module on `store`, creating its NVRAM on first use and applying the
    /// firmware and IMEI overrides of `config`. A store with a value the module could never have
    /// written (hand-edited, damaged) is refused, and left as it is.
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
            Some(data) => {
                let sections = [crate::services::SAVED, crate::commands::SAVED].concat();
                data.check(&sections, profile)
                    .map_err(|problem| NvramError::Invalid {
                        location: store.location(),
                        problem,
                    })?;
                data
            }
            None => NvramData::new(profile.model, DEFAULT_IMEI, profile.default_firmware),
        };
        if let Some(imei) = config.imei {
            saved.imei = imei;
        }
        if let Some(firmware) = config.firmware {
            install_firmware(&mut saved, profile, &firmware);
        }
        if loaded.as_ref() != Some(&saved) {
            store.save(&saved)?;
        }
        let sim = config
            .sim
            .unwrap_or_else(|| Sim::default_for(profile.operators[0]));
        let seed = imei_seed(config.seed, &saved.imei);
        Ok(Module {
            profile,
            sim,
            ram: Ram::new(profile, &config.network, Instant::from_unix_millis(0)),
            network: config.network,
            router: config.router,
            store,
            sleep_mode: sleep_mode_in(profile, &saved),
            in_use: saved.clone(),
            saved,
            now: Instant::default(),
            power: Power::Off,
            timers: Timers::default(),
            output: Vec::new(),
            output_dropped: 0,
            coap_retransmissions: 0,
            services: Services::default(),
            notices: config.notices.then(Default::default),
            seed,
            rng: SeededRng::new(seed),
            tap: None,
            rebooted_by_nrb: false,
            closing_streams: Vec::new(),
        })
    }

    /// Starts (or stops) queueing what a trace or a capture sees: UART lines, datagrams and
    /// notices (see [`crate::tap`]).
    pub fn set_tap(&mut self, on: bool) {
        self.tap = on.then(Tap::default);
    }

    /// What the taps saw since the last call (nothing unless [`Module::set_tap`] turned them on).
    pub fn take_tapped(&mut self) -> Vec<Tapped> {
        let now = self.now;
        self.tap
            .as_mut()
            .map(|tap| tap.take(now))
            .unwrap_or_default()
    }

    /// Whether anyone takes the module's notices (a console, a tap).
    fn noticing(&self) -> bool {
        self.notices.is_some() || self.tap.is_some()
    }

    /// The notices since the last call (see [`ModuleConfig::notices`]).
    pub fn take_notices(&mut self) -> Vec<Notice> {
        self.notices
            .as_mut()
            .map(|n| n.drain(..).collect())
            .unwrap_or_default()
    }

    /// Tells the console what `source` did, if anyone listens. `text` is formatted only then: a
    /// fleet's modules, which nobody listens to, would spend a few per cent of their time on it.
    pub(crate) fn notice(&mut self, source: &'static str, text: impl std::fmt::Display) {
        if !self.noticing() {
            return;
        }
        let notice = Notice {
            at: self.now,
            source,
            text: text.to_string(),
        };
        if let Some(tap) = self.tap.as_mut() {
            tap.push(Tapped::Notice(notice.clone()));
        }
        if let Some(notices) = self.notices.as_mut() {
            if notices.len() == MAX_NOTICES {
                notices.pop_front();
            }
            notices.push_back(notice);
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

    /// The services running in this boot (to look at one: `services().get::<Cmdmp>()`).
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Whether the firmware in use has `feature` (CMDMP only on `_ONT` firmware, say).
    pub fn has_feature(&self, feature: Feature) -> bool {
        self.profile.has_feature(feature, &self.in_use.firmware)
    }

    pub fn is_powered(&self) -> bool {
        self.power != Power::Off
    }

    /// Whether the module has booted and takes AT commands: not while a reboot a command asked
    /// for (AT+QRST=1, AT+NRB, AT+CFUN=1,1) is pending, so that the lines after it wait for
    /// the new boot, as a real module's UART takes nothing while it restarts.
    pub fn is_ready(&self) -> bool {
        self.power == Power::Ready && self.timers.deadline(Timer::Restart).is_none()
    }

    /// Whether the module is in deep sleep.
    pub fn is_in_deep_sleep(&self) -> bool {
        self.ram.radio.in_deep_sleep()
    }

    /// Time and charge per power state from power-on until `now` (see [`crate::energy`]).
    pub fn energy(&self, now: Instant) -> EnergyAccount {
        self.ram.energy.account(now, &self.profile.power)
    }

    /// Puts the energy account until `now` on the console.
    pub fn notice_energy(&mut self, now: Instant) {
        if !self.noticing() {
            return;
        }
        let account = self.energy(now);
        self.notice("energy", format_args!("since power-on: {account}"));
    }

    /// How many bytes of output were dropped because nobody took them.
    pub fn output_dropped(&self) -> u64 {
        self.output_dropped
    }

    /// How many confirmable CoAP messages its engines (the platform link, self-registration,
    /// DM, the firmware download) sent again for want of an acknowledgement, since it was made:
    /// nothing a real module tells its host, but what a fleet's summary counts.
    pub fn coap_retransmissions(&self) -> u64 {
        self.coap_retransmissions
    }

    /// Turns the power on: the in-use settings are loaded from NVRAM and the boot sequence starts.
    pub fn power_on(&mut self, now: Instant) {
        self.now = now;
        if self.is_powered() {
            return;
        }
        self.power = Power::Booting;
        // The boot's instant is folded in, as a real module's random source differs from one
        // boot to the next: a module restarted (or a process started again on its NVRAM) does
        // not repeat the message IDs and tokens of its last boot, which a server's duplicate
        // cache would answer with the old replies.
        self.rng = SeededRng::new(self.seed.wrapping_add(now.unix_millis()));
        self.in_use = self.saved.clone();
        self.sleep_mode = sleep_mode_in(self.profile, &self.in_use);
        self.ram = Ram::new(self.profile, &self.network, now);
        self.timers.clear();
        self.clear_services();
        self.timers.set(Timer::BootDone, now + BOOT_TIME);
        self.grant_power_saving();
    }

    /// The datagrams and bytes that crossed the link since power-on.
    pub fn link_counts(&self) -> crate::air::LinkCounts {
        self.ram.air.counts()
    }

    /// The radio condition the module is in.
    pub fn coverage(&self) -> RadioCondition {
        self.network.condition
    }

    /// Moves the module into radio condition `condition` (it keeps it across reboots of this
    /// run): the CE level, the signal values and the airtimes of the datagrams sent from now on
    /// follow it, and datagrams are held for their airtime from now on (a timed link).
    pub fn set_coverage(&mut self, condition: RadioCondition) {
        self.network.condition = condition;
        self.network.timed_link = true;
        self.ram.radio.set_condition(condition);
        self.notice(
            "radio",
            format_args!("coverage {condition}, {:?}", condition.ce_level()),
        );
    }

    /// Asks the network for the PSM and eDRX settings in use; the radio keeps what it grants.
    pub(crate) fn grant_power_saving(&mut self) {
        let asked = self.in_use.section().unwrap_or_default();
        let (psm, edrx) = self.network.power_saving.grant(&asked);
        self.ram.radio.set_power_saving(self.now, psm, edrx);
    }

    /// Cuts the power: everything but NVRAM is lost. What was already written stays written.
    pub fn power_off(&mut self) {
        self.power = Power::Off;
        self.rebooted_by_nrb = false;
        self.timers.clear();
        self.ram = Ram::new(self.profile, &self.network, self.now);
        self.clear_services();
    }

    /// Stops every service; the connections of its sockets are closed in the network.
    fn clear_services(&mut self) {
        let open = self.services.each_mut::<Socket>();
        let ports: Vec<u16> = open
            .filter(|(_, s)| s.has_connection())
            .map(|(port, _)| port)
            .collect();
        self.closing_streams.extend(ports);
        self.services.clear();
    }

    /// A datagram from `from` (the public address of an operator's server) to the module's local
    /// port `local_port`. A module in deep sleep (PSM), or not registered, cannot be reached: the
    /// datagram is lost. Otherwise it crosses the link, after the next paging occasion if the
    /// module is idle in eDRX, and reaches its service when it is through.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local_port: u16,
        from: SocketAddr,
        datagram: &[u8],
    ) {
        self.now = now;
        if !self.ram.radio.reachable() {
            tracing::debug!("datagram from {from} lost: the module cannot be reached");
            return;
        }
        let start = self.ram.radio.page_at(now);
        let airtime = self
            .network
            .condition
            .link()
            .downlink_airtime(datagram.len());
        let held = self.network.hold(airtime);
        self.ram
            .air
            .receive(start, held, local_port, from, datagram);
        // On a link without airtime a datagram not waiting for a paging occasion is there now.
        while let Some(downlink) = self.ram.air.take_received(now) {
            self.deliver(downlink);
        }
    }

    /// A downlink has crossed the link: the service of its port gets it, unless the module left
    /// the network meanwhile.
    fn deliver(&mut self, downlink: Downlink) {
        let Downlink {
            port,
            from,
            payload,
            ..
        } = downlink;
        if !self.ram.radio.registered() {
            tracing::debug!("datagram from {from} lost: the module left the network");
            return;
        }
        let now = self.now;
        self.tap_datagram(false, port, from, &payload);
        let awaited_reply = self.ram.radio.downlink(now);
        self.radio_events();
        let mut delivered = None;
        self.run_services(|services, env| {
            delivered = services.deliver(now, port, from, &payload, env);
        });
        if delivered.is_none() {
            tracing::debug!("datagram from {from} to port {port}: no service there");
        }
        if awaited_reply {
            self.ram.radio.release(now);
            self.radio_events();
        }
        self.bound_output();
    }

    /// The next datagram the module sends, from the local port of the service sending it,
    /// addressed to a public address, once its airtime is over. Sending wakes the module and
    /// brings its RRC connection up, or releases it as the uplink's release assistance says;
    /// without network registration the datagram is lost.
    pub fn poll_transmit(&mut self) -> Option<Uplink> {
        while let Some((service, uplink)) = self.services.poll_transmit() {
            self.put_on_air(service, uplink);
        }
        self.ram.air.take_sent(self.now)
    }

    /// Starts sending a service's uplink: its airtime is counted and the radio connects.
    fn put_on_air(&mut self, service: &'static str, uplink: Uplink) {
        let (len, to) = (uplink.transmit.payload.len(), uplink.transmit.destination);
        if !self.ram.radio.registered() {
            self.notice(
                service,
                format_args!("{len} bytes to {to} lost: not attached"),
            );
            tracing::debug!("datagram to {to} lost: not registered");
            return;
        }
        self.tap_datagram(true, uplink.source_port, to, &uplink.transmit.payload);
        self.notice(service, format_args!("sent {len} bytes to {to}"));
        let airtime = self.radio_uplink(len, uplink.rai);
        let held = self.network.hold(airtime);
        self.ram.air.send(self.now, uplink, held);
        self.bound_output();
    }

    /// What any uplink of `len` bytes does, whatever carries it (a datagram, a piece of a TCP
    /// stream, an echo request): it wakes the module, brings the RRC connection up (or releases
    /// it as `rai` says) and counts its airtime, on the coverage the module is in, in the energy
    /// account. Returns the airtime (a datagram is held for it; a TCP stream's bytes and an echo
    /// request are charged but not held).
    fn radio_uplink(&mut self, len: usize, rai: Rai) -> Duration {
        self.ram.radio.uplink(self.now, rai);
        let airtime = self.network.condition.link().uplink_airtime(len);
        self.ram.energy.transmitted(airtime);
        self.radio_events();
        airtime
    }

    /// The next request for a data socket's TCP stream, for the socket's local port, to a public
    /// address. Sending on a stream is an uplink as a datagram is (it wakes the module, counts in
    /// the energy account); without registration the bytes are lost and the socket is told the
    /// stream broke.
    pub fn poll_stream(&mut self) -> Option<StreamRequest> {
        if let Some(port) = self.closing_streams.pop() {
            return Some(StreamRequest::Close { port });
        }
        loop {
            let (service, port, op) = self.services.poll_stream()?;
            let request = match op {
                StreamOp::Connect(to) => StreamRequest::Connect { port, to },
                StreamOp::Close => StreamRequest::Close { port },
                StreamOp::Send(bytes) => {
                    if !self.ram.radio.registered() {
                        self.notice(
                            service,
                            format_args!("{} bytes lost: not attached", bytes.len()),
                        );
                        self.handle_stream(self.now, port, StreamEvent::Closed);
                        continue;
                    }
                    self.notice(service, format_args!("sent {} bytes on TCP", bytes.len()));
                    self.radio_uplink(bytes.len(), Rai::None);
                    StreamRequest::Send { port, bytes }
                }
            };
            self.bound_output();
            return Some(request);
        }
    }

    /// The next question a service asks of the network (a name to resolve, an address to
    /// ping), for the service's local port. A ping is radio traffic: it counts as an uplink, and
    /// is lost (answered as failed) without registration.
    pub fn poll_lookup(&mut self) -> Option<Lookup> {
        loop {
            let (port, op) = self.services.poll_lookup()?;
            return Some(match op {
                LookupOp::Resolve(name) => Lookup::Resolve { port, name },
                LookupOp::Ping { to, size, timeout } => {
                    if !self.ram.radio.registered() {
                        self.handle_lookup(self.now, port, LookupAnswer::PingFailed);
                        continue;
                    }
                    self.radio_uplink(size, Rai::None);
                    Lookup::Ping {
                        port,
                        to,
                        size,
                        timeout,
                    }
                }
            });
        }
    }

    /// The network's answer to the question of the service on `local_port`; an echo reply is a
    /// downlink.
    pub fn handle_lookup(&mut self, now: Instant, local_port: u16, answer: LookupAnswer) {
        self.now = now;
        if matches!(answer, LookupAnswer::Pong { .. }) {
            self.ram.radio.downlink(now);
            self.radio_events();
        }
        self.run_services(|services, env| services.lookup_answer(now, local_port, answer, env));
        self.bound_output();
    }

    /// Something happened on the TCP stream of the socket on `local_port`. Data arriving is a
    /// downlink: it wakes the module and keeps its RRC connection up.
    pub fn handle_stream(&mut self, now: Instant, local_port: u16, event: StreamEvent) {
        self.now = now;
        if matches!(event, StreamEvent::Data(_)) {
            self.ram.radio.downlink(now);
            self.radio_events();
        }
        self.run_services(|services, env| {
            services.stream_event(now, local_port, event, env);
        });
        self.bound_output();
    }

    /// Takes bytes written by the host. Before the module has booted they are lost, as on a UART
    /// whose other end is not running yet.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) {
        self.now = now;
        if !self.is_ready() || bytes.is_empty() {
            return;
        }
        self.ram.radio.host_activity(now);
        self.radio_events();
        for &byte in bytes {
            // Echo as the byte is taken, so that ATE0 stops the echo of what follows it.
            if self.ram.echo {
                self.output.push(byte);
            }
            // After a `>` prompt the bytes are data, not a command line.
            if let Some(prompt) = self.ram.sockets.prompt.as_mut() {
                if let Some(end) = prompt.input.push(byte) {
                    self.end_of_data(end);
                }
                continue;
            }
            if let Some(event) = self.ram.lines.push(byte) {
                self.tap_line_in(&event);
                self.handle_line(event);
            }
            if !self.is_ready() {
                // A command rebooted the module: the rest of the input is lost.
                break;
            }
        }
        self.bound_output();
    }

    /// How many bytes of output wait to be taken: a front-end that types in a host's input line
    /// by line takes them before they reach [`MAX_OUTPUT`].
    pub fn output_len(&self) -> usize {
        self.output.len()
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
        self.write(LineKind::Response, |out| format::write_info(out, &lines));
        if std::mem::take(&mut self.ram.no_final_result) {
            return;
        }
        if result == FinalResult::Ok && self.ram.sockets.prompt.is_some() {
            // The command waits for its data: the prompt, and its result after the data.
            self.write(LineKind::Response, |out| out.extend_from_slice(b"\r\n> "));
            return;
        }
        match self.ram.sockets.result_text.take() {
            // A send's own final result (`SEND OK`) stands for `OK`.
            Some(text) if result == FinalResult::Ok => self.write_result_text(text),
            _ => self.write_final(result, plain_error),
        }
    }

    /// The data after a `>` prompt ended: it is sent (or not), and the command's result written.
    fn end_of_data(&mut self, end: DataEnd) {
        let Some(prompt) = self.ram.sockets.prompt.take() else {
            return;
        };
        self.ram.in_command = true;
        let text = crate::commands::sockets::send_typed(self, prompt, end);
        self.ram.in_command = false;
        self.write_result_text(text);
    }

    /// A final result of its own (`SEND OK`, `SEND FAIL`), then the URCs it held back.
    fn write_result_text(&mut self, text: &str) {
        self.write(LineKind::Result, |out| format::write_urc(out, text));
        self.flush_held_urcs();
    }

    fn write_final(&mut self, result: FinalResult, plain_error: bool) {
        let result = match result {
            FinalResult::CmeError { .. } if plain_error => FinalResult::Error,
            other => other,
        };
        let results = self.ram.results;
        self.write(LineKind::Result, |out| {
            format::write_final(out, result, results)
        });
        self.flush_held_urcs();
    }

    fn flush_held_urcs(&mut self) {
        for urc in std::mem::take(&mut self.ram.held_urcs) {
            self.write(LineKind::Urc, |out| format::write_urc(out, &urc));
        }
    }

    /// Appends to the UART output with `write`, telling the tap which kind of line it is.
    fn write(&mut self, kind: LineKind, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.output.len();
        write(&mut self.output);
        if let Some(tap) = self.tap.as_mut() {
            tap.lines_out(self.now, kind, &self.output[start..]);
        }
    }

    /// Tells the tap of a line the host wrote, and of its echo.
    fn tap_line_in(&mut self, event: &LineEvent) {
        let (Some(tap), LineEvent::Line(line)) = (self.tap.as_mut(), event) else {
            return;
        };
        let text = String::from_utf8_lossy(line).into_owned();
        tap.push(Tapped::LineIn { at: self.now, text });
        if self.ram.echo {
            tap.lines_out(self.now, LineKind::Echo, line);
        }
    }

    /// Tells the tap of a datagram between the service on `local_port` and `peer` (a public
    /// address), at the address the network gave the module.
    fn tap_datagram(&mut self, sent: bool, local_port: u16, peer: SocketAddr, payload: &[u8]) {
        if let Some(tap) = self.tap.as_mut() {
            let own = address_for(self.sim.imsi());
            tap.push(Tapped::Datagram(Datagram {
                at: self.now,
                sent,
                module: SocketAddr::new(own.into(), local_port),
                peer,
                payload: payload.to_vec(),
            }));
        }
    }

    /// Parses and runs one line; returns the information text, the final result and whether the
    /// command answers every error with a plain `ERROR`.
    fn run_command(&mut self, line: &[u8]) -> (Vec<String>, FinalResult, bool) {
        let Ok(command) = parse_line(line) else {
            return (Vec::new(), FinalResult::Error, true);
        };
        let Some(spec) = self.profile.commands().lookup(command.name) else {
            return (Vec::new(), FinalResult::Error, true);
        };
        let installed = spec.handler.feature.is_none_or(|f| self.has_feature(f));
        if !installed || !spec.forms.accepts(command.form) {
            return (Vec::new(), FinalResult::Error, true);
        }
        self.ram.in_command = true;
        let outcome =
            check_syntax(spec, &command).and_then(|()| (spec.handler.run)(self, &command));
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

    /// Reboots the module now; the command in progress answers with its information text only
    /// (AT+NRB).
    pub(crate) fn reboot_without_result(&mut self) {
        self.ram.no_final_result = true;
        self.rebooted_by_nrb = true;
        self.timers.set(Timer::Restart, self.now);
    }

    /// Whether the module attaches by itself (after boot and AT+CFUN=1): the AUTOCONNECT in use
    /// on the Neul family, always elsewhere.
    pub(crate) fn autoconnect(&self) -> bool {
        crate::neul::saved(&self.in_use).autoconnect(self.profile)
    }

    /// Writes a URC now, or after the final result of the command in progress.
    pub(crate) fn urc(&mut self, text: String) {
        if self.ram.in_command {
            self.ram.held_urcs.push(text);
        } else {
            self.write(LineKind::Urc, |out| format::write_urc(out, &text));
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

    /// Starts looking for the network (after boot, AT+CFUN=1, AT+CGATT=1 or AT+COPS): it is
    /// found unless AT+COPS selected another network than the SIM's.
    pub(crate) fn start_search(&mut self) {
        self.ram.general.attach_requested();
        if self.ram.general.selection.finds(self.sim.plmn()) {
            self.ram.radio.search(self.now);
        } else {
            self.ram.radio.search_in_vain(self.now);
            self.ram.general.search_failed();
        }
        self.radio_events();
    }

    /// Leaves the network (AT+CFUN=0, AT+CGATT=0).
    pub(crate) fn detach(&mut self) {
        self.ram.radio.detach(self.now);
        self.radio_events();
    }

    /// AT+QSCLK=0: no sleep at all (seed 001's "sleep disabled").
    pub(crate) fn sleep_disabled(&self) -> bool {
        self.sleep_mode() == Some(SLEEP_DISABLED)
    }

    /// AT+QSCLK in use: the setting, or the profile's factory value; `None` on a model without
    /// AT+QSCLK.
    pub(crate) fn sleep_mode(&self) -> Option<u8> {
        self.sleep_mode
    }

    /// Puts AT+QSCLK's `setting` in use at once (it is saved as well).
    pub(crate) fn use_sleep_setting(&mut self, setting: &SleepSetting) {
        self.in_use.set_section(setting);
        self.sleep_mode = sleep_mode_in(self.profile, &self.in_use);
    }

    /// Whether the module may enter deep sleep at all: AT+QSCLK=1, or a PSM grant on a model
    /// whose sleep only PSM controls.
    fn deep_sleep_allowed(&self) -> bool {
        match self.profile.sleep_control {
            SleepControl::Qsclk { .. } => self.sleep_mode() == Some(DEEP_SLEEP_ENABLED),
            SleepControl::PsmGrant => self.ram.radio.psm().is_some(),
        }
    }

    fn sleep_state(&self) -> SleepState {
        SleepState {
            asleep: self.ram.radio.in_deep_sleep(),
            disabled: self.sleep_disabled(),
        }
    }

    /// Runs `f` on the services with the environment they see, then applies their effects.
    pub(crate) fn run_services(&mut self, f: impl FnOnce(&mut Services, &mut Env)) {
        let mut effects = Vec::new();
        let (sleep, noticing) = (self.sleep_state(), self.noticing());
        let mut env = Env::new(&self.router, sleep, noticing, &mut effects, &mut self.rng);
        f(&mut self.services, &mut env);
        self.coap_retransmissions += u64::from(env.retransmitted);
        self.apply(effects);
    }

    /// What the services did to the module, applied in one place.
    fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Notice { source, text } => self.notice(source, text),
                Effect::Urc(text) => self.urc(text),
                Effect::Save(change) => {
                    let profile = self.profile;
                    if self.save(|nv| change.apply(nv, profile)).is_err() {
                        tracing::warn!("a service's change to NVRAM could not be saved");
                    }
                }
                Effect::Blob(change) => {
                    if let Err(e) = change.apply(self.store.as_mut()) {
                        tracing::warn!("a service's blob could not be written: {e}");
                    }
                }
                Effect::Message(message) => {
                    let now = self.now;
                    self.run_services(|services, env| services.message(now, &message, env));
                }
                Effect::Restart => self.timers.set(Timer::Restart, self.now),
            }
        }
    }

    /// Turns what changed in the radio into URCs; the first attach of the boot starts the
    /// services of [`AT_FIRST_ATTACH`].
    fn radio_events(&mut self) {
        // The radio changed at `now`, if at all: the time until then was spent in the state it
        // was in before.
        let state = if self.ram.radio.rrc_connected() || self.ram.radio.in_tau() {
            PowerState::Connected
        } else if self.ram.radio.in_deep_sleep() {
            PowerState::Psm
        } else {
            PowerState::Idle
        };
        self.ram.energy.enter(self.now, state);
        let mut first_attach = false;
        while let Some(event) = self.ram.radio.poll_event() {
            match event {
                RadioEvent::Registration(status) => {
                    if self.ram.cereg_mode > 0 {
                        let text = self.line("+CEREG", self.cereg_fields(false));
                        self.urc(text);
                    }
                    if status == RegStatus::Home && !self.ram.attached_since_boot {
                        self.ram.attached_since_boot = true;
                        first_attach = true;
                    }
                    general::registration_changed(self, status);
                }
                RadioEvent::Connection(connected) => {
                    if self.ram.cscon_mode == 1 {
                        let text = format!(
                            "+CSCON{}{}",
                            self.profile.cscon_urc_separator,
                            u8::from(connected)
                        );
                        self.urc(text);
                    }
                }
                RadioEvent::DeepSleep(asleep) => {
                    tracing::debug!("deep sleep: {asleep}");
                    let urcs = self.profile.deep_sleep_urcs;
                    if let Some(urcs) = urcs.filter(|_| quectel::deep_sleep_events_on(self)) {
                        self.urc(if asleep { urcs.enter } else { urcs.exit }.into());
                    }
                    if self.ram.npsmr {
                        let text = self.line("+NPSMR", u8::from(asleep));
                        self.urc(text);
                    }
                    quectel::deep_sleep_changed(self, asleep);
                    if asleep {
                        self.notice_energy(self.now);
                    }
                }
                RadioEvent::PeriodicTau => {
                    self.ram.energy.transmitted(self.ram.radio.tau_airtime());
                    self.notice("radio", "periodic TAU");
                }
            }
            let now = self.now;
            self.run_services(|services, env| services.radio_event(now, event, env));
        }
        if first_attach {
            self.start_services(AT_FIRST_ATTACH);
        }
    }

    /// Starts the services of `list` that apply.
    fn start_services(&mut self, list: &[Starter]) {
        let now = self.now;
        let (profile, in_use, saved, sim) = (self.profile, &self.in_use, &self.saved, &self.sim);
        let start = Start {
            now,
            profile,
            in_use,
            saved,
            sim,
            router: &self.router,
            store: self.store.as_ref(),
        };
        let mut effects = Vec::new();
        let (sleep, noticing) = (self.sleep_state(), self.noticing());
        let mut env = Env::new(&self.router, sleep, noticing, &mut effects, &mut self.rng);
        for starter in list {
            if let Some(service) = starter(&start, &mut env) {
                self.services.add(service);
            }
        }
        self.apply(effects);
    }

    /// Enters deep sleep if nothing keeps the module awake (see [`Radio::settle`]).
    fn settle_radio(&mut self) {
        if !self.is_ready() {
            return;
        }
        let enabled = self.deep_sleep_allowed();
        let busy = self.services.is_busy() || self.ram.air.is_busy(self.now);
        self.ram.radio.settle(self.now, enabled, busy);
        self.radio_events();
    }

    /// The `<stat>[,<tac>,<ci>,<AcT>]` part of AT+CEREG; `<n>` comes first in the read answer.
    pub(crate) fn cereg_fields(&self, with_mode: bool) -> String {
        let mode = self.ram.cereg_mode;
        let status = self.ram.radio.status() as u8;
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
            // Modes 4 and 5 add the PSM timers the network granted (no reject cause to give).
            if let Some(psm) = self.ram.radio.psm().filter(|_| mode >= 4) {
                let quoted = self.profile.quoted_bit_strings;
                fields.push_str(&format!(
                    ",,,{},{}",
                    bit_string(psm.active_time, 8, quoted),
                    bit_string(psm.periodic_tau, 8, quoted)
                ));
            }
        }
        fields
    }

    fn finish_boot(&mut self) {
        self.power = Power::Ready;
        let urcs = if std::mem::take(&mut self.rebooted_by_nrb) {
            self.profile.nrb_urcs
        } else {
            self.profile.boot_urcs
        };
        for urc in urcs {
            self.write(LineKind::Urc, |out| format::write_urc(out, urc));
        }
        self.start_services(AT_BOOT);
        if self.autoconnect() {
            self.start_search();
        } else {
            // AUTOCONNECT=FALSE: the radio stays off until the host turns it on and attaches.
            self.ram.radio.functional = false;
        }
    }

    /// Drops the oldest output past [`MAX_OUTPUT`], as a UART buffer nobody empties overflows.
    fn bound_output(&mut self) {
        let excess = self.output.len().saturating_sub(MAX_OUTPUT);
        if excess > 0 {
            self.output.drain(..excess);
            self.output_dropped += excess as u64;
            self.notice(
                "UART",
                format_args!("{excess} bytes of output dropped: nobody read them"),
            );
        }
    }
}

impl Timed for Module {
    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timers.next(),
            self.ram.radio.poll_timeout(),
            self.ram.air.poll_timeout(),
            self.services.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::BootDone => self.finish_boot(),
                Timer::Restart => {
                    let by_nrb = self.rebooted_by_nrb;
                    self.power_off();
                    self.power_on(now);
                    self.rebooted_by_nrb = by_nrb;
                }
                Timer::PowerDown => {
                    self.write(LineKind::Urc, |out| {
                        format::write_urc(out, quectel::POWERED_DOWN)
                    });
                    self.power_off();
                }
            }
        }
        self.ram.radio.handle_timeout(now);
        self.radio_events();
        while let Some(downlink) = self.ram.air.take_received(now) {
            self.deliver(downlink);
        }
        self.run_services(|services, env| services.handle_timeout(now, env));
        self.settle_radio();
        self.bound_output();
    }
}

/// Refuses a set command whose parameter count the seed's bracket groups do not allow (half a
/// group given), before its handler sees it.
fn check_syntax(spec: &CommandSpec<Handler>, command: &Command<'_>) -> Result<(), CommandError> {
    let Some(line) = spec.syntax.filter(|_| command.form == Form::Set) else {
        return Ok(());
    };
    let syntax = Syntax::parse(line).map_err(|_| ParamError::Count(command.params.len()))?;
    Ok(command.params.expect_syntax(&syntax)?)
}

/// AT+QSCLK in `settings`: the setting, or the profile's factory value; `None` on a model
/// without AT+QSCLK.
fn sleep_mode_in(profile: &Profile, settings: &NvramData) -> Option<u8> {
    let SleepControl::Qsclk { factory } = profile.sleep_control else {
        return None;
    };
    let setting = settings.section::<SleepSetting>();
    Some(setting.map_or(factory, |s| s.mode))
}

/// The seed of a module's generator: the configured seed with the IMEI folded in, so that
/// modules configured alike still draw different message IDs and tokens.
fn imei_seed(seed: u64, imei: &str) -> u64 {
    imei.bytes()
        .fold(seed, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
}
