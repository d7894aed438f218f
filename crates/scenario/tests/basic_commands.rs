//! The basic command set of behaviour.md §2 on every model, byte for byte.

use nbmodem_module::profile::AddressStyle;
use nbmodem_module::{Profile, SleepControl, PROFILES};
use nbmodem_scenario::expected::{line, ok, ERROR};
use nbmodem_scenario::{Bench, ModuleSetup};
use std::time::Duration;

fn each_model(test: impl Fn(&'static Profile, Bench)) {
    for p in PROFILES {
        let mut bench = Bench::booted(p.model);
        bench.at("ATE0");
        test(p, bench);
    }
}

#[test]
fn identification() {
    each_model(|p, mut b| {
        let id = p.identification;
        let revision = format!("{}{}", id.revision_prefix, p.default_firmware);
        assert_eq!(b.at("AT"), ok(&[]));
        assert_eq!(
            b.at("ATI"),
            ok(&[id.manufacturer, id.product, &revision]),
            "{}",
            p.model
        );
        assert_eq!(b.at("AT+CGMR"), ok(&[&revision]));
        assert_eq!(b.at("AT+CGMR=?"), ok(&[]));
    });
}

#[test]
fn the_bc25_and_bc95_look_as_documented() {
    let mut bc25 = Bench::booted("BC25");
    assert_eq!(
        bc25.send_raw(b"ATI\r"),
        Some(b"ATI\r".to_vec()),
        "echo is on"
    );
    assert_eq!(
        bc25.take_raw(),
        b"\r\nQuectel_Ltd\r\nQuectel_BC25\r\nRevision: BC25PAR01A04\r\n\r\nOK\r\n"
    );
    let mut bc95 = Bench::booted("BC95");
    assert_eq!(
        bc95.at("AT+CSQ"),
        "\r\n+CSQ:25,99\r\n\r\nOK\r\n",
        "no echo and no space on the Neul firmware"
    );
}

#[test]
fn serial_numbers_and_sim() {
    each_model(|p, mut b| {
        let imei = "865975030000001";
        assert_eq!(b.at("AT+CGSN"), ok(&[imei]));
        assert_eq!(b.at("AT+CGSN=0"), ok(&[imei]));
        assert_eq!(b.at("AT+CGSN=1"), ok(&[&line(p, "+CGSN", imei)]));
        assert_eq!(
            b.at("AT+CGSN=2"),
            ok(&[&line(p, "+CGSN", "8659750300000001")]),
            "IMEISV: TAC, SNR, SVN"
        );
        assert_eq!(b.at("AT+CGSN=3"), ok(&[&line(p, "+CGSN", "01")]));
        assert_eq!(b.at("AT+CGSN=?"), ok(&[&line(p, "+CGSN", "(0-3)")]));
        assert_ne!(b.at("AT+CGSN=4"), ok(&[]));
        let sim = b.module().sim().clone();
        assert_eq!(b.at("AT+CIMI"), ok(&[sim.imsi()]));
        let iccid_command = if p.separator == ": " {
            "+QCCID"
        } else {
            "+NCCID"
        };
        assert_eq!(
            b.at(&format!("AT{iccid_command}")),
            ok(&[&line(p, iccid_command, sim.iccid())])
        );
        assert_eq!(b.at("AT+CPIN?"), ok(&[&line(p, "+CPIN", "READY")]));
    });
}

#[test]
fn registration_after_boot() {
    each_model(|p, mut b| {
        b.advance(Duration::from_secs(2));
        assert_eq!(b.at("AT+CEREG?"), ok(&[&line(p, "+CEREG", "0,1")]));
        assert_eq!(b.at("AT+CGATT?"), ok(&[&line(p, "+CGATT", "1")]));
        assert_eq!(b.at("AT+CFUN?"), ok(&[&line(p, "+CFUN", "1")]));
        assert_eq!(b.at("AT+CSQ"), ok(&[&line(p, "+CSQ", "25,99")]));
        let plmn = b.module().sim().plmn().to_string();
        assert_eq!(
            b.at("AT+COPS?"),
            ok(&[&line(p, "+COPS", &format!("0,2,\"{plmn}\",9"))])
        );
        let ip = b.module().address().expect("registered").to_string();
        // Quoted on the BC260Y-CN (seed 002) and the BC25 family, bare on the BC26, BC20 and
        // the Neul firmware; context 1 on the BC26 and BC20, 0 elsewhere.
        let general = p.general;
        let address = match general.address_style {
            AddressStyle::Quoted => format!("\"{ip}\""),
            AddressStyle::Bare => ip,
        };
        let cid = general.default_cid;
        assert_eq!(
            b.at("AT+CGPADDR?"),
            ok(&[&line(p, "+CGPADDR", &format!("{cid},{address}"))])
        );
        assert_eq!(b.at(&format!("AT+CGPADDR={cid}")), b.at("AT+CGPADDR"));
        assert_eq!(b.at("AT+CEREG=2"), ok(&[]));
        assert_eq!(
            b.at("AT+CEREG?"),
            ok(&[&line(p, "+CEREG", "2,1,\"5A3C\",\"0A1B2C3D\",9")])
        );
    });
}

#[test]
fn radio_off_and_on_with_registration_urcs() {
    each_model(|p, mut b| {
        b.advance(Duration::from_secs(2));
        assert_eq!(b.at("AT+CEREG=1"), ok(&[]));
        // The URC comes after the final result, never inside the response.
        let off = b.at("AT+CFUN=0");
        assert_eq!(off, format!("\r\nOK\r\n\r\n{}\r\n", line(p, "+CEREG", "0")));
        assert_eq!(b.at("AT+CSQ"), ok(&[&line(p, "+CSQ", "99,99")]));
        assert_eq!(b.at("AT+CGPADDR?"), ok(&[]));
        assert_eq!(b.at("AT+COPS?"), ok(&[&line(p, "+COPS", "0")]));
        assert_eq!(
            b.at("AT+CGATT=1"),
            format!("\r\n{}\r\n", cme(p, "3")),
            "no attach with the radio off"
        );
        assert_eq!(
            b.at("AT+CFUN=1"),
            format!("\r\nOK\r\n\r\n{}\r\n", line(p, "+CEREG", "2"))
        );
        assert_eq!(b.at("AT+CEREG?"), ok(&[&line(p, "+CEREG", "1,2")]));
        assert_eq!(
            b.next_line(Duration::from_secs(5)),
            Some(line(p, "+CEREG", "1"))
        );
        assert_eq!(
            b.elapsed(),
            Duration::from_secs(5),
            "attached 2 s after AT+CFUN=1"
        );
    });
}

/// `+CME ERROR: <n>` under the default AT+CMEE of the profile, or `ERROR` when it is 0.
fn cme(p: &Profile, code: &str) -> String {
    match p.cmee_default {
        nbmodem_at::ResultFormat::Plain => "ERROR".into(),
        _ => format!("+CME ERROR: {code}"),
    }
}

#[test]
fn detach_and_attach() {
    each_model(|p, mut b| {
        b.advance(Duration::from_secs(2));
        assert_eq!(b.at("AT+CGATT=0"), ok(&[]));
        assert_eq!(b.at("AT+CGATT?"), ok(&[&line(p, "+CGATT", "0")]));
        assert_eq!(b.at("AT+CGATT=1"), ok(&[]));
        b.advance(Duration::from_secs(2));
        assert_eq!(b.at("AT+CGATT?"), ok(&[&line(p, "+CGATT", "1")]));
        assert_eq!(b.at("AT+CGATT=?"), ok(&[&line(p, "+CGATT", "(0,1)")]));
    });
}

#[test]
fn signalling_connection_urcs() {
    each_model(|p, mut b| {
        assert_eq!(b.at("AT+CSCON=1"), ok(&[]));
        let urc = |state: u8| format!("+CSCON{}{state}", p.cscon_urc_separator);
        assert_eq!(b.next_line(Duration::from_secs(3)), Some(urc(1)));
        assert_eq!(b.at("AT+CSCON?"), ok(&[&line(p, "+CSCON", "1,1")]));
        assert_eq!(b.next_line(Duration::from_secs(90)), Some(urc(0)));
        // Attached at 3 s. On a default China Mobile SIM the factory module registers with
        // CMDMP (no server answers here): sends at 3, 5, 9, 17 and 33 s, each keeping the
        // connection 20 s more. BC25-B5's default firmware registers with China Telecom on its
        // default SIM: sends at 3, 6, 12, 24 and 48 s, so the connection is first released
        // between 24 and 48 s. BC260Y-CN (China Telecom SIM, self-registration off) is silent.
        let last_traffic = match (p.model, p.operators[0]) {
            ("BC25-B5", _) => 24,
            (_, nbmodem_module::Operator::ChinaMobile) => 33,
            _ => 1 + 2,
        };
        assert_eq!(
            b.elapsed(),
            Duration::from_secs(last_traffic + 20),
            "boot, attach, traffic, 20 s of inactivity"
        );
        // BC260Y-CN's factory AT+QSCLK=1 sends it to deep sleep with the release; the query
        // wakes it.
        let woken = match (p.sleep_control, p.deep_sleep_urcs) {
            (SleepControl::Qsclk { factory: 1 }, Some(urcs)) => vec![urcs.enter, urcs.exit],
            _ => vec![],
        };
        let mut expected: String = woken.iter().map(|u| format!("\r\n{u}\r\n")).collect();
        expected.push_str(&ok(&[&line(p, "+CSCON", "1,0")]));
        assert_eq!(b.at("AT+CSCON?"), expected);
    });
    let mut bc260y = Bench::booted("BC260Y-CN");
    bc260y.at("AT+CSCON=1");
    bc260y.advance(Duration::from_secs(2));
    assert_eq!(
        bc260y.take_raw(),
        b"\r\n+CSCON:1\r\n",
        "seed 002 prints +CSCON:1"
    );
}

#[test]
fn error_reporting_follows_cmee_and_the_profile_table() {
    each_model(|p, mut b| {
        let invalid = p
            .errors
            .lookup(nbmodem_module::errors::ErrorKind::InvalidParameter);
        assert_eq!(b.at("AT+CMEE=0"), ok(&[]));
        assert_eq!(b.at("AT+CEREG=9"), ERROR);
        assert_eq!(b.at("AT+CMEE=1"), ok(&[]));
        assert_eq!(
            b.at("AT+CEREG=9"),
            format!("\r\n+CME ERROR: {}\r\n", invalid.code)
        );
        assert_eq!(b.at("AT+CMEE=2"), ok(&[]));
        assert_eq!(
            b.at("AT+CEREG=9"),
            format!("\r\n+CME ERROR: {}\r\n", invalid.text)
        );
        assert_eq!(b.at("AT+CMEE?"), ok(&[&line(p, "+CMEE", "2")]));
        assert_eq!(b.at("AT+CMEE=?"), ok(&[&line(p, "+CMEE", "(0-2)")]));
        // Syntax errors, unknown commands and unsupported forms are a plain ERROR whatever AT+CMEE says.
        for bad in [
            "AT+NOSUCH",
            "AT+CSQ?",
            "AT+CEREG=\"1",
            "ATE1x",
            "HELLO",
            "AT+CMEE=3",
        ] {
            let want = if bad == "AT+CMEE=3" {
                format!("\r\n+CME ERROR: {}\r\n", invalid.text)
            } else {
                ERROR.into()
            };
            assert_eq!(b.at(bad), want, "{} {bad}", p.model);
        }
    });
}

#[test]
fn cmee_defaults() {
    assert_eq!(
        Bench::booted("BC95").at("AT+CMEE?"),
        "\r\n+CMEE:0\r\n\r\nOK\r\n"
    );
    assert_eq!(
        Bench::booted("BC26").at("AT+CMEE?"),
        "\r\n+CMEE: 1\r\n\r\nOK\r\n"
    );
}

#[test]
fn echo() {
    let mut b = Bench::booted("BC26");
    assert_eq!(b.send_raw(b"AT\r"), Some(b"AT\r".to_vec()));
    b.take_raw();
    // ATE0 is echoed (echo was on when it came); what follows it is not.
    assert_eq!(b.send_raw(b"ATE0\rAT\r"), None);
    assert_eq!(b.take_raw(), b"ATE0\r\r\nOK\r\n\r\nOK\r\n");
    assert_eq!(b.at("ATE1"), ok(&[]));
    assert_eq!(b.send_raw(b"AT\r"), Some(b"AT\r".to_vec()));
    assert_eq!(
        Bench::booted("BC28").send_raw(b"AT\r"),
        None,
        "the Neul firmware does not echo"
    );
}

#[test]
fn sleep_mode_is_saved_to_nvram() {
    each_model(|p, mut b| {
        // Only the models whose sleep AT+QSCLK controls have it.
        let SleepControl::Qsclk { factory } = p.sleep_control else {
            return;
        };
        // Sleep is on out of the box on BC260Y-CN only (seed 002's transcripts disable it first).
        assert_eq!(factory, u8::from(p.model == "BC260Y-CN"), "{}", p.model);
        assert_eq!(b.at("AT+QSCLK=?"), ok(&[&line(p, "+QSCLK", "(0-2)")]));
        assert_eq!(
            b.at("AT+QSCLK?"),
            ok(&[&line(p, "+QSCLK", &factory.to_string())])
        );
        assert_eq!(b.at("AT+QSCLK=1"), ok(&[]));
        assert_eq!(b.at("AT+QSCLK?"), ok(&[&line(p, "+QSCLK", "1")]));
        let content = b.store().content().unwrap();
        assert!(
            content.contains("\"sleep\": {\n      \"mode\": 1"),
            "{content}"
        );
        b.power_off();
        b.power_on();
        b.advance(nbmodem_module::BOOT_TIME);
        b.take_raw();
        b.at("ATE0");
        assert_eq!(b.at("AT+QSCLK?"), ok(&[&line(p, "+QSCLK", "1")]));
        let invalid = p
            .errors
            .lookup(nbmodem_module::errors::ErrorKind::InvalidParameter)
            .code;
        assert_eq!(
            b.at("AT+QSCLK=3"),
            format!("\r\n{}\r\n", cme(p, &invalid.to_string()))
        );
    });
}

#[test]
fn a_failed_nvram_write_reports_memory_failure_and_changes_nothing() {
    let mut b = Bench::booted("BC25");
    b.at("ATE0");
    b.store().fail_writes(true);
    assert_eq!(b.at("AT+QSCLK=2"), "\r\n+CME ERROR: 23\r\n");
    assert_eq!(b.at("AT+QSCLK?"), ok(&["+QSCLK: 0"]));
}

#[test]
fn reboot_with_the_models_command_and_cfun() {
    each_model(|p, mut b| {
        b.at("AT+CMEE=2");
        b.at(p.reboot_command);
        assert!(!b.module().is_ready(), "{} reboots", p.reboot_command);
        b.advance(nbmodem_module::BOOT_TIME);
        b.take_raw();
        b.at("ATE0");
        assert_eq!(
            b.at("AT+CMEE?"),
            ok(&[&line(p, "+CMEE", &p.cmee_default.cmee().to_string())]),
            "RAM settings are lost"
        );
        assert_eq!(b.at("AT+CFUN=1,1"), ok(&[]));
        assert!(!b.module().is_ready(), "AT+CFUN=1,1 reboots");
    });
}

#[test]
fn qrst_reboots_with_the_power_on_banner() {
    each_model(|p, mut b| {
        if p.commands().lookup("+QRST").is_none() {
            return;
        }
        assert_eq!(b.at("AT+QRST=1"), ok(&[]));
        b.advance(nbmodem_module::BOOT_TIME);
        let boot: String = p.boot_urcs.iter().map(|u| format!("\r\n{u}\r\n")).collect();
        assert_eq!(
            String::from_utf8(b.take_raw()).unwrap(),
            boot,
            "{}",
            p.model
        );
        b.at("ATE0");
        assert_eq!(b.at("AT+QRST=?"), ok(&[&line(p, "+QRST", "(1)")]));
        assert_ne!(b.at("AT+QRST=0"), ok(&[]));
    });
}

/// The R2.0 manual of BC35-G, BC28 and BC95 lists neither AT+QSCLK nor AT+QRST: every form is
/// a plain `ERROR`, as an unknown command, and changes nothing.
#[test]
fn qsclk_and_qrst_are_unknown_on_the_neul_models() {
    for model in ["BC95", "BC28", "BC35-G"] {
        let mut b = Bench::booted(model);
        b.at("AT+CMEE=1");
        let before = b.store().content();
        let unknown = b.at("AT+NOSUCH=1");
        assert_eq!(unknown, ERROR, "{model}");
        for command in [
            "AT+QSCLK=?",
            "AT+QSCLK?",
            "AT+QSCLK=1",
            "AT+QSCLK=0",
            "AT+QRST=?",
            "AT+QRST=1",
        ] {
            assert_eq!(b.at(command), ERROR, "{model} {command}");
            assert!(b.module().is_ready(), "{model} {command}: no reboot");
        }
        assert_eq!(b.store().content(), before, "{model}: NVRAM");
        b.advance(Duration::from_secs(3600));
        assert!(
            !b.module().is_in_deep_sleep(),
            "{model}: without a PSM grant the module stays awake"
        );
    }
}

#[test]
fn input_before_boot_and_overlong_lines() {
    let mut b = Bench::new(ModuleSetup::model("BC25")).unwrap();
    b.power_on();
    b.send_raw(b"AT\r");
    assert_eq!(b.take_raw(), b"", "nothing answers before boot");
    b.advance(nbmodem_module::BOOT_TIME);
    b.take_raw();
    b.at("ATE0");
    let long = format!("AT+NMGS=1024,\"{}\",100", "ab".repeat(1024));
    assert_eq!(
        b.at(&long),
        ERROR,
        "a full-size NMGS line fits; the command is unknown here"
    );
    let too_long = format!("AT+X={}", "9".repeat(nbmodem_at::MAX_LINE_LEN));
    assert_eq!(b.at(&too_long), ERROR);
    assert_eq!(b.at("AT"), ok(&[]), "the next line is clean");
    assert_eq!(b.at(""), "", "an empty line gets no answer");
}

#[test]
fn test_forms() {
    each_model(|p, mut b| {
        let cids = format!("({})", p.general.default_cid);
        for (command, range) in [
            ("+CFUN", "(0,1),(0,1)"),
            ("+CEREG", "(0-5)"),
            ("+CGPADDR", cids.as_str()),
            ("+CSQ", "(0-31,99),(0-7,99)"),
            ("+CSCON", "(0,1)"),
        ] {
            assert_eq!(
                b.at(&format!("AT{command}=?")),
                ok(&[&line(p, command, range)])
            );
        }
        let plmn = b.module().sim().plmn().to_string();
        assert_eq!(
            b.at("AT+COPS=?"),
            ok(&[&line(
                p,
                "+COPS",
                &format!("(2,\"\",\"\",\"{plmn}\",9),,(0-4),(2)")
            )])
        );
    });
}
