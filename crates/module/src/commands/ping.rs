//! Pings and name lookups (docs/commands.md, section "sockets"): AT+NPING and AT+QDNS on the Neul
//! family;
//! AT+QPING, AT+QIDNSGIP and AT+QIDNSCFG on the Quectel family. Each runs as a [`Query`]
//! service whose answers are URCs after the command's `OK`; one question at a time.

use super::{spec, CommandError, HandlerResult};
use crate::commands::Handler;
use crate::errors::ErrorKind;
use crate::module::Module;
use crate::routing::NetError;
use crate::service::Service;
use crate::services::query::{Ask, Query, DNS_FAILED, QDNS_FAILED};
use nbmodem_at::{Command, CommandSpec, Form, Forms};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

pub(super) static NEUL: &[CommandSpec<Handler>] = &[
    spec("+NPING", Forms::SET, nping),
    spec("+QDNS", Forms::SET, qdns),
];

pub(super) static QUECTEL: &[CommandSpec<Handler>] = &[
    spec("+QPING", Forms::TEST_SET, qping),
    spec("+QIDNSGIP", Forms::TEST_SET, qidnsgip),
    spec("+QIDNSCFG", Forms::TEST_SET, qidnscfg),
];

/// The bytes of a Quectel ping (the module's default; AT+QPING takes no size).
const QPING_SIZE: usize = 32;

fn neul_value() -> CommandError {
    CommandError::Cme(ErrorKind::InvalidParameter)
}

fn quectel_value() -> CommandError {
    CommandError::Cme(ErrorKind::SocketInvalidParameters)
}

/// Starts `query`, unless one is still waiting for its answer (`busy`).
fn start(m: &mut Module, query: Query, busy: CommandError) -> HandlerResult {
    if m.services.get::<Query>().is_some_and(|q| q.is_busy()) {
        return Err(busy);
    }
    m.services.remove::<Query>();
    m.services.add(Box::new(query));
    Ok(Vec::new())
}

/// AT+NPING=<remote_address>[,<p_size>[,<timeout>]]: an IPv4 address; 12–1500 bytes (12);
/// 10–60000 ms (10000). `+NPING:<address>,<ttl>,<rtt>`, or `+NPINGERR:1` (no reply in time)
/// or `+NPINGERR:2` (not sent).
fn nping(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    c.params.expect_count(1..=3).map_err(|_| neul_value())?;
    let to = c.params.text(0, 15).map_err(|_| neul_value())?;
    let to: Ipv4Addr = to.parse().map_err(|_| neul_value())?;
    let size = c.params.opt_int(1, 12..=1500).map_err(|_| neul_value())?;
    let timeout = c.params.opt_int(2, 10..=60_000).map_err(|_| neul_value())?;
    let query = Query::new(
        Ask::NPing,
        m.profile.separator,
        Ok(IpAddr::V4(to)),
        size.unwrap_or(12) as usize,
        Duration::from_millis(timeout.unwrap_or(10_000)),
    );
    start(m, query, CommandError::Cme(ErrorKind::OperationNotAllowed))
}

/// AT+QDNS=0,<hostname> (the Neul family): `OK`, then `+QDNS:<ip>` (the first IPv4 address) or
/// `+QDNS:QUERY_DNS_FAILED`. The name may be quoted or bare, as drivers send both; mode 0 (look
/// up) is the only one.
fn qdns(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    c.params.expect_count(2..=2).map_err(|_| neul_value())?;
    c.params.int(0, 0..=0).map_err(|_| neul_value())?;
    let host = c.params.text(1, 253).map_err(|_| neul_value())?;
    if host.is_empty() {
        return Err(neul_value());
    }
    let answer = match locate(m, host) {
        None => QDNS_FAILED.to_string(),
        Some(Ok(ip)) => ip.to_string(),
        Some(Err(name)) => {
            let query = Query::new(Ask::QDns, m.profile.separator, Err(name), 0, Duration::ZERO);
            return start(m, query, CommandError::Cme(ErrorKind::OperationNotAllowed));
        }
    };
    let urc = m.line("+QDNS", answer);
    m.urc(urc);
    Ok(Vec::new())
}

/// Where `host` is: its address, a name the module's resolver knows, or a name to ask the
/// network (`Err(name)`); `None` when resolution is made to fail (`--dns-fail`).
fn locate(m: &Module, host: &str) -> Option<Result<IpAddr, String>> {
    match m.router().resolve_to_address(host, 0) {
        Ok(address) => Some(Ok(address.ip())),
        Err(NetError::NoSuchHost(name)) => Some(Err(name)),
        Err(_) => None,
    }
}

/// AT+QPING=<contextID>,<host>[,<timeout>[,<pingnum>]]: 1–255 s (4) per echo, 1–10 echoes (4).
/// A `+QPING: 0,"<ip>",<bytes>,<time>,<ttl>` per reply (`+QPING: 569` per timeout), then
/// `+QPING: 0,<sent>,<rcvd>,<lost>,<min>,<max>,<avg>`; a name that does not resolve is
/// `+QPING: 565`.
fn qping(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        return Ok(vec![m.line("+QPING", "(1-16),<host>,(1-255),(1-10)")]);
    }
    c.params.expect_count(2..=4).map_err(|_| quectel_value())?;
    c.params.int(0, 1..=16).map_err(|_| quectel_value())?;
    let host = c.params.text(1, 150).map_err(|_| quectel_value())?;
    let timeout = c.params.opt_int(2, 1..=255).map_err(|_| quectel_value())?;
    let count = c.params.opt_int(3, 1..=10).map_err(|_| quectel_value())?;
    if host.is_empty() {
        return Err(quectel_value());
    }
    let Some(target) = locate(m, host) else {
        let urc = m.line("+QPING", DNS_FAILED);
        m.urc(urc);
        return Ok(Vec::new());
    };
    let ask = Ask::QPing {
        count: count.unwrap_or(4) as u8,
    };
    let timeout = Duration::from_secs(timeout.unwrap_or(4));
    let query = Query::new(ask, m.profile.separator, target, QPING_SIZE, timeout);
    start(m, query, CommandError::Cme(ErrorKind::SocketNotAllowed))
}

/// AT+QIDNSGIP=<contextID>,<hostname>: `+QIURC: "dnsgip",0,<count>,<ttl>` and
/// `+QIURC: "dnsgip","<ip>"` per address, or `+QIURC: "dnsgip",565`.
fn qidnsgip(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        return Ok(vec![m.line("+QIDNSGIP", "(1-16),<hostname>")]);
    }
    c.params.expect_count(2..=2).map_err(|_| quectel_value())?;
    c.params.int(0, 1..=16).map_err(|_| quectel_value())?;
    let host = c.params.text(1, 150).map_err(|_| quectel_value())?;
    if host.is_empty() {
        return Err(quectel_value());
    }
    let lines = match locate(m, host) {
        None => vec![format!("\"dnsgip\",{DNS_FAILED}")],
        Some(Ok(ip)) => vec![
            "\"dnsgip\",0,1,600".to_string(),
            format!("\"dnsgip\",\"{ip}\""),
        ],
        Some(Err(name)) => {
            let query = Query::new(
                Ask::DnsGip,
                m.profile.separator,
                Err(name),
                0,
                Duration::ZERO,
            );
            return start(m, query, CommandError::Cme(ErrorKind::SocketNotAllowed));
        }
    };
    for line in lines {
        let urc = m.line("+QIURC", line);
        m.urc(urc);
    }
    Ok(Vec::new())
}

/// AT+QIDNSCFG=<contextID>[,<pridnsaddr>[,<secdnsaddr>]]: sets the DNS servers shown; with the
/// context alone, `+QIDNSCFG: <contextID>,"<pri>","<sec>"`. Names resolve through the module's
/// resolver (its built-in names and routes, then the system's) whatever is set.
fn qidnscfg(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        return Ok(vec![m.line("+QIDNSCFG", "(1-16),<pridnsaddr>,<secdnsaddr>")]);
    }
    c.params.expect_count(1..=3).map_err(|_| quectel_value())?;
    let context = c.params.int(0, 1..=16).map_err(|_| quectel_value())?;
    if c.params.len() == 1 {
        let [primary, secondary] = m.ram.sockets.dns_servers;
        let value = format!("{context},\"{primary}\",\"{secondary}\"");
        return Ok(vec![m.line("+QIDNSCFG", value)]);
    }
    let mut servers = m.ram.sockets.dns_servers;
    for (index, server) in servers.iter_mut().enumerate().take(c.params.len() - 1) {
        let text = c.params.text(index + 1, 15).map_err(|_| quectel_value())?;
        *server = text.parse().map_err(|_| quectel_value())?;
    }
    m.ram.sockets.dns_servers = servers;
    Ok(Vec::new())
}
