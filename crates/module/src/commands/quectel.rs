//! The Quectel family's own general commands (BC25, BC32, BC260Y-CN, BC26, BC20): bands,
//! configuration items, power-down and the deep sleep indications. Their saved values are part of
//! [`super::general::GeneralSettings`]; the bands and items of each model are profile data.

use super::general::{clock_text, saved, GeneralSettings, NETWORK_TIME_ZONE};
use super::{spec, CommandError, Handler, HandlerResult};
use crate::errors::ErrorKind;
use crate::module::{Module, Timer};
use crate::service::Service;
use crate::services::sntp::{Report, Sntp};
use nbmodem_at::{Command, CommandSpec, Form, Forms};

pub(super) static QUECTEL: &[CommandSpec<Handler>] = &[
    spec("+QBAND", Forms::TEST_READ_SET, band),
    spec("+QCFG", Forms::TEST_SET, configuration),
    spec("+QPOWD", Forms::TEST_SET, power_down),
    spec("+QATWAKEUP", Forms::TEST_READ_SET, sleep_indication),
    spec("+QNTP", Forms::TEST_SET, network_time),
];

/// What the module writes before it powers down.
pub const POWERED_DOWN: &str = "POWERED DOWN";

/// `AT+QBAND=<n>,<band1>…<bandn>`: searches only these bands; `AT+QBAND=0` all of the model's.
/// Saved, in use at once.
fn band(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let supported = m.profile.general.bands;
    match c.form {
        Form::Test => {
            let all: Vec<String> = supported.iter().map(u8::to_string).collect();
            Ok(vec![m.line("+QBAND", format!("({})", all.join(",")))])
        }
        Form::Read => {
            let chosen = saved(&m.saved).bands;
            let bands = if chosen.is_empty() {
                supported
            } else {
                chosen.as_slice()
            };
            let list: Vec<String> = bands.iter().map(u8::to_string).collect();
            Ok(vec![m.line("+QBAND", list.join(","))])
        }
        _ => {
            let count = c.params.int(0, 0..=supported.len() as u64)? as usize;
            c.params.expect_count(count + 1..=count + 1)?;
            let mut bands = Vec::with_capacity(count);
            for index in 1..=count {
                let band = c.params.int(index, 1..=255)? as u8;
                if !supported.contains(&band) || bands.contains(&band) {
                    return Err(CommandError::Cme(ErrorKind::InvalidParameter));
                }
                bands.push(band);
            }
            m.save(|nv| nv.edit::<GeneralSettings>(|g| g.bands = bands))?;
            Ok(vec![])
        }
    }
}

/// `AT+QCFG="<item>"[,<value>]`: reads or sets (saved, in use at once) one of the model's items.
fn configuration(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let items = m.profile.general.qcfg;
    if c.form == Form::Test {
        return Ok(items
            .iter()
            .map(|i| m.line("+QCFG", format!("\"{}\",({}-{})", i.name, i.min, i.max)))
            .collect());
    }
    c.params.expect_count(1..=2)?;
    let typed = c.params.quoted(0, 32)?;
    let item = items
        .iter()
        .find(|i| i.name.eq_ignore_ascii_case(typed))
        .ok_or(CommandError::Cme(ErrorKind::InvalidParameter))?;
    match c
        .params
        .opt_int(1, u64::from(item.min)..=u64::from(item.max))?
    {
        None => {
            let general = &m.profile.general;
            let value = saved(&m.saved).qcfg_value(general, item.name);
            let value = value.unwrap_or(item.default);
            Ok(vec![m.line("+QCFG", format!("\"{}\",{value}", item.name))])
        }
        Some(value) => {
            m.save(|nv| {
                nv.edit::<GeneralSettings>(|g| {
                    g.qcfg.insert(item.name.into(), value as u8);
                })
            })?;
            Ok(vec![])
        }
    }
}

/// `AT+QPOWD=<n>`: 0 at once, 1 after leaving the network; either way `OK`, then
/// `POWERED DOWN`, then nothing until the power comes back.
fn power_down(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        return Ok(vec![m.line("+QPOWD", "(0,1)")]);
    }
    c.params.expect_count(1..=1)?;
    if c.params.int(0, 0..=1)? == 1 {
        m.detach();
    }
    m.timers.set(Timer::PowerDown, m.now);
    Ok(vec![])
}

/// `AT+QATWAKEUP=<n>`: 1 writes `+QATSLEEP` on entering deep sleep and `+QATWAKEUP` on leaving
/// it. Saved, in use at once.
fn sleep_indication(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => Ok(vec![m.line("+QATWAKEUP", "(0,1)")]),
        Form::Read => {
            let on = u8::from(saved(&m.saved).sleep_indication);
            Ok(vec![m.line("+QATWAKEUP", on)])
        }
        _ => {
            c.params.expect_count(1..=1)?;
            let on = c.params.int(0, 0..=1)? == 1;
            m.save(|nv| nv.edit::<GeneralSettings>(|g| g.sleep_indication = on))?;
            Ok(vec![])
        }
    }
}

/// Quectel's TCP/IP result codes of AT+QNTP's failures besides a timeout: no PDP context to use,
/// a server name that does not resolve.
const PDP_CONTEXT_FAILED: u16 = 561;
const DNS_FAILED: u16 = 565;

/// `AT+QNTP=<contextID>,"<server>"[,<port>[,<autosettime>]]`: `OK`, then
/// `+QNTP: 0,"<time>"` from one SNTP exchange with the server (port 123 by default), or
/// `+QNTP: <err>`. The clock already follows the network's time, so `<autosettime>` is taken
/// and changes nothing.
fn network_time(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let max_cid = u64::from(m.profile.general.max_cid);
    if c.form == Form::Test {
        let ranges = format!("(0-{max_cid}),\"<server>\",(1-65535),(0,1)");
        return Ok(vec![m.line("+QNTP", ranges)]);
    }
    c.params.expect_count(2..=4)?;
    let cid = c.params.int(0, 0..=max_cid)? as u8;
    let server = c.params.text(1, 255)?;
    let port = c.params.opt_int(2, 1..=65535)?.unwrap_or(123) as u16;
    c.params.opt_int(3, 0..=1)?;
    if server.is_empty() {
        return Err(CommandError::Cme(ErrorKind::InvalidParameter));
    }
    if m.services.get::<Sntp>().is_some_and(|s| s.is_busy()) {
        return Err(CommandError::Cme(ErrorKind::OperationNotAllowed));
    }
    let report = time_report(m);
    if super::general::context_address(m, cid).is_none() {
        m.urc(report(Err(PDP_CONTEXT_FAILED)));
        return Ok(vec![]);
    }
    match m.router().resolve_to_address(server, port) {
        Ok(address) => {
            m.services.remove::<Sntp>();
            m.services.add(Box::new(Sntp::new(m.now, address, report)));
        }
        Err(_) => m.urc(report(Err(DNS_FAILED))),
    }
    Ok(vec![])
}

/// How AT+QNTP reports an outcome: the time in the network's zone, in the model's AT+CCLK
/// spelling, or the result code alone.
fn time_report(m: &Module) -> Report {
    let (style, separator) = (m.profile.general.clock_style, m.profile.separator);
    Box::new(move |outcome| match outcome {
        Ok(unix_ms) => {
            let local = i64::try_from(unix_ms).unwrap_or(i64::MAX)
                + i64::from(NETWORK_TIME_ZONE) * 15 * 60 * 1000;
            let time = clock_text(style, local, NETWORK_TIME_ZONE);
            format!("+QNTP{separator}0,{time}")
        }
        Err(code) => format!("+QNTP{separator}{code}"),
    })
}

/// The URCs deep sleep brings besides the model's own: `+QATSLEEP` and `+QATWAKEUP` when
/// AT+QATWAKEUP=1.
pub(crate) fn deep_sleep_changed(m: &mut Module, asleep: bool) {
    if saved(&m.saved).sleep_indication {
        m.urc(if asleep { "+QATSLEEP" } else { "+QATWAKEUP" }.into());
    }
}

/// Whether the model's own deep sleep URCs (`+QNBIOTEVENT`) are on: AT+QCFG="dsevent" where the
/// model has it, on otherwise.
pub(crate) fn deep_sleep_events_on(m: &Module) -> bool {
    saved(&m.saved)
        .qcfg_value(&m.profile.general, "dsevent")
        .is_none_or(|v| v == 1)
}
