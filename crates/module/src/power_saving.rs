//! PSM and eDRX: what the module asks for (AT+CPSMS, AT+CEDRXS, AT+NPTWEDRXS; saved in NVRAM),
//! what the stand-in network grants ([`NetworkPowerSaving`]), and the timers both are written in.
//!
//! The timers are the bit strings of TS 27.007, coded as TS 24.008 codes them:
//! - the periodic TAU timer T3412 (extended) is a GPRS Timer 3 (§10.5.7.4a): bits 8–6 the unit
//!   (000 10 min, 001 1 h, 010 10 h, 011 2 s, 100 30 s, 101 1 min, 110 320 h, 111 deactivated),
//!   bits 5–1 the value;
//! - the active time T3324 is a GPRS Timer 2 (§10.5.7.3): unit 000 2 s, 001 1 min, 010 6 min
//!   (decihours), 111 deactivated (any other unit reads as 1 min);
//! - the eDRX cycle of NB-S1 mode (§10.5.5.32) is four bits: 0010 20.48 s, 0011 40.96 s, 0101
//!   81.92 s, 1001 163.84 s, 1010 327.68 s, 1011 655.36 s, 1100 1310.72 s, 1101 2621.44 s, 1110
//!   5242.88 s, 1111 10485.76 s (any other value reads as 0010);
//! - the paging time window of NB-S1 mode is four bits n: 2.56 s × (n + 1).

use crate::nvram::Section;
use crate::profile::Profile;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The eDRX access technology of NB-IoT (E-UTRAN NB-S1 mode) in AT+CEDRXS and AT+NPTWEDRXS.
pub const ACT_NB_S1: u8 = 5;

/// What the host asked for; saved in NVRAM (section `power_saving`), in use at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerSavingSettings {
    /// AT+CPSMS `<mode>`: PSM requested.
    #[serde(default)]
    pub psm: bool,
    /// The requested periodic TAU (T3412 extended), a GPRS Timer 3 byte; `None`: not given.
    #[serde(default)]
    pub periodic_tau: Option<u8>,
    /// The requested active time (T3324), a GPRS Timer 2 byte; `None`: not given.
    #[serde(default)]
    pub active_time: Option<u8>,
    /// AT+CEDRXS / AT+NPTWEDRXS `<mode>` 1 or 2: eDRX requested.
    #[serde(default)]
    pub edrx: bool,
    /// The requested eDRX cycle, four bits; `None`: not given.
    #[serde(default)]
    pub edrx_value: Option<u8>,
    /// The requested paging time window (AT+NPTWEDRXS), four bits; `None`: not given.
    #[serde(default)]
    pub paging_window: Option<u8>,
}

impl Section for PowerSavingSettings {
    const NAME: &'static str = "power_saving";

    /// Checks that every value is one the commands could have stored.
    fn check(&self, _: &Profile) -> Result<(), String> {
        let four_bits = [
            ("edrx_value", self.edrx_value),
            ("paging_window", self.paging_window),
        ];
        for (field, value) in four_bits {
            if value.is_some_and(|v| v > 0x0F) {
                return Err(format!("`{field}` is {value:?}, but must be 0 to 15"));
            }
        }
        Ok(())
    }
}

/// What the stand-in network grants: the values it gives a module that asks for PSM or eDRX
/// without naming them, and whether it offers each at all. Defaults in docs/decisions.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkPowerSaving {
    pub psm: bool,
    pub edrx: bool,
    /// T3412 extended, a GPRS Timer 3 byte.
    pub periodic_tau: u8,
    /// T3324, a GPRS Timer 2 byte.
    pub active_time: u8,
    /// The eDRX cycle, four bits.
    pub edrx_value: u8,
    /// The paging time window, four bits.
    pub paging_window: u8,
}

impl Default for NetworkPowerSaving {
    fn default() -> Self {
        NetworkPowerSaving {
            psm: true,
            edrx: true,
            // 001 11000: 24 hours.
            periodic_tau: 0b0011_1000,
            // 000 01010: 20 seconds.
            active_time: 0b0000_1010,
            // 81.92 s.
            edrx_value: 0b0101,
            // 2.56 s × 4 = 10.24 s.
            paging_window: 0b0011,
        }
    }
}

/// PSM as the network granted it: the bytes it sent (AT+CEREG mode 4 shows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PsmGrant {
    pub periodic_tau: u8,
    pub active_time: u8,
}

impl PsmGrant {
    /// How often the module must send a periodic TAU; `None` when deactivated.
    pub fn t3412(&self) -> Option<Duration> {
        gprs_timer_3(self.periodic_tau)
    }

    /// How long the module stays reachable in idle before PSM; `None` when deactivated (no PSM).
    pub fn t3324(&self) -> Option<Duration> {
        gprs_timer_2(self.active_time)
    }
}

/// eDRX as the network granted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdrxGrant {
    /// The value the module asked for (AT+CEDRXRDP shows it beside the granted one).
    pub requested: u8,
    pub value: u8,
    pub paging_window: u8,
}

impl EdrxGrant {
    pub fn cycle(&self) -> Duration {
        edrx_cycle(self.value)
    }

    pub fn window(&self) -> Duration {
        paging_window(self.paging_window)
    }
}

impl NetworkPowerSaving {
    /// What the network grants a module asking for `asked`: the values it named (an active time
    /// no longer than the periodic TAU), else the network's own.
    pub fn grant(&self, asked: &PowerSavingSettings) -> (Option<PsmGrant>, Option<EdrxGrant>) {
        let psm = (self.psm && asked.psm).then(|| {
            let periodic_tau = asked.periodic_tau.unwrap_or(self.periodic_tau);
            let mut active_time = asked.active_time.unwrap_or(self.active_time);
            let (tau, active) = (gprs_timer_3(periodic_tau), gprs_timer_2(active_time));
            if let (Some(tau), Some(active)) = (tau, active) {
                if active > tau {
                    active_time = self.active_time;
                }
            }
            PsmGrant {
                periodic_tau,
                active_time,
            }
        });
        let edrx = (self.edrx && asked.edrx).then(|| {
            let requested = asked.edrx_value.unwrap_or(self.edrx_value);
            EdrxGrant {
                requested,
                value: requested,
                paging_window: asked.paging_window.unwrap_or(self.paging_window),
            }
        });
        (psm, edrx)
    }
}

/// A GPRS Timer 3 byte as a duration; `None` when deactivated.
pub fn gprs_timer_3(byte: u8) -> Option<Duration> {
    let unit = match byte >> 5 {
        0 => 600,
        1 => 3600,
        2 => 36_000,
        3 => 2,
        4 => 30,
        5 => 60,
        6 => 320 * 3600,
        _ => return None,
    };
    Some(Duration::from_secs(unit * u64::from(byte & 0x1F)))
}

/// A GPRS Timer 2 byte as a duration; `None` when deactivated.
pub fn gprs_timer_2(byte: u8) -> Option<Duration> {
    let unit = match byte >> 5 {
        0 => 2,
        2 => 360,
        7 => return None,
        _ => 60,
    };
    Some(Duration::from_secs(unit * u64::from(byte & 0x1F)))
}

/// The eDRX cycle of NB-S1 mode for four bits.
pub fn edrx_cycle(value: u8) -> Duration {
    let millis: u64 = match value & 0x0F {
        0b0011 => 40_960,
        0b0101 => 81_920,
        0b1001 => 163_840,
        0b1010 => 327_680,
        0b1011 => 655_360,
        0b1100 => 1_310_720,
        0b1101 => 2_621_440,
        0b1110 => 5_242_880,
        0b1111 => 10_485_760,
        _ => 20_480,
    };
    Duration::from_millis(millis)
}

/// The paging time window of NB-S1 mode for four bits.
pub fn paging_window(value: u8) -> Duration {
    Duration::from_millis(2560 * (u64::from(value & 0x0F) + 1))
}

/// A bit string as AT commands write it: `bits` binary digits, quoted if `quoted`.
pub fn bit_string(value: u8, bits: usize, quoted: bool) -> String {
    let digits = format!("{value:0bits$b}");
    if quoted {
        format!("\"{digits}\"")
    } else {
        digits
    }
}

/// Reads a bit string of exactly `bits` binary digits (quoted or not).
pub fn parse_bit_string(text: &str, bits: usize) -> Option<u8> {
    let digits = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if digits.len() != bits || !digits.bytes().all(|b| b == b'0' || b == b'1') {
        return None;
    }
    u8::from_str_radix(digits, 2).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_decode_as_24_008_codes_them() {
        assert_eq!(
            gprs_timer_3(0b0011_1000),
            Some(Duration::from_secs(24 * 3600))
        );
        assert_eq!(gprs_timer_3(0b1010_0001), Some(Duration::from_secs(60)));
        assert_eq!(gprs_timer_3(0b1110_0000), None);
        assert_eq!(gprs_timer_2(0b0000_1010), Some(Duration::from_secs(20)));
        assert_eq!(gprs_timer_2(0b0010_0001), Some(Duration::from_secs(60)));
        assert_eq!(gprs_timer_2(0b0100_0010), Some(Duration::from_secs(720)));
        assert_eq!(gprs_timer_2(0b1110_0000), None);
        assert_eq!(edrx_cycle(0b0101), Duration::from_millis(81_920));
        assert_eq!(edrx_cycle(0b0000), Duration::from_millis(20_480));
        assert_eq!(paging_window(0b0011), Duration::from_millis(10_240));
    }

    #[test]
    fn bit_strings_read_and_write() {
        assert_eq!(bit_string(0b0011_1000, 8, true), "\"00111000\"");
        assert_eq!(bit_string(0b0101, 4, false), "0101");
        assert_eq!(parse_bit_string("\"00111000\"", 8), Some(0b0011_1000));
        assert_eq!(parse_bit_string("0101", 4), Some(5));
        for bad in ["0101", "001110000", "0011100x", "\"0011100\"", ""] {
            assert_eq!(parse_bit_string(bad, 8), None, "{bad:?}");
        }
    }

    #[test]
    fn a_stored_request_outside_four_bits_is_refused() {
        let mut settings = PowerSavingSettings {
            edrx_value: Some(0x0F),
            ..Default::default()
        };
        let profile = crate::profile::find("BC95").unwrap();
        assert!(settings.check(profile).is_ok());
        settings.paging_window = Some(0x10);
        assert!(settings
            .check(profile)
            .unwrap_err()
            .contains("paging_window"));
    }

    #[test]
    fn the_network_grants_what_is_asked_or_its_own() {
        let network = NetworkPowerSaving::default();
        let asked = PowerSavingSettings {
            psm: true,
            periodic_tau: Some(0b1010_0010),
            ..Default::default()
        };
        let (psm, edrx) = network.grant(&asked);
        let psm = psm.unwrap();
        assert_eq!(psm.t3412(), Some(Duration::from_secs(120)));
        assert_eq!(
            psm.t3324(),
            Some(Duration::from_secs(20)),
            "the network's own"
        );
        assert_eq!(edrx, None, "not asked");
        // An active time longer than the periodic TAU is not granted as asked.
        let greedy = PowerSavingSettings {
            active_time: Some(0b0010_0101),
            ..asked.clone()
        };
        assert_eq!(network.grant(&greedy).0.unwrap().t3324(), psm.t3324());
        let none = NetworkPowerSaving {
            psm: false,
            ..network
        };
        assert_eq!(none.grant(&asked).0, None);
    }
}
