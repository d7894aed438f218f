//! The engine's side of the operations asked through the API ([`super::super::operation`]): sent
//! in the device's next contact, one LwM2M operation each, settled by the device's answer; an
//! observation's notifications update it. And the device's object tree, as it registered it.

use super::CtIotEngine;
use crate::lock;
use nbmodem_clock::Instant;
use nbmodem_coap::{ExchangeError, Response};
use nbmodem_lwm2m::content::Path as Lwm2mPath;
use nbmodem_lwm2m::server::OperationId;

use super::super::operation::OperationStatus;

impl CtIotEngine {
    /// The paths of the objects and instances the device registered with (`/3/0`, `/19`).
    pub fn objects(&self, imei: &str) -> Option<Vec<String>> {
        let registration = self.engine.server_ref().registration(imei)?;
        let paths = registration
            .objects
            .iter()
            .map(|(object, instance)| match instance {
                Some(instance) => format!("/{object}/{instance}"),
                None => format!("/{object}"),
            });
        Some(paths.collect())
    }

    /// Sends the device's queued operations (it is in contact now).
    pub(super) fn send_operations(&mut self, now: Instant, imei: &str) {
        let queued = lock(&self.state).queued_operations(self.flavour, imei);
        for operation in queued {
            let sent = operation.lwm2m().and_then(|(path, lwm2m)| {
                self.engine
                    .server()
                    .operate(now, imei, path, lwm2m)
                    .map_err(|e| format!("{e:?}"))
            });
            let now_ms = now.unix_millis();
            lock(&self.state).update_operation(self.flavour, imei, operation.id, |op| {
                op.updated_ms = now_ms;
                match &sent {
                    Ok(_) => op.status = OperationStatus::Sent,
                    Err(reason) => {
                        op.status = OperationStatus::Failed;
                        op.code = Some(reason.clone());
                    }
                }
            });
            if let Ok(id) = sent {
                self.api_operations
                    .insert(id, (imei.to_string(), operation.id));
            }
        }
    }

    /// Settles the operation `operation` answered, if it was one asked through the API.
    pub(super) fn operation_completed(
        &mut self,
        now: Instant,
        operation: OperationId,
        result: &Result<Response, ExchangeError>,
    ) -> bool {
        let Some((imei, id)) = self.api_operations.remove(&operation) else {
            return false;
        };
        let mut asked = None;
        lock(&self.state).update_operation(self.flavour, &imei, id, |op| {
            op.settle(now.unix_millis(), result);
            asked = Some((op.kind, op.path.clone()));
        });
        if let Some((kind, path)) = asked {
            let name = format!("{kind:?}").to_lowercase();
            self.record_operation(now, &imei, &name, &path, result);
        }
        true
    }

    /// A notification of a path some operation observes: the newest such operation shows it.
    pub(super) fn operation_notified(
        &mut self,
        now: Instant,
        imei: &str,
        path: &Lwm2mPath,
        response: &Response,
    ) {
        let mut state = lock(&self.state);
        let observing = state.operations(self.flavour, imei).into_iter().find(|op| {
            op.kind == super::super::operation::OperationKind::Observe
                && op.path.parse::<Lwm2mPath>().ok().as_ref() == Some(path)
        });
        if let Some(op) = observing {
            state.update_operation(self.flavour, imei, op.id, |op| {
                op.notified(now.unix_millis(), response);
            });
        }
    }
}
