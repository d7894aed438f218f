//! Who may register with the DM server (protocols.md §3.2), as the policy of the LwM2M server.
//!
//! A Register's endpoint name `T@#@<cipher>@#@<AppKey>@#@<IMEI>@#@v2.0` must name an issued app key
//! (else 4.03 Forbidden), its cipher must decrypt with that key's password (else 4.00 Bad Request)
//! to `IMEI-IMEI2-IMSI-v2.0`. An Update must carry `epi=` built the same way with `****` as the last
//! plaintext field, for the IMEI that registered (else 4.00). A reject fault answers 4.03.
//!
//! The policy leaves a [`Note`] of what it decoded and decided, which the node puts in the record.

use super::AppKeys;
use crate::fault::Faults;
use crate::lock;
use nbmodem_coap::Status;
use nbmodem_lwm2m::server::{Admission, Policy};
use nbmodem_operators::dm::{parse_name, DeviceIdentity, ParsedName, DM_VERSION};
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};

/// The last plaintext field of an EPI.
const EPI_LAST: &str = "****";

/// What the node and its policy share.
pub(crate) struct Shared {
    pub keys: Box<dyn AppKeys>,
    pub faults: Faults,
    /// Left by the policy for the request being handled.
    pub note: Option<Note>,
}

/// What the policy made of a Register or Update.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Note {
    /// The decoded identity, or what is known and the reason for refusing.
    pub fields: Map<String, Value>,
    /// `reject` when a reject fault decided.
    pub fault: Option<String>,
}

/// The admission policy over the shared state.
pub(crate) fn policy(shared: Arc<Mutex<Shared>>) -> Policy {
    Box::new(move |admission| admit(&mut lock(&shared), admission))
}

fn admit(shared: &mut Shared, admission: &Admission<'_>) -> Result<(), Status> {
    if shared.faults.take_reject() {
        shared.note = Some(Note {
            fields: Map::new(),
            fault: Some("reject".into()),
        });
        return Err(Status::Forbidden);
    }
    let (result, fields) = match check(shared.keys.as_ref(), admission) {
        Ok(verified) => (Ok(()), verified.fields()),
        Err(refusal) => (Err(refusal.status), refusal.fields()),
    };
    shared.note = Some(Note {
        fields,
        fault: None,
    });
    result
}

/// A name whose identity decrypted.
pub(crate) struct Verified {
    pub parsed: ParsedName,
    pub identity: DeviceIdentity,
    pub password: String,
}

impl Verified {
    fn fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("terminal".into(), json!(self.parsed.terminal.letter()));
        fields.insert("app_key".into(), json!(self.parsed.app_key));
        fields.insert("imei".into(), json!(self.identity.imei));
        fields.insert("imei2".into(), json!(self.identity.imei2));
        fields.insert("imsi".into(), json!(self.identity.imsi));
        fields
    }
}

pub(crate) struct Refusal {
    pub status: Status,
    pub reason: String,
    parsed: Option<Box<ParsedName>>,
}

impl Refusal {
    fn new(status: Status, reason: String, parsed: Option<&ParsedName>) -> Self {
        Refusal {
            status,
            reason,
            parsed: parsed.cloned().map(Box::new),
        }
    }

    fn fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        if let Some(parsed) = &self.parsed {
            fields.insert("terminal".into(), json!(parsed.terminal.letter()));
            fields.insert("app_key".into(), json!(parsed.app_key));
            fields.insert("name_imei".into(), json!(parsed.imei));
        }
        fields.insert("error".into(), json!(self.reason));
        fields
    }
}

fn check(keys: &dyn AppKeys, admission: &Admission<'_>) -> Result<Verified, Refusal> {
    if !admission.update {
        return verify(keys, admission.endpoint, DM_VERSION);
    }
    let epi = admission
        .query
        .iter()
        .find_map(|item| item.strip_prefix("epi="))
        .ok_or_else(|| Refusal::new(Status::BadRequest, "an Update needs epi=".into(), None))?;
    let verified = verify(keys, epi, EPI_LAST)?;
    let registered = verify(keys, admission.endpoint, DM_VERSION)?;
    if registered.identity.imei != verified.identity.imei {
        let reason = format!(
            "the EPI is for IMEI {:?} but IMEI {:?} registered",
            verified.identity.imei, registered.identity.imei
        );
        return Err(Refusal::new(
            Status::BadRequest,
            reason,
            Some(&verified.parsed),
        ));
    }
    Ok(verified)
}

/// Decrypts the identity in a name or EPI with its app key's password; `last` is the plaintext's
/// expected last field.
pub(crate) fn verify(keys: &dyn AppKeys, name: &str, last: &str) -> Result<Verified, Refusal> {
    let parsed =
        parse_name(name).map_err(|e| Refusal::new(Status::BadRequest, e.to_string(), None))?;
    let password = match keys.password(&parsed.app_key) {
        Ok(Some(password)) => password,
        Ok(None) => {
            let reason = format!("unknown app key {:?}", parsed.app_key);
            return Err(Refusal::new(Status::Forbidden, reason, Some(&parsed)));
        }
        Err(reason) => {
            return Err(Refusal::new(
                Status::InternalServerError,
                reason,
                Some(&parsed),
            ));
        }
    };
    let (identity, found) = parsed
        .identity(&password)
        .map_err(|e| Refusal::new(Status::BadRequest, format!("identity {e}"), Some(&parsed)))?;
    if found != last {
        let reason = format!("the identity ends {found:?}, not {last:?}");
        return Err(Refusal::new(Status::BadRequest, reason, Some(&parsed)));
    }
    Ok(Verified {
        parsed,
        identity,
        password,
    })
}
