//! Round-trip time of `AT\r` → `\r\nOK\r\n` through the real-time driver, over the TCP and the
//! pseudo-terminal front-ends. The driver runs in this process on its own thread and tokio
//! current-thread runtime; the host side is blocking std I/O, as a test rig or a host program would
//! use. Besides criterion's figures, prints the distribution (median, p90, p99) of single round trips.

use criterion::Criterion;
use nbmodem_cli::console::Terminal;
use nbmodem_cli::driver;
use nbmodem_cli::port::{Port, PortSpec};
use nbmodem_module::node::ModuleNode;
use nbmodem_module::{find_profile, FileStore, Module, ModuleConfig};
use nix::fcntl::OFlag;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Round trips timed one by one for the distribution.
const SINGLE_ROUND_TRIPS: usize = 10_000;
/// How long the host waits for any answer before the benchmark gives up.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A BC25 run by the real driver on a thread of its own, until dropped.
struct Driver {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Where the port is: `tcp 127.0.0.1:…` or `pseudo-terminal …`.
    described: String,
    _data: TempDir,
}

impl Driver {
    fn start(spec: PortSpec) -> Driver {
        let data = tempfile::tempdir().expect("temporary data directory");
        let data_dir = data.path().to_path_buf();
        let (stop, stopped) = oneshot::channel::<()>();
        let (opened, described) = mpsc::channel::<String>();
        let thread = std::thread::Builder::new()
            .name("nbmodem-driver".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                runtime.block_on(async move {
                    let terminal = Terminal::standard(false);
                    let port = Port::open(&spec, &terminal)
                        .await
                        .expect("opening the port");
                    let store = FileStore::in_dir(&data_dir).expect("NVRAM store");
                    let config = ModuleConfig::new(find_profile("BC25").expect("BC25 profile"));
                    let module = Module::new(config, Box::new(store)).expect("module");
                    opened.send(port.describe()).expect("benchmark waiting");
                    let shutdown = async {
                        let _ = stopped.await;
                    };
                    let node = Arc::new(Mutex::new(ModuleNode::new(module)));
                    driver::run(node, port, terminal, None, shutdown)
                        .await
                        .expect("driver");
                });
            })
            .expect("driver thread");
        let described = described.recv().expect("driver started");
        Driver {
            stop: Some(stop),
            thread: Some(thread),
            described,
            _data: data,
        }
    }

    fn tcp_address(&self) -> &str {
        self.described
            .strip_prefix("tcp ")
            .expect("a TCP port describes itself as `tcp ADDRESS`")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("driver thread panicked");
        }
    }
}

/// Reads until what was read ends with `end`; returns everything read.
fn read_until(port: &mut impl Read, end: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.ends_with(end) {
        let n = port.read(&mut buf).expect("reading the port");
        assert!(
            n > 0,
            "port closed after {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// Waits for the boot URCs, then turns echo off so that `AT\r` is answered with `\r\nOK\r\n` only.
fn prepare(port: &mut (impl Read + Write)) {
    read_until(port, b"+CPIN: READY\r\n");
    port.write_all(b"ATE0\r").expect("writing ATE0");
    read_until(port, b"\r\nOK\r\n");
    // Check that echo is off: the answer is exactly the final result.
    port.write_all(b"AT\r").expect("writing AT");
    let answer = read_until(port, b"\r\nOK\r\n");
    assert_eq!(answer, b"\r\nOK\r\n", "echo still on?");
}

/// One `AT` round trip; `buf` holds at least the 6 bytes of the answer.
fn round_trip(port: &mut (impl Read + Write), buf: &mut [u8; 64]) {
    port.write_all(b"AT\r").expect("writing AT");
    let mut len = 0;
    while !buf[..len].ends_with(b"\r\nOK\r\n") {
        let n = port.read(&mut buf[len..]).expect("reading the answer");
        assert!(n > 0, "port closed");
        len += n;
    }
    assert_eq!(len, 6, "unexpected answer {:?}", &buf[..len]);
}

/// Times single round trips and prints their distribution.
fn distribution(name: &str, port: &mut (impl Read + Write)) {
    let mut buf = [0u8; 64];
    let mut times: Vec<Duration> = (0..SINGLE_ROUND_TRIPS)
        .map(|_| {
            let start = Instant::now();
            round_trip(port, &mut buf);
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name}: {} single round trips: min {:?}, median {:?}, p90 {:?}, p99 {:?}, max {:?}",
        times.len(),
        times[0],
        at(0.5),
        at(0.9),
        at(0.99),
        times[times.len() - 1],
    );
}

fn bench_port(c: &mut Criterion, name: &str, port: &mut (impl Read + Write)) {
    prepare(port);
    let mut buf = [0u8; 64];
    c.bench_function(name, |b| b.iter(|| round_trip(port, &mut buf)));
    distribution(name, port);
}

fn bench_tcp(c: &mut Criterion) {
    let driver = Driver::start(PortSpec::Tcp("127.0.0.1:0".into()));
    let mut stream = TcpStream::connect(driver.tcp_address()).expect("connecting");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    bench_port(c, "round_trip/tcp", &mut stream);
    drop(stream);
    drop(driver);
}

fn bench_pty(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let link = dir.path().join("ttyNB");
    let driver = Driver::start(PortSpec::Pty(link.clone()));
    let mut tty = open_tty(&link);
    bench_port(c, "round_trip/pty", &mut tty);
    drop(tty);
    drop(driver);
}

/// Opens the pseudo-terminal's slave as a host program opens a UART (it is already in raw mode).
fn open_tty(link: &Path) -> std::fs::File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(OFlag::O_NOCTTY.bits())
        .open(link)
        .unwrap_or_else(|e| panic!("opening {}: {e}", link.display()))
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_tcp(&mut c);
    bench_pty(&mut c);
    c.final_summary();
}
