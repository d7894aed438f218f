//! The Neul family's commands for the China Telecom IoT platform (BC35-G&BC28&BC95 R2.0 AT
//! Commands Manual, the "Huawei IoT platform" commands): AT+NCDP, AT+QREGSWT, AT+NMGS,
//! AT+QLWULDATAEX, AT+NSMI, AT+NQMGS, and the reads they share with the BC260Y-CN's link
//! (AT+NMGR, AT+NNMI, AT+NQMGR, AT+NMSTATUS, AT+QLWULDATASTATUS), all on the one link service
//! [`CtIot`].
//!
//! The differences from the BC260Y-CN are the profile's [`crate::profile::CtIotConfig`]: no
//! AT+NCDPOPEN, the platform is saved with AT+NCDP and registered with at the first attach
//! (AT+QREGSWT=1) or at the first uplink; uplinks of at most 512 bytes; answers without a space
//! and AT+NMGR without its name; `+NSMI` and `+QLWULDATASTATUS` URCs instead of `+QLWEVTIND`.
//! Errors are the manual's: 50 for a bad parameter, 512 when no platform is configured, 513
//! while not registered (see `NEUL_ERRORS`).

use super::ctiot::{
    con_status, config, downlink_counts, expect_count, link, nnmi, on_link, param, read_downlink,
    status, uplink_data, value_error,
};
use super::neul::save_neul;
use super::{spec, CommandError, HandlerResult};
use crate::commands::Handler;
use crate::errors::ErrorKind;
use crate::module::Module;
use crate::neul::{self, registration, CdpServer, MAX_CDP_HOST};
use crate::radio::Rai;
use crate::services::ctiot::Uplink;
use nbmodem_at::{Command, CommandSpec, Form, Forms};

pub(super) static NEUL_CTIOT: &[CommandSpec<Handler>] = &[
    spec("+NCDP", Forms::TEST_READ_SET, platform),
    spec("+QREGSWT", Forms::TEST_READ_SET, registration_mode),
    spec("+NMGS", Forms::SET, send),
    spec("+QLWULDATAEX", Forms::SET, send_ex),
    spec("+NMGR", Forms::EXECUTE, read_downlink),
    spec("+NNMI", Forms::TEST_READ_SET, indications),
    spec("+NSMI", Forms::TEST_READ_SET, sent_indications),
    spec("+NQMGR", Forms::EXECUTE, downlink_counts),
    spec("+NQMGS", Forms::EXECUTE, uplink_counts),
    spec("+NMSTATUS", Forms::READ, status),
    spec("+QLWULDATASTATUS", Forms::READ, con_status),
];

/// The port of AT+NCDP when none (or 0) is given.
const DEFAULT_PORT: u16 = 5683;

/// AT+NCDP=<ip_addr>[,<port>]: saved at once, used by the next registration; the read shows
/// the saved platform (nothing before one is set).
fn platform(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => Ok(Vec::new()),
        Form::Read => Ok(neul::saved(&m.saved)
            .cdp
            .as_ref()
            .map(|cdp| m.line("+NCDP", format!("{},{}", cdp.host, cdp.port)))
            .into_iter()
            .collect()),
        _ => {
            expect_count(c, 1..=2)?;
            let host = c.params.text(0, MAX_CDP_HOST).map_err(param)?;
            if host.is_empty() || host.contains(char::is_whitespace) {
                return Err(value_error());
            }
            let port = match c.params.opt_int(1, 0..=65535).map_err(param)? {
                None | Some(0) => DEFAULT_PORT,
                Some(port) => port as u16,
            };
            let cdp = CdpServer {
                host: host.into(),
                port,
            };
            save_neul(m, |s| s.cdp = Some(cdp.clone()))?;
            link(m)?.set_cdp(cdp);
            Ok(Vec::new())
        }
    }
}

/// AT+QREGSWT=<type>: 0 registers only at the first uplink, 1 also at the first attach after
/// boot, 2 never (uplinks refused); saved at once, in use from the next boot.
fn registration_mode(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let neul = super::neul::config(m)?;
    match c.form {
        Form::Test => Ok(vec![m.line("+QREGSWT", "(0,1,2)")]),
        Form::Read => {
            Ok(vec![m.line(
                "+QREGSWT",
                neul::saved(&m.saved).registration_mode(&neul),
            )])
        }
        _ => {
            expect_count(c, 1..=1)?;
            let mode = c
                .params
                .int(0, 0..=u64::from(registration::DISABLED))
                .map_err(param)? as u8;
            save_neul(m, |s| s.registration_mode = Some(mode))?;
            Ok(Vec::new())
        }
    }
}

/// AT+NMGS=<length>,<data>: a non-confirmable uplink.
fn send(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let config = config(m)?;
    expect_count(c, 2..=2)?;
    let data = uplink_data(c, &config)?;
    queue(
        m,
        Uplink {
            data,
            confirmable: false,
            rai: Rai::None,
        },
    )
}

/// AT+QLWULDATAEX=<length>,<data>,<mode>[,<seq>]: mode 0x0000 NON, 0x0001 NON released after
/// it, 0x0100 CON, 0x0101 CON released after its acknowledgement; `<seq>` (1–255) is taken and
/// not reported back (docs/decisions.md).
fn send_ex(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let config = config(m)?;
    expect_count(c, 3..=4)?;
    let data = uplink_data(c, &config)?;
    let mode = c.params.text(2, 6).map_err(param)?.to_ascii_lowercase();
    let (confirmable, rai) = match mode.as_str() {
        "0x0000" => (false, Rai::None),
        "0x0001" => (false, Rai::ReleaseNow),
        "0x0100" => (true, Rai::None),
        "0x0101" => (true, Rai::ReleaseAfterReply),
        _ => return Err(value_error()),
    };
    c.params.opt_int(3, 1..=255).map_err(param)?;
    queue(
        m,
        Uplink {
            data,
            confirmable,
            rai,
        },
    )
}

/// Hands an uplink to the link; none leaves a detached module (`+CME ERROR: 30`).
fn queue(m: &mut Module, uplink: Uplink) -> HandlerResult {
    if !m.ram.radio.registered() {
        return Err(CommandError::Cme(ErrorKind::NoNetworkService));
    }
    let now = m.now;
    on_link(m, |ctiot, env| ctiot.send_or_register(now, uplink, env))
}

/// AT+NNMI: the modes of the BC260Y-CN's, with the test form of the Neul manual.
fn indications(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        return Ok(vec![m.line("+NNMI", "(0,1,2)")]);
    }
    nnmi(m, c)
}

/// AT+NSMI=<indications>: 1 writes `+NSMI:SENT` for each uplink sent and `+NSMI:DISCARDED` for
/// one that could not be; not saved.
fn sent_indications(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => Ok(vec![m.line("+NSMI", "(0,1)")]),
        Form::Read => {
            let on = link(m)?.nsmi();
            Ok(vec![m.line("+NSMI", u8::from(on))])
        }
        _ => {
            expect_count(c, 1..=1)?;
            let on = c.params.int(0, 0..=1).map_err(param)? == 1;
            link(m)?.set_nsmi(on);
            Ok(Vec::new())
        }
    }
}

/// AT+NQMGS: `PENDING=<n>,SENT=<n>,ERROR=<n>` since boot.
fn uplink_counts(m: &mut Module, _c: &Command<'_>) -> HandlerResult {
    let counts = link(m)?.uplink_counts();
    Ok(vec![format!(
        "PENDING={},SENT={},ERROR={}",
        counts.pending, counts.sent, counts.failed
    )])
}
