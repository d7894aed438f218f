//! What a fleet run measured, in a form shards add up exactly: counts, sums and histograms of
//! integers (no floating point), per group and in total, and per virtual hour for the plot.
//! `nbmodem fleet merge` adds the summaries of the shards of one fleet into the summary a single
//! run of the whole fleet gives.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Values in buckets about 6 % wide (16 per power of two): exact to merge, close enough to read
/// percentiles from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// Bucket → how many values fell in it.
    buckets: BTreeMap<u32, u64>,
    count: u64,
    sum: u64,
    max: u64,
}

/// Sub-buckets per power of two.
const SUB: u32 = 16;

fn bucket_of(value: u64) -> u32 {
    if value < u64::from(SUB) {
        return value as u32;
    }
    let exponent = 63 - value.leading_zeros();
    let mantissa = (value >> (exponent - 4)) as u32 & (SUB - 1);
    SUB + (exponent - 4) * SUB + mantissa
}

/// The smallest value of a bucket.
fn bucket_floor(bucket: u32) -> u64 {
    if bucket < SUB {
        return u64::from(bucket);
    }
    let exponent = (bucket - SUB) / SUB + 4;
    let mantissa = u64::from((bucket - SUB) % SUB);
    (1u64 << exponent) | (mantissa << (exponent - 4))
}

impl Histogram {
    pub fn record(&mut self, value: u64) {
        *self.buckets.entry(bucket_of(value)).or_default() += 1;
        self.count += 1;
        self.sum = self.sum.saturating_add(value);
        self.max = self.max.max(value);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (bucket, n) in &other.buckets {
            *self.buckets.entry(*bucket).or_default() += n;
        }
        self.count += other.count;
        self.sum = self.sum.saturating_add(other.sum);
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The mean, rounded down (none when empty).
    pub fn mean(&self) -> Option<u64> {
        self.sum.checked_div(self.count)
    }

    /// The value below which `per_cent` of the values are, to the bucket's floor.
    pub fn percentile(&self, per_cent: u64) -> Option<u64> {
        let rank = (self.count * per_cent).div_ceil(100).max(1);
        let mut seen = 0;
        for (bucket, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(bucket_floor(*bucket).min(self.max));
            }
        }
        None
    }

    /// The buckets' floors and counts, for a plot.
    pub fn bars(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.buckets.iter().map(|(b, n)| (bucket_floor(*b), *n))
    }
}

/// The counts of one group, or of the whole fleet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub modules: u64,
    /// Start scripts run to their end (at power-on, and again after each power cut).
    pub starts: u64,
    /// Modules whose last start script ran to its end.
    pub started: u64,
    /// AT steps typed, and those answered `OK`.
    pub steps: u64,
    pub steps_ok: u64,
    /// Uplink commands (AT+NMGS, AT+QLWULDATAEX, AT+NSOST…) answered `OK`, and those whose
    /// expected URC came.
    pub uplinks_sent: u64,
    pub uplinks_acknowledged: u64,
    /// Uplinks the stand-in CT IoT platform stored from the group's devices.
    pub uplinks_stored: u64,
    /// Rounds of a schedule a powered-off module missed.
    pub rounds_missed: u64,
    pub power_cuts: u64,
    /// Why steps failed: the error line (`+CME ERROR: 3`) or `no <URC> within <time>`.
    pub failures: BTreeMap<String, u64>,
    /// Milliseconds from a step's line to the URC it expected.
    pub latency_ms: Histogram,
    /// Each module's energy, nano-ampere-hours per day.
    pub energy_nah_per_day: Histogram,
    /// Requests the operators' self-registration registries (CT, CU) recorded from the group's
    /// modules, and those they accepted.
    #[serde(default)]
    pub self_registrations: u64,
    #[serde(default)]
    pub self_registrations_accepted: u64,
    /// Seconds (rounded) from each of a module's self-registration requests to its next → how
    /// many: the retry schedule as the registries saw it, exact (a schedule is a few values).
    #[serde(default)]
    pub self_registration_gaps_s: BTreeMap<u64, u64>,
    /// Confirmable CoAP messages the group's modules sent again for want of an acknowledgement
    /// (uplinks, registrations, self-registrations, downloads): lost datagrams, as the modules
    /// felt them.
    #[serde(default)]
    pub coap_retransmissions: u64,
}

impl Tally {
    pub fn merge(&mut self, other: &Tally) {
        self.modules += other.modules;
        self.starts += other.starts;
        self.started += other.started;
        self.steps += other.steps;
        self.steps_ok += other.steps_ok;
        self.uplinks_sent += other.uplinks_sent;
        self.uplinks_acknowledged += other.uplinks_acknowledged;
        self.uplinks_stored += other.uplinks_stored;
        self.rounds_missed += other.rounds_missed;
        self.power_cuts += other.power_cuts;
        for (cause, n) in &other.failures {
            *self.failures.entry(cause.clone()).or_default() += n;
        }
        self.latency_ms.merge(&other.latency_ms);
        self.energy_nah_per_day.merge(&other.energy_nah_per_day);
        self.self_registrations += other.self_registrations;
        self.self_registrations_accepted += other.self_registrations_accepted;
        for (gap, n) in &other.self_registration_gaps_s {
            *self.self_registration_gaps_s.entry(*gap).or_default() += n;
        }
        self.coap_retransmissions += other.coap_retransmissions;
    }

    pub fn fail(&mut self, cause: String) {
        *self.failures.entry(cause).or_default() += 1;
    }
}

/// One virtual hour of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hour {
    pub starts: u64,
    pub uplinks_sent: u64,
    pub failures: u64,
}

/// A run's summary: which fleet and shards it covers, the total, each group, each hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub seed: u64,
    /// The whole fleet's size, whatever part of it this summary covers.
    pub fleet_size: u64,
    pub virtual_seconds: u64,
    /// The shards covered (`K/N`), sorted.
    pub shards: Vec<String>,
    pub total: Tally,
    pub groups: BTreeMap<String, Tally>,
    pub hours: Vec<Hour>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MergeError {
    #[error("these summaries are of different fleets (seed, size or duration differ)")]
    OtherFleet,
    #[error("shard {0} is there twice")]
    Twice(String),
}

impl Summary {
    /// Adds another shard's summary of the same fleet.
    pub fn merge(&mut self, other: &Summary) -> Result<(), MergeError> {
        let same = (self.seed, self.fleet_size, self.virtual_seconds)
            == (other.seed, other.fleet_size, other.virtual_seconds);
        if !same {
            return Err(MergeError::OtherFleet);
        }
        if let Some(twice) = other.shards.iter().find(|s| self.shards.contains(s)) {
            return Err(MergeError::Twice(twice.clone()));
        }
        self.shards.extend(other.shards.iter().cloned());
        self.shards.sort();
        self.total.merge(&other.total);
        for (name, tally) in &other.groups {
            self.groups.entry(name.clone()).or_default().merge(tally);
        }
        if self.hours.len() < other.hours.len() {
            self.hours.resize(other.hours.len(), Hour::default());
        }
        for (mine, theirs) in self.hours.iter_mut().zip(&other.hours) {
            mine.starts += theirs.starts;
            mine.uplinks_sent += theirs.uplinks_sent;
            mine.failures += theirs.failures;
        }
        Ok(())
    }

    /// The figures a person reads first, as JSON beside the summary: percentiles and means.
    pub fn readout(tally: &Tally) -> serde_json::Value {
        let latency = &tally.latency_ms;
        let energy = &tally.energy_nah_per_day;
        serde_json::json!({
            "latency_ms": {"p50": latency.percentile(50), "p90": latency.percentile(90),
                           "p99": latency.percentile(99), "max": latency.percentile(100)},
            "energy_uah_per_device_per_day": {
                "mean": energy.mean().map(|n| n as f64 / 1000.0),
                "p50": energy.percentile(50).map(|n| n as f64 / 1000.0),
                "p99": energy.percentile(99).map(|n| n as f64 / 1000.0)},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_floor_and_percentiles_read_within_a_bucket() {
        for value in [0, 1, 15, 16, 17, 100, 1_000, 65_535, 1 << 40] {
            let floor = bucket_floor(bucket_of(value));
            assert!(
                floor <= value && value - floor <= value / 16,
                "{value}: {floor}"
            );
        }
        let mut h = Histogram::default();
        (1..=100).for_each(|v| h.record(v));
        assert_eq!(h.percentile(50), Some(50), "the bucket of 50 and 51");
        assert_eq!(h.percentile(100), Some(100));
        assert_eq!(h.mean(), Some(50));
    }

    #[test]
    fn histograms_merge_as_if_recorded_together() {
        let (mut a, mut b, mut both) = (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
        );
        for v in 0..500u64 {
            let v = v * 37 % 1009;
            if v % 3 == 0 {
                a.record(v)
            } else {
                b.record(v)
            }
            both.record(v);
        }
        a.merge(&b);
        assert_eq!(a, both);
    }
}
