//! The simulated radio as one state machine: functionality, network registration, the RRC
//! connection with its inactivity timer and release assistance, and deep sleep (PSM). It is fed
//! events with the time they happen — an uplink (with its release assistance), a downlink, host
//! activity, its own timers — and reports what changed as [`RadioEvent`]s, which the module turns
//! into URCs. It reads no clock and owns no other state of the module.
//!
//! - **Registration.** After boot (or AT+CFUN=1, AT+CGATT=1) the module searches, and
//!   [`NetworkConfig::attach_delay`] later it is registered, with an address and an RRC connection.
//! - **RRC.** Every datagram sent or received brings the connection up and restarts the network's
//!   inactivity timer ([`NetworkConfig::inactivity`]); when it runs out the connection is released.
//!   An uplink's release assistance (RAI, seed 002 §2.3.3) can release it sooner: RAI 1 right
//!   after that uplink, RAI 2 right after the one downlink that answers it.
//! - **Deep sleep.** With sleep enabled (AT+QSCLK=1; a PSM grant on the Neul models, which have
//!   no AT+QSCLK) the module goes to deep sleep as soon as all
//!   of these hold: it is registered, its connection is released, no exchange is in flight (seed
//!   001: "CoAP retransmission may affect the time of entering deep sleep"), and the host has been
//!   quiet for [`HOST_IDLE`]. In deep sleep the module cannot be reached: datagrams sent to it are
//!   lost. Host activity and any uplink wake it (seed 000: "the retry takes the module out of
//!   PSM").
//! - **PSM and eDRX, the network side** ([`crate::power_saving`]). Deep sleep is the module's own
//!   entry into PSM. Without a PSM grant it enters as soon as the conditions above hold, as
//!   before; with one (AT+CPSMS=1) it first stays reachable in idle for the active time T3324
//!   from the release, and while the grant's T3412 runs it wakes the radio alone for a periodic
//!   TAU, a short exchange with the network that the host does not see. A downlink to an idle
//!   module with eDRX waits for the next paging time window (one per eDRX cycle, counted from
//!   the epoch as the cell's hyperframes are); without eDRX the default paging cycle (a second
//!   or two) is not modelled.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::coverage::RadioCondition;
use crate::nvram::Section;
use crate::power_saving::{EdrxGrant, NetworkPowerSaving, PsmGrant};
use crate::profile::Profile;
use nbmodem_clock::Instant;
use serde::{Deserialize, Serialize};

/// How long the host must leave the UART alone before the module may go to deep sleep, so that it
/// can read a response and send the next command without waking the module each time.
pub const HOST_IDLE: Duration = Duration::from_secs(5);

/// A periodic TAU: the size of the TAU request and of its accept, and how long the network keeps
/// the connection after the accept before it releases it.
const TAU_BYTES: usize = 40;
const TAU_RELEASE: Duration = Duration::from_secs(1);

/// AT+QSCLK as NVRAM keeps it: 0 no sleep, 1 light and deep sleep, 2 light sleep only; absent,
/// the profile's factory value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SleepSetting {
    pub mode: u8,
}

impl Section for SleepSetting {
    const NAME: &'static str = "sleep";

    fn check(&self, _: &Profile) -> Result<(), String> {
        if self.mode > 2 {
            return Err(format!("`mode` is {}, but must be 0, 1 or 2", self.mode));
        }
        Ok(())
    }
}

/// The simulated cell and network, as a user may configure them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Whether there is any coverage; without it the module searches for ever.
    pub coverage: bool,
    /// From the start of a search to registration.
    pub attach_delay: Duration,
    /// The serving cell as the module receives it: CE level, signal values, airtimes.
    pub condition: RadioCondition,
    /// What the network grants of PSM and eDRX.
    pub power_saving: NetworkPowerSaving,
    /// Whether datagrams are held for their airtime. Off, they cross at once (the airtime is
    /// still charged in the energy account): the project's protocol tests run so, to keep their
    /// instants exact; a coverage given to the sandbox or a scenario turns it on.
    pub timed_link: bool,
    /// RRC inactivity timer: how long an idle connection stays up.
    pub inactivity: Duration,
    pub tac: u16,
    pub cell_id: u32,
}

impl NetworkConfig {
    /// How long a datagram of `airtime` is held: all of it on a timed link, else not at all.
    pub fn hold(&self, airtime: Duration) -> Duration {
        if self.timed_link {
            airtime
        } else {
            Duration::ZERO
        }
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            coverage: true,
            attach_delay: Duration::from_secs(2),
            condition: RadioCondition::GOOD,
            power_saving: NetworkPowerSaving::default(),
            timed_link: true,
            inactivity: Duration::from_secs(20),
            tac: 0x5A3C,
            cell_id: 0x0A1B_2C3D,
        }
    }
}

/// EPS registration status as AT+CEREG reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegStatus {
    NotSearching = 0,
    Home = 1,
    Searching = 2,
}

/// Release assistance of an uplink (AT+NMGS `<type>`, seed 002 §2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rai {
    /// No indication: the inactivity timer releases the connection.
    #[default]
    None,
    /// No further data expected: released right after this uplink.
    ReleaseNow,
    /// One downlink expected in answer: released right after it.
    ReleaseAfterReply,
}

impl Rai {
    /// From the RAI value 0, 1 or 2.
    pub fn from_value(value: u8) -> Option<Rai> {
        match value {
            0 => Some(Rai::None),
            1 => Some(Rai::ReleaseNow),
            2 => Some(Rai::ReleaseAfterReply),
            _ => None,
        }
    }
}

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RadioEvent {
    Registration(RegStatus),
    /// The RRC connection came up (`true`) or was released.
    Connection(bool),
    /// Deep sleep began (`true`) or ended.
    DeepSleep(bool),
    /// A periodic TAU began: the radio is connected for [`Radio::tau_time`], unseen by the host.
    PeriodicTau,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rrc {
    Idle,
    Connected {
        release_at: Instant,
        /// RAI 2: released when the next downlink arrives.
        after_reply: bool,
    },
}

/// The radio's state; it is lost at power-off.
#[derive(Debug, Clone)]
pub struct Radio {
    config: NetworkConfig,
    /// AT+CFUN: 1 (full functionality) or 0.
    pub functional: bool,
    status: RegStatus,
    rrc: Rrc,
    deep_sleep: bool,
    attach_at: Option<Instant>,
    /// Until when the host's last activity keeps the module awake.
    host_active_until: Option<Instant>,
    /// PSM and eDRX as the network granted them.
    psm: Option<PsmGrant>,
    edrx: Option<EdrxGrant>,
    /// When the connection was last released: T3324 and T3412 run from then.
    released_at: Option<Instant>,
    /// When the active time runs out and the module may enter PSM.
    psm_at: Option<Instant>,
    /// When the next periodic TAU is due, and when the one in progress ends.
    tau_at: Option<Instant>,
    tau_until: Option<Instant>,
    events: VecDeque<RadioEvent>,
}

impl Radio {
    pub fn new(config: NetworkConfig) -> Self {
        Radio {
            config,
            functional: true,
            status: RegStatus::NotSearching,
            rrc: Rrc::Idle,
            deep_sleep: false,
            attach_at: None,
            host_active_until: None,
            psm: None,
            edrx: None,
            released_at: None,
            psm_at: None,
            tau_at: None,
            tau_until: None,
            events: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// The radio condition changes (a user moves the device): airtimes from now on follow it.
    pub fn set_condition(&mut self, condition: RadioCondition) {
        self.config.condition = condition;
    }

    /// What the network granted of PSM and eDRX (AT+CPSMS, AT+CEDRXS) from `now` on.
    pub fn set_power_saving(
        &mut self,
        now: Instant,
        psm: Option<PsmGrant>,
        edrx: Option<EdrxGrant>,
    ) {
        self.psm = psm;
        self.edrx = edrx;
        let idle = self.registered() && !self.rrc_connected() && self.tau_until.is_none();
        self.tau_at = self.t3412().filter(|_| idle).map(|t| now + t);
    }

    pub fn psm(&self) -> Option<PsmGrant> {
        self.psm
    }

    pub fn edrx(&self) -> Option<EdrxGrant> {
        self.edrx
    }

    /// Whether a periodic TAU is in progress.
    pub fn in_tau(&self) -> bool {
        self.tau_until.is_some()
    }

    /// How long a periodic TAU keeps the radio connected: the request's and the accept's
    /// airtimes, then the network's release.
    pub fn tau_time(&self) -> Duration {
        let link = self.config.condition.link();
        link.uplink_airtime(TAU_BYTES) + link.downlink_airtime(TAU_BYTES) + TAU_RELEASE
    }

    /// The airtime of a periodic TAU's request, for the energy account.
    pub fn tau_airtime(&self) -> Duration {
        self.config.condition.link().uplink_airtime(TAU_BYTES)
    }

    /// When a downlink arriving at `now` can start towards the module: at once unless it is idle
    /// in eDRX outside a paging time window, then at the start of the next one.
    pub fn page_at(&self, now: Instant) -> Instant {
        let Some(edrx) = self
            .edrx
            .filter(|_| !self.rrc_connected() && !self.in_tau())
        else {
            return now;
        };
        let cycle = edrx.cycle().as_millis() as u64;
        let phase = now.unix_millis() % cycle;
        if phase < edrx.window().as_millis() as u64 {
            now
        } else {
            now + Duration::from_millis(cycle - phase)
        }
    }

    fn t3412(&self) -> Option<Duration> {
        self.psm.and_then(|g| g.t3412())
    }

    pub fn status(&self) -> RegStatus {
        self.status
    }

    pub fn registered(&self) -> bool {
        self.status == RegStatus::Home
    }

    pub fn rrc_connected(&self) -> bool {
        matches!(self.rrc, Rrc::Connected { .. })
    }

    pub fn in_deep_sleep(&self) -> bool {
        self.deep_sleep
    }

    /// Whether a datagram sent to the module reaches it: registered and not in deep sleep (the
    /// network cannot page a device in PSM).
    pub fn reachable(&self) -> bool {
        self.registered() && !self.deep_sleep
    }

    /// What changed since the last call.
    pub fn poll_event(&mut self) -> Option<RadioEvent> {
        self.events.pop_front()
    }

    /// Starts looking for the network (after boot, AT+CFUN=1 or AT+CGATT=1).
    pub fn search(&mut self, now: Instant) {
        if self.status != RegStatus::NotSearching {
            return;
        }
        self.set_status(RegStatus::Searching);
        if self.config.coverage {
            self.attach_at = Some(now + self.config.attach_delay);
        }
    }

    /// Looks for a network that is not there (AT+COPS=1 with a PLMN the cell does not offer):
    /// searching, never registered.
    pub fn search_in_vain(&mut self, now: Instant) {
        self.detach(now);
        self.set_status(RegStatus::Searching);
    }

    /// Leaves the network (AT+CFUN=0, AT+CGATT=0).
    pub fn detach(&mut self, now: Instant) {
        self.attach_at = None;
        self.set_connected(now, None);
        self.set_status(RegStatus::NotSearching);
        (self.psm_at, self.tau_at, self.tau_until) = (None, None, None);
    }

    /// The module sends a datagram: awake, connected for another inactivity period, or released
    /// as `rai` asks.
    pub fn uplink(&mut self, now: Instant, rai: Rai) {
        self.wake();
        match rai {
            Rai::None => self.connect(now, false),
            Rai::ReleaseAfterReply => self.connect(now, true),
            Rai::ReleaseNow => {
                self.connect(now, false);
                self.set_connected(now, None);
            }
        }
    }

    /// A datagram reached the module: connected for another inactivity period. Returns whether it
    /// is the reply an uplink with RAI 2 waited for; the connection is then released by
    /// [`Radio::release`] once the module has handled the reply (seed 002 §4.2.2 prints
    /// `+QLWEVTIND: 4` before `+CSCON:0`).
    pub fn downlink(&mut self, now: Instant) -> bool {
        self.wake();
        let awaited = matches!(
            self.rrc,
            Rrc::Connected {
                after_reply: true,
                ..
            }
        );
        if !awaited {
            self.connect(now, false);
        }
        awaited
    }

    /// Releases the RRC connection (after the reply an uplink with RAI 2 waited for).
    pub fn release(&mut self, now: Instant) {
        self.set_connected(now, None);
    }

    /// The host wrote to the UART: the module wakes and stays awake for [`HOST_IDLE`].
    pub fn host_activity(&mut self, now: Instant) {
        self.wake();
        self.host_active_until = Some(now + HOST_IDLE);
    }

    /// When [`Radio::handle_timeout`] must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let release = match self.rrc {
            Rrc::Connected { release_at, .. } => Some(release_at),
            Rrc::Idle => None,
        };
        [
            self.attach_at,
            release,
            self.host_active_until,
            self.psm_at,
            self.tau_at,
            self.tau_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the radio's timers due at `now`: attach, release, end of host activity, periodic TAU.
    /// (The end of the active time is [`Radio::settle`]'s.)
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.attach_at.is_some_and(|at| at <= now) {
            self.attach_at = None;
            self.set_status(RegStatus::Home);
            self.connect(now, false);
        }
        if matches!(self.rrc, Rrc::Connected { release_at, .. } if release_at <= now) {
            self.set_connected(now, None);
        }
        if self.host_active_until.is_some_and(|at| at <= now) {
            self.host_active_until = None;
        }
        if self.tau_until.is_some_and(|at| at <= now) {
            self.tau_until = None;
            self.tau_at = self.t3412().map(|t| now + t);
        }
        if self.tau_at.is_some_and(|at| at <= now) {
            self.tau_at = None;
            if self.registered() {
                self.tau_until = Some(now + self.tau_time());
                self.events.push_back(RadioEvent::PeriodicTau);
            }
        }
    }

    /// Enters deep sleep (PSM) if nothing keeps the module awake and the granted active time
    /// since the release is over (none without a PSM grant): `enabled` is what the model's sleep
    /// control allows (AT+QSCLK=1, or a PSM grant), `busy` an exchange in flight.
    pub fn settle(&mut self, now: Instant, enabled: bool, busy: bool) {
        self.psm_at = None;
        let allowed = enabled
            && self.registered()
            && !self.rrc_connected()
            && self.host_active_until.is_none()
            && !busy;
        if !allowed || self.deep_sleep {
            return;
        }
        let active = self.psm.and_then(|g| g.t3324()).unwrap_or_default();
        let due = self.released_at.map_or(now, |released| released + active);
        if due > now {
            self.psm_at = Some(due);
        } else {
            self.deep_sleep = true;
            self.events.push_back(RadioEvent::DeepSleep(true));
        }
    }

    fn wake(&mut self) {
        if self.deep_sleep {
            self.deep_sleep = false;
            self.events.push_back(RadioEvent::DeepSleep(false));
        }
    }

    fn connect(&mut self, now: Instant, after_reply: bool) {
        let release_at = now + self.config.inactivity;
        self.set_connected(
            now,
            Some(Rrc::Connected {
                release_at,
                after_reply,
            }),
        );
    }

    /// Sets the connection (`None`: released), reporting a change of connected state. A release
    /// starts the active time and the periodic TAU timer; a connection stops them.
    fn set_connected(&mut self, now: Instant, rrc: Option<Rrc>) {
        let was = self.rrc_connected();
        self.rrc = rrc.unwrap_or(Rrc::Idle);
        if was == self.rrc_connected() {
            return;
        }
        if self.rrc_connected() {
            self.tau_at = None;
        } else {
            self.released_at = Some(now);
            self.tau_at = self.t3412().map(|t| now + t);
        }
        self.events
            .push_back(RadioEvent::Connection(self.rrc_connected()));
    }

    fn set_status(&mut self, status: RegStatus) {
        if self.status != status {
            self.status = status;
            self.events.push_back(RadioEvent::Registration(status));
        }
    }
}

/// The address the network gives a SIM: stable for an IMSI, in 10.0.0.0/8.
pub fn address_for(imsi: &str) -> Ipv4Addr {
    let hash = imsi
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let [_, b, c, d] = hash.to_be_bytes();
    Ipv4Addr::new(10, b, c, d.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Instant {
        Instant::from_unix_millis(secs * 1000)
    }

    fn events(radio: &mut Radio) -> Vec<RadioEvent> {
        std::iter::from_fn(|| radio.poll_event()).collect()
    }

    /// Registered and connected at 2 s, the host quiet.
    fn attached() -> Radio {
        let mut radio = Radio::new(NetworkConfig::default());
        radio.search(at(0));
        radio.handle_timeout(at(2));
        events(&mut radio);
        radio
    }

    #[test]
    fn address_is_stable_and_private() {
        let a = address_for("460110000000001");
        assert_eq!(a, address_for("460110000000001"));
        assert_ne!(a, address_for("460110000000002"));
        assert_eq!(a.octets()[0], 10);
    }

    #[test]
    fn attach_then_release_after_the_inactivity_timer() {
        let mut radio = Radio::new(NetworkConfig::default());
        radio.search(at(0));
        assert_eq!(radio.poll_timeout(), Some(at(2)));
        radio.handle_timeout(at(2));
        assert_eq!(
            events(&mut radio),
            [
                RadioEvent::Registration(RegStatus::Searching),
                RadioEvent::Registration(RegStatus::Home),
                RadioEvent::Connection(true)
            ]
        );
        radio.uplink(at(10), Rai::None);
        assert_eq!(
            radio.poll_timeout(),
            Some(at(30)),
            "traffic restarts the timer"
        );
        radio.handle_timeout(at(30));
        assert_eq!(events(&mut radio), [RadioEvent::Connection(false)]);
    }

    #[test]
    fn rai_1_releases_after_the_uplink_and_rai_2_after_the_reply() {
        let mut radio = attached();
        radio.uplink(at(5), Rai::ReleaseNow);
        assert_eq!(events(&mut radio), [RadioEvent::Connection(false)]);
        assert!(!radio.rrc_connected());
        radio.uplink(at(6), Rai::ReleaseAfterReply);
        assert_eq!(events(&mut radio), [RadioEvent::Connection(true)]);
        assert!(radio.downlink(at(7)), "the awaited reply");
        assert!(events(&mut radio).is_empty(), "released once handled");
        radio.release(at(7));
        assert_eq!(events(&mut radio), [RadioEvent::Connection(false)]);
        // No reply: the inactivity timer still releases it.
        radio.uplink(at(8), Rai::ReleaseAfterReply);
        radio.handle_timeout(at(28));
        assert_eq!(
            events(&mut radio),
            [RadioEvent::Connection(true), RadioEvent::Connection(false)]
        );
    }

    /// Registered at 2 s with PSM granted: T3412 2 min, T3324 10 s.
    fn with_psm() -> Radio {
        let mut radio = attached();
        let psm = PsmGrant {
            periodic_tau: 0b1010_0010,
            active_time: 0b0000_0101,
        };
        radio.set_power_saving(at(2), Some(psm), None);
        radio
    }

    #[test]
    fn psm_waits_for_the_active_time_after_the_release() {
        let mut radio = with_psm();
        radio.handle_timeout(at(22));
        radio.settle(at(22), true, false);
        assert!(!radio.in_deep_sleep(), "reachable for T3324");
        assert!(radio.reachable());
        assert_eq!(radio.poll_timeout(), Some(at(32)));
        radio.handle_timeout(at(32));
        radio.settle(at(32), true, false);
        assert!(radio.in_deep_sleep());
    }

    #[test]
    fn a_periodic_tau_every_t3412_from_each_release() {
        let mut radio = with_psm();
        radio.handle_timeout(at(22));
        events(&mut radio);
        // The release at 22 s starts T3412: the TAU is due at 142 s, unseen but connected.
        radio.handle_timeout(at(142));
        assert_eq!(events(&mut radio), [RadioEvent::PeriodicTau]);
        assert!(radio.in_tau() && !radio.rrc_connected());
        let end = at(142) + radio.tau_time();
        radio.handle_timeout(end);
        assert!(!radio.in_tau());
        assert_eq!(radio.poll_timeout(), Some(end + Duration::from_secs(120)));
        // A connection stops T3412; its release starts it again.
        radio.uplink(at(200), Rai::ReleaseNow);
        assert_eq!(radio.poll_timeout(), Some(at(320)));
        // No TAU once detached.
        radio.detach(at(201));
        assert_eq!(radio.poll_timeout(), None);
    }

    #[test]
    fn an_idle_edrx_module_is_paged_in_its_window() {
        let mut radio = attached();
        let edrx = EdrxGrant {
            requested: 0b0010,
            value: 0b0010,
            paging_window: 0b0000,
        };
        radio.set_power_saving(at(2), None, Some(edrx));
        let ms = Instant::from_unix_millis;
        assert_eq!(radio.page_at(ms(30_000)), ms(30_000), "connected: at once");
        radio.handle_timeout(at(22));
        // Windows of 2.56 s open every 20.48 s from the epoch.
        assert_eq!(
            radio.page_at(ms(41_000)),
            ms(41_000),
            "inside 40.96–43.52 s"
        );
        assert_eq!(radio.page_at(ms(43_520)), ms(61_440));
        assert_eq!(radio.page_at(ms(50_000)), ms(61_440));
    }

    #[test]
    fn deep_sleep_waits_for_release_quiet_host_and_no_exchange() {
        let mut radio = attached();
        radio.host_activity(at(3));
        radio.settle(at(3), true, false);
        assert!(!radio.in_deep_sleep(), "connected, host active");
        radio.handle_timeout(at(22));
        radio.settle(at(22), true, true);
        assert!(!radio.in_deep_sleep(), "an exchange in flight");
        radio.settle(at(22), false, false);
        assert!(!radio.in_deep_sleep(), "sleep disabled");
        radio.settle(at(22), true, false);
        assert!(radio.in_deep_sleep());
        assert!(!radio.reachable());
        assert_eq!(
            events(&mut radio),
            [RadioEvent::Connection(false), RadioEvent::DeepSleep(true)]
        );
        radio.uplink(at(30), Rai::None);
        assert_eq!(
            events(&mut radio),
            [RadioEvent::DeepSleep(false), RadioEvent::Connection(true)]
        );
    }
}
