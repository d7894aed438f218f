//! The LwM2M 1.0 server core: the registration store (Register, Update, De-register, lifetime
//! expiry) and server-initiated operations (Read, Write, Execute, Discover, Write-Attributes,
//! Observe, Cancel) with their responses and notifications correlated, including queue mode: for a
//! `b=UQ` client, operations wait until the client is reachable and are sent then. A queue-mode
//! client is reachable while it is awake: for the awake time after anything it sent (LwM2M 1.1
//! §6.5, "Client Awake Time"; zero unless [`Lwm2mServer::set_queue_mode`] says otherwise), and
//! operations for it wait for the next thing it sends. A server can also treat every client as
//! a queue-mode client (a platform for devices that sleep, whatever binding they register).
//! A sans-IO [`DatagramNode`] on one CoAP [`Endpoint`], for any number of clients.

use crate::content::{link, Path};
use crate::kind::OperationKind;
use nbmodem_clock::Instant;
use nbmodem_coap::{
    Endpoint, EndpointConfig, Event, ExchangeError, IncomingId, Method, Request, RequestId,
    Response, Status,
};
use nbmodem_net::{DatagramNode, Transmit};
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// One registered client.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub endpoint: String,
    location: Location,
    pub lifetime: u32,
    pub binding: String,
    pub version: Option<String>,
    /// The (object, instance) pairs of the registration payload.
    pub objects: Vec<(u16, Option<u16>)>,
    /// The Uri-Query items of the last Register or Update other than those with fields of their
    /// own (`ep`, `lt`, `lwm2m`, `b`): `epi=…`, ….
    pub query: Vec<String>,
    pub address: SocketAddr,
    /// When the client last sent anything.
    pub last_heard: Instant,
    expires: Instant,
}

impl Registration {
    /// `/rd/<n>`.
    pub fn location(&self) -> String {
        self.location.to_string()
    }

    pub fn queue_mode(&self) -> bool {
        self.binding.contains('Q')
    }

    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find_map(|q| q.strip_prefix(key)?.strip_prefix('='))
    }
}

/// The Uri-Query items of a Register or Update a [`Registration`] keeps: those without a field
/// of their own.
fn extra_query(query: &[String]) -> Vec<String> {
    query
        .iter()
        .filter(|q| {
            !["ep", "lt", "lwm2m", "b"]
                .iter()
                .any(|key| q.strip_prefix(key).is_some_and(|v| v.starts_with('=')))
        })
        .cloned()
        .collect()
}

/// The number `n` of a registration's location `/rd/<n>`. It orders as the location's text does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Location(u64);

impl Location {
    /// The location named by the path `/rd/<n>` of a request, exactly as [`Location`] writes it.
    fn of_path(path: &str) -> Option<Location> {
        let n = path.strip_prefix("/rd/")?.parse().ok()?;
        let location = Location(n);
        (location.to_string() == path).then_some(location)
    }

    /// The decimal digits of the number, in `buffer`.
    fn digits(self, buffer: &mut [u8; 20]) -> &[u8] {
        let mut n = self.0;
        let mut start = buffer.len();
        loop {
            start -= 1;
            buffer[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                return &buffer[start..];
            }
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/rd/{}", self.0)
    }
}

impl Ord for Location {
    fn cmp(&self, other: &Self) -> Ordering {
        let (mut a, mut b) = ([0; 20], [0; 20]);
        self.digits(&mut a).cmp(other.digits(&mut b))
    }
}

impl PartialOrd for Location {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A Register or Update the application may refuse.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission<'a> {
    pub endpoint: &'a str,
    pub query: &'a [String],
    pub payload: &'a [u8],
    pub address: SocketAddr,
    /// `true` for an Update (then `payload` is usually empty).
    pub update: bool,
}

/// Decides whether a Register or Update is accepted: `Err(status)` refuses it with that code.
pub type Policy = Box<dyn FnMut(&Admission<'_>) -> Result<(), Status> + Send>;

/// How a server treats clients that sleep (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueMode {
    /// Every client is a queue-mode client, whatever its binding.
    pub all_clients: bool,
    /// How long after a queue-mode client's last message operations go at once.
    pub awake_time: Duration,
}

/// A server-initiated operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OperationId(u64);

#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    Read {
        accept: Option<u16>,
    },
    Write {
        format: u16,
        payload: Vec<u8>,
        replace: bool,
    },
    Execute {
        arguments: Vec<u8>,
    },
    Discover,
    WriteAttributes {
        pmin: Option<u32>,
        pmax: Option<u32>,
    },
    Observe {
        accept: Option<u16>,
    },
    /// Ends the latest observation of the path: a GET with Observe=1 on the observation's token,
    /// which the client needs to tell which observation ends. It completes as this operation.
    CancelObserve,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    Registered {
        endpoint: String,
        location: String,
    },
    Updated {
        endpoint: String,
    },
    Deregistered {
        endpoint: String,
    },
    /// The lifetime ran out without an Update.
    Expired {
        endpoint: String,
    },
    /// The server answered a request of a client: every Register, Update, De-register and
    /// anything else a client sent, with the code answered and, when it refused, why.
    Answered {
        address: SocketAddr,
        request: ClientRequest,
        /// The endpoint name, when the request named or reached a registration.
        endpoint: Option<String>,
        status: Status,
        refusal: Option<&'static str>,
    },
    /// The outcome of an operation: the client's response, or why there was none.
    Completed {
        operation: OperationId,
        endpoint: String,
        path: Path,
        result: Result<Response, ExchangeError>,
    },
    /// A request to a path the application serves ([`Lwm2mServer::serve_paths`]), to answer
    /// with [`Lwm2mServer::respond`].
    Request {
        id: IncomingId,
        address: SocketAddr,
        request: Request,
    },
    /// A notification of an observation started with [`Operation::Observe`].
    Notification {
        operation: OperationId,
        endpoint: String,
        path: Path,
        response: Response,
    },
}

/// What a client asked the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRequest {
    Register,
    Update,
    Deregister,
    /// Anything else (a request for a path the server does not serve).
    Other,
}

/// The server's answer to a client's request, and what it says about it.
struct Answer {
    response: Response,
    endpoint: Option<String>,
    refusal: Option<&'static str>,
}

impl Answer {
    fn accepted(response: Response, endpoint: String) -> Answer {
        Answer {
            response,
            endpoint: Some(endpoint),
            refusal: None,
        }
    }

    fn refused(status: Status, endpoint: Option<String>, why: &'static str) -> Answer {
        Answer {
            response: Response::new(status),
            endpoint,
            refusal: Some(why),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Pending {
    operation: OperationId,
    location: Location,
    path: Path,
    kind: Operation,
}

pub struct Lwm2mServer {
    endpoint: Endpoint,
    registrations: HashMap<Location, Registration>,
    by_endpoint: HashMap<String, Location>,
    by_address: HashMap<SocketAddr, Location>,
    expiries: BTreeSet<(Instant, Location)>,
    in_flight: HashMap<RequestId, Pending>,
    queued: HashMap<Location, VecDeque<Pending>>,
    policy: Option<Policy>,
    queue_mode: QueueMode,
    /// First Uri-Path segments whose requests go to the application.
    application_paths: Vec<String>,
    next_location: u64,
    next_operation: u64,
    events: VecDeque<ServerEvent>,
    now: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerError {
    #[error("no client registered as {0}")]
    NotRegistered(String),
}

impl Lwm2mServer {
    pub fn new(coap: EndpointConfig) -> Self {
        Lwm2mServer {
            endpoint: Endpoint::new(coap),
            registrations: HashMap::new(),
            by_endpoint: HashMap::new(),
            by_address: HashMap::new(),
            expiries: BTreeSet::new(),
            in_flight: HashMap::new(),
            queued: HashMap::new(),
            policy: None,
            queue_mode: QueueMode::default(),
            application_paths: Vec::new(),
            next_location: 0,
            next_operation: 0,
            events: VecDeque::new(),
            now: Instant::default(),
        }
    }

    /// Sets who may register.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = Some(policy);
    }

    /// Sets how clients that sleep are treated.
    pub fn set_queue_mode(&mut self, queue_mode: QueueMode) {
        self.queue_mode = queue_mode;
    }

    /// Hands requests whose path starts with one of `segments` (`fota` for `/fota/…`) to the
    /// application as [`ServerEvent::Request`] instead of answering 4.04: a platform serving
    /// firmware packages on its LwM2M address. Block2 follow-ups of a response are served by the
    /// CoAP endpoint from the kept response.
    pub fn serve_paths(&mut self, segments: &[&str]) {
        self.application_paths = segments.iter().map(|s| s.to_string()).collect();
    }

    /// Answers a [`ServerEvent::Request`]; a body larger than a block goes block-wise.
    pub fn respond(&mut self, now: Instant, id: IncomingId, response: Response) {
        self.now = now;
        self.endpoint.respond(now, id, response);
    }

    /// The token of the observation of `path` of the client registered as `endpoint`, to keep
    /// while the client restarts (a device rebooting into new firmware reports the result on
    /// the observation of /5/0/3 it saved).
    pub fn saved_observation(&self, endpoint: &str, path: Path) -> Option<Vec<u8>> {
        let (location, _) = self.registered(endpoint).ok()?;
        let id = self.observation_of(location, path)?;
        self.endpoint.observation_token(id)
    }

    /// Takes back an observation saved with [`Lwm2mServer::saved_observation`] for the client
    /// registered as `endpoint` now: its notifications come as [`ServerEvent::Notification`]
    /// of the returned operation, and [`Operation::CancelObserve`] ends it.
    pub fn restore_observation(
        &mut self,
        endpoint: &str,
        path: Path,
        token: Vec<u8>,
    ) -> Result<OperationId, ServerError> {
        let (location, registration) = self.registered(endpoint)?;
        let address = registration.address;
        let request = Request::get(&path.to_string());
        let id = self
            .endpoint
            .restore_observation_of(address, token, request);
        let pending = self.new_pending(location, path, Operation::Observe { accept: None });
        let operation = pending.operation;
        self.in_flight.insert(id, pending);
        Ok(operation)
    }

    /// Whether operations for `registration` wait at `now`: a queue-mode client past its awake
    /// time. The instant of its last message counts as awake even with no awake time, so that
    /// what the server starts as it handles the message goes out in that contact.
    fn waits(&self, now: Instant, registration: &Registration) -> bool {
        let queued = self.queue_mode.all_clients || registration.queue_mode();
        let awake_until = registration.last_heard + self.queue_mode.awake_time;
        queued && now > awake_until
    }

    /// Whether the client registered as `endpoint` is awake at `now`: not a queue-mode client, or
    /// one within its awake time (the instant of its last message included).
    pub fn is_awake(&self, now: Instant, endpoint: &str) -> bool {
        self.registration(endpoint)
            .is_some_and(|r| !self.waits(now, r))
    }

    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    pub fn registration(&self, endpoint: &str) -> Option<&Registration> {
        self.registered(endpoint).ok().map(|(_, r)| r)
    }

    /// A new operation on `path` of the client registered at `location`, with the next id.
    fn new_pending(&mut self, location: Location, path: Path, kind: Operation) -> Pending {
        self.next_operation += 1;
        Pending {
            operation: OperationId(self.next_operation),
            location,
            path,
            kind,
        }
    }

    /// The location and the registration of the client registered as `endpoint`.
    fn registered(&self, endpoint: &str) -> Result<(Location, &Registration), ServerError> {
        let not_registered = || ServerError::NotRegistered(endpoint.into());
        let location = self.by_endpoint.get(endpoint).ok_or_else(not_registered)?;
        let registration = self
            .registrations
            .get(location)
            .ok_or_else(not_registered)?;
        Ok((*location, registration))
    }

    /// The endpoint name of the client registered from `address`.
    pub fn endpoint_at(&self, address: SocketAddr) -> Option<&str> {
        let location = self.by_address.get(&address)?;
        self.registrations
            .get(location)
            .map(|r| r.endpoint.as_str())
    }

    pub fn registration_count(&self) -> usize {
        self.registrations.len()
    }

    /// Starts an operation on `path` of the client registered as `endpoint`. For a client in queue
    /// mode it waits until the client is reachable.
    pub fn operate(
        &mut self,
        now: Instant,
        endpoint: &str,
        path: Path,
        kind: Operation,
    ) -> Result<OperationId, ServerError> {
        self.now = now;
        let (location, registration) = self.registered(endpoint)?;
        let waits = self.waits(now, registration);
        let pending = self.new_pending(location, path, kind);
        let operation = pending.operation;
        if waits {
            self.queued.entry(location).or_default().push_back(pending);
        } else {
            self.send(pending);
        }
        Ok(operation)
    }

    /// How many operations wait for a queue-mode client.
    pub fn queued_for(&self, endpoint: &str) -> usize {
        self.by_endpoint
            .get(endpoint)
            .and_then(|l| self.queued.get(l))
            .map_or(0, VecDeque::len)
    }

    fn send(&mut self, pending: Pending) {
        if pending.kind == Operation::CancelObserve {
            if let Some(id) = self.observation_of(pending.location, pending.path) {
                // The cancel goes on the observation's exchange; its response ends it.
                self.endpoint.cancel_observation(self.now, id);
                self.in_flight.insert(id, pending);
                return;
            }
            // No observation known (we restarted, say): a new token, which the client answers
            // as a Read.
        }
        let Some(address) = self.registrations.get(&pending.location).map(|r| r.address) else {
            return;
        };
        let request = request_of(&pending.kind, &pending.path.to_string());
        let id = self.endpoint.request(self.now, address, request, true);
        self.in_flight.insert(id, pending);
    }

    /// The exchange of the latest observation of `path` at the client registered at `location`.
    fn observation_of(&self, location: Location, path: Path) -> Option<RequestId> {
        self.in_flight
            .iter()
            .filter(|(_, p)| {
                matches!(p.kind, Operation::Observe { .. })
                    && p.location == location
                    && p.path == path
            })
            .max_by_key(|(_, p)| p.operation.0)
            .map(|(id, _)| *id)
    }

    /// Sends what waits for a queue-mode client that just showed it is reachable.
    fn flush_queue(&mut self, location: Location) {
        for pending in self.queued.remove(&location).unwrap_or_default() {
            self.send(pending);
        }
    }

    fn handle_coap_events(&mut self) {
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::Request { id, peer, request } => self.client_request(id, peer, request),
                Event::Response { id, response } => self.operation_done(id, Ok(response)),
                Event::RequestFailed { id, error } => self.operation_done(id, Err(error)),
                Event::Notification { id, response } => self.notification(id, response),
                _ => {}
            }
        }
    }

    fn client_request(&mut self, id: IncomingId, peer: SocketAddr, request: Request) {
        let path: Vec<&str> = request.path.iter().map(String::as_str).collect();
        if path
            .first()
            .is_some_and(|first| self.application_paths.iter().any(|a| a == first))
        {
            let address = peer;
            self.events.push_back(ServerEvent::Request {
                id,
                address,
                request,
            });
            return;
        }
        let (kind, answer) = match OperationKind::of(&request) {
            Some(OperationKind::Register) => {
                (ClientRequest::Register, self.register(peer, &request))
            }
            Some(OperationKind::Update) => (ClientRequest::Update, self.update(peer, &request)),
            Some(OperationKind::Deregister) => {
                (ClientRequest::Deregister, self.deregister(&request))
            }
            _ => (
                ClientRequest::Other,
                Answer::refused(Status::NotFound, None, "no such resource"),
            ),
        };
        self.events.push_back(ServerEvent::Answered {
            address: peer,
            request: kind,
            endpoint: answer.endpoint,
            status: answer.response.status,
            refusal: answer.refusal,
        });
        self.endpoint.respond(self.now, id, answer.response);
    }

    fn admit(&mut self, admission: &Admission<'_>) -> Result<(), Status> {
        self.policy
            .as_mut()
            .map_or(Ok(()), |policy| policy(admission))
    }

    fn register(&mut self, peer: SocketAddr, request: &Request) -> Answer {
        let Some(endpoint) = request
            .query_value("ep")
            .filter(|e| !e.is_empty())
            .map(String::from)
        else {
            return Answer::refused(Status::BadRequest, None, "no endpoint name (ep)");
        };
        let lifetime = match request.query_value("lt").map(str::parse::<u32>) {
            None => 86_400,
            Some(Ok(lt)) if lt > 0 => lt,
            Some(_) => {
                return Answer::refused(Status::BadRequest, Some(endpoint), "a bad lifetime (lt)")
            }
        };
        let objects = match link::parse(&request.payload)
            .and_then(|links| link::registered_objects(&links))
        {
            Ok(objects) => objects,
            Err(_) => {
                return Answer::refused(
                    Status::BadRequest,
                    Some(endpoint),
                    "objects not in link format",
                )
            }
        };
        let admission = Admission {
            endpoint: &endpoint,
            query: &request.query,
            payload: &request.payload,
            address: peer,
            update: false,
        };
        if let Err(status) = self.admit(&admission) {
            return Answer::refused(status, Some(endpoint), "refused by the server's policy");
        }
        // A client registering again replaces its old registration.
        if let Some(old) = self.by_endpoint.get(&endpoint).copied() {
            self.remove_registration(old);
        }
        self.next_location += 1;
        let location = Location(self.next_location);
        let registration = Registration {
            endpoint: endpoint.clone(),
            location,
            lifetime,
            binding: request.query_value("b").unwrap_or("U").to_string(),
            version: request.query_value("lwm2m").map(String::from),
            objects,
            query: extra_query(&request.query),
            address: peer,
            last_heard: self.now,
            expires: self.now + Duration::from_secs(u64::from(lifetime)),
        };
        let location_text = location.to_string();
        self.expiries.insert((registration.expires, location));
        self.by_endpoint.insert(endpoint.clone(), location);
        self.by_address.insert(peer, location);
        self.registrations.insert(location, registration);
        self.events.push_back(ServerEvent::Registered {
            endpoint: endpoint.clone(),
            location: location_text.clone(),
        });
        self.flush_queue(location);
        Answer::accepted(
            Response::new(Status::Created).with_location(&location_text),
            endpoint,
        )
    }

    fn update(&mut self, peer: SocketAddr, request: &Request) -> Answer {
        let Some((location, registration)) = Location::of_path(&request.path_text())
            .and_then(|l| Some((l, self.registrations.get(&l)?)))
        else {
            return Answer::refused(Status::NotFound, None, "no such registration");
        };
        let endpoint = registration.endpoint.clone();
        let admission = Admission {
            endpoint: &endpoint,
            query: &request.query,
            payload: &request.payload,
            address: peer,
            update: true,
        };
        if let Err(status) = self.admit(&admission) {
            return Answer::refused(status, Some(endpoint), "refused by the server's policy");
        }
        let lifetime = request
            .query_value("lt")
            .and_then(|lt| lt.parse::<u32>().ok())
            .filter(|lt| *lt > 0);
        let objects = (!request.payload.is_empty())
            .then(|| {
                link::parse(&request.payload)
                    .and_then(|l| link::registered_objects(&l))
                    .ok()
            })
            .flatten();
        let now = self.now;
        let Some(registration) = self.registrations.get_mut(&location) else {
            return Answer::refused(Status::NotFound, None, "no such registration");
        };
        self.expiries.remove(&(registration.expires, location));
        if let Some(lifetime) = lifetime {
            registration.lifetime = lifetime;
        }
        if let Some(binding) = request.query_value("b") {
            registration.binding = binding.to_string();
        }
        if let Some(objects) = objects {
            registration.objects = objects;
        }
        registration.query = extra_query(&request.query);
        registration.expires = now + Duration::from_secs(u64::from(registration.lifetime));
        registration.last_heard = now;
        let old_address = std::mem::replace(&mut registration.address, peer);
        self.expiries.insert((registration.expires, location));
        self.by_address.remove(&old_address);
        self.by_address.insert(peer, location);
        self.events.push_back(ServerEvent::Updated {
            endpoint: endpoint.clone(),
        });
        self.flush_queue(location);
        Answer::accepted(Response::new(Status::Changed), endpoint)
    }

    fn deregister(&mut self, request: &Request) -> Answer {
        match Location::of_path(&request.path_text()).and_then(|l| self.remove_registration(l)) {
            Some(endpoint) => {
                self.events.push_back(ServerEvent::Deregistered {
                    endpoint: endpoint.clone(),
                });
                Answer::accepted(Response::new(Status::Deleted), endpoint)
            }
            None => Answer::refused(Status::NotFound, None, "no such registration"),
        }
    }

    /// Forgets a registration and what waited for it; returns its endpoint name.
    fn remove_registration(&mut self, location: Location) -> Option<String> {
        let registration = self.registrations.remove(&location)?;
        self.expiries.remove(&(registration.expires, location));
        self.by_endpoint.remove(&registration.endpoint);
        self.by_address.remove(&registration.address);
        self.queued.remove(&location);
        self.forget_observations(location);
        Some(registration.endpoint)
    }

    /// Drops the observations of a registration that ended: their later notifications get a
    /// Reset, which ends them at the client too.
    fn forget_observations(&mut self, location: Location) {
        self.forget_observations_where(|p| p.location == location);
    }

    /// Forgets the observations of `path` of the client registered as `endpoint` without telling
    /// it: its next notification gets a Reset (a platform that lost its state, say). Returns
    /// whether there was one.
    pub fn forget_observation(&mut self, endpoint: &str, path: Path) -> bool {
        let Ok((location, _)) = self.registered(endpoint) else {
            return false;
        };
        self.forget_observations_where(|p| p.location == location && p.path == path) > 0
    }

    /// Forgets the observations whose operation matches; returns how many.
    fn forget_observations_where(&mut self, matches: impl Fn(&Pending) -> bool) -> usize {
        let observations: Vec<RequestId> = self
            .in_flight
            .iter()
            .filter(|(_, p)| matches!(p.kind, Operation::Observe { .. }) && matches(p))
            .map(|(id, _)| *id)
            .collect();
        for id in &observations {
            self.in_flight.remove(id);
            self.endpoint.forget(*id);
        }
        observations.len()
    }

    fn operation_done(&mut self, id: RequestId, result: Result<Response, ExchangeError>) {
        let Some(pending) = self.in_flight.get(&id).cloned() else {
            return;
        };
        let observing = matches!(pending.kind, Operation::Observe { .. })
            && result
                .as_ref()
                .is_ok_and(|r| r.observe.is_some() && r.is_success());
        if !observing {
            self.in_flight.remove(&id);
        }
        let endpoint = self.endpoint_of(pending.location);
        self.events.push_back(ServerEvent::Completed {
            operation: pending.operation,
            endpoint,
            path: pending.path,
            result,
        });
    }

    fn notification(&mut self, id: RequestId, response: Response) {
        let Some(pending) = self.in_flight.get(&id).cloned() else {
            return;
        };
        let endpoint = self.endpoint_of(pending.location);
        self.events.push_back(ServerEvent::Notification {
            operation: pending.operation,
            endpoint,
            path: pending.path,
            response,
        });
    }

    fn endpoint_of(&self, location: Location) -> String {
        self.registrations
            .get(&location)
            .map(|r| r.endpoint.clone())
            .unwrap_or_default()
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(at, location)) = self.expiries.first() {
            if at > now {
                break;
            }
            if let Some(endpoint) = self.remove_registration(location) {
                self.events.push_back(ServerEvent::Expired { endpoint });
            }
        }
    }
}

/// The CoAP request that carries `kind` on `path`.
fn request_of(kind: &Operation, path: &str) -> Request {
    match kind {
        Operation::Read { accept } => Request {
            accept: *accept,
            ..Request::get(path)
        },
        Operation::Discover => Request {
            accept: Some(40),
            ..Request::get(path)
        },
        Operation::Observe { accept } => Request {
            accept: *accept,
            ..Request::get(path).with_observe(0)
        },
        Operation::CancelObserve => Request::get(path).with_observe(1),
        Operation::Write {
            format,
            payload,
            replace,
        } => {
            let method = if *replace { Method::Put } else { Method::Post };
            Request::new(method, path).with_payload(*format, payload.clone())
        }
        Operation::Execute { arguments } => {
            let mut request = Request::new(Method::Post, path);
            request.payload = arguments.clone();
            request
        }
        Operation::WriteAttributes { pmin, pmax } => {
            let mut request = Request::new(Method::Put, path);
            request.query.extend(pmin.map(|v| format!("pmin={v}")));
            request.query.extend(pmax.map(|v| format!("pmax={v}")));
            request
        }
    }
}

impl DatagramNode for Lwm2mServer {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.now = now;
        self.endpoint.handle_datagram(now, from, datagram);
        self.handle_coap_events();
        // Any datagram from a client shows it is awake.
        if let Some(&location) = self.by_address.get(&from) {
            if let Some(registration) = self.registrations.get_mut(&location) {
                registration.last_heard = now;
            }
            if self.queued.contains_key(&location) {
                self.flush_queue(location);
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.endpoint.poll_transmit()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.endpoint.poll_timeout(),
            self.expiries.first().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.endpoint.handle_timeout(now);
        self.handle_coap_events();
        self.expire(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_order_as_their_text_and_only_their_own_text_names_them() {
        let mut numbers = [2, 10, 1, 19, 100, 9];
        numbers.sort_by_key(|&n| Location(n));
        let mut texts = numbers.map(|n| Location(n).to_string());
        texts.sort();
        assert_eq!(texts, numbers.map(|n| Location(n).to_string()));
        assert_eq!(Location::of_path("/rd/12"), Some(Location(12)));
        for path in ["/rd/012", "/rd/+12", "/rd/", "/rd/x", "/r/12"] {
            assert_eq!(Location::of_path(path), None, "{path}");
        }
    }

    #[test]
    fn a_registration_keeps_only_the_query_items_without_a_field() {
        let query = ["ep=a", "lt=60", "lwm2m=1.0", "b=U", "epi=abc", "bx=1", "ep"];
        let query: Vec<String> = query.iter().map(|q| q.to_string()).collect();
        assert_eq!(extra_query(&query), ["epi=abc", "bx=1", "ep"]);
    }
}
