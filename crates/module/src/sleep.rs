//! Deep sleep (PSM) as the module runs it.
//!
//! With AT+QSCLK=1 the module goes to deep sleep as soon as all of these hold: it is registered
//! with the network, its RRC connection is released, no CoAP exchange is in flight (seed 001: "CoAP
//! retransmission may affect the time of entering deep sleep"), and the host has been quiet for
//! [`HOST_IDLE`]. AT+QSCLK=0 (no sleep) and 2 (light sleep only) keep it out of deep sleep.
//!
//! In deep sleep the module cannot be reached: datagrams sent to it are lost. It wakes up
//! - when the host writes to the UART (the wake-up signal a real design gives on PSM_EINT);
//! - when it sends a datagram: a self-registration round (seed 000: "the retry takes the module
//!   out of PSM"), the China Unicom renewal, and the DM Update on models whose update wakes them
//!   (seed 001);
//! - at power-on.
//!
//! A DM Update that falls due in deep sleep on the other models is not sent (seed 000); the next
//! one is due an update period later. The models whose seed shows it announce both transitions
//! (`+QNBIOTEVENT: "ENTER DEEPSLEEP"` / `"EXIT DEEPSLEEP"`, seed 002); the others sleep silently.

use crate::module::{Module, Timer};
use crate::selfreg::SelfRegistrar;
use std::time::Duration;

/// How long the host must leave the UART alone before the module may go to deep sleep, so that it
/// can read a response and send the next command without waking the module each time.
pub const HOST_IDLE: Duration = Duration::from_secs(5);

/// AT+QSCLK's values: no sleep; light and deep sleep (2 is light sleep only).
const SLEEP_DISABLED: u8 = 0;
const DEEP_SLEEP_ENABLED: u8 = 1;

impl Module {
    /// Whether the module is in deep sleep.
    pub fn is_in_deep_sleep(&self) -> bool {
        self.ram.radio.deep_sleep
    }

    /// Enters deep sleep if nothing keeps the module awake.
    pub(crate) fn enter_deep_sleep_if_allowed(&mut self) {
        if self.is_in_deep_sleep() || !self.deep_sleep_allowed() {
            return;
        }
        tracing::debug!("deep sleep");
        self.ram.radio.deep_sleep = true;
        if let Some(urcs) = self.profile.deep_sleep_urcs {
            self.urc(urcs.enter.into());
        }
    }

    fn deep_sleep_allowed(&self) -> bool {
        let radio = &self.ram.radio;
        let exchange_in_flight = self
            .self_registration
            .as_ref()
            .is_some_and(SelfRegistrar::is_busy)
            || self.dm.as_ref().is_some_and(|dm| dm.is_busy());
        self.is_ready()
            && self.in_use.sleep_mode == DEEP_SLEEP_ENABLED
            && radio.registered()
            && !radio.rrc_connected
            && self.timers.deadline(Timer::HostIdle).is_none()
            && !exchange_in_flight
    }

    /// Leaves deep sleep (nothing happens when awake).
    pub(crate) fn wake_up(&mut self) {
        if !self.is_in_deep_sleep() {
            return;
        }
        tracing::debug!("woken from deep sleep");
        self.ram.radio.deep_sleep = false;
        if let Some(urcs) = self.profile.deep_sleep_urcs {
            self.urc(urcs.exit.into());
        }
    }

    /// The host wrote to the UART: the module wakes and stays awake for [`HOST_IDLE`].
    pub(crate) fn host_activity(&mut self) {
        self.wake_up();
        self.timers.set(Timer::HostIdle, self.now + HOST_IDLE);
    }

    /// A datagram goes out or comes in: the module is awake and its RRC connection up (again), for
    /// the network's inactivity time from now.
    pub(crate) fn traffic(&mut self) {
        self.wake_up();
        self.set_rrc(true);
    }

    /// A DM Update falling due in deep sleep is not sent on the models whose update does not
    /// wake them; on the others it goes out and its sending wakes the module.
    pub(crate) fn skip_dm_update_in_deep_sleep(&mut self) {
        let now = self.now;
        let skip = self.is_in_deep_sleep() && !self.profile.dm.update_wakes_from_deep_sleep;
        if let Some(dm) = self.dm.as_mut().filter(|dm| skip && dm.update_due(now)) {
            tracing::info!("DM update skipped: the module is in deep sleep");
            dm.skip_update();
        }
    }

    /// AT+QSCLK=0: no sleep at all (seed 001's "sleep disabled").
    pub(crate) fn sleep_disabled(&self) -> bool {
        self.in_use.sleep_mode == SLEEP_DISABLED
    }
}
