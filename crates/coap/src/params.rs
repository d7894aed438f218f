//! RFC 7252 §4.8 transmission parameters and the retransmission schedule they give.

use std::time::Duration;

/// The parameters of confirmable exchanges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransmissionParams {
    pub ack_timeout: Duration,
    /// At least 1.0. With 1.0 every schedule is exact, which the module profiles use.
    pub ack_random_factor: f64,
    pub max_retransmit: u32,
    /// How long a client waits for a separate response after an empty ACK.
    pub separate_response_timeout: Duration,
    /// A documented total timeout: when set, a request we send fails this long after its first
    /// transmission (unless answered), instead of when its last retransmission goes
    /// unacknowledged. The modules' seeds state such totals (BC25 DM: 30 s, seed 000).
    pub exchange_timeout: Option<Duration>,
}

impl Default for TransmissionParams {
    /// RFC 7252's defaults: ACK_TIMEOUT 2 s, ACK_RANDOM_FACTOR 1.5, MAX_RETRANSMIT 4.
    fn default() -> Self {
        TransmissionParams {
            ack_timeout: Duration::from_secs(2),
            ack_random_factor: 1.5,
            max_retransmit: 4,
            separate_response_timeout: Duration::from_secs(247),
            exchange_timeout: None,
        }
    }
}

impl TransmissionParams {
    /// Exact exponential back-off: ACK_RANDOM_FACTOR 1.0.
    pub fn exact(ack_timeout: Duration, max_retransmit: u32) -> Self {
        TransmissionParams {
            ack_timeout,
            ack_random_factor: 1.0,
            max_retransmit,
            ..Self::default()
        }
    }

    /// The same, with a total timeout for every request (see [`TransmissionParams::exchange_timeout`]).
    pub fn with_exchange_timeout(self, total: Option<Duration>) -> Self {
        TransmissionParams {
            exchange_timeout: total,
            ..self
        }
    }

    /// The first timeout, for a random draw `unit` in [0, 1).
    pub fn initial_timeout(&self, unit: f64) -> Duration {
        let factor = 1.0 + (self.ack_random_factor.max(1.0) - 1.0) * unit;
        self.ack_timeout.mul_f64(factor)
    }

    /// MAX_TRANSMIT_SPAN: from the first transmission to the last retransmission.
    pub fn max_transmit_span(&self) -> Duration {
        self.ack_timeout
            .mul_f64(((1u64 << self.max_retransmit) - 1) as f64 * self.ack_random_factor.max(1.0))
    }

    /// How long after the first transmission an unacknowledged exchange is given up:
    /// the initial timeout × (2^(MAX_RETRANSMIT+1) − 1).
    pub fn give_up_after(&self, initial_timeout: Duration) -> Duration {
        initial_timeout * ((1u32 << (self.max_retransmit + 1)) - 1)
    }

    /// EXCHANGE_LIFETIME: how long a message ID is remembered for duplicate detection.
    pub fn exchange_lifetime(&self) -> Duration {
        // MAX_TRANSMIT_SPAN + 2 × MAX_LATENCY (100 s) + PROCESSING_DELAY (ACK_TIMEOUT).
        self.max_transmit_span() + Duration::from_secs(200) + self.ack_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_defaults_give_the_rfc_lifetimes() {
        let p = TransmissionParams::default();
        assert_eq!(p.max_transmit_span(), Duration::from_secs(45));
        assert_eq!(p.exchange_lifetime(), Duration::from_secs(247));
    }

    #[test]
    fn exact_schedules_of_the_module_profiles() {
        let bc25_ct = TransmissionParams::exact(Duration::from_secs(3), 4);
        assert_eq!(bc25_ct.initial_timeout(0.7), Duration::from_secs(3));
        assert_eq!(
            bc25_ct.give_up_after(Duration::from_secs(3)),
            Duration::from_secs(93)
        );
        let bc260y = TransmissionParams::exact(Duration::from_secs(2), 5);
        assert_eq!(
            bc260y.give_up_after(Duration::from_secs(2)),
            Duration::from_secs(126)
        );
    }

    #[test]
    fn random_factor_spreads_the_first_timeout() {
        let p = TransmissionParams::default();
        assert_eq!(p.initial_timeout(0.0), Duration::from_secs(2));
        assert_eq!(p.initial_timeout(0.5), Duration::from_millis(2500));
    }
}
