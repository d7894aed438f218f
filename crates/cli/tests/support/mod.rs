//! What several test binaries of the CLI share. Each binary uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The stand-ins of a test sandbox on free ports, never the fixed defaults: a sandbox a person
/// runs in another terminal must not break the tests.
pub const FREE_PORTS: [&str; 18] = [
    "--ct",
    "127.0.0.1:0",
    "--cu",
    "127.0.0.1:0",
    "--dm",
    "127.0.0.1:0",
    "--iot",
    "127.0.0.1:0",
    "--iot-dtls",
    "127.0.0.1:0",
    "--aep",
    "127.0.0.1:0",
    "--aep-dtls",
    "127.0.0.1:0",
    "--control",
    "127.0.0.1:0",
    "--api",
    "127.0.0.1:0",
];

/// A child process, killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `nbmodem sandbox` on free ports with `options`, its AT port on a pseudo-terminal at
/// `link`, in `cwd`; returns once it is up, with its banner.
pub fn sandbox_on_pty(cwd: &Path, link: &Path, options: &[&str]) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nbmodem"))
        .arg("sandbox")
        .args(FREE_PORTS)
        .args(options)
        .arg("--at")
        .arg(format!("pty:{}", link.display()))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut banner = String::new();
    while !banner.contains("module routes:") {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the sandbox stopped: {banner}"
        );
        banner.push_str(&line);
    }
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (Killed(child), banner)
}
