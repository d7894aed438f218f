//! One CT IoT platform address as a sans-IO node: an [`Lwm2mServer`], behind DTLS on the secure
//! address, that admits the platform's devices, observes their /19/0/0, stores their uplinks and
//! writes their downlinks. Every Register, Update and De-register is recorded; uplinks and
//! downlinks have tables of their own. What the node sends waits until what it wrote before is
//! durable, so an uplink is acknowledged only once it is stored. The node looks at what the
//! device sent (uplink faults, records) in plaintext: on the secure address, after DTLS
//! decrypted it ([`Inbox`]). Devices are reached only in contact: a downlink waits for the
//! device's next message and goes out as the node handles it. Firmware upgrades and the
//! packages they download are in [`upgrade`].

mod operations;
mod upgrade;

use super::codec;
use super::state::SharedState;
use super::{Downlink, DownlinkStatus, Flavour, Uplink, DOWNLINK_ATTEMPTS, REPLY};
use crate::fault::{join_faults, Faults};
use crate::lock;
use crate::peek::{excerpt, is_empty_ack, malformed_fields, other_fields, peek, Datagram};
use crate::record::{RequestRecord, Verdict};
use crate::shell::Engine as StandInEngine;
use crate::write::Write;
use nbmodem_clock::Instant;
use nbmodem_coap::{EndpointConfig, ExchangeError, Request, Response, Status};
use nbmodem_codec::Command;
use nbmodem_dtls::secure::{Role, SecureNode};
use nbmodem_dtls::{PskLookup, SecureEvent};
use nbmodem_lwm2m::content::Path as Lwm2mPath;
use nbmodem_lwm2m::server::{
    Admission, ClientRequest, Lwm2mServer, Operation, OperationId, QueueMode, ServerEvent,
};
use nbmodem_net::{DatagramNode, Transmit};
use nbmodem_operators::ctiot::{DOWNLINK, UPLINK};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Content-Format application/octet-stream.
const OPAQUE: u16 = 42;

/// How long a withheld acknowledgement stays withheld: the device's exchange is over by then.
const WITHHOLD_FOR: Duration = Duration::from_secs(247);

fn uplink_path() -> Lwm2mPath {
    Lwm2mPath::new(&UPLINK).expect("a valid path")
}

fn downlink_path() -> Lwm2mPath {
    Lwm2mPath::new(&DOWNLINK).expect("a valid path")
}

/// The LwM2M server as the layer below it (the socket, or DTLS) sees it. A datagram handed to it
/// (decrypted, on the secure address) is only kept, so that the node looks at the plaintext
/// (faults, records) before the server takes it; what the server sends passes the `noack`
/// fault's filter before it is encrypted.
struct Inbox {
    server: Lwm2mServer,
    received: VecDeque<(SocketAddr, Vec<u8>)>,
    /// Acknowledgements a `noack` fault withholds: to whom, of which message, until when.
    withheld: Vec<(SocketAddr, u16, Instant)>,
}

impl Inbox {
    /// Whether `transmit` is an acknowledgement a `noack` fault withholds.
    fn is_withheld(&self, transmit: &Transmit) -> bool {
        self.withheld.iter().any(|(peer, mid, _)| {
            *peer == transmit.destination && is_empty_ack(&transmit.payload, *mid)
        })
    }
}

impl DatagramNode for Inbox {
    fn handle_datagram(&mut self, _now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.received.push_back((from, datagram.to_vec()));
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        loop {
            let transmit = self.server.poll_transmit()?;
            if !self.is_withheld(&transmit) {
                return Some(transmit);
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
    }
}

/// The LwM2M server, plain or behind DTLS.
enum Engine {
    Plain(Box<Inbox>),
    Secure(Box<SecureNode<Inbox>>),
}

impl Engine {
    fn inbox(&mut self) -> &mut Inbox {
        match self {
            Engine::Plain(inbox) => inbox,
            Engine::Secure(node) => node.inner_mut(),
        }
    }

    fn server(&mut self) -> &mut Lwm2mServer {
        &mut self.inbox().server
    }

    fn server_ref(&self) -> &Lwm2mServer {
        match self {
            Engine::Plain(inbox) => &inbox.server,
            Engine::Secure(node) => &node.inner().server,
        }
    }

    fn node(&mut self) -> &mut dyn DatagramNode {
        match self {
            Engine::Plain(inbox) => inbox.as_mut(),
            Engine::Secure(node) => node.as_mut(),
        }
    }

    fn node_ref(&self) -> &dyn DatagramNode {
        match self {
            Engine::Plain(inbox) => inbox.as_ref(),
            Engine::Secure(node) => node.as_ref(),
        }
    }
}

/// Why the admission policy refused, for the record.
type Refusal = Arc<Mutex<Option<(String, Option<String>)>>>;

/// The engine of one CT IoT platform address.
pub struct CtIotEngine {
    flavour: Flavour,
    secure: bool,
    engine: Engine,
    state: SharedState,
    /// What to store, in order.
    to_store: VecDeque<Write>,
    refusal: Refusal,
    /// The /19/0/0 observations asked for, by operation.
    observations: HashMap<OperationId, String>,
    /// The downlinks on their way, by operation: the IMEI and the downlink's id.
    writes: HashMap<OperationId, (String, u64)>,
    /// Whether the datagram being handled is a confirmable notification.
    confirmable_uplink: bool,
    /// The upgrades' operations in flight: the IMEI and the step.
    fota_ops: HashMap<OperationId, (String, upgrade::Step)>,
    /// Upgrade steps waiting for a device's operation in flight, by IMEI.
    fota_deferred: HashMap<String, upgrade::Step>,
    /// The operations asked through the API in flight: the IMEI and the operation's id.
    api_operations: HashMap<OperationId, (String, u64)>,
}

impl CtIotEngine {
    /// The `flavour` platform's plain (or, with `secure`, DTLS) address, sharing `state` with
    /// the other nodes.
    pub fn new(flavour: Flavour, secure: bool, state: SharedState, coap: EndpointConfig) -> Self {
        let refusal = Refusal::default();
        let mut server = Lwm2mServer::new(coap);
        server.set_policy(policy(
            flavour,
            secure,
            Arc::clone(&state),
            Arc::clone(&refusal),
        ));
        // Reachable only in contact: what the platform starts then goes out at once; anything
        // later waits in the server for the device's next message.
        server.set_queue_mode(QueueMode {
            all_clients: true,
            awake_time: Duration::ZERO,
        });
        server.serve_paths(&[super::fota::FOTA_PATH]);
        let inbox = Inbox {
            server,
            received: VecDeque::new(),
            withheld: Vec::new(),
        };
        let engine = if secure {
            let role = Role::Server {
                lookup: psk_lookup(flavour, Arc::clone(&state)),
            };
            let config = nbmodem_dtls::Config {
                seed: coap.seed,
                ..Default::default()
            };
            Engine::Secure(Box::new(SecureNode::new(inbox, role).with_config(config)))
        } else {
            Engine::Plain(Box::new(inbox))
        };
        CtIotEngine {
            flavour,
            secure,
            engine,
            state,
            to_store: VecDeque::new(),
            refusal,
            observations: HashMap::new(),
            writes: HashMap::new(),
            confirmable_uplink: false,
            fota_ops: HashMap::new(),
            fota_deferred: HashMap::new(),
            api_operations: HashMap::new(),
        }
    }

    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// How many devices are registered here.
    pub fn registrations(&self) -> usize {
        self.engine.server_ref().registration_count()
    }

    fn submit(&mut self, write: Write) {
        self.to_store.push_back(write);
    }

    /// Hands a datagram to the server and acts on what it did. On the plain address the
    /// datagram is the plaintext, served with the look the shell took at it; on the secure
    /// address DTLS decrypts it first, and each plaintext that came of it is looked at.
    fn process(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        peeked: Datagram,
        delay: Option<String>,
    ) {
        match &mut self.engine {
            Engine::Plain(_) => self.serve(now, from, datagram, peeked, delay),
            Engine::Secure(node) => {
                node.handle_datagram(now, from, datagram);
                self.take_received(now, delay);
            }
        }
    }

    /// The plaintexts the engine received: each looked at once, for the faults and the records,
    /// before the server takes it. The sessions' news comes first: the admission policy needs
    /// the identity a peer just proved.
    fn take_received(&mut self, now: Instant, delay: Option<String>) {
        while let Some(event) = self.secure_event() {
            self.follow_session(event);
        }
        while let Some((from, plaintext)) = self.engine.inbox().received.pop_front() {
            let peeked = peek(&plaintext);
            self.serve(now, from, &plaintext, peeked, delay.clone());
        }
        self.handle_events(now, None, delay);
    }

    /// Hands a plaintext (`peeked`: what it was seen to be) to the server, after the uplink
    /// faults, and records it if it is not CoAP.
    fn serve(
        &mut self,
        now: Instant,
        from: SocketAddr,
        plaintext: &[u8],
        peeked: Datagram,
        delay: Option<String>,
    ) {
        self.confirmable_uplink = false;
        if let Datagram::Notification { confirmable, mid } = peeked {
            self.confirmable_uplink = confirmable;
            self.apply_uplink_faults(now, from, confirmable, mid);
        }
        self.engine.server().handle_datagram(now, from, plaintext);
        if let Datagram::Malformed = peeked {
            let record = RequestRecord::new(self.flavour.server(), now, from, "malformed")
                .verdict(Verdict::Rejected, None)
                .fields(malformed_fields(plaintext));
            self.submit(Write::Record(record));
        }
        let request = match peeked {
            Datagram::Request(incoming) => Some(incoming.request),
            _ => None,
        };
        self.handle_events(now, request.as_ref(), delay);
    }

    /// `reset`: the platform forgets the device's observation, so this uplink gets a Reset;
    /// `noack`: its acknowledgement is withheld.
    fn apply_uplink_faults(&mut self, now: Instant, from: SocketAddr, confirmable: bool, mid: u16) {
        let withheld = &mut self.engine.inbox().withheld;
        withheld.retain(|(_, _, until)| *until > now);
        let Some(imei) = self.engine.server_ref().endpoint_at(from).map(String::from) else {
            return;
        };
        let (reset, noack) = {
            let mut state = lock(&self.state);
            let faults = state.faults_mut(self.flavour);
            let reset = faults.take_reset();
            (reset, !reset && confirmable && faults.take_noack())
        };
        if reset {
            self.engine
                .server()
                .forget_observation(&imei, uplink_path());
            lock(&self.state).update_presence(self.flavour, &imei, |p| p.observed = false);
        }
        if noack {
            let withheld = &mut self.engine.inbox().withheld;
            withheld.push((from, mid, now + WITHHOLD_FOR));
        }
    }

    fn handle_events(&mut self, now: Instant, request: Option<&Request>, delay: Option<String>) {
        while let Some(event) = self.secure_event() {
            self.follow_session(event);
        }
        while let Some(event) = self.engine.server().poll_event() {
            match event {
                ServerEvent::Answered {
                    address,
                    request: kind,
                    endpoint,
                    status,
                    refusal,
                } => {
                    let answer = Answered {
                        address,
                        kind,
                        endpoint,
                        status,
                        refusal,
                    };
                    self.record_answer(now, answer, request, delay.clone());
                }
                ServerEvent::Registered { endpoint, location } => {
                    self.registered(now, &endpoint, location)
                }
                ServerEvent::Updated { endpoint } => {
                    self.heard(now, &endpoint);
                    self.send_queued(now, &endpoint);
                }
                ServerEvent::Deregistered { endpoint } | ServerEvent::Expired { endpoint } => {
                    lock(&self.state).update_presence(self.flavour, &endpoint, |p| {
                        p.registered = false;
                        p.observed = false;
                    });
                }
                ServerEvent::Completed {
                    operation, result, ..
                } => self.completed(now, operation, result),
                ServerEvent::Notification {
                    endpoint,
                    path,
                    response,
                    ..
                } if path == uplink_path() => self.uplink(now, &endpoint, &response),
                ServerEvent::Notification {
                    endpoint,
                    path,
                    response,
                    ..
                } if path == upgrade::firmware_state_path() => {
                    self.heard(now, &endpoint);
                    self.fota_state(now, &endpoint, &response)
                }
                ServerEvent::Notification {
                    endpoint,
                    path,
                    response,
                    ..
                } => self.operation_notified(now, &endpoint, &path, &response),
                ServerEvent::Request {
                    id,
                    address,
                    request,
                } => self.serve_package(now, id, address, &request),
            }
        }
    }

    fn secure_event(&mut self) -> Option<SecureEvent> {
        match &mut self.engine {
            Engine::Plain(_) => None,
            Engine::Secure(node) => node.poll_event(),
        }
    }

    /// Notes who a DTLS peer proved to be, for the admission policy.
    fn follow_session(&mut self, event: SecureEvent) {
        let Engine::Secure(node) = &self.engine else {
            return;
        };
        let (peer, identity) = match event {
            SecureEvent::Connected { peer } => (
                peer,
                node.peer_identity(peer)
                    .map(|id| String::from_utf8_lossy(id).into_owned()),
            ),
            SecureEvent::Failed { peer, .. } | SecureEvent::Closed { peer } => (peer, None),
        };
        lock(&self.state).set_identity(peer, identity);
    }

    /// A device registered: observe its /19/0/0, and send what waits for it.
    fn registered(&mut self, now: Instant, imei: &str, location: String) {
        let registration = self.engine.server_ref().registration(imei).cloned();
        let secure = self.secure;
        lock(&self.state).update_presence(self.flavour, imei, |p| {
            p.registered = true;
            p.observed = false;
            p.secure = secure;
            p.location = Some(location);
            p.address = registration.as_ref().map(|r| r.address);
            p.lifetime = registration.as_ref().map(|r| r.lifetime);
            p.last_seen_ms = Some(now.unix_millis());
        });
        let observe = Operation::Observe { accept: None };
        if let Ok(operation) = self
            .engine
            .server()
            .operate(now, imei, uplink_path(), observe)
        {
            self.observations.insert(operation, imei.to_string());
        }
        self.fota_registered(now, imei);
        self.send_queued(now, imei);
    }

    fn heard(&mut self, now: Instant, imei: &str) {
        lock(&self.state).update_presence(self.flavour, imei, |p| {
            p.last_seen_ms = Some(now.unix_millis())
        });
    }

    /// An uplink: decoded by the device's product's codec, stored (what is sent after it, its
    /// acknowledgement first, waits until it is durable), answered with `AAAA0000` if the device
    /// wants it, and the device's waiting downlinks sent. An uplink that answers a command ends
    /// that command.
    fn uplink(&mut self, now: Instant, imei: &str, response: &Response) {
        self.heard(now, imei);
        let (decoding, answered) = self.decode_uplink(imei, &response.payload);
        let uplink = Uplink {
            id: 0,
            flavour: self.flavour,
            imei: imei.to_string(),
            time_ms: now.unix_millis(),
            time: now.iso8601(),
            data: response.payload.clone(),
            confirmable: self.confirmable_uplink,
            sequence: response.observe.unwrap_or_default(),
            decoded: decoding.decoded,
            decode_error: decoding.error,
        };
        self.submit(Write::Uplink(uplink));
        if let (Some(id), Some(answer)) = (answered, decoding.answer) {
            self.update_downlink(now, imei, id, |d| {
                d.status = DownlinkStatus::Answered;
                d.response = Some(codec::response_json(&answer));
            });
        }
        let replies = lock(&self.state)
            .device(self.flavour, imei)
            .is_some_and(|d| d.reply);
        if replies {
            self.queue_downlink(now, imei, &REPLY);
        }
        self.send_queued(now, imei);
        self.fota_contact(now, imei);
    }

    /// What the device's product's codec makes of an uplink, and the downlink id of the command
    /// it answers, if it answers one. The codec runs outside the state's lock: a plug-in may take
    /// its whole work budget, and the API and the other address must not wait for it.
    fn decode_uplink(&self, imei: &str, bytes: &[u8]) -> (codec::Decoding, Option<u64>) {
        let (codec, waiting) = {
            let state = lock(&self.state);
            let codec = state.device_codec(self.flavour, imei);
            (codec, state.waiting_commands(self.flavour, imei))
        };
        let decoding = match codec {
            None => codec::Decoding::default(),
            Some(Err(reason)) => codec::Decoding {
                error: Some(format!("the product's codec does not load: {reason}")),
                ..codec::Decoding::default()
            },
            Some(Ok(codec)) => {
                let commands: Vec<Command> = waiting.iter().map(|(_, c)| c.clone()).collect();
                codec::decode(&codec, bytes, &commands)
            }
        };
        let answered = decoding.answer.as_ref().and_then(|answer| {
            waiting
                .iter()
                .find(|(_, command)| command.id == answer.id)
                .map(|(id, _)| *id)
        });
        (decoding, answered)
    }

    /// Queues a downlink written by the platform itself (the `AAAA0000` reply).
    fn queue_downlink(&mut self, now: Instant, imei: &str, data: &[u8]) {
        let downlink = {
            let mut state = lock(&self.state);
            let downlink = Downlink {
                id: state.next_downlink_id(),
                flavour: self.flavour,
                imei: imei.to_string(),
                data: data.to_vec(),
                status: DownlinkStatus::Queued,
                queued_ms: now.unix_millis(),
                updated_ms: now.unix_millis(),
                attempts: 0,
                command: None,
                response: None,
            };
            state.queue(downlink.clone());
            downlink
        };
        self.submit(Write::Downlink(downlink));
    }

    /// Writes the device's queued downlinks to /19/1/0, in order, then sends the operations
    /// asked through the API, if it is registered here and in contact now (called as the
    /// platform hears from it).
    fn send_queued(&mut self, now: Instant, imei: &str) {
        if !self.engine.server_ref().is_awake(now, imei) {
            return;
        }
        self.send_downlinks(now, imei);
        self.send_operations(now, imei);
    }

    fn send_downlinks(&mut self, now: Instant, imei: &str) {
        let queued = lock(&self.state).queued(self.flavour, imei);
        for downlink in queued {
            let write = Operation::Write {
                format: OPAQUE,
                payload: downlink.data,
                replace: true,
            };
            let Ok(operation) = self
                .engine
                .server()
                .operate(now, imei, downlink_path(), write)
            else {
                return;
            };
            self.writes
                .insert(operation, (imei.to_string(), downlink.id));
            self.update_downlink(now, imei, downlink.id, |d| {
                d.status = DownlinkStatus::Sent;
                d.attempts += 1;
            });
        }
    }

    fn update_downlink(
        &mut self,
        now: Instant,
        imei: &str,
        id: u64,
        change: impl FnOnce(&mut Downlink),
    ) {
        let changed = lock(&self.state).update_downlink(self.flavour, imei, id, |d| {
            change(d);
            d.updated_ms = now.unix_millis();
        });
        if let Some(changed) = changed {
            self.submit(Write::Downlink(changed));
        }
    }

    /// The outcome of an operation: an observation that started (or did not), a downlink the
    /// device took (or refused, or never answered).
    fn completed(
        &mut self,
        now: Instant,
        operation: OperationId,
        result: Result<Response, ExchangeError>,
    ) {
        if self.fota_completed(now, operation, &result)
            || self.operation_completed(now, operation, &result)
        {
            return;
        }
        if let Some(imei) = self.observations.remove(&operation) {
            let observed = result
                .as_ref()
                .is_ok_and(|r| r.is_success() && r.observe.is_some());
            lock(&self.state).update_presence(self.flavour, &imei, |p| p.observed = observed);
            self.record_operation(now, &imei, "observe", "/19/0/0", &result);
            self.fota_continue(now, &imei);
            if observed {
                self.fota_contact(now, &imei);
            }
            return;
        }
        let Some((imei, id)) = self.writes.remove(&operation) else {
            return;
        };
        let attempts = lock(&self.state)
            .downlink(self.flavour, &imei, id)
            .map_or(0, |d| d.attempts);
        let status = match &result {
            Ok(r) if r.is_success() => DownlinkStatus::Delivered,
            Ok(_) => DownlinkStatus::Failed,
            Err(_) if attempts < DOWNLINK_ATTEMPTS => DownlinkStatus::Queued,
            Err(_) => DownlinkStatus::Failed,
        };
        self.update_downlink(now, &imei, id, |d| d.status = status);
        self.record_operation(now, &imei, "write", "/19/1/0", &result);
        self.fota_continue(now, &imei);
    }

    fn record_operation(
        &mut self,
        now: Instant,
        imei: &str,
        operation: &str,
        path: &str,
        result: &Result<Response, ExchangeError>,
    ) {
        let address = self
            .engine
            .server_ref()
            .registration(imei)
            .map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)), |r| r.address);
        let (verdict, status) = match result {
            Ok(r) if r.is_success() => (Verdict::Accepted, Some(r.status_text())),
            Ok(r) => (Verdict::Failed, Some(r.status_text())),
            Err(_) => (Verdict::Failed, None),
        };
        let mut fields = Map::new();
        fields.insert("imei".into(), json!(imei));
        fields.insert("path".into(), json!(path));
        let record = RequestRecord::new(self.flavour.server(), now, address, operation)
            .verdict(verdict, status)
            .fields(fields);
        self.submit(Write::Record(record));
    }

    /// Records a device's request the server answered, with why it was refused.
    fn record_answer(
        &mut self,
        now: Instant,
        answer: Answered,
        request: Option<&Request>,
        delay: Option<String>,
    ) {
        let operation = match answer.kind {
            ClientRequest::Register => "register",
            ClientRequest::Update => "update",
            ClientRequest::Deregister => "deregister",
            ClientRequest::Other => "other",
        };
        if let Some(imei) = &answer.endpoint {
            self.heard(now, imei);
        }
        let mut fields = match request {
            Some(request) if answer.kind == ClientRequest::Other => other_fields(request),
            Some(request) => describe(request),
            None => Map::new(),
        };
        let note = self
            .refusal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let (reason, fault) = note.unzip();
        let reason = reason.or(answer.refusal.map(String::from));
        if let Some(reason) = reason.filter(|_| answer.status.is_error()) {
            fields.insert("error".into(), json!(reason));
        }
        let verdict = if answer.status.is_error() {
            Verdict::Rejected
        } else {
            Verdict::Accepted
        };
        let status = Some(Response::new(answer.status).status_text());
        let record = RequestRecord::new(self.flavour.server(), now, answer.address, operation)
            .verdict(verdict, status)
            .fault(join_faults(delay, fault.flatten()))
            .fields(fields);
        self.submit(Write::Record(record));
    }

    /// A datagram a `drop` fault ignored. On the secure address it is a DTLS record, which
    /// only the session could read.
    fn record_dropped(&mut self, now: Instant, from: SocketAddr, peeked: Datagram, fault: String) {
        let (operation, fields) = match self.secure {
            true => ("dtls", Map::new()),
            false => match peeked {
                Datagram::Request(incoming) => ("request", describe(&incoming.request)),
                _ => ("uplink", Map::new()),
            },
        };
        let record = RequestRecord::new(self.flavour.server(), now, from, operation)
            .verdict(Verdict::Dropped, None)
            .fault(Some(fault))
            .fields(fields);
        self.submit(Write::Record(record));
    }
}

/// What the server answered a device.
struct Answered {
    address: SocketAddr,
    kind: ClientRequest,
    endpoint: Option<String>,
    status: Status,
    refusal: Option<&'static str>,
}

/// The path and query of a request to the platform, for its record.
fn describe(request: &Request) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("path".into(), json!(request.path_text()));
    let query: Vec<Value> = request.query.iter().map(|q| json!(q)).collect();
    fields.insert("query".into(), Value::Array(query));
    if !request.payload.is_empty() {
        fields.insert("payload".into(), json!(excerpt(&request.payload)));
    }
    fields
}

/// Who may register: a device of the platform (seed §2.3.1 note 1: "the IMEI must be registered
/// on the platform first"); a device with a key only over DTLS, with the key of its IMEI (note 2);
/// and not while a `reject` fault counts. A refusal is 4.03, its reason noted for the record.
fn policy(
    flavour: Flavour,
    secure: bool,
    state: SharedState,
    refusal: Refusal,
) -> nbmodem_lwm2m::server::Policy {
    Box::new(move |admission: &Admission<'_>| {
        let mut state = lock(&state);
        let reason = match state.device(flavour, admission.endpoint) {
            None => Some("the IMEI is not registered on the platform"),
            Some(device) if device.psk.is_some() && !secure => {
                Some("the device has a key: it must connect over DTLS")
            }
            Some(_) if secure && state.identity(admission.address) != Some(admission.endpoint) => {
                Some("the DTLS identity is another IMEI")
            }
            Some(_) => None,
        };
        let rejected =
            reason.is_none() && !admission.update && state.faults_mut(flavour).take_reject();
        let note = match (reason, rejected) {
            (Some(reason), _) => Some((reason.to_string(), None)),
            (None, true) => Some((
                "refused by a reject fault".to_string(),
                Some("reject".to_string()),
            )),
            (None, false) => None,
        };
        let refused = note.is_some();
        *refusal.lock().unwrap_or_else(|e| e.into_inner()) = note;
        if refused {
            Err(Status::Forbidden)
        } else {
            Ok(())
        }
    })
}

/// The key of a device of the platform, by its IMEI (the PSK identity).
fn psk_lookup(flavour: Flavour, state: SharedState) -> PskLookup {
    Arc::new(move |identity: &[u8]| {
        let imei = std::str::from_utf8(identity).ok()?;
        lock(&state).device(flavour, imei)?.key()
    })
}

impl StandInEngine for CtIotEngine {
    /// Requests and uplinks are what faults act on; a DTLS record may carry either.
    fn is_subject(&self, peeked: &Datagram) -> bool {
        self.secure || matches!(peeked, Datagram::Request(_) | Datagram::Notification { .. })
    }

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
        self.record_dropped(now, from, peeked, fault);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.engine.node().handle_timeout(now);
        self.take_received(now, None);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.engine.node_ref().poll_timeout()
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.engine.node().poll_transmit()
    }

    fn poll_write(&mut self) -> Option<Write> {
        self.to_store.pop_front()
    }

    fn faults(&self) -> Faults {
        lock(&self.state).faults(self.flavour)
    }

    fn with_faults(&mut self, change: &mut dyn FnMut(&mut Faults)) {
        change(lock(&self.state).faults_mut(self.flavour))
    }
}
