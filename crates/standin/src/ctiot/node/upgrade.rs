//! The server's side of DFOTA (seed 002 chapter 5, protocols.md §5): upgrades of the tasks that
//! are started, driven one LwM2M operation at a time per device (one confirmable request in
//! flight per peer), and the packages served on `/fota/<id>`.
//!
//! A device is heard from (registered and observed, or an uplink): an upgrade waiting for it
//! begins. The server observes /5/0/3, writes the package URI to /5/0/1, and follows the state
//! the device notifies: 2 (downloaded) is executed on /5/0/2, and the observation's token is kept
//! while the device reboots; after it registers again the observation is restored and its
//! notification (state 0 on success, 2 on failure) ends the upgrade. A state of 0 before that is
//! a failed download. The result is read from /5/0/5, then the observation is cancelled.
//!
//! A state report can be lost (the connection that cut the download carries it too). A download
//! with no news for [`SILENCE`] is asked after at the device's next contact: /5/0/3 is read and
//! followed as if notified (state 0: /5/0/5 is read and the attempt settled).

use super::super::fota::{Upgrade, UpgradeStatus, FOTA_PATH};
use super::super::{decode_hex, hex};
use super::CtIotEngine;
use crate::lock;
use crate::record::{RequestRecord, Verdict};
use crate::write::Write;
use nbmodem_clock::Instant;
use nbmodem_coap::{ExchangeError, IncomingId, Method, Request, Response, Status};
use nbmodem_lwm2m::content::Path as Lwm2mPath;
use nbmodem_lwm2m::server::{Operation, OperationId};
use nbmodem_operators::ctiot::firmware::{
    self,
    result::SUCCESS,
    state::{DOWNLOADED, DOWNLOADING, IDLE},
    PACKAGE_URI, STATE, UPDATE, UPDATE_RESULT,
};
use serde_json::{json, Map};
use std::net::SocketAddr;
use std::time::Duration;

/// Content-Format text/plain.
const TEXT: u16 = 0;
/// Content-Format application/octet-stream.
const OPAQUE: u16 = 42;

/// How long a download may go without news (a state the device reported, a step of the
/// platform's) before the platform asks the device where it is, at its next contact. Far longer
/// than a lost block takes to fail (the module gives up on one after 126 s), shorter than
/// anyone waits for a stuck upgrade.
pub(super) const SILENCE: Duration = Duration::from_secs(600);

fn firmware(resource: u16) -> Lwm2mPath {
    Lwm2mPath::new(&firmware::path(resource)).expect("a valid path")
}

/// /5/0/3, whose notifications are the device's firmware update state.
pub(super) fn firmware_state_path() -> Lwm2mPath {
    firmware(STATE)
}

/// One operation of an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Observe,
    WriteUri,
    Execute,
    /// Read /5/0/3: a download gone silent.
    ReadState,
    ReadResult,
    Cancel,
}

/// Whether a download has had no news for [`SILENCE`]: its last event is that old.
fn silent(upgrade: &Upgrade, now: Instant) -> bool {
    let last = upgrade.history.last().map_or(0, |e| e.time_ms);
    now.unix_millis().saturating_sub(last) >= SILENCE.as_millis() as u64
}

/// A small integer as a device sends it: plain text.
fn small_number(payload: &[u8]) -> Option<u8> {
    std::str::from_utf8(payload).ok()?.trim().parse().ok()
}

impl CtIotEngine {
    /// The device's upgrade, if a started task has one for it now.
    fn upgrade_of(&self, now: Instant, imei: &str) -> Option<Upgrade> {
        lock(&self.state).upgrade_for(self.flavour, imei, now.unix_millis())
    }

    /// Changes an upgrade durably.
    fn save_upgrade(&mut self, now: Instant, mut upgrade: Upgrade, note: &str) {
        upgrade.note(now.unix_millis(), note);
        lock(&self.state).put_upgrade(upgrade.clone());
        self.submit(Write::FotaUpgrade(upgrade));
    }

    /// A device was heard from: a waiting upgrade begins; a download gone silent is asked after.
    pub(super) fn fota_contact(&mut self, now: Instant, imei: &str) {
        let Some(mut upgrade) = self.upgrade_of(now, imei) else {
            return;
        };
        let begun = self.fota_ops.values().any(|(i, _)| i == imei);
        match upgrade.status {
            _ if begun => {}
            UpgradeStatus::Waiting => {
                upgrade.status = UpgradeStatus::Downloading;
                upgrade.attempts += 1;
                let note = format!("attempt {}: observing /5/0/3", upgrade.attempts);
                self.save_upgrade(now, upgrade, &note);
                self.fota_step(now, imei, Step::Observe);
            }
            UpgradeStatus::Downloading if silent(&upgrade, now) => {
                let note = format!("no news for {} s: reading /5/0/3", SILENCE.as_secs());
                self.save_upgrade(now, upgrade, &note);
                self.fota_step(now, imei, Step::ReadState);
            }
            _ => {}
        }
    }

    /// A device registered: an update under way goes on on the observation kept from before
    /// its reboot; a download under way was cut and begins again.
    pub(super) fn fota_registered(&mut self, now: Instant, imei: &str) {
        let Some(mut upgrade) = self.upgrade_of(now, imei) else {
            return;
        };
        match upgrade.status {
            UpgradeStatus::Updating => {
                let token = upgrade.token.as_deref().and_then(decode_hex);
                let restored = token.and_then(|token| {
                    self.engine
                        .server()
                        .restore_observation(imei, firmware(STATE), token)
                        .ok()
                });
                if restored.is_none() {
                    self.attempt_failed(now, upgrade, None, "no observation to report on");
                }
            }
            UpgradeStatus::Downloading => {
                upgrade.status = UpgradeStatus::Waiting;
                upgrade.attempts = upgrade.attempts.saturating_sub(1);
                self.fota_ops.retain(|_, (i, _)| i != imei);
                self.save_upgrade(now, upgrade, "registered again during the download");
            }
            _ => {}
        }
    }

    /// Sends an upgrade's next operation, or keeps it until the device's operation in flight is
    /// done.
    pub(super) fn fota_step(&mut self, now: Instant, imei: &str, step: Step) {
        if self.device_busy(imei) {
            self.fota_deferred.insert(imei.to_string(), step);
            return;
        }
        let (path, operation) = match step {
            Step::Observe => (STATE, Operation::Observe { accept: None }),
            Step::WriteUri => {
                let Some(upgrade) = self.upgrade_of(now, imei) else {
                    return;
                };
                let uri = {
                    let state = lock(&self.state);
                    let task = state.task(self.flavour, &upgrade.task);
                    task.and_then(|t| state.package(self.flavour, &t.package))
                        .map(|p| p.uri())
                };
                let Some(uri) = uri else {
                    return self.attempt_failed(now, upgrade, None, "its package is gone");
                };
                let write = Operation::Write {
                    format: TEXT,
                    payload: uri.into_bytes(),
                    replace: true,
                };
                (PACKAGE_URI, write)
            }
            Step::Execute => (UPDATE, Operation::Execute { arguments: vec![] }),
            Step::ReadState => (STATE, Operation::Read { accept: None }),
            Step::ReadResult => (UPDATE_RESULT, Operation::Read { accept: None }),
            Step::Cancel => (STATE, Operation::CancelObserve),
        };
        let server = self.engine.server();
        if let Ok(operation) = server.operate(now, imei, firmware(path), operation) {
            self.fota_ops.insert(operation, (imei.to_string(), step));
        }
    }

    /// Whether an operation for the device is in flight.
    fn device_busy(&self, imei: &str) -> bool {
        self.observations.values().any(|i| i == imei)
            || self.writes.values().any(|(i, _)| i == imei)
            || self.fota_ops.values().any(|(i, _)| i == imei)
    }

    /// Sends what waited for the device's operation in flight.
    pub(super) fn fota_continue(&mut self, now: Instant, imei: &str) {
        if let Some(step) = self.fota_deferred.remove(imei) {
            self.fota_step(now, imei, step);
        }
    }

    /// The outcome of an upgrade's operation; returns whether `operation` was one.
    pub(super) fn fota_completed(
        &mut self,
        now: Instant,
        operation: OperationId,
        result: &Result<Response, ExchangeError>,
    ) -> bool {
        let Some((imei, step)) = self.fota_ops.remove(&operation) else {
            return false;
        };
        let ok = result.as_ref().is_ok_and(Response::is_success);
        let upgrade = self.upgrade_of(now, &imei);
        match (step, upgrade) {
            (Step::Cancel, _) | (_, None) => {}
            (_, Some(upgrade)) if !ok => {
                let why = format!("{step:?} of /5/0/* failed");
                self.attempt_failed(now, upgrade, None, &why);
            }
            (Step::Observe, Some(_)) => self.fota_step(now, &imei, Step::WriteUri),
            (Step::WriteUri, Some(upgrade)) => {
                self.save_upgrade(now, upgrade, "package URI written")
            }
            (Step::Execute, Some(mut upgrade)) => {
                let server = self.engine.server_ref();
                upgrade.token = server
                    .saved_observation(&imei, firmware(STATE))
                    .map(|t| hex(&t));
                upgrade.status = UpgradeStatus::Updating;
                self.save_upgrade(now, upgrade, "update executed");
            }
            (Step::ReadState, Some(upgrade)) => {
                match result.as_ref().ok().and_then(|r| small_number(&r.payload)) {
                    Some(state) => self.follow_state(now, upgrade, state),
                    None => self.attempt_failed(now, upgrade, None, "/5/0/3 read as no state"),
                }
            }
            (Step::ReadResult, Some(upgrade)) => {
                let value = result.as_ref().ok().and_then(|r| small_number(&r.payload));
                self.result_read(now, upgrade, value);
            }
        }
        self.fota_continue(now, &imei);
        true
    }

    /// A notification of /5/0/3: the device's firmware update state.
    pub(super) fn fota_state(&mut self, now: Instant, imei: &str, response: &Response) {
        let (Some(state), Some(upgrade)) =
            (small_number(&response.payload), self.upgrade_of(now, imei))
        else {
            return;
        };
        self.follow_state(now, upgrade, state);
    }

    /// The device's firmware update state, notified or read: the upgrade's next step.
    fn follow_state(&mut self, now: Instant, upgrade: Upgrade, state: u8) {
        let imei = upgrade.imei.clone();
        match (upgrade.status, state) {
            (UpgradeStatus::Downloading, DOWNLOADING) => {
                self.save_upgrade(now, upgrade, "the device downloads")
            }
            (UpgradeStatus::Downloading, DOWNLOADED) => {
                self.save_upgrade(now, upgrade, "downloaded: executing /5/0/2");
                self.fota_step(now, &imei, Step::Execute);
            }
            (UpgradeStatus::Downloading, IDLE) | (UpgradeStatus::Updating, IDLE | DOWNLOADED) => {
                self.fota_step(now, &imei, Step::ReadResult)
            }
            _ => {}
        }
    }

    /// /5/0/5 was read: an update that reports success succeeded; anything else failed.
    fn result_read(&mut self, now: Instant, mut upgrade: Upgrade, value: Option<u8>) {
        let imei = upgrade.imei.clone();
        if upgrade.status == UpgradeStatus::Updating && value == Some(SUCCESS) {
            upgrade.status = UpgradeStatus::Succeeded;
            upgrade.result = value;
            upgrade.token = None;
            self.save_upgrade(now, upgrade, "succeeded (result 1)");
        } else {
            let why = format!(
                "failed (result {})",
                value.map_or("?".into(), |v| v.to_string())
            );
            self.attempt_failed(now, upgrade, value, &why);
        }
        self.fota_step(now, &imei, Step::Cancel);
    }

    /// An attempt failed: tried again later if the task's retries allow, else failed.
    fn attempt_failed(
        &mut self,
        now: Instant,
        mut upgrade: Upgrade,
        result: Option<u8>,
        why: &str,
    ) {
        let task = lock(&self.state).task(self.flavour, &upgrade.task).cloned();
        let (retries, after) = task.map_or((0, 0), |t| (t.retries, t.retry_after_s));
        upgrade.result = result.or(upgrade.result);
        upgrade.token = None;
        if upgrade.attempts <= retries {
            upgrade.status = UpgradeStatus::Waiting;
            upgrade.retry_at_ms = (now + Duration::from_secs(after)).unix_millis();
        } else {
            upgrade.status = UpgradeStatus::Failed;
        }
        let note = format!("{why}; now {}", upgrade.status.as_str());
        self.save_upgrade(now, upgrade, &note);
    }

    /// A request for a package (`GET /fota/<id>`, block by block): answered from the stored
    /// package, whose later blocks the CoAP endpoint serves from the kept response.
    pub(super) fn serve_package(
        &mut self,
        now: Instant,
        id: IncomingId,
        address: SocketAddr,
        request: &Request,
    ) {
        let package = match request.path.as_slice() {
            [root, package] if root == FOTA_PATH => {
                lock(&self.state).package(self.flavour, package).cloned()
            }
            _ => None,
        };
        let response = match (request.method, &package) {
            (Method::Get, Some(package)) => {
                Response::new(Status::Content).with_payload(OPAQUE, package.bytes.as_slice())
            }
            (Method::Get, None) => Response::new(Status::NotFound),
            _ => Response::new(Status::MethodNotAllowed),
        };
        let verdict = match response.is_success() {
            true => Verdict::Accepted,
            false => Verdict::Rejected,
        };
        let mut fields = Map::new();
        fields.insert("path".into(), json!(request.path_text()));
        let record = RequestRecord::new(self.flavour.server(), now, address, "download")
            .verdict(verdict, Some(response.status_text()))
            .fields(fields);
        self.submit(Write::Record(record));
        self.engine.server().respond(now, id, response);
    }
}
