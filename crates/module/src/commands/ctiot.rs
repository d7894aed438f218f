//! The China Telecom IoT platform commands of seed 002 chapter 2 (BC260Y-CN R02 and later):
//! AT+NCDPOPEN, AT+NCDPCLOSE, AT+NMGS, AT+NMGR, AT+NNMI, AT+NCFG, AT+NMSTATUS,
//! AT+QLWULDATASTATUS and AT+NQMGR, on the [`CtIot`] service. Their errors are the CTIOT codes of
//! the seed's chapter 6: a wrong number of parameters is 2, a bad value 3 (and so on, see
//! `docs/decisions.md`).

use super::{gated, spec, CommandError, HandlerResult};
use crate::commands::Handler;
use crate::errors::ErrorKind;
use crate::module::Module;
use crate::profile::{CtIotConfig, Feature};
use crate::radio::Rai;
use crate::routing::NetError;
use crate::service::Service;
use crate::services::ctiot::{CtIot, LinkError, LinkSettings, Uplink};
use nbmodem_at::{Command, CommandSpec, Form, Forms, Param, ParamError};
use nbmodem_operators::ctiot::{decode_hex, hex};

/// Every command of the link; none exists on firmware without it (seed 002 note 2: R01).
pub(super) static CTIOT: &[CommandSpec<Handler>] = &[
    gated(Feature::CtIot, spec("+NCDPOPEN", Forms::TEST_SET, open)),
    gated(Feature::CtIot, spec("+NCDPCLOSE", Forms::EXECUTE, close)),
    gated(Feature::CtIot, spec("+NMGS", Forms::SET, send)),
    gated(Feature::CtIot, spec("+NMGR", Forms::EXECUTE, read_downlink)),
    gated(
        Feature::CtIot,
        spec("+NNMI", Forms::READ.with(Forms::SET), nnmi),
    ),
    gated(Feature::CtIot, spec("+NCFG", Forms::TEST_SET, lifetime)),
    gated(Feature::CtIot, spec("+NMSTATUS", Forms::READ, status)),
    gated(
        Feature::CtIot,
        spec("+QLWULDATASTATUS", Forms::READ, con_status),
    ),
    gated(
        Feature::CtIot,
        spec("+NQMGR", Forms::EXECUTE, downlink_counts),
    ),
];

/// The link's refusals as the seed's chapter 6 numbers them.
impl From<LinkError> for CommandError {
    fn from(error: LinkError) -> Self {
        CommandError::Cme(match error {
            LinkError::Registering => ErrorKind::CtiotLoggingIn,
            LinkError::NotPermitted => ErrorKind::CtiotNotPermitted,
            LinkError::NotRegistered => ErrorKind::CtiotNotLoggedIn,
            LinkError::NoSession => ErrorKind::CtiotNoSession,
            LinkError::ClosingWhileRegistering => return CommandError::Syntax,
            LinkError::UplinkBusy => ErrorKind::UplinkBusy,
            LinkError::NoPlatform => ErrorKind::CtiotNotInitialized,
            LinkError::TemporarilyUnavailable => ErrorKind::CtiotTemporarilyUnavailable,
        })
    }
}

pub(super) fn value_error() -> CommandError {
    CommandError::Cme(ErrorKind::CtiotParameterValue)
}

/// A parameter error as the CTIOT codes number it: a wrong count is 2, anything else 3.
pub(super) fn param(error: ParamError) -> CommandError {
    match error {
        ParamError::Count(_) => CommandError::Cme(ErrorKind::CtiotParameterCount),
        _ => value_error(),
    }
}

pub(super) fn expect_count(
    c: &Command<'_>,
    range: std::ops::RangeInclusive<usize>,
) -> Result<(), CommandError> {
    c.params.expect_count(range).map_err(param)
}

/// The link's service (it runs from boot on firmware with the link).
pub(super) fn link(m: &mut Module) -> Result<&mut CtIot, CommandError> {
    m.services
        .get_mut::<CtIot>()
        .ok_or(CommandError::Cme(ErrorKind::CtiotEngineException))
}

pub(super) fn config(m: &Module) -> Result<CtIotConfig, CommandError> {
    m.profile
        .ctiot
        .ok_or(CommandError::Cme(ErrorKind::CtiotEngineException))
}

/// Runs `f` on the link's service with the environment services see, so that what it does
/// (URCs, notices) is applied as any service's effects are.
pub(super) fn on_link(
    m: &mut Module,
    f: impl FnOnce(&mut CtIot, &mut crate::service::Env) -> Result<(), LinkError>,
) -> HandlerResult {
    link(m)?;
    let mut result = Ok(());
    m.run_services(|services, env| {
        if let Some(ctiot) = services.get_mut::<CtIot>() {
            let name = ctiot.name();
            result = f(ctiot, env.of(name));
        }
    });
    result.map(|()| Vec::new()).map_err(CommandError::from)
}

/// AT+NCDPOPEN=<ip_addr>[,<port>[,<psk>]] (seed §2.3.1).
fn open(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        return Ok(Vec::new());
    }
    let config = config(m)?;
    expect_count(c, 1..=3)?;
    let host = c.params.text(0, 255).map_err(param)?;
    if host.is_empty() {
        return Err(value_error());
    }
    let port = match c.params.opt_int(1, 0..=65535).map_err(param)? {
        None | Some(0) => config.default_port,
        Some(port) => port as u16,
    };
    let psk = if c.params.is_absent(2) {
        None
    } else {
        Some(psk(c, &config)?)
    };
    if !m.ram.radio.registered() {
        return Err(CommandError::Cme(ErrorKind::CtiotTemporarilyUnavailable));
    }
    let server = m
        .router()
        .resolve_to_address(host, port)
        .map_err(|e| match e {
            NetError::NoSuchHost(_) => value_error(),
            _ => CommandError::Cme(ErrorKind::CtiotTemporarilyUnavailable),
        })?;
    let now = m.now;
    let platform = nbmodem_operators::ctiot::platform_name(host);
    on_link(m, |ctiot, env| ctiot.open(now, server, psk, platform, env))
}

/// The `<psk>` of AT+NCDPOPEN: hexadecimal, of at most the profile's length in bytes.
fn psk(c: &Command<'_>, config: &CtIotConfig) -> Result<Vec<u8>, CommandError> {
    let text = c.params.text(2, 2 * config.max_psk);
    let bytes = text.ok().and_then(decode_hex).filter(|b| !b.is_empty());
    bytes.ok_or(CommandError::Cme(ErrorKind::CtiotPsk))
}

/// AT+NCDPCLOSE (seed §2.3.2).
fn close(m: &mut Module, _c: &Command<'_>) -> HandlerResult {
    let now = m.now;
    on_link(m, |ctiot, env| ctiot.close(now, env))
}

/// AT+NMGS=<length>,<data>[,<type>] (seed §2.3.3).
fn send(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let config = config(m)?;
    expect_count(c, 2..=3)?;
    let data = uplink_data(c, &config)?;
    // <type>: 0, 1, 2 (NON) or 100, 101, 102 (CON), the last digit the RAI.
    let kind = c.params.opt_int(2, 0..=102).map_err(param)?.unwrap_or(0);
    if !matches!(kind, 0..=2 | 100..=102) {
        return Err(value_error());
    }
    let confirmable = kind >= 100;
    let rai = Rai::from_value((kind % 100) as u8).ok_or_else(value_error)?;
    let now = m.now;
    let uplink = Uplink {
        data,
        confirmable,
        rai,
    };
    on_link(m, |ctiot, env| ctiot.send(now, uplink, env))
}

/// The `<length>,<data>` of an uplink command: 1 to the profile's most bytes, in hexadecimal
/// digits that match the length.
pub(super) fn uplink_data(c: &Command<'_>, config: &CtIotConfig) -> Result<Vec<u8>, CommandError> {
    let length = c.params.int(0, 0..=u64::MAX).map_err(param)?;
    if length == 0 {
        return Err(value_error());
    }
    if length > config.max_uplink as u64 {
        return Err(CommandError::Cme(ErrorKind::CtiotDataTooLong));
    }
    let text = match c.params.get(1) {
        Some(Param::Bare(text) | Param::Quoted(text)) => *text,
        _ => return Err(value_error()),
    };
    if !text.len().is_multiple_of(2) {
        return Err(CommandError::Cme(ErrorKind::CtiotDataOdd));
    }
    let data = decode_hex(text).ok_or_else(value_error)?;
    if data.len() as u64 != length {
        return Err(value_error());
    }
    Ok(data)
}

/// AT+NMGR: the oldest buffered downlink, or a bare OK when there is none (seed §2.3.4).
pub(super) fn read_downlink(m: &mut Module, _c: &Command<'_>) -> HandlerResult {
    let prefix = config(m)?.downlink_prefix;
    let Some(data) = link(m)?.take_downlink() else {
        return Ok(Vec::new());
    };
    let values = format!("{},{}", data.len(), hex(&data));
    Ok(vec![if prefix {
        m.line("+NMGR", values)
    } else {
        values
    }])
}

/// AT+NNMI? and AT+NNMI=<status> (seed §2.3.5): not saved, kept through deep sleep.
pub(super) fn nnmi(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Read {
        let mode = link(m)?.nnmi();
        return Ok(vec![m.line("+NNMI", mode)]);
    }
    expect_count(c, 1..=1)?;
    let mode = c.params.int(0, 0..=2).map_err(param)?;
    link(m)?.set_nnmi(mode as u8);
    Ok(Vec::new())
}

/// AT+NCFG=<mode>[,<value>] (seed §2.3.6): the lifetime, saved at once and in use from the next
/// boot; 1 to 900 s become 900 s. The read (mode only) shows the saved value.
fn lifetime(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let config = config(m)?;
    if c.form == Form::Test {
        return Ok(vec![format!("+NCFG: 0,(0-{})", config.lifetime_max)]);
    }
    expect_count(c, 1..=2)?;
    c.params.int(0, 0..=0).map_err(param)?;
    if c.params.len() == 1 {
        let saved = m.saved.section::<LinkSettings>().unwrap_or_default();
        return Ok(vec![format!("+NCFG: {}", saved.lifetime)]);
    }
    let value = c
        .params
        .int(1, 0..=u64::from(config.lifetime_max))
        .map_err(param)? as u32;
    let value = match value {
        0 => 0,
        v => v.max(config.lifetime_floor),
    };
    m.save(|nv| nv.set_section(&LinkSettings { lifetime: value }))?;
    Ok(Vec::new())
}

/// AT+NMSTATUS? (seed §2.3.7).
pub(super) fn status(m: &mut Module, _c: &Command<'_>) -> HandlerResult {
    let status = link(m)?.status_text();
    Ok(vec![m.line("+NMSTATUS", status)])
}

/// AT+QLWULDATASTATUS? (seed §2.3.8).
pub(super) fn con_status(m: &mut Module, _c: &Command<'_>) -> HandlerResult {
    let status = link(m)?.con_status();
    Ok(vec![m.line("+QLWULDATASTATUS", status)])
}

/// AT+NQMGR (seed §2.3.9).
pub(super) fn downlink_counts(m: &mut Module, _c: &Command<'_>) -> HandlerResult {
    let counts = link(m)?.downlink_counts();
    Ok(vec![format!(
        "BUFFERED={},RECEIVED={},DROPPED={}",
        counts.buffered, counts.received, counts.dropped
    )])
}
