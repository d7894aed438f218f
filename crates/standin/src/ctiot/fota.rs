//! DFOTA on the CT IoT platforms (seed 002 chapter 5): firmware packages and upgrade tasks.
//!
//! A [`Package`] is a delta package the platform accepted (its signature, when one is asked
//! for, is checked before it gets here), with the metadata of seed §5.1.5. A [`Task`] upgrades
//! a list of devices to a package: the IoT platform's batch task of a device group with a retry
//! policy (§5.1.6.1), or AEP's task of a firmware version and a device list started at once
//! (§5.2.3–5.2.5). Each device of a started task has an [`Upgrade`]: its status and history.
//! The servers drive the upgrades (`node/upgrade.rs`); this file is the data.

use super::Flavour;
use nbmodem_clock::Instant;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use std::sync::Arc;

/// The URI path segment under which a platform serves its packages: `/fota/<package id>`.
pub const FOTA_PATH: &str = "fota";

/// The largest package accepted: far above any module's free flash.
pub const MAX_PACKAGE: usize = 16 * 1024 * 1024;

/// A firmware package on a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub flavour: Flavour,
    pub id: String,
    /// The version it installs: the target revision.
    pub version: String,
    /// The revision it updates.
    pub source: String,
    pub manufacturer: String,
    pub device_type: String,
    pub model: String,
    pub protocol: String,
    pub size: usize,
    /// Where devices download it when an administrator hosts it elsewhere; `None` for the
    /// platform's own `coap://<host>:5683/fota/<id>`. Written to /5/0/1 as it is.
    #[serde(default)]
    pub uri: Option<String>,
    /// The `.bin` bytes, served block by block.
    #[serde(skip)]
    pub bytes: Arc<Vec<u8>>,
}

/// The two kinds of task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "style", rename_all = "lowercase")]
pub enum TaskStyle {
    /// The IoT platform's batch task over a device group (seed §5.1.6.1).
    Batch { group: String },
    /// AEP's task (seed §5.2.3).
    Aep,
}

/// An upgrade task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub flavour: Flavour,
    pub id: String,
    pub name: String,
    #[serde(flatten)]
    pub style: TaskStyle,
    pub package: String,
    pub devices: Vec<String>,
    /// Tries after the first failed one ("重试次数").
    pub retries: u32,
    /// How long after a failure a device may be tried again, at its next contact ("重试策略").
    pub retry_after_s: u64,
    /// The most devices upgrading at once.
    pub max_concurrent: u32,
    /// Upgrades begin once started (AEP's "立即启动"; a batch task starts when created).
    pub started: bool,
}

/// Where a device's upgrade is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpgradeStatus {
    /// Not begun, or waiting to be tried again.
    Waiting,
    /// /5/0/3 observed, the URI written: the device downloads.
    Downloading,
    /// Executed /5/0/2: the device updates and reboots.
    Updating,
    Succeeded,
    Failed,
}

impl UpgradeStatus {
    pub const ALL: [UpgradeStatus; 5] = [
        UpgradeStatus::Waiting,
        UpgradeStatus::Downloading,
        UpgradeStatus::Updating,
        UpgradeStatus::Succeeded,
        UpgradeStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UpgradeStatus::Waiting => "waiting",
            UpgradeStatus::Downloading => "downloading",
            UpgradeStatus::Updating => "updating",
            UpgradeStatus::Succeeded => "succeeded",
            UpgradeStatus::Failed => "failed",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, UpgradeStatus::Succeeded | UpgradeStatus::Failed)
    }

    /// Between the observe and the result: counts against the task's concurrency.
    pub fn is_active(self) -> bool {
        matches!(self, UpgradeStatus::Downloading | UpgradeStatus::Updating)
    }
}

impl FromStr for UpgradeStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|u| u.as_str() == s)
            .ok_or_else(|| format!("unknown upgrade status {s:?}"))
    }
}

/// One event of an upgrade's history. Shown (and stored) with its time in ISO 8601 beside
/// `time_ms`, for people; read back from `time_ms` alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "EventShown")]
pub struct Event {
    pub time_ms: u64,
    pub text: String,
}

/// An [`Event`] as JSON shows it.
#[derive(Serialize)]
struct EventShown {
    time_ms: u64,
    time: String,
    text: String,
}

impl From<Event> for EventShown {
    fn from(event: Event) -> Self {
        EventShown {
            time_ms: event.time_ms,
            time: Instant::from_unix_millis(event.time_ms).iso8601(),
            text: event.text,
        }
    }
}

/// A device's upgrade by a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upgrade {
    pub flavour: Flavour,
    pub task: String,
    pub imei: String,
    pub status: UpgradeStatus,
    /// Tries begun.
    pub attempts: u32,
    /// The device's last update result (/5/0/5).
    pub result: Option<u8>,
    /// Not tried again before this (ms since the Unix epoch).
    pub retry_at_ms: u64,
    /// The token of the /5/0/3 observation, as hex, kept while the device reboots.
    pub token: Option<String>,
    pub history: Vec<Event>,
}

impl Upgrade {
    pub fn new(flavour: Flavour, task: &str, imei: &str) -> Self {
        Upgrade {
            flavour,
            task: task.into(),
            imei: imei.into(),
            status: UpgradeStatus::Waiting,
            attempts: 0,
            result: None,
            retry_at_ms: 0,
            token: None,
            history: Vec::new(),
        }
    }

    /// Notes an event in the history.
    pub fn note(&mut self, time_ms: u64, text: impl Into<String>) {
        self.history.push(Event {
            time_ms,
            text: text.into(),
        });
    }
}

impl Package {
    /// The URI a device downloads the package from: the one given, else the platform's public
    /// address, plain CoAP.
    pub fn uri(&self) -> String {
        let own = || {
            format!(
                "coap://{}:5683/{FOTA_PATH}/{}",
                self.flavour.host(),
                self.id
            )
        };
        self.uri.clone().unwrap_or_else(own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_events_show_their_time_in_iso_8601_too() {
        let event = Event {
            time_ms: 1_767_225_600_123,
            text: "succeeded (result 1)".into(),
        };
        let shown = serde_json::to_value(&event).unwrap();
        let want = serde_json::json!({"time_ms": 1_767_225_600_123_u64,
            "time": "2026-01-01T00:00:00.123Z", "text": "succeeded (result 1)"});
        assert_eq!(shown, want);
        assert_eq!(serde_json::from_value::<Event>(shown).unwrap(), event);
    }
}
