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
            time: now.iso8601(),
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

/// One line for the console: `14:05:09 ct register from 127.0.0.1:40001: accepted 2.05`.
impl fmt::Display for RequestRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = Instant::from_unix_millis(self.time_ms).time_of_day();
        write!(
            f,
            "{time} {} {} from {}: {}",
            self.server,
            self.operation,
            self.source,
            self.verdict.as_str()
        )?;
        if let Some(status) = &self.status {
            write!(f, " {status}")?;
        }
        if let Some(fault) = &self.fault {
            write!(f, " (fault {fault})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_and_verdicts_parse_back() {
        for server in Server::ALL {
            assert_eq!(server.as_str().parse(), Ok(server));
        }
        assert!("xx".parse::<Server>().is_err());
        assert_eq!("dropped".parse(), Ok(Verdict::Dropped));
    }
}
