//! The basic command set every profile needs (behaviour.md §2), in 3GPP TS 27.007 and Quectel
//! formats.

use super::{general, spec, CommandError, HandlerResult};
use crate::commands::Handler;
use crate::errors::ErrorKind;
use crate::module::{Module, Timer};
use crate::radio::SleepSetting;
use nbmodem_at::{Command, CommandSpec, Form, Forms, ResultFormat};

pub(super) static COMMON: &[CommandSpec<Handler>] = &[
    spec("", Forms::EXECUTE, attention),
    spec("E", Forms::EXECUTE.with(Forms::SET), echo),
    spec("I", Forms::EXECUTE.with(Forms::SET), identification),
    spec("+CGMR", Forms::TEST_EXECUTE, revision),
    spec("+CGSN", Forms::TEST_SET.with(Forms::EXECUTE), serial_number),
    spec("+CIMI", Forms::TEST_EXECUTE, imsi),
    spec("+CFUN", Forms::TEST_READ_SET, functionality),
    spec("+CPIN", Forms::TEST.with(Forms::READ), pin),
    spec("+CEREG", Forms::TEST_READ_SET, eps_registration),
    spec("+CGATT", Forms::TEST_READ_SET, attach),
    spec("+CGPADDR", Forms::ALL, pdp_address),
    spec("+CSQ", Forms::TEST_EXECUTE, signal_quality),
    spec("+CSCON", Forms::TEST_READ_SET, signalling_connection),
    spec("+CMEE", Forms::TEST_READ_SET, error_reporting),
];

/// Sleep and reset of the Quectel SoC models. The Neul models' R2.0 manual lists neither: their
/// reboot is AT+NRB and their sleep the PSM of AT+CPSMS (docs/decisions.md).
pub(super) static QUECTEL_SLEEP_RESET: &[CommandSpec<Handler>] = &[
    spec("+QSCLK", Forms::TEST_READ_SET, sleep_mode),
    spec("+QRST", Forms::TEST_SET, reset),
];

pub(super) static QUECTEL_ICCID: &[CommandSpec<Handler>] =
    &[spec("+QCCID", Forms::TEST_EXECUTE, iccid)];
pub(super) static NEUL_ICCID: &[CommandSpec<Handler>] =
    &[spec("+NCCID", Forms::TEST_EXECUTE, iccid)];

/// `AT`
fn attention(_: &mut Module, _: &Command<'_>) -> HandlerResult {
    Ok(vec![])
}

/// `ATE0`, `ATE1`; a bare `ATE` is `ATE0`.
fn echo(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    m.ram.echo = optional_flag(c)?;
    Ok(vec![])
}

/// `ATI`: manufacturer, product and revision.
fn identification(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Set {
        c.params.int(0, 0..=0)?;
    }
    let id = m.profile.identification;
    Ok(vec![
        id.manufacturer.into(),
        id.product.into(),
        revision_line(m),
    ])
}

/// `AT+CGMR`
fn revision(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    Ok(match c.form {
        Form::Test => vec![],
        _ => vec![revision_line(m)],
    })
}

fn revision_line(m: &Module) -> String {
    format!(
        "{}{}",
        m.profile.identification.revision_prefix,
        m.firmware()
    )
}

/// `AT+CGSN[=<snt>]`: 0 (or none) the serial number, 1 the IMEI, 2 the IMEISV, 3 the SVN.
fn serial_number(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let imei = m.imei().to_string();
    let svn = "01";
    Ok(match c.form {
        Form::Test => vec![m.line("+CGSN", "(0-3)")],
        Form::Execute => vec![imei],
        _ => {
            c.params.expect_count(1..=1)?;
            match c.params.int(0, 0..=3)? {
                0 => vec![imei],
                1 => vec![m.line("+CGSN", imei)],
                2 => vec![m.line("+CGSN", format!("{}{svn}", &imei[..14]))],
                _ => vec![m.line("+CGSN", svn)],
            }
        }
    })
}

/// `AT+CIMI`
fn imsi(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    Ok(match c.form {
        Form::Test => vec![],
        _ => vec![m.sim().imsi().to_string()],
    })
}

/// `AT+QCCID` / `AT+NCCID`
fn iccid(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    Ok(match c.form {
        Form::Test => vec![],
        _ => vec![m.line(&c.name.to_ascii_uppercase(), m.sim().iccid())],
    })
}

/// `AT+CFUN=<fun>[,<rst>]`: 0 minimum, 1 full functionality; `<rst>`=1 reboots first.
fn functionality(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => Ok(vec![m.line("+CFUN", "(0,1),(0,1)")]),
        Form::Read => Ok(vec![m.line("+CFUN", u8::from(m.ram.radio.functional))]),
        _ => {
            c.params.expect_count(1..=2)?;
            let functional = c.params.int(0, 0..=1)? == 1;
            if c.params.opt_int(1, 0..=1)? == Some(1) {
                m.timers.set(Timer::Restart, m.now);
                return Ok(vec![]);
            }
            m.ram.radio.functional = functional;
            // With AUTOCONNECT=FALSE (Neul family) the radio comes on, and AT+CGATT=1 attaches.
            if !functional {
                m.detach();
            } else if m.autoconnect() {
                m.start_search();
            }
            Ok(vec![])
        }
    }
}

/// `AT+CPIN?`: the SIM needs no PIN.
fn pin(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    Ok(match c.form {
        Form::Test => vec![],
        _ => vec![m.line("+CPIN", "READY")],
    })
}

/// `AT+CEREG=<n>`: 0 no URC, 1 `+CEREG: <stat>`, 2–5 with location.
fn eps_registration(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => Ok(vec![m.line("+CEREG", "(0-5)")]),
        Form::Read => Ok(vec![m.line("+CEREG", m.cereg_fields(true))]),
        _ => {
            c.params.expect_count(1..=1)?;
            m.ram.cereg_mode = c.params.int(0, 0..=5)? as u8;
            Ok(vec![])
        }
    }
}

/// `AT+CGATT=<state>`
fn attach(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => Ok(vec![m.line("+CGATT", "(0,1)")]),
        Form::Read => Ok(vec![m.line("+CGATT", u8::from(m.ram.radio.registered()))]),
        _ => {
            c.params.expect_count(1..=1)?;
            if c.params.int(0, 0..=1)? == 0 {
                m.detach();
            } else if m.ram.radio.functional {
                m.start_search();
            } else {
                return Err(CommandError::Cme(ErrorKind::OperationNotAllowed));
            }
            Ok(vec![])
        }
    }
}

/// `AT+CGPADDR[=<cid>]`, also read as `AT+CGPADDR?` (seed 002): the address of each active
/// context, or of the one asked for, in the model's spelling (quoted on the BC260Y-CN, bare on the
/// BC26 and the Neul firmware).
fn pdp_address(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let defined = general::defined_cids(m);
    if c.form == Form::Test {
        let cids: Vec<String> = defined.iter().map(u8::to_string).collect();
        return Ok(vec![m.line("+CGPADDR", format!("({})", cids.join(",")))]);
    }
    let mut wanted = defined;
    if c.form == Form::Set {
        c.params.expect_count(1..=1)?;
        let max = u64::from(m.profile.general.max_cid);
        let cid = c.params.int(0, 0..=max)? as u8;
        wanted.retain(|&defined| defined == cid);
    }
    Ok(wanted
        .into_iter()
        .filter_map(|cid| general::context_address(m, cid).map(|ip| (cid, ip)))
        .map(|(cid, ip)| general::address_line(m, cid, ip))
        .collect())
}

/// `AT+CSQ`: `<rssi>,<ber>`; 99,99 when the radio is off.
fn signal_quality(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        return Ok(vec![m.line("+CSQ", "(0-31,99),(0-7,99)")]);
    }
    let rssi = if m.ram.radio.functional && m.network.coverage {
        m.network.condition.csq()
    } else {
        99
    };
    Ok(vec![m.line("+CSQ", format!("{rssi},99"))])
}

/// `AT+CSCON=<n>`: 1 enables the `+CSCON` URC.
fn signalling_connection(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => Ok(vec![m.line("+CSCON", "(0,1)")]),
        Form::Read => {
            let state = u8::from(m.ram.radio.rrc_connected());
            Ok(vec![
                m.line("+CSCON", format!("{},{state}", m.ram.cscon_mode))
            ])
        }
        _ => {
            c.params.expect_count(1..=1)?;
            m.ram.cscon_mode = c.params.int(0, 0..=1)? as u8;
            Ok(vec![])
        }
    }
}

/// `AT+QSCLK=<n>`: 0 no sleep, 1 light and deep sleep, 2 light sleep only. Saved to NVRAM and in
/// use at once.
fn sleep_mode(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => Ok(vec![m.line("+QSCLK", "(0-2)")]),
        Form::Read => {
            // Only a model without AT+QSCLK has no mode, and its table has no AT+QSCLK.
            let mode = m.sleep_mode().ok_or(CommandError::Syntax)?;
            Ok(vec![m.line("+QSCLK", mode)])
        }
        _ => {
            c.params.expect_count(1..=1)?;
            let setting = SleepSetting {
                mode: c.params.int(0, 0..=2)? as u8,
            };
            m.save(|nv| nv.set_section(&setting))?;
            m.use_sleep_setting(&setting);
            Ok(vec![])
        }
    }
}

/// `AT+CMEE=<n>`
fn error_reporting(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => Ok(vec![m.line("+CMEE", "(0-2)")]),
        Form::Read => Ok(vec![m.line("+CMEE", m.ram.results.cmee())]),
        _ => {
            c.params.expect_count(1..=1)?;
            let n = c.params.int(0, 0..=2)?;
            m.ram.results =
                ResultFormat::from_cmee(n).ok_or(CommandError::Cme(ErrorKind::InvalidParameter))?;
            Ok(vec![])
        }
    }
}

/// `AT+QRST=1`: answers OK, then reboots.
fn reset(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        return Ok(vec![m.line("+QRST", "(1)")]);
    }
    c.params.expect_count(1..=1)?;
    c.params.int(0, 1..=1)?;
    m.timers.set(Timer::Restart, m.now);
    Ok(vec![])
}

/// A `0`/`1` parameter that defaults to 0 when absent, as in `ATE`.
fn optional_flag(c: &Command<'_>) -> Result<bool, CommandError> {
    c.params.expect_count(0..=1)?;
    Ok(c.params.opt_int(0, 0..=1)? == Some(1))
}
