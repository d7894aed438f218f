//! The API's connections are bounded (docs/reliability.md): idle and unfinished requests are
//! closed, and connections beyond the cap are answered 503 at once, so that a flood of them
//! never takes the descriptors the control port needs.

use crate::binary::{run, Platform};
use nbmodem_cli::platform::client::Client;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Longer than any of the API's timeouts: a connection still open after it is never closed.
const HANG_GUARD: Duration = Duration::from_secs(90);

fn token(data: &std::path::Path) -> String {
    std::fs::read_to_string(data.join("control.token"))
        .unwrap()
        .trim()
        .to_string()
}

/// Connects and sends `bytes`.
fn open_with(address: SocketAddr, bytes: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(bytes.as_bytes()).unwrap();
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    stream
}

/// Whether the platform closes `stream`, what it answered until then being ignored; false if it
/// is still open after the hang guard.
fn closed_by_platform(mut stream: TcpStream) -> bool {
    let mut buf = [0; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn idle_and_unfinished_requests_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path(), &[]);
    let authorized = format!(
        "POST /api/iot/devices HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\n",
        token(dir.path())
    );
    let cases = [
        ("an idle connection", String::new()),
        (
            "headers never finished",
            "GET /api/iot/devices HTTP/1.1\r\nHost: api\r\n".into(),
        ),
        (
            "a 1 GB body announced and never sent",
            format!("{authorized}Content-Length: 1000000000\r\n\r\n"),
        ),
        (
            "part of a small body",
            format!("{authorized}Content-Length: 100\r\n\r\n{{\"imei\":"),
        ),
    ];
    let waiting: Vec<_> = cases
        .into_iter()
        .map(|(what, bytes)| {
            let stream = open_with(platform.api, &bytes);
            (what, std::thread::spawn(move || closed_by_platform(stream)))
        })
        .collect();
    for (what, closed) in waiting {
        assert!(closed.join().unwrap(), "{what}: still open");
    }
    let client = Client::new(platform.api, Some(token(dir.path())));
    assert_eq!(client.get("/api/iot/devices").unwrap().status, 200);
}

#[test]
fn connections_beyond_the_cap_get_503_and_the_control_port_stays_reachable() {
    // 320 open files: room for 64 API connections beside the reserve. Twice as many connections
    // as the platform may have files would, uncapped, leave it none for the control port.
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start_with_file_limit(dir.path(), &[], 320);
    // One hang guard for all: without the cap, the platform stops accepting, connections wait
    // in the listen queue and reads wait for answers; once the guard is past, the rest fail
    // at once.
    let guard = std::time::Instant::now() + HANG_GUARD;
    let left = || {
        let left = guard.saturating_duration_since(std::time::Instant::now());
        left.max(Duration::from_millis(1))
    };
    let flood: Vec<TcpStream> = (0..640)
        .filter_map(|_| TcpStream::connect_timeout(&platform.api, left()).ok())
        .collect();
    assert_eq!(
        flood.len(),
        640,
        "every connection is taken, and answered if refused"
    );
    let mut refused = 0;
    for mut stream in flood.iter().rev().take(100) {
        stream.set_read_timeout(Some(left())).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        if answer.starts_with("HTTP/1.1 503") && answer.contains("too many connections") {
            refused += 1;
        }
    }
    assert_eq!(refused, 100, "the newest connections are refused with 503");
    let set = run(&[
        "platform",
        "fault",
        "ct",
        "drop=1",
        "--control",
        &platform.control.to_string(),
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&set.stdout),
        "OK\n",
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    drop(flood);
    // The platform sees the flood's connections close and serves again; a few tries at most.
    let client = Client::new(platform.api, Some(token(dir.path())));
    let served = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        client
            .get("/api/iot/devices")
            .is_ok_and(|a| a.status == 200)
    });
    assert!(served, "the API serves again once the flood has gone");
}
