//! Data sockets in real time: `nbmodem modem` with `--route` pointing public addresses at UDP and
//! TCP echo servers the test runs on loopback, through the real-time driver, for both families.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NBMODEM: &str = env!("CARGO_BIN_EXE_nbmodem");

/// The public addresses the module's firmware uses; routed to the test's servers.
const UDP_PUBLIC: &str = "47.100.1.2:5000";
const TCP_PUBLIC: &str = "47.100.1.2:6000";
const TCP_CLOSING_PUBLIC: &str = "47.100.1.2:6001";
const TCP_REFUSED_PUBLIC: &str = "47.100.1.2:6002";

/// A UDP echo server on loopback; returns its address.
fn udp_echo() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&buf[..n], from);
        }
    });
    address
}

/// A TCP echo server on loopback; with `close_after_echo` it closes each connection after
/// echoing its first bytes.
fn tcp_echo(close_after_echo: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() || close_after_echo {
                        return;
                    }
                }
            });
        }
    });
    address
}

/// A loopback address nobody listens on (bound, then let go).
fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

struct Modem {
    child: Child,
    at: TcpStream,
    /// Read from the AT port and not yet looked at.
    unread: Vec<u8>,
    _data: tempfile::TempDir,
}

impl Drop for Modem {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Modem {
    /// `nbmodem modem --model <model>` with its AT port on TCP, routed to the test's servers,
    /// attached, echo off.
    fn start(model: &str) -> Modem {
        let data = tempfile::tempdir().unwrap();
        let routes = [
            format!("{UDP_PUBLIC}={}", udp_echo()),
            format!("{TCP_PUBLIC}={}", tcp_echo(false)),
            format!("{TCP_CLOSING_PUBLIC}={}", tcp_echo(true)),
            format!("{TCP_REFUSED_PUBLIC}={}", closed_port()),
        ];
        let mut command = Command::new(NBMODEM);
        command.args([
            "modem",
            "--model",
            model,
            "--at",
            "tcp:127.0.0.1:0",
            "--data",
        ]);
        command.arg(data.path());
        for route in &routes {
            command.args(["--route", route]);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut banner = String::new();
        stderr.read_line(&mut banner).unwrap();
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let address = banner.trim().rsplit(' ').next().unwrap().to_string();
        let at = TcpStream::connect(address).unwrap();
        at.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut modem = Modem {
            child,
            at,
            unread: Vec::new(),
            _data: data,
        };
        // Past the boot banner (the BC95's ends in `OK` too), answers and commands in step.
        modem.write(b"ATE0\r");
        modem.command("AT+CGSN=1", "865975030000001\r\n\r\nOK\r\n");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !modem.command("AT+CGATT?", "OK\r\n").contains("1\r\n") {
            assert!(Instant::now() < deadline, "the module never attached");
            std::thread::sleep(Duration::from_millis(200));
        }
        modem
    }

    /// Sends a line and reads until `until` (the module's answer).
    fn command(&mut self, line: &str, until: &str) -> String {
        self.at.write_all(format!("{line}\r").as_bytes()).unwrap();
        self.read_until(until)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.at.write_all(bytes).unwrap();
    }

    /// Reads until `want` has come (an answer or a URC; a server's answer is a round trip over
    /// loopback away); returns what came up to its end, and keeps the rest for the next read.
    /// Gives up after a generous bound, so a missing answer fails rather than hangs.
    fn read_until(&mut self, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 512];
        loop {
            let seen = String::from_utf8_lossy(&self.unread).into_owned();
            if let Some(at) = seen.find(want) {
                let end = at + want.len();
                self.unread.drain(..end);
                return seen[..end].to_string();
            }
            assert!(Instant::now() < deadline, "no {want:?} in {seen:?}");
            match self.at.read(&mut buf) {
                Ok(0) => panic!("closed: {seen:?}"),
                Ok(n) => self.unread.extend_from_slice(&buf[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("{e}"),
            }
        }
    }
}

#[test]
fn neul_udp_and_tcp_reach_real_servers() {
    let mut m = Modem::start("BC95");
    assert_eq!(
        m.command("AT+NSOCR=DGRAM,17,0,1", "OK\r\n"),
        "\r\n0\r\n\r\nOK\r\n"
    );
    assert_eq!(
        m.command("AT+NSOST=0,47.100.1.2,5000,5,68656C6C6F", "OK\r\n"),
        "\r\n0,5\r\n\r\nOK\r\n"
    );
    m.read_until("+NSONMI:0,5\r\n");
    assert_eq!(
        m.command("AT+NSORF=0,512", "OK\r\n"),
        "\r\n0,47.100.1.2,5000,5,68656C6C6F,0\r\n\r\nOK\r\n",
        "the answer comes from the public address"
    );
    // TCP: echoed; then a server that closes after its echo; then a port nobody listens on.
    assert_eq!(
        m.command("AT+NSOCR=STREAM,6,0,1", "OK\r\n"),
        "\r\n1\r\n\r\nOK\r\n"
    );
    m.command("AT+NSOCO=1,47.100.1.2,6000", "OK\r\n");
    let sent = m.command("AT+NSOSD=1,3,414243", "OK\r\n");
    assert_eq!(sent, "\r\n1,3\r\n\r\nOK\r\n");
    m.read_until("+NSONMI:1,3\r\n");
    assert_eq!(
        m.command("AT+NSORF=1,512", "OK\r\n"),
        "\r\n1,47.100.1.2,6000,3,414243,0\r\n\r\nOK\r\n"
    );
    assert_eq!(
        m.command("AT+NSOCL=1", "OK\r\n"),
        "\r\nOK\r\n",
        "closed by the module"
    );
    m.command("AT+NSOCR=STREAM,6,0,1", "OK\r\n");
    m.command("AT+NSOCO=1,47.100.1.2,6001", "OK\r\n");
    m.command("AT+NSOSD=1,1,41", "OK\r\n");
    m.read_until("+NSOCLI:1\r\n");
    m.command("AT+NSOCL=1", "OK\r\n");
    m.command("AT+NSOCR=STREAM,6,0,1", "OK\r\n");
    m.command("AT+NSOCO=1,47.100.1.2,6002", "OK\r\n");
    m.read_until("+NSOCLI:1\r\n");
    // One past the largest datagram, and one past the socket limit (0–6): refused.
    let one_past = format!("AT+NSOST=0,47.100.1.2,5000,513,{}", "AB".repeat(513));
    assert_eq!(m.command(&one_past, "ERROR\r\n"), "\r\nERROR\r\n");
    for _ in 2..7 {
        m.command("AT+NSOCR=DGRAM,17,0,1", "OK\r\n");
    }
    assert_eq!(
        m.command("AT+NSOCR=DGRAM,17,0,1", "ERROR\r\n"),
        "\r\nERROR\r\n"
    );
}

#[test]
fn quectel_udp_and_tcp_reach_real_servers() {
    let mut m = Modem::start("BC26");
    m.command(
        "AT+QIOPEN=1,0,\"UDP\",\"47.100.1.2\",5000,0,0",
        "+QIOPEN: 0,0\r\n",
    );
    m.write(b"AT+QISEND=0,5\r");
    m.read_until("> ");
    m.write(b"hello");
    m.read_until("SEND OK\r\n");
    m.read_until("+QIURC: \"recv\",0\r\n");
    assert_eq!(
        m.command("AT+QIRD=0,1024", "OK\r\n"),
        "\r\n+QIRD: 5\r\nhello\r\n\r\nOK\r\n"
    );
    // TCP in direct push mode.
    m.command("AT+QIOPEN=1,1,\"TCP\",\"47.100.1.2\",6000,0,1", "OK\r\n");
    m.read_until("+QIOPEN: 1,0\r\n");
    m.command("AT+QISENDEX=1,\"414243\"", "SEND OK\r\n");
    m.read_until("+QIURC: \"recv\",1,3\r\nABC\r\n");
    m.command("AT+QICLOSE=1", "OK\r\n");
    // The server closes after its echo: the module says so.
    m.command(
        "AT+QIOPEN=1,2,\"TCP\",\"47.100.1.2\",6001,0,0",
        "+QIOPEN: 2,0\r\n",
    );
    m.command("AT+QISENDEX=2,\"41\"", "SEND OK\r\n");
    m.read_until("+QIURC: \"closed\",2\r\n");
    assert!(
        m.command("AT+QISTATE=1,2", "OK\r\n").contains(",4,1,0,0,"),
        "closing"
    );
    // Nobody listens: the connection fails with 566, no hang.
    m.command("AT+QIOPEN=1,3,\"TCP\",\"47.100.1.2\",6002", "OK\r\n");
    m.read_until("+QIOPEN: 3,566\r\n");
    // A name the module does not know goes to the system resolver.
    m.command("AT+QIDNSGIP=1,\"localhost\"", "OK\r\n");
    m.read_until("+QIURC: \"dnsgip\",0,");
    m.read_until("\"127.0.0.1\"");
    // A ping is answered, or says at once that this system allows no ICMP socket: never a hang.
    m.command("AT+QPING=1,\"47.100.1.2\",4,1", "OK\r\n");
    let answer = m.read_until("+QPING: 0,1,");
    assert!(
        answer.contains("+QPING: 0,\"47.100.1.2\",32,") || answer.contains("+QPING: 569"),
        "{answer}"
    );
}
