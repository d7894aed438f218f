//! The general command set of every model (issue 17 §1): the 3GPP TS 27.007 commands a driver
//! sends at start-up (identity, PDP contexts, operator selection, network time, error reports) and
//! the list of the model's own commands (AT+CLAC).
//!
//! What differs between models is in [`crate::profile::GeneralConfig`]; which model has which
//! command is in its command table (docs/commands.md shows both, with the manual each comes from).
//! The settings these commands save are one struct, [`GeneralSettings`]; what a power cut loses is
//! [`GeneralRam`].

use super::{spec, CommandError, Handler, HandlerResult};
use crate::errors::ErrorKind;
use crate::module::Module;
use crate::nvram::{NvramData, Section};
use crate::profile::{AddressStyle, ClockStyle, GeneralConfig, Profile};
use crate::radio::RegStatus;
use nbmodem_at::{Command, CommandSpec, Form, Forms};
use nbmodem_clock::Instant;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// On every model.
pub(super) static ALL_MODELS: &[CommandSpec<Handler>] = &[
    spec("+CGMI", Forms::TEST_EXECUTE, manufacturer),
    spec("+CGMM", Forms::TEST_EXECUTE, model),
    spec("+COPS", Forms::TEST_READ_SET, operator_selection),
    spec("+CGDCONT", Forms::TEST_READ_SET, define_context),
    spec("+CGACT", Forms::TEST_READ_SET, activate_context),
    spec("+CTZR", Forms::TEST_READ_SET, time_zone_reporting),
    spec("+CEER", Forms::TEST_EXECUTE, extended_error),
    spec("+CIPCA", Forms::TEST_READ_SET, initial_context_activation),
    spec("+CLAC", Forms::TEST_EXECUTE, list_commands),
];

/// The Quectel SoC firmware (BC25, BC32, BC260Y-CN, BC26, BC20).
pub(super) static QUECTEL_SOC: &[CommandSpec<Handler>] = &[
    spec("+CCLK", Forms::TEST_READ_SET, clock),
    spec("+CGCONTRDP", Forms::ALL, context_dynamic_parameters),
    spec("&W", Forms::EXECUTE.with(Forms::SET), save_profile),
    spec("+GSN", Forms::TEST_EXECUTE, imei),
    spec("+IPR", Forms::TEST_READ_SET, baud_rate),
];

/// The Neul firmware's clock can only be read (BC95 AT Commands Manual V2.0 §3.19).
pub(super) static READ_ONLY_CLOCK: &[CommandSpec<Handler>] =
    &[spec("+CCLK", Forms::TEST.with(Forms::READ), clock)];

/// BC26 and BC20: drivers poll AT+CGREG? for the registration.
pub(super) static CGREG: &[CommandSpec<Handler>] =
    &[spec("+CGREG", Forms::TEST_READ_SET, gprs_registration)];

/// The time zone of the stand-in network, in quarter hours: China, UTC+8 (every operator of the
/// profiles is Chinese).
pub const NETWORK_TIME_ZONE: i8 = 32;

/// The longest APN AT+CGDCONT takes (3GPP TS 23.003 §9.1: 100 octets).
const MAX_APN: usize = 100;

/// The settings the general commands save (AT+CGDCONT, AT+CIPCA, AT+IPR, AT+QBAND, AT+QCFG,
/// AT+QATWAKEUP). Each is in use as soon as it is saved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneralSettings {
    /// AT+CGDCONT: the contexts defined, by `<cid>`.
    #[serde(default)]
    pub contexts: BTreeMap<u8, PdpContext>,
    /// AT+CIPCA's `<AttachWithoutPDN>`.
    #[serde(default)]
    pub attach_without_pdn: bool,
    /// AT+IPR; `None`: the factory rate.
    #[serde(default)]
    pub baud_rate: Option<u32>,
    /// AT+QBAND; empty: every band of the model.
    #[serde(default)]
    pub bands: Vec<u8>,
    /// AT+QCFG items set; an item not here has its factory value.
    #[serde(default)]
    pub qcfg: BTreeMap<String, u8>,
    /// AT+QATWAKEUP: `+QATSLEEP` and `+QATWAKEUP` around deep sleep.
    #[serde(default)]
    pub sleep_indication: bool,
}

/// One PDP context of AT+CGDCONT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PdpContext {
    pub pdp_type: String,
    pub apn: String,
}

/// The general settings saved in `data` (the factory values while none was set).
pub fn saved(data: &NvramData) -> GeneralSettings {
    data.section().unwrap_or_default()
}

impl Section for GeneralSettings {
    const NAME: &'static str = "general";

    /// Every value must be one the commands could have saved on this model.
    fn check(&self, profile: &Profile) -> Result<(), String> {
        let general = &profile.general;
        let bad = |field: &str, want: &str| Err(format!("`{field}` must be {want}"));
        for (cid, context) in &self.contexts {
            let known = general.pdp_types.contains(&context.pdp_type.as_str());
            if *cid > general.max_cid || !known || context.apn.len() > MAX_APN {
                return bad("contexts", "contexts the model's AT+CGDCONT takes");
            }
        }
        if self
            .baud_rate
            .is_some_and(|rate| !general.baud_rates.contains(&rate))
        {
            return bad("baud_rate", "a rate of the model's AT+IPR");
        }
        if self.bands.iter().any(|b| !general.bands.contains(b)) {
            return bad("bands", "bands of the model's AT+QBAND");
        }
        for (name, value) in &self.qcfg {
            let item = general.qcfg.iter().find(|i| i.name == name);
            if !item.is_some_and(|i| (i.min..=i.max).contains(value)) {
                return bad("qcfg", "items and values of the model's AT+QCFG");
            }
        }
        Ok(())
    }
}

impl GeneralSettings {
    /// The value of AT+QCFG item `name`: the one set, or the factory value; `None` where the
    /// model has no such item.
    pub fn qcfg_value(&self, general: &GeneralConfig, name: &str) -> Option<u8> {
        let item = general.qcfg.iter().find(|i| i.name == name)?;
        Some(self.qcfg.get(name).copied().unwrap_or(item.default))
    }
}

/// How the module chooses its network (AT+COPS `<mode>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Automatic,
    /// Only this PLMN: a SIM of another network does not register.
    Manual(String),
    Deregistered,
}

impl Selection {
    fn mode(&self) -> u8 {
        match self {
            Selection::Automatic => 0,
            Selection::Manual(_) => 1,
            Selection::Deregistered => 2,
        }
    }

    /// Whether a search finds the network of a SIM of `plmn`.
    pub fn finds(&self, plmn: &str) -> bool {
        match self {
            Selection::Automatic => true,
            Selection::Manual(wanted) => wanted == plmn,
            Selection::Deregistered => false,
        }
    }
}

/// The module's clock: the time it shows is the instant `now` moved by `offset_ms`, in the zone
/// `zone` (quarter hours). Until the network gives the time it counts from 1970-01-01 at
/// power-on, as an unset real-time clock does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    offset_ms: i64,
    zone: i8,
}

impl Clock {
    fn unset(now: Instant) -> Clock {
        Clock {
            offset_ms: -millis(now),
            zone: 0,
        }
    }

    /// The local time shown at `now`, as milliseconds since 1970-01-01 in that zone.
    fn local_ms(&self, now: Instant) -> i64 {
        millis(now) + self.offset_ms
    }
}

fn millis(at: Instant) -> i64 {
    i64::try_from(at.unix_millis()).unwrap_or(i64::MAX)
}

/// What the general commands keep until the power is cut.
#[derive(Debug, Clone)]
pub struct GeneralRam {
    pub selection: Selection,
    clock: Clock,
    /// AT+CTZR `<reporting>`.
    ctzr: u8,
    /// AT+CGREG `<n>`.
    cgreg: u8,
    /// AT+CGACT=0 on the default context, until the next attach.
    default_deactivated: bool,
    /// Contexts other than the default one that AT+CGACT=1 activated, until detach.
    activated: Vec<u8>,
    /// Why the last registration failed (AT+CEER).
    last_failure: Option<&'static str>,
}

impl GeneralRam {
    pub fn new(now: Instant) -> Self {
        GeneralRam {
            selection: Selection::Automatic,
            clock: Clock::unset(now),
            ctzr: 0,
            cgreg: 0,
            default_deactivated: false,
            activated: Vec::new(),
            last_failure: None,
        }
    }

    /// The host asked to attach (AT+CGATT=1, AT+CFUN=1): a module deregistered by AT+COPS=2
    /// selects automatically again.
    pub fn attach_requested(&mut self) {
        if self.selection == Selection::Deregistered {
            self.selection = Selection::Automatic;
        }
    }

    /// A search found no network of this SIM (AT+COPS=1 with another PLMN).
    pub fn search_failed(&mut self) {
        self.last_failure = Some("PLMN not allowed");
    }
}

/// What the registration change to `status` brings: the network's time and its URCs at attach,
/// `+CGREG`, and contexts that end with a detach.
pub(crate) fn registration_changed(m: &mut Module, status: RegStatus) {
    if m.ram.general.cgreg > 0 {
        let text = m.line("+CGREG", cgreg_fields(m, false));
        m.urc(text);
    }
    if status != RegStatus::Home {
        m.ram.general.activated.clear();
        m.ram.general.default_deactivated = false;
        return;
    }
    m.ram.general.last_failure = None;
    m.ram.general.clock = Clock {
        offset_ms: i64::from(NETWORK_TIME_ZONE) * 15 * 60 * 1000,
        zone: NETWORK_TIME_ZONE,
    };
    if let Some(urc) = time_zone_urc(m) {
        m.urc(urc);
    }
}

/// The AT+CTZR URC the network's time gives: `+CTZV: +32`, `+CTZE: +32,0,"…"` (local time) or
/// `+CTZEU: +32,0,"…"` (UTC).
fn time_zone_urc(m: &Module) -> Option<String> {
    let zone = zone_text(m.ram.general.clock.zone);
    let local = m.ram.general.clock.local_ms(m.now);
    Some(match m.ram.general.ctzr {
        1 => m.line("+CTZV", zone),
        2 => m.line("+CTZE", format!("{zone},0,\"{}\"", long_date(local))),
        3 => m.line(
            "+CTZEU",
            format!("{zone},0,\"{}\"", long_date(millis(m.now))),
        ),
        _ => return None,
    })
}

/// `+32`, `-04`: a zone in quarter hours with its sign.
fn zone_text(zone: i8) -> String {
    let sign = if zone < 0 { '-' } else { '+' };
    format!("{sign}{:02}", zone.unsigned_abs())
}

/// `2026/01/01,08:00:00`
fn long_date(ms: i64) -> String {
    let t = date_time(ms);
    format!(
        "{:04}/{:02}/{:02},{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `26/01/01,08:00:00`
fn short_date(ms: i64) -> String {
    long_date(ms)[2..].to_string()
}

fn date_time(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// `AT+CGMI`
fn manufacturer(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    Ok(match c.form {
        Form::Test => vec![],
        _ => vec![m.profile.identification.manufacturer.into()],
    })
}

/// `AT+CGMM`
fn model(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    Ok(match c.form {
        Form::Test => vec![],
        _ => vec![m.profile.identification.product.into()],
    })
}

/// `AT+GSN`: the IMEI, bare.
fn imei(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    Ok(match c.form {
        Form::Test => vec![],
        _ => vec![m.imei().to_string()],
    })
}

/// `AT+COPS=<mode>[,<format>[,<oper>]]`: 0 automatic, 1 manual (numeric PLMN), 2 deregister,
/// 3 only the format (numeric), 4 manual, falling back to automatic.
fn operator_selection(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let plmn = m.sim().plmn().to_string();
    match c.form {
        Form::Test => {
            Ok(vec![m.line(
                "+COPS",
                format!("(2,\"\",\"\",\"{plmn}\",9),,(0-4),(2)"),
            )])
        }
        Form::Read => {
            let mode = m.ram.general.selection.mode();
            Ok(vec![if m.ram.radio.registered() {
                m.line("+COPS", format!("{mode},2,\"{plmn}\",9"))
            } else {
                m.line("+COPS", mode)
            }])
        }
        _ => {
            c.params.expect_count(1..=3)?;
            let mode = c.params.int(0, 0..=4)?;
            if !c.params.is_absent(1) {
                c.params.int(1, 2..=2)?;
            }
            let wanted = match mode {
                1 | 4 => Some(numeric_plmn(c)?),
                _ => None,
            };
            let selection = match (mode, wanted) {
                (0, _) => Selection::Automatic,
                (1, Some(p)) => Selection::Manual(p),
                (2, _) => Selection::Deregistered,
                (4, Some(p)) if p == plmn => Selection::Manual(p),
                (4, _) => Selection::Automatic,
                _ => return Ok(vec![]),
            };
            select(m, selection);
            Ok(vec![])
        }
    }
}

/// The `<oper>` of AT+COPS in numeric format: 5 or 6 digits.
fn numeric_plmn(c: &Command<'_>) -> Result<String, CommandError> {
    let oper = c.params.text(2, 6)?;
    if oper.len() < 5 || !oper.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CommandError::Cme(ErrorKind::InvalidParameter));
    }
    Ok(oper.into())
}

/// Puts `selection` in force: a new search, or the end of registration.
fn select(m: &mut Module, selection: Selection) {
    let unchanged = m.ram.general.selection == selection;
    m.ram.general.selection = selection;
    if unchanged && m.ram.radio.registered() {
        return;
    }
    m.detach();
    if m.ram.general.selection != Selection::Deregistered && m.ram.radio.functional {
        m.start_search();
    }
}

/// `AT+CGDCONT=<cid>[,<PDP_type>[,<APN>]]`; `<cid>` alone undefines the context (the default
/// one goes back to its factory definition).
fn define_context(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let general = m.profile.general;
    match c.form {
        Form::Test => {
            let types: Vec<String> = general
                .pdp_types
                .iter()
                .map(|t| format!("\"{t}\""))
                .collect();
            Ok(vec![m.line(
                "+CGDCONT",
                format!("(0-{}),({})", general.max_cid, types.join(",")),
            )])
        }
        Form::Read => Ok(defined_contexts(m)
            .into_iter()
            .map(|(cid, context)| {
                let address = context_address(m, cid)
                    .map(|ip| format!("\"{ip}\""))
                    .unwrap_or_default();
                let fields = format!(
                    "{cid},\"{}\",\"{}\",{address},0,0",
                    context.pdp_type, context.apn
                );
                m.line("+CGDCONT", fields)
            })
            .collect()),
        _ => {
            c.params.expect_count(1..=3)?;
            let cid = c.params.int(0, 0..=u64::from(general.max_cid))? as u8;
            if c.params.len() == 1 {
                m.save(|nv| {
                    nv.edit::<GeneralSettings>(|g| {
                        g.contexts.remove(&cid);
                    })
                })?;
                return Ok(vec![]);
            }
            let typed = c.params.text(1, 8)?;
            let pdp_type = general
                .pdp_types
                .iter()
                .find(|t| t.eq_ignore_ascii_case(typed))
                .ok_or(CommandError::Cme(ErrorKind::InvalidParameter))?;
            let apn = if c.params.is_absent(2) {
                ""
            } else {
                c.params.text(2, MAX_APN)?
            };
            let context = PdpContext {
                pdp_type: pdp_type.to_string(),
                apn: apn.into(),
            };
            m.save(|nv| {
                nv.edit::<GeneralSettings>(|g| {
                    g.contexts.insert(cid, context);
                })
            })?;
            Ok(vec![])
        }
    }
}

/// Every defined context by `<cid>`: the default one (as saved, or IP with the network's APN)
/// and those AT+CGDCONT defined.
fn defined_contexts(m: &Module) -> Vec<(u8, PdpContext)> {
    let default_cid = m.profile.general.default_cid;
    let mut contexts = saved(&m.saved).contexts.clone();
    contexts.entry(default_cid).or_insert_with(|| PdpContext {
        pdp_type: "IP".into(),
        apn: String::new(),
    });
    contexts.into_iter().collect()
}

/// The address of context `cid`, while it is active.
pub(crate) fn context_address(m: &Module, cid: u8) -> Option<std::net::Ipv4Addr> {
    let general = &m.ram.general;
    let active = if cid == m.profile.general.default_cid {
        !general.default_deactivated
    } else {
        general.activated.contains(&cid)
    };
    m.address().filter(|_| active)
}

/// `+CGPADDR: <cid>,<address>` in the model's spelling.
pub(crate) fn address_line(m: &Module, cid: u8, ip: std::net::Ipv4Addr) -> String {
    let address = match m.profile.general.address_style {
        AddressStyle::Quoted => format!("\"{ip}\""),
        AddressStyle::Bare => ip.to_string(),
    };
    m.line("+CGPADDR", format!("{cid},{address}"))
}

/// The `<cid>`s defined, for AT+CGPADDR.
pub(crate) fn defined_cids(m: &Module) -> Vec<u8> {
    defined_contexts(m)
        .into_iter()
        .map(|(cid, _)| cid)
        .collect()
}

/// `AT+CGACT=<state>[,<cid>]`: activates or deactivates one context, or every defined one.
fn activate_context(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => Ok(vec![m.line("+CGACT", "(0,1)")]),
        Form::Read => Ok(defined_cids(m)
            .into_iter()
            .map(|cid| {
                let state = u8::from(context_address(m, cid).is_some());
                m.line("+CGACT", format!("{cid},{state}"))
            })
            .collect()),
        _ => {
            c.params.expect_count(1..=2)?;
            let active = c.params.int(0, 0..=1)? == 1;
            let max = u64::from(m.profile.general.max_cid);
            let cids = match c.params.opt_int(1, 0..=max)? {
                Some(cid) if defined_cids(m).contains(&(cid as u8)) => vec![cid as u8],
                Some(_) => return Err(CommandError::Cme(ErrorKind::InvalidParameter)),
                None => defined_cids(m),
            };
            if active && !m.ram.radio.registered() {
                return Err(CommandError::Cme(ErrorKind::NoNetworkService));
            }
            let default_cid = m.profile.general.default_cid;
            let general = &mut m.ram.general;
            for cid in cids {
                if cid == default_cid {
                    general.default_deactivated = !active;
                } else {
                    general.activated.retain(|&c| c != cid);
                    if active {
                        general.activated.push(cid);
                    }
                }
            }
            Ok(vec![])
        }
    }
}

/// `AT+CGCONTRDP[=<cid>]`: the bearer, APN and address of each active context.
fn context_dynamic_parameters(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let max = u64::from(m.profile.general.max_cid);
    let wanted = match c.form {
        Form::Test => {
            let cids: Vec<String> = defined_cids(m).iter().map(u8::to_string).collect();
            return Ok(vec![m.line("+CGCONTRDP", format!("({})", cids.join(",")))]);
        }
        Form::Set => {
            c.params.expect_count(1..=1)?;
            Some(c.params.int(0, 0..=max)? as u8)
        }
        _ => None,
    };
    let network_apn = network_apn(m);
    Ok(defined_contexts(m)
        .into_iter()
        .enumerate()
        .filter(|(_, (cid, _))| wanted.is_none_or(|w| w == *cid))
        .filter_map(|(index, (cid, context))| {
            let ip = context_address(m, cid)?;
            let apn = if context.apn.is_empty() {
                network_apn
            } else {
                &context.apn
            };
            let bearer = 5 + index;
            let fields = format!("{cid},{bearer},\"{apn}\",\"{ip}.255.255.255.0\"");
            Some(m.line("+CGCONTRDP", fields))
        })
        .collect())
}

/// The APN the stand-in network gives a context defined without one: the operator's NB-IoT APN.
fn network_apn(m: &Module) -> &'static str {
    use crate::identity::Operator;
    match m.sim().operator() {
        Operator::ChinaTelecom => "ctnb",
        Operator::ChinaMobile => "cmnbiot",
        Operator::ChinaUnicom => "unim2m.njm2mapn",
        Operator::Other => "internet",
    }
}

/// `AT+CCLK?` in the model's style and, where the model allows it,
/// `AT+CCLK="[yy]yy/MM/dd,hh:mm:ss±zz"`.
fn clock(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => Ok(vec![]),
        Form::Read => {
            let clock = m.ram.general.clock;
            let style = m.profile.general.clock_style;
            let value = clock_text(style, clock.local_ms(m.now), clock.zone);
            Ok(vec![m.line("+CCLK", value)])
        }
        _ => {
            c.params.expect_count(1..=1)?;
            let clock = parse_clock(c.params.quoted(0, 22)?, m.now)
                .ok_or(CommandError::Cme(ErrorKind::InvalidParameter))?;
            m.ram.general.clock = clock;
            Ok(vec![])
        }
    }
}

/// A local time (milliseconds since 1970-01-01 in zone `zone`) as the model writes it:
/// `"2026/01/01,08:00:03+32"` or `26/01/01,08:00:03+32`.
pub(crate) fn clock_text(style: ClockStyle, local_ms: i64, zone: i8) -> String {
    let zone = zone_text(zone);
    match style {
        ClockStyle::QuotedLongYear => format!("\"{}{zone}\"", long_date(local_ms)),
        ClockStyle::BareShortYear => format!("{}{zone}", short_date(local_ms)),
    }
}

/// `yy/MM/dd,hh:mm:ss±zz` (or with the year in four digits, as the module writes it) as the
/// clock it sets at `now`.
fn parse_clock(text: &str, now: Instant) -> Option<Clock> {
    // Years are 2000 to 2099 either way.
    let text = match text.len() {
        22 => text.strip_prefix("20")?,
        _ => text,
    };
    let bytes = text.as_bytes();
    let fixed = bytes.len() == 20
        && [2, 5].iter().all(|&i| bytes[i] == b'/')
        && bytes[8] == b','
        && [11, 14].iter().all(|&i| bytes[i] == b':')
        && matches!(bytes[17], b'+' | b'-');
    if !fixed {
        return None;
    }
    let number = |at: usize| -> Option<u8> { text.get(at..at + 2)?.parse().ok() };
    let (year, month, day) = (number(0)?, number(3)?, number(6)?);
    let (hour, minute, second, quarters) = (number(9)?, number(12)?, number(15)?, number(18)?);
    let date = time::Date::from_calendar_date(
        2000 + i32::from(year),
        time::Month::try_from(month).ok()?,
        day,
    )
    .ok()?;
    let time_of_day = time::Time::from_hms(hour, minute, second).ok()?;
    if quarters > 96 {
        return None;
    }
    let zone = if bytes[17] == b'-' {
        -(quarters as i8)
    } else {
        quarters as i8
    };
    let local_ms = date.with_time(time_of_day).assume_utc().unix_timestamp() * 1000;
    Some(Clock {
        offset_ms: local_ms - millis(now),
        zone,
    })
}

/// `AT+CTZR=<reporting>`: 0 none, 1 `+CTZV`, 2 `+CTZE`, 3 `+CTZEU`, when the network gives the
/// time.
fn time_zone_reporting(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let max = m.profile.general.max_ctzr;
    match c.form {
        Form::Test => Ok(vec![m.line("+CTZR", format!("(0-{max})"))]),
        Form::Read => Ok(vec![m.line("+CTZR", m.ram.general.ctzr)]),
        _ => {
            c.params.expect_count(1..=1)?;
            m.ram.general.ctzr = c.params.int(0, 0..=u64::from(max))? as u8;
            Ok(vec![])
        }
    }
}

/// `AT+CEER`: why the last registration failed.
fn extended_error(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        return Ok(vec![]);
    }
    let report = m
        .ram
        .general
        .last_failure
        .unwrap_or("No cause information available");
    Ok(vec![m.line("+CEER", format!("\"{report}\""))])
}

/// `AT+CIPCA=3[,<AttachWithoutPDN>]`: NB-IoT knows only `<n>` 3; the flag is saved.
fn initial_context_activation(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => Ok(vec![m.line("+CIPCA", "(3),(0,1)")]),
        Form::Read => {
            let flag = u8::from(saved(&m.saved).attach_without_pdn);
            Ok(vec![m.line("+CIPCA", format!("3,{flag}"))])
        }
        _ => {
            c.params.expect_count(1..=2)?;
            c.params.int(0, 3..=3)?;
            let Some(flag) = c.params.opt_int(1, 0..=1)? else {
                return Ok(vec![]);
            };
            m.save(|nv| nv.edit::<GeneralSettings>(|g| g.attach_without_pdn = flag == 1))?;
            Ok(vec![])
        }
    }
}

/// `AT+CLAC`: every command this model's firmware accepts, one a line.
fn list_commands(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        return Ok(vec![]);
    }
    Ok(m.profile
        .commands()
        .names()
        .filter(|name| !name.is_empty())
        .filter(|name| {
            let spec = m.profile.commands().lookup(name);
            spec.is_some_and(|s| s.handler.feature.is_none_or(|f| m.has_feature(f)))
        })
        .map(|name| format!("AT{name}"))
        .collect())
}

/// `AT&W[0]`: every setting is saved when it is set, so there is nothing left to store.
fn save_profile(_: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Set {
        c.params.expect_count(1..=1)?;
        c.params.int(0, 0..=0)?;
    }
    Ok(vec![])
}

/// `AT+IPR=<rate>`: the UART rate, saved. An emulated UART (a PTY, TCP) has no rate, so it
/// changes nothing else.
fn baud_rate(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    let general = m.profile.general;
    match c.form {
        Form::Test => {
            let rates: Vec<String> = general.baud_rates.iter().map(u32::to_string).collect();
            Ok(vec![m.line("+IPR", format!("(),({})", rates.join(",")))])
        }
        Form::Read => {
            let rate = saved(&m.saved).baud_rate.unwrap_or(general.baud_default);
            Ok(vec![m.line("+IPR", rate)])
        }
        _ => {
            c.params.expect_count(1..=1)?;
            let rate = c.params.int(0, 0..=u64::from(u32::MAX))? as u32;
            if !general.baud_rates.contains(&rate) {
                return Err(CommandError::Cme(ErrorKind::InvalidParameter));
            }
            m.save(|nv| nv.edit::<GeneralSettings>(|g| g.baud_rate = Some(rate)))?;
            Ok(vec![])
        }
    }
}

/// `AT+CGREG=<n>`: 0 no URC, 1 `+CGREG: <stat>`, 2 with the area and cell.
fn gprs_registration(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => Ok(vec![m.line("+CGREG", "(0-2)")]),
        Form::Read => Ok(vec![m.line("+CGREG", cgreg_fields(m, true))]),
        _ => {
            c.params.expect_count(1..=1)?;
            m.ram.general.cgreg = c.params.int(0, 0..=2)? as u8;
            Ok(vec![])
        }
    }
}

/// `[<n>,]<stat>[,<lac>,<ci>]` of AT+CGREG.
fn cgreg_fields(m: &Module, with_mode: bool) -> String {
    let mode = m.ram.general.cgreg;
    let status = m.ram.radio.status() as u8;
    let mut fields = if with_mode {
        format!("{mode},{status}")
    } else {
        status.to_string()
    };
    if mode == 2 && m.ram.radio.registered() {
        let network = &m.network;
        fields.push_str(&format!(
            ",\"{:04X}\",\"{:08X}\"",
            network.tac, network.cell_id
        ));
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_text_round_trips() {
        let now = Instant::from_unix_millis(1_767_225_600_000);
        let clock = parse_clock("26/03/04,05:06:07+32", now).unwrap();
        assert_eq!(clock.zone, 32);
        assert_eq!(short_date(clock.local_ms(now)), "26/03/04,05:06:07");
        let west = parse_clock("26/03/04,05:06:07-20", now).unwrap();
        assert_eq!(zone_text(west.zone), "-20");
        let long = parse_clock("2026/03/04,05:06:07+32", now).unwrap();
        assert_eq!(long, clock);
        for bad in [
            "26/13/04,05:06:07+32",
            "26/02/30,05:06:07+32",
            "26/03/04,24:06:07+32",
            "26/03/04,05:06:07+97",
            "26/03/04 05:06:07+32",
            "26/03/04,05:06:07",
            "2126/03/04,05:06:07+32",
        ] {
            assert_eq!(parse_clock(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn saved_settings_a_model_could_not_have_written_are_refused() {
        let bc260y = crate::profile::find("BC260Y-CN").unwrap();
        let bc95 = crate::profile::find("BC95").unwrap();
        let good = GeneralSettings {
            bands: vec![5],
            qcfg: BTreeMap::from([("dsevent".to_string(), 0)]),
            baud_rate: Some(115200),
            ..GeneralSettings::default()
        };
        assert_eq!(good.check(bc260y), Ok(()));
        assert!(
            good.check(bc95).is_err(),
            "no bands, items or rates on BC95"
        );
        let context = |cid: u8, pdp_type: &str, apn_len: usize| GeneralSettings {
            contexts: BTreeMap::from([(
                cid,
                PdpContext {
                    pdp_type: pdp_type.into(),
                    apn: "a".repeat(apn_len),
                },
            )]),
            ..GeneralSettings::default()
        };
        assert_eq!(context(10, "IP", 100).check(bc260y), Ok(()));
        for bad in [
            context(11, "IP", 1),
            context(1, "PPP", 1),
            context(1, "IP", 101),
        ] {
            assert!(bad.check(bc260y).is_err(), "{bad:?}");
        }
        let out_of_range = GeneralSettings {
            qcfg: BTreeMap::from([("dsevent".to_string(), 2)]),
            ..GeneralSettings::default()
        };
        assert!(out_of_range.check(bc260y).is_err());
        let unknown_band = GeneralSettings {
            bands: vec![1],
            ..GeneralSettings::default()
        };
        assert!(unknown_band.check(bc260y).is_err());
    }

    #[test]
    fn a_store_with_a_bad_general_section_is_refused_at_load() {
        let bc26 = crate::profile::find("BC26").unwrap();
        let mut data = NvramData::new("BC26", "865975030000001", "BC26NBR01A07");
        data.set_section(&GeneralSettings {
            baud_rate: Some(1234),
            ..GeneralSettings::default()
        });
        let problem = data.check(crate::commands::SAVED, bc26).unwrap_err();
        assert!(problem.contains("section `general`"), "{problem}");
        data.set_section(&GeneralSettings::default());
        assert_eq!(data.check(crate::commands::SAVED, bc26), Ok(()));
    }

    #[test]
    fn an_unset_clock_starts_at_1970() {
        let boot = Instant::from_unix_millis(1_767_225_600_000);
        let clock = Clock::unset(boot);
        let later = Instant::from_unix_millis(1_767_225_661_000);
        assert_eq!(short_date(clock.local_ms(later)), "70/01/01,00:01:01");
    }
}
