//! The run-time control of faults: one command per line, one answer per command. `nbmodem
//! platform` serves it on a loopback TCP port (`--control`, default 127.0.0.1:15680);
//! `nbmodem platform fault …` is a client of it.
//!
//! Loopback is not enough: every user of the machine reaches it. A connection first presents the
//! token the platform wrote at start-up in its data directory, readable by its owner only
//! ([`ControlToken`]); the HTTP API of the CT IoT platform takes the same token.
//!
//! ```text
//! token 3f0c…                                    the data directory's control.token; answered OK
//! fault ct drop 3        (or: fault ct drop=3)   the next 3 CT request datagrams are dropped
//! fault dm reject 2                              the next 2 DM Registers/Updates get 4.03
//! fault cu delay 5s                              every CU request is held 5 s (0s: no delay)
//! fault dm clear                                 no faults on DM
//! fault clear                                    no faults anywhere
//! faults                                         one line per server, e.g. `ct drop=3 reject=0 delay=0s`
//! coverage edge                                  the sandbox's module moves to the `edge` condition
//! coverage rsrp=-110,sinr=-3                     … or to this one; `coverage` alone shows it
//! ```
//!
//! Each command is answered `OK` (after any lines it prints) or `ERROR <why>`.

use crate::fault::{Fault, Faulty};
use crate::record::Server;
use crate::Platform;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The file in the data directory that holds the control token.
pub const TOKEN_FILE: &str = "control.token";

/// How the control port's refusal of a connection without the right token begins.
pub const TOKEN_REFUSED: &str = "ERROR a control connection starts with:";

/// The secret a control connection presents first. A new one is made at each start of the
/// platform: 128 random bits from the system's generator, as 32 hexadecimal digits.
#[derive(Clone, PartialEq, Eq)]
pub struct ControlToken(String);

impl std::fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlToken(…)")
    }
}

impl ControlToken {
    /// Makes a fresh token and writes it to `data`/control.token with owner-only permissions;
    /// the file is replaced whole (written aside, then renamed over the old one).
    pub fn create(data: &Path) -> io::Result<ControlToken> {
        let mut bytes = [0u8; 16];
        openssl::rand::rand_bytes(&mut bytes).map_err(io::Error::other)?;
        let token = ControlToken(bytes.iter().map(|b| format!("{b:02x}")).collect());
        let aside = data.join(format!("{TOKEN_FILE}.new"));
        let _ = fs::remove_file(&aside);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&aside)?;
        file.write_all(format!("{}\n", token.0).as_bytes())?;
        file.sync_all()?;
        fs::rename(&aside, data.join(TOKEN_FILE))?;
        Ok(token)
    }

    /// The token of the platform running with data directory `data`.
    pub fn read(data: &Path) -> io::Result<ControlToken> {
        let text = fs::read_to_string(data.join(TOKEN_FILE))?;
        Ok(ControlToken(text.trim().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, compared in constant time so that the answer's timing
    /// tells nothing about how much of a guess was right.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        same_secret(self.0.as_bytes(), presented)
    }

    /// Whether a control connection's first line (`token …`) presents this token.
    pub fn accepts_line(&self, line: &[u8]) -> bool {
        line.strip_prefix(b"token ")
            .is_some_and(|presented| self.accepts(presented.trim_ascii()))
    }
}

/// Whether `presented` is the secret `ours`, compared in constant time (the console's sessions
/// are compared this way too).
pub fn same_secret(ours: &[u8], presented: &[u8]) -> bool {
    let difference = ours
        .iter()
        .zip(presented)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    ours.len() == presented.len() && difference == 0
}

/// The longest command line accepted.
pub const MAX_LINE: usize = 1024;
/// How long the client waits for the platform.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

const USAGE: &str =
    "try: fault ct drop 3 | fault dm reject 2 | fault cu delay 5s | fault dm clear | \
                     fault clear | faults | coverage edge | coverage";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlCommand {
    Set(Server, Fault),
    /// Clears one server's faults, or every server's.
    Clear(Option<Server>),
    Show,
    /// Sets the radio condition of the module beside the platforms (`None`: shows it).
    Coverage(Option<String>),
}

impl FromStr for ControlCommand {
    type Err = String;

    fn from_str(line: &str) -> Result<ControlCommand, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let server = |word: &str| word.parse::<Server>().map_err(|e| e.to_string());
        let fault = |text: &str| text.parse::<Fault>().map_err(|e| e.to_string());
        match words.as_slice() {
            ["faults"] => Ok(ControlCommand::Show),
            ["coverage"] => Ok(ControlCommand::Coverage(None)),
            ["coverage", value] => Ok(ControlCommand::Coverage(Some(value.to_string()))),
            ["fault", "clear"] => Ok(ControlCommand::Clear(None)),
            ["fault", name, "clear"] => Ok(ControlCommand::Clear(Some(server(name)?))),
            ["fault", name, spec] => Ok(ControlCommand::Set(server(name)?, fault(spec)?)),
            ["fault", name, kind, value] => Ok(ControlCommand::Set(
                server(name)?,
                fault(&format!("{kind}={value}"))?,
            )),
            [] => Err(format!("empty command; {USAGE}")),
            _ => Err(format!("unknown command; {USAGE}")),
        }
    }
}

/// The servers a command acts on.
pub trait FaultTargets {
    /// Runs `action` on the server named `server`.
    fn with_server(&mut self, server: Server, action: &mut dyn FnMut(&mut dyn Faulty));

    /// The module running beside the servers, if any (the sandbox's).
    fn module(&self) -> Option<ModuleControl> {
        None
    }
}

/// The module beside the platforms, as the control port reaches it: handed a radio condition
/// (`edge`, `rsrp=-110,sinr=-3`) it moves the module there, handed `None` it reads it; either
/// way it answers the condition in force, or why the value was refused.
#[derive(Clone)]
pub struct ModuleControl(Arc<CoverageFn>);

/// Sets (given a value) and reads a module's radio condition.
type CoverageFn = dyn Fn(Option<&str>) -> Result<String, String> + Send + Sync;

impl ModuleControl {
    pub fn new(
        coverage: impl Fn(Option<&str>) -> Result<String, String> + Send + Sync + 'static,
    ) -> Self {
        ModuleControl(Arc::new(coverage))
    }

    pub fn coverage(&self, value: Option<&str>) -> Result<String, String> {
        (self.0)(value)
    }
}

impl std::fmt::Debug for ModuleControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ModuleControl(…)")
    }
}

impl FaultTargets for Platform {
    fn with_server(&mut self, server: Server, action: &mut dyn FnMut(&mut dyn Faulty)) {
        self.with_faulty(server, action);
    }
}

impl ControlCommand {
    /// Carries the command out; returns the answer (lines without the final newline).
    pub fn execute(&self, targets: &mut dyn FaultTargets) -> String {
        match *self {
            ControlCommand::Set(server, fault) if !server.takes(fault) => {
                return format!("ERROR {server} takes no {} faults", fault.kind());
            }
            ControlCommand::Set(server, fault) => {
                targets.with_server(server, &mut |s| s.set_fault(fault));
            }
            ControlCommand::Clear(Some(server)) => {
                targets.with_server(server, &mut |s| s.clear_faults());
            }
            ControlCommand::Clear(None) => {
                for server in Server::ALL {
                    targets.with_server(server, &mut |s| s.clear_faults());
                }
            }
            ControlCommand::Show => return show(targets),
            ControlCommand::Coverage(ref value) => return coverage(targets, value.as_deref()),
        }
        "OK".into()
    }
}

/// `coverage [VALUE]`: the module's radio condition, after setting it to VALUE if given.
fn coverage(targets: &mut dyn FaultTargets, value: Option<&str>) -> String {
    let Some(module) = targets.module() else {
        return "ERROR no module runs beside these platforms (`nbmodem sandbox` has one)".into();
    };
    match module.coverage(value) {
        Ok(condition) => format!("coverage {condition}\nOK"),
        Err(why) => format!("ERROR {why}"),
    }
}

fn show(targets: &mut dyn FaultTargets) -> String {
    let mut lines: Vec<String> = Server::ALL
        .iter()
        .map(|server| {
            let mut line = String::new();
            targets.with_server(*server, &mut |s| line = format!("{server} {}", s.faults()));
            line
        })
        .collect();
    lines.push("OK".into());
    lines.join("\n")
}

/// Answers one command line (bytes as received, without the newline).
pub fn answer(line: &[u8], targets: &mut dyn FaultTargets) -> String {
    match String::from_utf8_lossy(line).parse::<ControlCommand>() {
        Ok(command) => command.execute(targets),
        Err(why) => format!("ERROR {why}"),
    }
}

/// Sends one command to the control port at `address`, after `token`; returns the answer's
/// lines, the last being `OK` or `ERROR …` (the token's refusal, if it was refused).
pub fn request(address: SocketAddr, token: &ControlToken, line: &str) -> io::Result<Vec<String>> {
    // While others flood the port with connections that never present a token, ours may be
    // pushed out before the platform read its token: it then tries again, a few times.
    let mut tries = 1;
    loop {
        let answer = request_once(address, token, line)?;
        let pushed_out = answer.last().map(String::as_str) == Some(PUSHED_OUT);
        if !pushed_out || tries == CLIENT_TRIES {
            return Ok(answer);
        }
        tries += 1;
        std::thread::sleep(Duration::from_millis(50 * tries));
    }
}

/// What the platform answers a connection it pushed out before reading its token.
pub const PUSHED_OUT: &str = "ERROR too many connections without the token";
/// How often a client connects before it gives up on a port that keeps pushing it out.
const CLIENT_TRIES: u64 = 5;

fn request_once(address: SocketAddr, token: &ControlToken, line: &str) -> io::Result<Vec<String>> {
    let stream = TcpStream::connect_timeout(&address, CLIENT_TIMEOUT)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    let mut reader = BufReader::new(&stream);
    (&stream).write_all(format!("token {}\n", token.as_str()).as_bytes())?;
    let admitted = answer_lines(&mut reader)?;
    if admitted.last().map(String::as_str) != Some("OK") {
        return Ok(admitted);
    }
    (&stream).write_all(format!("{}\n", line.trim()).as_bytes())?;
    answer_lines(&mut reader)
}

/// The lines of one answer, up to its `OK` or `ERROR …`.
fn answer_lines(reader: &mut impl BufRead) -> io::Result<Vec<String>> {
    let mut lines = Vec::new();
    for received in reader.lines() {
        let received = received?;
        let last = received == "OK" || received.starts_with("ERROR");
        lines.push(received);
        if last {
            break;
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_in_both_spellings() {
        let set = |server, fault| Ok(ControlCommand::Set(server, fault));
        assert_eq!("fault ct drop 3".parse(), set(Server::Ct, Fault::Drop(3)));
        assert_eq!("fault ct drop=3".parse(), set(Server::Ct, Fault::Drop(3)));
        assert_eq!(
            " fault dm delay 5s ".parse(),
            set(Server::Dm, Fault::Delay(Duration::from_secs(5)))
        );
        assert_eq!("fault clear".parse(), Ok(ControlCommand::Clear(None)));
        assert_eq!(
            "fault cu clear".parse(),
            Ok(ControlCommand::Clear(Some(Server::Cu)))
        );
        assert_eq!("faults".parse(), Ok(ControlCommand::Show));
        for bad in [
            "",
            "fault",
            "fault xx drop 1",
            "fault ct drop",
            "fault ct lose 1",
            "hello",
        ] {
            assert!(bad.parse::<ControlCommand>().is_err(), "{bad:?}");
        }
    }

    /// No servers; a module if given.
    struct ModuleOnly(Option<ModuleControl>);

    impl FaultTargets for ModuleOnly {
        fn with_server(&mut self, _: Server, _: &mut dyn FnMut(&mut dyn Faulty)) {}

        fn module(&self) -> Option<ModuleControl> {
            self.0.clone()
        }
    }

    #[test]
    fn coverage_reaches_the_module_beside_the_platforms_if_there_is_one() {
        assert_eq!("coverage".parse(), Ok(ControlCommand::Coverage(None)));
        assert_eq!(
            "coverage edge".parse(),
            Ok(ControlCommand::Coverage(Some("edge".into())))
        );
        assert!("coverage edge deep".parse::<ControlCommand>().is_err());
        let alone = answer(b"coverage edge", &mut ModuleOnly(None));
        assert!(alone.starts_with("ERROR no module"), "{alone}");
        let set = std::sync::Mutex::new(String::from("good"));
        let module = ModuleControl::new(move |value| {
            let mut now = set.lock().unwrap();
            match value {
                Some("far") => return Err("\"far\": not a coverage".into()),
                Some(value) => *now = value.into(),
                None => {}
            }
            Ok(now.clone())
        });
        let mut targets = ModuleOnly(Some(module));
        assert_eq!(answer(b"coverage deep", &mut targets), "coverage deep\nOK");
        assert_eq!(
            answer(b"coverage far", &mut targets),
            "ERROR \"far\": not a coverage"
        );
        assert_eq!(answer(b"coverage", &mut targets), "coverage deep\nOK");
    }

    #[test]
    fn the_token_is_the_owners_alone_and_only_it_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let token = ControlToken::create(dir.path()).unwrap();
        assert_eq!(token.as_str().len(), 32);
        assert!(token.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        let mode = fs::metadata(dir.path().join(TOKEN_FILE))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        assert_eq!(ControlToken::read(dir.path()).unwrap(), token);
        let line = format!("token {}", token.as_str());
        assert!(token.accepts_line(line.as_bytes()));
        assert!(!token.accepts_line(&line.as_bytes()[..line.len() - 1]));
        assert!(!token.accepts_line(format!("{line}0").as_bytes()));
        assert!(!token.accepts_line(b"token "));
        assert!(!token.accepts_line(token.as_str().as_bytes()));
        let next = ControlToken::create(dir.path()).unwrap();
        assert_ne!(next, token, "a new token at each start");
        assert_eq!(ControlToken::read(dir.path()).unwrap(), next);
    }

    #[test]
    fn commands_act_on_a_platform() {
        let dir = tempfile::tempdir().unwrap();
        let mut platform = Platform::open(dir.path(), 1, crate::Writing::Inline).unwrap();
        assert_eq!(answer(b"fault dm reject 2", &mut platform), "OK");
        assert_eq!(answer(b"fault ct delay 1s", &mut platform), "OK");
        assert_eq!(platform.dm.faults().reject, 2);
        assert_eq!(
            answer(b"faults", &mut platform),
            "ct drop=0 reject=0 delay=1s\ncu drop=0 reject=0 delay=0s\ndm drop=0 reject=2 delay=0s\n\
             iot drop=0 reject=0 delay=0s\naep drop=0 reject=0 delay=0s\nOK"
        );
        assert_eq!(answer(b"fault aep noack=2", &mut platform), "OK");
        assert_eq!(platform.ctiot[3].faults().noack, 2, "both AEP addresses");
        assert_eq!(
            answer(b"fault ct reset=1", &mut platform),
            "ERROR ct takes no reset faults"
        );
        assert_eq!(answer(b"fault clear", &mut platform), "OK");
        assert_eq!(platform.dm.faults().reject, 0);
        assert_eq!(platform.ctiot[2].faults().noack, 0);
        assert!(answer(b"\xff\xfe", &mut platform).starts_with("ERROR unknown command"));
    }
}
