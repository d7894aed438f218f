//! `nbmodem coap`: a CoAP server with a few test resources and a one-shot CoAP client, both on the
//! engine the module and the platforms use. Handy for poking at a platform by hand, and the way
//! independent CoAP implementations exercise the engine in the interop tests.
//!
//! The server's resources:
//! - `/test`: GET gives a short text; PUT and POST replace it.
//! - `/large`: GET gives 100 KiB (block-wise).
//! - `/obs`: observable; a notification every second with a counter.
//! - `/echo`: POST or PUT gives the request body back (block-wise both ways).
//! - `/.well-known/core`: the list of resources.

use anyhow::{bail, Context, Result};
use nbmodem_clock::{Clock, Instant, RealClock};
use nbmodem_coap::{
    DatagramNode, Endpoint, EndpointConfig, Event, IncomingId, Method, ObservationId, Request,
    RequestId, Response, Status, Transmit,
};
use nbmodem_dtls::secure::{Role, SecureNode};
use nbmodem_net::udp;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Notify};

const TEXT: u16 = 0;
const LINK_FORMAT: u16 = 40;
const OCTET_STREAM: u16 = 42;
const OBSERVE_PERIOD: Duration = Duration::from_secs(1);

/// The body of `/large`: 100 KiB of a repeating, recognisable pattern.
pub fn large_body() -> Vec<u8> {
    (0..100 * 1024)
        .map(|i: usize| b"0123456789abcdefghijklmnopqrstuvwxyz\n"[i % 37])
        .collect()
}

/// The test server, as a node.
pub struct TestServer {
    endpoint: Endpoint,
    text: Vec<u8>,
    large: Vec<u8>,
    observers: Vec<ObservationId>,
    counter: u64,
    next_tick: Option<Instant>,
}

impl TestServer {
    pub fn new(config: EndpointConfig) -> Self {
        TestServer {
            endpoint: Endpoint::new(config),
            text: b"Hello from nbmodem".to_vec(),
            large: large_body(),
            observers: Vec::new(),
            counter: 0,
            next_tick: None,
        }
    }

    fn serve_requests(&mut self, now: Instant) {
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::Request { id, request, .. } => self.answer(now, id, request),
                Event::ObservationCancelled { id, .. } => self.observers.retain(|o| *o != id),
                _ => {}
            }
        }
    }

    fn answer(&mut self, now: Instant, id: IncomingId, request: Request) {
        let path = request.path_text();
        let response = match (request.method, path.as_str()) {
            (Method::Get, "/test") => {
                Response::new(Status::Content).with_payload(TEXT, self.text.clone())
            }
            (Method::Put | Method::Post, "/test") => {
                self.text = request.payload;
                Response::new(Status::Changed)
            }
            (Method::Get, "/large") => {
                Response::new(Status::Content).with_payload(OCTET_STREAM, self.large.clone())
            }
            (Method::Post | Method::Put, "/echo") => {
                Response::new(Status::Changed).with_payload(OCTET_STREAM, request.payload)
            }
            (Method::Get, "/obs") => {
                let mut response =
                    Response::new(Status::Content).with_payload(TEXT, self.counter.to_string());
                response.observe = request.observe.filter(|o| *o == 0);
                if let Some(observation) = self.endpoint.respond(now, id, response) {
                    if !self.observers.contains(&observation) {
                        self.observers.push(observation);
                    }
                    self.next_tick.get_or_insert(now + OBSERVE_PERIOD);
                }
                return;
            }
            (Method::Get, "/.well-known/core") => Response::new(Status::Content)
                .with_payload(LINK_FORMAT, "</test>,</large>;sz=102400,</obs>;obs,</echo>"),
            (Method::Get, _) => Response::new(Status::NotFound),
            _ => Response::new(Status::MethodNotAllowed),
        };
        self.endpoint.respond(now, id, response);
    }

    fn tick(&mut self, now: Instant) {
        self.counter += 1;
        for observer in self.observers.clone() {
            let notification =
                Response::new(Status::Content).with_payload(TEXT, self.counter.to_string());
            if self
                .endpoint
                .notify(now, observer, notification, false)
                .is_none()
            {
                self.observers.retain(|o| *o != observer);
            }
        }
        self.next_tick = (!self.observers.is_empty()).then(|| now + OBSERVE_PERIOD);
    }
}

impl DatagramNode for TestServer {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.endpoint.handle_datagram(now, from, datagram);
        self.serve_requests(now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.endpoint.poll_transmit()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.endpoint.poll_timeout(), self.next_tick]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        if self.next_tick.is_some_and(|t| t <= now) {
            self.tick(now);
        }
        self.serve_requests(now);
    }
}

/// A DTLS pre-shared key: identity and key, as `IDENTITY:KEY` on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Psk {
    pub identity: Vec<u8>,
    pub key: Vec<u8>,
}

impl std::str::FromStr for Psk {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some((identity, key)) if !identity.is_empty() && !key.is_empty() => Ok(Psk {
                identity: identity.as_bytes().to_vec(),
                key: key.as_bytes().to_vec(),
            }),
            _ => Err(format!("{s:?}: write IDENTITY:KEY")),
        }
    }
}

/// Runs the test server on `socket` until `shutdown`; behind DTLS when given a key.
pub async fn serve(
    socket: UdpSocket,
    psk: Option<Psk>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    // Seeded from the clock: a restarted server must not reuse the message IDs of the last run.
    let seed = RealClock.now().unix_millis();
    let server = TestServer::new(EndpointConfig {
        seed,
        ..Default::default()
    });
    match psk {
        None => run_node(server, socket, shutdown).await,
        Some(Psk { identity, key }) => {
            let lookup: nbmodem_dtls::PskLookup =
                Arc::new(move |id: &[u8]| (id == identity).then(|| key.clone()));
            // The cookie secret from the clock too: a forged source must not guess it.
            let config = nbmodem_dtls::Config {
                seed,
                ..Default::default()
            };
            let secure = SecureNode::new(server, Role::Server { lookup }).with_config(config);
            run_node(secure, socket, shutdown).await
        }
    }
}

async fn run_node<N: DatagramNode>(
    node: N,
    socket: UdpSocket,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    udp::run(
        Arc::new(Mutex::new(node)),
        socket,
        Arc::new(Notify::new()),
        shutdown,
    )
    .await?;
    Ok(())
}

/// A one-shot client: sends one request and reports what comes back.
struct OneShot {
    endpoint: Endpoint,
    report: mpsc::UnboundedSender<Event>,
    /// An observation to end (GET with Observe=1) at the instant given.
    cancel: Option<(RequestId, Instant)>,
}

impl OneShot {
    fn cancel_if_due(&mut self, now: Instant) {
        if let Some((id, _)) = self.cancel.filter(|(_, at)| *at <= now) {
            self.cancel = None;
            self.endpoint.cancel_observation(now, id);
        }
    }

    fn forward_events(&mut self) {
        while let Some(event) = self.endpoint.poll_event() {
            let _ = self.report.send(event);
        }
    }
}

impl DatagramNode for OneShot {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.endpoint.handle_datagram(now, from, datagram);
        self.forward_events();
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.endpoint.poll_transmit()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let cancel = self.cancel.map(|(_, at)| at);
        [self.endpoint.poll_timeout(), cancel]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.cancel_if_due(now);
        self.forward_events();
    }
}

/// What `nbmodem coap get|put|post|delete` was asked.
pub struct ClientArgs {
    pub method: Method,
    pub uri: String,
    pub payload: Option<String>,
    pub content_format: u16,
    pub confirmable: bool,
    /// Stay for notifications this long.
    pub observe: Option<Duration>,
    /// For `coaps://`.
    pub psk: Option<Psk>,
}

/// A parsed `coap://` or `coaps://` URI.
pub struct Uri {
    pub address: SocketAddr,
    pub path: String,
    pub query: Vec<String>,
    pub secure: bool,
}

/// Splits `coap[s]://host[:port]/path?query`.
pub fn parse_uri(uri: &str) -> Result<Uri> {
    let (rest, secure) = match (uri.strip_prefix("coap://"), uri.strip_prefix("coaps://")) {
        (Some(rest), _) => (rest, false),
        (_, Some(rest)) => (rest, true),
        _ => bail!("the URI must start with coap:// or coaps://"),
    };
    let (authority, path_query) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let default_port = if secure { 5684 } else { 5683 };
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    let address: SocketAddr = authority
        .parse()
        .with_context(|| format!("not an IP address and port: {authority}"))?;
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    let query = query
        .split('&')
        .filter(|q| !q.is_empty())
        .map(String::from)
        .collect();
    Ok(Uri {
        address,
        path: path.to_string(),
        query,
        secure,
    })
}

/// Sends one request and prints the response (and notifications); returns whether it succeeded.
pub async fn request(args: ClientArgs) -> Result<bool> {
    let uri = parse_uri(&args.uri)?;
    if !uri.address.ip().is_loopback() {
        bail!("nbmodem only talks to loopback addresses: {}", uri.address);
    }
    let mut request = Request::new(args.method, &uri.path);
    request.query = uri.query;
    if let Some(payload) = args.payload {
        request = request.with_payload(args.content_format, payload.into_bytes());
    }
    if args.observe.is_some() {
        request.observe = Some(0);
    }
    let bind: SocketAddr = if uri.address.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    }
    .parse()?;
    let socket = UdpSocket::bind(bind).await?;
    let (report, mut events) = mpsc::unbounded_channel();
    let now = RealClock.now();
    let mut endpoint = Endpoint::new(EndpointConfig {
        seed: now.unix_millis(),
        ..Default::default()
    });
    let id = endpoint.request(now, uri.address, request, args.confirmable);
    let cancel = args.observe.map(|d| (id, now + d));
    let client = OneShot {
        endpoint,
        report,
        cancel,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = stopped.await;
    };
    let outcome = match (uri.secure, args.psk) {
        (false, _) => {
            let driver = tokio::spawn(run_node(client, socket, stopped));
            let outcome = print_events(&mut events, args.observe).await;
            let _ = stop.send(());
            driver.await??;
            outcome
        }
        (true, Some(Psk { identity, key })) => {
            let node = Arc::new(Mutex::new(SecureNode::new(
                client,
                Role::Client { identity, key },
            )));
            let (wake, stepped) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
            let driver = tokio::spawn(udp::run_host(
                udp::OneSocket(Arc::clone(&node)),
                udp::Ports::One(socket),
                Arc::clone(&wake),
                Some(Arc::clone(&stepped)),
                stopped,
            ));
            let outcome = print_events(&mut events, args.observe).await;
            // Done: close the session (close_notify), so that the server can forget it at once;
            // the driver's next step sends it (a step already passed is not waited for).
            let _ = tokio::time::timeout(Duration::ZERO, stepped.notified()).await;
            udp::lock(&node).close_all(RealClock.now());
            wake.notify_one();
            let _ = tokio::time::timeout(Duration::from_secs(1), stepped.notified()).await;
            let _ = stop.send(());
            driver.await??;
            outcome
        }
        (true, None) => bail!("a coaps:// URI needs --psk IDENTITY:KEY"),
    };
    Ok(outcome)
}

/// How long after an observation's end we wait for the answer to its cancellation.
const CANCEL_GRACE: Duration = Duration::from_secs(15);

/// Prints the response and, for an observation, its notifications until the client cancels it.
async fn print_events(
    events: &mut mpsc::UnboundedReceiver<Event>,
    observe: Option<Duration>,
) -> bool {
    let limit = observe.map_or(Duration::from_secs(600), |d| d + CANCEL_GRACE);
    let deadline = tokio::time::Instant::now() + limit;
    let mut ok = false;
    let mut observing = false;
    loop {
        let event = match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) => event,
            _ => return ok,
        };
        match event {
            // The answer to our cancellation ends the observation; it is not a notification.
            Event::Response { .. } if observing => return ok,
            Event::Response { response, .. } | Event::Notification { response, .. } => {
                println!("{}", describe(&response));
                ok = response.is_success();
                observing = observe.is_some() && response.observe.is_some();
                if !observing {
                    return ok;
                }
            }
            Event::RequestFailed { error, .. } => {
                println!("failed: {error:?}");
                return false;
            }
            _ => {}
        }
    }
}

/// `2.05 [cf 0] Hello` — the payload as text when it is UTF-8, else as hex.
fn describe(response: &Response) -> String {
    let body = match std::str::from_utf8(&response.payload) {
        Ok(text) => text.to_string(),
        Err(_) => response
            .payload
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    };
    let format = response
        .content_format
        .map(|cf| format!(" [cf {cf}]"))
        .unwrap_or_default();
    let observe = response
        .observe
        .map(|o| format!(" [obs {o}]"))
        .unwrap_or_default();
    format!("{}{format}{observe} {body}", response.status_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    use nbmodem_net::sim::SimNetwork;

    #[test]
    fn observers_get_a_notification_every_second() {
        let server: SocketAddr = "127.0.0.1:5683".parse().unwrap();
        let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let mut net = SimNetwork::new(Instant::from_unix_millis(1_000_000), 1);
        net.attach(server, TestServer::new(EndpointConfig::default()));
        net.attach(client, Endpoint::new(EndpointConfig::default()));
        let now = net.now();
        let id = net.node::<Endpoint>(client).unwrap().request(
            now,
            server,
            Request::get("/obs").with_observe(0),
            true,
        );
        net.run_for(Duration::from_millis(3500));
        let mut payloads = Vec::new();
        while let Some(event) = net.node::<Endpoint>(client).unwrap().poll_event() {
            match event {
                Event::Response { id: got, response }
                | Event::Notification { id: got, response }
                    if got == id =>
                {
                    payloads.push(String::from_utf8(response.payload).unwrap())
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(payloads, ["0", "1", "2", "3"]);
    }

    #[test]
    fn parses_uris() {
        let uri = parse_uri("coap://127.0.0.1:5684/rd?ep=1&lt=300").unwrap();
        assert_eq!(
            (
                uri.address.port(),
                uri.path.as_str(),
                uri.query.len(),
                uri.secure
            ),
            (5684, "/rd", 2, false)
        );
        assert_eq!(parse_uri("coap://[::1]/x").unwrap().address.port(), 5683);
        assert_eq!(
            parse_uri("coaps://127.0.0.1/x").unwrap().address.port(),
            5684
        );
        assert!(parse_uri("http://127.0.0.1/").is_err());
        assert!(parse_uri("coap://example.org/").is_err());
    }
}

#[cfg(test)]
mod real_udp_tests {
    use super::*;

    #[tokio::test]
    async fn client_receives_notifications() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let fake = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (_, from) = server.recv_from(&mut buf).unwrap();
            let tkl = (buf[0] & 0xF) as usize;
            let token = buf[4..4 + tkl].to_vec();
            let mut ack = vec![0x60 | tkl as u8, 0x45, buf[2], buf[3]];
            ack.extend(&token);
            ack.extend([0x60, 0xFF, b'a']);
            server.send_to(&ack, from).unwrap();
            for i in 1..4u8 {
                std::thread::sleep(Duration::from_millis(300));
                let mut n = vec![0x50 | tkl as u8, 0x45, 0x20, i];
                n.extend(&token);
                n.extend([0x61, i, 0xFF, b'n', b'0' + i]);
                server.send_to(&n, from).unwrap();
            }
        });
        let args = ClientArgs {
            method: Method::Get,
            uri: format!("coap://127.0.0.1:{port}/obs"),
            payload: None,
            content_format: 0,
            confirmable: true,
            observe: Some(Duration::from_millis(1500)),
            psk: None,
        };
        assert!(request(args).await.unwrap());
        fake.join().unwrap();
    }
}
