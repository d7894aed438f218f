//! The energy account: how long the module has spent in each power state since it was powered on,
//! and the charge that drew, from the per-state currents of its profile ([`PowerProfile`]). It
//! lets a user compare release assistance and sleep settings on the same traffic (issue 11 §6).
//!
//! The states follow the radio ([`crate::radio`]):
//! - **PSM**: deep sleep;
//! - **idle**: awake without an RRC connection (searching, detached, or registered and idle in
//!   DRX/eDRX, which the module's light sleep is);
//! - **connected**: an RRC connection is up (receiving, or waiting for the inactivity timer);
//! - **transmitting**: the airtime of each uplink datagram and of each periodic TAU's request,
//!   from its size and the coverage ([`crate::coverage::Link`]).
//!
//! PSM, idle and connected add up to the time since power-on. Transmitting is counted on top: its
//! airtime is not taken from the state the module is in (an uplink with RAI 1 is released at the
//! instant it is sent, so there may be no connected time to take it from), which overstates the
//! total by at most the connected current over the airtime.
//!
//! Limits of the model: one current per state (no current profile within a paging cycle, no
//! coverage-dependent transmit power; repetitions only lengthen the airtime); downlinks are received within connected
//! time at the connected current; the search for a cell costs the idle current; power-off costs
//! nothing. The currents are the profile's, each with its source or "assumed" beside it.

use nbmodem_clock::{format_duration, Instant};
use std::fmt;
use std::time::Duration;

/// A state's current and where the value comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Current {
    pub micro_amps: f64,
    /// A document the value is taken from, or why it was assumed.
    pub source: &'static str,
}

/// The currents of a model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerProfile {
    pub psm: Current,
    pub idle: Current,
    pub connected: Current,
    pub transmitting: Current,
}

impl PowerProfile {
    pub fn current(&self, state: PowerState) -> Current {
        match state {
            PowerState::Psm => self.psm,
            PowerState::Idle => self.idle,
            PowerState::Connected => self.connected,
            PowerState::Transmitting => self.transmitting,
        }
    }
}

/// The power states of the account, in the order it lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    Psm,
    Idle,
    Connected,
    Transmitting,
}

impl PowerState {
    pub const ALL: [PowerState; 4] = [
        PowerState::Psm,
        PowerState::Idle,
        PowerState::Connected,
        PowerState::Transmitting,
    ];

    /// `psm`, `idle`, `connected` or `transmitting`.
    pub fn name(self) -> &'static str {
        match self {
            PowerState::Psm => "psm",
            PowerState::Idle => "idle",
            PowerState::Connected => "connected",
            PowerState::Transmitting => "transmitting",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl std::str::FromStr for PowerState {
    type Err = String;

    fn from_str(name: &str) -> Result<PowerState, String> {
        PowerState::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| format!("no power state {name:?}: psm, idle, connected or transmitting"))
    }
}

/// Counts the time spent in each state from power-on.
#[derive(Debug, Clone)]
pub struct EnergyMeter {
    /// The state the module is in, and since when its time has not been counted.
    state: PowerState,
    since: Instant,
    time: [Duration; 4],
}

impl EnergyMeter {
    /// A meter started at power-on, the module idle.
    pub fn new(now: Instant) -> Self {
        EnergyMeter {
            state: PowerState::Idle,
            since: now,
            time: [Duration::ZERO; 4],
        }
    }

    /// The module is in `state` from `now` on: the time since the last change is counted for the
    /// state it was in.
    pub fn enter(&mut self, now: Instant, state: PowerState) {
        self.count_until(now);
        self.state = state;
    }

    /// An uplink of `airtime` was sent.
    pub fn transmitted(&mut self, airtime: Duration) {
        self.time[PowerState::Transmitting.index()] += airtime;
    }

    /// The account at `now`.
    pub fn account(&self, now: Instant, profile: &PowerProfile) -> EnergyAccount {
        let mut meter = self.clone();
        meter.count_until(now);
        let entries = PowerState::ALL.map(|state| {
            let time = meter.time[state.index()];
            let charge = profile.current(state).micro_amps * time.as_secs_f64() / 3600.0;
            EnergyEntry {
                state,
                time,
                micro_amp_hours: charge,
            }
        });
        EnergyAccount { entries }
    }

    fn count_until(&mut self, now: Instant) {
        self.time[self.state.index()] += now.saturating_since(self.since);
        self.since = now;
    }
}

/// The time in one state and the charge it drew.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnergyEntry {
    pub state: PowerState,
    pub time: Duration,
    pub micro_amp_hours: f64,
}

/// Time and charge per state since power-on.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyAccount {
    pub entries: [EnergyEntry; 4],
}

impl EnergyAccount {
    pub fn entry(&self, state: PowerState) -> EnergyEntry {
        self.entries[state.index()]
    }

    /// The charge drawn in all states, in µAh.
    pub fn total_micro_amp_hours(&self) -> f64 {
        self.entries.iter().map(|e| e.micro_amp_hours).sum()
    }
}

impl fmt::Display for EnergyAccount {
    /// `psm 3h 10.500 µAh, idle 4s 0.556 µAh, connected 20s 166.667 µAh, transmitting 45ms
    /// 1.500 µAh; total 179.223 µAh`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            write!(
                f,
                "{separator}{} {} {:.3} µAh",
                e.state.name(),
                format_duration(e.time),
                e.micro_amp_hours
            )?;
        }
        write!(f, "; total {:.3} µAh", self.total_micro_amp_hours())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: PowerProfile = PowerProfile {
        psm: Current {
            micro_amps: 3.6,
            source: "test",
        },
        idle: Current {
            micro_amps: 360.0,
            source: "test",
        },
        connected: Current {
            micro_amps: 36_000.0,
            source: "test",
        },
        transmitting: Current {
            micro_amps: 360_000.0,
            source: "test",
        },
    };

    fn at(secs: u64) -> Instant {
        Instant::from_unix_millis(secs * 1000)
    }

    #[test]
    fn each_state_is_charged_for_its_own_time() {
        let mut meter = EnergyMeter::new(at(0));
        meter.enter(at(2), PowerState::Connected);
        meter.enter(at(22), PowerState::Psm);
        meter.transmitted(Duration::from_millis(20));
        let account = meter.account(at(3622), &PROFILE);
        let time = |s| account.entry(s).time;
        assert_eq!(time(PowerState::Idle), Duration::from_secs(2));
        assert_eq!(time(PowerState::Connected), Duration::from_secs(20));
        assert_eq!(time(PowerState::Psm), Duration::from_secs(3600));
        assert_eq!(time(PowerState::Transmitting), Duration::from_millis(20));
        // 3.6 µA for an hour is 3.6 µAh; 36 mA for 20 s is 200 µAh.
        let charge = |s| account.entry(s).micro_amp_hours;
        assert!((charge(PowerState::Psm) - 3.6).abs() < 1e-9);
        assert!((charge(PowerState::Connected) - 200.0).abs() < 1e-9);
        assert!((charge(PowerState::Transmitting) - 2.0).abs() < 1e-9);
        assert!((account.total_micro_amp_hours() - 205.8).abs() < 1e-9);
        assert_eq!(
            account.to_string(),
            "psm 1h 3.600 µAh, idle 2s 0.200 µAh, connected 20s 200.000 µAh, \
             transmitting 20ms 2.000 µAh; total 205.800 µAh"
        );
    }

    #[test]
    fn reading_the_account_changes_nothing() {
        let mut meter = EnergyMeter::new(at(0));
        meter.enter(at(5), PowerState::Psm);
        let first = meter.account(at(10), &PROFILE);
        assert_eq!(meter.account(at(10), &PROFILE), first);
        assert_eq!(first.entry(PowerState::Psm).time, Duration::from_secs(5));
    }

    #[test]
    fn states_parse_by_name() {
        for state in PowerState::ALL {
            assert_eq!(state.name().parse::<PowerState>(), Ok(state));
        }
        assert!("sleep".parse::<PowerState>().is_err());
    }
}
