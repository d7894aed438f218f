//! `nbmodem platform` on a full disk ([`full_disk`]) whose standard error cannot be written
//! either: nothing is answered that is not stored (a registration, a device added through the
//! API), the failure is counted (`GET /api/storage`), no thread dies of a log line it could not
//! write, and service resumes once there is room. Where the tests may mount a file system (as
//! root), the same on a real full 8 MiB tmpfs.

use crate::api::ok;
use crate::binary::Platform;
use crate::full_disk;
use crate::sample::record;
use nbmodem_cli::platform::client::Client;
use nbmodem_clock::Instant;
use nbmodem_coap::{Endpoint, EndpointConfig, Event, Method, Request, Status};
use nbmodem_operators::selfreg::Registry;
use nbmodem_platform::{Server, Store};
use serde_json::json;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const IMEI: &str = "865975030000025";

/// A module posting one self-registration record to the CT registry, confirmable.
struct Module {
    socket: UdpSocket,
    coap: Endpoint,
    datagram: Vec<u8>,
    registry: SocketAddr,
}

impl Module {
    fn new(registry: SocketAddr) -> Module {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut coap = Endpoint::new(EndpointConfig::default());
        let body = record().encode(Registry::ChinaTelecom);
        let request = Request::new(Method::Post, "/nb").with_payload(50, body);
        coap.request(Instant::from_unix_millis(0), registry, request, true);
        let datagram = coap.poll_transmit().unwrap().payload;
        Module {
            socket,
            coap,
            datagram,
            registry,
        }
    }

    /// Sends the request (again: the same message ID) and waits a little for its answer.
    fn try_once(&mut self) -> Option<Status> {
        self.socket.send_to(&self.datagram, self.registry).unwrap();
        let mut buffer = [0; 2048];
        let (n, from) = self.socket.recv_from(&mut buffer).ok()?;
        let now = Instant::from_unix_millis(1);
        self.coap.handle_datagram(now, from, &buffer[..n]);
        std::iter::from_fn(|| self.coap.poll_event()).find_map(|event| match event {
            Event::Response { response, .. } => Some(response.status),
            _ => None,
        })
    }
}

fn storage(client: &Client) -> serde_json::Value {
    ok(client.get("/api/storage").unwrap(), 200)
}

#[test]
fn on_a_full_disk_nothing_unstored_is_acknowledged_and_service_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut platform = Platform::start_with_stderr_closed(dir.path(), &["--records-kept", "5"]);
    let token = std::fs::read_to_string(dir.path().join("control.token")).unwrap();
    let client = Client::new(platform.api, Some(token.trim().to_string()));
    full_disk::fill(dir.path());

    let mut module = Module::new(platform.ct);
    for _ in 0..3 {
        assert_eq!(module.try_once(), None, "answered but not stored");
    }
    let added = client
        .post("/api/iot/devices", &json!({"imei": IMEI}))
        .unwrap();
    assert_eq!(added.status, 503, "{}", added.body);
    let device = format!("/api/iot/devices/{IMEI}");
    assert_eq!(
        client.get(&device).unwrap().status,
        404,
        "nothing was changed"
    );
    let failing = storage(&client);
    assert_eq!(failing["writable"], false, "{failing}");
    assert!(failing["failed_commits"].as_u64() >= Some(1), "{failing}");
    assert_eq!(failing["records_kept"], 5);

    full_disk::free(dir.path());
    let answer = (0..20).find_map(|_| module.try_once());
    assert_eq!(answer, Some(Status::Content), "service resumes");
    let records = Store::open(dir.path())
        .unwrap()
        .records(Server::Ct)
        .unwrap();
    assert_eq!(records.len(), 1, "stored once");
    let added = client
        .post("/api/iot/devices", &json!({"imei": IMEI}))
        .unwrap();
    ok(added, 201);
    let stored = Store::open(dir.path()).unwrap().ctiot_devices().unwrap();
    assert!(stored.iter().any(|d| d.imei == IMEI));
    assert_eq!(storage(&client)["writable"], true);
    assert!(platform.is_running());
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// An 8 MiB tmpfs on `dir`, if this process may mount one.
    fn mount(dir: &Path) -> Option<Tmpfs> {
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        mounted.then(|| Tmpfs(dir.to_path_buf()))
    }

    /// Fills what is left of it with one file.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.0.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        while file.write_all(&[0; 64 * 1024]).is_ok() {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn on_a_full_tmpfs_nothing_unstored_is_acknowledged_and_service_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(tmpfs) = Tmpfs::mount(dir.path()) else {
        eprintln!("skipped: this process may not mount a tmpfs");
        return;
    };
    let data = dir.path().join("data");
    let mut platform = Platform::start_with_stderr_closed(&data, &[]);
    let token = std::fs::read_to_string(data.join("control.token")).unwrap();
    let client = Client::new(platform.api, Some(token.trim().to_string()));
    let mut module = Module::new(platform.ct);
    assert_eq!(module.try_once(), Some(Status::Content));

    let filler = tmpfs.fill();
    let mut second = Module::new(platform.ct);
    for _ in 0..3 {
        assert_eq!(second.try_once(), None, "answered but not stored");
    }
    let added = client
        .post("/api/iot/devices", &json!({"imei": IMEI}))
        .unwrap();
    assert_eq!(added.status, 503, "{}", added.body);
    assert_eq!(storage(&client)["writable"], false);

    std::fs::remove_file(filler).unwrap();
    let answer = (0..20).find_map(|_| second.try_once());
    assert_eq!(answer, Some(Status::Content), "service resumes");
    let records = Store::open(&data).unwrap().records(Server::Ct).unwrap();
    assert_eq!(records.len(), 2);
    ok(
        client
            .post("/api/iot/devices", &json!({"imei": IMEI}))
            .unwrap(),
        201,
    );
    assert!(platform.is_running());
    drop(platform);
}
