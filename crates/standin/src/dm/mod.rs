//! The China Mobile CMDMP DM server (protocols.md §3): an LwM2M server that admits only devices
//! whose encrypted endpoint name decrypts with the password of an issued app key
//! ([`admission`]), reads `/666/0` after each registration and stores the decrypted device
//! information ([`info`]). A sans-IO node around [`Lwm2mServer`]; every request and every Read is
//! recorded, and drop, reject and delay faults apply.

mod admission;
mod info;

pub use info::resource_name;

use crate::fault::{join_faults, Faults};
use crate::lock;
use crate::peek::{excerpt, malformed_fields, other_fields, Datagram, Incoming};
use crate::record::{RequestRecord, Server, Verdict};
use crate::shell::Engine;
use crate::write::Write;
use admission::{policy, Note, Shared};
use nbmodem_clock::Instant;
use nbmodem_coap::{EndpointConfig, ExchangeError, Method, Request, Response, Status};
use nbmodem_lwm2m::content::Path as Lwm2mPath;
use nbmodem_lwm2m::server::{Lwm2mServer, Operation, OperationId, ServerEvent};
use nbmodem_net::{DatagramNode, Transmit};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Where the DM server finds the password issued for an app key (the platform's store). An
/// error is the reason the password cannot be had now.
pub trait AppKeys: Send {
    fn password(&self, app_key: &str) -> Result<Option<String>, String>;
}

/// What the DM server knows about a device: who it is and the decrypted values of object 666.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmDevice {
    pub app_key: String,
    pub imei: String,
    pub imei2: String,
    pub imsi: String,
    pub endpoint: String,
    /// Resource name (`mac`, `rom`, …) → decrypted value.
    pub info: BTreeMap<String, String>,
    /// When the values were read, in milliseconds since the Unix epoch.
    pub read_ms: u64,
}

/// A Read of /666/0 in flight: for whom, and where the device is.
struct PendingRead {
    endpoint: String,
    address: SocketAddr,
}

/// The DM server's engine: the LwM2M server, its admission policy and the reads of /666/0.
pub struct DmEngine {
    server: Lwm2mServer,
    shared: Arc<Mutex<Shared>>,
    /// Records and devices to store, in order.
    writes: VecDeque<Write>,
    reads: HashMap<OperationId, PendingRead>,
}

impl DmEngine {
    /// A DM server finding app keys' passwords in `keys`.
    pub fn new(keys: Box<dyn AppKeys>, coap: EndpointConfig) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            keys,
            faults: Faults::default(),
            note: None,
        }));
        let mut server = Lwm2mServer::new(coap);
        server.set_policy(policy(Arc::clone(&shared)));
        DmEngine {
            server,
            shared,
            writes: VecDeque::new(),
            reads: HashMap::new(),
        }
    }

    fn record(&mut self, record: RequestRecord) {
        self.writes.push_back(Write::Record(record));
    }

    /// Hands a datagram to the LwM2M server, records the request it carried and acts on events.
    /// The engine says what it answered (a retransmission it answers from its cache it does not
    /// report, so each exchange is recorded once).
    fn process(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        peeked: Datagram,
        delay: Option<String>,
    ) {
        self.server.handle_datagram(now, from, datagram);
        let note = lock(&self.shared).note.take();
        match peeked {
            Datagram::Request(incoming) => {
                let answered = self.handle_events(now);
                if let Some(status) = answered {
                    self.record_exchange(now, from, &incoming, status, note, delay);
                }
            }
            Datagram::Malformed => {
                self.record(malformed(now, from, datagram));
                self.handle_events(now);
            }
            Datagram::Other | Datagram::Notification { .. } => {
                self.handle_events(now);
            }
        }
    }

    /// Records a request the LwM2M server answered with `status`, with what its policy noted.
    fn record_exchange(
        &mut self,
        now: Instant,
        from: SocketAddr,
        incoming: &Incoming,
        status: Status,
        note: Option<Note>,
        delay: Option<String>,
    ) {
        let (operation, mut fields) = describe(&incoming.request);
        let verdict = if status.is_error() {
            Verdict::Rejected
        } else {
            Verdict::Accepted
        };
        let status = Some(nbmodem_coap::Response::new(status).status_text());
        let policy_fault = note.as_ref().and_then(|n| n.fault.clone());
        fields.extend(note.map(|n| n.fields).unwrap_or_default());
        let record = RequestRecord::new(Server::Dm, now, from, operation)
            .verdict(verdict, status)
            .fault(join_faults(delay, policy_fault))
            .fields(fields);
        self.record(record);
    }

    /// Acts on the LwM2M server's events; returns the status it answered a client's request
    /// with, if it answered one.
    fn handle_events(&mut self, now: Instant) -> Option<Status> {
        let mut answered = None;
        while let Some(event) = self.server.poll_event() {
            match event {
                ServerEvent::Registered { endpoint, .. } => self.start_read(now, endpoint),
                ServerEvent::Completed {
                    operation, result, ..
                } => self.finish_read(now, operation, result),
                ServerEvent::Answered { status, .. } => answered = Some(status),
                _ => {}
            }
        }
        answered
    }

    /// Reads /666/0 of a device that just registered.
    fn start_read(&mut self, now: Instant, endpoint: String) {
        let Some(address) = self.server.registration(&endpoint).map(|r| r.address) else {
            return;
        };
        let Ok(path) = Lwm2mPath::new(&[666, 0]) else {
            return;
        };
        let read = Operation::Read {
            accept: Some(info::TLV),
        };
        if let Ok(operation) = self.server.operate(now, &endpoint, path, read) {
            self.reads
                .insert(operation, PendingRead { endpoint, address });
        }
    }

    fn finish_read(
        &mut self,
        now: Instant,
        operation: OperationId,
        result: Result<Response, ExchangeError>,
    ) {
        let Some(read) = self.reads.remove(&operation) else {
            return;
        };
        let outcome = info::interpret(
            lock(&self.shared).keys.as_ref(),
            &read.endpoint,
            now,
            result,
        );
        if let Some(device) = outcome.device {
            self.writes.push_back(Write::Device(device));
        }
        let mut fields = outcome.fields;
        fields.insert("path".into(), json!("/666/0"));
        let record = RequestRecord::new(Server::Dm, now, read.address, "read")
            .verdict(outcome.verdict, outcome.status)
            .fields(fields);
        self.record(record);
    }

    fn record_dropped(&mut self, now: Instant, from: SocketAddr, request: &Request, fault: String) {
        let (operation, fields) = describe(request);
        let record = RequestRecord::new(Server::Dm, now, from, operation)
            .verdict(Verdict::Dropped, None)
            .fault(Some(fault))
            .fields(fields);
        self.record(record);
    }
}

/// The operation of a request to the DM server and its fields: path, query items, payload.
fn describe(request: &Request) -> (&'static str, Map<String, Value>) {
    let path: Vec<&str> = request.path.iter().map(String::as_str).collect();
    let operation = match (request.method, path.as_slice()) {
        (Method::Post, ["rd"]) => "register",
        (Method::Post, ["rd", _]) => "update",
        (Method::Delete, ["rd", _]) => "deregister",
        _ => return ("other", other_fields(request)),
    };
    let query: Map<String, Value> = request
        .query
        .iter()
        .map(|item| match item.split_once('=') {
            Some((key, value)) => (key.to_string(), json!(value)),
            None => (item.clone(), Value::Null),
        })
        .collect();
    let mut fields = Map::new();
    fields.insert("path".into(), json!(request.path_text()));
    fields.insert("query".into(), Value::Object(query));
    if !request.payload.is_empty() {
        fields.insert("payload".into(), json!(excerpt(&request.payload)));
    }
    (operation, fields)
}

fn malformed(now: Instant, from: SocketAddr, datagram: &[u8]) -> RequestRecord {
    RequestRecord::new(Server::Dm, now, from, "malformed")
        .verdict(Verdict::Rejected, None)
        .fields(malformed_fields(datagram))
}

impl Engine for DmEngine {
    fn handle(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        peeked: Datagram,
        delay: Option<String>,
    ) {
        self.process(now, from, datagram, peeked, delay);
    }

    fn dropped(&mut self, now: Instant, from: SocketAddr, peeked: Datagram, fault: String) {
        if let Datagram::Request(incoming) = peeked {
            self.record_dropped(now, from, &incoming.request, fault);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
        self.handle_events(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.server.poll_transmit()
    }

    fn poll_write(&mut self) -> Option<Write> {
        self.writes.pop_front()
    }

    fn faults(&self) -> Faults {
        lock(&self.shared).faults
    }

    fn with_faults(&mut self, change: &mut dyn FnMut(&mut Faults)) {
        change(&mut lock(&self.shared).faults)
    }
}
