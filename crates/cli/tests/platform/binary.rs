//! The `nbmodem` binary, and `nbmodem platform` running as a child process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long `nbmodem platform` may take to bind its sockets and print where they are.
const START_LIMIT: Duration = Duration::from_secs(30);

/// The path of the `nbmodem` binary Cargo built for these tests.
pub fn nbmodem() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nbmodem"))
}

/// Runs `nbmodem ARGS…` to completion.
pub fn run(args: &[&str]) -> Output {
    Command::new(nbmodem())
        .args(args)
        .output()
        .expect("running nbmodem")
}

/// `nbmodem platform` on ephemeral loopback ports; killed when dropped.
pub struct Platform {
    child: Child,
    pub ct: SocketAddr,
    pub cu: SocketAddr,
    pub dm: SocketAddr,
    pub control: SocketAddr,
    /// The HTTP API.
    pub api: SocketAddr,
    /// The CT IoT platforms: plain, then DTLS.
    pub iot: Vec<SocketAddr>,
    pub aep: Vec<SocketAddr>,
    /// What it printed at start-up.
    pub banner: Vec<String>,
}

impl Platform {
    pub fn start(data: &Path, extra: &[&str]) -> Platform {
        Self::start_with(Command::new(nbmodem()), data, extra, Stderr::Drained)
    }

    /// Starts it, then closes its standard error once the banner is read: every later write
    /// there fails (a broken pipe), as it would on a full disk.
    pub fn start_with_stderr_closed(data: &Path, extra: &[&str]) -> Platform {
        Self::start_with(Command::new(nbmodem()), data, extra, Stderr::Closed)
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Starts it with at most `limit` open files, as a busy machine might allow.
    pub fn start_with_file_limit(data: &Path, extra: &[&str], limit: u32) -> Platform {
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
            .arg(nbmodem());
        Self::start_with(shell, data, extra, Stderr::Drained)
    }

    fn start_with(mut command: Command, data: &Path, extra: &[&str], after: Stderr) -> Platform {
        let any_port = "127.0.0.1:0";
        let mut child = command
            .arg("platform")
            .arg("--data")
            .arg(data)
            .args(["--ct", any_port, "--cu", any_port, "--dm", any_port])
            .args(["--iot", any_port, "--iot-dtls", any_port])
            .args(["--aep", any_port, "--aep-dtls", any_port])
            .args(["--control", any_port, "--api", any_port])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting nbmodem platform");
        let banner = read_banner(&mut child, after);
        // The addresses on a line of the banner: `127.0.0.1:P`, `coap://127.0.0.1:P/nb`, ….
        let addresses = |prefix: &str| -> Vec<SocketAddr> {
            let line = banner.iter().find(|l| l.starts_with(prefix)).unwrap();
            line.split_whitespace()
                .map(|word| word.split_once("://").map_or(word, |(_, rest)| rest))
                .filter_map(|word| word.split('/').next()?.parse().ok())
                .collect()
        };
        let address = |prefix: &str| addresses(prefix)[0];
        Platform {
            ct: address("ct "),
            cu: address("cu "),
            dm: address("dm "),
            control: address("control "),
            api: address("api "),
            iot: addresses("iot "),
            aep: addresses("aep "),
            banner,
            child,
        }
    }
}

/// What becomes of the platform's standard error after the banner.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stderr {
    /// Read and dropped, so that the platform never waits on a full pipe.
    Drained,
    /// Closed.
    Closed,
}

/// The start-up lines (on standard error, which keeps standard output free for the sandbox's AT
/// port), up to the module routes; panics if they do not come in time.
fn read_banner(child: &mut Child, after: Stderr) -> Vec<String> {
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let last = line.starts_with("module routes:");
            let _ = sender.send(line);
            if last && after == Stderr::Closed {
                return;
            }
        }
    });
    let mut banner = Vec::new();
    while banner
        .last()
        .is_none_or(|l: &String| !l.starts_with("module routes:"))
    {
        let line = receiver
            .recv_timeout(START_LIMIT)
            .unwrap_or_else(|_| panic!("nbmodem platform printed only {banner:?}"));
        banner.push(line);
    }
    banner
}

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
