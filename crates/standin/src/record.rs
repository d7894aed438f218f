//! What the platforms record about every request: which server, when, from where, what it asked,
//! what became of it and the fields decoded from it.
//!
//! A record's fields come from the request, so whatever a peer sends, they are capped
//! ([`FIELD_TEXT`], [`FIELD_ITEMS`]): a record stays within a few kilobytes.

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
    /// The China Telecom IoT platform (both its addresses).
    Iot,
    /// CTWing AEP (both its addresses).
    Aep,
}

impl Server {
    pub const ALL: [Server; 5] = [Server::Ct, Server::Cu, Server::Dm, Server::Iot, Server::Aep];

    pub fn as_str(self) -> &'static str {
        match self {
            Server::Ct => "ct",
            Server::Cu => "cu",
            Server::Dm => "dm",
            Server::Iot => "iot",
            Server::Aep => "aep",
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown server {0:?} (ct, cu, dm, iot or aep)")]
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

    /// The fields, capped as [`cap`] says.
    pub fn fields(mut self, fields: Map<String, Value>) -> Self {
        let mut budget = RECORD_TEXT;
        self.fields = cap(Value::Object(fields), 0, &mut budget);
        self
    }
}

/// The most characters of one text a record keeps (keys: a quarter of it).
pub const FIELD_TEXT: usize = 256;
/// The most members of an object or items of an array a record keeps.
pub const FIELD_ITEMS: usize = 32;
/// The most characters of text (keys and values, numbers as written) a record's fields keep in
/// all.
pub const RECORD_TEXT: usize = 4096;
/// How deep objects and arrays nest in a record; deeper ones are replaced by `"…"`.
const FIELD_DEPTH: usize = 3;

/// `value` within the caps: every text cut to [`FIELD_TEXT`] characters (a cut one ends in `…`)
/// and every key to a quarter of that, every object and array to [`FIELD_ITEMS`] entries and
/// [`FIELD_DEPTH`] levels, and all of it to what is left of `budget` ([`RECORD_TEXT`] for a
/// record): once it is spent, later entries are left out.
fn cap(value: Value, depth: usize, budget: &mut usize) -> Value {
    match value {
        Value::String(text) => Value::String(spend(text, FIELD_TEXT, budget)),
        Value::Array(_) | Value::Object(_) if depth == FIELD_DEPTH => Value::String("…".into()),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .take(FIELD_ITEMS)
                .map_while(|item| (*budget > 0).then(|| cap(item, depth + 1, budget)))
                .collect(),
        ),
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .take(FIELD_ITEMS)
                .map_while(|(key, item)| {
                    (*budget > 0).then(|| {
                        let key = spend(key, FIELD_TEXT / 4, budget);
                        (key, cap(item, depth + 1, budget))
                    })
                })
                .collect(),
        ),
        other => {
            *budget = budget.saturating_sub(other.to_string().len());
            other
        }
    }
}

/// `text` cut to `longest` characters and to what is left of `budget`, which it spends (at least
/// one character's worth, so that empty texts count too).
fn spend(text: String, longest: usize, budget: &mut usize) -> String {
    let longest = longest.min(*budget);
    let length = text.chars().count();
    let kept = if length <= longest {
        text
    } else if longest == 0 {
        String::new()
    } else {
        text.chars().take(longest - 1).chain(['…']).collect()
    };
    *budget = budget.saturating_sub(kept.chars().count().max(1));
    kept
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
    fn fields_from_a_hostile_peer_are_capped() {
        let mut fields = Map::new();
        fields.insert("path".into(), Value::String("/x".repeat(30_000)));
        fields.insert("k".repeat(1000), Value::from(1));
        let query: Map<String, Value> = (0..1000)
            .map(|i| (format!("q{i}"), Value::from(i)))
            .collect();
        fields.insert("query".into(), Value::Object(query));
        fields.insert("deep".into(), serde_json::json!([[[["x"]]]]));
        let wide: Vec<Value> = (0..32)
            .map(|_| serde_json::json!({"a": vec!["x".repeat(300); 32]}))
            .collect();
        fields.insert("wide".into(), Value::Array(wide));
        let record = RequestRecord::new(
            Server::Dm,
            Instant::from_unix_millis(0),
            "127.0.0.1:1".parse().unwrap(),
            "other",
        )
        .fields(fields);
        let stored = serde_json::to_string(&record).unwrap();
        assert!(stored.len() < 4 * RECORD_TEXT, "{} bytes", stored.len());
        let path = record.fields["path"].as_str().unwrap();
        assert_eq!(path.chars().count(), FIELD_TEXT);
        assert!(path.ends_with('…'));
        assert_eq!(
            record.fields["query"].as_object().unwrap().len(),
            FIELD_ITEMS
        );
        assert_eq!(record.fields["deep"], serde_json::json!([["…"]]));
        assert!(record
            .fields
            .as_object()
            .unwrap()
            .keys()
            .all(|k| k.chars().count() <= FIELD_TEXT / 4));
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
