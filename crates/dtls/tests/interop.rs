//! Interoperability with OpenSSL's command-line tools over loopback UDP: our client against
//! `openssl s_server`, `openssl s_client` against our server, once per cipher suite.
//!
//! Skipped, with a message, when there is no `openssl` binary on the PATH, unless `NBMODEM_INTEROP`
//! is set (as `scripts/test` does): then a missing binary fails.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant as StdInstant};

use common::{IMEI, KEY};
use nbmodem_clock::{Clock, RealClock};
use nbmodem_dtls::{DtlsSession, Event, CIPHER_SUITES};

/// How long any one step (handshake, a message, the close) may take before the test fails.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

#[test]
fn our_client_talks_to_openssl_s_server_with_every_suite() {
    if !openssl_tool_available() {
        return;
    }
    for suite in CIPHER_SUITES {
        if let Err(e) = client_against_s_server(suite) {
            panic!("{suite}: {e}");
        }
    }
}

#[test]
fn openssl_s_client_talks_to_our_server_with_every_suite() {
    if !openssl_tool_available() {
        return;
    }
    for suite in CIPHER_SUITES {
        if let Err(e) = s_client_against_server(suite) {
            panic!("{suite}: {e}");
        }
    }
}

fn client_against_s_server(suite: &str) -> Result<(), String> {
    let port = free_udp_port()?;
    let accept = format!("127.0.0.1:{port}");
    let mut s_server = Tool::spawn(&[
        "s_server",
        "-dtls1_2",
        "-accept",
        &accept,
        "-nocert",
        "-naccept",
        "1",
        "-psk",
        &hex(KEY),
        "-psk_identity",
        &text(IMEI),
        "-cipher",
        suite,
    ])?;
    s_server.expect_line("ACCEPT")?;

    let mut link = UdpLink::new(Some(accept.parse().map_err(|e| format!("{e}"))?))?;
    let mut client = DtlsSession::client(link.now(), IMEI, KEY).map_err(|e| e.to_string())?;
    link.run_until(&mut client, |e| *e == Event::Connected)?;
    if client.cipher_suite() != Some(suite) {
        return Err(format!("negotiated {:?}", client.cipher_suite()));
    }

    client
        .send(link.now(), b"hello from nbmodem\n")
        .map_err(|e| e.to_string())?;
    link.flush(&mut client);
    s_server.expect_line("hello from nbmodem")?;

    s_server.type_line("hello from openssl s_server")?;
    link.run_until(&mut client, |e| {
        received_starting_with(e, b"hello from openssl s_server")
    })?;

    client.close();
    link.flush(&mut client);
    s_server.expect_line("DONE")?;
    s_server.expect_exit()
}

fn s_client_against_server(suite: &str) -> Result<(), String> {
    let mut link = UdpLink::new(None)?;
    let connect = link.local_addr()?.to_string();
    let mut server = DtlsSession::server(common::lookup()).map_err(|e| e.to_string())?;
    let mut s_client = Tool::spawn(&[
        "s_client",
        "-dtls1_2",
        "-connect",
        &connect,
        "-psk",
        &hex(KEY),
        "-psk_identity",
        &text(IMEI),
        "-cipher",
        suite,
    ])?;

    link.run_until(&mut server, |e| *e == Event::Connected)?;
    if server.peer_identity() != Some(IMEI) || server.cipher_suite() != Some(suite) {
        return Err(format!(
            "identity {:?}, suite {:?}",
            server.peer_identity().map(text),
            server.cipher_suite()
        ));
    }

    s_client.type_line("hello from openssl s_client")?;
    link.run_until(&mut server, |e| {
        received_starting_with(e, b"hello from openssl s_client")
    })?;

    server
        .send(link.now(), b"hello from the nbmodem server\n")
        .map_err(|e| e.to_string())?;
    link.flush(&mut server);
    s_client.expect_line("hello from the nbmodem server")?;

    server.close();
    link.flush(&mut server);
    s_client.expect_exit()
}

fn received_starting_with(event: &Event, prefix: &[u8]) -> bool {
    matches!(event, Event::Received(message) if message.starts_with(prefix))
}

fn openssl_tool_available() -> bool {
    let works = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !works {
        // scripts/test installs openssl and sets NBMODEM_INTEROP: there a missing peer fails.
        assert!(
            std::env::var_os("NBMODEM_INTEROP").is_none(),
            "NBMODEM_INTEROP is set but there is no working `openssl` binary on the PATH"
        );
        eprintln!("skipping the interoperability test: no working `openssl` binary on the PATH");
    }
    works
}

fn free_udp_port() -> Result<u16, String> {
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(socket.local_addr().map_err(|e| e.to_string())?.port())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A session's UDP socket on loopback, driven with the real clock.
struct UdpLink {
    socket: UdpSocket,
    peer: Option<SocketAddr>,
}

impl UdpLink {
    /// A socket sending to `peer`, or (a server) to whoever sends first.
    fn new(peer: Option<SocketAddr>) -> Result<UdpLink, String> {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        socket
            .set_read_timeout(Some(Duration::from_millis(10)))
            .map_err(|e| e.to_string())?;
        Ok(UdpLink { socket, peer })
    }

    fn local_addr(&self) -> Result<SocketAddr, String> {
        self.socket.local_addr().map_err(|e| e.to_string())
    }

    fn now(&self) -> nbmodem_clock::Instant {
        RealClock.now()
    }

    /// Drives `session` until an event satisfies `wanted`; fails on a failure event or time-out.
    fn run_until(
        &mut self,
        session: &mut DtlsSession,
        mut wanted: impl FnMut(&Event) -> bool,
    ) -> Result<(), String> {
        let deadline = StdInstant::now() + STEP_TIMEOUT;
        let mut seen = Vec::new();
        while StdInstant::now() < deadline {
            self.flush(session);
            self.receive(session);
            session.handle_timeout(self.now());
            while let Some(event) = session.poll_event() {
                if wanted(&event) {
                    self.flush(session);
                    return Ok(());
                }
                if let Event::Failed(failure) = &event {
                    return Err(format!("session failed: {failure}"));
                }
                seen.push(event);
            }
        }
        Err(format!("timed out; events so far: {seen:?}"))
    }

    fn flush(&mut self, session: &mut DtlsSession) {
        while let Some(datagram) = session.poll_transmit() {
            if let Some(peer) = self.peer {
                // Refused or lost sends are the retransmission timer's business.
                let _ = self.socket.send_to(&datagram, peer);
            }
        }
    }

    fn receive(&mut self, session: &mut DtlsSession) {
        let mut buf = [0u8; 65_535];
        let Ok((len, from)) = self.socket.recv_from(&mut buf) else {
            return;
        };
        let peer = *self.peer.get_or_insert(from);
        if from == peer {
            session.handle_datagram(self.now(), &buf[..len]);
        }
    }
}

/// A running `openssl` command with its output collected line by line.
struct Tool {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    transcript: Vec<String>,
}

impl Tool {
    fn spawn(args: &[&str]) -> Result<Tool, String> {
        let mut child = Command::new("openssl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run openssl {}: {e}", args.join(" ")))?;
        let (tx, lines) = mpsc::channel();
        let stdin = child.stdin.take().ok_or("no stdin")?;
        forward_lines(child.stdout.take().ok_or("no stdout")?, tx.clone());
        forward_lines(child.stderr.take().ok_or("no stderr")?, tx);
        Ok(Tool {
            child,
            stdin,
            lines,
            transcript: Vec::new(),
        })
    }

    fn expect_line(&mut self, needle: &str) -> Result<(), String> {
        let deadline = StdInstant::now() + STEP_TIMEOUT;
        while let Some(left) = deadline.checked_duration_since(StdInstant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            let found = line.contains(needle);
            self.transcript.push(line);
            if found {
                return Ok(());
            }
        }
        Err(format!(
            "openssl never printed {needle:?}; it printed {:#?}",
            self.transcript
        ))
    }

    fn type_line(&mut self, line: &str) -> Result<(), String> {
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| e.to_string())
    }

    fn expect_exit(&mut self) -> Result<(), String> {
        let deadline = StdInstant::now() + STEP_TIMEOUT;
        while StdInstant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(10));
        }
        Err(format!(
            "openssl did not exit; it printed {:#?}",
            self.transcript
        ))
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        // Only this test's own child, by its handle; it may have exited already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward_lines(output: impl Read + Send + 'static, tx: Sender<String>) {
    thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
}
