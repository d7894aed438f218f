//! The radio condition of a module: the serving cell's RSRP and SINR, from which follow the
//! coverage enhancement (CE) level, every signal value the AT commands report (AT+CSQ, AT+CESQ,
//! AT+NUESTATS, AT+QENG) and the [`Link`] each datagram crosses — its data rates and its fixed
//! access time, so that a datagram takes as long on the air as it would on that coverage.
//!
//! Named presets stand for the usual places a device ends up: `good` (the default; the values
//! every seed transcript was taken with, `+CSQ: 25,99`), `edge` (cell edge, CE1) and `deep`
//! (deep indoor or underground, CE2). An explicit condition is written `rsrp=-110,sinr=-3`.
//! The thresholds and figures, with their sources, are in docs/decisions.md ("Radio: coverage,
//! PSM, eDRX").

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The lowest and highest RSRP a module reports (TS 27.007 AT+CESQ: below −140 and from −44 dBm).
pub const RSRP_RANGE: std::ops::RangeInclusive<i32> = -140..=-44;
/// The SINR accepted, in dB.
pub const SINR_RANGE: std::ops::RangeInclusive<i32> = -20..=40;

/// RSRP at or above which the cell serves the module in CE0, and in CE1 (below: CE2). The network
/// broadcasts such thresholds (`rsrp-ThresholdsPrachInfoList`, TS 36.331); these are the values
/// this project assumes.
const CE0_FROM_RSRP: i32 = -110;
const CE1_FROM_RSRP: i32 = -120;

/// An NB-IoT carrier is one resource block: 12 subcarriers, so the RSSI over it is the RSRP (one
/// subcarrier's power) plus 10·log10(12) dB, plus the noise and interference the SINR implies.
const SUBCARRIERS_DB: f64 = 10.791_812_460_476_248;

/// The serving cell as the module receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RadioCondition {
    /// Reference signal received power, dBm.
    pub rsrp: i32,
    /// Signal to interference and noise ratio, dB.
    pub sinr: i32,
}

/// The named conditions, with the name `--coverage` takes.
pub const PRESETS: [(&str, RadioCondition); 3] = [
    ("good", RadioCondition::GOOD),
    (
        "edge",
        RadioCondition {
            rsrp: -112,
            sinr: -3,
        },
    ),
    (
        "deep",
        RadioCondition {
            rsrp: -125,
            sinr: -8,
        },
    ),
];

impl Default for RadioCondition {
    fn default() -> Self {
        RadioCondition::GOOD
    }
}

impl RadioCondition {
    /// Close to the cell, CE0: `+CSQ: 25,99`, as the seeds show.
    pub const GOOD: RadioCondition = RadioCondition {
        rsrp: -74,
        sinr: 15,
    };

    /// Checks the values are in range; the problem in words.
    pub fn new(rsrp: i32, sinr: i32) -> Result<RadioCondition, String> {
        if !RSRP_RANGE.contains(&rsrp) {
            return Err(format!(
                "rsrp={rsrp} is out of range: {} to {} dBm",
                RSRP_RANGE.start(),
                RSRP_RANGE.end()
            ));
        }
        if !SINR_RANGE.contains(&sinr) {
            return Err(format!(
                "sinr={sinr} is out of range: {} to {} dB",
                SINR_RANGE.start(),
                SINR_RANGE.end()
            ));
        }
        Ok(RadioCondition { rsrp, sinr })
    }

    /// The coverage enhancement level the cell serves the module in, from its RSRP.
    pub fn ce_level(&self) -> CeLevel {
        if self.rsrp >= CE0_FROM_RSRP {
            CeLevel::Ce0
        } else if self.rsrp >= CE1_FROM_RSRP {
            CeLevel::Ce1
        } else {
            CeLevel::Ce2
        }
    }

    /// The link datagrams cross in this condition.
    pub fn link(&self) -> Link {
        self.ce_level().link()
    }

    /// Received power over the carrier, in dBm (tenths kept).
    pub fn rssi(&self) -> f64 {
        let noise = 10.0 * (1.0 + 1.0 / 10f64.powf(f64::from(self.sinr) / 10.0)).log10();
        f64::from(self.rsrp) + SUBCARRIERS_DB + noise
    }

    /// RSRQ in dB: RSRP over RSSI, for a carrier of one resource block.
    pub fn rsrq(&self) -> f64 {
        f64::from(self.rsrp) - self.rssi()
    }

    /// AT+CSQ's `<rssi>`: 0 for −113 dBm or less, 2 dB a step, 31 for −51 dBm or more.
    pub fn csq(&self) -> u8 {
        ((self.rssi() + 113.0) / 2.0).round().clamp(0.0, 31.0) as u8
    }

    /// AT+CESQ's `<rsrq>`: 0 below −19.5 dB, half a dB a step, 34 from −3 dB.
    pub fn cesq_rsrq(&self) -> u8 {
        ((self.rsrq() + 20.0) * 2.0).floor().clamp(0.0, 34.0) as u8
    }

    /// AT+CESQ's `<rsrp>`: 0 below −140 dBm, a dB a step, 97 from −44 dBm.
    pub fn cesq_rsrp(&self) -> u8 {
        (self.rsrp + 141).clamp(0, 97) as u8
    }
}

impl fmt::Display for RadioCondition {
    /// The preset's name, or `rsrp=-110,sinr=-3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match PRESETS.iter().find(|(_, c)| c == self) {
            Some((name, _)) => f.write_str(name),
            None => write!(f, "rsrp={},sinr={}", self.rsrp, self.sinr),
        }
    }
}

impl FromStr for RadioCondition {
    type Err = String;

    /// `good`, `edge`, `deep`, or `rsrp=<dBm>,sinr=<dB>` (either may be left out: the other keeps
    /// the `good` value).
    fn from_str(text: &str) -> Result<RadioCondition, String> {
        let text = text.trim();
        if let Some((_, preset)) = PRESETS.iter().find(|(n, _)| n.eq_ignore_ascii_case(text)) {
            return Ok(*preset);
        }
        let usage =
            "a coverage is good, edge, deep, or rsrp=<dBm>,sinr=<dB> (e.g. rsrp=-110,sinr=-3)";
        let (mut rsrp, mut sinr) = (None, None);
        for part in text.split(',') {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{text:?}: {usage}"))?;
            let value: i32 = value
                .trim()
                .parse()
                .map_err(|_| format!("{part:?}: not a whole number; {usage}"))?;
            let slot = match key.trim().to_ascii_lowercase().as_str() {
                "rsrp" => &mut rsrp,
                "sinr" => &mut sinr,
                _ => return Err(format!("{key:?}: {usage}")),
            };
            if slot.replace(value).is_some() {
                return Err(format!("{key:?} given twice; {usage}"));
            }
        }
        RadioCondition::new(
            rsrp.unwrap_or(RadioCondition::GOOD.rsrp),
            sinr.unwrap_or(RadioCondition::GOOD.sinr),
        )
    }
}

/// The coverage enhancement level: how many repetitions the cell spends on the module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CeLevel {
    Ce0 = 0,
    Ce1 = 1,
    Ce2 = 2,
}

impl CeLevel {
    /// The link of this level (figures and sources: docs/decisions.md).
    pub fn link(self) -> Link {
        match self {
            CeLevel::Ce0 => Link {
                uplink_bits_per_second: 25_000,
                downlink_bits_per_second: 25_000,
                access: Duration::from_millis(20),
            },
            CeLevel::Ce1 => Link {
                uplink_bits_per_second: 5_000,
                downlink_bits_per_second: 10_000,
                access: Duration::from_millis(100),
            },
            CeLevel::Ce2 => Link {
                uplink_bits_per_second: 1_000,
                downlink_bits_per_second: 4_000,
                access: Duration::from_millis(150),
            },
        }
    }
}

/// What a datagram crosses: the data rates after repetitions, and the fixed time each datagram
/// costs before its first byte (scheduling request, grant, control channel repetitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub uplink_bits_per_second: u64,
    pub downlink_bits_per_second: u64,
    pub access: Duration,
}

impl Link {
    /// How long an uplink datagram of `bytes` is on the air.
    pub fn uplink_airtime(&self, bytes: usize) -> Duration {
        self.access + bits_time(bytes, self.uplink_bits_per_second)
    }

    /// How long a downlink datagram of `bytes` takes to reach the module.
    pub fn downlink_airtime(&self, bytes: usize) -> Duration {
        self.access + bits_time(bytes, self.downlink_bits_per_second)
    }
}

fn bits_time(bytes: usize, bits_per_second: u64) -> Duration {
    Duration::from_micros(bytes as u64 * 8 * 1_000_000 / bits_per_second.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_is_the_seeds_signal_and_ce0() {
        let good = RadioCondition::default();
        assert_eq!(good.csq(), 25, "+CSQ: 25,99 as every seed transcript");
        assert_eq!(good.ce_level(), CeLevel::Ce0);
        assert_eq!(good.to_string(), "good");
    }

    #[test]
    fn presets_step_down_in_signal_and_up_in_ce_level() {
        let [good, edge, deep] = PRESETS.map(|(_, c)| c);
        assert_eq!(
            [good, edge, deep].map(|c| c.ce_level()),
            [CeLevel::Ce0, CeLevel::Ce1, CeLevel::Ce2]
        );
        assert!(good.csq() > edge.csq() && edge.csq() > deep.csq());
        assert!(good.cesq_rsrp() > edge.cesq_rsrp() && edge.cesq_rsrp() > deep.cesq_rsrp());
        assert!(good.cesq_rsrq() > edge.cesq_rsrq() && edge.cesq_rsrq() > deep.cesq_rsrq());
        assert_eq!((edge.csq(), deep.csq()), (8, 4));
    }

    #[test]
    fn ce_thresholds_are_inclusive_at_their_rsrp() {
        let at = |rsrp| RadioCondition { rsrp, sinr: 0 }.ce_level();
        assert_eq!(at(-110), CeLevel::Ce0);
        assert_eq!(at(-111), CeLevel::Ce1);
        assert_eq!(at(-120), CeLevel::Ce1);
        assert_eq!(at(-121), CeLevel::Ce2);
    }

    #[test]
    fn cesq_indices_follow_27_007() {
        let c = RadioCondition {
            rsrp: -140,
            sinr: 40,
        };
        assert_eq!(c.cesq_rsrp(), 1, "−140 ≤ RSRP < −139");
        assert_eq!(
            RadioCondition {
                rsrp: -44,
                sinr: 40
            }
            .cesq_rsrp(),
            97
        );
        assert_eq!(c.csq(), 0, "RSSI −129 dBm is below −113");
    }

    #[test]
    fn conditions_parse_from_names_and_values() {
        assert_eq!("EDGE".parse(), Ok(PRESETS[1].1));
        assert_eq!(
            "rsrp=-110,sinr=-3".parse(),
            Ok(RadioCondition {
                rsrp: -110,
                sinr: -3
            })
        );
        assert_eq!(
            "rsrp=-100".parse::<RadioCondition>().map(|c| c.sinr),
            Ok(15)
        );
        let parsed: RadioCondition = "rsrp=-100,sinr=2".parse().unwrap();
        assert_eq!(parsed.to_string().parse(), Ok(parsed));
        for bad in [
            "",
            "far",
            "rsrp=-141",
            "rsrp=-43",
            "sinr=41",
            "rsrp=x",
            "rsrp=-100,rsrp=-90",
            "rssi=-80",
            "rsrp",
        ] {
            assert!(bad.parse::<RadioCondition>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn deeper_coverage_takes_longer_on_the_air() {
        let times = [CeLevel::Ce0, CeLevel::Ce1, CeLevel::Ce2].map(|l| l.link());
        for pair in times.windows(2) {
            assert!(pair[0].uplink_airtime(1024) < pair[1].uplink_airtime(1024));
            assert!(pair[0].downlink_airtime(512) < pair[1].downlink_airtime(512));
        }
        // CE0 keeps the airtime the energy account always used: 20 ms + 8 bits per 40 µs.
        assert_eq!(
            CeLevel::Ce0.link().uplink_airtime(10),
            Duration::from_micros(23_200)
        );
    }
}
