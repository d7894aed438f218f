//! The API routes of the web console on a running `nbmodem platform`: logging in for a session
//! cookie (and out), the cookie taken where the token is, the live events, and the records and
//! faults of every server; the console's own files. Raw HTTP where cookies and event streams
//! are concerned (the command-line client sends neither).

use crate::api::{assert_error, ok};
use crate::binary::Platform;
use nbmodem_cli::platform::client::Client;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

const IMEI: &str = "865975030000001";
/// A bound on each read: the platform answers at once; only a broken one would take this long.
const READ_LIMIT: Duration = Duration::from_secs(30);

fn token(data: &Path) -> String {
    std::fs::read_to_string(data.join("control.token"))
        .unwrap()
        .trim()
        .to_string()
}

/// A request sent as it is (`headers` each ending in CRLF); the connection, its answer to read.
fn request(api: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> TcpStream {
    let mut stream = TcpStream::connect(api).unwrap();
    stream.set_read_timeout(Some(READ_LIMIT)).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

/// The whole answer of a request, as text.
fn exchange(api: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> String {
    let mut answer = String::new();
    request(api, method, path, headers, body)
        .read_to_string(&mut answer)
        .unwrap();
    answer
}

fn status(answer: &str) -> u16 {
    answer.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The value of the answer's `Set-Cookie`, if it has one.
fn set_cookie(answer: &str) -> Option<String> {
    answer.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("set-cookie")
            .then(|| value.trim().to_string())
    })
}

const JSON: &str = "Content-Type: application/json\r\n";

fn login(api: SocketAddr, token: &str) -> String {
    let body = json!({ "token": token }).to_string();
    exchange(api, "POST", "/api/login", JSON, &body)
}

#[test]
fn a_login_with_the_token_opens_a_session_the_api_takes_until_logout() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path(), &[]);
    let api = platform.api;
    for wrong in ["", "0", &"0".repeat(32)] {
        let answer = login(api, wrong);
        assert_eq!(status(&answer), 401, "{answer}");
        assert!(answer.contains("\"error\""), "{answer}");
        assert_eq!(set_cookie(&answer), None, "nothing set: {answer}");
    }
    let refused = exchange(api, "POST", "/api/login", JSON, r#"{"token":1}"#);
    assert_eq!(status(&refused), 422, "{refused}");
    assert_eq!(set_cookie(&refused), None);
    let answer = login(api, &token(dir.path()));
    assert_eq!(status(&answer), 200, "{answer}");
    let cookie = set_cookie(&answer).unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_string();
    let with_cookie = format!("Cookie: {session}\r\n");
    let devices = exchange(api, "GET", "/api/iot/devices", &with_cookie, "");
    assert_eq!(status(&devices), 200, "{devices}");
    let asked = exchange(api, "GET", "/api/session", &with_cookie, "");
    assert!(asked.contains(r#"{"logged_in":true}"#), "{asked}");
    let added = exchange(
        api,
        "POST",
        "/api/iot/devices",
        &format!("{with_cookie}{JSON}"),
        &json!({ "imei": IMEI }).to_string(),
    );
    assert_eq!(status(&added), 201, "a change too: {added}");
    let out = exchange(api, "POST", "/api/logout", &with_cookie, "");
    assert!(set_cookie(&out).unwrap().contains("Max-Age=0"), "{out}");
    let after = exchange(api, "GET", "/api/iot/devices", &with_cookie, "");
    assert_eq!(status(&after), 401, "the session ended: {after}");
    let forged = exchange(
        api,
        "GET",
        "/api/iot/devices",
        "Cookie: nbmodem_session=00000000000000000000000000000000\r\n",
        "",
    );
    assert_eq!(status(&forged), 401, "{forged}");
}

#[test]
fn the_console_is_served_without_the_token_and_asks_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path(), &[]);
    let console = format!("http://{}/console", platform.api);
    assert!(
        platform
            .banner
            .iter()
            .any(|line| *line == format!("console {console}")),
        "{:?}",
        platform.banner
    );
    for (path, media) in [
        ("/console", "text/html"),
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ] {
        let answer = exchange(platform.api, "GET", path, "", "");
        assert_eq!(status(&answer), 200, "{path}: {answer}");
        assert!(answer.contains(&format!("content-type: {media}")), "{path}");
        assert!(answer.contains("content-security-policy: default-src 'self'"));
    }
    let page = exchange(platform.api, "GET", "/console", "", "");
    assert!(page.contains(r#"id="token""#) && !page.contains(&token(dir.path())));
    let asked = exchange(platform.api, "GET", "/api/session", "", "");
    assert!(asked.contains(r#"{"logged_in":false}"#), "{asked}");
}

/// Reads event-stream lines until one carries `wanted`; the line.
fn read_event(events: &mut BufReader<TcpStream>, wanted: &str) -> String {
    loop {
        let mut line = String::new();
        assert!(events.read_line(&mut line).unwrap() > 0, "the stream ended");
        if line.starts_with("data:") && line.contains(wanted) {
            return line;
        }
    }
}

#[test]
fn the_events_tell_of_each_committed_change() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path(), &[]);
    let token = token(dir.path());
    let refused = exchange(platform.api, "GET", "/api/events", "", "");
    assert_eq!(status(&refused), 401, "{refused}");
    let auth = format!("Authorization: Bearer {token}\r\n");
    let mut events = BufReader::new(request(platform.api, "GET", "/api/events", &auth, ""));
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert!(events.read_line(&mut head).unwrap() > 0, "{head}");
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    let client = Client::new(platform.api, Some(token));
    ok(
        client
            .post("/api/aep/devices", &json!({ "imei": IMEI }))
            .unwrap(),
        201,
    );
    let line = read_event(&mut events, "\"kind\":\"device\"");
    let event: Value = serde_json::from_str(line.trim_start_matches("data:").trim()).unwrap();
    assert_eq!(
        event,
        json!({"kind": "device", "flavour": "aep", "server": "aep", "imei": IMEI})
    );
    // A server's record, written by its own writer.
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(b"not coap", platform.ct)
        .unwrap();
    read_event(&mut events, "\"server\":\"ct\"");
}

#[test]
fn every_servers_records_and_faults() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path(), &[]);
    let client = Client::new(platform.api, Some(token(dir.path())));
    let stranger = Client::new(platform.api, None);
    for path in ["/api/records/ct", "/api/faults/dm", "/api/events"] {
        assert_error(&stranger.get(path).unwrap(), 401, path);
    }
    assert_error(&stranger.delete("/api/faults/ct").unwrap(), 401, "DELETE");
    assert_error(
        &stranger
            .post("/api/faults/ct", &json!({"drop": 1}))
            .unwrap(),
        401,
        "POST",
    );
    let faults = |server: &str| ok(client.get(&format!("/api/faults/{server}")).unwrap(), 200);
    let before = faults("ct");
    for (path, status) in [
        ("/api/records/onenet", 400),
        ("/api/records/ct?limit=0", 400),
        ("/api/records/ct?limit=1001", 400),
        ("/api/records/ct?limit=x", 400),
        ("/api/records/ct?page=2", 400),
        ("/api/faults/onenet", 400),
    ] {
        assert_error(&client.get(path).unwrap(), status, path);
    }
    for (body, status) in [
        (json!({}), 400),
        (json!({"reset": 1}), 400),
        (json!({"drop": 1, "noack": 1}), 400),
        (json!({"delay": "forever"}), 400),
        (json!({"drop": "x"}), 422),
        (json!({"colour": 1}), 422),
    ] {
        let answer = client.post("/api/faults/ct", &body).unwrap();
        assert_error(&answer, status, &body.to_string());
    }
    assert_eq!(faults("ct"), before, "nothing changed");

    let set = ok(
        client
            .post("/api/faults/ct", &json!({"drop": 2, "delay": "1s"}))
            .unwrap(),
        200,
    );
    assert_eq!(
        (set["drop"].clone(), set["delay"].clone()),
        (json!(2), json!("1s"))
    );
    assert_eq!(faults("ct")["drop"], 2);
    assert_eq!(faults("cu")["drop"], 0, "only the server named");
    let aep = ok(
        client
            .post("/api/faults/aep", &json!({"noack": 1}))
            .unwrap(),
        200,
    );
    assert_eq!(aep["noack"], 1);
    assert_eq!(ok(client.get("/api/aep/faults").unwrap(), 200)["noack"], 1);
    let cleared = ok(client.delete("/api/faults/ct").unwrap(), 200);
    assert_eq!(
        (cleared["drop"].clone(), cleared["delay"].clone()),
        (json!(0), json!("0s"))
    );

    // Three malformed datagrams: three records, newest first, as many as asked for.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for n in 0..3u8 {
        socket.send_to(&[0xff, n], platform.cu).unwrap();
    }
    let mut records = Vec::new();
    for _ in 0..300 {
        records = ok(client.get("/api/records/cu?limit=1000").unwrap(), 200)["records"]
            .as_array()
            .unwrap()
            .clone();
        if records.len() == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(records.len(), 3, "{records:?}");
    let times: Vec<u64> = records
        .iter()
        .map(|r| r["time_ms"].as_u64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    let two = ok(client.get("/api/records/cu?limit=2").unwrap(), 200);
    assert_eq!(two["records"].as_array().unwrap()[..], records[..2]);
    assert_eq!(two["records"][0]["operation"], "malformed");
}
