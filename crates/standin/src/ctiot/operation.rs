//! Operations a person asks of a device through the API, on a path of its object tree (the
//! console's tree, like Leshan's): Read, Write, Execute, Observe and the end of an observation.
//! A CT IoT device is reached only while it is in contact, so an operation waits, `queued`, for
//! the device's next message, then is `sent` and ends `done` or `failed` with the device's answer;
//! an observation's notifications update its content. Interactive, not durable: the platform keeps
//! the newest [`KEPT`] operations of each device in memory (docs/decisions.md).

use super::Flavour;
use nbmodem_coap::{ExchangeError, Response};
use nbmodem_lwm2m::content::Path as Lwm2mPath;
use nbmodem_lwm2m::server::Operation;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// How many operations of a device are kept, newest first.
pub const KEPT: usize = 20;

/// Content-Format text/plain, in which a Write's value is sent.
const TEXT: u16 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperationKind {
    Read,
    Write,
    Execute,
    Observe,
    /// Ends the observation of the path.
    Cancel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperationStatus {
    Queued,
    Sent,
    Done,
    Failed,
}

/// An operation and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceOperation {
    pub id: u64,
    pub flavour: Flavour,
    pub imei: String,
    pub kind: OperationKind,
    pub path: String,
    /// A Write's value (sent as text), an Execute's arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub status: OperationStatus,
    /// The device's answer code (`2.05`), or why there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What a Read or Observe (its latest notification) returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    pub notifications: u32,
    pub queued_ms: u64,
    pub updated_ms: u64,
}

/// An operation asked for through the API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOperation {
    pub kind: OperationKind,
    pub path: String,
    #[serde(default)]
    pub value: Option<String>,
}

impl NewOperation {
    /// The operation, queued for the device `imei` of `flavour` at `now_ms`, or why it cannot be
    /// asked (see [`NewOperation::check`]). Its id is given when the state takes it.
    pub fn queued(
        self,
        flavour: Flavour,
        imei: &str,
        now_ms: u64,
    ) -> Result<DeviceOperation, String> {
        self.check()?;
        Ok(DeviceOperation {
            id: 0,
            flavour,
            imei: imei.to_string(),
            kind: self.kind,
            path: self.path,
            value: self.value,
            status: OperationStatus::Queued,
            code: None,
            content: None,
            notifications: 0,
            queued_ms: now_ms,
            updated_ms: now_ms,
        })
    }

    /// Why it cannot be asked of a device, if it cannot: a path that is not an LwM2M path, a
    /// Write without a value, an Execute of anything but a resource.
    pub fn check(&self) -> Result<Lwm2mPath, String> {
        let path: Lwm2mPath = self
            .path
            .parse()
            .map_err(|e| format!("path {:?}: {e}", self.path))?;
        let ids = self.path.trim_matches('/').split('/').count();
        match self.kind {
            OperationKind::Write if self.value.is_none() => Err("a Write needs a value".into()),
            OperationKind::Write | OperationKind::Execute if ids != 3 => Err(format!(
                "a {:?} is of a resource (/object/instance/resource), not {}",
                self.kind, self.path
            )),
            _ => Ok(path),
        }
    }
}

impl DeviceOperation {
    /// The LwM2M operation on its path.
    pub fn lwm2m(&self) -> Result<(Lwm2mPath, Operation), String> {
        let path = self.path.parse().map_err(|e| format!("{e}"))?;
        let value = self.value.clone().unwrap_or_default().into_bytes();
        let operation = match self.kind {
            OperationKind::Read => Operation::Read { accept: None },
            OperationKind::Write => Operation::Write {
                format: TEXT,
                payload: value,
                replace: true,
            },
            OperationKind::Execute => Operation::Execute { arguments: value },
            OperationKind::Observe => Operation::Observe { accept: None },
            OperationKind::Cancel => Operation::CancelObserve,
        };
        Ok((path, operation))
    }

    /// The device's answer, or its absence, ends it.
    pub fn settle(&mut self, now_ms: u64, result: &Result<Response, ExchangeError>) {
        self.updated_ms = now_ms;
        match result {
            Ok(response) => {
                self.status = match response.is_success() {
                    true => OperationStatus::Done,
                    false => OperationStatus::Failed,
                };
                self.code = Some(response.status_text());
                if !response.payload.is_empty() {
                    self.content = Some(content(response));
                }
            }
            Err(e) => {
                self.status = OperationStatus::Failed;
                self.code = Some(format!("no answer: {e:?}"));
            }
        }
    }

    /// A notification of an observation.
    pub fn notified(&mut self, now_ms: u64, response: &Response) {
        self.updated_ms = now_ms;
        self.notifications += 1;
        self.content = Some(content(response));
    }
}

/// A payload as the API shows it: its content format, and its text when it is printable text,
/// else its bytes in hex.
pub fn content(response: &Response) -> Value {
    let payload = &response.payload;
    let format = response.content_format;
    match std::str::from_utf8(payload) {
        Ok(text) if !text.chars().any(|c| c.is_control()) => {
            json!({"format": format, "text": text})
        }
        _ => json!({"format": format, "hex": super::hex(payload)}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(kind: OperationKind, path: &str, value: Option<&str>) -> NewOperation {
        NewOperation {
            kind,
            path: path.into(),
            value: value.map(String::from),
        }
    }

    #[test]
    fn operations_are_checked_before_they_are_queued() {
        assert!(new(OperationKind::Read, "/3/0", None).check().is_ok());
        assert!(new(OperationKind::Read, "/3/zero", None).check().is_err());
        assert!(new(OperationKind::Write, "/1/0/1", None).check().is_err());
        assert!(new(OperationKind::Write, "/1/0", Some("1"))
            .check()
            .is_err());
        assert!(new(OperationKind::Execute, "/3/0/4", None).check().is_ok());
    }
}
