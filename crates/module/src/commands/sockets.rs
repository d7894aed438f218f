//! The data socket commands of both families, on [`Socket`] services (docs/commands.md, section
//! "sockets", gives each command's source):
//!
//! - Neul (BC95, BC35-G, BC28): AT+NSOCR, AT+NSOST, AT+NSOSTF (its flags are the uplink's
//!   release assistance), AT+NSORF, AT+NSONMI, AT+NSOCO, AT+NSOSD, AT+NSOCL, AT+NQSOS; URCs
//!   `+NSONMI`, `+NSOCLI`, `+NSOSTR`. A bad value is `+CME ERROR: 50` (incorrect parameters),
//!   a socket that cannot be made (all in use, port taken) or a send that cannot go (not
//!   attached) is 3 (operation not allowed).
//! - Quectel (BC25, BC32, BC26, BC20, BC260Y-CN): AT+QIOPEN, AT+QISEND (with its `>` prompt),
//!   AT+QISENDEX, AT+QIRD, AT+QICLOSE, AT+QISTATE, AT+QIGETERROR; URCs `+QIOPEN`,
//!   `+QIURC: "recv"` and `+QIURC: "closed"`. A bad value is the TCP/IP code 552; what fails
//!   after `OK` comes in `+QIOPEN: <id>,<err>` and is kept for AT+QIGETERROR.
//!
//! A command that fails changes nothing.

use super::{spec, CommandError, HandlerResult};
use crate::commands::Handler;
use crate::errors::ErrorKind;
use crate::module::Module;
use crate::profile::SocketLimits;
use crate::radio::Rai;
use crate::routing::NetError;
use crate::service::Service;
use crate::services::socket::{Notify, SendPrompt, Socket, SocketSetup, State, Transport};
use nbmodem_at::{Command, CommandSpec, DataEnd, DataInput, Form, Forms, Param};
use nbmodem_operators::ctiot::{decode_hex, hex};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

pub(super) static NEUL: &[CommandSpec<Handler>] = &[
    spec("+NSOCR", Forms::SET, nsocr),
    spec("+NSOST", Forms::SET, nsost),
    spec("+NSOSTF", Forms::SET, nsostf),
    spec("+NSORF", Forms::SET, nsorf),
    spec("+NSONMI", Forms::READ.with(Forms::SET), nsonmi),
    spec("+NSOCO", Forms::SET, nsoco),
    spec("+NSOSD", Forms::SET, nsosd),
    spec("+NSOCL", Forms::SET, nsocl),
    spec("+NQSOS", Forms::SET, nqsos),
];

pub(super) static QUECTEL: &[CommandSpec<Handler>] = &[
    spec("+QIOPEN", Forms::TEST_SET, qiopen),
    spec("+QISEND", Forms::TEST_SET, qisend),
    spec("+QISENDEX", Forms::TEST_SET, qisendex),
    spec("+QIRD", Forms::TEST_SET, qird),
    spec("+QICLOSE", Forms::TEST_SET, qiclose),
    spec("+QISTATE", Forms::READ.with(Forms::TEST_SET), qistate),
    spec("+QIGETERROR", Forms::TEST_EXECUTE, qigeterror),
];

fn neul_value() -> CommandError {
    CommandError::Cme(ErrorKind::InvalidParameter)
}

fn not_allowed() -> CommandError {
    CommandError::Cme(ErrorKind::OperationNotAllowed)
}

fn quectel_value() -> CommandError {
    CommandError::Cme(ErrorKind::SocketInvalidParameters)
}

fn limits(m: &Module) -> SocketLimits {
    m.profile.sockets
}

/// The open socket numbered `id`, with its port.
fn socket(m: &mut Module, id: u8) -> Option<(u16, &mut Socket)> {
    m.services.each_mut::<Socket>().find(|(_, s)| s.id == id)
}

/// The lowest socket number not in use, if any is left.
fn free_id(m: &Module) -> Option<u8> {
    (0..limits(m).count).find(|id| m.services.each::<Socket>().all(|s| s.id != *id))
}

/// Runs `f` on socket `id` with the environment services see, so that its URCs and notices are
/// applied as any service's effects are.
fn on_socket<R>(
    m: &mut Module,
    id: u8,
    f: impl FnOnce(&mut Socket, &mut crate::service::Env) -> R,
) -> Option<R> {
    let mut result = None;
    m.run_services(|services, env| {
        if let Some((_, s)) = services.each_mut::<Socket>().find(|(_, s)| s.id == id) {
            let name = s.name();
            result = Some(f(s, env.of(name)));
        }
    });
    result
}

/// Opens a socket; `None` when `port` is taken.
fn open(m: &mut Module, setup: SocketSetup, port: Option<u16>) -> Option<u16> {
    let socket = Box::new(Socket::open(setup, m.now));
    match port {
        Some(port) => m.services.add_on(port, socket).then_some(port),
        None => Some(m.services.add(socket)),
    }
}

/// Closes socket `id` and removes its service; `false` when there is no such socket.
fn close(m: &mut Module, id: u8) -> bool {
    let Some((port, s)) = socket(m, id) else {
        return false;
    };
    // The connection outlives the service by a moment: the module closes it next.
    if s.has_connection() {
        m.closing_streams.push(port);
    }
    m.services.remove_port(port);
    true
}

/// An IPv4 address in dotted form (the Neul commands take no names).
fn ipv4(text: &str) -> Option<IpAddr> {
    text.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Where a send on a connected socket is "addressed": its stream or remote address decides.
const NO_ADDRESS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

fn small(value: u64) -> u8 {
    u8::try_from(value).unwrap_or(u8::MAX)
}

// ------------------------------------------------------------------------------------------
// Neul

/// AT+NSOCR=<type>,<protocol>,<listen_port>[,<receive_control>]: `DGRAM` with 17 or `STREAM`
/// with 6; port 0 takes a free one. Answers the socket's number.
fn nsocr(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    c.params.expect_count(3..=4).map_err(|_| neul_value())?;
    let kind = c.params.text(0, 6).map_err(|_| neul_value())?;
    let protocol = c.params.int(1, 0..=255).map_err(|_| neul_value())?;
    let transport = match (kind, protocol) {
        ("DGRAM", 17) => Transport::Udp,
        ("STREAM", 6) => Transport::Tcp,
        _ => return Err(neul_value()),
    };
    let port = c.params.int(2, 0..=65535).map_err(|_| neul_value())? as u16;
    let receives = c.params.opt_int(3, 0..=1).map_err(|_| neul_value())? != Some(0);
    let id = free_id(m).ok_or_else(not_allowed)?;
    let setup = SocketSetup {
        id,
        transport,
        api: limits(m).api,
        service: match transport {
            Transport::Udp => "DGRAM",
            Transport::Tcp => "STREAM",
        },
        remote: None,
        receives,
        notify: m.ram.sockets.nsonmi,
        separator: m.profile.separator,
        buffer_size: limits(m).receive_buffer,
    };
    open(m, setup, (port != 0).then_some(port)).ok_or_else(not_allowed)?;
    Ok(vec![id.to_string()])
}

/// The socket number of parameter 0: an open socket.
fn neul_socket(m: &mut Module, c: &Command<'_>) -> Result<u8, CommandError> {
    let id = c.params.int(0, 0..=255).map_err(|_| neul_value())?;
    let id = small(id);
    socket(m, id).ok_or_else(neul_value)?;
    Ok(id)
}

/// `<length>,<data>` at `index`: the length within the profile's limit, and exactly that many
/// bytes in hex.
fn neul_data(m: &Module, c: &Command<'_>, index: usize) -> Result<Vec<u8>, CommandError> {
    let max = limits(m).max_send;
    let length = c
        .params
        .int(index, 0..=max as u64)
        .map_err(|_| neul_value())? as usize;
    let text = c
        .params
        .text(index + 1, 2 * max)
        .map_err(|_| neul_value())?;
    let data = decode_hex(text).ok_or_else(neul_value)?;
    if data.len() != length {
        return Err(neul_value());
    }
    Ok(data)
}

/// `<remote_addr>,<remote_port>` at `index`.
fn neul_destination(c: &Command<'_>, index: usize) -> Result<SocketAddr, CommandError> {
    let ip = ipv4(c.params.text(index, 15).map_err(|_| neul_value())?).ok_or_else(neul_value)?;
    let port = c
        .params
        .int(index + 1, 0..=65535)
        .map_err(|_| neul_value())? as u16;
    Ok(SocketAddr::new(ip, port))
}

/// An optional `<sequence>` (1–255) at `index`.
fn sequence(c: &Command<'_>, index: usize) -> Result<Option<u8>, CommandError> {
    Ok(c.params
        .opt_int(index, 1..=255)
        .map_err(|_| neul_value())?
        .map(small))
}

/// AT+NSOSTF's `<flag>` in hex (`0x200` or `200`): 0x200 releases the RRC connection after the
/// uplink, 0x400 after the one downlink that answers it; 0x100 (exception data) and 0 none.
fn flag(text: &str) -> Option<Rai> {
    let digits = text
        .strip_prefix("0x")
        .or(text.strip_prefix("0X"))
        .unwrap_or(text);
    match u16::from_str_radix(digits, 16).ok()? {
        0 | 0x100 => Some(Rai::None),
        0x200 => Some(Rai::ReleaseNow),
        0x400 => Some(Rai::ReleaseAfterReply),
        _ => None,
    }
}

/// Sends on Neul socket `id`; answers `<socket>,<length>` (and `+NSOSTR` when a sequence was
/// given: the data is handed to the radio at once).
fn neul_send(
    m: &mut Module,
    id: u8,
    to: Option<SocketAddr>,
    data: Vec<u8>,
    rai: Rai,
    sequence: Option<u8>,
) -> HandlerResult {
    if !m.ram.radio.registered() {
        return Err(not_allowed());
    }
    let len = data.len();
    on_socket(m, id, |s, _| s.send(to.unwrap_or(NO_ADDRESS), data, rai));
    if let Some(sequence) = sequence {
        let urc = m.line("+NSOSTR", format!("{id},{sequence},1"));
        m.urc(urc);
    }
    Ok(vec![format!("{id},{len}")])
}

/// An open UDP socket for AT+NSOST(F); a TCP socket is refused.
fn neul_udp(m: &mut Module, c: &Command<'_>) -> Result<u8, CommandError> {
    let id = neul_socket(m, c)?;
    match socket(m, id) {
        Some((_, s)) if s.transport == Transport::Udp => Ok(id),
        _ => Err(neul_value()),
    }
}

/// AT+NSOST=<socket>,<remote_addr>,<remote_port>,<length>,<data>[,<sequence>]
fn nsost(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    c.params.expect_count(5..=6).map_err(|_| neul_value())?;
    let id = neul_udp(m, c)?;
    let to = neul_destination(c, 1)?;
    let data = neul_data(m, c, 3)?;
    let sequence = sequence(c, 5)?;
    neul_send(m, id, Some(to), data, Rai::None, sequence)
}

/// AT+NSOSTF=<socket>,<remote_addr>,<remote_port>,<flag>,<length>,<data>[,<sequence>]
fn nsostf(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    c.params.expect_count(6..=7).map_err(|_| neul_value())?;
    let id = neul_udp(m, c)?;
    let to = neul_destination(c, 1)?;
    let rai = flag(c.params.text(3, 6).map_err(|_| neul_value())?).ok_or_else(neul_value)?;
    let data = neul_data(m, c, 4)?;
    let sequence = sequence(c, 6)?;
    neul_send(m, id, Some(to), data, rai, sequence)
}

/// AT+NSORF=<socket>,<req_length>: `<socket>,<ip>,<port>,<length>,<data>,<remaining_length>`,
/// or nothing when nothing waits.
fn nsorf(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    c.params.expect_count(2..=2).map_err(|_| neul_value())?;
    let id = neul_socket(m, c)?;
    let max = limits(m).max_read as u64;
    let wanted = c.params.int(1, 0..=max).map_err(|_| neul_value())? as usize;
    let Some((_, s)) = socket(m, id) else {
        return Err(neul_value());
    };
    let Some((from, data, remaining)) = s.read(wanted) else {
        return Ok(Vec::new());
    };
    Ok(vec![format!(
        "{id},{},{},{},{},{remaining}",
        from.ip(),
        from.port(),
        data.len(),
        hex(&data)
    )])
}

/// AT+NSONMI=<mode>: 0 no URC, 1 `+NSONMI:<socket>,<length>`, 2 the data in the URC; for the
/// sockets open and those opened later (until reboot).
fn nsonmi(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let modes = [Notify::Silent, Notify::Indicate, Notify::Push];
    if c.form == Form::Read {
        let mode = modes
            .iter()
            .position(|n| *n == m.ram.sockets.nsonmi)
            .unwrap_or(1);
        return Ok(vec![m.line("+NSONMI", mode)]);
    }
    c.params.expect_count(1..=1).map_err(|_| neul_value())?;
    let notify = modes[c.params.int(0, 0..=2).map_err(|_| neul_value())? as usize];
    m.ram.sockets.nsonmi = notify;
    for (_, s) in m.services.each_mut::<Socket>() {
        s.notify = notify;
    }
    Ok(Vec::new())
}

/// AT+NSOCO=<socket>,<remote_addr>,<remote_port>: connects a STREAM socket. `OK` says the
/// connection is being made; one that fails ends in `+NSOCLI`.
fn nsoco(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    c.params.expect_count(3..=3).map_err(|_| neul_value())?;
    let id = neul_socket(m, c)?;
    let to = neul_destination(c, 1)?;
    if !m.ram.radio.registered() {
        return Err(not_allowed());
    }
    let now = m.now;
    let Some((_, s)) = socket(m, id) else {
        return Err(neul_value());
    };
    if s.transport != Transport::Tcp || s.remote.is_some() {
        return Err(not_allowed());
    }
    s.connect(to, now);
    Ok(Vec::new())
}

/// AT+NSOSD=<socket>,<length>,<data>[,<flag>[,<sequence>]]: sends on a connected (or
/// connecting) STREAM socket.
fn nsosd(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    c.params.expect_count(3..=5).map_err(|_| neul_value())?;
    let id = neul_socket(m, c)?;
    let data = neul_data(m, c, 1)?;
    let rai = match c.params.get(3) {
        None | Some(Param::Empty) => Rai::None,
        Some(_) => flag(c.params.text(3, 6).map_err(|_| neul_value())?).ok_or_else(neul_value)?,
    };
    let sequence = sequence(c, 4)?;
    // A connection still being made takes the data after it: a real module answers AT+NSOCO
    // only once connected, so firmware sends right after it.
    match socket(m, id) {
        Some((_, s)) if s.transport == Transport::Tcp && s.remote.is_some() => {
            if s.state == State::Closed {
                return Err(not_allowed());
            }
        }
        _ => return Err(not_allowed()),
    }
    neul_send(m, id, None, data, rai, sequence)
}

/// AT+NSOCL=<socket>
fn nsocl(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    c.params.expect_count(1..=1).map_err(|_| neul_value())?;
    let id = neul_socket(m, c)?;
    close(m, id);
    Ok(Vec::new())
}

/// AT+NQSOS=<socket>[,<socket>…]: the datagrams sent with a sequence and not yet sent. The
/// module hands every datagram to the radio at once, so none is ever pending: nothing is
/// listed, but each socket named must be open.
fn nqsos(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    for index in 0..c.params.len() {
        let id = small(c.params.int(index, 0..=255).map_err(|_| neul_value())?);
        socket(m, id).ok_or_else(neul_value)?;
    }
    Ok(Vec::new())
}

// ------------------------------------------------------------------------------------------
// Quectel

/// The service types of AT+QIOPEN.
const SERVICE_TYPES: &[(&str, Transport)] = &[
    ("UDP", Transport::Udp),
    ("TCP", Transport::Tcp),
    ("UDP SERVICE", Transport::Udp),
];

/// The `<connectID>` of parameter `index`, in the profile's range.
fn connect_id(m: &Module, c: &Command<'_>, index: usize) -> Result<u8, CommandError> {
    let last = u64::from(limits(m).count - 1);
    Ok(small(
        c.params.int(index, 0..=last).map_err(|_| quectel_value())?,
    ))
}

/// AT+QIOPEN=<contextID>,<connectID>,<service_type>,<IP_address>/<domain_name>,<remote_port>
/// [,<local_port>[,<access_mode>]]: `OK`, then `+QIOPEN: <connectID>,<err>` (at once for UDP,
/// when the connection is made or fails for TCP). Access mode 0 keeps data for AT+QIRD, 1
/// pushes it in the URC; 2 (transparent) is not offered.
fn qiopen(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        let last = limits(m).count - 1;
        return Ok(vec![m.line(
            "+QIOPEN",
            format!(
                "(1-16),(0-{last}),\"TCP/UDP/UDP SERVICE\",\"<IP_address>/<domain_name>\",\
                 (0-65535),(0-65535),(0,1)"
            ),
        )]);
    }
    c.params.expect_count(5..=7).map_err(|_| quectel_value())?;
    c.params.int(0, 1..=16).map_err(|_| quectel_value())?;
    let id = connect_id(m, c, 1)?;
    let service = c.params.quoted(2, 11).map_err(|_| quectel_value())?;
    let &(service, transport) = SERVICE_TYPES
        .iter()
        .find(|(name, _)| *name == service)
        .ok_or_else(quectel_value)?;
    let host = c.params.text(3, 150).map_err(|_| quectel_value())?;
    let remote_port = c.params.int(4, 0..=65535).map_err(|_| quectel_value())? as u16;
    let local_port = c
        .params
        .opt_int(5, 0..=65535)
        .map_err(|_| quectel_value())?;
    let push = c.params.opt_int(6, 0..=1).map_err(|_| quectel_value())? == Some(1);
    if host.is_empty() || (service != "UDP SERVICE" && remote_port == 0) {
        return Err(quectel_value());
    }
    if socket(m, id).is_some() {
        return Err(CommandError::Cme(ErrorKind::SocketIdInUse));
    }
    let setup = SocketSetup {
        id,
        transport,
        api: limits(m).api,
        service,
        remote: None,
        receives: true,
        notify: if push { Notify::Push } else { Notify::Indicate },
        separator: m.profile.separator,
        buffer_size: limits(m).receive_buffer,
    };
    let port = local_port.filter(|p| *p != 0).map(|p| p as u16);
    let err = match resolve(m, host, remote_port) {
        Ok(remote) => {
            let setup = SocketSetup {
                remote: (service != "UDP SERVICE").then_some(remote),
                ..setup
            };
            match open(m, setup, port) {
                // A TCP socket tells when its connection is made or fails.
                Some(_) if transport == Transport::Tcp => return Ok(Vec::new()),
                Some(_) => 0,
                None => PORT_BUSY,
            }
        }
        // A name the module's resolver does not know: the network's resolver is asked, and the
        // socket tells when it has the answer.
        Err(Unresolved::Ask(name)) => {
            let socket = Box::new(Socket::open_by_name(setup, name, remote_port, m.now));
            let added = match port {
                Some(port) => m.services.add_on(port, socket),
                None => {
                    m.services.add(socket);
                    true
                }
            };
            if added {
                return Ok(Vec::new());
            }
            PORT_BUSY
        }
        Err(Unresolved::Failed(err)) => err,
    };
    m.ram.sockets.last_error = (err, m.now);
    let urc = m.line("+QIOPEN", format!("{id},{err}"));
    m.urc(urc);
    Ok(Vec::new())
}

/// The Quectel TCP/IP error codes AT+QIOPEN reports in its URC.
const PDP_FAILED: u16 = 561;
const DNS_FAILED: u16 = 565;
const PORT_BUSY: u16 = 574;

/// Why a host has no address yet.
enum Unresolved {
    /// A name for the network's resolver.
    Ask(String),
    /// The `+QIOPEN` error: not attached, or resolution made to fail (`--dns-fail`).
    Failed(u16),
}

/// The public address of `host` (an address, or a name the module's resolver knows), while
/// attached.
fn resolve(m: &Module, host: &str, port: u16) -> Result<SocketAddr, Unresolved> {
    if !m.ram.radio.registered() {
        return Err(Unresolved::Failed(PDP_FAILED));
    }
    m.router()
        .resolve_to_address(host, port)
        .map_err(|e| match e {
            NetError::NoSuchHost(name) => Unresolved::Ask(name),
            NetError::DnsFailure(_) => Unresolved::Failed(DNS_FAILED),
            NetError::Unreachable(_) => Unresolved::Failed(PDP_FAILED),
        })
}

/// An open socket for a send: `ERROR` for a socket that is not there, not yet connected or whose
/// connection was closed.
fn ready_to_send(m: &mut Module, id: u8) -> Result<(), CommandError> {
    match socket(m, id) {
        Some((_, s)) if s.state == State::Open => Ok(()),
        _ => Err(CommandError::Syntax),
    }
}

/// AT+QISEND=<connectID>[,<send_length>[,<remoteIP>,<remote_port>]]: the `>` prompt, then the
/// data (the given length, or up to Ctrl-Z), then `SEND OK`. A length of 0 asks for
/// `+QISEND: <sent>,<acked>,<unacked>` instead.
fn qisend(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let max = limits(m).max_send;
    if c.form == Form::Test {
        let last = limits(m).count - 1;
        return Ok(vec![m.line("+QISEND", format!("(0-{last}),(0-{max})"))]);
    }
    c.params.expect_count(1..=4).map_err(|_| quectel_value())?;
    let id = connect_id(m, c, 0)?;
    let length = c
        .params
        .opt_int(1, 0..=max as u64)
        .map_err(|_| quectel_value())?;
    let to = match c.params.len() {
        4 => Some(quectel_destination(c)?),
        3 => return Err(quectel_value()),
        _ => None,
    };
    let Some((_, s)) = socket(m, id) else {
        return Err(CommandError::Syntax);
    };
    if to.is_some() != (s.service == "UDP SERVICE") {
        return Err(quectel_value());
    }
    if length == Some(0) {
        // Everything sent counts as acknowledged: the module keeps no unacknowledged data.
        let sent = s.sent_bytes;
        return Ok(vec![m.line("+QISEND", format!("{sent},{sent},0"))]);
    }
    ready_to_send(m, id)?;
    let input = match length {
        Some(length) => DataInput::fixed(length as usize),
        None => DataInput::until_ctrl_z(max),
    };
    m.ram.sockets.prompt = Some(SendPrompt { input, id, to });
    Ok(Vec::new())
}

/// `<remoteIP>,<remote_port>` of a `UDP SERVICE` send.
fn quectel_destination(c: &Command<'_>) -> Result<SocketAddr, CommandError> {
    let ip = ipv4(c.params.text(2, 15).map_err(|_| quectel_value())?).ok_or_else(quectel_value)?;
    let port = c.params.int(3, 1..=65535).map_err(|_| quectel_value())? as u16;
    Ok(SocketAddr::new(ip, port))
}

/// The data typed after AT+QISEND's prompt: sent (`SEND OK`), or not (ESC: `OK` with nothing
/// sent; a socket closed meanwhile: `SEND FAIL`).
pub(crate) fn send_typed(m: &mut Module, prompt: SendPrompt, end: DataEnd) -> &'static str {
    let DataEnd::Complete(data) = end else {
        return "OK";
    };
    if ready_to_send(m, prompt.id).is_err() || !m.ram.radio.registered() {
        return "SEND FAIL";
    }
    quectel_send(m, prompt.id, prompt.to, data);
    "SEND OK"
}

fn quectel_send(m: &mut Module, id: u8, to: Option<SocketAddr>, data: Vec<u8>) {
    on_socket(m, id, |s, _| {
        let to = to.or(s.remote).unwrap_or(NO_ADDRESS);
        s.send(to, data, Rai::None)
    });
}

/// AT+QISENDEX=<connectID>,<hex_string>: sends the bytes of the hex string; `SEND OK`.
fn qisendex(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let max = limits(m).max_send;
    if c.form == Form::Test {
        let last = limits(m).count - 1;
        return Ok(vec![m.line("+QISENDEX", format!("(0-{last}),<hex_string>"))]);
    }
    c.params.expect_count(2..=2).map_err(|_| quectel_value())?;
    let id = connect_id(m, c, 0)?;
    let data = c.params.text(1, 2 * max).map_err(|_| quectel_value())?;
    let data = decode_hex(data)
        .filter(|d| !d.is_empty())
        .ok_or_else(quectel_value)?;
    ready_to_send(m, id)?;
    if !m.ram.radio.registered() {
        m.ram.sockets.result_text = Some("SEND FAIL");
        return Ok(Vec::new());
    }
    quectel_send(m, id, None, data);
    m.ram.sockets.result_text = Some("SEND OK");
    Ok(Vec::new())
}

/// AT+QIRD=<connectID>[,<read_length>]: `+QIRD: <length>` and the data on the next line
/// (`+QIRD: <length>,<remoteIP>,<remote_port>` on a `UDP SERVICE` socket); a length of 0 asks
/// for `+QIRD: <total>,<read>,<unread>`.
fn qird(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let max = limits(m).max_read;
    if c.form == Form::Test {
        let last = limits(m).count - 1;
        return Ok(vec![m.line("+QIRD", format!("(0-{last}),(0-{max})"))]);
    }
    c.params.expect_count(1..=2).map_err(|_| quectel_value())?;
    let id = connect_id(m, c, 0)?;
    let wanted = c
        .params
        .opt_int(1, 0..=max as u64)
        .map_err(|_| quectel_value())?;
    let sep = m.profile.separator;
    let Some((_, s)) = socket(m, id) else {
        return Err(CommandError::Syntax);
    };
    if wanted == Some(0) {
        let (total, read) = (s.received_bytes, s.read_bytes);
        return Ok(vec![format!("+QIRD{sep}{total},{read},{}", total - read)]);
    }
    let udp_service = s.service == "UDP SERVICE";
    let Some((from, data, _)) = s.read(wanted.map_or(max, |w| w as usize)) else {
        return Ok(vec![format!("+QIRD{sep}0")]);
    };
    let head = if udp_service {
        format!("+QIRD{sep}{},{},{}", data.len(), from.ip(), from.port())
    } else {
        format!("+QIRD{sep}{}", data.len())
    };
    Ok(vec![head, String::from_utf8_lossy(&data).into_owned()])
}

/// AT+QICLOSE=<connectID>[,<timeout>]: closes it; closing a socket that is not open changes
/// nothing and is `OK` too.
fn qiclose(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        let last = limits(m).count - 1;
        return Ok(vec![m.line("+QICLOSE", format!("(0-{last}),(0-65535)"))]);
    }
    c.params.expect_count(1..=2).map_err(|_| quectel_value())?;
    let id = connect_id(m, c, 0)?;
    c.params
        .opt_int(1, 0..=65535)
        .map_err(|_| quectel_value())?;
    close(m, id);
    Ok(Vec::new())
}

/// AT+QISTATE? (every socket) or AT+QISTATE=1,<connectID> (one):
/// `+QISTATE: <connectID>,"<service_type>","<IP_address>",<remote_port>,<local_port>,
/// <socket_state>,<contextID>,<serverID>,<access_mode>,"<AT_port>"`.
fn qistate(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let only = match c.form {
        Form::Test => return Ok(vec![m.line("+QISTATE", "(0,1),(0-4)")]),
        Form::Read => None,
        _ => {
            c.params.expect_count(2..=2).map_err(|_| quectel_value())?;
            c.params.int(0, 1..=1).map_err(|_| quectel_value())?;
            Some(connect_id(m, c, 1)?)
        }
    };
    let sep = m.profile.separator;
    let mut sockets: Vec<(u16, &mut Socket)> = m
        .services
        .each_mut::<Socket>()
        .filter(|(_, s)| only.is_none_or(|id| s.id == id))
        .collect();
    sockets.sort_by_key(|(_, s)| s.id);
    Ok(sockets
        .into_iter()
        .map(|(port, s)| {
            let remote = s.remote.unwrap_or(NO_ADDRESS);
            let state = match s.state {
                State::Connecting(_) => 1,
                State::Open => 2,
                State::Closed => 4,
            };
            let mode = u8::from(s.notify == Notify::Push);
            format!(
                "+QISTATE{sep}{},\"{}\",\"{}\",{},{port},{state},1,0,{mode},\"uart1\"",
                s.id,
                s.service,
                remote.ip(),
                remote.port()
            )
        })
        .collect())
}

/// AT+QIGETERROR: the last socket error, `+QIGETERROR: <err>,<description>`.
fn qigeterror(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        return Ok(Vec::new());
    }
    // The latest of the commands' errors and the sockets' own.
    let sockets = m.services.each::<Socket>().filter_map(|s| s.error);
    let (err, _) = sockets
        .chain([m.ram.sockets.last_error])
        .max_by_key(|(_, at)| *at)
        .unwrap_or_default();
    let text = match err {
        0 => "operation success",
        PDP_FAILED => "open PDP context failed",
        DNS_FAILED => "DNS parse failed",
        PORT_BUSY => "port busy",
        crate::services::socket::CONNECT_FAILED => "socket connect failed",
        _ => "unknown error",
    };
    Ok(vec![m.line("+QIGETERROR", format!("{err},{text}"))])
}
