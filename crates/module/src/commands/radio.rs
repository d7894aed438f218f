//! The radio's signal and power-saving commands: AT+CESQ, AT+CPSMS, AT+CEDRXS and AT+CEDRXRDP
//! (TS 27.007, every model), AT+NUESTATS, AT+NPTWEDRXS and AT+NPSMR (the Neul family, BC95 AT
//! commands manual) and AT+QENG (the Quectel family). Signal values come from the module's radio
//! condition ([`crate::coverage`]); PSM and eDRX requests are saved in NVRAM, in use at once, and
//! the network's grant follows them ([`crate::power_saving`]). Sources: docs/commands.md.

use super::{spec, CommandError, HandlerResult};
use crate::commands::Handler;
use crate::coverage::{CeLevel, RadioCondition};
use crate::energy::PowerState;
use crate::errors::ErrorKind;
use crate::module::Module;
use crate::power_saving::{bit_string, parse_bit_string, PowerSavingSettings, ACT_NB_S1};
use nbmodem_at::{Command, CommandSpec, Form, Forms};

/// Every model (TS 27.007).
pub(super) static RADIO_3GPP: &[CommandSpec<Handler>] = &[
    spec("+CESQ", Forms::TEST_EXECUTE, extended_signal_quality),
    spec("+CPSMS", Forms::TEST_READ_SET, power_saving_mode),
    spec("+CEDRXS", Forms::TEST_READ_SET, edrx_setting),
    spec("+CEDRXRDP", Forms::TEST_EXECUTE, edrx_dynamic_parameters),
];

/// The Neul family (BC95, BC35-G, BC28).
pub(super) static RADIO_NEUL: &[CommandSpec<Handler>] = &[
    spec(
        "+NUESTATS",
        Forms::TEST_SET.with(Forms::EXECUTE),
        ue_statistics,
    ),
    spec("+NPTWEDRXS", Forms::TEST_READ_SET, paging_window_and_edrx),
    spec("+NPSMR", Forms::TEST_READ_SET, psm_status_report),
];

/// The Quectel family (BC25, BC32, BC26, BC20, BC260Y-CN).
pub(super) static RADIO_QUECTEL: &[CommandSpec<Handler>] =
    &[spec("+QENG", Forms::TEST_SET, engineering_mode)];

/// The cell's carrier, band, EARFCN offset and operation mode (in-band, different PCI), as the
/// engineering commands report them; the stand-in network has one cell.
const EARFCN: u32 = 2506;
const EARFCN_OFFSET: u8 = 2;
const PCI: u16 = 22;
const BAND: u8 = 5;
const QENG_OPERATION_MODE: u8 = 1;
/// AT+NUESTATS's OPERATOR MODE as a BC95 prints it for such a cell.
const NUESTATS_OPERATOR_MODE: u8 = 4;

/// The condition, if the module hears the cell at all (radio on, coverage).
fn heard(m: &Module) -> Option<RadioCondition> {
    (m.ram.radio.functional && m.network.coverage).then_some(m.network.condition)
}

/// `AT+CESQ`: `<rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>`; only the E-UTRAN fields are known.
fn extended_signal_quality(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        let ranges = "(0-63,99),(0-7,99),(0-96,255),(0-49,255),(0-34,255),(0-97,255)";
        return Ok(vec![m.line("+CESQ", ranges)]);
    }
    let (rsrq, rsrp) = heard(m).map_or((255, 255), |c| (c.cesq_rsrq(), c.cesq_rsrp()));
    Ok(vec![m.line("+CESQ", format!("99,99,255,255,{rsrq},{rsrp}"))])
}

/// The uplink transmit power in tenths of dBm: full power (23 dBm) in CE1 and CE2, open-loop
/// power control in CE0 (a dB less per dB of RSRP above the CE1 threshold), at least −40 dBm.
fn tx_power(condition: RadioCondition) -> i32 {
    match condition.ce_level() {
        CeLevel::Ce0 => (230 - (condition.rsrp + 110) * 10).max(-400),
        _ => 230,
    }
}

/// `AT+QENG=0`: the serving cell, while registered.
fn engineering_mode(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        return Ok(vec![m.line("+QENG", "(0)")]);
    }
    c.params.expect_count(1..=1)?;
    c.params.int(0, 0..=0)?;
    let Some(condition) = heard(m).filter(|_| m.ram.radio.registered()) else {
        return Ok(vec![]);
    };
    let fields = format!(
        "0,{EARFCN},{EARFCN_OFFSET},{PCI},\"{:08X}\",{},{},{},{},{BAND},\"{:04X}\",{},{},{QENG_OPERATION_MODE}",
        m.network.cell_id,
        condition.rsrp,
        condition.rsrq().round() as i32,
        condition.rssi().round() as i32,
        condition.sinr,
        m.network.tac,
        condition.ce_level() as u8,
        tx_power(condition) / 10,
    );
    Ok(vec![m.line("+QENG", fields)])
}

/// `AT+NUESTATS[=<type>]`: RADIO, CELL, BLER, THP or ALL; without a type the RADIO values in the
/// older `Name:value` form.
fn ue_statistics(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    const TYPES: [&str; 5] = ["RADIO", "CELL", "BLER", "THP", "ALL"];
    if c.form == Form::Test {
        return Ok(vec![m.line("+NUESTATS", format!("({})", TYPES.join(",")))]);
    }
    let condition = heard(m).unwrap_or(m.network.condition);
    if c.form == Form::Execute {
        return Ok(radio_stats(m, condition)
            .into_iter()
            .map(|(name, value)| format!("{name}:{value}"))
            .collect());
    }
    c.params.expect_count(1..=1)?;
    let kind = c.params.text(0, 8)?.to_ascii_uppercase();
    if !TYPES.contains(&kind.as_str()) {
        return Err(CommandError::Cme(ErrorKind::InvalidParameter));
    }
    let wanted = |name: &str| kind == name || kind == "ALL";
    let mut lines = Vec::new();
    if wanted("RADIO") {
        let stats = radio_stats(m, condition);
        lines.extend(stats.iter().map(|(n, v)| format!("NUESTATS:RADIO,{n},{v}")));
    }
    if wanted("CELL") {
        lines.push(format!(
            "NUESTATS:CELL,{EARFCN},{PCI},1,{},{},{},{}",
            condition.rsrp * 10,
            tenths(condition.rsrq()),
            tenths(condition.rssi()),
            condition.sinr * 10
        ));
    }
    if wanted("BLER") {
        lines.extend(bler_stats(m, condition));
    }
    if wanted("THP") {
        let link = condition.link();
        let (up, down) = (link.uplink_bits_per_second, link.downlink_bits_per_second);
        for (name, value) in [
            ("RLC UL", up),
            ("RLC DL", down),
            ("MAC UL", up),
            ("MAC DL", down),
        ] {
            lines.push(format!("NUESTATS:THP,{name},{value}"));
        }
    }
    Ok(lines)
}

fn tenths(value: f64) -> i32 {
    (value * 10.0).round() as i32
}

/// The RADIO statistics: powers and SNR in tenths, times in milliseconds since power-on.
fn radio_stats(m: &Module, condition: RadioCondition) -> Vec<(&'static str, String)> {
    let energy = m.energy(m.now);
    let millis = |state| energy.entry(state).time.as_millis().to_string();
    vec![
        ("Signal power", (condition.rsrp * 10).to_string()),
        ("Total power", tenths(condition.rssi()).to_string()),
        ("TX power", tx_power(condition).to_string()),
        ("TX time", millis(PowerState::Transmitting)),
        ("RX time", millis(PowerState::Connected)),
        ("Cell ID", m.network.cell_id.to_string()),
        ("ECL", (condition.ce_level() as u8).to_string()),
        ("SNR", (condition.sinr * 10).to_string()),
        ("EARFCN", EARFCN.to_string()),
        ("PCI", PCI.to_string()),
        ("RSRQ", tenths(condition.rsrq()).to_string()),
        ("OPERATOR MODE", NUESTATS_OPERATOR_MODE.to_string()),
    ]
}

/// The BLER statistics: the block error rates the CE level is run at (per thousand) and the
/// datagrams and bytes that crossed since power-on, a datagram a block.
fn bler_stats(m: &Module, condition: RadioCondition) -> Vec<String> {
    let bler = match condition.ce_level() {
        CeLevel::Ce0 => 10,
        CeLevel::Ce1 => 50,
        CeLevel::Ce2 => 100,
    };
    let count = m.link_counts();
    [
        ("RLC UL BLER", bler),
        ("RLC DL BLER", bler),
        ("MAC UL BLER", bler),
        ("MAC DL BLER", bler),
        ("Total TX bytes", count.sent_bytes),
        ("Total RX bytes", count.received_bytes),
        ("Total TX blocks", count.sent),
        ("Total RX blocks", count.received),
        ("Total RTX blocks", 0),
        ("Total ACK/NACK RX", count.sent),
    ]
    .iter()
    .map(|(name, value)| format!("NUESTATS:BLER,{name},{value}"))
    .collect()
}

/// A bit-string parameter of `bits` digits, quoted or not; `None` when left out.
fn bits_param(c: &Command<'_>, index: usize, bits: usize) -> Result<Option<u8>, CommandError> {
    if c.params.is_absent(index) {
        return Ok(None);
    }
    let text = c.params.text(index, bits)?;
    parse_bit_string(text, bits)
        .map(Some)
        .ok_or(CommandError::Cme(ErrorKind::InvalidParameter))
}

/// Saves the PSM and eDRX request `change` makes, puts it in use and asks the network for it.
fn request(m: &mut Module, change: impl Fn(&mut PowerSavingSettings)) -> HandlerResult {
    m.save(|nv| nv.edit(&change))?;
    m.in_use.edit(&change);
    m.grant_power_saving();
    Ok(vec![])
}

/// The PSM and eDRX request in use.
fn requested(m: &Module) -> PowerSavingSettings {
    m.in_use.section().unwrap_or_default()
}

/// A bit string in the profile's style, or nothing.
fn shown(m: &Module, value: Option<u8>, bits: usize) -> String {
    value.map_or(String::new(), |v| {
        bit_string(v, bits, m.profile.quoted_bit_strings)
    })
}

/// `AT+CPSMS=[<mode>[,<RAU>[,<GPRS-READY>[,<TAU>[,<Active-Time>]]]]]`: 0 no PSM, 1 PSM, 2 no PSM
/// and every value back to its default. The GERAN timers (RAU, READY) are checked and not used.
fn power_saving_mode(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => {
            let any = format!("({}-{})", shown(m, Some(0), 8), shown(m, Some(0xFF), 8));
            return Ok(vec![
                m.line("+CPSMS", format!("(0-2),{any},{any},{any},{any}"))
            ]);
        }
        Form::Read => {
            let s = requested(m);
            let (tau, active) = (shown(m, s.periodic_tau, 8), shown(m, s.active_time, 8));
            return Ok(vec![
                m.line("+CPSMS", format!("{},,,{tau},{active}", u8::from(s.psm)))
            ]);
        }
        _ => {}
    }
    c.params.expect_count(0..=5)?;
    let mode = c.params.opt_int(0, 0..=2)?.unwrap_or(0);
    bits_param(c, 1, 8)?;
    bits_param(c, 2, 8)?;
    let tau = bits_param(c, 3, 8)?;
    let active = bits_param(c, 4, 8)?;
    request(m, |s| {
        s.psm = mode == 1;
        if mode == 2 {
            (s.periodic_tau, s.active_time) = (None, None);
        }
        s.periodic_tau = tau.or(s.periodic_tau);
        s.active_time = active.or(s.active_time);
    })
}

/// The eDRX `<mode>` and `<AcT-type>` of AT+CEDRXS and AT+NPTWEDRXS: mode 0 off, 1 on, 2 on
/// (the `+CEDRXP` report is not given), 3 off and back to the defaults; only NB-S1 (5).
fn edrx_mode(c: &Command<'_>) -> Result<u8, CommandError> {
    let mode = c.params.opt_int(0, 0..=3)?.unwrap_or(0) as u8;
    if let Some(act) = c.params.opt_int(1, 0..=5)? {
        if act != u64::from(ACT_NB_S1) {
            return Err(CommandError::Cme(ErrorKind::OperationNotSupported));
        }
    }
    Ok(mode)
}

/// Applies eDRX mode `mode` and the values given to the request.
fn set_edrx(s: &mut PowerSavingSettings, mode: u8, value: Option<u8>, window: Option<u8>) {
    s.edrx = matches!(mode, 1 | 2);
    if mode == 3 {
        (s.edrx_value, s.paging_window) = (None, None);
    }
    s.edrx_value = value.or(s.edrx_value);
    s.paging_window = window.or(s.paging_window);
}

/// `AT+CEDRXS=[<mode>[,<AcT-type>[,<Requested_eDRX_value>]]]`.
fn edrx_setting(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => {
            let any = format!("({}-{})", shown(m, Some(0), 4), shown(m, Some(0xF), 4));
            return Ok(vec![m.line("+CEDRXS", format!("(0-3),({ACT_NB_S1}),{any}"))]);
        }
        Form::Read => {
            let s = requested(m);
            return Ok(s
                .edrx
                .then(|| {
                    let value = shown(
                        m,
                        s.edrx_value.or(Some(m.network.power_saving.edrx_value)),
                        4,
                    );
                    m.line("+CEDRXS", format!("{ACT_NB_S1},{value}"))
                })
                .into_iter()
                .collect());
        }
        _ => {}
    }
    c.params.expect_count(0..=3)?;
    let mode = edrx_mode(c)?;
    let value = bits_param(c, 2, 4)?;
    request(m, |s| set_edrx(s, mode, value, None))
}

/// `AT+CEDRXRDP`: the eDRX values the network gave, or `0` when eDRX is not in use.
fn edrx_dynamic_parameters(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    if c.form == Form::Test {
        return Ok(vec![]);
    }
    let granted = m.ram.radio.edrx().filter(|_| m.ram.radio.registered());
    let fields = granted.map_or("0".to_string(), |g| {
        format!(
            "{ACT_NB_S1},{},{},{}",
            shown(m, Some(g.requested), 4),
            shown(m, Some(g.value), 4),
            shown(m, Some(g.paging_window), 4)
        )
    });
    Ok(vec![m.line("+CEDRXRDP", fields)])
}

/// `AT+NPTWEDRXS=<mode>[,<AcT-type>[,<Requested_Paging_time_window>[,<Requested_eDRX_value>]]]`.
fn paging_window_and_edrx(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => {
            let any = format!("({}-{})", shown(m, Some(0), 4), shown(m, Some(0xF), 4));
            return Ok(vec![
                m.line("+NPTWEDRXS", format!("(0-3),({ACT_NB_S1}),{any},{any}"))
            ]);
        }
        Form::Read => {
            let s = requested(m);
            let granted = m.ram.radio.edrx();
            let fields = format!(
                "{ACT_NB_S1},{},{},{},{}",
                shown(m, s.paging_window, 4),
                shown(m, s.edrx_value, 4),
                shown(m, granted.map(|g| g.value), 4),
                shown(m, granted.map(|g| g.paging_window), 4)
            );
            return Ok(vec![m.line("+NPTWEDRXS", fields)]);
        }
        _ => {}
    }
    c.params.expect_count(1..=4)?;
    let mode = edrx_mode(c)?;
    let window = bits_param(c, 2, 4)?;
    let value = bits_param(c, 3, 4)?;
    request(m, |s| set_edrx(s, mode, value, window))
}

/// `AT+NPSMR=<n>`: 1 reports entering (`+NPSMR:1`) and leaving (`+NPSMR:0`) PSM; the read form
/// adds the state when reports are on.
fn psm_status_report(m: &mut Module, c: &Command<'_>) -> HandlerResult {
    match c.form {
        Form::Test => Ok(vec![m.line("+NPSMR", "(0,1)")]),
        Form::Read if m.ram.npsmr => {
            let state = u8::from(m.ram.radio.in_deep_sleep());
            Ok(vec![m.line("+NPSMR", format!("1,{state}"))])
        }
        Form::Read => Ok(vec![m.line("+NPSMR", 0)]),
        _ => {
            c.params.expect_count(1..=1)?;
            m.ram.npsmr = c.params.int(0, 0..=1)? == 1;
            Ok(vec![])
        }
    }
}
