//! Interoperability of nbmodem's LwM2M 1.0 engines with an independent implementation, over
//! loopback UDP: npm's `lwm2m-node-lib` 1.4.0 (Telefónica) registers its client with our
//! [`Lwm2mServer`], and our [`Lwm2mClient`] registers with its server; each side then runs the
//! device management operations the library supports (Read, Discover, Write) on the other. Its
//! client also links to the China Telecom IoT platform stand-in as a device would: the platform
//! observes its /19/0/0, stores each notification as an uplink, and answers with a downlink.
//!
//! Our engines run in this test on tokio UDP sockets (`nbmodem_net::udp::run`); the peers are the
//! Node scripts in `tests/peers/lwm2m/` (`client.js`, `server.js`), which print what happens as JSON
//! lines. `scripts/test` installs the pinned package there (`npm ci`) and sets `NBMODEM_INTEROP`,
//! which turns a missing peer into a failure. Without it, a test whose peer is missing prints a
//! note and passes.
//!
//! The library predates LwM2M 1.0 in places, and the tests assert how: its client ignores Accept
//! and answers a resource Read in text without a Content-Format, but drops a request whose Accept
//! its CoAP library cannot name (the 1.0 TLV 11542 and JSON 11543); its server can ask for the
//! pre-1.0 text format 1541, which our client, keeping to the 1.0 numbers, refuses with 4.06.

use nbmodem_clock::{Clock, RealClock};
use nbmodem_coap::{EndpointConfig, ExchangeError, Response, Status, TransmissionParams};
use nbmodem_lwm2m::client::{ClientConfig, ClientEvent, Lwm2mClient};
use nbmodem_lwm2m::content::{Path, ResourceType, Value};
use nbmodem_lwm2m::object::{DataObject, ObjectStore, Operations, ResourceDef, ResourceValue};
use nbmodem_lwm2m::server::{Lwm2mServer, Operation, ServerEvent};
use nbmodem_net::DatagramNode;
use serde_json::Value as Json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};

/// The version `tests/peers/lwm2m/package.json` pins.
const PEER_VERSION: &str = "1.4.0";
/// How long any one step (a registration, an operation, a peer's line) may take.
const STEP_LIMIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// The peer: present, or skipped (or failed under NBMODEM_INTEROP).

fn peer_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/lwm2m")
}

/// Whether `node` and the installed `lwm2m-node-lib` are there. When they are not: fails under
/// `NBMODEM_INTEROP`, else notes it.
fn peer_available() -> bool {
    let problem = if !node_runs() {
        Some("node (Node.js) is not installed".to_string())
    } else {
        let manifest = peer_dir().join("node_modules/lwm2m-node-lib/package.json");
        match std::fs::read_to_string(&manifest).map(|t| serde_json::from_str::<Json>(&t)) {
            Ok(Ok(json)) if json["version"] == PEER_VERSION => None,
            Ok(Ok(json)) => Some(format!(
                "lwm2m-node-lib {} is installed, not {PEER_VERSION}",
                json["version"]
            )),
            _ => Some(format!(
                "lwm2m-node-lib {PEER_VERSION} is not installed in tests/peers/lwm2m"
            )),
        }
    };
    let Some(problem) = problem else {
        return true;
    };
    let install = "cd tests/peers/lwm2m && npm ci";
    if std::env::var_os("NBMODEM_INTEROP").is_some() {
        panic!("{problem}; install it with `{install}` (scripts/test does)");
    }
    eprintln!("note: LwM2M interop test skipped: {problem} (`{install}`)");
    false
}

fn node_runs() -> bool {
    Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A Node script of `tests/peers/lwm2m/`, killed when dropped. Its stdout lines arrive on a
/// channel; its stderr is kept for failure messages.
struct NodePeer {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    _readers: [JoinHandle<()>; 2],
}

impl NodePeer {
    fn start(name: &'static str, script: &str, args: &[&str]) -> NodePeer {
        let mut child = Command::new("node")
            .arg(peer_dir().join(script))
            .args(args)
            .current_dir(peer_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (sender, lines) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let out_reader = std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        let mut pipe = child.stderr.take().unwrap();
        let err_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        NodePeer {
            name,
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
            stderr,
            _readers: [out_reader, err_reader],
        }
    }

    /// Waits for the next JSON line whose `event` is `event`, skipping others; panics with all
    /// the peer printed if it does not come within [`STEP_LIMIT`].
    fn expect(&mut self, event: &str) -> Json {
        let deadline = Instant::now() + STEP_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    let json: Json = serde_json::from_str(&line).unwrap_or(Json::Null);
                    if json["event"] == "error" {
                        self.fail(&format!("reported an error while waiting for {event}"));
                    }
                    if json["event"] == event {
                        return json;
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.fail(&format!("printed no {event} event")),
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("exited before a {event} event"))
                }
            }
        }
    }

    /// Sends a line to the peer's stdin.
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap_or_else(|e| panic!("{}: stdin: {e}", self.name));
        stdin.flush().unwrap();
    }

    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        let stderr = String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned();
        panic!(
            "{} {what}\nstdout:\n{}\nstderr:\n{stderr}",
            self.name,
            self.seen.join("\n")
        );
    }
}

impl Drop for NodePeer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Our side: an LwM2M engine on a loopback tokio UDP socket, driven on its own thread.

/// A node run by `nbmodem_net::udp::run` on a runtime thread; stopped and joined when dropped.
struct Running<N> {
    node: Arc<Mutex<N>>,
    wake: Arc<Notify>,
    address: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl<N: DatagramNode + Send + 'static> Running<N> {
    fn start(node: N) -> Running<N> {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let address = socket.local_addr().unwrap();
        let node = Arc::new(Mutex::new(node));
        let wake = Arc::new(Notify::new());
        let (shutdown, stop) = oneshot::channel::<()>();
        let (driven, driven_wake) = (node.clone(), wake.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let socket = tokio::net::UdpSocket::from_std(socket)?;
                let stop = async {
                    let _ = stop.await;
                };
                nbmodem_net::udp::run(driven, socket, driven_wake, stop).await
            })
        });
        Running {
            node,
            wake,
            address,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// Acts on the node, then wakes the driver so that it sends what the node now has to send.
    fn act<T>(&self, f: impl FnOnce(&mut N, nbmodem_clock::Instant) -> T) -> T {
        let result = f(&mut nbmodem_net::udp::lock(&self.node), RealClock.now());
        self.wake.notify_one();
        result
    }

    /// Waits for an event `poll` picks out of the node's events (and keeps the others it saw).
    fn wait_for<E: std::fmt::Debug, T>(
        &self,
        what: &str,
        poll: impl Fn(&mut N) -> Option<E>,
        mut pick: impl FnMut(&E) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + STEP_LIMIT;
        let mut seen = Vec::new();
        loop {
            while let Some(event) = poll(&mut nbmodem_net::udp::lock(&self.node)) {
                if let Some(found) = pick(&event) {
                    return found;
                }
                seen.push(event);
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {STEP_LIMIT:?}; other events: {seen:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl<N> Drop for Running<N> {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) if !std::thread::panicking() => panic!("UDP driver failed: {e}"),
                Err(_) if !std::thread::panicking() => panic!("UDP driver panicked"),
                _ => {}
            }
        }
    }
}

fn path(text: &str) -> Path {
    text.parse().unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. lwm2m-node-lib's client → our server.

const PEER_ENDPOINT: &str = "lwm2m-node-lib-client";

/// Runs `kind` on `target` of the peer client; returns its response, or why there was none.
fn try_operate(
    server: &Running<Lwm2mServer>,
    target: &str,
    kind: Operation,
) -> Result<Response, ExchangeError> {
    let operation = server
        .act(|s, now| s.operate(now, PEER_ENDPOINT, path(target), kind.clone()))
        .unwrap_or_else(|e| panic!("{target}: {e}"));
    server.wait_for(
        &format!("outcome of {kind:?} {target}"),
        Lwm2mServer::poll_event,
        |event| match event {
            ServerEvent::Completed {
                operation: done,
                result,
                ..
            } if *done == operation => Some(result.clone()),
            _ => None,
        },
    )
}

/// Runs `kind` on `target` of the peer client; returns its response.
fn operate(server: &Running<Lwm2mServer>, target: &str, kind: Operation) -> Response {
    try_operate(server, target, kind.clone())
        .unwrap_or_else(|e| panic!("{kind:?} {target}: no response: {e:?}"))
}

fn text(response: &Response) -> String {
    String::from_utf8_lossy(&response.payload).into_owned()
}

#[test]
fn node_client_registers_with_our_server_and_serves_operations() {
    if !peer_available() {
        return;
    }
    // A request the peer drops must fail within seconds: ACK_TIMEOUT 1 s, one retransmission.
    let coap = EndpointConfig {
        params: TransmissionParams::exact(Duration::from_secs(1), 1),
        ..Default::default()
    };
    let server = Running::start(Lwm2mServer::new(coap));
    let port = server.address.port().to_string();
    let mut peer = NodePeer::start(
        "lwm2m-node-lib client",
        "client.js",
        &["127.0.0.1", &port, PEER_ENDPOINT, "300"],
    );

    // Register: ep, lt, lwm2m and b in the query; `</3/0>` (no Content-Format) as the payload.
    let location = server.wait_for("Registered", Lwm2mServer::poll_event, |e| match e {
        ServerEvent::Registered { endpoint, location } if endpoint == PEER_ENDPOINT => {
            Some(location.clone())
        }
        _ => None,
    });
    let registration = nbmodem_net::udp::lock(&server.node)
        .registration(PEER_ENDPOINT)
        .cloned()
        .expect("registration stored");
    assert_eq!(registration.location(), location);
    assert_eq!(registration.lifetime, 300);
    assert_eq!(registration.binding, "U");
    assert_eq!(registration.version.as_deref(), Some("1.0"));
    assert_eq!(registration.objects, [(3, Some(0))]);
    // The client learnt our location and listens for operations (on its registration port).
    let registered = peer.expect("registered");
    assert_eq!(
        format!("/{}", registered["location"].as_str().unwrap_or_default()),
        location
    );

    // Read /3/0/0: the peer answers in text whatever we accept (it ignores Accept), without a
    // Content-Format option...
    for accept in [None, Some(0), Some(1541), Some(42)] {
        let read = operate(&server, "/3/0/0", Operation::Read { accept });
        assert_eq!(
            read.status,
            Status::Content,
            "Read /3/0/0 accept {accept:?}"
        );
        assert_eq!(
            text(&read),
            "Telefonica I+D",
            "Read /3/0/0 accept {accept:?}"
        );
        assert_eq!(read.content_format, None, "Read /3/0/0 accept {accept:?}");
        peer.expect("read");
    }
    // ...except for an Accept its CoAP library (node-coap 0.22) has no name for, such as the LwM2M
    // 1.0 TLV (11542) and JSON (11543): it drops such a request unanswered, retransmissions too.
    for accept in [11542, 11543] {
        let dropped = try_operate(
            &server,
            "/3/0/0",
            Operation::Read {
                accept: Some(accept),
            },
        );
        assert_eq!(
            dropped.map(|r| r.status),
            Err(ExchangeError::Timeout),
            "Read /3/0/0 accept {accept}"
        );
    }
    let model = operate(&server, "/3/0/1", Operation::Read { accept: None });
    assert_eq!(
        (model.status, text(&model).as_str()),
        (Status::Content, "lwm2m-node-lib")
    );

    // Discover /3/0: the instance and its resources in link format.
    let discover = operate(&server, "/3/0", Operation::Discover);
    assert_eq!(discover.status, Status::Content);
    assert_eq!(text(&discover), "</3/0>,</3/0/0>,</3/0/1>,</3/0/3>");

    // Write /3/0/1 as text (PUT), then read it back.
    let write = operate(
        &server,
        "/3/0/1",
        Operation::Write {
            format: 0,
            payload: b"written by nbmodem".to_vec(),
            replace: true,
        },
    );
    assert_eq!(write.status, Status::Changed);
    let written = peer.expect("written");
    assert_eq!(
        (written["path"].as_str(), written["value"].as_str()),
        (Some("/3/0/1"), Some("written by nbmodem"))
    );
    let model = operate(&server, "/3/0/1", Operation::Read { accept: None });
    assert_eq!(text(&model), "written by nbmodem");
    peer.expect("read");

    // A resource the client does not have.
    let missing = operate(&server, "/3/0/9", Operation::Read { accept: None });
    assert_eq!(missing.status, Status::NotFound);

    // De-register.
    peer.send("deregister");
    server.wait_for("Deregistered", Lwm2mServer::poll_event, |e| {
        matches!(e, ServerEvent::Deregistered { endpoint } if endpoint == PEER_ENDPOINT)
            .then_some(())
    });
    peer.expect("deregistered");
    assert_eq!(nbmodem_net::udp::lock(&server.node).registration_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// 2. Our client → lwm2m-node-lib's server.

const OUR_ENDPOINT: &str = "nbmodem-interop-client";

/// Device (3) instance 0: manufacturer, model, firmware version, and a writable timezone (15).
fn device_object() -> ObjectStore {
    use Operations::*;
    let mut device = DataObject::new(
        3,
        vec![
            ResourceDef::new(0, ResourceType::String, Read),
            ResourceDef::new(1, ResourceType::String, Read),
            ResourceDef::new(3, ResourceType::String, Read),
            ResourceDef::new(15, ResourceType::String, ReadWrite),
        ],
    )
    .with_instance(0);
    for (resource, value) in [
        (0, "nbmodem"),
        (1, "nbmodem-sim"),
        (3, "0.1.0"),
        (15, "UTC"),
    ] {
        device.set(
            0,
            resource,
            ResourceValue::Single(Value::String(value.into())),
        );
    }
    let mut store = ObjectStore::new();
    store.add(device);
    store
}

/// The outcome of one of the peer server's operations: `Ok(value)` or `Err(code)`.
fn outcome(op: &Json) -> Result<String, String> {
    let text = |key: &str| op[key].as_str().unwrap_or_default().to_string();
    if op["ok"] == true {
        Ok(text("value"))
    } else {
        Err(text("code"))
    }
}

#[test]
fn our_client_registers_with_node_server_and_serves_operations() {
    if !peer_available() {
        return;
    }
    // The peer picks a free port itself: a port chosen here could be taken before it binds.
    let mut peer = NodePeer::start("lwm2m-node-lib server", "server.js", &["0"]);
    let port = peer.expect("listening")["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .expect("the peer's port");

    let mut config = ClientConfig::new(OUR_ENDPOINT, SocketAddr::from(([127, 0, 0, 1], port)));
    config.lifetime = Some(120);
    config.update_interval = Some(Duration::from_secs(1));
    let client = Running::start(Lwm2mClient::new(
        config,
        device_object(),
        EndpointConfig::default(),
    ));
    client.act(|c, now| c.register(now));

    // The peer saw our Register: query and payload.
    let registered = peer.expect("registered");
    assert_eq!(registered["endpoint"], OUR_ENDPOINT);
    assert_eq!(registered["lifetime"], "120");
    assert_eq!(registered["version"], "1.0");
    assert_eq!(registered["binding"], "U");
    assert_eq!(registered["payload"], "</>;rt=\"oma.lwm2m\",</3/0>");
    // The peer sends a single Location-Path option "rd/N"; we keep it as it is.
    let location = client.wait_for("Registered", Lwm2mClient::poll_event, |e| match e {
        ClientEvent::Registered { location } => Some(location.clone()),
        _ => None,
    });
    assert!(
        location.starts_with("/rd/"),
        "location {location:?} is not under /rd"
    );

    // The peer's operations on us, in order (server.js).
    let mut results = Vec::new();
    for _ in 0..6 {
        let op = peer.expect("op");
        results.push((
            op["op"].as_str().unwrap_or_default().to_string(),
            outcome(&op),
        ));
    }
    peer.expect("done");
    let expected: [(&str, Result<&str, &str>); 6] = [
        ("read /3/0/0", Ok("nbmodem")),
        ("read /3/0/0 accept 0", Ok("nbmodem")),
        // 1541 is the pre-1.0 number of text; LwM2M 1.0 says text is 0, so we refuse it.
        ("read /3/0/0 accept 1541", Err("4.06")),
        (
            "discover /3/0",
            Ok("</3/0>,</3/0/0>,</3/0/1>,</3/0/3>,</3/0/15>"),
        ),
        ("write /3/0/15", Ok("")),
        ("read /3/0/15", Ok("Europe/Madrid")),
    ];
    let expected: Vec<(String, Result<String, String>)> = expected
        .iter()
        .map(|(op, r)| (op.to_string(), r.map(String::from).map_err(String::from)))
        .collect();
    assert_eq!(results, expected);
    client.wait_for("Written", Lwm2mClient::poll_event, |e| match e {
        ClientEvent::Written { paths } => {
            assert_eq!(paths, &[path("/3/0/15")]);
            Some(())
        }
        _ => None,
    });

    // Updates to the location the peer gave (every second here).
    client.wait_for("Updated", Lwm2mClient::poll_event, |e| {
        matches!(e, ClientEvent::Updated).then_some(())
    });
    assert_eq!(peer.expect("updated")["endpoint"], OUR_ENDPOINT);

    // De-register.
    client.act(|c, now| c.deregister(now));
    client.wait_for("Deregistered", Lwm2mClient::poll_event, |e| {
        matches!(e, ClientEvent::Deregistered).then_some(())
    });
    assert_eq!(peer.expect("deregistered")["endpoint"], OUR_ENDPOINT);
}

// ---------------------------------------------------------------------------------------------
// 3. lwm2m-node-lib's client → the China Telecom IoT platform stand-in.

/// The device the stand-in knows, as the peer client's endpoint name.
const PEER_IMEI: &str = "865975030000099";

/// The uplinks the stand-in stored for [`PEER_IMEI`], oldest first, as text; waits until there
/// are `count`.
fn stored_uplinks(data: &std::path::Path, count: usize) -> Vec<String> {
    use nbmodem_platform::{Flavour, Store};
    let deadline = Instant::now() + STEP_LIMIT;
    loop {
        let store = Store::open(data).unwrap();
        let mut uplinks: Vec<String> = store
            .uplinks(Flavour::Iot, PEER_IMEI, None, 100)
            .unwrap()
            .into_iter()
            .map(|u| String::from_utf8_lossy(&u.data).into_owned())
            .collect();
        uplinks.reverse();
        if uplinks.len() >= count {
            return uplinks;
        }
        assert!(
            Instant::now() < deadline,
            "{count} uplinks not stored within {STEP_LIMIT:?}: {uplinks:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the stand-in has recorded its observation of /19/0/0 as accepted. The library
/// starts listening for the server's requests only after its registration is answered, so the
/// platform's first Observe is lost and its retransmission, 2 s later, is the one answered.
fn wait_for_observation(data: &std::path::Path) {
    use nbmodem_platform::{Server, Store, Verdict};
    let deadline = Instant::now() + STEP_LIMIT;
    loop {
        let records = Store::open(data).unwrap().records(Server::Iot).unwrap();
        let observed = records
            .iter()
            .any(|r| r.operation == "observe" && r.verdict == Verdict::Accepted);
        if observed {
            return;
        }
        assert!(Instant::now() < deadline, "no observation: {records:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn node_client_sends_uplinks_to_the_ct_iot_platform_stand_in() {
    if !peer_available() {
        return;
    }
    use nbmodem_platform::serve::{Background, ServeConfig};
    let data = tempfile::tempdir().unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let platforms = Background::start(ServeConfig {
        data: data.path().to_path_buf(),
        addresses: nbmodem_platform::Addresses {
            ct: any,
            cu: any,
            dm: any,
            iot: any,
            iot_dtls: any,
            aep: any,
            aep_dtls: any,
        },
        control: any,
        api: any,
        faults: Vec::new(),
        seed: 7,
        console: None,
        devices: vec![PEER_IMEI.to_string()],
        records_kept: nbmodem_platform::writer::DEFAULT_RECORDS_KEPT,
        module: None,
    })
    .unwrap();
    let port = platforms.addresses.iot.port().to_string();
    let mut client = NodePeer::start(
        "lwm2m-node-lib client",
        "client.js",
        &["127.0.0.1", &port, PEER_IMEI, "300", "/19/0", "/19/1"],
    );
    assert_eq!(client.expect("registered")["location"], "rd/1");
    // The platform observes /19/0/0; each new value is then a notification, stored as an uplink,
    // which the platform answers with a Write of AAAA0000.
    wait_for_observation(data.path());
    for value in ["hello", "world"] {
        client.send(&format!("set /19/0 0 {value}"));
        client.expect("set");
    }
    assert_eq!(client.expect("written")["path"], "/19/1/0");
    assert_eq!(stored_uplinks(data.path(), 2), ["hello", "world"]);
    client.send("deregister");
    client.expect("deregistered");
    platforms.stop().unwrap();
}
