//! China Mobile DM against the stand-in CMDMP server in virtual time: what the server decrypts
//! (identity and the object 666 values), the per-profile retransmission when it is silent, the
//! PLMN restriction, and DM_mode.

use nbmodem_module::SleepControl;
use nbmodem_net::sim::Fate;
use nbmodem_platform::{Addresses, Store};
use nbmodem_scenario::{Bench, ModuleSetup, StandIns, MODULE_IP};
use std::time::Duration;

const KEY: &str = "M100000089";
const PASSWORD: &str = "77GaaTUi33nUK05ha528888QFbk0Y38M";
const IMSI: &str = "460040000000001";

struct World {
    bench: Bench,
    stand_ins: StandIns,
}

/// A module of `model` with a China Mobile SIM beside the stand-in platforms; `commands` are run
/// and the module rebooted so that they are in use.
fn world(model: &str, commands: &[&str]) -> World {
    let mut setup = ModuleSetup::model(model);
    setup.imsi = Some(IMSI.into());
    setup.iccid = Some("89860400000000000001".into());
    let mut stand_ins = StandIns::new(&mut setup).unwrap();
    let mut bench = Bench::new(setup).unwrap();
    stand_ins.attach(&mut bench).unwrap();
    stand_ins.issue_app_key(KEY, PASSWORD).unwrap();
    bench.power_on();
    bench.advance(Duration::from_secs(1));
    bench.at("ATE0");
    // Awake unless a test says otherwise (BC260Y-CN sleeps out of the box; a Neul model has no
    // AT+QSCLK and sleeps only with PSM, which no test here asks for).
    let profile = bench.module().profile();
    let qsclk = matches!(profile.sleep_control, SleepControl::Qsclk { .. });
    let stay_awake = qsclk.then_some("AT+QSCLK=0");
    for command in stay_awake.iter().chain(commands) {
        assert_eq!(bench.at(command), "\r\nOK\r\n", "{command}");
    }
    // Settings take effect at the next boot.
    bench.at(profile.reboot_command);
    bench.advance(Duration::from_secs(1));
    bench.take_raw();
    bench.at("ATE0");
    World { bench, stand_ins }
}

fn credentials() -> String {
    format!("AT+QDMPCFG=2,\"{KEY}\",\"{PASSWORD}\",1,863703030822519")
}

fn dm_state(bench: &mut Bench) -> String {
    bench.at("AT+QDMPCFG=6")
}

#[test]
fn the_server_decrypts_the_identity_and_the_666_values() {
    let mut w = world(
        "BC26",
        &[
            &credentials(),
            "AT+QDMPCFGEX=1,0,\"00-01-6C-06-A6-29\"",
            "AT+QDMPCFGEX=3,0,\"BC26NBR01A07\",\"Quectel\"",
        ],
    );
    w.bench.advance(Duration::from_secs(10));
    assert_eq!(dm_state(&mut w.bench), "\r\n+QDMPCFG: 6,6\r\n\r\nOK\r\n");
    let devices = Store::open(w.stand_ins.data_dir())
        .unwrap()
        .devices()
        .unwrap();
    let [device] = &devices[..] else {
        panic!("{devices:?}")
    };
    assert_eq!(
        (
            device.app_key.as_str(),
            device.imei.as_str(),
            device.imsi.as_str()
        ),
        (KEY, "863703030822519", IMSI)
    );
    assert!(
        device.endpoint.starts_with("L@#@"),
        "terminal type 1 is Linux: {}",
        device.endpoint
    );
    let values: Vec<&str> = device.info.values().map(String::as_str).collect();
    for expected in ["00-01-6C-06-A6-29", "BC26NBR01A07", "Quectel"] {
        assert!(
            values.contains(&expected),
            "{expected} not in {:?}",
            device.info
        );
    }
}

/// With the DM server gone: the seconds (after the reboot) at which `model` sent its Register,
/// and the DM state just before and at `give_up` seconds after the reboot.
fn register_to_a_silent_server(model: &str, give_up: u64) -> (Vec<u64>, String, String) {
    let mut w = world(
        model,
        &["AT+QDMPCFG=1,117.161.2.41,5683,300", &credentials()],
    );
    w.bench.network().detach(Addresses::default().dm);
    w.bench.restart_process().unwrap();
    let start = w.bench.now();
    w.bench.advance(Duration::from_secs(2));
    w.bench.at("ATE0");
    w.bench
        .advance(Duration::from_millis(give_up * 1000 - 1) - w.bench.now().saturating_since(start));
    let early = dm_state(&mut w.bench);
    w.bench.advance(Duration::from_millis(1));
    let late = dm_state(&mut w.bench);
    w.bench.advance(Duration::from_secs(200));
    let sends: Vec<u64> = w
        .bench
        .network()
        .records()
        .iter()
        .filter(|r| r.from.ip() == MODULE_IP && r.sent >= start && r.fate == Fate::NoRoute)
        .map(|r| r.sent.saturating_since(start).as_secs())
        .collect();
    (sends, early, late)
}

#[test]
fn a_silent_server_gets_each_profiles_retransmissions_then_register_timeout() {
    let connected = "\r\n+QDMPCFG: 6,4\r\n\r\nOK\r\n";
    let timeout = "\r\n+QDMPCFG: 6,8\r\n\r\nOK\r\n";
    // Attached at 3 s. BC260Y-CN: 2, 4, 8, 16, 32 s between six sends, "total timeout 128 s"
    // (seed 001 §2.2.3): state 8 at 3 + 128 s, not at the back-off's 126 s.
    let (sends, early, late) = register_to_a_silent_server("BC260Y-CN", 3 + 128);
    assert_eq!(sends, [3, 5, 9, 17, 33, 65]);
    assert_eq!((early.as_str(), late.as_str()), (connected, timeout));
    // The BC25 timing (BC26 here): 2, 4, 8, 16 s between five sends, "total timeout 30 s"
    // (seed 000 §2.3.3): state 8 with the last send, not after another 32 s.
    let (sends, early, late) = register_to_a_silent_server("BC26", 3 + 30);
    assert_eq!(sends, [3, 5, 9, 17, 33]);
    assert_eq!((early.as_str(), late.as_str()), (connected, timeout));
}

#[test]
fn after_a_failed_registration_only_the_next_power_on_registers_again() {
    let mut w = world(
        "BC26",
        &["AT+QDMPCFG=1,117.161.2.41,5683,300", &credentials()],
    );
    w.bench.network().detach(Addresses::default().dm);
    w.bench.restart_process().unwrap();
    w.bench.advance(Duration::from_secs(60));
    w.bench.at("ATE0");
    assert_eq!(dm_state(&mut w.bench), "\r\n+QDMPCFG: 6,8\r\n\r\nOK\r\n");
    let sends = |w: &mut World| {
        w.bench
            .network()
            .records()
            .iter()
            .filter(|r| r.from.ip() == MODULE_IP && r.fate == Fate::NoRoute)
            .count()
    };
    assert_eq!(sends(&mut w), 5);
    // Radio off and on, then a lost and regained attach: no new registration.
    for command in ["AT+CFUN=0", "AT+CFUN=1", "AT+CGATT=0", "AT+CGATT=1"] {
        assert_eq!(w.bench.at(command), "\r\nOK\r\n", "{command}");
        w.bench.advance(Duration::from_secs(60));
    }
    assert_eq!(sends(&mut w), 5, "a radio cycle is not a power-on");
    assert_eq!(dm_state(&mut w.bench), "\r\n+QDMPCFG: 6,8\r\n\r\nOK\r\n");
    w.bench.at("AT+QRST=1");
    w.bench.advance(Duration::from_secs(10));
    assert_eq!(
        sends(&mut w),
        5 + 3,
        "registering again: sends at 3, 5 and 9 s"
    );
}

#[test]
fn bc260y_falls_back_to_the_ip_when_the_dm_domain_does_not_resolve() {
    // No AT+QDMPCFG=1: the default server m.fxltsbl.com, which DNS fails to resolve.
    let mut w = world("BC260Y-CN", &[&credentials()]);
    w.bench
        .module()
        .router_mut()
        .fail_dns(Some("m.fxltsbl.com"));
    w.bench.advance(Duration::from_secs(30));
    assert_eq!(dm_records(&w, "register"), 1, "registered at 117.161.2.41");
    assert_eq!(dm_state(&mut w.bench), "\r\n+QDMPCFG: 6,6\r\n\r\nOK\r\n");
}

#[test]
fn plmn_list_and_dm_mode_restrict_dm() {
    let mut other_plmn = world(
        "BC28",
        &[
            "AT+DMPCONFIG=2,\"M100000089\",\"77GaaTUi33nUK05ha528888QFbk0Y38M\",1,863703030822519",
            "AT+DMPCONFIG=3,46008",
        ],
    );
    other_plmn.bench.advance(Duration::from_secs(30));
    assert_eq!(
        other_plmn.bench.at("AT+DMPCONFIG=6"),
        "\r\n6,0\r\n\r\nOK\r\n",
        "46004 is not in the list"
    );
    let mut allowed = world(
        "BC28",
        &[
            "AT+DMPCONFIG=2,\"M100000089\",\"77GaaTUi33nUK05ha528888QFbk0Y38M\",1,863703030822519",
            "AT+DMPCONFIG=3,46004",
        ],
    );
    allowed.bench.advance(Duration::from_secs(30));
    assert_eq!(allowed.bench.at("AT+DMPCONFIG=6"), "\r\n6,6\r\n\r\nOK\r\n");
    let mut off = world("BC26", &[&credentials(), "AT+QDMPCFG=0,0"]);
    off.bench.advance(Duration::from_secs(30));
    assert_eq!(dm_state(&mut off.bench), "\r\n+QDMPCFG: 6,0\r\n\r\nOK\r\n");
    let devices = Store::open(off.stand_ins.data_dir()).unwrap().devices();
    assert!(devices.unwrap().is_empty());
}

#[test]
fn the_default_update_period_is_24_hours() {
    let mut w = world("BC26", &[&credentials()]);
    w.bench.advance(Duration::from_secs(10));
    assert_eq!(dm_state(&mut w.bench), "\r\n+QDMPCFG: 6,6\r\n\r\nOK\r\n");
    w.bench.advance(Duration::from_secs(86_400 - 20));
    assert_eq!(
        dm_state(&mut w.bench),
        "\r\n+QDMPCFG: 6,6\r\n\r\nOK\r\n",
        "not yet"
    );
    w.bench.advance(Duration::from_secs(20));
    assert_eq!(
        dm_state(&mut w.bench),
        "\r\n+QDMPCFG: 6,11\r\n\r\nOK\r\n",
        "updated 24 h after registering"
    );
    let updates = Store::open(w.stand_ins.data_dir())
        .unwrap()
        .records(nbmodem_platform::Server::Dm)
        .unwrap();
    assert!(
        updates.iter().any(|r| r.operation == "update"),
        "the server recorded the Update"
    );
}

/// The DM records of the stand-in server with this operation ("register", "update"…).
fn dm_records(w: &World, operation: &str) -> usize {
    Store::open(w.stand_ins.data_dir())
        .unwrap()
        .records(nbmodem_platform::Server::Dm)
        .unwrap()
        .iter()
        .filter(|r| r.operation == operation)
        .count()
}

#[test]
fn bc25_family_sends_no_update_in_deep_sleep() {
    let mut w = world(
        "BC26",
        &[
            "AT+QDMPCFG=1,117.161.2.41,5683,300",
            &credentials(),
            "AT+QSCLK=1",
        ],
    );
    w.bench.advance(Duration::from_secs(60));
    assert_eq!(dm_records(&w, "register"), 1);
    assert!(
        w.bench.module().is_in_deep_sleep(),
        "idle after registering"
    );
    w.bench.advance(Duration::from_secs(1000));
    assert!(w.bench.module().is_in_deep_sleep());
    assert_eq!(
        dm_records(&w, "update"),
        0,
        "updates due in deep sleep are skipped"
    );
    assert_eq!(
        dm_state(&mut w.bench),
        "\r\n+QDMPCFG: 6,9\r\n\r\nOK\r\n",
        "the lifetime (period + 46 s) ran out"
    );
    // Kept awake, the module sends the next Update when it is due; the skipped ones let the
    // registration's lifetime (period + 46 s) run out, so the server answers 4.04 and the module
    // registers again.
    w.bench.at("AT+QSCLK=0");
    w.bench.advance(Duration::from_secs(300));
    assert_eq!(dm_records(&w, "update"), 1);
    assert_eq!(dm_records(&w, "register"), 2);
    assert!(!w.bench.module().is_in_deep_sleep());
    w.bench.advance(Duration::from_secs(300));
    assert_eq!(dm_records(&w, "update"), 2);
    assert_eq!(dm_state(&mut w.bench), "\r\n+QDMPCFG: 6,11\r\n\r\nOK\r\n");
}

#[test]
fn bc260y_dm_update_wakes_the_module() {
    let mut w = world(
        "BC260Y-CN",
        &[
            "AT+QDMPCFG=1,117.161.2.41,5683,300",
            &credentials(),
            "AT+QSCLK=1",
        ],
    );
    let start = w.bench.now();
    let enter = "\r\n+QNBIOTEVENT: \"ENTER DEEPSLEEP\"\r\n";
    let exit = "\r\n+QNBIOTEVENT: \"EXIT DEEPSLEEP\"\r\n";
    let urcs = |w: &mut World| String::from_utf8(w.bench.take_raw()).unwrap();
    w.bench.advance(Duration::from_secs(60));
    assert_eq!(urcs(&mut w), enter, "asleep once registered and idle");
    assert_eq!(dm_records(&w, "register"), 1);
    // Registered at attach (2 s after `start`): the Update is due 300 s later and wakes the
    // module; 20 s after the exchange the connection is released and the module sleeps again.
    w.bench
        .advance(Duration::from_secs(301) - w.bench.now().saturating_since(start));
    assert_eq!(urcs(&mut w), "");
    w.bench.advance(Duration::from_secs(1));
    assert_eq!(urcs(&mut w), exit);
    assert_eq!(dm_records(&w, "update"), 1);
    w.bench.advance(Duration::from_secs(19));
    assert_eq!(urcs(&mut w), "");
    w.bench.advance(Duration::from_secs(1));
    assert_eq!(urcs(&mut w), enter);
    assert_eq!(
        dm_state(&mut w.bench),
        format!("{exit}\r\n+QDMPCFG: 6,11\r\n\r\nOK\r\n")
    );
}

/// A fresh module of `model` (factory NVRAM, firmware `firmware` if given) with a China Mobile
/// SIM beside the stand-ins, ten seconds after power-on: its DM state and the devices the CMDMP
/// server read.
fn out_of_the_box(
    model: &str,
    firmware: Option<&str>,
) -> (String, Vec<nbmodem_platform::DmDevice>) {
    let mut setup = ModuleSetup::model(model);
    setup.imsi = Some(IMSI.into());
    setup.firmware = firmware.map(String::from);
    let mut stand_ins = StandIns::new(&mut setup).unwrap();
    let mut bench = Bench::new(setup).unwrap();
    stand_ins.attach(&mut bench).unwrap();
    bench.power_on();
    bench.advance(Duration::from_secs(10));
    bench.take_raw();
    let command = bench.module().profile().dm.command;
    bench.at("ATE0");
    let state = bench.at(&format!("AT{command}=6"));
    let devices = Store::open(stand_ins.data_dir())
        .unwrap()
        .devices()
        .unwrap();
    (state, devices)
}

#[test]
fn a_factory_module_on_a_china_mobile_sim_registers_with_cmdmp() {
    for profile in nbmodem_module::PROFILES
        .iter()
        .filter(|p| p.operators.contains(&nbmodem_module::Operator::ChinaMobile))
    {
        let (state, devices) = out_of_the_box(profile.model, None);
        let registered = if profile.dm.bare_answers {
            "\r\n6,6\r\n\r\nOK\r\n".to_string()
        } else {
            format!("\r\n{}: 6,6\r\n\r\nOK\r\n", profile.dm.command)
        };
        assert_eq!(state, registered, "{}", profile.model);
        let [device] = &devices[..] else {
            panic!("{}: {devices:?}", profile.model)
        };
        assert_eq!(
            device.app_key, profile.dm.factory_key.app_key,
            "{}",
            profile.model
        );
        assert_eq!(device.imei, "865975030000001", "the module's own IMEI");
        assert!(
            device.endpoint.starts_with("I@#@"),
            "a module: {}",
            device.endpoint
        );
    }
}

#[test]
fn firmware_without_ont_does_not_talk_to_cmdmp() {
    let (state, devices) = out_of_the_box("BC95", Some("BC95HBR02A01"));
    assert_eq!(state, "\r\nERROR\r\n", "no AT+DMPCONFIG on this firmware");
    assert!(devices.is_empty(), "{devices:?}");
    let (state, devices) = out_of_the_box("BC95", Some("BC95HBR02A01_ONT"));
    assert_eq!(state, "\r\n6,6\r\n\r\nOK\r\n");
    assert_eq!(devices.len(), 1);
}
