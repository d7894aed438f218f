//! An independent MCU driver, unmodified, against the module: the NarrowBand package from PyPI
//! (a Python driver for the Quectel BC95, tested by its authors on a BC95-B8) runs on
//! `nbmodem sandbox --model BC95 --coverage edge --at pty:…`: it attaches (AT+CSCON=1,
//! AT+CEREG=1, AT+CGATT=1), reads the signal the coverage gives (AT+CSQ), opens a UDP socket (AT+NSOCR=DGRAM,17,1337), sends a datagram to a public address the sandbox
//! routes to a UDP echo server the test runs on loopback (AT+NSOST), and reads the echo when
//! `+NSONMI` tells of it (AT+NSORF). The script is `tests/peers/narrowband_udp.py`.
//!
//! `scripts/test` installs the package (`pip install NarrowBand pyserial`) and sets
//! `NBMODEM_INTEROP`, which turns a missing peer into a failure; without it, the test notes that
//! the peer is missing and passes.

use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod support;
use support::{sandbox_on_pty, Killed};

const INSTALL: &str = "python3 -m pip install NarrowBand==0.2.1 pyserial==3.5";
/// How long the whole exchange may take: the library polls once a second while it attaches.
const LIMIT: Duration = Duration::from_secs(120);
/// The public address the driver sends to; the sandbox routes it to the echo server.
const PUBLIC_IP: &str = "47.100.1.2";
const PUBLIC_PORT: &str = "5000";
const TEXT: &str = "nbmodem-interop";

/// Whether python3 has the NarrowBand package (and pyserial). When not: a failure under
/// `NBMODEM_INTEROP`, else a note.
fn narrowband_available() -> bool {
    let present = Command::new("python3")
        .args(["-c", "import narrowband, serial"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return true;
    }
    if std::env::var_os("NBMODEM_INTEROP").is_some() {
        panic!("the NarrowBand Python package is not installed; install it with `{INSTALL}` (scripts/test does)");
    }
    eprintln!(
        "note: interop test skipped: the NarrowBand Python package is not installed (`{INSTALL}`)"
    );
    false
}

/// A UDP echo server on loopback; returns its port and what it received.
fn udp_echo() -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&received);
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            log.lock().unwrap().push(buf[..n].to_vec());
            let _ = socket.send_to(&buf[..n], from);
        }
    });
    (port, received)
}

#[test]
fn the_narrowband_python_driver_sends_udp_and_reads_the_echo() {
    if !narrowband_available() {
        return;
    }
    let (port, received) = udp_echo();
    let cwd = tempfile::tempdir().unwrap();
    let link = cwd.path().join("ttyNB0");
    let route = format!("{PUBLIC_IP}:{PUBLIC_PORT}=127.0.0.1:{port}");
    let options = ["--model", "BC95", "--coverage", "edge", "--route", &route];
    let (_sandbox, _) = sandbox_on_pty(cwd.path(), &link, &options);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/narrowband_udp.py");
    let mut driver = Command::new("python3")
        .arg("-u")
        .arg(script)
        .args([link.to_str().unwrap(), PUBLIC_IP, PUBLIC_PORT, TEXT])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = driver.stdout.take().unwrap();
    let mut stderr = driver.stderr.take().unwrap();
    let driver = Killed(driver);
    // The driver's lines, read on a thread so that the wait for the echo is bounded.
    let (lines, seen) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let mut transcript = Vec::new();
    let echoed = loop {
        match seen.recv_timeout(LIMIT) {
            Ok(line) if line.trim() == TEXT => break true,
            Ok(line) => transcript.push(line),
            Err(_) => break false,
        }
    };
    drop(driver);
    let mut errors = String::new();
    let _ = stderr.read_to_string(&mut errors);
    assert!(
        echoed,
        "the driver never printed the echo; its output:\n{}\n{errors}",
        transcript.join("\n")
    );
    assert!(transcript.iter().any(|l| l == "SENT"), "{transcript:?}");
    // The edge preset's signal (docs/decisions.md, "Radio: coverage, PSM, eDRX").
    assert!(
        transcript.iter().any(|l| l.trim() == "+CSQ:8,99"),
        "the signal of --coverage edge: {transcript:?}"
    );
    assert!(
        transcript.iter().any(|l| l.contains("AT+NSORF=0,")),
        "read with AT+NSORF after +NSONMI: {transcript:?}"
    );
    assert_eq!(*received.lock().unwrap(), [TEXT.as_bytes().to_vec()]);
}
