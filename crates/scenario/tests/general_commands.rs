//! The general command set of issue 17 §1 on every model, byte for byte: 27.007 identity,
//! contexts, operator selection, network time and error reports, the Quectel family's own
//! commands, and AT+CLAC. Every bound is tried one past each end, and bad input must change
//! nothing.

use nbmodem_at::Form;
use nbmodem_module::errors::ErrorKind;
use nbmodem_module::profile::{AddressStyle, ClockStyle};
use nbmodem_module::{Profile, PROFILES};
use nbmodem_scenario::expected::{line, ok, ERROR};
use nbmodem_scenario::Bench;
use std::net::SocketAddr;
use std::time::Duration;

/// The answer to a refused parameter under AT+CMEE=1.
fn invalid(p: &Profile) -> String {
    cme(p, ErrorKind::InvalidParameter)
}

fn cme(p: &Profile, kind: ErrorKind) -> String {
    format!("\r\n+CME ERROR: {}\r\n", p.errors.lookup(kind).code)
}

/// Booted, echo off, numeric errors, and attached (at 3 s).
fn attached(p: &Profile) -> Bench {
    let mut b = Bench::booted(p.model);
    b.at("ATE0");
    b.at("AT+CMEE=1");
    b.advance(Duration::from_secs(2));
    b.take_raw();
    b
}

fn has(p: &Profile, command: &str) -> bool {
    p.commands().lookup(command).is_some()
}

/// Commands of the general set each model's manual does not list stay unknown there.
#[test]
fn commands_follow_each_models_manual() {
    for p in PROFILES {
        let mut b = attached(p);
        let soc = p.separator == ": ";
        for (command, on_soc, on_neul) in [
            ("AT+GSN", true, false),
            ("AT+IPR?", true, false),
            ("AT&W", true, false),
            ("AT+CGCONTRDP", true, false),
            ("AT+QBAND?", true, false),
            ("AT+QPOWD=?", true, false),
            ("AT+CGMI", true, true),
            ("AT+CCLK?", true, true),
        ] {
            let listed = if soc { on_soc } else { on_neul };
            assert_eq!(b.at(command) != ERROR, listed, "{} {command}", p.model);
        }
        let cgreg = b.at("AT+CGREG?");
        assert_eq!(
            cgreg != ERROR,
            matches!(p.model, "BC26" | "BC20"),
            "{}",
            p.model
        );
    }
}

#[test]
fn identity_of_every_model() {
    for p in PROFILES {
        let mut b = attached(p);
        let id = p.identification;
        assert_eq!(b.at("AT+CGMI"), ok(&[id.manufacturer]), "{}", p.model);
        assert_eq!(b.at("AT+CGMM"), ok(&[id.product]));
        assert_eq!(b.at("AT+CGMI=?"), ok(&[]));
        if has(p, "+GSN") {
            assert_eq!(b.at("AT+GSN"), ok(&["865975030000001"]));
        }
    }
}

/// AT+CLAC names exactly what the firmware accepts: every line answers, every command of the
/// table is there, and a command of a firmware feature the revision lacks is not.
#[test]
fn clac_lists_exactly_the_commands_the_model_accepts() {
    for p in PROFILES {
        let mut b = attached(p);
        let answer = b.at("AT+CLAC");
        let listed: Vec<&str> = answer
            .trim_end_matches("\r\n\r\nOK\r\n")
            .trim_start_matches("\r\n")
            .split("\r\n")
            .collect();
        let expected: Vec<String> = p
            .commands()
            .names()
            .filter(|n| !n.is_empty())
            .map(|n| format!("AT{n}"))
            .collect();
        assert_eq!(listed, expected, "{}", p.model);
        // Each answers in a form it takes without parameters: the test form where it has one.
        for command in listed {
            let forms = p.commands().lookup(&command[2..]).unwrap().forms;
            let suffix = if forms.accepts(Form::Test) {
                "=?"
            } else if forms.accepts(Form::Read) {
                "?"
            } else if forms.accepts(Form::Execute) {
                ""
            } else {
                continue;
            };
            assert_ne!(b.at(&format!("{command}{suffix}")), ERROR, "{command}");
        }
    }
    let mut r01 = Bench::new(nbmodem_scenario::ModuleSetup {
        firmware: Some("BC260YCNAAR01A03".into()),
        ..nbmodem_scenario::ModuleSetup::model("BC260Y-CN")
    })
    .unwrap();
    r01.power_on();
    r01.advance(Duration::from_secs(1));
    r01.take_raw();
    r01.at("ATE0");
    let clac = r01.at("AT+CLAC");
    assert!(clac.contains("AT+QSREGENABLE") && !clac.contains("AT+NCDPOPEN"));
    let mut bc95 = Bench::new(nbmodem_scenario::ModuleSetup {
        firmware: Some("BC95HBR02A01".into()),
        ..nbmodem_scenario::ModuleSetup::model("BC95")
    })
    .unwrap();
    bc95.power_on();
    bc95.advance(Duration::from_secs(5));
    bc95.take_raw();
    assert!(
        !bc95.at("AT+CLAC").contains("AT+DMPCONFIG"),
        "not on non-ONT firmware"
    );
}

/// AT+CGATT=0 and =1: a real detach and attach, with the URCs that follow.
#[test]
fn detach_and_attach_with_their_urcs() {
    for p in PROFILES {
        let mut b = attached(p);
        b.at("AT+CEREG=1");
        b.at("AT+CSCON=1");
        let cscon = |state: u8| format!("\r\n+CSCON{}{state}\r\n", p.cscon_urc_separator);
        let cereg = |stat: &str| format!("\r\n{}\r\n", line(p, "+CEREG", stat));
        assert_eq!(
            b.at("AT+CGATT=0"),
            format!("\r\nOK\r\n{}{}", cscon(0), cereg("0")),
            "{}",
            p.model
        );
        let none = line(p, "+CGPADDR", "");
        assert!(!b.at("AT+CGPADDR").contains(&none), "no address detached");
        assert_eq!(b.at("AT+CGATT=1"), format!("\r\nOK\r\n{}", cereg("2")));
        b.advance(Duration::from_secs(2));
        assert_eq!(
            String::from_utf8(b.take_raw()).unwrap(),
            format!("{}{}", cereg("1"), cscon(1))
        );
        assert_eq!(b.at("AT+CGATT=2"), invalid(p), "one past the end");
        assert_eq!(b.at("AT+CGATT?"), ok(&[&line(p, "+CGATT", "1")]));
    }
}

/// AT+COPS set forms: registration follows the SIM's PLMN.
#[test]
fn operator_selection_follows_the_sims_network() {
    for p in PROFILES {
        let mut b = attached(p);
        let plmn = b.module().sim().plmn().to_string();
        let registered = line(p, "+COPS", &format!("1,2,\"{plmn}\",9"));
        assert_eq!(b.at(&format!("AT+COPS=1,2,\"{plmn}\"")), ok(&[]));
        b.advance(Duration::from_secs(2));
        assert_eq!(b.at("AT+COPS?"), ok(&[&registered]), "{}", p.model);
        // Another network: never registered, searching, and AT+CEER says why.
        assert_eq!(b.at("AT+COPS=1,2,\"46099\""), ok(&[]));
        b.advance(Duration::from_secs(60));
        assert_eq!(b.at("AT+CEREG?"), ok(&[&line(p, "+CEREG", "0,2")]));
        assert_eq!(b.at("AT+COPS?"), ok(&[&line(p, "+COPS", "1")]));
        assert_eq!(
            b.at("AT+CEER"),
            ok(&[&line(p, "+CEER", "\"PLMN not allowed\"")])
        );
        // Bad input changes nothing.
        for bad in [
            "AT+COPS=5",
            "AT+COPS=1",
            "AT+COPS=1,1,\"46004\"",
            "AT+COPS=1,2,\"4600\"",
            "AT+COPS=1,2,\"4600411\"",
            "AT+COPS=1,2,\"46a04\"",
            "AT+COPS=0,2,\"46004\",9",
        ] {
            assert_eq!(b.at(bad), invalid(p), "{} {bad}", p.model);
        }
        assert_eq!(b.at("AT+COPS?"), ok(&[&line(p, "+COPS", "1")]));
        // Deregistered, then automatic again.
        assert_eq!(b.at("AT+COPS=2"), ok(&[]));
        b.advance(Duration::from_secs(10));
        assert_eq!(b.at("AT+COPS?"), ok(&[&line(p, "+COPS", "2")]));
        assert_eq!(b.at("AT+CEREG?"), ok(&[&line(p, "+CEREG", "0,0")]));
        assert_eq!(b.at("AT+COPS=0"), ok(&[]));
        b.advance(Duration::from_secs(2));
        let automatic = line(p, "+COPS", &format!("0,2,\"{plmn}\",9"));
        assert_eq!(b.at("AT+COPS?"), ok(&[&automatic]));
        assert_eq!(
            b.at("AT+CEER"),
            ok(&[&line(p, "+CEER", "\"No cause information available\"")])
        );
        // AT+COPS=4 falls back to automatic; AT+COPS=3 sets only the format.
        assert_eq!(b.at("AT+COPS=4,2,\"46099\""), ok(&[]));
        assert_eq!(b.at("AT+COPS=3,2"), ok(&[]));
        assert_eq!(b.at("AT+COPS?"), ok(&[&automatic]));
    }
}

/// AT+CGDCONT is saved; AT+CGACT and AT+CGPADDR follow the contexts.
#[test]
fn contexts_are_defined_activated_and_saved() {
    for p in PROFILES {
        let mut b = attached(p);
        let g = p.general;
        let cid = g.default_cid;
        let other = g.max_cid;
        let ip = b.module().address().unwrap().to_string();
        let address = match g.address_style {
            AddressStyle::Quoted => format!("\"{ip}\""),
            AddressStyle::Bare => ip.clone(),
        };
        let default_line = line(p, "+CGDCONT", &format!("{cid},\"IP\",\"\",\"{ip}\",0,0"));
        assert_eq!(b.at("AT+CGDCONT?"), ok(&[&default_line]), "{}", p.model);
        let set = format!("AT+CGDCONT={other},\"IP\",\"iot.example\"");
        assert_eq!(b.at(&set), ok(&[]));
        let other_line = line(
            p,
            "+CGDCONT",
            &format!("{other},\"IP\",\"iot.example\",,0,0"),
        );
        assert_eq!(b.at("AT+CGDCONT?"), ok(&[&default_line, &other_line]));
        // Bounds and bad input, nothing changed.
        let apn = "a".repeat(101);
        for bad in [
            format!("AT+CGDCONT={},\"IP\",\"x\"", other + 1),
            format!("AT+CGDCONT={other},\"PPP\",\"x\""),
            format!("AT+CGDCONT={other},\"IP\",\"{apn}\""),
            format!("AT+CGDCONT={other},\"IP\",\"x\",,0,0,0"),
            "AT+CGDCONT=-1".to_string(),
        ] {
            assert_eq!(b.at(&bad), invalid(p), "{} {bad}", p.model);
        }
        assert_eq!(b.at("AT+CGDCONT?"), ok(&[&default_line, &other_line]));
        // Activation.
        assert_eq!(
            b.at("AT+CGACT?"),
            ok(&[
                &line(p, "+CGACT", &format!("{cid},1")),
                &line(p, "+CGACT", &format!("{other},0"))
            ])
        );
        assert_eq!(b.at(&format!("AT+CGACT=1,{other}")), ok(&[]));
        let other_address = line(p, "+CGPADDR", &format!("{other},{address}"));
        assert_eq!(b.at(&format!("AT+CGPADDR={other}")), ok(&[&other_address]));
        assert_eq!(b.at(&format!("AT+CGACT=0,{cid}")), ok(&[]));
        assert_eq!(b.at("AT+CGPADDR"), ok(&[&other_address]));
        assert_eq!(b.at("AT+CGACT=2"), invalid(p));
        let undefined = if cid == 0 { 1 } else { 0 };
        assert_eq!(b.at(&format!("AT+CGACT=1,{undefined}")), invalid(p));
        b.at("AT+CFUN=0");
        assert_eq!(
            b.at("AT+CGACT=1"),
            cme(p, ErrorKind::NoNetworkService),
            "no activation without the network"
        );
        // Saved: the definition survives a power cut; the activation does not.
        b.power_off();
        b.power_on();
        b.advance(Duration::from_secs(3));
        b.take_raw();
        b.at("ATE0");
        assert_eq!(
            b.at(&format!("AT+CGACT=0,{other}")),
            ok(&[]),
            "{other} is still defined"
        );
        assert!(b.at("AT+CGDCONT?").contains("iot.example"));
        assert_eq!(b.at(&format!("AT+CGDCONT={other}")), ok(&[]), "undefined");
        assert!(!b.at("AT+CGDCONT?").contains("iot.example"));
    }
}

#[test]
fn context_dynamic_parameters_show_the_apn_and_address() {
    let mut b = attached(nbmodem_module::find_profile("BC26").unwrap());
    let ip = b.module().address().unwrap().to_string();
    let want = format!("+CGCONTRDP: 1,5,\"cmnbiot\",\"{ip}.255.255.255.0\"");
    assert_eq!(b.at("AT+CGCONTRDP"), ok(&[&want]));
    assert_eq!(b.at("AT+CGCONTRDP=1"), ok(&[&want]));
    assert_eq!(b.at("AT+CGCONTRDP=2"), ok(&[]));
    assert_eq!(b.at("AT+CGCONTRDP=16"), "\r\n+CME ERROR: 53\r\n");
    b.at("AT+CGDCONT=1,\"IP\",\"my.apn\"");
    let mine = format!("+CGCONTRDP: 1,5,\"my.apn\",\"{ip}.255.255.255.0\"");
    assert_eq!(b.at("AT+CGCONTRDP"), ok(&[&mine]));
}

/// AT+CCLK: an unset clock until the network gives its time at attach (UTC+8), then local time;
/// the Quectel SoC firmware can set it, the Neul firmware only read it.
#[test]
fn network_time_and_the_clock() {
    for p in PROFILES {
        let mut b = Bench::booted(p.model);
        b.at("ATE0");
        b.at("AT+CMEE=1");
        let quoted = p.general.clock_style == ClockStyle::QuotedLongYear;
        // The year in four digits where quoted.
        let quote = |century: &str, t: &str| {
            if quoted {
                format!("\"{century}{t}\"")
            } else {
                t.to_string()
            }
        };
        assert_eq!(
            b.at("AT+CCLK?"),
            ok(&[&line(p, "+CCLK", &quote("19", "70/01/01,00:00:01+00"))]),
            "{}: the clock counts from power-on (booted at 1 s) until the network's time",
            p.model
        );
        assert_eq!(b.at("AT+CTZR=1"), ok(&[]));
        assert_eq!(b.at("AT+CTZR?"), ok(&[&line(p, "+CTZR", "1")]));
        assert_eq!(b.at("AT+CTZR=4"), invalid(p), "one past the end");
        assert_eq!(b.at("AT+CTZR?"), ok(&[&line(p, "+CTZR", "1")]));
        b.advance(Duration::from_secs(2));
        assert_eq!(
            String::from_utf8(b.take_raw()).unwrap(),
            format!("\r\n{}\r\n", line(p, "+CTZV", "+32"))
        );
        // Attached at 2026-01-01 00:00:03 UTC.
        assert_eq!(
            b.at("AT+CCLK?"),
            ok(&[&line(p, "+CCLK", &quote("20", "26/01/01,08:00:03+32"))])
        );
        let set = b.at("AT+CCLK=\"27/02/03,04:05:06-20\"");
        if quoted {
            assert_eq!(set, ok(&[]));
            b.advance(Duration::from_secs(10));
            let shown = line(p, "+CCLK", "\"2027/02/03,04:05:16-20\"");
            assert_eq!(b.at("AT+CCLK?"), ok(&[&shown]));
            for bad in [
                "\"27/02/29,04:05:06+00\"",
                "\"27/02/03,04:05:06+97\"",
                "\"1927/02/03,04:05:06+00\"",
                "27",
            ] {
                assert_eq!(b.at(&format!("AT+CCLK={bad}")), invalid(p), "{bad}");
            }
            assert_eq!(b.at("AT+CCLK?"), ok(&[&shown]));
            assert_eq!(b.at("AT+CCLK=\"2028/02/29,00:00:00+32\""), ok(&[]));
        } else {
            assert_eq!(set, ERROR, "read only on the Neul firmware");
        }
        // The extended reports of a later attach.
        b.at("AT+CTZR=2");
        b.at("AT+CGATT=0");
        b.at("AT+CGATT=1");
        b.advance(Duration::from_secs(2));
        let out = String::from_utf8(b.take_raw()).unwrap();
        assert!(
            out.contains(&line(p, "+CTZE", "+32,0,\"2026/01/01,")),
            "{out}"
        );
    }
}

#[test]
fn cipca_ipr_and_store() {
    for p in PROFILES {
        let mut b = attached(p);
        assert_eq!(b.at("AT+CIPCA?"), ok(&[&line(p, "+CIPCA", "3,0")]));
        assert_eq!(b.at("AT+CIPCA=3,1"), ok(&[]));
        for bad in ["AT+CIPCA=2,1", "AT+CIPCA=4", "AT+CIPCA=3,2"] {
            assert_eq!(b.at(bad), invalid(p), "{bad}");
        }
        assert_eq!(b.at("AT+CIPCA?"), ok(&[&line(p, "+CIPCA", "3,1")]));
        if !has(p, "+IPR") {
            continue;
        }
        let factory = p.general.baud_default.to_string();
        assert_eq!(b.at("AT+IPR?"), ok(&[&line(p, "+IPR", &factory)]));
        assert_eq!(b.at("AT+IPR=115200"), ok(&[]));
        assert_eq!(b.at("AT+IPR=115201"), invalid(p));
        assert_eq!(b.at("AT&W"), ok(&[]));
        assert_eq!(b.at("AT&W0"), ok(&[]));
        assert_eq!(b.at("AT&W1"), invalid(p));
        b.power_off();
        b.power_on();
        b.advance(Duration::from_secs(1));
        b.take_raw();
        b.at("ATE0");
        assert_eq!(b.at("AT+IPR?"), ok(&[&line(p, "+IPR", "115200")]));
        assert_eq!(b.at("AT+CIPCA?"), ok(&[&line(p, "+CIPCA", "3,1")]));
    }
}

#[test]
fn cgreg_on_the_bc26() {
    let mut b = Bench::booted("BC26");
    b.at("ATE0");
    assert_eq!(b.at("AT+CGREG=1"), ok(&[]));
    assert_eq!(b.at("AT+CGREG?"), ok(&["+CGREG: 1,2"]));
    b.advance(Duration::from_secs(2));
    assert_eq!(b.take_raw(), b"\r\n+CGREG: 1\r\n");
    assert_eq!(b.at("AT+CGREG=2"), ok(&[]));
    assert_eq!(
        b.at("AT+CGREG?"),
        ok(&["+CGREG: 2,1,\"5A3C\",\"0A1B2C3D\""])
    );
    assert_eq!(b.at("AT+CGREG=3"), "\r\n+CME ERROR: 53\r\n");
    assert_eq!(b.at("AT+CGREG=?"), ok(&["+CGREG: (0-2)"]));
}

#[test]
fn bands_are_the_models_and_saved() {
    for p in PROFILES.iter().filter(|p| has(p, "+QBAND")) {
        let mut b = attached(p);
        let bands = p.general.bands;
        let all: Vec<String> = bands.iter().map(u8::to_string).collect();
        assert_eq!(b.at("AT+QBAND?"), ok(&[&line(p, "+QBAND", &all.join(","))]));
        let test = format!("({})", all.join(","));
        assert_eq!(b.at("AT+QBAND=?"), ok(&[&line(p, "+QBAND", &test)]));
        let first = bands[0];
        assert_eq!(b.at(&format!("AT+QBAND=1,{first}")), ok(&[]));
        let absent = (1..=255).find(|b| !bands.contains(b)).unwrap();
        for bad in [
            format!("AT+QBAND=1,{absent}"),
            format!("AT+QBAND=2,{first}"),
            format!("AT+QBAND=2,{first},{first}"),
            format!("AT+QBAND={},{first}", bands.len() + 1),
            format!("AT+QBAND=1,{first},{first}"),
            "AT+QBAND=1,256".to_string(),
        ] {
            assert_eq!(b.at(&bad), invalid(p), "{} {bad}", p.model);
        }
        b.power_off();
        b.power_on();
        b.advance(Duration::from_secs(1));
        b.take_raw();
        b.at("ATE0");
        let one = first.to_string();
        assert_eq!(b.at("AT+QBAND?"), ok(&[&line(p, "+QBAND", &one)]));
        assert_eq!(b.at("AT+QBAND=0"), ok(&[]));
        assert_eq!(b.at("AT+QBAND?"), ok(&[&line(p, "+QBAND", &all.join(","))]));
    }
}

#[test]
fn qcfg_items_of_each_model() {
    for p in PROFILES.iter().filter(|p| has(p, "+QCFG")) {
        let mut b = attached(p);
        for item in p.general.qcfg {
            let read = format!("AT+QCFG=\"{}\"", item.name);
            let value = |v: u8| line(p, "+QCFG", &format!("\"{}\",{v}", item.name));
            assert_eq!(b.at(&read), ok(&[&value(item.default)]), "{}", p.model);
            assert_eq!(b.at(&format!("{read},{}", item.max + 1)), invalid(p));
            if item.min > 0 {
                assert_eq!(b.at(&format!("{read},{}", item.min - 1)), invalid(p));
            }
            assert_eq!(b.at(&read), ok(&[&value(item.default)]), "unchanged");
            assert_eq!(b.at(&format!("{read},{}", item.min)), ok(&[]));
            assert_eq!(b.at(&read), ok(&[&value(item.min)]));
        }
        assert_eq!(b.at("AT+QCFG=\"nosuchitem\",1"), invalid(p));
        assert_eq!(b.at("AT+QCFG=dsevent"), invalid(p), "the item is quoted");
    }
}

/// AT+QCFG="dsevent",0 silences the BC260Y-CN's +QNBIOTEVENT; AT+QATWAKEUP=1 adds +QATSLEEP and
/// +QATWAKEUP.
#[test]
fn deep_sleep_indications() {
    let mut b = Bench::booted("BC260Y-CN");
    b.at("ATE0");
    assert_eq!(b.at("AT+QATWAKEUP=1"), ok(&[]));
    assert_eq!(b.at("AT+QATWAKEUP?"), ok(&["+QATWAKEUP: 1"]));
    assert_eq!(
        b.at("AT+QATWAKEUP=2"),
        ERROR.replace("ERROR", "+CME ERROR: 53")
    );
    b.advance(Duration::from_secs(30));
    assert_eq!(
        String::from_utf8(b.take_raw()).unwrap(),
        "\r\n+QNBIOTEVENT: \"ENTER DEEPSLEEP\"\r\n\r\n+QATSLEEP\r\n"
    );
    assert_eq!(
        b.at("AT+QCFG=\"dsevent\",0"),
        "\r\n+QNBIOTEVENT: \"EXIT DEEPSLEEP\"\r\n\r\n+QATWAKEUP\r\n\r\nOK\r\n"
    );
    b.advance(Duration::from_secs(30));
    assert_eq!(b.take_raw(), b"\r\n+QATSLEEP\r\n");
    assert_eq!(b.at("AT+QATWAKEUP=0"), "\r\n+QATWAKEUP\r\n\r\nOK\r\n");
    b.advance(Duration::from_secs(30));
    assert_eq!(b.take_raw(), b"");
    assert!(b.module().is_in_deep_sleep());
}

#[test]
fn qpowd_powers_down_and_nothing_answers_after() {
    for p in PROFILES.iter().filter(|p| has(p, "+QPOWD")) {
        for n in [0, 1] {
            let mut b = attached(p);
            assert_eq!(b.at("AT+QPOWD=2"), invalid(p));
            assert_eq!(b.at("AT+QPOWD=?"), ok(&[&line(p, "+QPOWD", "(0,1)")]));
            assert_eq!(
                b.at(&format!("AT+QPOWD={n}")),
                "\r\nOK\r\n\r\nPOWERED DOWN\r\n",
                "{}",
                p.model
            );
            assert!(!b.module().is_powered());
            assert_eq!(b.at("AT"), "");
            b.advance(Duration::from_secs(60));
            assert_eq!(b.take_raw(), b"");
            b.power_on();
            b.advance(Duration::from_secs(1));
            assert!(String::from_utf8(b.take_raw()).unwrap().contains("RDY"));
        }
    }
}

/// A stand-in SNTP server: answers each client request with its own time, `offset` ahead of the
/// network's.
struct SntpServer {
    offset_ms: u64,
    outbox: Vec<nbmodem_net::Transmit>,
}

impl nbmodem_net::DatagramNode for SntpServer {
    fn handle_datagram(&mut self, now: nbmodem_clock::Instant, from: SocketAddr, request: &[u8]) {
        let ms = now.unix_millis() + self.offset_ms;
        let seconds = (ms / 1000 + 2_208_988_800) as u32;
        let mut answer = vec![0u8; 48];
        answer[0] = (4 << 3) | 4; // version 4, server
        answer[1] = 1;
        answer[24..32].copy_from_slice(&request[40..48]);
        answer[40..44].copy_from_slice(&seconds.to_be_bytes());
        self.outbox.push(nbmodem_net::Transmit {
            destination: from,
            payload: answer,
        });
    }
    fn poll_transmit(&mut self) -> Option<nbmodem_net::Transmit> {
        self.outbox.pop()
    }
    fn poll_timeout(&self) -> Option<nbmodem_clock::Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: nbmodem_clock::Instant) {}
}

/// AT+QNTP: one SNTP exchange with the server the host names (routed here to a stand-in), the
/// answer's time in the model's AT+CCLK spelling; a silent server, an unknown name and a detached
/// module give their result codes.
#[test]
fn qntp_asks_an_sntp_server() {
    let server: SocketAddr = "127.0.0.7:123".parse().unwrap();
    for p in PROFILES.iter().filter(|p| has(p, "+QNTP")) {
        let mut setup = nbmodem_scenario::ModuleSetup::model(p.model);
        setup
            .routes
            .push("ntp.example=127.0.0.7:123".parse().unwrap());
        setup
            .routes
            .push("silent.example=127.0.0.9:123".parse().unwrap());
        let mut b = Bench::new(setup).unwrap();
        b.attach(
            server,
            SntpServer {
                offset_ms: 3_600_000,
                outbox: Vec::new(),
            },
        );
        b.power_on();
        b.advance(Duration::from_secs(3));
        b.take_raw();
        b.at("ATE0");
        b.at("AT+CMEE=1");
        let cid = p.general.default_cid;
        // Attached at 00:00:03 UTC; the server is an hour ahead: 09:00:03 in UTC+8.
        assert_eq!(
            b.at(&format!("AT+QNTP={cid},\"ntp.example\"")),
            "\r\nOK\r\n\r\n+QNTP: 0,\"2026/01/01,09:00:03+32\"\r\n",
            "{}",
            p.model
        );
        // No answer: 569 after 10 s.
        let silent = format!("AT+QNTP={cid},\"silent.example\",123,1");
        assert_eq!(b.at(&silent), ok(&[]));
        assert_eq!(
            b.at(&format!("AT+QNTP={cid},\"ntp.example\"")),
            "\r\n+CME ERROR: 3\r\n",
            "one query at a time"
        );
        assert_eq!(
            b.next_line(Duration::from_secs(10)),
            Some("+QNTP: 569".into())
        );
        assert_eq!(
            b.at(&format!("AT+QNTP={cid},\"no.such.host\"")),
            "\r\nOK\r\n\r\n+QNTP: 565\r\n"
        );
        for bad in [
            format!("AT+QNTP={},\"ntp.example\"", p.general.max_cid + 1),
            format!("AT+QNTP={cid},\"ntp.example\",0"),
            format!("AT+QNTP={cid},\"ntp.example\",65536"),
            format!("AT+QNTP={cid},\"ntp.example\",123,2"),
            format!("AT+QNTP={cid},\"\""),
            format!("AT+QNTP={cid}"),
        ] {
            assert_eq!(b.at(&bad), invalid(p), "{bad}");
        }
        b.at("AT+CGATT=0");
        assert_eq!(
            b.at(&format!("AT+QNTP={cid},\"ntp.example\"")),
            "\r\nOK\r\n\r\n+QNTP: 561\r\n",
            "no context without the network"
        );
    }
}
