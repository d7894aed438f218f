//! The device information of DM object 666 (protocols.md §3.5): the answer to the server's Read of
//! `/666/0` (TLV, 11542), each string resource decrypted with the app key's password.

use super::admission::{verify, Verified};
use super::AppKeys;
use super::DmDevice;
use crate::record::Verdict;
use nbmodem_clock::Instant;
use nbmodem_coap::{ExchangeError, Response, Status};
use nbmodem_lwm2m::content::tlv::{self, Entry, Resource};
use nbmodem_operators::dm::{decrypt, DM_VERSION};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Content-Format of the LwM2M TLV.
pub(crate) const TLV: u16 = 11542;

/// The resources of object 666 and the names the records and the store give them.
const RESOURCE_NAMES: &[(u16, &str)] = &[
    (6601, "device_info"),
    (6602, "app_info"),
    (6603, "mac"),
    (6604, "rom"),
    (6605, "ram"),
    (6606, "cpu"),
    (6607, "os_version"),
    (6608, "software_version"),
    (6609, "software_name"),
    (6610, "volte"),
    (6611, "network_type"),
    (6612, "network_account"),
    (6613, "phone_number"),
    (6614, "location"),
    (6617, "router_mac"),
    (6619, "brand"),
    (6620, "gpu"),
    (6621, "board"),
    (6622, "model"),
    (6623, "resolution"),
];

/// The name of a resource of object 666; an unknown one is named by its id.
pub fn resource_name(id: u16) -> String {
    RESOURCE_NAMES
        .iter()
        .find(|(known, _)| *known == id)
        .map_or_else(|| id.to_string(), |(_, name)| (*name).to_string())
}

/// What a Read of /666/0 gave.
pub(crate) struct ReadOutcome {
    pub verdict: Verdict,
    pub status: Option<String>,
    pub fields: Map<String, Value>,
    /// The device to store, when anything was decrypted.
    pub device: Option<DmDevice>,
}

impl ReadOutcome {
    fn failed(status: Option<String>, error: String) -> Self {
        let mut fields = Map::new();
        fields.insert("error".into(), json!(error));
        ReadOutcome {
            verdict: Verdict::Failed,
            status,
            fields,
            device: None,
        }
    }
}

/// Interprets the outcome of the Read of /666/0 of the device registered as `endpoint`.
pub(crate) fn interpret(
    keys: &dyn AppKeys,
    endpoint: &str,
    now: Instant,
    result: Result<Response, ExchangeError>,
) -> ReadOutcome {
    let verified = match verify(keys, endpoint, DM_VERSION) {
        Ok(verified) => verified,
        Err(refusal) => return ReadOutcome::failed(None, refusal.reason),
    };
    let response = match result {
        Ok(response) => response,
        Err(e) => return ReadOutcome::failed(None, format!("no answer: {e:?}")),
    };
    let status = Some(response.status_text());
    if response.status != Status::Content {
        return ReadOutcome::failed(status, "the device refused the Read".into());
    }
    if response.content_format != Some(TLV) {
        let error = format!(
            "answered in content format {:?}, not TLV",
            response.content_format
        );
        return ReadOutcome::failed(status, error);
    }
    match tlv::decode(&response.payload) {
        Ok(entries) => decrypted(&verified, endpoint, now, status, &entries),
        Err(e) => ReadOutcome::failed(status, format!("bad TLV: {e}")),
    }
}

fn decrypted(
    verified: &Verified,
    endpoint: &str,
    now: Instant,
    status: Option<String>,
    entries: &[Entry],
) -> ReadOutcome {
    let mut info = BTreeMap::new();
    let mut errors = Map::new();
    for (id, value) in single_resources(entries) {
        let plain = std::str::from_utf8(value)
            .map_err(|_| "not text".to_string())
            .and_then(|text| decrypt(&verified.password, text).map_err(|e| e.to_string()));
        match plain {
            Ok(plain) => {
                info.insert(resource_name(id), plain);
            }
            Err(e) => {
                errors.insert(resource_name(id), json!(e));
            }
        }
    }
    let mut fields = Map::new();
    fields.insert("app_key".into(), json!(verified.parsed.app_key));
    fields.insert("imei".into(), json!(verified.identity.imei));
    fields.insert("info".into(), json!(info));
    let verdict = if errors.is_empty() {
        Verdict::Accepted
    } else {
        fields.insert("errors".into(), Value::Object(errors));
        Verdict::Failed
    };
    let device = DmDevice {
        app_key: verified.parsed.app_key.clone(),
        imei: verified.identity.imei.clone(),
        imei2: verified.identity.imei2.clone(),
        imsi: verified.identity.imsi.clone(),
        endpoint: endpoint.to_string(),
        info,
        read_ms: now.unix_millis(),
    };
    ReadOutcome {
        verdict,
        status,
        fields,
        device: Some(device),
    }
}

/// The single resources of an instance read, whether or not they come inside an instance TLV.
fn single_resources(entries: &[Entry]) -> Vec<(u16, &[u8])> {
    let resources = entries.iter().flat_map(|entry| match entry {
        Entry::ObjectInstance { resources, .. } => resources.iter().collect(),
        Entry::Resource(resource) => vec![resource],
        Entry::ResourceInstance(_) => Vec::new(),
    });
    resources
        .filter_map(|resource| match resource {
            Resource::Single { id, value } => Some((*id, value.as_slice())),
            Resource::Multiple { .. } => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_named_as_the_spec_lists_them() {
        assert_eq!(resource_name(6603), "mac");
        assert_eq!(resource_name(6614), "location");
        assert_eq!(resource_name(6618), "6618");
    }

    #[test]
    fn instance_tlvs_and_bare_resources_both_count() {
        let single = |id| Resource::Single {
            id,
            value: vec![b'x'],
        };
        let entries = [
            Entry::ObjectInstance {
                id: 0,
                resources: vec![single(6603)],
            },
            Entry::Resource(single(6604)),
            Entry::Resource(Resource::Multiple {
                id: 6605,
                instances: Vec::new(),
            }),
        ];
        let ids: Vec<u16> = single_resources(&entries)
            .iter()
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(ids, [6603, 6604]);
    }
}
