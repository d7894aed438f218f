//! Interoperability of nbmodem's CoAP engine with independent implementations, over loopback UDP:
//! libcoap's `coap-client-notls` and `aiocoap-client` (and the aiocoap library) against
//! `nbmodem coap serve`, and `nbmodem coap get|put|post` against libcoap's `coap-server-notls`
//! and an aiocoap server (`tests/peers/aiocoap_server.py`).
//!
//! The peers come from Debian (`libcoap3-bin`) and PyPI (`aiocoap`); `scripts/test` installs them
//! and sets `NBMODEM_INTEROP`, which turns a missing peer into a failure. Without it, a test whose
//! peer is missing prints a note and passes.

use nbmodem_cli::coap_tool::large_body;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const NBMODEM: &str = env!("CARGO_BIN_EXE_nbmodem");
const LIBCOAP_CLIENT: &str = "coap-client-notls";
const LIBCOAP_SERVER: &str = "coap-server-notls";
const LIBCOAP_DTLS_CLIENT: &str = "coap-client-openssl";
const LIBCOAP_DTLS_SERVER: &str = "coap-server-openssl";
const PSK_IDENTITY: &str = "865975030000001";
const PSK_KEY: &str = "nbmodem-secret";
const AIOCOAP_CLIENT: &str = "aiocoap-client";
const AIOCOAP_VERSION: &str = "0.4.17";
/// How long any one peer or client run may take, unless a test says otherwise.
const RUN_LIMIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Peers: present, or skipped (or failed under NBMODEM_INTEROP).

/// An independent CoAP implementation the tests need.
enum Peer {
    Libcoap,
    Aiocoap,
}

impl Peer {
    /// Whether the peer is installed. When it is not: fails under `NBMODEM_INTEROP`, else notes it.
    fn available(self) -> bool {
        let (present, what, install) = match self {
            Peer::Libcoap => (
                [
                    LIBCOAP_CLIENT,
                    LIBCOAP_SERVER,
                    LIBCOAP_DTLS_CLIENT,
                    LIBCOAP_DTLS_SERVER,
                ]
                .iter()
                .all(|p| on_path(p)),
                "libcoap3-bin (coap-client-notls, coap-server-notls and their -openssl variants)",
                "apt-get install libcoap3-bin".to_string(),
            ),
            Peer::Aiocoap => (
                on_path(AIOCOAP_CLIENT) && python_has_aiocoap(),
                "aiocoap (aiocoap-client and the python3 module)",
                format!("python3 -m pip install aiocoap=={AIOCOAP_VERSION}"),
            ),
        };
        if present {
            return true;
        }
        if std::env::var_os("NBMODEM_INTEROP").is_some() {
            panic!("{what} is not installed; install it with `{install}` (scripts/test does)");
        }
        eprintln!("note: interop test skipped: {what} is not installed (`{install}`)");
        false
    }
}

/// Whether `program` is an executable file in a `PATH` directory.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Whether `python3` can import aiocoap (the servers and the observer script need it).
fn python_has_aiocoap() -> bool {
    let mut python = Command::new("python3");
    python.args(["-c", "import aiocoap"]);
    on_path("python3")
        && run("python3", &mut python, RUN_LIMIT)
            .status
            .is_some_and(|s| s.success())
}

/// A helper script in `tests/peers/`.
fn peer_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/peers")
        .join(name)
}

// ---------------------------------------------------------------------------------------------
// Processes: killed when dropped, output collected in the background, every wait bounded.

/// A child process, killed when dropped; threads collect what it writes.
struct Process {
    name: String,
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

/// How a run ended: its exit status (`None`: killed at its time limit) and its output.
struct Finished {
    name: String,
    status: Option<ExitStatus>,
    stdout: Vec<u8>,
    stderr: String,
}

/// Copies everything `pipe` delivers into a shared buffer, on a thread.
fn collect(mut pipe: impl Read + Send + 'static) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let data = Arc::new(Mutex::new(Vec::new()));
    let sink = data.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    (data, reader)
}

impl Process {
    fn start(name: &str, command: &mut Command) -> Process {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (stdout, out_reader) = collect(child.stdout.take().unwrap());
        let (stderr, err_reader) = collect(child.stderr.take().unwrap());
        Process {
            name: name.to_string(),
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Panics if the process has already exited (a server that should be running).
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}): {}", self.name, self.stderr_text());
        }
    }

    /// Waits for the process to exit, killing it at `limit`.
    fn wait(mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        let status = loop {
            match self.child.try_wait().unwrap() {
                Some(status) => break Some(status),
                None if Instant::now() >= deadline => break None,
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A grandchild may hold the pipes open: give the readers a moment, not forever.
        let drained = Instant::now() + Duration::from_secs(1);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < drained {
            std::thread::sleep(Duration::from_millis(10));
        }
        Finished {
            name: self.name.clone(),
            status,
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr_text(),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` to its end, killing it at `limit`.
fn run(name: &str, command: &mut Command, limit: Duration) -> Finished {
    Process::start(name, command).wait(limit)
}

impl Finished {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The output of a run that must exit 0; panics with what it printed otherwise.
    fn success(self) -> Finished {
        let outcome = match self.status {
            Some(status) if status.success() => return self,
            Some(status) => format!("exited with {status}"),
            None => "did not finish in time".to_string(),
        };
        let stdout: String = self.stdout_text().chars().take(600).collect();
        panic!(
            "{} {outcome}\nstdout: {stdout}\nstderr: {}",
            self.name, self.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Servers: ours, libcoap's and aiocoap's, each on an ephemeral loopback port.

/// Starts `nbmodem coap serve` on an ephemeral port; returns it and its address.
fn start_our_server() -> (Process, SocketAddr) {
    start_our_server_with(&[])
}

/// Starts `nbmodem coap serve` with more options (`--psk …`).
fn start_our_server_with(options: &[&str]) -> (Process, SocketAddr) {
    let mut command = Command::new(NBMODEM);
    command
        .args(["coap", "serve", "--listen", "127.0.0.1:0"])
        .args(options);
    let mut server = Process::start("nbmodem coap serve", &mut command);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stderr = server.stderr_text();
        // Only whole lines: the banner may be read half written.
        let whole = stderr.split_inclusive('\n').filter(|l| l.ends_with('\n'));
        if let Some(line) = whole.map(str::trim_end).find(|l| l.contains("serving on ")) {
            let address = line.rsplit(' ').next().unwrap();
            return (server, address.parse().unwrap());
        }
        server.assert_running();
        assert!(
            Instant::now() < deadline,
            "nbmodem coap serve did not start: {stderr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback port free for both UDP and TCP (libcoap's server listens on both).
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Waits until a CoAP ping (an empty CON) to `port` gets its RST: the server is listening.
fn wait_until_listening(server: &mut Process, port: u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let ping = [0x40, 0x00, 0x12, 0x34];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut reply = [0u8; 64];
    loop {
        socket.send_to(&ping, ("127.0.0.1", port)).unwrap();
        if let Ok(n) = socket.recv(&mut reply) {
            if n >= 4 && reply[0] & 0x30 == 0x30 && reply[2..4] == ping[2..4] {
                return;
            }
        }
        server.assert_running();
        assert!(
            Instant::now() < deadline,
            "{} does not answer a CoAP ping on port {port}: {}",
            server.name,
            server.stderr_text()
        );
    }
}

/// Starts libcoap's example server (`/`, `/time`, `/async`, `/example_data`).
fn start_libcoap_server() -> (Process, u16) {
    let port = free_port();
    let mut command = Command::new(LIBCOAP_SERVER);
    command.args(["-A", "127.0.0.1", "-p", &port.to_string()]);
    let mut server = Process::start(LIBCOAP_SERVER, &mut command);
    wait_until_listening(&mut server, port);
    (server, port)
}

/// Starts `tests/peers/aiocoap_server.py` (`/text`, `/large`, `/counter`, `/echo`).
fn start_aiocoap_server() -> (Process, u16) {
    let port = free_port();
    let mut command = Command::new("python3");
    command
        .arg(peer_script("aiocoap_server.py"))
        .arg(port.to_string())
        .env("PYTHONUNBUFFERED", "1");
    let mut server = Process::start("the aiocoap server", &mut command);
    wait_until_listening(&mut server, port);
    (server, port)
}

// ---------------------------------------------------------------------------------------------
// Clients: libcoap's, aiocoap's and ours.

/// Runs coap-client-notls with `args` and `uri`; returns the body it received (`-o` file).
fn libcoap_client(args: &[&str], uri: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("body");
    let mut command = Command::new(LIBCOAP_CLIENT);
    command
        .args(["-B", "10"])
        .args(args)
        .arg("-o")
        .arg(&out)
        .arg(uri);
    run(LIBCOAP_CLIENT, &mut command, RUN_LIMIT).success();
    std::fs::read(&out).unwrap_or_else(|e| panic!("{LIBCOAP_CLIENT} {uri} wrote no body: {e}"))
}

/// Runs aiocoap-client with `args` and `uri`; returns what it printed (the body).
fn aiocoap_client(args: &[&str], uri: &str) -> Vec<u8> {
    let mut command = Command::new(AIOCOAP_CLIENT);
    command.args(args).arg(uri);
    run(AIOCOAP_CLIENT, &mut command, RUN_LIMIT)
        .success()
        .stdout
}

/// Runs `nbmodem coap ARGS…`, which must succeed (a 2.xx response); returns its stdout.
fn our_client(args: &[&str]) -> String {
    let mut command = Command::new(NBMODEM);
    command.arg("coap").args(args);
    run("nbmodem coap", &mut command, RUN_LIMIT)
        .success()
        .stdout_text()
}

/// One response as `nbmodem coap` (and `aiocoap_observe.py`) prints it: `2.05 [cf 0] [obs 3] payload`.
struct Printed {
    status: String,
    observe: Option<u32>,
    payload: String,
}

fn parse_printed(text: &str) -> Printed {
    let (status, mut rest) = text.split_once(' ').unwrap_or((text, ""));
    let mut observe = None;
    while let Some((tag, after)) = rest.strip_prefix('[').and_then(|t| t.split_once("] ")) {
        if let Some(n) = tag.strip_prefix("obs ") {
            observe = Some(n.parse().unwrap());
        }
        rest = after;
    }
    Printed {
        status: status.to_string(),
        observe,
        payload: rest.to_string(),
    }
}

/// The single response of a one-shot `nbmodem coap` run, whose payload may span lines.
fn single_response(stdout: &str) -> Printed {
    parse_printed(stdout.strip_suffix('\n').unwrap_or(stdout))
}

/// Asserts that an observation's first response and at least `notifications` more came, with
/// increasing Observe numbers.
fn assert_observed(lines: &[Printed], notifications: usize, what: &str) {
    assert!(
        lines.len() > notifications && lines.iter().all(|l| l.status == "2.05"),
        "{what}: expected a 2.05 and {notifications} notifications, got {:?}",
        lines
            .iter()
            .map(|l| (&l.status, l.observe, &l.payload))
            .collect::<Vec<_>>()
    );
    let numbers: Vec<Option<u32>> = lines.iter().map(|l| l.observe).collect();
    assert!(
        numbers.iter().all(Option::is_some) && numbers.windows(2).all(|w| w[0] < w[1]),
        "{what}: Observe numbers not increasing: {numbers:?}"
    );
}

/// Asserts that the payloads are increasing decimal counters.
fn assert_counting(lines: &[Printed], what: &str) {
    let counters: Vec<Option<u64>> = lines.iter().map(|l| l.payload.parse().ok()).collect();
    assert!(
        counters.iter().all(Option::is_some) && counters.windows(2).all(|w| w[0] < w[1]),
        "{what}: the payloads are not increasing counters: {counters:?}"
    );
}

/// A 3000-byte text body that does not repeat at block boundaries.
fn body_3000() -> String {
    (0..3000)
        .map(|i: usize| char::from(b'a' + ((i * 7 + i / 64) % 26) as u8))
        .collect()
}

fn assert_same_body(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "{what}: got {} bytes, want {}; first difference at byte {at}",
            got.len(),
            want.len()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// a. libcoap's client → our server.

#[test]
fn libcoap_client_gets_text_and_link_format() {
    if !Peer::Libcoap.available() {
        return;
    }
    let (_server, address) = start_our_server();
    let test = libcoap_client(&[], &format!("coap://{address}/test"));
    assert_eq!(String::from_utf8_lossy(&test), "Hello from nbmodem");
    let core = libcoap_client(&[], &format!("coap://{address}/.well-known/core"));
    let core = String::from_utf8_lossy(&core);
    for link in ["</test>", "</large>;sz=102400", "</obs>;obs", "</echo>"] {
        assert!(
            core.contains(link),
            "no {link} in /.well-known/core: {core}"
        );
    }
}

#[test]
fn libcoap_client_gets_large_body_blockwise() {
    if !Peer::Libcoap.available() {
        return;
    }
    let (_server, address) = start_our_server();
    let uri = format!("coap://{address}/large");
    assert_same_body(&libcoap_client(&[], &uri), &large_body(), "GET /large");
    let small_blocks = libcoap_client(&["-b", "64"], &uri);
    assert_same_body(&small_blocks, &large_body(), "GET /large in 64-byte blocks");
}

#[test]
fn libcoap_client_sends_non_confirmable_requests() {
    if !Peer::Libcoap.available() {
        return;
    }
    let (_server, address) = start_our_server();
    let test = libcoap_client(&["-N"], &format!("coap://{address}/test"));
    assert_eq!(String::from_utf8_lossy(&test), "Hello from nbmodem");
    let large = libcoap_client(&["-N"], &format!("coap://{address}/large"));
    assert_same_body(&large, &large_body(), "NON GET /large");
}

#[test]
fn libcoap_client_puts_blockwise_and_gets_the_echo() {
    if !Peer::Libcoap.available() {
        return;
    }
    let (_server, address) = start_our_server();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("request");
    std::fs::write(&file, body_3000()).unwrap();
    let file = file.to_str().unwrap();
    let uri = format!("coap://{address}/echo");
    let echo = libcoap_client(&["-m", "put", "-b", "64", "-f", file], &uri);
    assert_same_body(&echo, body_3000().as_bytes(), "PUT /echo in 64-byte blocks");
}

#[test]
fn libcoap_client_observes() {
    if !Peer::Libcoap.available() {
        return;
    }
    let (_server, address) = start_our_server();
    let mut command = Command::new(LIBCOAP_CLIENT);
    command
        .args(["-B", "10", "-s", "3", "-w"])
        .arg(format!("coap://{address}/obs"));
    let out = run(LIBCOAP_CLIENT, &mut command, RUN_LIMIT)
        .success()
        .stdout_text();
    let counters: Vec<u64> = out.lines().filter_map(|l| l.trim().parse().ok()).collect();
    assert!(
        counters.len() >= 3 && counters.windows(2).all(|w| w[0] < w[1]),
        "expected a response and at least 2 notifications with increasing counters: {out:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// b. aiocoap → our server.

#[test]
fn aiocoap_client_gets_text_and_large_body() {
    if !Peer::Aiocoap.available() {
        return;
    }
    let (_server, address) = start_our_server();
    let test = aiocoap_client(&[], &format!("coap://{address}/test"));
    assert_eq!(String::from_utf8_lossy(&test), "Hello from nbmodem");
    let large = aiocoap_client(&[], &format!("coap://{address}/large"));
    assert_same_body(&large, &large_body(), "GET /large");
}

#[test]
fn aiocoap_client_posts_blockwise_and_gets_the_echo() {
    if !Peer::Aiocoap.available() {
        return;
    }
    let (_server, address) = start_our_server();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("request");
    std::fs::write(&file, body_3000()).unwrap();
    let payload = format!("@{}", file.display());
    // Size exponent 2: 64-byte Block1 blocks.
    let args = [
        "-m",
        "POST",
        "--payload",
        &payload,
        "--payload-initial-szx",
        "2",
    ];
    let echo = aiocoap_client(&args, &format!("coap://{address}/echo"));
    assert_same_body(
        &echo,
        body_3000().as_bytes(),
        "POST /echo in 64-byte blocks",
    );
}

#[test]
fn aiocoap_observes() {
    if !Peer::Aiocoap.available() {
        return;
    }
    let (_server, address) = start_our_server();
    let mut command = Command::new("python3");
    command
        .arg(peer_script("aiocoap_observe.py"))
        .args([&format!("coap://{address}/obs"), "2", "5"])
        .env("PYTHONUNBUFFERED", "1");
    let out = run("aiocoap_observe.py", &mut command, RUN_LIMIT)
        .success()
        .stdout_text();
    let lines: Vec<Printed> = out.lines().map(parse_printed).collect();
    assert_observed(&lines, 2, "aiocoap observing /obs");
    assert_counting(&lines, "aiocoap observing /obs");
}

// ---------------------------------------------------------------------------------------------
// c. Our client → libcoap's example server.

#[test]
fn our_client_gets_from_libcoap_server() {
    if !Peer::Libcoap.available() {
        return;
    }
    let (_server, port) = start_libcoap_server();
    let root = single_response(&our_client(&["get", &format!("coap://127.0.0.1:{port}/")]));
    assert_eq!(root.status, "2.05");
    assert!(root.payload.contains("libcoap"), "GET /: {}", root.payload);
    let core = our_client(&["get", &format!("coap://127.0.0.1:{port}/.well-known/core")]);
    let core = single_response(&core).payload;
    assert!(
        core.contains("</time>") && core.contains("</example_data>"),
        "{core}"
    );
    // /async?1 answers with an empty ACK, then a separate response a second later.
    let started = Instant::now();
    let delayed = single_response(&our_client(&[
        "get",
        &format!("coap://127.0.0.1:{port}/async?1"),
    ]));
    assert_eq!(
        (delayed.status.as_str(), delayed.payload.as_str()),
        ("2.05", "done")
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "/async?1 was not delayed"
    );
}

#[test]
fn our_client_transfers_blockwise_with_libcoap_server() {
    if !Peer::Libcoap.available() {
        return;
    }
    let (_server, port) = start_libcoap_server();
    let uri = format!("coap://127.0.0.1:{port}/example_data");
    let body = String::from_utf8(large_body()).unwrap();
    // 100 KiB up in Block1 blocks, then down again in Block2 blocks.
    let put = single_response(&our_client(&["put", &uri, &body]));
    assert!(
        ["2.01", "2.04"].contains(&put.status.as_str()),
        "PUT 100 KiB to /example_data: {}",
        put.status
    );
    let got = single_response(&our_client(&["get", &uri]));
    assert_eq!(got.status, "2.05");
    assert_same_body(got.payload.as_bytes(), body.as_bytes(), "GET /example_data");
}

#[test]
fn our_client_observes_libcoap_time() {
    if !Peer::Libcoap.available() {
        return;
    }
    let (_server, port) = start_libcoap_server();
    let uri = format!("coap://127.0.0.1:{port}/time");
    let out = our_client(&["get", &uri, "--observe", "3s"]);
    let lines: Vec<Printed> = out.lines().map(parse_printed).collect();
    assert_observed(&lines, 2, "observing libcoap's /time");
}

// ---------------------------------------------------------------------------------------------
// d. Our client → the aiocoap server.

#[test]
fn our_client_gets_from_aiocoap_server() {
    if !Peer::Aiocoap.available() {
        return;
    }
    let (_server, port) = start_aiocoap_server();
    let text = single_response(&our_client(&[
        "get",
        &format!("coap://127.0.0.1:{port}/text"),
    ]));
    assert_eq!(
        (text.status.as_str(), text.payload.as_str()),
        ("2.05", "Hello from aiocoap")
    );
    let large = single_response(&our_client(&[
        "get",
        &format!("coap://127.0.0.1:{port}/large"),
    ]));
    assert_eq!(large.status, "2.05");
    assert_same_body(
        large.payload.as_bytes(),
        &large_body(),
        "GET /large from aiocoap",
    );
}

#[test]
fn our_client_posts_blockwise_to_aiocoap_echo() {
    if !Peer::Aiocoap.available() {
        return;
    }
    let (_server, port) = start_aiocoap_server();
    let uri = format!("coap://127.0.0.1:{port}/echo");
    let echo = single_response(&our_client(&["post", &uri, &body_3000()]));
    assert_eq!(echo.status, "2.04");
    assert_same_body(
        echo.payload.as_bytes(),
        body_3000().as_bytes(),
        "POST /echo to aiocoap",
    );
}

#[test]
fn our_client_observes_aiocoap_counter() {
    if !Peer::Aiocoap.available() {
        return;
    }
    let (_server, port) = start_aiocoap_server();
    let uri = format!("coap://127.0.0.1:{port}/counter");
    let out = our_client(&["get", &uri, "--observe", "3s"]);
    let lines: Vec<Printed> = out.lines().map(parse_printed).collect();
    assert_observed(&lines, 2, "observing aiocoap's /counter");
    assert_counting(&lines, "observing aiocoap's /counter");
}

// ---------------------------------------------------------------------------------------------
// DTLS with pre-shared keys.

/// Runs coap-client-openssl with a PSK; returns whether it succeeded and the body it received.
fn libcoap_dtls_client(key: &str, uri: &str) -> (bool, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("body");
    let mut command = Command::new(LIBCOAP_DTLS_CLIENT);
    command
        .args(["-B", "5", "-u", PSK_IDENTITY, "-k", key, "-o"])
        .arg(&out)
        .arg(uri);
    let finished = run(LIBCOAP_DTLS_CLIENT, &mut command, RUN_LIMIT);
    (
        finished.status.is_some_and(|s| s.success()),
        std::fs::read(&out).unwrap_or_default(),
    )
}

#[test]
fn libcoap_dtls_client_against_our_server() {
    if !Peer::Libcoap.available() {
        return;
    }
    let psk = format!("{PSK_IDENTITY}:{PSK_KEY}");
    let (_server, address) = start_our_server_with(&["--psk", &psk]);
    let (ok, test) = libcoap_dtls_client(PSK_KEY, &format!("coaps://{address}/test"));
    assert!(ok, "coap-client-openssl failed");
    assert_eq!(String::from_utf8_lossy(&test), "Hello from nbmodem");
    let (_, large) = libcoap_dtls_client(PSK_KEY, &format!("coaps://{address}/large"));
    assert_same_body(&large, &large_body(), "GET /large over DTLS");
    let (_, refused) = libcoap_dtls_client("not the key", &format!("coaps://{address}/test"));
    assert!(refused.is_empty(), "a wrong key got data: {refused:?}");
}

#[test]
fn our_dtls_client_against_libcoap_server() {
    if !Peer::Libcoap.available() {
        return;
    }
    // libcoap serves plain CoAP on the port and DTLS on the next one.
    let port = free_port();
    let mut command = Command::new(LIBCOAP_DTLS_SERVER);
    command.args(["-A", "127.0.0.1", "-p", &port.to_string(), "-k", PSK_KEY]);
    let mut server = Process::start(LIBCOAP_DTLS_SERVER, &mut command);
    wait_until_listening(&mut server, port);
    let psk = format!("{PSK_IDENTITY}:{PSK_KEY}");
    let uri = format!("coaps://127.0.0.1:{}/time", port + 1);
    let printed = single_response(&our_client(&["get", &uri, "--psk", &psk]));
    assert!(
        printed.status.starts_with("2.05"),
        "{} {}",
        printed.status,
        printed.payload
    );
}

/// Whether the `openssl` command is installed; under `NBMODEM_INTEROP` its absence fails.
fn openssl_available() -> bool {
    if on_path("openssl") {
        return true;
    }
    assert!(
        std::env::var_os("NBMODEM_INTEROP").is_none(),
        "the openssl command is not installed (apt-get install openssl)"
    );
    eprintln!("note: skipped: the openssl command is not installed");
    false
}

/// `openssl s_client` from `local` to our DTLS server at `server`; its stdin stays open (so that
/// it does not close the session) until it is killed. Returns it once its handshake is done; the
/// caller kills and waits for it.
#[allow(clippy::zombie_processes)]
fn s_client_connected(local: SocketAddr, server: SocketAddr) -> Child {
    let key: String = PSK_KEY.bytes().map(|b| format!("{b:02x}")).collect();
    let mut child = Command::new("openssl")
        .args(["s_client", "-dtls1_2", "-bind", &local.to_string()])
        .args([
            "-connect",
            &server.to_string(),
            "-psk_identity",
            PSK_IDENTITY,
        ])
        .args(["-psk", &key, "-cipher", "PSK-AES128-CCM8"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting openssl s_client");
    let (stdout, _reader) = collect(child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&stdout.lock().unwrap()).into_owned();
        if text.contains("Cipher is PSK-AES128-CCM8") {
            return child;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the handshake from {local} did not complete: {text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_client_that_vanished_can_come_back_from_the_same_address() {
    if !openssl_available() {
        return;
    }
    let psk = format!("{PSK_IDENTITY}:{PSK_KEY}");
    let (mut server, address) = start_our_server_with(&["--psk", &psk]);
    let local: SocketAddr = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for attempt in 0..3 {
        let mut client = s_client_connected(local, address);
        // Gone without close_notify, as a module going to deep sleep or behind a new NAT.
        client.kill().unwrap();
        client.wait().unwrap();
        server.assert_running();
        eprintln!("attempt {attempt}: connected, then killed");
    }
}
