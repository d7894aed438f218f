//! Time for nbmodem.
//!
//! Engines never read a clock: they are handed the current [`Instant`] and answer with the next
//! instant they want to be woken at ([`Timed`]). A driver owns a [`Clock`]: [`RealClock`] follows the
//! system clock for interactive use, [`VirtualClock`] only moves when the driver moves it, so a
//! simulation can jump straight to the next timer and run a 30-day schedule in milliseconds.
//!
//! Beside time, the crate holds the one seeded random generator ([`SeededRng`]): with both handed
//! in by the caller, a simulation repeats exactly.
//!
//! An [`Instant`] counts milliseconds since the Unix epoch. Using wall-clock time (rather than time
//! since boot) lets a module keep dates across reboots, as a real module's RTC does for the 30-day
//! China Unicom re-registration.

mod duration;
mod rng;
mod timers;

pub use duration::{format_duration, parse_duration, DurationError};
pub use rng::SeededRng;
pub use timers::Timers;

use std::cell::Cell;
use std::ops::{Add, Sub};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time: milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    pub const fn from_unix_millis(ms: u64) -> Self {
        Instant(ms)
    }

    pub const fn unix_millis(self) -> u64 {
        self.0
    }

    /// `2026-01-01T00:00:00.000Z`: ISO 8601 in UTC, with milliseconds.
    pub fn iso8601(self) -> String {
        self.format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
    }

    /// `14:05:09`: the time of day in UTC, for console lines.
    pub fn time_of_day(self) -> String {
        self.format(time::macros::format_description!(
            "[hour]:[minute]:[second]"
        ))
    }

    /// `2026-01-01 14:05:09`: date and time of day in UTC, for console lines.
    pub fn date_time(self) -> String {
        self.format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
    }

    fn format(self, description: &[time::format_description::BorrowedFormatItem<'_>]) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(description).ok())
            .unwrap_or_else(|| format!("@{}ms", self.0))
    }

    /// Time from `earlier` to `self`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(ms))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_sub(ms))
    }
}

/// Something driven by time: it says when it next wants to run, and runs when told it is time.
pub trait Timed {
    /// The earliest instant at which [`Timed::handle_timeout`] must be called, if any.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Runs everything due at or before `now`.
    fn handle_timeout(&mut self, now: Instant);
}

/// A source of the current instant.
pub trait Clock {
    fn now(&self) -> Instant;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealClock;

impl Clock for RealClock {
    fn now(&self) -> Instant {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Instant(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that stands still until it is moved. It never moves backwards.
#[derive(Debug, Default)]
pub struct VirtualClock {
    now: Cell<Instant>,
}

impl VirtualClock {
    /// The start of virtual time used by scenarios unless they say otherwise: 2026-01-01T00:00:00Z.
    pub const DEFAULT_START: Instant = Instant(1_767_225_600_000);

    pub fn starting_at(start: Instant) -> Self {
        VirtualClock {
            now: Cell::new(start),
        }
    }

    /// Moves the clock to `t`, or leaves it where it is if `t` is in the past.
    pub fn advance_to(&self, t: Instant) {
        if t > self.now.get() {
            self.now.set(t);
        }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        self.now.get()
    }
}

/// Runs `node` in virtual time until `deadline`: jumps from timer to timer without sleeping, then
/// leaves the clock at `deadline`. Returns how many timers ran.
pub fn run_until<T: Timed + ?Sized>(
    node: &mut T,
    clock: &VirtualClock,
    deadline: Instant,
) -> usize {
    let mut fired = 0;
    while let Some(t) = node.poll_timeout().filter(|t| *t <= deadline) {
        clock.advance_to(t);
        node.handle_timeout(clock.now());
        fired += 1;
    }
    clock.advance_to(deadline);
    fired
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_of_known_instants() {
        let at = |ms| Instant::from_unix_millis(ms).iso8601();
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_767_225_600_000), "2026-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(at(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
        let last = Instant::from_unix_millis(4_107_542_399_999);
        assert_eq!(last.time_of_day(), "23:59:59");
        assert_eq!(last.date_time(), "2100-02-28 23:59:59");
    }

    struct Ticker {
        next: Instant,
        period: Duration,
        ticks: u32,
    }

    impl Timed for Ticker {
        fn poll_timeout(&self) -> Option<Instant> {
            Some(self.next)
        }
        fn handle_timeout(&mut self, now: Instant) {
            assert_eq!(now, self.next, "woken exactly at its timer");
            self.ticks += 1;
            self.next = now + self.period;
        }
    }

    #[test]
    fn thirty_days_of_hourly_timers_run_without_sleeping() {
        let clock = VirtualClock::starting_at(VirtualClock::DEFAULT_START);
        let start = clock.now();
        let hour = Duration::from_secs(3600);
        let mut ticker = Ticker {
            next: start + hour,
            period: hour,
            ticks: 0,
        };
        let fired = run_until(&mut ticker, &clock, start + Duration::from_secs(30 * 86400));
        assert_eq!(fired, 720);
        assert_eq!(ticker.ticks, 720);
        assert_eq!(clock.now(), start + Duration::from_secs(30 * 86400));
    }

    #[test]
    fn virtual_clock_never_goes_back() {
        let clock = VirtualClock::starting_at(Instant::from_unix_millis(1000));
        clock.advance_to(Instant::from_unix_millis(500));
        assert_eq!(clock.now().unix_millis(), 1000);
    }

    #[test]
    fn instant_arithmetic_saturates() {
        let t = Instant::from_unix_millis(10);
        assert_eq!((t - Duration::from_secs(1)).unix_millis(), 0);
        assert_eq!((t + Duration::MAX).unix_millis(), u64::MAX);
        assert_eq!(
            t.saturating_since(Instant::from_unix_millis(20)),
            Duration::ZERO
        );
    }
}
