//! The run-time control of faults: one command per line, one answer per command. `nbmodem
//! platform` serves it on a loopback TCP port (`--control`, default 127.0.0.1:15680);
//! `nbmodem platform fault …` is a client of it.
//!
//! ```text
//! fault ct drop 3        (or: fault ct drop=3)   the next 3 CT request datagrams are dropped
//! fault dm reject 2                              the next 2 DM Registers/Updates get 4.03
//! fault cu delay 5s                              every CU request is held 5 s (0s: no delay)
//! fault dm clear                                 no faults on DM
//! fault clear                                    no faults anywhere
//! faults                                         one line per server, e.g. `ct drop=3 reject=0 delay=0s`
//! ```
//!
//! Each command is answered `OK` (after any lines it prints) or `ERROR <why>`.

use crate::fault::{Fault, Faulty};
use crate::record::Server;
use crate::Platform;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::str::FromStr;
use std::time::Duration;

/// The longest command line accepted.
pub const MAX_LINE: usize = 1024;
/// How long the client waits for the platform.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

const USAGE: &str =
    "try: fault ct drop 3 | fault dm reject 2 | fault cu delay 5s | fault dm clear | fault clear | faults";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlCommand {
    Set(Server, Fault),
    /// Clears one server's faults, or every server's.
    Clear(Option<Server>),
    Show,
}

impl FromStr for ControlCommand {
    type Err = String;

    fn from_str(line: &str) -> Result<ControlCommand, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let server = |word: &str| word.parse::<Server>().map_err(|e| e.to_string());
        let fault = |text: &str| text.parse::<Fault>().map_err(|e| e.to_string());
        match words.as_slice() {
            ["faults"] => Ok(ControlCommand::Show),
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
}

impl FaultTargets for Platform {
    fn with_server(&mut self, server: Server, action: &mut dyn FnMut(&mut dyn Faulty)) {
        action(self.faulty(server));
    }
}

impl ControlCommand {
    /// Carries the command out; returns the answer (lines without the final newline).
    pub fn execute(&self, targets: &mut dyn FaultTargets) -> String {
        match *self {
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
        }
        "OK".into()
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

/// Sends one command to the control port at `address`; returns the answer's lines, the last
/// being `OK` or `ERROR …`.
pub fn request(address: SocketAddr, line: &str) -> std::io::Result<Vec<String>> {
    let stream = TcpStream::connect_timeout(&address, CLIENT_TIMEOUT)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    (&stream).write_all(format!("{}\n", line.trim()).as_bytes())?;
    let mut lines = Vec::new();
    for received in BufReader::new(&stream).lines() {
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

    #[test]
    fn commands_act_on_a_platform() {
        let dir = tempfile::tempdir().unwrap();
        let mut platform = Platform::open(dir.path(), 1, crate::Writing::Inline).unwrap();
        assert_eq!(answer(b"fault dm reject 2", &mut platform), "OK");
        assert_eq!(answer(b"fault ct delay 1s", &mut platform), "OK");
        assert_eq!(platform.dm.faults().reject, 2);
        assert_eq!(
            answer(b"faults", &mut platform),
            "ct drop=0 reject=0 delay=1s\ncu drop=0 reject=0 delay=0s\ndm drop=0 reject=2 delay=0s\nOK"
        );
        assert_eq!(answer(b"fault clear", &mut platform), "OK");
        assert_eq!(platform.dm.faults().reject, 0);
        assert!(answer(b"\xff\xfe", &mut platform).starts_with("ERROR unknown command"));
    }
}
