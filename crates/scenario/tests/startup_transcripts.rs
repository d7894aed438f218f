//! A driver's start-up on each Quectel model, byte for byte from power-on: the boot URCs, then
//! the commands a driver written for the model sends before it opens a socket, each answered as
//! that model's manual spells it (docs/commands.md names the manual and section of each).
//!
//! The BC26 sequence is the one of RT-Thread's `at_device` BC26 class (ATE0, AT+QSCLK=0, AT+IPR?,
//! ATI, AT+CPIN?, AT+CSQ, AT+CGREG?, AT+CGPADDR=1, AT+GSN; its AT+CEDRXS and AT+CPSMS belong to the
//! radio part). The BC260Y-CN sequence begins as seed 002's transcripts do, then reads what a
//! user's published log of a real BC260Y-CN (BC260YCNAAR02A02) shows: AT+CGMM, AT+CGMR, AT+QBAND?
//! (`5,8,3`), AT+CCLK? (quoted, four-digit year). The values that depend on the SIM (IMSI, ICCID,
//! the address the network gives) and on the time are the test's.

use nbmodem_scenario::expected::ok;
use nbmodem_scenario::{Bench, ModuleSetup};
use std::time::Duration;

const IMEI: &str = "865975030000001";

/// Powers the module on and returns what it wrote until it took commands.
fn power_on(model: &str) -> (Bench, String) {
    let mut bench = Bench::new(ModuleSetup::model(model)).unwrap();
    bench.power_on();
    bench.advance(nbmodem_module::BOOT_TIME);
    let boot = String::from_utf8(bench.take_raw()).unwrap();
    (bench, boot)
}

/// Plays `(command, answer)` pairs, each answer exactly as written after the command's echo.
fn transcript(bench: &mut Bench, steps: &[(&str, String)]) {
    for (command, answer) in steps {
        assert_eq!(&bench.at(command), answer, "{command}");
    }
}

/// The address, IMSI and ICCID of the module's SIM, once attached.
fn sim(bench: &mut Bench) -> (String, String, String) {
    let module = bench.module();
    let ip = module.address().expect("attached").to_string();
    let sim = module.sim();
    (ip, sim.imsi().to_string(), sim.iccid().to_string())
}

#[test]
fn bc26_and_bc20_start_up_as_rt_threads_driver_expects() {
    for (model, product) in [("BC26", "Quectel_BC26"), ("BC20", "Quectel_BC20")] {
        let (mut b, boot) = power_on(model);
        assert_eq!(boot, "\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n");
        assert_eq!(b.send_raw(b"ATE0\r"), Some(b"ATE0\r".to_vec()));
        assert_eq!(b.take_raw(), b"\r\nOK\r\n");
        let firmware = b.module().firmware().to_string();
        let revision = format!("Revision: {firmware}");
        transcript(
            &mut b,
            &[
                ("AT+QSCLK=0", ok(&[])),
                ("AT+IPR?", ok(&["+IPR: 115200"])),
                ("ATI", ok(&["Quectel_Ltd", product, &revision])),
                ("AT+CPIN?", ok(&["+CPIN: READY"])),
                ("AT+CGREG?", ok(&["+CGREG: 0,2"])),
            ],
        );
        b.advance(Duration::from_secs(2));
        let (ip, imsi, iccid) = sim(&mut b);
        let address = format!("+CGPADDR: 1,{ip}");
        transcript(
            &mut b,
            &[
                ("AT+CSQ", ok(&["+CSQ: 25,99"])),
                ("AT+CGREG?", ok(&["+CGREG: 0,1"])),
                ("AT+CGPADDR=1", ok(&[&address])),
                ("AT+GSN", ok(&[IMEI])),
                ("AT+CIMI", ok(&[&imsi])),
                ("AT+QCCID", ok(&[&format!("+QCCID: {iccid}")])),
                (
                    "AT+QBAND?",
                    ok(&[&format!(
                        "+QBAND: {}",
                        if model == "BC26" {
                            "1,2,3,4,5,8,12,13,17,18,19,20,25,26,28,66"
                        } else {
                            "1,3,5,8,20,28"
                        }
                    )]),
                ),
                (
                    "AT+CGDCONT?",
                    ok(&[&format!("+CGDCONT: 1,\"IP\",\"\",\"{ip}\",0,0")]),
                ),
                ("AT+CCLK?", ok(&["+CCLK: \"2026/01/01,08:00:03+32\""])),
            ],
        );
    }
}

#[test]
fn bc25_and_bc32_start_up() {
    for (model, product, bands) in [
        (
            "BC25",
            "Quectel_BC25",
            "1,2,3,4,5,8,12,13,17,18,19,20,25,28,66,70,85",
        ),
        ("BC32", "Quectel_BC32", "3,5,8"),
    ] {
        let (mut b, boot) = power_on(model);
        assert_eq!(boot, "\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n");
        b.send_raw(b"ATE0\r");
        assert_eq!(b.take_raw(), b"\r\nOK\r\n");
        transcript(
            &mut b,
            &[
                ("AT+CMEE=1", ok(&[])),
                ("AT+CGMI", ok(&["Quectel_Ltd"])),
                ("AT+CGMM", ok(&[product])),
                ("AT+CGSN=1", ok(&[&format!("+CGSN: {IMEI}")])),
                ("AT+IPR?", ok(&["+IPR: 9600"])),
                ("AT+QBAND?", ok(&[&format!("+QBAND: {bands}")])),
                ("AT+CEREG=1", ok(&[])),
            ],
        );
        assert_eq!(
            b.next_line(Duration::from_secs(5)),
            Some("+CEREG: 1".into())
        );
        let (ip, _, _) = sim(&mut b);
        transcript(
            &mut b,
            &[
                ("AT+CEREG?", ok(&["+CEREG: 1,1"])),
                ("AT+CGATT?", ok(&["+CGATT: 1"])),
                ("AT+CGPADDR?", ok(&[&format!("+CGPADDR: 0,\"{ip}\"")])),
                ("AT+COPS?", ok(&["+COPS: 0,2,\"46004\",9"])),
                (
                    "AT+CGDCONT?",
                    ok(&[&format!("+CGDCONT: 0,\"IP\",\"\",\"{ip}\",0,0")]),
                ),
                ("AT+QCFG=\"epco\"", ok(&["+QCFG: \"epco\",1"])),
            ],
        );
    }
}

#[test]
fn bc260y_starts_up_as_seed_002_then_reads_its_settings() {
    let (mut b, boot) = power_on("BC260Y-CN");
    assert_eq!(boot, "\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n");
    b.send_raw(b"ATE0\r");
    assert_eq!(b.take_raw(), b"\r\nOK\r\n");
    transcript(&mut b, &[("AT+QSCLK=0", ok(&[])), ("AT+CSCON=1", ok(&[]))]);
    assert_eq!(b.next_line(Duration::from_secs(5)), Some("+CSCON:1".into()));
    let (ip, _, _) = sim(&mut b);
    transcript(
        &mut b,
        &[
            ("AT+CGPADDR?", ok(&[&format!("+CGPADDR: 0,\"{ip}\"")])),
            ("AT+CGMM", ok(&["Quectel_BC260Y-CN"])),
            ("AT+CGMR", ok(&["Revision: BC260YCNAAR02A01"])),
            ("AT+CEREG?", ok(&["+CEREG: 0,1"])),
            ("AT+CGATT?", ok(&["+CGATT: 1"])),
            ("AT+QBAND?", ok(&["+QBAND: 5,8,3"])),
            ("AT+CCLK?", ok(&["+CCLK: \"2026/01/01,08:00:03+32\""])),
            ("AT+QCFG=\"dsevent\"", ok(&["+QCFG: \"dsevent\",1"])),
            ("AT+COPS?", ok(&["+COPS: 0,2,\"46011\",9"])),
            (
                "AT+CGCONTRDP",
                ok(&[&format!("+CGCONTRDP: 0,5,\"ctnb\",\"{ip}.255.255.255.0\"")]),
            ),
        ],
    );
}
