//! `nbmodem sandbox` on a real terminal, as a person sees it: tmux runs it, keys are typed with
//! send-keys and the screen is read with capture-pane. The console lines (standard error) share
//! the screen with the AT port (standard output) and must never split a line being typed.
//!
//! tmux comes from `scripts/test`; without it this test is skipped, unless NBMODEM_INTEROP is set.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const NBMODEM: &str = env!("CARGO_BIN_EXE_nbmodem");

/// A tmux server of its own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(cwd: &Path, command: &str) -> Option<Tmux> {
        let socket = format!("nbmodem-test-{}", std::process::id());
        let started = Command::new("tmux")
            .args(["-L", &socket, "new-session", "-d", "-x", "160", "-y", "60"])
            .arg("-c")
            .arg(cwd)
            .arg(command)
            .status();
        match started {
            Ok(status) if status.success() => Some(Tmux { socket }),
            _ if std::env::var_os("NBMODEM_INTEROP").is_some() => {
                panic!("tmux is needed (apt-get install tmux)")
            }
            _ => None,
        }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` as keys, one character at a time as a person does.
    fn type_keys(&self, text: &str) {
        for c in text.chars() {
            self.tmux(&["send-keys", "-l", &c.to_string()]);
        }
    }

    fn enter(&self) {
        self.tmux(&["send-keys", "Enter"]);
    }

    /// The screen's lines, with the trailing blanks of each trimmed.
    fn screen(&self) -> Vec<String> {
        self.tmux(&["capture-pane", "-p", "-S", "-200"])
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect()
    }

    /// Waits until the screen has `count` lines equal to `line`; returns the screen.
    fn wait_for(&self, line: &str, count: usize) -> Vec<String> {
        self.wait_until(line, |screen| {
            screen.iter().filter(|l| l.as_str() == line).count() >= count
        })
    }

    /// Waits until some line of the screen is a console line with `text`.
    fn wait_for_console(&self, text: &str) -> Vec<String> {
        self.wait_until(text, |screen| {
            screen.iter().any(|l| is_console_line(l, text))
        })
    }

    fn wait_until(&self, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "no {what:?} on the screen:\n{}",
                screen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

/// `hh:mm:ss SOURCE: text` from the start of the line.
fn is_console_line(line: &str, text: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.len() > 9
        && bytes[2] == b':'
        && bytes[5] == b':'
        && bytes[8] == b' '
        && line.contains(text)
}

#[test]
fn console_lines_never_split_what_is_typed() {
    let cwd = tempfile::tempdir().unwrap();
    let ports = [
        "ct", "cu", "dm", "iot", "iot-dtls", "aep", "aep-dtls", "control", "api",
    ]
    .map(|server| format!("--{server} 127.0.0.1:0"))
    .join(" ");
    // A China Telecom SIM: self-registration runs at the first attach after a reboot.
    let command = format!("{NBMODEM} sandbox --imsi 460110000000001 {ports}");
    let Some(tmux) = Tmux::start(cwd.path(), &command) else {
        eprintln!("tmux is not installed: skipped");
        return;
    };
    tmux.wait_for("+CPIN: READY", 1);
    tmux.type_keys("AT+QSREGENABLE=1");
    tmux.enter();
    tmux.wait_for("OK", 1);
    tmux.type_keys("AT+QRST=1");
    tmux.enter();
    tmux.wait_for("+CPIN: READY", 2);
    // Half a line typed when the console lines of the self-registration come: they take lines
    // of their own, and the typing goes on below them.
    tmux.type_keys("AT+CGM");
    tmux.wait_for_console("CT self-registration: registered");
    tmux.type_keys("R");
    tmux.enter();
    let screen = tmux.wait_for("Revision: BC260YCNAAR02A01", 1);
    let shown = screen.join("\n");
    let half = screen.iter().position(|l| l == "AT+CGM");
    let console = screen
        .iter()
        .position(|l| is_console_line(l, "CT self-registration: registered"));
    let whole = screen.iter().rposition(|l| l == "AT+CGMR");
    assert!(
        half.is_some() && half < console && console < whole,
        "the half-typed line is split or lost:\n{shown}"
    );
    // A line entered when the console line comes stays whole above it.
    tmux.type_keys("AT+QSCLK=0");
    tmux.enter();
    tmux.wait_for("OK", 4);
    tmux.type_keys("AT+NCDPOPEN=\"180.101.147.115\",5683");
    tmux.enter();
    let screen = tmux.wait_for("+QLWEVTIND: 3", 1);
    let shown = screen.join("\n");
    let entered = screen
        .iter()
        .position(|l| l == "AT+NCDPOPEN=\"180.101.147.115\",5683");
    let console = screen
        .iter()
        .position(|l| is_console_line(l, "CT IoT: registering with"));
    assert!(
        entered.is_some() && entered < console,
        "the entered line is split:\n{shown}"
    );
}
