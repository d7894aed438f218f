//! Handshake retransmission on the caller's clock, with OpenSSL's own timer kept as a gate.
//!
//! OpenSSL decides *whether* its retransmission timer has expired with its own clock
//! (`gettimeofday`), and no hook replaces that clock. What it does let us choose, through
//! `DTLS_set_timer_cb`, is *how long* each timer runs. So two timers run side by side:
//!
//! - ours, on the caller's [`Instant`]s, is the schedule: [`Config::initial_retransmit_timeout`]
//!   doubling up to [`Config::max_retransmit_timeout`], and the count of retransmissions after
//!   which the handshake fails. It is what [`crate::DtlsSession::poll_timeout`] reports.
//! - OpenSSL's, on the system clock, runs for three quarters of ours (never less than
//!   [`OPENSSL_MIN_TIMER`]). When ours expires we ask OpenSSL to retransmit
//!   (`DTLSv1_handle_timeout`), and with a caller clock that follows real time OpenSSL's shorter
//!   timer has expired by then, so it does. When it has not (a virtual clock running ahead of
//!   real time), nothing is sent, and the attempt still counts and doubles our timeout: the
//!   schedule, and the time-out of a handshake that gets no answer, stay on the caller's clock.
//!
//! The callback also tells us what OpenSSL did with its timer, since OpenSSL retransmits on its
//! own too: it checks its timer whenever it reads, so a datagram that arrives after OpenSSL's
//! timer expired but before ours makes it retransmit early (by at most a quarter of the timeout).
//! A new flight calls the callback with 0, a retransmission with the previous duration; the
//! session reads those notes after every call into OpenSSL and re-arms its own timer to match.
//!
//! [`Instant`]: nbmodem_clock::Instant
//! [`Config::initial_retransmit_timeout`]: crate::Config::initial_retransmit_timeout
//! [`Config::max_retransmit_timeout`]: crate::Config::max_retransmit_timeout

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use foreign_types::ForeignTypeRef;
use libc::c_uint;
use nbmodem_clock::Instant;
use openssl::error::ErrorStack;
use openssl::ex_data::Index;
use openssl::ssl::{Ssl, SslRef};
use openssl_sys::SSL;

use crate::config::Config;
use crate::ffi;

/// The shortest timer handed to OpenSSL. OpenSSL treats a timer with less than 15 ms left as
/// expired, and re-checks its timer right after each retransmission, so a shorter timer would
/// make it retransmit in a loop until it gives up.
pub(crate) const OPENSSL_MIN_TIMER: Duration = Duration::from_millis(50);

/// The back-off schedule, and the notes OpenSSL's timer callback leaves for the session.
///
/// Shared with the callback through the SSL object's ex-data; everything runs on the thread that
/// calls into OpenSSL, the atomics only make the type shareable.
#[derive(Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    current_ms: AtomicU64,
    flight_started: AtomicBool,
    retransmissions: AtomicU32,
}

impl Backoff {
    fn new(config: &Config) -> Self {
        Backoff {
            initial: config.initial_retransmit_timeout,
            max: config.max_retransmit_timeout,
            current_ms: AtomicU64::new(millis(config.initial_retransmit_timeout)),
            flight_started: AtomicBool::new(false),
            retransmissions: AtomicU32::new(0),
        }
    }

    /// The current retransmission timeout on our clock.
    fn current(&self) -> Duration {
        Duration::from_millis(self.current_ms.load(Ordering::Relaxed))
    }

    fn restart(&self) {
        self.current_ms
            .store(millis(self.initial), Ordering::Relaxed);
    }

    fn double(&self) {
        let doubled = self.current().saturating_mul(2).min(self.max);
        self.current_ms.store(millis(doubled), Ordering::Relaxed);
    }

    /// OpenSSL is (re)starting its timer: note why, advance the schedule, and say how long
    /// OpenSSL's timer should run.
    fn on_openssl_timer(&self, previous_us: c_uint) -> c_uint {
        if previous_us == 0 {
            self.restart();
            self.flight_started.store(true, Ordering::Relaxed);
        } else {
            self.double();
            self.retransmissions.fetch_add(1, Ordering::Relaxed);
        }
        openssl_timer_us(self.current())
    }
}

/// OpenSSL's share of a timeout of ours, in the microseconds its callback speaks.
fn openssl_timer_us(ours: Duration) -> c_uint {
    let theirs = (ours * 3 / 4).max(OPENSSL_MIN_TIMER);
    c_uint::try_from(theirs.as_micros()).unwrap_or(c_uint::MAX)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Our retransmission timer, driven by the caller's instants.
#[derive(Debug)]
pub(crate) struct RetransmitTimer {
    backoff: Arc<Backoff>,
    deadline: Option<Instant>,
    /// Retransmissions of the current flight, including attempts OpenSSL declined.
    retransmissions: u32,
    max_retransmissions: u32,
}

impl RetransmitTimer {
    pub(crate) fn new(config: &Config) -> Self {
        RetransmitTimer {
            backoff: Arc::new(Backoff::new(config)),
            deadline: None,
            retransmissions: 0,
            max_retransmissions: config.max_retransmissions,
        }
    }

    /// Installs OpenSSL's timer callback on `ssl`, reporting to this timer.
    pub(crate) fn attach(&self, ssl: &mut SslRef) -> Result<(), ErrorStack> {
        ssl.set_ex_data(backoff_index()?, Arc::clone(&self.backoff));
        ffi::set_timer_callback(ssl, on_openssl_timer);
        Ok(())
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|deadline| now >= deadline)
    }

    /// Whether the flight has been sent as often as allowed.
    pub(crate) fn exhausted(&self) -> bool {
        self.retransmissions >= self.max_retransmissions
    }

    /// Follows what OpenSSL did with its timer during the call that just returned.
    pub(crate) fn sync(&mut self, now: Instant, openssl_timer_armed: bool) {
        let new_flight = self.backoff.flight_started.swap(false, Ordering::Relaxed);
        let retransmitted = self.backoff.retransmissions.swap(0, Ordering::Relaxed);
        if !openssl_timer_armed {
            self.stop();
            return;
        }
        if new_flight {
            self.retransmissions = 0;
        } else {
            self.retransmissions = self.retransmissions.saturating_add(retransmitted);
        }
        if new_flight || retransmitted > 0 || self.deadline.is_none() {
            self.deadline = Some(now + self.backoff.current());
        }
    }

    /// Our timer expired but OpenSSL's clock says its own has not: count the attempt anyway.
    pub(crate) fn declined(&mut self, now: Instant) {
        self.backoff.double();
        self.retransmissions = self.retransmissions.saturating_add(1);
        self.deadline = Some(now + self.backoff.current());
    }

    pub(crate) fn stop(&mut self) {
        self.deadline = None;
        self.retransmissions = 0;
    }
}

type BackoffIndex = Index<Ssl, Arc<Backoff>>;

static BACKOFF_INDEX: OnceLock<BackoffIndex> = OnceLock::new();

/// The ex-data slot holding each SSL object's [`Backoff`], allocated once per process.
fn backoff_index() -> Result<BackoffIndex, ErrorStack> {
    if let Some(index) = BACKOFF_INDEX.get() {
        return Ok(*index);
    }
    // Two threads racing here each allocate a slot; one is left unused, which is harmless.
    let index = Ssl::new_ex_index()?;
    Ok(*BACKOFF_INDEX.get_or_init(|| index))
}

/// `DTLS_timer_cb`. Must not panic: it is called from C.
unsafe extern "C" fn on_openssl_timer(ssl: *mut SSL, previous_us: c_uint) -> c_uint {
    // SAFETY: OpenSSL passes the live SSL object whose timer it is starting.
    let ssl = unsafe { SslRef::from_ptr(ssl) };
    let backoff = BACKOFF_INDEX.get().and_then(|index| ssl.ex_data(*index));
    match backoff {
        Some(backoff) => backoff.on_openssl_timer(previous_us),
        // Not one of our sessions (cannot happen): OpenSSL's own default first timeout.
        None => 1_000_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            initial_retransmit_timeout: Duration::from_secs(1),
            max_retransmit_timeout: Duration::from_secs(60),
            max_retransmissions: 3,
            ..Config::default()
        }
    }

    fn at(ms: u64) -> Instant {
        Instant::from_unix_millis(ms)
    }

    #[test]
    fn openssl_gets_three_quarters_of_our_timeout_but_at_least_the_floor() {
        assert_eq!(openssl_timer_us(Duration::from_secs(1)), 750_000);
        assert_eq!(openssl_timer_us(Duration::from_secs(60)), 45_000_000);
        assert_eq!(openssl_timer_us(Duration::from_millis(20)), 50_000);
        assert_eq!(openssl_timer_us(Duration::from_secs(1 << 40)), c_uint::MAX);
    }

    #[test]
    fn a_new_flight_arms_the_initial_timeout() {
        let mut timer = RetransmitTimer::new(&config());
        timer.backoff.on_openssl_timer(0);
        timer.sync(at(10_000), true);
        assert_eq!(timer.deadline(), Some(at(11_000)));
        assert!(!timer.is_due(at(10_999)));
        assert!(timer.is_due(at(11_000)));
    }

    #[test]
    fn retransmissions_double_up_to_the_maximum() {
        let mut timer = RetransmitTimer::new(&config());
        timer.backoff.on_openssl_timer(0);
        timer.sync(at(0), true);
        let mut now = 0;
        let mut timeouts = Vec::new();
        for _ in 0..8 {
            timer.backoff.on_openssl_timer(1);
            timer.sync(at(now), true);
            let next = timer.deadline().unwrap().unix_millis();
            timeouts.push((next - now) / 1000);
            now = next;
        }
        assert_eq!(timeouts, [2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn declined_attempts_count_and_back_off_on_our_clock() {
        let mut timer = RetransmitTimer::new(&config());
        timer.backoff.on_openssl_timer(0);
        timer.sync(at(0), true);
        timer.declined(at(1_000));
        assert_eq!(timer.deadline(), Some(at(3_000)));
        timer.declined(at(3_000));
        timer.declined(at(7_000));
        assert!(timer.exhausted());
    }

    #[test]
    fn a_new_flight_resets_the_count_and_a_stopped_openssl_timer_stops_ours() {
        let mut timer = RetransmitTimer::new(&config());
        timer.backoff.on_openssl_timer(0);
        timer.sync(at(0), true);
        timer.declined(at(1_000));
        timer.backoff.on_openssl_timer(0);
        timer.sync(at(1_500), true);
        assert_eq!(timer.deadline(), Some(at(2_500)));
        assert!(!timer.exhausted());
        timer.sync(at(1_600), false);
        assert_eq!(timer.deadline(), None);
    }
}
