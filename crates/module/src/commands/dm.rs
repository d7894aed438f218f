//! China Mobile DM configuration: AT+QDMPCFG (BC25, BC32, BC260Y-CN, BC26, BC20) and AT+DMPCONFIG
//! (BC35-G, BC28, BC95), one handler driven by the profile's [`DmConfig`], and AT+QDMPCFGEX.
//!
//! Set commands write the saved settings at once; the read command shows the settings in use
//! (loaded at boot), type 4 the saved ones (behaviour.md §3, §4.5–4.7). Erasing returns a saved item
//! to its factory default; the factory credentials are the profile's app key and password. An
//! omitted optional parameter is refused, keeps its previous value or takes its default, as the
//! profile's seed says ([`Omitted`]).

use super::{bracketed, gated, plain, spec, CommandError, HandlerResult};
use crate::commands::Handler;
use crate::errors::ErrorKind;
use crate::module::Module;
use crate::profile::{DmConfig, Feature, Omitted};
use crate::services::cmdmp::{self, Cmdmp, DmCredentials, DmServerSetting, DmSettings};
use nbmodem_at::{Command, CommandSpec, Form, Forms};
use nbmodem_operators::dm::{DEFAULT_PORT, DEVICE_INFO};

const FORMS: Forms = Forms::TEST_READ_SET;

/// BC25 family: errors as AT+CMEE says.
pub(super) static CME: &[CommandSpec<Handler>] = &[
    spec("+QDMPCFG", FORMS, dm_config),
    bracketed(EX_SYNTAX, spec("+QDMPCFGEX", Forms::TEST_SET, dm_config_ex)),
];

/// BC260Y-CN, BC26, BC20: the seeds answer every error with a plain ERROR.
pub(super) static PLAIN: &[CommandSpec<Handler>] = &[
    plain("+QDMPCFG", FORMS, dm_config),
    bracketed(
        EX_SYNTAX,
        plain("+QDMPCFGEX", Forms::TEST_SET, dm_config_ex),
    ),
];

/// Only the firmware revisions with a CMDMP client have AT+DMPCONFIG (seed 004 §1: `_ONT`).
pub(super) static DMPCONFIG: &[CommandSpec<Handler>] =
    &[gated(Feature::Cmdmp, spec("+DMPCONFIG", FORMS, dm_config))];

const MAX_APP_KEY: usize = 64;
const MAX_PASSWORD: usize = 64;

/// The DM settings saved.
fn saved_dm(m: &Module) -> DmSettings {
    m.saved.section().unwrap_or_default()
}

/// Changes the DM settings saved.
fn save_dm(m: &mut Module, change: impl FnOnce(&mut DmSettings)) -> Result<(), CommandError> {
    m.save(|nv| nv.edit(change))
}

fn invalid() -> CommandError {
    CommandError::Cme(ErrorKind::InvalidParameter)
}

fn dm_config(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let dm = m.profile.dm;
    match c.form {
        Form::Test => Ok(vec![format!("{}: {}", dm.command, dm.test_syntax)]),
        Form::Read => {
            let settings = &m.in_use.section::<DmSettings>().unwrap_or_default();
            let lines = [
                mode_line(settings),
                server_line(&dm, settings),
                credentials_line(&settings.credentials(&dm, &m.in_use.imei)),
            ];
            Ok(lines
                .into_iter()
                .map(|l| format!("{}: {l}", dm.command))
                .collect())
        }
        _ => set(m, &dm, c),
    }
}

fn set(m: &mut Module, dm: &DmConfig, c: &Command<'_>) -> HandlerResult {
    let kind = c.params.int(0, 0..=6)?;
    match kind {
        0 => {
            c.params.expect_count(2..=2)?;
            let on = c.params.int(1, 0..=1)? == 1;
            save_dm(m, |dm| dm.mode = Some(on))?;
            Ok(vec![])
        }
        1 => {
            let server = parse_server(dm, c, &omitted_server(m, dm))?;
            save_dm(m, |dm| dm.server = Some(server))?;
            Ok(vec![])
        }
        2 => {
            let credentials = parse_credentials(dm, c, &omitted_credentials(m, dm))?;
            save_dm(m, |dm| dm.credentials = Some(credentials))?;
            Ok(vec![])
        }
        3 if dm.plmn_list => {
            let plmns = parse_plmns(c)?;
            save_dm(m, |dm| dm.plmns = plmns)?;
            Ok(vec![])
        }
        4 => query_saved(m, dm, c),
        5 => {
            c.params.expect_count(2..=2)?;
            let item = c.params.int(1, 0..=4)?;
            if item == 3 && !dm.plmn_list {
                return Err(invalid());
            }
            save_dm(m, |dm| erase(dm, item))?;
            Ok(vec![])
        }
        6 => {
            c.params.expect_count(1..=1)?;
            let state = m
                .services
                .get::<Cmdmp>()
                .map_or(cmdmp::state::INITIAL, Cmdmp::state);
            Ok(vec![answer(dm, &format!("6,{state}"))])
        }
        _ => Err(invalid()),
    }
}

/// Type 4: one saved item.
fn query_saved(m: &Module, dm: &DmConfig, c: &Command<'_>) -> HandlerResult {
    c.params.expect_count(2..=2)?;
    let saved = &saved_dm(m);
    let line = match c.params.int(1, 0..=3)? {
        0 => Some(mode_line(saved)),
        1 => Some(server_line(dm, saved)),
        2 => Some(credentials_line(&saved.credentials(dm, &m.saved.imei))),
        3 if dm.plmn_list => Some(
            std::iter::once("3".to_string())
                .chain(saved.plmns.iter().cloned())
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => return Err(invalid()),
    };
    Ok(line.map(|l| answer(dm, &l)).into_iter().collect())
}

/// A type 4 or type 6 answer: `+QDMPCFG: …`, or bare on AT+DMPCONFIG (seed 004).
fn answer(dm: &DmConfig, text: &str) -> String {
    if dm.bare_answers {
        text.to_string()
    } else {
        format!("{}: {text}", dm.command)
    }
}

fn mode_line(settings: &DmSettings) -> String {
    format!("0,{}", u8::from(settings.enabled()))
}

/// `1,<server>,<port>,<period>`; a server or port left empty prints as a space (`1, , ,300`).
fn server_line(dm: &DmConfig, settings: &DmSettings) -> String {
    match &settings.server {
        None => format!(
            "1,{},{DEFAULT_PORT},{}",
            dm.default_server, dm.default_period
        ),
        Some(s) => {
            let host = if s.host.is_empty() {
                " ".to_string()
            } else {
                s.host.clone()
            };
            let port = s.port.map_or(" ".to_string(), |p| p.to_string());
            format!("1,{host},{port},{}", s.period)
        }
    }
}

/// `2,<app key>,<first four characters of the password>****,<type>,<IMEI>`.
fn credentials_line(c: &DmCredentials) -> String {
    let shown: String = c.password.chars().take(4).collect();
    format!(
        "2,{},{shown}****,{},{}",
        c.app_key, c.terminal_type, c.terminal_imei
    )
}

/// What the parameters of type 1 that the host leaves out become, under the profile's rule.
fn omitted_server(m: &Module, dm: &DmConfig) -> DmServerSetting {
    let saved = saved_dm(m).server.clone();
    let default = DmServerSetting {
        host: dm.default_server.into(),
        port: Some(DEFAULT_PORT),
        period: dm.default_period,
    };
    match (dm.omitted, saved) {
        (Omitted::KeepsPrevious, Some(saved)) => DmServerSetting {
            port: saved.port.or(default.port),
            ..saved
        },
        _ => default,
    }
}

/// The same for type 2: the saved credentials, or the factory's.
fn omitted_credentials(m: &Module, dm: &DmConfig) -> DmCredentials {
    let factory = DmCredentials::factory(dm, &m.saved.imei);
    match dm.omitted {
        Omitted::KeepsPrevious => saved_dm(m).credentials.clone().unwrap_or(factory),
        _ => factory,
    }
}

/// How many parameters a set command of `total` parameters needs: all of them unless the seed
/// lets trailing ones be left out (the type and the first value are always needed).
fn needed(dm: &DmConfig, total: usize) -> std::ops::RangeInclusive<usize> {
    match dm.omitted {
        Omitted::Refused => total..=total,
        Omitted::KeepsPrevious | Omitted::TakesDefault => 2.min(total)..=total,
    }
}

fn parse_server(
    dm: &DmConfig,
    c: &Command<'_>,
    omitted: &DmServerSetting,
) -> Result<DmServerSetting, CommandError> {
    c.params.expect_count(needed(dm, 4))?;
    let period = match c.params.is_absent(3) {
        true if dm.omitted != Omitted::Refused => omitted.period,
        _ => c.params.int(3, 300..=4_294_966)? as u32,
    };
    // An empty host or port is saved empty (read back as a space) and means the default when DM
    // connects.
    let host = match c.params.is_absent(1) {
        true if dm.server_and_port_optional => String::new(),
        _ => parse_host(c)?,
    };
    let (low, high) = dm.port_range;
    let port = match c.params.is_absent(2) {
        true if dm.server_and_port_optional => None,
        true if dm.omitted != Omitted::Refused => omitted.port,
        _ => Some(c.params.int(2, u64::from(low)..=u64::from(high))? as u16),
    };
    Ok(DmServerSetting { host, port, period })
}

/// A server given as an IP address or a domain name.
fn parse_host(c: &Command<'_>) -> Result<String, CommandError> {
    let host = c.params.text(1, 253)?;
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b));
    valid.then(|| host.to_string()).ok_or_else(invalid)
}

fn parse_credentials(
    dm: &DmConfig,
    c: &Command<'_>,
    omitted: &DmCredentials,
) -> Result<DmCredentials, CommandError> {
    c.params.expect_count(needed(dm, 5))?;
    let given = |i: usize| dm.omitted == Omitted::Refused || !c.params.is_absent(i);
    let app_key = c.params.quoted(1, MAX_APP_KEY)?.to_string();
    let password = match given(2) {
        true => c.params.quoted(2, MAX_PASSWORD)?.to_string(),
        false => omitted.password.clone(),
    };
    let terminal_type = match given(3) {
        true => c.params.int(3, 0..=2)? as u8,
        false => omitted.terminal_type,
    };
    let terminal_imei = match given(4) {
        true => c.params.text(4, 17)?.to_string(),
        false => omitted.terminal_imei.clone(),
    };
    if app_key.is_empty() || password.is_empty() || terminal_imei.len() < 15 {
        return Err(invalid());
    }
    Ok(DmCredentials {
        app_key,
        password,
        terminal_type,
        terminal_imei,
    })
}

/// Type 3: one to three PLMNs, each five or six digits.
fn parse_plmns(c: &Command<'_>) -> Result<Vec<String>, CommandError> {
    c.params.expect_count(2..=4)?;
    (1..c.params.len())
        .map(|i| {
            let plmn = c.params.text(i, 6)?;
            let valid = plmn.len() >= 5 && plmn.bytes().all(|b| b.is_ascii_digit());
            valid.then(|| plmn.to_string()).ok_or_else(invalid)
        })
        .collect()
}

/// Erase option 0 mode, 1 server, 2 credentials, 3 PLMNs, 4 all. AT+QDMPCFGEX values are not
/// erased by AT+QDMPCFG.
fn erase(dm: &mut DmSettings, item: u64) {
    match item {
        0 => dm.mode = None,
        1 => dm.server = None,
        2 => dm.credentials = None,
        3 => dm.plmns.clear(),
        _ => (0..=3).for_each(|each| erase(dm, each)),
    }
}

/// `NULL`: a value never set or erased.
const NULL: &str = "NULL";

/// AT+QDMPCFGEX's parameters as seeds 001 §3.2.3 and 003 §2.3 bracket them: the last two
/// values of a type are given together or not at all.
const EX_SYNTAX: &str = "<type>,<act>[,<parameter1>[,<parameter2>[,<parameter3>,<parameter4>]]]";

fn dm_config_ex(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        return Ok(vec![format!("+QDMPCFGEX: {EX_SYNTAX}")]);
    }
    let dm = m.profile.dm;
    let kind = c.params.int(0, 0..=5)? as u8;
    let limits = DEVICE_INFO[usize::from(kind)];
    match c.params.int(1, 0..=2)? {
        0 => {
            let range = needed(&dm, 1 + limits.len());
            c.params.expect_count(range.start() + 1..=range.end() + 1)?;
            let previous = match dm.omitted {
                Omitted::KeepsPrevious => saved_dm(m).info.get(&kind).cloned(),
                _ => None,
            };
            let values = limits
                .iter()
                .enumerate()
                .map(|(i, (_, max))| match c.params.is_absent(2 + i) {
                    true if dm.omitted != Omitted::Refused => Ok(previous
                        .as_ref()
                        .and_then(|p| p.get(i).cloned())
                        .unwrap_or_else(|| NULL.into())),
                    _ => c.params.quoted(2 + i, *max).map(String::from),
                })
                .collect::<Result<Vec<_>, _>>()?;
            save_dm(m, |dm| {
                dm.info.insert(kind, values);
            })?;
            Ok(vec![])
        }
        1 => {
            c.params.expect_count(2..=2)?;
            let values = saved_dm(m)
                .info
                .get(&kind)
                .cloned()
                .unwrap_or_else(|| vec![NULL.into(); limits.len()]);
            Ok(vec![format!("+QDMPCFGEX: {kind},{}", values.join(","))])
        }
        _ => {
            c.params.expect_count(2..=2)?;
            save_dm(m, |dm| {
                dm.info.remove(&kind);
            })?;
            Ok(vec![])
        }
    }
}
