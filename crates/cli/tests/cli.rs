//! The `nbmodem` binary as a user runs it: each AT front-end, the sandbox's defaults, NVRAM across
//! process restarts, the scenario command, and mistakes on the command line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::FREE_PORTS;

const NBMODEM: &str = env!("CARGO_BIN_EXE_nbmodem");

/// Runs the module on stdio with `input`, closes its input, and returns all it wrote.
fn stdio_session(data: &Path, model: &str, input: &str) -> String {
    let mut child = Command::new(NBMODEM)
        .args(["modem", "--model", model, "--at", "stdio", "--data"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Written beside the reading: the module takes input only as fast as its answers are read.
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn a_script_drives_the_module_through_pipes() {
    let data = tempfile::tempdir().unwrap();
    let out = stdio_session(data.path(), "BC25", "ATE0\rAT+CGSN=1\r\nAT+NOPE\n");
    assert_eq!(
        out,
        "\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\nATE0\r\r\nOK\r\n\r\n+CGSN: 865975030000001\r\n\r\nOK\r\n\r\nERROR\r\n"
    );
}

#[test]
fn the_lines_after_a_reboot_command_wait_for_the_new_boot() {
    let data = tempfile::tempdir().unwrap();
    // One write: AT+NRB and the line after it arrive together.
    let out = stdio_session(data.path(), "BC95", "AT+NRB\r\nAT+CGMM\r\n");
    let banner = out
        .find("REBOOT_CAUSE_APPLICATION_AT")
        .unwrap_or_else(|| panic!("no AT+NRB banner: {out:?}"));
    let answer = out.find("\r\nBC95\r\n").expect("AT+CGMM answered");
    assert!(banner < answer, "AT+CGMM ran before the reboot: {out:?}");
}

#[test]
fn nvram_survives_a_process_restart() {
    let data = tempfile::tempdir().unwrap();
    stdio_session(data.path(), "BC26", "ATE0\rAT+QSCLK=1\r");
    let out = stdio_session(data.path(), "BC26", "ATE0\rAT+QSCLK?\r");
    assert!(out.ends_with("\r\n+QSCLK: 1\r\n\r\nOK\r\n"), "{out:?}");
    assert!(data.path().join("nvram.json").exists());
}

/// Reads from `reader` until `want` has been seen; panics after 10 s.
fn read_until(reader: &mut impl Read, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains(want) {
        assert!(
            Instant::now() < deadline,
            "no {want:?} in {:?}",
            String::from_utf8_lossy(&seen)
        );
        match reader.read(&mut buf) {
            Ok(0) => panic!(
                "closed before {want:?}: {:?}",
                String::from_utf8_lossy(&seen)
            ),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("{e}"),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Starts `nbmodem modem` in the background; killed when dropped.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str], data: &Path) -> (Background, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(NBMODEM)
        .args(args)
        .arg("--data")
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    (Background(child), stderr)
}

#[test]
fn tcp_front_end() {
    let data = tempfile::tempdir().unwrap();
    let (_modem, mut stderr) = start(
        &["modem", "--model", "BC260Y-CN", "--at", "tcp:127.0.0.1:0"],
        data.path(),
    );
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    let addr = banner.trim().rsplit(' ').next().unwrap().to_string();
    assert!(banner.contains("AT port on tcp 127.0.0.1:"), "{banner}");
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    stream.write_all(b"ATE0\r").unwrap();
    read_until(&mut stream, "\r\nOK\r\n");
    stream.write_all(b"AT+CGMR\r").unwrap();
    assert_eq!(
        read_until(&mut stream, "OK\r\n"),
        "\r\nRevision: BC260YCNAAR02A01\r\n\r\nOK\r\n"
    );
    // A second host after the first hangs up finds the same module.
    drop(stream);
    let mut again = TcpStream::connect(&addr).unwrap();
    again
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    again.write_all(b"AT\r").unwrap();
    assert_eq!(
        read_until(&mut again, "OK\r\n"),
        "\r\nOK\r\n",
        "echo is still off"
    );
}

#[test]
fn pseudo_terminal_front_end() {
    let data = tempfile::tempdir().unwrap();
    let link = data.path().join("ttyNB0");
    let at = format!("pty:{}", link.display());
    let (_modem, mut stderr) = start(&["modem", "--model", "BC28", "--at", &at], data.path());
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    assert!(banner.contains("pseudo-terminal"), "{banner}");
    for _ in 0..2 {
        // Opened like a UART, closed, and opened again.
        let mut tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&link)
            .unwrap();
        tty.write_all(b"AT+CGSN=1\r").unwrap();
        // The first time, the boot banner written before anyone opened the port comes first.
        let answer = read_until(&mut tty, "+CGSN:865975030000001\r\n\r\nOK\r\n");
        assert!(
            answer.ends_with("\r\n+CGSN:865975030000001\r\n\r\nOK\r\n"),
            "{answer:?}"
        );
    }
}

#[test]
fn sandbox_runs_with_its_defaults() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = Command::new(NBMODEM)
        .arg("sandbox")
        .args(FREE_PORTS)
        .current_dir(cwd.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"AT+CGMR\r").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).ends_with("Revision: BC260YCNAAR02A01\r\n\r\nOK\r\n")
    );
    assert!(cwd.path().join("nbmodem-data/nvram.json").exists());
}

/// Reads a sandbox's start-up lines and returns the address its banner gives after `prefix`
/// (`api http://`, `control `). Whatever else it writes on standard error is read and dropped, so
/// that it never blocks.
fn banner_address(child: &mut Background, prefix: &str) -> String {
    let mut stderr = child.0.stderr.take().unwrap();
    let banner = read_until(&mut stderr, "module routes:");
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    banner
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .unwrap()
        .to_string()
}

/// Starts `nbmodem sandbox` on free ports in `cwd` with `args`; its AT port on stdio.
fn sandbox(cwd: &Path, args: &[&str]) -> Background {
    Background(
        Command::new(NBMODEM)
            .arg("sandbox")
            .args(FREE_PORTS)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// The issue's "done when" in real time, as a user does it: in `nbmodem sandbox`, switch China
/// Telecom self-registration on, reboot, and the CT stand-in records the registration. The
/// console tells each step.
#[test]
fn sandbox_records_a_self_registration_after_enable_and_reboot() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = sandbox(cwd.path(), &["--imsi", "460110000000001"]);
    let mut stdin = child.0.stdin.take().unwrap();
    let mut stdout = child.0.stdout.take().unwrap();
    let mut stderr = child.0.stderr.take().unwrap();
    stdin.write_all(b"ATE0\rAT+QSREGENABLE=1\r").unwrap();
    read_until(&mut stdout, "OK\r\n\r\nOK\r\n");
    stdin.write_all(b"AT+QRST=1\r").unwrap();
    read_until(&mut stdout, "+CPIN: READY");
    let console = read_until(&mut stderr, "CT self-registration: registered");
    assert!(
        console.contains("CT self-registration: posting the record to zzhc.vnet.cn:5683/nb")
            && console.contains("ct register from 127.0.0.1:")
            && !console.contains('\x1b'),
        "{console}"
    );
    let out = Command::new(NBMODEM)
        .args(["platform", "records", "ct"])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let records = String::from_utf8(out.stdout).unwrap();
    let record: serde_json::Value = serde_json::from_str(records.lines().next().unwrap()).unwrap();
    assert_eq!(record["verdict"], "accepted", "{records}");
    assert_eq!(record["fields"]["model"], "QUE-BC260Y CN");
    assert_eq!(record["fields"]["imsi"], "460110000000001");
    assert_eq!(
        record["fields"]["iccid"], "89861100000000000001",
        "a China Telecom ICCID"
    );
    assert_eq!(record["fields"]["swver"], "BC260YCNAAR02A01");
}

/// Types, with echo off, sleep off and `AT+NNMI=nnmi`: waits for the network, then opens the
/// link to the CT IoT platform (seed 002 §4.1.2) and waits until the platform observes it.
fn open_the_iot_platform_link(stdin: &mut impl Write, stdout: &mut impl Read, nnmi: u8) {
    let setup = format!("ATE0\rAT+QSCLK=0\rAT+NNMI={nnmi}\rAT+CEREG=1\r");
    stdin.write_all(setup.as_bytes()).unwrap();
    read_until(stdout, "+CEREG: 1\r\n");
    stdin
        .write_all(b"AT+NCDPOPEN=\"180.101.147.115\",5683\r")
        .unwrap();
    read_until(stdout, "+QLWEVTIND: 0\r\n\r\n+QLWEVTIND: 3\r\n");
}

/// Seed 002 §4.1.2 typed into `nbmodem sandbox`: the sandbox registers its own module on the CT
/// IoT platform stand-in, routes the platform's public address to it, and the platform answers
/// the uplink with `AAAA0000`; CTWing AEP is reached by its name too.
#[test]
fn sandbox_links_its_module_to_the_ct_iot_platforms() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = sandbox(cwd.path(), &[]);
    let mut stdin = child.0.stdin.take().unwrap();
    let mut stdout = child.0.stdout.take().unwrap();
    open_the_iot_platform_link(&mut stdin, &mut stdout, 2);
    stdin.write_all(b"AT+NMGS=5,00454c4c4f\r").unwrap();
    read_until(&mut stdout, "\r\n+NNMI\r\n");
    stdin.write_all(b"AT+NMGR\r").unwrap();
    read_until(&mut stdout, "+NMGR: 4,AAAA0000\r\n\r\nOK\r\n");
    stdin.write_all(b"AT+NCDPCLOSE\r").unwrap();
    read_until(&mut stdout, "OK\r\n");
    // The platform answers the De-register at once over loopback.
    std::thread::sleep(Duration::from_millis(500));
    stdin.write_all(b"AT+NMSTATUS?\r").unwrap();
    read_until(&mut stdout, "+NMSTATUS: DEREGISTERED\r\n\r\nOK\r\n");
    stdin
        .write_all(b"AT+NCDPOPEN=\"lwm2m.ctwing.cn\",5683\r")
        .unwrap();
    read_until(&mut stdout, "+QLWEVTIND: 3\r\n");
    stdin.write_all(b"AT+NMSTATUS?\r").unwrap();
    read_until(
        &mut stdout,
        "+NMSTATUS: REGISTERED_AND_OBSERVED\r\n\r\nOK\r\n",
    );
}

/// The CT IoT platform's HTTP API on the sandbox, through `nbmodem platform iot …`: the module's
/// uplink is there, and a downlink queued through the API waits for the module's next uplink,
/// comes in that contact and is shown with `+NNMI`.
#[test]
fn a_downlink_queued_through_the_api_reaches_the_sandboxs_module() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = sandbox(cwd.path(), &[]);
    let mut stdin = child.0.stdin.take().unwrap();
    let mut stdout = child.0.stdout.take().unwrap();
    let api = banner_address(&mut child, "api http://");
    let platform = |words: &[&str]| {
        let output = Command::new(NBMODEM)
            .arg("platform")
            .args(words)
            .args(["--api", &api])
            .current_dir(cwd.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = String::from_utf8(output.stdout).unwrap();
        serde_json::from_str::<serde_json::Value>(line.lines().next().unwrap()).unwrap()
    };
    open_the_iot_platform_link(&mut stdin, &mut stdout, 1);
    stdin.write_all(b"AT+NMGS=5,00454c4c4f\r").unwrap();
    read_until(&mut stdout, "+NNMI: 4,AAAA0000\r\n");
    let uplink = platform(&["iot", "uplinks", "865975030000001", "--limit", "1"]);
    assert_eq!(uplink["data"], "00454C4C4F");
    let device = platform(&["iot", "device", "show", "865975030000001"]);
    assert_eq!(device["state"]["observed"], true, "{device}");
    let queued = platform(&["iot", "downlink", "865975030000001", "CAFE01"]);
    assert_eq!(queued["status"], "queued", "{queued}");
    stdin.write_all(b"AT+NMGS=1,01\r").unwrap();
    read_until(&mut stdout, "+NNMI: 3,CAFE01\r\n");
}

#[test]
fn quiet_keeps_the_console_to_the_banner() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = sandbox(
        cwd.path(),
        &["--model", "BC25", "--imsi", "460110000000001", "--quiet"],
    );
    let mut stdout = child.0.stdout.take().unwrap();
    read_until(&mut stdout, "+CPIN: READY");
    // The registration happens 2 s after boot; the CT stand-in has it once its record is there.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(
        &Command::new(NBMODEM)
            .args(["platform", "records", "ct"])
            .current_dir(cwd.path())
            .output()
            .unwrap()
            .stdout,
    )
    .contains("accepted")
    {
        assert!(Instant::now() < deadline, "no registration");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.0.kill().unwrap();
    let mut console = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut console)
        .unwrap();
    assert!(console.contains("module routes:"), "{console}");
    assert!(
        !console.contains("self-registration") && !console.contains("ct register"),
        "{console}"
    );
}

/// Sends `signal` to the process and waits (10 s at most) for it to end; its exit status.
fn signal_and_wait(
    child: &mut Child,
    signal: nix::sys::signal::Signal,
) -> std::process::ExitStatus {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, signal).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after {signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_stops_the_sandbox_on_stdio_at_once() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = sandbox(cwd.path(), &[]);
    let mut stdout = child.0.stdout.take().unwrap();
    // The input stays open and idle, as a person at a terminal who has typed nothing yet.
    let _stdin = child.0.stdin.take().unwrap();
    read_until(&mut stdout, "+CPIN: READY");
    let status = signal_and_wait(&mut child.0, nix::sys::signal::Signal::SIGINT);
    assert!(status.success(), "{status}");
}

#[test]
fn sigterm_stops_a_modem_and_removes_its_pseudo_terminal_link() {
    let data = tempfile::tempdir().unwrap();
    let link = data.path().join("ttyNB0");
    let at = format!("pty:{}", link.display());
    let (mut modem, mut stderr) = start(&["modem", "--model", "BC26", "--at", &at], data.path());
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    assert!(link.exists());
    let status = signal_and_wait(&mut modem.0, nix::sys::signal::Signal::SIGTERM);
    assert!(status.success(), "{status}");
    assert!(!link.exists(), "the link is removed");
}

#[test]
fn a_stand_in_that_cannot_start_stops_the_sandbox() {
    let cwd = tempfile::tempdir().unwrap();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = Command::new(NBMODEM)
        .arg("sandbox")
        .args(&FREE_PORTS[2..])
        .args(["--ct", &address])
        .current_dir(cwd.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "China Telecom registry (--ct) cannot listen on {address}"
        )),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no module ran");
}

#[test]
fn two_processes_on_one_data_directory_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let (_first, mut stderr) = start(
        &["modem", "--model", "BC26", "--at", "tcp:127.0.0.1:0"],
        data.path(),
    );
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    let second = Command::new(NBMODEM)
        .args(["modem", "--model", "BC26", "--at", "stdio", "--data"])
        .arg(data.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(err.contains("in use by another nbmodem process"), "{err}");
}

#[test]
fn scenario_command_reports_passes_and_failures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let out = Command::new(NBMODEM)
        .arg("scenario")
        .args(&files)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("{} passed, 0 failed", files.len())),
        "{text}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.scn");
    std::fs::write(&bad, "module BC25\nexpect RDY\nexpect +CFUN: 0\n").unwrap();
    let out = Command::new(NBMODEM)
        .arg("scenario")
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("line 3")
            && text.contains("expected: \"+CFUN: 0\"")
            && text.contains("got:      \"+CFUN: 1\""),
        "{text}"
    );
}

#[test]
fn mistakes_on_the_command_line_are_explained() {
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(NBMODEM)
            .args(args)
            .arg("--data")
            .arg(data.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["modem", "--model", "BC66", "--at", "stdio"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("unknown model \"BC66\"") && err.contains("BC260Y-CN"),
        "{err}"
    );
    let (code, err) = run(&["modem", "--model", "BC25", "--at", "stdio", "--imei", "123"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("IMEI must be 15 digits"), "{err}");
    let (code, err) = run(&["modem", "--model", "BC25", "--at", "serial"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("tcp:HOST:PORT"), "{err}");
    let (_, err) = run(&[
        "modem", "--model", "BC25", "--at", "stdio", "--route", "nonsense",
    ]);
    assert!(err.contains("NAME_OR_IP[:PORT]=IP:PORT"), "{err}");
    run(&["modem", "--model", "BC25", "--at", "stdio"]);
    let (code, err) = run(&["modem", "--model", "BC95", "--at", "stdio"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("holds a BC25 module"), "{err}");
    assert!(err.contains("--data nbmodem-data-bc95"), "{err}");
}

#[test]
fn input_before_boot_is_all_answered_the_host_waiting_beyond_the_bound() {
    // Blank lines get no answer; what follows them is answered, however much came before.
    let data = tempfile::tempdir().unwrap();
    for blank in [60_000, 200_000] {
        let input = format!("{}AT+CGSN=1\r", "\r".repeat(blank));
        let out = stdio_session(data.path(), "BC25", &input);
        let end = &out[out.len().saturating_sub(200)..];
        assert!(out.contains("+CGSN: 865975030000001"), "{blank}: …{end:?}");
    }
    // The issue's reproduction: 64 KiB of AT lines at once, each answered (7 282 of 21 845 were).
    let lines = 65_536 / 3;
    let out = stdio_session(data.path(), "BC25", &"AT\r".repeat(lines));
    assert_eq!(out.matches("\r\nOK\r\n").count(), lines);
}

/// A host that sends far more than it reads is held up, not answered in part: the module stops
/// taking its input while its answers wait. When it disconnects with input not yet typed in, the
/// console says that input was lost.
#[test]
fn a_host_that_does_not_read_is_held_up_and_its_untyped_input_reported_lost() {
    let data = tempfile::tempdir().unwrap();
    let (_modem, mut stderr) = start(
        &["modem", "--model", "BC26", "--at", "tcp:127.0.0.1:0"],
        data.path(),
    );
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    let addr = banner.trim().rsplit(' ').next().unwrap().to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    // Each ATI is answered with about 12 times its length: long before 8 MiB of them are taken,
    // the answers fill the socket and the module stops reading.
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let input = "ATI\r".repeat(2 * 1024 * 1024);
    let blocked = stream.write_all(input.as_bytes()).is_err();
    assert!(
        blocked,
        "all 8 MiB were taken without their answers being read"
    );
    drop(stream);
    let mut console = String::new();
    while !console.contains("were not typed in: it disconnected") {
        assert!(stderr.read_line(&mut console).unwrap() > 0, "no notice");
    }
    assert!(!console.contains("output dropped"), "{console}");
}

/// examples/dfota/walkthrough.sh beside a sandbox, as docs/fota.md tells a user to run it: the
/// example profile, key, signed package and task are all accepted, and the module downloads the
/// package when it connects.
#[test]
fn the_dfota_example_walks_through_against_a_sandbox() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = sandbox(cwd.path(), &[]);
    let mut stdin = child.0.stdin.take().unwrap();
    let mut stdout = child.0.stdout.take().unwrap();
    let api = banner_address(&mut child, "api http://");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dfota/walkthrough.sh");
    let walked = Command::new("bash")
        .arg(script)
        .env("NBMODEM", NBMODEM)
        .env("NBMODEM_API", &api)
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert!(
        walked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&walked.stdout),
        String::from_utf8_lossy(&walked.stderr)
    );
    open_the_iot_platform_link(&mut stdin, &mut stdout, 1);
    read_until(&mut stdout, "+QIND: \"FOTA\",\"DOWNLOAD START\"");
    read_until(&mut stdout, "+QIND: \"FOTA\",\"DOWNLOAD\",0");
}

/// What a user is told when a platform command finds nothing, or presents a token from another
/// run: where it looked, and what to do.
#[test]
fn platform_commands_say_where_they_looked() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = sandbox(cwd.path(), &[]);
    let control = banner_address(&mut child, "control ");
    let platform = |words: &[&str]| {
        Command::new(NBMODEM)
            .arg("platform")
            .args(words)
            .current_dir(cwd.path())
            .output()
            .unwrap()
    };
    let records = platform(&["records", "cu"]);
    assert!(records.status.success());
    assert!(records.stdout.is_empty());
    let said = String::from_utf8_lossy(&records.stderr);
    assert!(
        said.contains("no cu records in nbmodem-data/platform.sqlite"),
        "{said}"
    );
    // A token left by an earlier run.
    let token = cwd.path().join("nbmodem-data/control.token");
    std::fs::write(&token, "00112233445566778899aabbccddeeff\n").unwrap();
    let refused = platform(&["faults", "--control", &control]);
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("refused the control token read from nbmodem-data/control.token")
            && said.contains("Give --data the directory of the platform running on"),
        "{said}"
    );
}

/// `--trace` and `--pcap` in real time: seed 002's link typed into the sandbox, then Ctrl-C. The
/// trace has every line typed and every line written (URCs marked), with real times, and the
/// datagrams at the platform's public address, not the loopback it is on; the capture holds a
/// packet per datagram. The stand-ins' console lines are in the trace too.
#[test]
fn sandbox_writes_a_trace_and_a_capture_in_real_time() {
    let cwd = tempfile::tempdir().unwrap();
    let (trace, capture) = (cwd.path().join("t.jsonl"), cwd.path().join("c.pcapng"));
    let started = nbmodem_clock::Clock::now(&nbmodem_clock::RealClock).iso8601();
    let mut child = sandbox(
        cwd.path(),
        &["--trace", "t.jsonl", "--pcap", "c.pcapng", "--quiet"],
    );
    let mut stdin = child.0.stdin.take().unwrap();
    let mut stdout = child.0.stdout.take().unwrap();
    open_the_iot_platform_link(&mut stdin, &mut stdout, 1);
    stdin.write_all(b"AT+NMGS=5,00454c4c4f\r").unwrap();
    read_until(&mut stdout, "+NNMI: 4,AAAA0000\r\n");
    let status = signal_and_wait(&mut child.0, nix::sys::signal::Signal::SIGINT);
    assert!(status.success(), "{status}");

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Real times: ISO 8601 in UTC, ordered as text.
    assert!(lines
        .iter()
        .all(|l| l["time"].as_str().unwrap() >= started.as_str()));
    let typed: Vec<&str> = lines
        .iter()
        .filter(|l| l["dir"] == "in")
        .map(|l| l["line"].as_str().unwrap())
        .collect();
    assert_eq!(
        typed,
        [
            "ATE0",
            "AT+QSCLK=0",
            "AT+NNMI=1",
            "AT+CEREG=1",
            "AT+NCDPOPEN=\"180.101.147.115\",5683",
            "AT+NMGS=5,00454c4c4f"
        ]
    );
    let urc = |text: &str| {
        lines
            .iter()
            .any(|l| l["kind"] == "urc" && l["line"] == text)
    };
    assert!(urc("+CPIN: READY") && urc("+QLWEVTIND: 3") && urc("+NNMI: 4,AAAA0000"));
    let datagrams: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["type"] == "datagram").collect();
    assert!(datagrams.iter().all(|d| {
        let peer = if d["dir"] == "sent" {
            &d["to"]
        } else {
            &d["from"]
        };
        peer == "180.101.147.115:5683"
    }));
    assert_eq!(datagrams[0]["lwm2m"], "Register");
    // The stand-ins' side, as their console tells it, even with --quiet.
    let platform = |text: &str| {
        lines.iter().any(|l| {
            l["type"] == "platform" && l["text"].as_str().is_some_and(|t| t.contains(text))
        })
    };
    assert!(
        platform("iot register from") && platform("iot uplink from 865975030000001: 5 bytes"),
        "{lines:?}"
    );
    // A packet is an enhanced packet block (type 6) of the pcapng file.
    let bytes = std::fs::read(capture).unwrap();
    assert_eq!(bytes[..4], [0x0a, 0x0d, 0x0d, 0x0a], "a pcapng section");
    assert_eq!(pcapng_packets(&bytes), datagrams.len());
}

/// A trace records one scenario: given two files, `nbmodem scenario --trace` refuses, and
/// writes nothing; a trace file it cannot create is an error too.
#[test]
fn a_scenario_trace_takes_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios");
    let trace = dir.path().join("t.jsonl");
    let out = Command::new(NBMODEM)
        .arg("scenario")
        .arg("--trace")
        .arg(&trace)
        .arg(scenarios.join("boot_and_identity.scn"))
        .arg(scenarios.join("radio_on_off.scn"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("give one file, not 2"), "{err}");
    assert!(!trace.exists());
    let out = Command::new(NBMODEM)
        .arg("scenario")
        .arg("--pcap")
        .arg(dir.path().join("no/such/dir/c.pcapng"))
        .arg(scenarios.join("boot_and_identity.scn"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("c.pcapng"), "{err}");
}

/// The number of enhanced packet blocks in a little-endian pcapng file.
fn pcapng_packets(mut bytes: &[u8]) -> usize {
    let mut packets = 0;
    while bytes.len() >= 8 {
        let kind = u32::from_le_bytes(bytes[..4].try_into().unwrap());
        let length = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        packets += usize::from(kind == 6);
        bytes = &bytes[length..];
    }
    packets
}

/// `--coverage` on the sandbox: the signal values match it, `nbmodem platform coverage` moves
/// the running module (through the control port), and a bad condition is refused at either
/// place, changing nothing.
#[test]
fn sandbox_coverage_sets_the_signal_and_changes_while_running() {
    let cwd = tempfile::tempdir().unwrap();
    let refused = Command::new(NBMODEM)
        .args(["sandbox", "--coverage", "rsrp=-150"])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("rsrp=-150 is out of range"), "{said}");
    let mut child = sandbox(cwd.path(), &["--model", "BC26", "--coverage", "edge"]);
    let control = banner_address(&mut child, "control ");
    let mut stdin = child.0.stdin.take().unwrap();
    let mut stdout = child.0.stdout.take().unwrap();
    stdin.write_all(b"ATE0\rAT+CEREG=1\r").unwrap();
    read_until(&mut stdout, "+CEREG: 1\r\n");
    stdin.write_all(b"AT+CSQ\rAT+CESQ\r").unwrap();
    read_until(
        &mut stdout,
        "+CSQ: 8,99\r\n\r\nOK\r\n\r\n+CESQ: 99,99,255,255,8,29\r\n",
    );
    let platform = |words: &[&str]| {
        Command::new(NBMODEM)
            .arg("platform")
            .args(words)
            .args(["--control", &control])
            .current_dir(cwd.path())
            .output()
            .unwrap()
    };
    let shown = platform(&["coverage"]);
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout),
        "coverage edge (Ce1)\nOK\n"
    );
    let bad = platform(&["coverage", "far"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stdout).starts_with("ERROR \"far\""));
    let set = platform(&["coverage", "deep"]);
    assert!(set.status.success());
    assert_eq!(
        String::from_utf8_lossy(&set.stdout),
        "coverage deep (Ce2)\nOK\n"
    );
    stdin.write_all(b"AT+CSQ\rAT+QENG=0\r").unwrap();
    // The serving cell's line ends with the operation mode (1) and OK.
    let answers = read_until(&mut stdout, ",1\r\n\r\nOK\r\n");
    assert!(
        answers.contains("+CSQ: 4,99") && answers.contains(",-125,"),
        "{answers}"
    );
}
