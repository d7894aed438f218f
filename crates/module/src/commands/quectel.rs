//! The Quectel family's own general commands (BC25, BC32, BC260Y-CN, BC26, BC20): bands,
//! configuration items, power-down and the deep sleep indications. Their saved values are part of
//! [`super::general::GeneralSettings`]; the bands and items of each model are profile data.

use super::{spec, CommandError, Handler, HandlerResult};
use crate::errors::ErrorKind;
use crate::module::{Module, Timer};
use nbmodem_at::{Command, CommandSpec, Form, Forms};

pub(super) static QUECTEL: &[CommandSpec<Handler>] = &[
    spec("+QBAND", Forms::TEST_READ_SET, band),
    spec("+QCFG", Forms::TEST_SET, configuration),
    spec("+QPOWD", Forms::TEST_SET, power_down),
    spec("+QATWAKEUP", Forms::TEST_READ_SET, sleep_indication),
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
            let saved = &m.saved.general.bands;
            let bands = if saved.is_empty() {
                supported
            } else {
                saved.as_slice()
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
            m.save(|nv| nv.general.bands = bands)?;
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
            let value = m.saved.general.qcfg_value(general, item.name);
            let value = value.unwrap_or(item.default);
            Ok(vec![m.line("+QCFG", format!("\"{}\",{value}", item.name))])
        }
        Some(value) => {
            m.save(|nv| {
                nv.general.qcfg.insert(item.name.into(), value as u8);
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
            let on = u8::from(m.saved.general.sleep_indication);
            Ok(vec![m.line("+QATWAKEUP", on)])
        }
        _ => {
            c.params.expect_count(1..=1)?;
            let on = c.params.int(0, 0..=1)? == 1;
            m.save(|nv| nv.general.sleep_indication = on)?;
            Ok(vec![])
        }
    }
}

/// The URCs deep sleep brings besides the model's own: `+QATSLEEP` and `+QATWAKEUP` when
/// AT+QATWAKEUP=1.
pub(crate) fn deep_sleep_changed(m: &mut Module, asleep: bool) {
    if m.saved.general.sleep_indication {
        m.urc(if asleep { "+QATSLEEP" } else { "+QATWAKEUP" }.into());
    }
}

/// Whether the model's own deep sleep URCs (`+QNBIOTEVENT`) are on: AT+QCFG="dsevent" where the
/// model has it, on otherwise.
pub(crate) fn deep_sleep_events_on(m: &Module) -> bool {
    m.saved
        .general
        .qcfg_value(&m.profile.general, "dsevent")
        .is_none_or(|v| v == 1)
}
