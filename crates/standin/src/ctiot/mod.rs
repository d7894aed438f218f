//! The stand-in China Telecom IoT platform and CTWing AEP (seed 002 chapter 4, protocols.md §4):
//! LwM2M servers that know products and devices, admit only the devices registered with them
//! (by IMEI; over DTLS-PSK with the IMEI as identity for a device with a key), observe /19/0/0
//! after each registration, store every uplink durably before acknowledging it, and write queued
//! downlinks to /19/1/0.
//!
//! Two flavours ([`Flavour`]), each on two addresses (plain CoAP and DTLS): the IoT platform
//! answers every uplink with `AAAA0000` unless told not to (seed §2.3.3 note 2, §4.1.2), AEP does
//! not (its transcript, §4.2.2, shows no downlink). A device sleeps: the platforms treat every
//! device as an LwM2M queue-mode client reachable only while it is in contact, so a downlink
//! waits, `queued`, for the device's next uplink, Update or Register and goes out in that
//! contact (as the CT platform's cached commands do); how long a module stays awake after it
//! sent (its RAI, inactivity timer, AT+QSCLK) is not the platform's to guess. A downlink whose
//! Write goes unanswered goes back to the queue.
//!
//! - [`state`]: the devices, products and downlink queues, shared by the nodes and the HTTP API;
//! - [`codec`]: each product's codec, compiled, decoding its devices' uplinks and matching their
//!   responses to commands;
//! - [`fota`], [`keys`]: DFOTA packages, tasks and upgrades, and the manufacturers' keys;
//! - [`operation`]: Read, Write, Execute and Observe on a device's objects, asked through the API;
//! - the sans-IO engine of one address ([`CtIotEngine`]).
//!
//! Adding products and devices and queueing downlinks through the HTTP API, and the checks of a
//! signed package's upload, are the platform crate's (`nbmodem_platform::ctiot`).

pub mod codec;
pub mod fota;
pub mod keys;
mod node;
pub mod operation;
pub mod state;

pub use node::CtIotEngine;
pub use state::{CtIotState, SharedState};

use crate::record::Server;
pub use nbmodem_operators::ctiot::{decode_hex, hex, REPLY};
use nbmodem_operators::ctiot::{AEP_ADDRESS, IOT_ADDRESS};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How often a downlink whose Write went unanswered is tried again, at the device's next messages,
/// before it fails.
pub const DOWNLINK_ATTEMPTS: u32 = 3;

/// Which platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// The China Telecom IoT platform (180.101.147.115).
    Iot,
    /// CTWing AEP (221.229.214.202, lwm2m.ctwing.cn).
    Aep,
}

impl Flavour {
    pub const ALL: [Flavour; 2] = [Flavour::Iot, Flavour::Aep];

    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::Iot => "iot",
            Flavour::Aep => "aep",
        }
    }

    /// The server name of its records and faults.
    pub fn server(self) -> Server {
        match self {
            Flavour::Iot => Server::Iot,
            Flavour::Aep => Server::Aep,
        }
    }

    /// Whether a new device of this platform gets `AAAA0000` after each uplink.
    pub fn replies_by_default(self) -> bool {
        self == Flavour::Iot
    }

    /// The public address a module sends to (plain CoAP on 5683, DTLS on 5684; CTWing's name
    /// resolves to it).
    pub fn host(self) -> &'static str {
        match self {
            Flavour::Iot => IOT_ADDRESS,
            Flavour::Aep => AEP_ADDRESS,
        }
    }
}

impl fmt::Display for Flavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform {0:?} (iot or aep)")]
pub struct UnknownFlavour(pub String);

impl FromStr for Flavour {
    type Err = UnknownFlavour;

    fn from_str(s: &str) -> Result<Flavour, UnknownFlavour> {
        Flavour::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownFlavour(s.to_string()))
    }
}

/// A product: what its devices are, as the profile document of seed §5.1.2 says (kept whole, for
/// the firmware upgrade checks and its services' model), and how its devices' messages are
/// decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub flavour: Flavour,
    pub id: String,
    /// The profile document: `manufacturerId`, `model`, `deviceType`, `protocolType`,
    /// `omCapability`, `serviceTypeCapabilities`, and the services' definitions (`services`).
    pub profile: serde_json::Value,
    #[serde(default)]
    pub codec: CodecChoice,
}

/// A product's codec, as the user chose it (seed 002 §4.1.1: the codec plug-in of a product).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum CodecChoice {
    /// No codec: the platform keeps the bytes as they came (the default).
    #[default]
    PassThrough,
    /// CTWing's compact binary codec, from the product's services.
    Compact,
    /// A JavaScript codec plug-in (its source).
    Script { script: String },
}

/// A device registered with a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub flavour: Flavour,
    pub imei: String,
    /// The pre-shared key of a device that connects over DTLS, as hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Answer each uplink with `AAAA0000`.
    pub reply: bool,
}

impl Device {
    /// The key as bytes (checked when the device was added).
    pub fn key(&self) -> Option<Vec<u8>> {
        self.psk.as_deref().and_then(decode_hex)
    }
}

/// An uplink as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uplink {
    /// Its place in the store: larger is newer (the cursor of the API's pages).
    pub id: i64,
    pub flavour: Flavour,
    pub imei: String,
    pub time_ms: u64,
    pub time: String,
    /// The payload (upper-case hex in the API's JSON).
    #[serde(with = "hex_bytes")]
    pub data: Vec<u8>,
    pub confirmable: bool,
    /// The notification's Observe sequence number.
    pub sequence: u32,
    /// What the product's codec made of it (none without a codec, or when it failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded: Option<serde_json::Value>,
    /// Why the product's codec could not decode it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_error: Option<String>,
}

/// What became of a downlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DownlinkStatus {
    /// Waiting for the device to be awake.
    Queued,
    /// Written to /19/1/0, not answered yet.
    Sent,
    /// The device answered 2.04.
    Delivered,
    /// A command the device answered with its response (an uplink matched by the command's id).
    Answered,
    /// The device refused it, or never answered in [`DOWNLINK_ATTEMPTS`] tries.
    Failed,
}

impl DownlinkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DownlinkStatus::Queued => "queued",
            DownlinkStatus::Sent => "sent",
            DownlinkStatus::Delivered => "delivered",
            DownlinkStatus::Answered => "answered",
            DownlinkStatus::Failed => "failed",
        }
    }
}

impl FromStr for DownlinkStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<DownlinkStatus, String> {
        [
            DownlinkStatus::Queued,
            DownlinkStatus::Sent,
            DownlinkStatus::Delivered,
            DownlinkStatus::Answered,
            DownlinkStatus::Failed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
        .ok_or_else(|| format!("unknown downlink status {s:?}"))
    }
}

/// A downlink and its history so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downlink {
    pub id: u64,
    pub flavour: Flavour,
    pub imei: String,
    /// The payload (upper-case hex in the API's JSON).
    #[serde(with = "hex_bytes")]
    pub data: Vec<u8>,
    pub status: DownlinkStatus,
    /// When it was queued, and when its status last changed (ms since the Unix epoch).
    pub queued_ms: u64,
    pub updated_ms: u64,
    /// Writes sent so far.
    pub attempts: u32,
    /// The command it carries, when the platform encoded it from one (none: raw bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandCall>,
    /// The device's decoded response to the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<serde_json::Value>,
}

/// A command as the platform was asked to send it: a service's command, its parameters, and the
/// message id its response carries back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandCall {
    pub service: String,
    pub command: String,
    pub params: serde_json::Value,
    pub mid: u16,
}

impl Downlink {
    /// Whether nothing more can happen to it: failed, answered, or delivered when it is not a
    /// command (a command waits for its response after it is delivered).
    pub fn is_done(&self) -> bool {
        match self.status {
            DownlinkStatus::Failed | DownlinkStatus::Answered => true,
            DownlinkStatus::Delivered => self.command.is_none(),
            DownlinkStatus::Queued | DownlinkStatus::Sent => false,
        }
    }
}

/// Bytes as upper-case hex in JSON, the form the API has always given payloads in (for
/// `#[serde(with = "hex_bytes")]`); any case is read.
mod hex_bytes {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::hex(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::decode_hex(&text).ok_or_else(|| D::Error::custom("not hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavours_and_statuses_parse_back() {
        for flavour in Flavour::ALL {
            assert_eq!(flavour.as_str().parse(), Ok(flavour));
        }
        assert!("onenet".parse::<Flavour>().is_err());
        assert_eq!("delivered".parse(), Ok(DownlinkStatus::Delivered));
    }

    #[test]
    fn payloads_are_hex_in_json_and_bytes_in_memory() {
        let uplink = Uplink {
            id: 1,
            flavour: Flavour::Iot,
            imei: "865975030000001".into(),
            time_ms: 2,
            time: "t".into(),
            data: vec![0x00, 0xAB, 0x7F],
            confirmable: true,
            sequence: 3,
            decoded: None,
            decode_error: None,
        };
        let json = serde_json::to_value(&uplink).unwrap();
        assert_eq!(json["data"], "00AB7F");
        assert_eq!(serde_json::from_value::<Uplink>(json).unwrap(), uplink);
        let lower = serde_json::json!({
            "id": 1, "flavour": "aep", "imei": "1", "data": "aa01", "status": "queued",
            "queued_ms": 0, "updated_ms": 0, "attempts": 0
        });
        let downlink: Downlink = serde_json::from_value(lower.clone()).unwrap();
        assert_eq!(downlink.data, [0xAA, 0x01]);
        let mut odd = lower;
        odd["data"] = "ABC".into();
        assert!(serde_json::from_value::<Downlink>(odd).is_err());
    }
}
