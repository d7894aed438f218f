//! The LwM2M 1.0 client: registration interface (Register, Update, De-register, re-registration)
//! and device management interface (Read, Write, Execute, Discover, Write-Attributes, Observe), as
//! a sans-IO [`DatagramNode`] on a CoAP [`Endpoint`].
//!
//! The application owns the objects (in the [`ObjectStore`]), tells the client when a value
//! changed ([`Lwm2mClient::value_changed`]) or sends a notification itself
//! ([`Lwm2mClient::notify`], the CT IoT platform's uplink), and reads [`ClientEvent`]s.

use crate::content::Path;
use crate::kind::OperationKind;
use crate::object::{Lwm2mError, ObjectStore};
use nbmodem_clock::Instant;
use nbmodem_coap::{
    CancelReason, Endpoint, EndpointConfig, Event, ExchangeError, IncomingId, Method,
    ObservationId, Request, RequestId, Response, SavedObservation, Status,
};
use nbmodem_net::{DatagramNode, Transmit};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

/// What the client registers with.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    pub endpoint_name: String,
    pub server: SocketAddr,
    /// The `lt` parameter; `None` leaves it out of the Register (and there is no automatic Update).
    pub lifetime: Option<u32>,
    /// `U`, or `UQ` for queue mode.
    pub binding: String,
    /// The `lwm2m` parameter, `None` to leave it out (as the cis SDK does).
    pub version: Option<String>,
    /// More Uri-Query items for the Register.
    pub register_query: Vec<String>,
    /// Uri-Query items of each Update (e.g. `epi=…` for China Mobile DM).
    pub update_query: Vec<String>,
    /// How long after each registration or update the next Update goes; `None`: 90 % of the lifetime.
    pub update_interval: Option<Duration>,
    /// List the Security object (0) in the registration payload (the cis SDK does).
    pub include_security_object: bool,
    /// Start the registration payload with `</>;rt="oma.lwm2m"`.
    pub root_link: bool,
}

impl ClientConfig {
    pub fn new(endpoint_name: &str, server: SocketAddr) -> Self {
        ClientConfig {
            endpoint_name: endpoint_name.into(),
            server,
            lifetime: Some(86_400),
            binding: "U".into(),
            version: Some("1.0".into()),
            register_query: Vec::new(),
            update_query: Vec::new(),
            update_interval: None,
            include_security_object: false,
            root_link: true,
        }
    }

    fn next_update(&self) -> Option<Duration> {
        self.update_interval.or_else(|| {
            self.lifetime
                .map(|lt| Duration::from_secs(u64::from(lt)) * 9 / 10)
        })
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    Registered {
        location: String,
    },
    /// The Register was refused (`Some(status)`) or went unanswered (`None`).
    RegistrationFailed {
        status: Option<Status>,
    },
    Updated,
    UpdateFailed {
        status: Option<Status>,
    },
    Deregistered,
    /// The server wrote these resources.
    Written {
        paths: Vec<Path>,
    },
    Executed {
        path: Path,
        arguments: Vec<u8>,
    },
    ObservationStarted {
        path: Path,
    },
    /// An observation ended, and why: the server cancelled it (Reset or GET Observe=1), or a
    /// confirmable notification went unacknowledged.
    ObservationEnded {
        path: Path,
        reason: CancelReason,
    },
    /// A confirmable notification was acknowledged.
    NotificationAcked {
        path: Path,
        sequence: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Unregistered,
    Registering(RequestId),
    Registered,
    Updating(RequestId),
    Deregistering(RequestId),
}

/// An observation the server made. Its `pmin` and `pmax` are looked up when needed, so that a
/// later Write-Attributes applies to it.
#[derive(Debug)]
struct Observation {
    id: ObservationId,
    path: Path,
    accept: Option<u16>,
    last_sent: Instant,
    changed: bool,
}

/// Notification attributes set with Write-Attributes, by path.
#[derive(Debug, Clone, Copy, Default)]
struct Attributes {
    pmin: Option<u32>,
    pmax: Option<u32>,
}

impl Attributes {
    fn pmin(self) -> Duration {
        Duration::from_secs(u64::from(self.pmin.unwrap_or(0)))
    }

    fn pmax(self) -> Option<Duration> {
        self.pmax.map(|s| Duration::from_secs(u64::from(s)))
    }
}

pub struct Lwm2mClient {
    config: ClientConfig,
    endpoint: Endpoint,
    store: ObjectStore,
    stage: Stage,
    location: Option<Vec<String>>,
    next_update: Option<Instant>,
    observations: Vec<Observation>,
    attributes: Vec<(Path, Attributes)>,
    events: VecDeque<ClientEvent>,
    now: Instant,
}

impl Lwm2mClient {
    pub fn new(config: ClientConfig, store: ObjectStore, coap: EndpointConfig) -> Self {
        Lwm2mClient {
            config,
            endpoint: Endpoint::new(coap),
            store,
            stage: Stage::Unregistered,
            location: None,
            next_update: None,
            observations: Vec::new(),
            attributes: Vec::new(),
            events: VecDeque::new(),
            now: Instant::default(),
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub fn store_mut(&mut self) -> &mut ObjectStore {
        &mut self.store
    }

    /// Confirmable messages its CoAP endpoint sent again since the last call.
    pub fn take_retransmissions(&mut self) -> u32 {
        self.endpoint.take_retransmissions()
    }

    pub fn is_registered(&self) -> bool {
        matches!(self.stage, Stage::Registered | Stage::Updating(_))
    }

    /// The registration's location (`/rd/…`), once registered.
    pub fn location(&self) -> Option<String> {
        self.location
            .as_ref()
            .map(|segments| format!("/{}", segments.join("/")))
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        let event = self.events.pop_front();
        if event.is_none() {
            // Nothing queued: give the memory back (many simulated devices stay idle).
            self.events.shrink_to_fit();
        }
        event
    }

    /// Whether an exchange with the server is in flight (see [`Endpoint::is_busy`]).
    pub fn is_busy(&self) -> bool {
        self.endpoint.is_busy()
    }

    /// When the next automatic Update is due, if one is scheduled.
    pub fn next_update_at(&self) -> Option<Instant> {
        self.next_update
    }

    /// Lets the scheduled Update pass without sending it: the next one is due an update interval
    /// later. (A device that may not wake up for its Update, BC25 DM in deep sleep.)
    pub fn skip_update(&mut self) {
        if let (Some(due), Some(interval)) = (self.next_update, self.config.next_update()) {
            self.next_update = Some(due + interval);
        }
    }

    /// Sends a Register.
    pub fn register(&mut self, now: Instant) {
        self.now = now;
        let mut request = Request::new(Method::Post, "/rd").with_payload(
            40,
            self.store
                .registration_links(self.config.include_security_object, self.root()),
        );
        request
            .query
            .push(format!("ep={}", self.config.endpoint_name));
        if let Some(lifetime) = self.config.lifetime {
            request.query.push(format!("lt={lifetime}"));
        }
        if let Some(version) = &self.config.version {
            request.query.push(format!("lwm2m={version}"));
        }
        request.query.push(format!("b={}", self.config.binding));
        request
            .query
            .extend(self.config.register_query.iter().cloned());
        let id = self
            .endpoint
            .request(now, self.config.server, request, true);
        self.stage = Stage::Registering(id);
        self.next_update = None;
    }

    /// Sends an Update now (when registered).
    pub fn update(&mut self, now: Instant) {
        self.now = now;
        let Some(location) = self.location() else {
            return;
        };
        let mut request = Request::new(Method::Post, &location);
        request.query = self.config.update_query.clone();
        let id = self
            .endpoint
            .request(now, self.config.server, request, true);
        self.stage = Stage::Updating(id);
        self.next_update = None;
    }

    /// Sends a De-register.
    pub fn deregister(&mut self, now: Instant) {
        self.now = now;
        let Some(location) = self.location() else {
            return;
        };
        let id = self.endpoint.request(
            now,
            self.config.server,
            Request::new(Method::Delete, &location),
            true,
        );
        self.stage = Stage::Deregistering(id);
        self.next_update = None;
    }

    /// Tells the client that the value at `path` changed: observers of it (or of a parent) are
    /// notified, respecting `pmin`.
    pub fn value_changed(&mut self, now: Instant, path: Path) {
        self.now = now;
        self.mark_changed(path);
        self.send_due_notifications(now);
    }

    /// Marks the observations of `path` (or of a parent) changed, without notifying yet.
    fn mark_changed(&mut self, path: Path) {
        for observation in &mut self.observations {
            if is_within(path, observation.path) {
                observation.changed = true;
            }
        }
    }

    /// Sends a notification of the current value at `path` to its observer now, confirmable or
    /// not; returns its sequence number, or `None` when nobody observes `path`.
    pub fn notify(&mut self, now: Instant, path: Path, confirmable: bool) -> Option<u32> {
        self.now = now;
        let index = self.observations.iter().position(|o| o.path == path)?;
        self.send_notification(index, confirmable)
    }

    /// Whether the server observes `path`.
    pub fn is_observed(&self, path: Path) -> bool {
        self.observations.iter().any(|o| o.path == path)
    }

    fn root(&self) -> Option<&'static str> {
        self.config.root_link.then_some("</>;rt=\"oma.lwm2m\"")
    }

    fn handle_coap_events(&mut self) {
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::Response { id, response } => self.response(id, response),
                Event::RequestFailed { id, error } => self.request_failed(id, error),
                Event::Request { id, request, .. } => self.serve(id, request),
                Event::NotificationAcked { id, sequence } => {
                    if let Some(o) = self.observations.iter().find(|o| o.id == id) {
                        self.events.push_back(ClientEvent::NotificationAcked {
                            path: o.path,
                            sequence,
                        });
                    }
                }
                Event::ObservationCancelled { id, reason } => {
                    self.observation_cancelled(id, reason)
                }
                Event::Notification { .. } | Event::Block { .. } => {}
            }
        }
    }

    fn response(&mut self, id: RequestId, response: Response) {
        let success = response.is_success();
        match self.stage {
            Stage::Registering(r) if r == id && success => {
                self.location = Some(response.location_path.clone());
                self.stage = Stage::Registered;
                self.schedule_update();
                self.events.push_back(ClientEvent::Registered {
                    location: self.location().unwrap_or_default(),
                });
            }
            Stage::Registering(r) if r == id => self.registration_failed(Some(response.status)),
            Stage::Updating(r) if r == id && success => {
                self.stage = Stage::Registered;
                self.schedule_update();
                self.events.push_back(ClientEvent::Updated);
            }
            // The server forgot us: register again (LwM2M 1.0 §8.2.3).
            Stage::Updating(r) if r == id && response.status == Status::NotFound => {
                self.register(self.now)
            }
            Stage::Updating(r) if r == id => {
                self.stage = Stage::Registered;
                self.events.push_back(ClientEvent::UpdateFailed {
                    status: Some(response.status),
                });
            }
            Stage::Deregistering(r) if r == id => self.deregistered(),
            _ => {}
        }
    }

    fn request_failed(&mut self, id: RequestId, _: ExchangeError) {
        match self.stage {
            Stage::Registering(r) if r == id => self.registration_failed(None),
            Stage::Updating(r) if r == id => {
                self.stage = Stage::Registered;
                self.events
                    .push_back(ClientEvent::UpdateFailed { status: None });
            }
            Stage::Deregistering(r) if r == id => self.deregistered(),
            _ => {}
        }
    }

    fn registration_failed(&mut self, status: Option<Status>) {
        self.stage = Stage::Unregistered;
        self.location = None;
        self.events
            .push_back(ClientEvent::RegistrationFailed { status });
    }

    fn deregistered(&mut self) {
        self.stage = Stage::Unregistered;
        self.location = None;
        for observation in std::mem::take(&mut self.observations) {
            self.endpoint.drop_observation(observation.id);
        }
        self.events.push_back(ClientEvent::Deregistered);
    }

    fn schedule_update(&mut self) {
        self.next_update = self.config.next_update().map(|d| self.now + d);
    }

    /// A request from the server: one of the device management operations.
    fn serve(&mut self, id: IncomingId, request: Request) {
        let response = match request.path_text().parse::<Path>() {
            Ok(path) => self.operation(id, path, &request),
            Err(_) => Some(Response::new(Status::NotFound)),
        };
        if let Some(response) = response {
            self.endpoint.respond(self.now, id, response);
        }
    }

    /// Runs an operation; returns the response unless it was already sent (an Observe).
    fn operation(&mut self, id: IncomingId, path: Path, request: &Request) -> Option<Response> {
        let result = match OperationKind::of(request) {
            Some(OperationKind::Discover) => {
                self.discover(path).map(|body| (40, body.into_bytes()))
            }
            Some(OperationKind::Observe) => return self.start_observation(id, path, request),
            // A GET with Observe=1 is a read as well: the CoAP endpoint has already ended the
            // observation on its token (and reported it, see `observation_cancelled`).
            Some(OperationKind::Read | OperationKind::CancelObserve) => {
                self.store.read(path, request.accept)
            }
            Some(OperationKind::WriteAttributes) => self
                .write_attributes(path, &request.query)
                .map(|_| (0, Vec::new())),
            Some(OperationKind::Write) => self.write(path, request).map(|_| (0, Vec::new())),
            Some(OperationKind::Execute) => self
                .execute(path, &request.payload)
                .map(|_| (0, Vec::new())),
            _ => Err(Lwm2mError::MethodNotAllowed),
        };
        Some(match (result, request.method) {
            (Ok((format, body)), Method::Get) => {
                Response::new(Status::Content).with_payload(format, body)
            }
            (Ok(_), _) => Response::new(Status::Changed),
            (Err(e), _) => Response::new(e.status()),
        })
    }

    fn discover(&self, path: Path) -> Result<String, Lwm2mError> {
        let attributes = self.attributes_of(path);
        let mut text = String::new();
        if let Some(pmin) = attributes.pmin {
            text.push_str(&format!(";pmin={pmin}"));
        }
        if let Some(pmax) = attributes.pmax {
            text.push_str(&format!(";pmax={pmax}"));
        }
        self.store.discover(path, &text)
    }

    fn write(&mut self, path: Path, request: &Request) -> Result<(), Lwm2mError> {
        let paths = self
            .store
            .write(path, request.content_format, &request.payload)?;
        // All marked first: an observer of a parent gets one notification for the whole Write.
        for written in &paths {
            self.mark_changed(*written);
        }
        self.send_due_notifications(self.now);
        self.events.push_back(ClientEvent::Written { paths });
        Ok(())
    }

    fn execute(&mut self, path: Path, arguments: &[u8]) -> Result<(), Lwm2mError> {
        self.store.execute(path, arguments)?;
        self.events.push_back(ClientEvent::Executed {
            path,
            arguments: arguments.to_vec(),
        });
        Ok(())
    }

    /// Write-Attributes: `pmin` and `pmax` (other attributes are accepted and ignored).
    fn write_attributes(&mut self, path: Path, query: &[String]) -> Result<(), Lwm2mError> {
        let mut attributes = self.attributes_of(path);
        for item in query {
            let (name, value) = item.split_once('=').unwrap_or((item, ""));
            let number = || value.parse::<u32>().map_err(|_| Lwm2mError::BadRequest);
            match name {
                "pmin" => {
                    attributes.pmin = if value.is_empty() {
                        None
                    } else {
                        Some(number()?)
                    }
                }
                "pmax" => {
                    attributes.pmax = if value.is_empty() {
                        None
                    } else {
                        Some(number()?)
                    }
                }
                "gt" | "lt" | "st" | "epmin" | "epmax" => {}
                _ => return Err(Lwm2mError::BadRequest),
            }
        }
        self.attributes.retain(|(p, _)| *p != path);
        self.attributes.push((path, attributes));
        Ok(())
    }

    /// The attributes in force at `path`: its own, else its nearest parent's.
    fn attributes_of(&self, path: Path) -> Attributes {
        self.attributes
            .iter()
            .filter(|(p, _)| is_within(path, *p))
            .max_by_key(|(p, _)| p.ids().len())
            .map(|(_, a)| *a)
            .unwrap_or_default()
    }

    fn start_observation(
        &mut self,
        id: IncomingId,
        path: Path,
        request: &Request,
    ) -> Option<Response> {
        let (format, body) = match self.store.read(path, request.accept) {
            Ok(encoded) => encoded,
            Err(e) => return Some(Response::new(e.status())),
        };
        let mut response = Response::new(Status::Content).with_payload(format, body);
        response.observe = Some(0);
        let observation = self.endpoint.respond(self.now, id, response)?;
        self.observations.retain(|o| o.id != observation);
        self.observations.push(Observation {
            id: observation,
            path,
            accept: request.accept,
            last_sent: self.now,
            changed: false,
        });
        self.events
            .push_back(ClientEvent::ObservationStarted { path });
        None
    }

    fn observation_cancelled(&mut self, id: ObservationId, reason: CancelReason) {
        if let Some(index) = self.observations.iter().position(|o| o.id == id) {
            let observation = self.observations.remove(index);
            self.events.push_back(ClientEvent::ObservationEnded {
                path: observation.path,
                reason,
            });
        }
    }

    /// The server's observation of `path`, as kept across a restart (a device rebooting into new
    /// firmware keeps the observation of its firmware state, and reports the result on it).
    pub fn saved_observation(&self, path: Path) -> Option<SavedObservation> {
        let observation = self.observations.iter().find(|o| o.path == path)?;
        self.endpoint.saved_observation(observation.id)
    }

    /// Takes an observation of `path` saved by [`Lwm2mClient::saved_observation`] back, so that
    /// [`Lwm2mClient::notify`] and value changes notify on it. False, and nothing restored, when
    /// its token is longer than a CoAP message carries (see [`Endpoint::restore_observation`]).
    pub fn restore_observation(&mut self, path: Path, saved: SavedObservation) -> bool {
        let Some(id) = self.endpoint.restore_observation(saved) else {
            return false;
        };
        self.observations.retain(|o| o.id != id);
        self.observations.push(Observation {
            id,
            path,
            accept: None,
            last_sent: self.now,
            changed: false,
        });
        true
    }

    /// Sends the notifications that are due: changed values past `pmin`, and `pmax` expiries.
    fn send_due_notifications(&mut self, now: Instant) {
        for index in 0..self.observations.len() {
            let due = self
                .observations
                .get(index)
                .and_then(|o| self.notification_at(o))
                .is_some_and(|at| at <= now);
            if due {
                self.send_notification(index, false);
            }
        }
    }

    fn send_notification(&mut self, index: usize, confirmable: bool) -> Option<u32> {
        let observation = self.observations.get_mut(index)?;
        observation.changed = false;
        observation.last_sent = self.now;
        let (id, path, accept) = (observation.id, observation.path, observation.accept);
        let response = match self.store.read(path, accept) {
            Ok((format, body)) => Response::new(Status::Content).with_payload(format, body),
            Err(e) => Response::new(e.status()),
        };
        self.endpoint.notify(self.now, id, response, confirmable)
    }

    /// When the next notification of `o` is due: a change once `pmin` has passed, or `pmax`.
    fn notification_at(&self, o: &Observation) -> Option<Instant> {
        let attributes = self.attributes_of(o.path);
        let by_change = o.changed.then(|| o.last_sent + attributes.pmin());
        let by_pmax = attributes.pmax().map(|p| o.last_sent + p);
        by_change.into_iter().chain(by_pmax).min()
    }

    fn next_notification(&self) -> Option<Instant> {
        self.observations
            .iter()
            .filter_map(|o| self.notification_at(o))
            .min()
    }
}

/// Whether `path` is `parent` or lies under it.
fn is_within(path: Path, parent: Path) -> bool {
    path.ids().starts_with(parent.ids())
}

impl DatagramNode for Lwm2mClient {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.now = now;
        self.endpoint.handle_datagram(now, from, datagram);
        self.handle_coap_events();
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.endpoint.poll_transmit()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.endpoint.poll_timeout(),
            self.next_update,
            self.next_notification(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.endpoint.handle_timeout(now);
        self.handle_coap_events();
        if self.next_update.is_some_and(|t| t <= now) {
            self.next_update = None;
            if self.stage == Stage::Registered {
                self.update(now);
            }
        }
        self.send_due_notifications(now);
    }
}
