//! The China Telecom (`POST /nb`) and China Unicom (`POST /`) self-registration registries
//! (protocols.md §1–2): one sans-IO node type, parameterised by [`Registry`].
//!
//! A record that decodes is answered 2.05 Content with `{"resultCode":"0","resultDesc":"Success"}`
//! (Content-Format 50); a malformed one (not base64, not JSON, a key twice, a field missing, not a
//! string or not what the operator takes: an IMEI of 15 digits, …) 4.00 Bad Request with
//! resultCode "2" and the reason, one longer than 1 KiB 4.13; a reject fault 2.05 with resultCode
//! "1".
//! Other paths get 4.04, other methods on the registry path 4.05. Everything is recorded.

use crate::fault::{join_faults, Faults};
use crate::peek::{excerpt, malformed_fields, other_fields, Datagram};
use crate::record::{RequestRecord, Server, Verdict};
use crate::shell::Engine;
use crate::write::Write;
use nbmodem_clock::Instant;
use nbmodem_coap::{Endpoint, EndpointConfig, Event, Method, Request, Response, Status};
use nbmodem_net::Transmit;
use nbmodem_operators::selfreg::{answer, RecordError, RegistrationRecord, Registry};
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;

/// Content-Format application/json.
const JSON: u16 = 50;

/// What a request to the registry resource decoded to (see [`RegistryEngine::decode`]).
type Decoded = Option<Result<RegistrationRecord, RecordError>>;

/// The registry's engine: a CoAP endpoint that answers and records each request.
pub struct RegistryEngine {
    registry: Registry,
    endpoint: Endpoint,
    faults: Faults,
    /// Records to store, in order.
    writes: VecDeque<Write>,
}

impl RegistryEngine {
    pub fn new(registry: Registry, coap: EndpointConfig) -> Self {
        RegistryEngine {
            registry,
            endpoint: Endpoint::new(coap),
            faults: Faults::default(),
            writes: VecDeque::new(),
        }
    }

    fn record(&mut self, record: RequestRecord) {
        self.writes.push_back(Write::Record(record));
    }

    pub fn server(&self) -> Server {
        match self.registry {
            Registry::ChinaTelecom => Server::Ct,
            Registry::ChinaUnicom => Server::Cu,
        }
    }

    /// The registry resource: `/nb` for China Telecom, the root for China Unicom.
    pub fn path(&self) -> &'static str {
        match self.registry {
            Registry::ChinaTelecom => "/nb",
            Registry::ChinaUnicom => "/",
        }
    }

    /// The record a POST to the registry resource carries, or why it does not decode; `None` for
    /// any other request.
    fn decode(&self, request: &Request) -> Decoded {
        let registration = request.path_text() == self.path() && request.method == Method::Post;
        registration.then(|| RegistrationRecord::decode(self.registry, &request.payload))
    }

    /// The answer to a request, its verdict and the fault that decided it, if any.
    fn answer(
        &mut self,
        request: &Request,
        decoded: &Decoded,
    ) -> (Response, Verdict, Option<String>) {
        let Some(decoded) = decoded else {
            let status = if request.path_text() == self.path() {
                Status::MethodNotAllowed
            } else {
                Status::NotFound
            };
            return (Response::new(status), Verdict::Rejected, None);
        };
        let json = |status, code, description: &str| {
            Response::new(status).with_payload(JSON, answer(code, description))
        };
        if self.faults.take_reject() {
            let response = json(Status::Content, "1", "Failure");
            return (response, Verdict::Rejected, Some("reject".into()));
        }
        match decoded {
            Ok(_) => (
                json(Status::Content, "0", "Success"),
                Verdict::Accepted,
                None,
            ),
            Err(e) => {
                let status = match e {
                    RecordError::TooLarge => Status::RequestEntityTooLarge,
                    _ => Status::BadRequest,
                };
                let response = json(status, "2", &format!("Bad record: {e}"));
                (response, Verdict::Rejected, None)
            }
        }
    }

    /// Hands a datagram to the engine and answers the request it carried, if any.
    fn process(&mut self, now: Instant, from: SocketAddr, datagram: &[u8], delay: Option<String>) {
        self.endpoint.handle_datagram(now, from, datagram);
        while let Some(event) = self.endpoint.poll_event() {
            if let Event::Request { id, peer, request } = event {
                let decoded = self.decode(&request);
                let (operation, fields) = describe(&request, &decoded);
                let (response, verdict, fault) = self.answer(&request, &decoded);
                let record = RequestRecord::new(self.server(), now, peer, operation)
                    .verdict(verdict, Some(response.status_text()))
                    .fault(join_faults(delay.clone(), fault))
                    .fields(fields);
                self.endpoint.respond(now, id, response);
                self.record(record);
            }
        }
    }

    fn record_dropped(&mut self, now: Instant, from: SocketAddr, request: &Request, fault: String) {
        let (operation, fields) = describe(request, &self.decode(request));
        let record = RequestRecord::new(self.server(), now, from, operation)
            .verdict(Verdict::Dropped, None)
            .fault(Some(fault))
            .fields(fields);
        self.record(record);
    }
}

/// The operation and decoded fields of a request, for its record.
fn describe(request: &Request, decoded: &Decoded) -> (&'static str, Map<String, Value>) {
    match decoded {
        None => ("other", other_fields(request)),
        Some(Ok(record)) => match serde_json::to_value(record) {
            Ok(Value::Object(fields)) => ("register", fields),
            _ => ("register", Map::new()),
        },
        Some(Err(e)) => ("register", bad_record_fields(e, &request.payload)),
    }
}

fn bad_record_fields(error: &RecordError, body: &[u8]) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("error".into(), json!(error.to_string()));
    fields.insert("body".into(), json!(excerpt(body)));
    fields
}

impl Engine for RegistryEngine {
    fn handle(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        peeked: Datagram,
        delay: Option<String>,
    ) {
        if peeked == Datagram::Malformed {
            let record = RequestRecord::new(self.server(), now, from, "malformed")
                .verdict(Verdict::Rejected, None)
                .fields(malformed_fields(datagram));
            self.record(record);
        }
        self.process(now, from, datagram, delay);
    }

    fn dropped(&mut self, now: Instant, from: SocketAddr, peeked: Datagram, fault: String) {
        if let Datagram::Request(incoming) = peeked {
            self.record_dropped(now, from, &incoming.request, fault);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.endpoint.poll_timeout()
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.endpoint.poll_transmit()
    }

    fn poll_write(&mut self) -> Option<Write> {
        self.writes.pop_front()
    }

    fn faults(&self) -> Faults {
        self.faults
    }

    fn with_faults(&mut self, change: &mut dyn FnMut(&mut Faults)) {
        change(&mut self.faults)
    }
}
