//! The console's live events: what the writers committed, as small JSON objects sent to every
//! open page over server-sent events (`GET /api/events`, docs/api.md).
//!
//! Every writer of the platforms (each server's, the API's) is given the same [`Events`]
//! observer: called on the writer's thread once a batch is durable, it maps each write to a
//! [`ConsoleEvent`] and hands it to a `tokio::sync::broadcast` channel. Sending never waits: a page
//! that reads too slowly loses the oldest events it has not read (it is told, `lagged`, and
//! fetches what it shows again), and no page ever holds a writer up.

use crate::ctiot::Flavour;
use crate::record::Server;
use crate::writer::Observer;
use crate::Write;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::broadcast;

/// How many events a page may fall behind before it loses some.
const BACKLOG: usize = 1024;

/// One event: what changed, and for whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsoleEvent {
    /// `uplink`, `downlink`, `device`, `product`, `record`, `fota` or `lagged`.
    pub kind: &'static str,
    /// The CT IoT platform concerned (`iot` or `aep`), if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flavour: Option<Flavour>,
    /// The server that wrote it (records, DM devices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<Server>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    /// What the event says in a word or two: a record's operation, a downlink's status, which
    /// DFOTA object changed (`package`, `task`, `upgrade`, `key`), `removed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The uplink's, downlink's, product's, task's or package's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl ConsoleEvent {
    fn new(kind: &'static str) -> Self {
        ConsoleEvent {
            kind,
            flavour: None,
            server: None,
            imei: None,
            detail: None,
            id: None,
        }
    }

    fn flavour(mut self, flavour: Flavour) -> Self {
        self.flavour = Some(flavour);
        self.server = Some(flavour.server());
        self
    }

    fn imei(mut self, imei: &str) -> Self {
        self.imei = Some(imei.to_string());
        self
    }

    fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    fn id(mut self, id: impl ToString) -> Self {
        self.id = Some(id.to_string());
        self
    }

    /// The event of a page that fell `missed` events behind.
    pub fn lagged(missed: u64) -> Self {
        ConsoleEvent::new("lagged").detail(format!("{missed} events missed"))
    }

    /// The event a committed write makes.
    pub fn of(write: &Write) -> Self {
        use crate::ctiot::fota::Task;
        match write {
            Write::Record(record) => {
                let mut event = ConsoleEvent::new("record").detail(&record.operation);
                event.server = Some(record.server);
                event.flavour = flavour_of(record.server);
                event.imei = ["imei", "endpoint"]
                    .iter()
                    .find_map(|key| record.fields.get(key)?.as_str())
                    .map(str::to_string);
                event
            }
            Write::Device(device) => {
                let mut event = ConsoleEvent::new("device").imei(&device.imei);
                event.server = Some(Server::Dm);
                event
            }
            Write::Product(product) => ConsoleEvent::new("product")
                .flavour(product.flavour)
                .id(&product.id),
            Write::CtIotDevice(device) => ConsoleEvent::new("device")
                .flavour(device.flavour)
                .imei(&device.imei),
            Write::RemoveCtIotDevice(flavour, imei) => ConsoleEvent::new("device")
                .flavour(*flavour)
                .imei(imei)
                .detail("removed"),
            Write::Uplink(uplink) => ConsoleEvent::new("uplink")
                .flavour(uplink.flavour)
                .imei(&uplink.imei)
                .id(uplink.id),
            Write::Downlink(downlink) => ConsoleEvent::new("downlink")
                .flavour(downlink.flavour)
                .imei(&downlink.imei)
                .id(downlink.id)
                .detail(downlink.status.as_str()),
            Write::FotaPackage(package) => fota(package.flavour, "package").id(&package.id),
            Write::FotaTask(Task { flavour, id, .. }) => fota(*flavour, "task").id(id),
            Write::FotaUpgrade(upgrade) => fota(upgrade.flavour, "upgrade")
                .imei(&upgrade.imei)
                .id(&upgrade.task),
            Write::FotaKey(key) => fota(key.flavour, "key").id(&key.manufacturer),
            Write::RemoveFotaKey(flavour, manufacturer) => fota(*flavour, "key").id(manufacturer),
        }
    }
}

fn fota(flavour: Flavour, what: &str) -> ConsoleEvent {
    ConsoleEvent::new("fota").flavour(flavour).detail(what)
}

/// The CT IoT platform a server is, if it is one.
fn flavour_of(server: Server) -> Option<Flavour> {
    match server {
        Server::Iot => Some(Flavour::Iot),
        Server::Aep => Some(Flavour::Aep),
        Server::Ct | Server::Cu | Server::Dm => None,
    }
}

/// The channel every writer sends its committed writes to, and every page listens on.
#[derive(Debug, Clone)]
pub struct Events {
    sender: broadcast::Sender<ConsoleEvent>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            sender: broadcast::channel(BACKLOG).0,
        }
    }
}

impl Events {
    /// The observer to give a writer: each committed write becomes an event for every listener
    /// (none listening: it is dropped).
    pub fn observer(&self) -> Observer {
        let sender = self.sender.clone();
        Arc::new(move |write: &Write| {
            let _ = sender.send(ConsoleEvent::of(write));
        })
    }

    /// A new listener, hearing of the events sent from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ConsoleEvent> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctiot::{Downlink, DownlinkStatus, Uplink};
    use crate::RequestRecord;
    use nbmodem_clock::Instant;
    use serde_json::json;

    const IMEI: &str = "860000000000017";

    fn uplink() -> Write {
        Write::Uplink(Uplink {
            id: 7,
            flavour: Flavour::Aep,
            imei: IMEI.into(),
            time_ms: 1,
            time: "1970-01-01T00:00:00.001Z".into(),
            data: vec![0, 1],
            confirmable: false,
            sequence: 0,
            decoded: None,
            decode_error: None,
        })
    }

    #[test]
    fn an_uplink_is_told_with_its_platform_device_and_id() {
        let event = serde_json::to_value(ConsoleEvent::of(&uplink())).unwrap();
        let expected =
            json!({"kind": "uplink", "flavour": "aep", "server": "aep", "imei": IMEI, "id": "7"});
        assert_eq!(event, expected);
    }

    #[test]
    fn a_downlink_says_its_status() {
        let downlink = Write::Downlink(Downlink {
            id: 3,
            flavour: Flavour::Iot,
            imei: IMEI.into(),
            data: vec![1],
            status: DownlinkStatus::Delivered,
            queued_ms: 0,
            updated_ms: 0,
            attempts: 1,
            command: None,
            response: None,
        });
        let event = ConsoleEvent::of(&downlink);
        assert_eq!(event.kind, "downlink");
        assert_eq!(event.detail.as_deref(), Some("delivered"));
        assert_eq!(event.flavour, Some(Flavour::Iot));
    }

    #[test]
    fn a_record_names_its_server_and_the_device_its_fields_name() {
        let source = "127.0.0.1:1".parse().unwrap();
        let mut record = RequestRecord::new(
            Server::Iot,
            Instant::from_unix_millis(0),
            source,
            "register",
        );
        record.fields = json!({"endpoint": IMEI});
        let event = ConsoleEvent::of(&Write::Record(record.clone()));
        assert_eq!(
            (event.kind, event.server, event.flavour),
            ("record", Some(Server::Iot), Some(Flavour::Iot))
        );
        assert_eq!(event.imei.as_deref(), Some(IMEI));
        record.server = Server::Ct;
        record.fields = json!({});
        let event = ConsoleEvent::of(&Write::Record(record));
        assert_eq!((event.flavour, event.imei), (None, None));
    }

    #[test]
    fn a_listener_that_falls_behind_loses_events_and_never_holds_the_sender_up() {
        let events = Events::default();
        let mut slow = events.subscribe();
        let observe = events.observer();
        for _ in 0..BACKLOG + 10 {
            observe(&uplink());
        }
        assert!(matches!(
            slow.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(10))
        ));
        assert_eq!(slow.try_recv().unwrap().kind, "uplink");
    }

    #[test]
    fn sending_with_no_listener_is_no_error() {
        Events::default().observer()(&uplink());
    }
}
