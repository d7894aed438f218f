//! The Neul family's general commands (BC35-G, BC28, BC95 R2.0; the model's AT Commands Manual,
//! "General Commands"): AT+NRB, AT+NCONFIG, AT+NBAND, AT+NEARFCN, AT+NCSEARFCN, AT+NATSPEED and
//! AT+NPOWERCLASS.
//! Their settings are the saved section [`crate::neul::NeulSettings`]; what each model offers is
//! its profile's [`NeulConfig`].
//!
//! Answers are `+NAME:value` (no space, the Neul style); a bad parameter is `+CME ERROR: 50`, a
//! radio setting changed while the radio is on is `+CME ERROR: 3` (docs/decisions.md).

use super::{spec, CommandError, HandlerResult};
use crate::commands::Handler;
use crate::errors::ErrorKind;
use crate::module::Module;
use crate::neul::{self, EarfcnLock, NeulConfig, NeulSettings, UartSettings};
use nbmodem_at::{Command, CommandSpec, Form, Forms};

pub(super) static NEUL: &[CommandSpec<Handler>] = &[
    spec("+NRB", Forms::TEST_EXECUTE, reboot),
    spec("+NCONFIG", Forms::TEST_READ_SET, configure),
    spec("+NBAND", Forms::TEST_READ_SET, bands),
    spec("+NEARFCN", Forms::SET, lock_earfcn),
    spec("+NCSEARFCN", Forms::EXECUTE, clear_earfcn),
    spec("+NATSPEED", Forms::TEST_READ_SET, uart_speed),
    spec("+NPOWERCLASS", Forms::TEST_READ_SET, power_class),
];

/// Changes the Neul settings saved.
pub(super) fn save_neul(
    m: &mut Module,
    change: impl FnOnce(&mut NeulSettings),
) -> Result<(), CommandError> {
    m.save(|nv| nv.edit(change))
}

/// The longest AT+NCONFIG item name and value taken (the longest item is 29 characters).
const MAX_ITEM: usize = 64;

pub(super) fn config(m: &Module) -> Result<NeulConfig, CommandError> {
    m.profile
        .neul
        .ok_or(CommandError::Cme(ErrorKind::OperationNotSupported))
}

/// Refuses a change of radio settings while the radio is on: the manual asks for AT+CFUN=0
/// first.
fn radio_off(m: &Module) -> Result<(), CommandError> {
    if m.ram.radio.functional {
        return Err(CommandError::Cme(ErrorKind::OperationNotAllowed));
    }
    Ok(())
}

/// AT+NRB: answers `REBOOTING` and reboots; the boot banner ends with the `OK`.
fn reboot(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        return Ok(Vec::new());
    }
    m.reboot_without_result();
    Ok(vec!["REBOOTING".into()])
}

/// AT+NCONFIG=<function>,<value>: saved at once, in use from the next boot; the read shows the
/// saved values, one item a line.
fn configure(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let config = config(m)?;
    match c.form {
        Form::Test => Ok(config
            .nconfig
            .iter()
            .map(|item| m.line("+NCONFIG", format!("({},{})", item.name, item.value_list())))
            .collect()),
        Form::Read => {
            let saved = neul::saved(&m.saved);
            Ok(config
                .nconfig
                .iter()
                .map(|item| {
                    let value = saved.nconfig_value(&config, item.name);
                    m.line("+NCONFIG", format!("{},{}", item.name, value.unwrap_or("")))
                })
                .collect())
        }
        _ => {
            c.params.expect_count(2..=2)?;
            let name = c.params.text(0, MAX_ITEM)?;
            let value = c.params.text(1, MAX_ITEM)?;
            let item = config
                .item(name)
                .ok_or(CommandError::Cme(ErrorKind::InvalidParameter))?;
            let stored = item
                .accept(value)
                .ok_or(CommandError::Cme(ErrorKind::InvalidParameter))?;
            m.save(|nv| {
                nv.edit(|s: &mut NeulSettings| {
                    s.nconfig.insert(item.name.into(), stored);
                });
            })?;
            Ok(Vec::new())
        }
    }
}

/// AT+NBAND=<n>[,<n>…]: the bands searched, of those the model supports; only with the radio
/// off; saved and in use at once.
fn bands(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let config = config(m)?;
    let list = |bands: &[u8]| bands.iter().map(u8::to_string).collect::<Vec<_>>();
    match c.form {
        Form::Test => {
            Ok(vec![m.line(
                "+NBAND",
                format!("({})", list(config.bands).join(",")),
            )])
        }
        Form::Read => Ok(vec![m.line(
            "+NBAND",
            list(neul::saved(&m.saved).bands(&config)).join(","),
        )]),
        _ => {
            c.params.expect_count(1..=config.bands.len())?;
            let mut chosen = Vec::new();
            for index in 0..c.params.len() {
                let band = c.params.int(index, 1..=255)? as u8;
                if !config.bands.contains(&band) || chosen.contains(&band) {
                    return Err(CommandError::Cme(ErrorKind::InvalidParameter));
                }
                chosen.push(band);
            }
            radio_off(m)?;
            save_neul(m, |s| s.bands = Some(chosen))?;
            Ok(Vec::new())
        }
    }
}

/// AT+NEARFCN=<mode>,<earfcn>[,<pci>]: searches only this EARFCN (mode 0, the only one), and
/// this cell when given (hexadecimal); only with the radio off; kept until AT+NCSEARFCN.
fn lock_earfcn(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let config = config(m)?;
    c.params.expect_count(2..=3)?;
    c.params.int(0, 0..=0)?;
    let earfcn = c.params.int(1, 0..=u64::from(config.max_earfcn))? as u32;
    let pci = if c.params.is_absent(2) {
        None
    } else {
        let text = c.params.text(2, 3)?;
        let pci = u16::from_str_radix(text, 16)
            .ok()
            .filter(|pci| *pci <= config.max_pci && !text.starts_with('+'));
        Some(pci.ok_or(CommandError::Cme(ErrorKind::InvalidParameter))?)
    };
    radio_off(m)?;
    save_neul(m, |s| s.earfcn = Some(EarfcnLock { earfcn, pci }))?;
    Ok(Vec::new())
}

/// AT+NCSEARFCN: forgets the EARFCN kept by AT+NEARFCN; only with the radio off.
fn clear_earfcn(m: &mut Module, _c: &Command<'_>) -> HandlerResult {
    radio_off(m)?;
    if neul::saved(&m.saved).earfcn.is_some() {
        save_neul(m, |s| s.earfcn = None)?;
    }
    Ok(Vec::new())
}

/// AT+NATSPEED=<baud_rate>[,<sync_mode_duration>[,<stop_bits>[,<parity>[,<xon_xoff>]]]]: an
/// omitted value keeps the one set; saved at once. The emulated UART has no line speed, so the
/// values are only kept and read back (docs/decisions.md).
fn uart_speed(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let config = config(m)?;
    let uart = config.uart;
    match c.form {
        Form::Test => {
            let rates: Vec<_> = uart.baud_rates.iter().map(u32::to_string).collect();
            let ranges = format!(
                "({}),(0-{}),(1,2),(0-2),(0,1)",
                rates.join(","),
                uart.sync_max
            );
            Ok(vec![m.line("+NATSPEED", ranges)])
        }
        Form::Read => {
            let s = neul::saved(&m.saved).uart(&config);
            let values = format!(
                "{},{},{},{},{}",
                s.baud_rate, s.sync_mode_duration, s.stop_bits, s.parity, s.xon_xoff
            );
            Ok(vec![m.line("+NATSPEED", values)])
        }
        _ => {
            c.params.expect_count(1..=5)?;
            let now = neul::saved(&m.saved).uart(&config);
            let baud_rate = c.params.int(0, 0..=u64::from(u32::MAX))? as u32;
            if !uart.baud_rates.contains(&baud_rate) {
                return Err(CommandError::Cme(ErrorKind::InvalidParameter));
            }
            let keep = |index, range, current: u64| -> Result<u64, CommandError> {
                Ok(c.params.opt_int(index, range)?.unwrap_or(current))
            };
            let next = UartSettings {
                baud_rate,
                sync_mode_duration: keep(
                    1,
                    0..=u64::from(uart.sync_max),
                    now.sync_mode_duration.into(),
                )? as u32,
                stop_bits: keep(2, 1..=2, now.stop_bits.into())? as u8,
                parity: keep(3, 0..=2, now.parity.into())? as u8,
                xon_xoff: keep(4, 0..=1, now.xon_xoff.into())? as u8,
            };
            save_neul(m, |s| s.uart = Some(next))?;
            Ok(Vec::new())
        }
    }
}

/// AT+NPOWERCLASS=<band>,<power_class>: the class of a supported band, saved at once; the read
/// lists every supported band with its class.
fn power_class(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let config = config(m)?;
    let list = |values: &[u8]| {
        values
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    match c.form {
        Form::Test => Ok(vec![m.line(
            "+NPOWERCLASS",
            format!("({}),({})", list(config.bands), list(config.power_classes)),
        )]),
        Form::Read => Ok(config
            .bands
            .iter()
            .map(|&band| {
                let class = neul::saved(&m.saved).power_class(&config, band);
                m.line("+NPOWERCLASS", format!("{band},{class}"))
            })
            .collect()),
        _ => {
            c.params.expect_count(2..=2)?;
            let band = c.params.int(0, 1..=255)? as u8;
            let class = c.params.int(1, 0..=255)? as u8;
            if !config.bands.contains(&band) || !config.power_classes.contains(&class) {
                return Err(CommandError::Cme(ErrorKind::InvalidParameter));
            }
            m.save(|nv| {
                nv.edit(|s: &mut NeulSettings| {
                    s.power_classes.insert(band, class);
                });
            })?;
            Ok(Vec::new())
        }
    }
}
