//! The radio of issue 17 §3 in virtual time: signal values that follow the coverage, PSM with its
//! active time and periodic TAU, eDRX paging, the energy a day costs under two PSM settings, a
//! DFOTA download's throughput per coverage level, and the bounds of each new command
//! (crates/module/src/{coverage,power_saving,radio}.rs, commands/radio.rs). Every time compared
//! is virtual.

use nbmodem_module::coverage::PRESETS;
use nbmodem_module::energy::PowerState;
use nbmodem_module::tap::Tapped;
use nbmodem_module::RadioCondition;
use nbmodem_platform::ctiot::admin::NewTask;
use nbmodem_platform::ctiot::NewDevice;
use nbmodem_platform::Flavour;
use nbmodem_scenario::{Bench, ModuleSetup, StandIns};
use std::time::Duration;

const OK: &str = "\r\nOK\r\n";

/// Information text of `lines` and `OK`, framed as the module frames them.
fn answer(lines: &[&str]) -> String {
    format!("\r\n{}\r\n{OK}", lines.join("\r\n"))
}

/// A booted, attached module with echo off, in `coverage` if given. Its SIM is China Telecom's,
/// which neither BC26 nor BC95 registers anywhere: no traffic of its own keeps it connected.
fn booted(model: &str, coverage: Option<RadioCondition>) -> Bench {
    let mut setup = ModuleSetup::model(model);
    setup.imsi = Some("460110000000001".into());
    setup.coverage = coverage;
    let mut bench = Bench::new(setup).unwrap();
    bench.power_on();
    bench.advance(Duration::from_secs(3));
    bench.take_raw();
    bench.at("ATE0");
    bench
}

fn preset(name: &str) -> RadioCondition {
    PRESETS.iter().find(|(n, _)| *n == name).unwrap().1
}

/// Lets time run until `millis` since the bench started; returns what the module wrote meanwhile.
fn output_until(bench: &mut Bench, millis: u64) -> String {
    bench.advance(Duration::from_millis(millis) - bench.elapsed());
    String::from_utf8(bench.take_raw()).unwrap()
}

#[test]
fn signal_values_follow_the_coverage() {
    let mut b = booted("BC26", None);
    assert_eq!(b.at("AT+CSQ"), answer(&["+CSQ: 25,99"]), "the seeds' value");
    assert_eq!(b.at("AT+CESQ"), answer(&["+CESQ: 99,99,255,255,18,67"]));
    assert_eq!(
        b.at("AT+QENG=0"),
        answer(&["+QENG: 0,2506,2,22,\"0A1B2C3D\",-74,-11,-63,15,5,\"5A3C\",0,-13,1"])
    );
    b.module().set_coverage(preset("edge"));
    assert_eq!(b.at("AT+CSQ"), answer(&["+CSQ: 8,99"]));
    assert_eq!(b.at("AT+CESQ"), answer(&["+CESQ: 99,99,255,255,8,29"]));
    assert_eq!(
        b.at("AT+QENG=0"),
        answer(&["+QENG: 0,2506,2,22,\"0A1B2C3D\",-112,-16,-96,-3,5,\"5A3C\",1,23,1"])
    );
    b.module().set_coverage(preset("deep"));
    assert_eq!(b.at("AT+CSQ"), answer(&["+CSQ: 4,99"]));
    // The radio off: nothing is heard.
    b.at("AT+CFUN=0");
    assert_eq!(b.at("AT+CSQ"), answer(&["+CSQ: 99,99"]));
    assert_eq!(b.at("AT+CESQ"), answer(&["+CESQ: 99,99,255,255,255,255"]));
    assert_eq!(b.at("AT+QENG=0"), OK, "no serving cell");
}

#[test]
fn nuestats_reports_the_radio_cell_bler_and_throughput() {
    let mut b = booted("BC95", Some(preset("edge")));
    let radio = b.at("AT+NUESTATS=RADIO");
    for line in [
        "NUESTATS:RADIO,Signal power,-1120",
        "NUESTATS:RADIO,Total power,-964",
        "NUESTATS:RADIO,TX power,230",
        "NUESTATS:RADIO,Cell ID,169552957",
        "NUESTATS:RADIO,ECL,1",
        "NUESTATS:RADIO,SNR,-30",
        "NUESTATS:RADIO,EARFCN,2506",
        "NUESTATS:RADIO,PCI,22",
        "NUESTATS:RADIO,RSRQ,-156",
        "NUESTATS:RADIO,OPERATOR MODE,4",
    ] {
        assert!(
            radio.contains(&format!("\r\n{line}\r\n")),
            "{line} in {radio}"
        );
    }
    assert_eq!(
        b.at("AT+NUESTATS=CELL"),
        answer(&["NUESTATS:CELL,2506,22,1,-1120,-156,-964,-30"])
    );
    assert_eq!(
        b.at("AT+NUESTATS=THP"),
        answer(&[
            "NUESTATS:THP,RLC UL,5000",
            "NUESTATS:THP,RLC DL,10000",
            "NUESTATS:THP,MAC UL,5000",
            "NUESTATS:THP,MAC DL,10000"
        ])
    );
    assert!(b
        .at("AT+NUESTATS=BLER")
        .contains("NUESTATS:BLER,RLC UL BLER,50"));
    let all = b.at("AT+NUESTATS=all");
    assert_eq!(all.matches("NUESTATS:").count(), 12 + 1 + 10 + 4);
    assert!(b.at("AT+NUESTATS").contains("\r\nSignal power:-1120\r\n"));
    assert_eq!(
        b.at("AT+NUESTATS=?"),
        answer(&["+NUESTATS:(RADIO,CELL,BLER,THP,ALL)"])
    );
    for bad in ["AT+NUESTATS=APPS", "AT+NUESTATS=RADIO,1", "AT+NUESTATS="] {
        assert_eq!(b.at(bad), "\r\nERROR\r\n", "{bad}");
    }
}

/// The notices of periodic TAUs the taps saw, as instants since the bench started.
fn periodic_taus(bench: &mut Bench) -> Vec<Duration> {
    let start = bench.now().unix_millis() - bench.elapsed().as_millis() as u64;
    let start = nbmodem_clock::Instant::from_unix_millis(start);
    bench
        .take_tapped()
        .into_iter()
        .filter_map(|t| match t {
            Tapped::Notice(n) if n.text == "periodic TAU" => Some(n.at.saturating_since(start)),
            _ => None,
        })
        .collect()
}

#[test]
fn psm_waits_out_the_active_time_and_wakes_for_a_tau_every_t3412() {
    let mut b = booted("BC26", None);
    b.tap();
    assert_eq!(b.at("AT+CSCON=1"), OK);
    assert_eq!(b.at("AT+QSCLK=1"), OK);
    // T3412 = 2 min (unit 101: 1 min), T3324 = 10 s (unit 000: 2 s).
    assert_eq!(b.at("AT+CPSMS=1,,,\"10100010\",\"00000101\""), OK);
    assert_eq!(
        b.at("AT+CPSMS?"),
        answer(&["+CPSMS: 1,,,\"10100010\",\"00000101\""])
    );
    assert_eq!(output_until(&mut b, 23_000), "\r\n+CSCON: 0\r\n");
    // Released at 23 s: reachable for the active time, asleep at 33 s.
    assert_eq!(output_until(&mut b, 32_999), "");
    assert!(!b.module().is_in_deep_sleep());
    output_until(&mut b, 33_000);
    assert!(b.module().is_in_deep_sleep());
    // The TAUs wake the radio alone: nothing reaches the host, the module stays in PSM.
    assert_eq!(output_until(&mut b, 3_600_000), "");
    assert!(b.module().is_in_deep_sleep());
    let taus = periodic_taus(&mut b);
    assert_eq!(
        taus[0],
        Duration::from_secs(23 + 120),
        "T3412 after the release"
    );
    let gaps: Vec<Duration> = taus.windows(2).map(|w| w[1] - w[0]).collect();
    let tau_time = gaps[0] - Duration::from_secs(120);
    assert!(tau_time > Duration::ZERO && tau_time < Duration::from_secs(2));
    assert!(
        gaps.iter().all(|g| *g == gaps[0]),
        "every T3412 after the last TAU's release: {gaps:?}"
    );
    assert_eq!(
        taus.len(),
        1 + ((3_600 - 143) * 1000 / gaps[0].as_millis()) as usize
    );
    // Each TAU was connected time and airtime in the energy account.
    let account = b.energy();
    let connected = account.entry(PowerState::Connected).time;
    assert_eq!(
        connected,
        Duration::from_secs(20) + tau_time * taus.len() as u32
    );
    assert!(account.entry(PowerState::Transmitting).time > Duration::ZERO);
    // With PSM turned off the module goes back to sleeping at once (AT+QSCLK alone): no TAU.
    assert_eq!(b.at("AT+CPSMS=0"), OK);
    b.advance(Duration::from_secs(3600));
    assert!(periodic_taus(&mut b).is_empty());
    assert!(b.module().is_in_deep_sleep());
}

#[test]
fn a_downlink_in_the_active_time_arrives_and_one_in_psm_is_lost() {
    let mut b = booted("BC26", None);
    b.at("AT+CSCON=1");
    b.at("AT+QSCLK=1");
    b.at("AT+CPSMS=1,,,\"00111000\",\"00000101\"");
    assert_eq!(output_until(&mut b, 23_000), "\r\n+CSCON: 0\r\n");
    assert_eq!(output_until(&mut b, 28_000), "");
    b.datagram_to_module();
    assert_eq!(
        output_until(&mut b, 30_000),
        "\r\n+CSCON: 1\r\n",
        "paged in the active time"
    );
    assert_eq!(output_until(&mut b, 50_000), "\r\n+CSCON: 0\r\n");
    output_until(&mut b, 60_000);
    assert!(b.module().is_in_deep_sleep(), "10 s after the release");
    b.datagram_to_module();
    assert_eq!(output_until(&mut b, 120_000), "", "lost in PSM");
}

#[test]
fn an_edrx_downlink_waits_for_the_paging_time_window() {
    let mut b = booted("BC95", None);
    b.at("AT+CSCON=1");
    // eDRX 20.48 s with a paging time window of 2.56 s.
    assert_eq!(b.at("AT+NPTWEDRXS=1,5,0000,0010"), OK);
    assert_eq!(
        b.at("AT+NPTWEDRXS?"),
        answer(&["+NPTWEDRXS:5,0000,0010,0010,0000"])
    );
    assert_eq!(b.at("AT+CEDRXRDP"), answer(&["+CEDRXRDP:5,0010,0010,0000"]));
    assert_eq!(output_until(&mut b, 23_000), "\r\n+CSCON:0\r\n");
    // Windows open every 20.48 s from the epoch (the cell's hyperframes); find one just past.
    let cycle = 20_480;
    let start = b.now().unix_millis() - b.elapsed().as_millis() as u64;
    let mut at = 23_000;
    while (start + at) % cycle < 2_560 + 1_000 {
        at += 1_000;
    }
    output_until(&mut b, at);
    b.datagram_to_module();
    let paged = at + cycle - (start + at) % cycle;
    assert_eq!(output_until(&mut b, paged - 1), "", "held until the window");
    assert_eq!(output_until(&mut b, paged), "\r\n+CSCON:1\r\n");
    // Connected, a downlink arrives at once.
    b.datagram_to_module();
    assert_eq!(output_until(&mut b, paged + 25_000), "\r\n+CSCON:0\r\n");
}

/// The charge of one day with AT+QSCLK=1 and PSM of periodic TAU `tau` (a GPRS Timer 3 byte);
/// and the TAUs of the day.
fn day_with_psm(tau: &str) -> (f64, usize) {
    let mut b = booted("BC26", None);
    b.tap();
    b.at("AT+QSCLK=1");
    assert_eq!(b.at(&format!("AT+CPSMS=1,,,\"{tau}\",\"00000001\"")), OK);
    b.advance(Duration::from_secs(86_400) - b.elapsed());
    (
        b.energy().total_micro_amp_hours(),
        periodic_taus(&mut b).len(),
    )
}

#[test]
fn a_shorter_periodic_tau_costs_more_energy_a_day() {
    // T3412 = 1 h and 10 min, T3324 = 2 s.
    let (hourly, hourly_taus) = day_with_psm("00100001");
    let (frequent, frequent_taus) = day_with_psm("00000001");
    assert_eq!(
        hourly_taus, 23,
        "at 1h23s, 2h24s… (each TAU lasts about a second)"
    );
    assert!(frequent_taus > 6 * hourly_taus - 10);
    assert!(frequent > hourly, "{frequent} µAh against {hourly} µAh");
    // The difference is the TAUs': the rest of the day (attach, PSM floor) is the same.
    let per_tau = (frequent - hourly) / (frequent_taus - hourly_taus) as f64;
    assert!(per_tau > 5.0 && per_tau < 15.0, "{per_tau} µAh a TAU");
}

/// A BC260Y-CN in `coverage`, its device known to the CT IoT platform, registering with it (sleep
/// off); the bench, the stand-ins and its IMEI.
fn registering_bc260y(coverage: &str) -> (Bench, StandIns, String) {
    let mut setup = ModuleSetup::model("BC260Y-CN");
    setup.coverage = Some(preset(coverage));
    let mut stand_ins = StandIns::new(&mut setup).unwrap();
    let mut bench = Bench::new(setup).unwrap();
    stand_ins.attach(&mut bench).unwrap();
    bench.power_on();
    let imei = bench.module().imei().to_string();
    let device = NewDevice {
        imei: imei.clone(),
        psk: None,
        product: None,
        reply: Some(false),
    };
    stand_ins.add_device(Flavour::Iot, device).unwrap();
    bench.advance(Duration::from_secs(3));
    for command in ["ATE0", "AT+QSCLK=0", "AT+NCDPOPEN=\"180.101.147.115\",5683"] {
        bench.at(command);
    }
    (bench, stand_ins, imei)
}

/// Virtual time from `DOWNLOAD START` to `DOWNLOAD,0` of a 100 KiB DFOTA package on the CT IoT
/// platform, in `coverage`.
fn download_time(coverage: &str) -> Duration {
    let (mut bench, mut stand_ins, imei) = registering_bc260y(coverage);
    bench.advance(Duration::from_secs(10));
    bench.take_raw();
    let source = bench.module().firmware().to_string();
    let bytes = nbmodem_fota::DeltaPackage::make(&source, "BC260YCNAAR02A01_BETA1230A", 102_400, 7)
        .unwrap()
        .encode();
    stand_ins
        .add_package(Flavour::Iot, "p1", bytes, None)
        .unwrap();
    let task = NewTask {
        id: "t1".into(),
        name: None,
        package: "p1".into(),
        group: Some("DFOTA".into()),
        devices: vec![imei],
        retries: 0,
        retry_after_s: 0,
        max_concurrent: 1,
        start: true,
    };
    stand_ins.create_task(Flavour::Iot, task).unwrap();
    bench.at("AT+NMGS=1,00");
    let mut started = None;
    loop {
        let line = bench.next_line(Duration::from_secs(3600));
        let line = line.unwrap_or_else(|| panic!("{coverage}: the download stopped"));
        match line.as_str() {
            "+QIND: \"FOTA\",\"DOWNLOAD START\"" => started = Some(bench.elapsed()),
            "+QIND: \"FOTA\",\"DOWNLOAD\",0" => return bench.elapsed() - started.unwrap(),
            other => assert!(!other.contains("\"DOWNLOAD\","), "{coverage}: {other}"),
        }
    }
}

#[test]
fn a_dfota_download_is_slower_the_deeper_the_coverage() {
    let [good, edge, deep] = ["good", "edge", "deep"].map(download_time);
    // 100 KiB in 512-byte blocks: about 200 exchanges of a GET and its block.
    let rate = |d: Duration| 102_400.0 * 8.0 / d.as_secs_f64();
    assert!(good < edge && edge < deep, "{good:?} {edge:?} {deep:?}");
    assert!(
        rate(good) > 10_000.0 && rate(good) < 25_000.0,
        "{} bit/s",
        rate(good)
    );
    assert!(
        rate(good) / rate(edge) > 2.0,
        "{} against {}",
        rate(good),
        rate(edge)
    );
    assert!(
        rate(edge) / rate(deep) > 2.0,
        "{} against {}",
        rate(edge),
        rate(deep)
    );
}

#[test]
fn a_1_kib_uplink_leaves_when_its_airtime_is_over() {
    for (coverage, millis) in [
        ("good", 20 + 327),
        ("edge", 100 + 1638),
        ("deep", 150 + 8192),
    ] {
        let (mut bench, stand_ins, imei) = registering_bc260y(coverage);
        bench.advance(Duration::from_secs(60));
        let before = stand_ins.uplinks(Flavour::Iot, &imei).unwrap();
        // The platform stores the notification (1024 bytes of data and the CoAP header) once its
        // airtime is over: the access time and 8 bits per byte at the uplink rate.
        bench.at(&format!("AT+NMGS=1024,{}", "00".repeat(1024)));
        let mut waited = Duration::ZERO;
        while stand_ins.uplinks(Flavour::Iot, &imei).unwrap() == before {
            bench.advance(Duration::from_millis(1));
            waited += Duration::from_millis(1);
        }
        assert!(
            waited >= Duration::from_millis(millis)
                && waited < Duration::from_millis(millis * 11 / 10),
            "{coverage}: {waited:?}"
        );
    }
}

#[test]
fn the_power_saving_commands_check_their_bounds_and_change_nothing_on_bad_input() {
    let mut b = booted("BC26", None);
    b.at("AT+CMEE=1");
    let invalid = "\r\n+CME ERROR: 53\r\n";
    let before = b.at("AT+CPSMS?");
    assert_eq!(before, answer(&["+CPSMS: 0,,,,"]));
    for bad in [
        "AT+CPSMS=3",
        "AT+CPSMS=1,,,\"0011100\"",
        "AT+CPSMS=1,,,\"001110001\"",
        "AT+CPSMS=1,,,\"00111002\"",
        "AT+CPSMS=1,,,,\"1\"",
        "AT+CPSMS=1,,,,,1",
    ] {
        assert_ne!(b.at(bad), OK, "{bad}");
        assert_eq!(b.at("AT+CPSMS?"), before, "{bad} changed nothing");
    }
    assert_eq!(b.at("AT+CPSMS=3"), invalid);
    assert_eq!(b.at("AT+CPSMS=2"), OK);
    assert_eq!(
        b.at("AT+CPSMS=?"),
        answer(&["+CPSMS: (0-2),(\"00000000\"-\"11111111\"),(\"00000000\"-\"11111111\"),(\"00000000\"-\"11111111\"),(\"00000000\"-\"11111111\")"])
    );
    // eDRX: modes 0–3, NB-S1 (5) only, four bits.
    assert_eq!(b.at("AT+CEDRXS?"), OK, "nothing enabled");
    for bad in [
        "AT+CEDRXS=4",
        "AT+CEDRXS=1,4,\"0101\"",
        "AT+CEDRXS=1,6,\"0101\"",
        "AT+CEDRXS=1,5,\"01010\"",
        "AT+CEDRXS=1,5,\"010\"",
        "AT+CEDRXS=1,5,\"0101\",1",
    ] {
        assert_ne!(b.at(bad), OK, "{bad}");
        assert_eq!(b.at("AT+CEDRXS?"), OK, "{bad} changed nothing");
    }
    assert_eq!(b.at("AT+CEDRXS=1,4,\"0101\""), "\r\n+CME ERROR: 4\r\n");
    assert_eq!(b.at("AT+CEDRXRDP"), answer(&["+CEDRXRDP: 0"]));
    assert_eq!(b.at("AT+CEDRXS=1,5,\"0101\""), OK);
    assert_eq!(b.at("AT+CEDRXS?"), answer(&["+CEDRXS: 5,\"0101\""]));
    assert_eq!(
        b.at("AT+CEDRXRDP"),
        answer(&["+CEDRXRDP: 5,\"0101\",\"0101\",\"0011\""])
    );
    assert_eq!(b.at("AT+CEDRXS=3"), OK);
    assert_eq!(b.at("AT+CEDRXS?"), OK);
    assert_eq!(
        b.at("AT+CEDRXS=?"),
        answer(&["+CEDRXS: (0-3),(5),(\"0000\"-\"1111\")"])
    );
    // CEREG 4 shows the PSM timers granted; 6 is out of range.
    b.at("AT+CPSMS=1,,,\"00100001\",\"00000101\"");
    assert_eq!(b.at("AT+CEREG=4"), OK);
    assert_eq!(
        b.at("AT+CEREG?"),
        answer(&["+CEREG: 4,1,\"5A3C\",\"0A1B2C3D\",9,,,\"00000101\",\"00100001\""])
    );
    assert_eq!(b.at("AT+CEREG=6"), invalid);
    assert_eq!(b.at("AT+QENG=1"), invalid);
    assert_eq!(b.at("AT+QENG=?"), answer(&["+QENG: (0)"]));
}

#[test]
fn the_neul_commands_check_their_bounds_and_the_psm_report() {
    let mut b = booted("BC95", None);
    assert_eq!(b.at("AT+NPSMR?"), answer(&["+NPSMR:0"]));
    for bad in ["AT+NPSMR=2", "AT+NPSMR=", "AT+NPSMR=1,1"] {
        assert_eq!(b.at(bad), "\r\nERROR\r\n", "{bad}");
    }
    assert_eq!(b.at("AT+NPSMR?"), answer(&["+NPSMR:0"]), "unchanged");
    assert_eq!(b.at("AT+CEDRXRDP=1"), "\r\nERROR\r\n", "no set form");
    assert_eq!(b.at("AT+NPSMR=1"), OK);
    assert_eq!(b.at("AT+NPSMR?"), answer(&["+NPSMR:1,0"]));
    for bad in [
        "AT+NPTWEDRXS=4,5,0000,0010",
        "AT+NPTWEDRXS=1,3,0000,0010",
        "AT+NPTWEDRXS=1,5,00000,0010",
        "AT+NPTWEDRXS=1,5,0000,001",
    ] {
        assert_eq!(b.at(bad), "\r\nERROR\r\n", "{bad}");
    }
    assert_eq!(
        b.at("AT+NPTWEDRXS?"),
        answer(&["+NPTWEDRXS:5,,,,"]),
        "nothing requested, nothing granted"
    );
    // BC95 writes the timers bare.
    assert_eq!(b.at("AT+CPSMS=1,,,00100001,00000001"), OK);
    assert_eq!(b.at("AT+CPSMS?"), answer(&["+CPSMS:1,,,00100001,00000001"]));
    // Saved: a power cycle keeps the request (and AT+NPSMR, in RAM, is off again).
    b.power_off();
    b.power_on();
    b.advance(Duration::from_secs(3));
    b.take_raw();
    assert_eq!(b.at("AT+CPSMS?"), answer(&["+CPSMS:1,,,00100001,00000001"]));
    assert_eq!(b.at("AT+NPSMR?"), answer(&["+NPSMR:0"]));
    assert_eq!(b.at("AT+NPSMR=1"), OK);
    // The PSM report: +NPSMR:1 on entering PSM (the release, then T3324 of 2 s), +NPSMR:0 on
    // leaving it. The PSM grant alone sends a Neul module to sleep: it has no AT+QSCLK.
    b.advance(Duration::from_secs(30));
    assert_eq!(String::from_utf8(b.take_raw()).unwrap(), "\r\n+NPSMR:1\r\n");
    assert_eq!(b.at("AT"), "\r\n+NPSMR:0\r\n\r\nOK\r\n");
}
