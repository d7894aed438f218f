//! The fleet file (TOML): groups of modules and the events of the run. Every module's identity,
//! coverage and schedule is a function of its global index and the fleet's seed, so the same file
//! gives the same fleet, and a shard of it (`crate::shard`) the same modules as the whole.
//!
//! ```toml
//! seed = 7
//! duration = "24h"
//!
//! [[group]]
//! name = "meters"
//! model = "BC260Y-CN"
//! count = 1000
//! imei = "86597503"            # the TAC; serial = the module's index, then the Luhn digit
//! imsi = "4601100"             # prefix; the rest is the module's index
//! platform = "iot"             # registered on the stand-in CT IoT platform (or "aep")
//! coverage = { good = 80, edge = 15, deep = 5 }
//! start = ["ATE0", "AT+QSCLK=0", { pause = "5s" },   # time to attach, as firmware waits
//!          { at = 'AT+NCDPOPEN="180.101.147.115",5683', expect = "+QLWEVTIND: 3" }]
//!
//! [[group.every]]
//! period = "4h"
//! jitter = "10m"
//! steps = [{ at = "AT+NMGS=5,00454C4C4F", expect = "+NNMI", within = "60s" }]
//!
//! [[event]]
//! at = "3h"
//! power_cut = 10               # per cent of the fleet, back after `off` (default 1m)
//!
//! [[event]]
//! at = "5h"
//! until = "6h"
//! fault = "iot:drop=1000"
//! ```

use nbmodem_clock::parse_duration;
use nbmodem_platform::ServerFault;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SpecError {
    #[error("the fleet file: {0}")]
    Toml(String),
    #[error("{0}")]
    Invalid(String),
}

/// A fleet file as read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetFile {
    #[serde(default)]
    seed: u64,
    duration: String,
    group: Vec<GroupFile>,
    #[serde(default)]
    event: Vec<EventFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    name: String,
    model: String,
    count: usize,
    #[serde(default = "default_tac")]
    imei: String,
    #[serde(default = "default_imsi")]
    imsi: String,
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    coverage: Option<CoverageMix>,
    #[serde(default)]
    start: Vec<StepFile>,
    #[serde(default)]
    every: Vec<EveryFile>,
}

fn default_tac() -> String {
    "86597503".into()
}

fn default_imsi() -> String {
    "4601100".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct EveryFile {
    period: String,
    #[serde(default)]
    jitter: Option<String>,
    steps: Vec<StepFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum StepFile {
    Line(String),
    Pause {
        pause: String,
    },
    Full {
        at: String,
        #[serde(default)]
        expect: Option<String>,
        #[serde(default)]
        within: Option<String>,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventFile {
    at: String,
    #[serde(default)]
    power_cut: Option<u32>,
    #[serde(default)]
    off: Option<String>,
    #[serde(default)]
    fault: Option<String>,
    #[serde(default)]
    until: Option<String>,
}

/// Per cent of a group's modules in each radio condition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageMix {
    #[serde(default)]
    pub good: u32,
    #[serde(default)]
    pub edge: u32,
    #[serde(default)]
    pub deep: u32,
}

/// How long a step waits for what it expects unless told.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(60);
/// How long a power cut lasts unless told.
pub const DEFAULT_OFF: Duration = Duration::from_secs(60);

/// A fleet, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    pub seed: u64,
    pub duration: Duration,
    pub groups: Vec<Group>,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub model: String,
    pub count: usize,
    /// The IMEI's type allocation code (8 digits).
    pub tac: String,
    /// The IMSI's first digits; the module's index fills the rest.
    pub imsi_prefix: String,
    /// The CT IoT platform (`iot`, `aep`) the group's devices are registered on, if any.
    pub platform: Option<nbmodem_platform::Flavour>,
    pub coverage: Option<CoverageMix>,
    pub start: Vec<Step>,
    pub every: Vec<Every>,
}

/// An AT line and what must follow its `OK` for it to count as done, or a pause (firmware
/// waiting for the network after boot, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    At {
        at: String,
        /// The start of a URC to wait for.
        expect: Option<String>,
        within: Duration,
    },
    Pause(Duration),
}

/// Steps repeated every `period`, each time up to `jitter` later (per module and round).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Every {
    pub period: Duration,
    pub jitter: Duration,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// This per cent of the fleet loses power, for `off`.
    PowerCut { per_cent: u32, off: Duration },
    /// A fault on a stand-in server, cleared at `until` if given.
    Fault {
        fault: ServerFault,
        until: Option<Duration>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Since the start of the run.
    pub at: Duration,
    pub kind: EventKind,
}

impl Fleet {
    /// Reads and checks a fleet file.
    pub fn parse(text: &str) -> Result<Fleet, SpecError> {
        let file: FleetFile = toml::from_str(text).map_err(|e| SpecError::Toml(e.to_string()))?;
        let groups = file
            .group
            .into_iter()
            .map(Group::check)
            .collect::<Result<Vec<_>, _>>()?;
        if groups.is_empty() || groups.iter().all(|g| g.count == 0) {
            return Err(invalid("a fleet needs a group with modules".into()));
        }
        let events = file
            .event
            .into_iter()
            .map(Event::check)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Fleet {
            seed: file.seed,
            duration: duration("duration", &file.duration)?,
            groups,
            events,
        })
    }

    /// How many modules, over every group.
    pub fn size(&self) -> usize {
        self.groups.iter().map(|g| g.count).sum()
    }

    /// The group of the module with global index `index`, and its index within the group.
    pub fn group_of(&self, index: usize) -> Option<(&Group, usize)> {
        let mut first = 0;
        for group in &self.groups {
            if index < first + group.count {
                return Some((group, index - first));
            }
            first += group.count;
        }
        None
    }
}

fn invalid(reason: String) -> SpecError {
    SpecError::Invalid(reason)
}

fn duration(what: &str, text: &str) -> Result<Duration, SpecError> {
    parse_duration(text).map_err(|e| invalid(format!("{what}: {e}")))
}

impl Group {
    fn check(file: GroupFile) -> Result<Group, SpecError> {
        let name = file.name.clone();
        let bad = |reason: String| invalid(format!("group {name}: {reason}"));
        if nbmodem_module::find_profile(&file.model).is_none() {
            return Err(bad(format!("no model {:?}", file.model)));
        }
        if file.imei.len() != 8 || !file.imei.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("imei is the 8-digit type allocation code".into()));
        }
        if !(5..=14).contains(&file.imsi.len()) || !file.imsi.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("imsi is a prefix of 5 to 14 digits".into()));
        }
        let serials = 10usize.pow(15 - file.imsi.len() as u32).min(1_000_000);
        if file.count > serials {
            return Err(bad(format!(
                "{} modules do not fit the identities ({serials})",
                file.count
            )));
        }
        if let Some(mix) = file.coverage {
            if mix.good + mix.edge + mix.deep != 100 {
                return Err(bad("coverage per cents must add up to 100".into()));
            }
        }
        let platform = file
            .platform
            .map(|p| p.parse().map_err(|e| bad(format!("{e}"))))
            .transpose()?;
        let steps = |steps: Vec<StepFile>| -> Result<Vec<Step>, SpecError> {
            steps
                .into_iter()
                .map(|s| Step::check(s).map_err(&bad))
                .collect()
        };
        let every = file
            .every
            .into_iter()
            .map(|every| {
                let period = duration("period", &every.period).map_err(|e| bad(e.to_string()))?;
                if period < Duration::from_secs(1) {
                    return Err(bad("a period is at least 1s".into()));
                }
                let jitter = every
                    .jitter
                    .as_deref()
                    .map(|j| duration("jitter", j))
                    .transpose();
                Ok(Every {
                    period,
                    jitter: jitter.map_err(|e| bad(e.to_string()))?.unwrap_or_default(),
                    steps: steps(every.steps)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Group {
            name: file.name,
            model: file.model,
            count: file.count,
            tac: file.imei,
            imsi_prefix: file.imsi,
            platform,
            coverage: file.coverage,
            start: steps(file.start)?,
            every,
        })
    }

    /// The IMEI of the group's module `n`: the TAC, `n` as six digits, the Luhn check digit.
    pub fn imei(&self, n: usize) -> String {
        let body = format!("{}{:06}", self.tac, n);
        format!("{body}{}", luhn_digit(&body))
    }

    /// The IMSI of the group's module `n`: the prefix, then `n`.
    pub fn imsi(&self, n: usize) -> String {
        format!(
            "{}{:0width$}",
            self.imsi_prefix,
            n,
            width = 15 - self.imsi_prefix.len()
        )
    }
}

impl Step {
    fn check(file: StepFile) -> Result<Step, String> {
        let (at, expect, within) = match file {
            StepFile::Line(at) => (at, None, None),
            StepFile::Full { at, expect, within } => (at, expect, within),
            StepFile::Pause { pause } => {
                let pause = parse_duration(&pause).map_err(|e| format!("pause: {e}"))?;
                return Ok(Step::Pause(pause));
            }
        };
        if !at.to_ascii_uppercase().starts_with("AT") || at.contains(['\r', '\n']) {
            return Err(format!("{at:?} is not one AT command line"));
        }
        let within = within
            .map(|w| parse_duration(&w).map_err(|e| format!("within: {e}")))
            .transpose()?
            .unwrap_or(DEFAULT_WITHIN);
        Ok(Step::At { at, expect, within })
    }
}

impl Event {
    fn check(file: EventFile) -> Result<Event, SpecError> {
        let at = duration("event at", &file.at)?;
        let kind = match (file.power_cut, file.fault) {
            (Some(per_cent), None) if per_cent <= 100 => EventKind::PowerCut {
                per_cent,
                off: file
                    .off
                    .as_deref()
                    .map(|o| duration("off", o))
                    .transpose()?
                    .unwrap_or(DEFAULT_OFF),
            },
            (None, Some(fault)) => EventKind::Fault {
                fault: fault
                    .parse()
                    .map_err(|e| invalid(format!("event fault: {e}")))?,
                until: file
                    .until
                    .as_deref()
                    .map(|u| duration("until", u))
                    .transpose()?,
            },
            _ => {
                return Err(invalid(
                    "an event is a power_cut (0-100 per cent) or a fault".into(),
                ))
            }
        };
        Ok(Event { at, kind })
    }
}

/// The Luhn check digit of `digits`.
fn luhn_digit(digits: &str) -> u32 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let doubled = d * 2;
                doubled / 10 + doubled % 10
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLEET: &str = r#"
seed = 3
duration = "2h"
[[group]]
name = "meters"
model = "BC260Y-CN"
count = 5
platform = "iot"
start = ["ATE0", { pause = "5s" }, { at = 'AT+NCDPOPEN="180.101.147.115",5683', expect = "+QLWEVTIND: 3" }]
[[group.every]]
period = "10m"
jitter = "1m"
steps = [{ at = "AT+NMGS=1,00", expect = "+NNMI", within = "30s" }]
[[event]]
at = "1h"
power_cut = 40
"#;

    #[test]
    fn a_fleet_file_reads_and_identities_follow_the_index() {
        let fleet = Fleet::parse(FLEET).unwrap();
        assert_eq!(
            (fleet.size(), fleet.duration),
            (5, Duration::from_secs(7200))
        );
        let group = &fleet.groups[0];
        assert_eq!(group.imei(0), "865975030000001", "the sandbox's own IMEI");
        assert_eq!(group.imei(1), "865975030000019");
        assert_eq!(group.imsi(42), "460110000000042");
        assert_eq!(group.start[1], Step::Pause(Duration::from_secs(5)));
        let Step::At { expect, .. } = &group.start[2] else {
            panic!("a line")
        };
        assert_eq!(expect.as_deref(), Some("+QLWEVTIND: 3"));
        let Step::At { within, .. } = &group.every[0].steps[0] else {
            panic!("a line")
        };
        assert_eq!(*within, Duration::from_secs(30));
        assert_eq!(
            fleet.group_of(4).map(|(g, n)| (g.name.as_str(), n)),
            Some(("meters", 4))
        );
        assert!(fleet.group_of(5).is_none());
    }

    #[test]
    fn bad_fleet_files_say_what_is_wrong() {
        let cases = [
            (FLEET.replace("BC260Y-CN", "BC999"), "no model"),
            (FLEET.replace("ATE0", "reboot"), "not one AT command line"),
            (FLEET.replace("40", "140"), "power_cut"),
            (FLEET.replace("10m", "ten minutes"), "period"),
            (
                FLEET.replace("count = 5", "count = 5\nwhatever = 1"),
                "unknown field",
            ),
        ];
        for (text, want) in cases {
            let error = Fleet::parse(&text).unwrap_err().to_string();
            assert!(error.contains(want), "{want}: {error}");
        }
    }
}
