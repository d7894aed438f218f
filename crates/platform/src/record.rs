//! What the platforms record about every request: which server, when, from where, what it asked,
//! what became of it and the fields decoded from it.

use nbmodem_clock::Instant;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// One of the stand-in servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Server {
    /// The China Telecom self-registration registry.
    Ct,
    /// The China Unicom self-registration registry.
    Cu,
    /// The China Mobile CMDMP DM server.
    Dm,
}

impl Server {
    pub const ALL: [Server; 3] = [Server::Ct, Server::Cu, Server::Dm];

    pub fn as_str(self) -> &'static str {
        match self {
            Server::Ct => "ct",
            Server::Cu => "cu",
            Server::Dm => "dm",
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown server {0:?} (ct, cu or dm)")]
pub struct UnknownServer(pub String);

impl FromStr for Server {
    type Err = UnknownServer;

    fn from_str(s: &str) -> Result<Server, UnknownServer> {
        Server::ALL
            .into_iter()
            .find(|server| server.as_str() == s)
            .ok_or_else(|| UnknownServer(s.to_string()))
    }
}

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Answered with success.
    Accepted,
    /// Answered with a failure (the status says which).
    Rejected,
    /// Ignored on purpose by a drop fault: no answer at all.
    Dropped,
    /// An operation the server started (the DM Read of /666/0) that did not succeed.
    Failed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Rejected => "rejected",
            Verdict::Dropped => "dropped",
            Verdict::Failed => "failed",
        }
    }
}

impl FromStr for Verdict {
    type Err = String;

    fn from_str(s: &str) -> Result<Verdict, String> {
        [
            Verdict::Accepted,
            Verdict::Rejected,
            Verdict::Dropped,
            Verdict::Failed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| format!("unknown verdict {s:?}"))
    }
}

/// One recorded request (or server-initiated operation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub server: Server,
    /// The engine's instant, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The same instant in ISO 8601 (UTC).
    pub time: String,
    /// The peer's address.
    pub source: String,
    /// `register`, `update`, `deregister`, `read`, `other` or `malformed`.
    pub operation: String,
    pub verdict: Verdict,
    /// The CoAP response code sent (or received, for a read), e.g. `2.05`.
    pub status: Option<String>,
    /// The fault that applied: `drop`, `reject`, `delay=5s` or `delay queue full`.
    pub fault: Option<String>,
    /// What was decoded from the request, as a JSON object.
    pub fields: Value,
}

impl RequestRecord {
    /// A record of `operation` from `source` at `now`, accepted until said otherwise.
    pub fn new(server: Server, now: Instant, source: SocketAddr, operation: &str) -> Self {
        RequestRecord {
            server,
            time_ms: now.unix_millis(),
            time: iso8601(now),
            source: source.to_string(),
            operation: operation.to_string(),
            verdict: Verdict::Accepted,
            status: None,
            fault: None,
            fields: Value::Object(Map::new()),
        }
    }

    pub fn verdict(mut self, verdict: Verdict, status: Option<String>) -> Self {
        self.verdict = verdict;
        self.status = status;
        self
    }

    pub fn fault(mut self, fault: Option<String>) -> Self {
        self.fault = fault;
        self
    }

    pub fn fields(mut self, fields: Map<String, Value>) -> Self {
        self.fields = Value::Object(fields);
        self
    }
}

/// `2026-01-01T00:00:00.000Z`.
pub fn iso8601(instant: Instant) -> String {
    let ms = instant.unix_millis();
    let (days, second_of_day) = ((ms / 1000) / 86_400, (ms / 1000) % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
        ms % 1000
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_of_known_instants() {
        let at = |ms| iso8601(Instant::from_unix_millis(ms));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_767_225_600_000), "2026-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(at(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn servers_and_verdicts_parse_back() {
        for server in Server::ALL {
            assert_eq!(server.as_str().parse(), Ok(server));
        }
        assert!("xx".parse::<Server>().is_err());
        assert_eq!("dropped".parse(), Ok(Verdict::Dropped));
    }
}
