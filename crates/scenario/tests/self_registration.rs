//! China Telecom and China Unicom self-registration in virtual time against the stand-in registries
//! (behaviour.md §4.2–4.3): the trigger, the exact retransmission and hourly round schedule, DNS
//! failure, the 30-day Unicom renewal, BC260Y-CN's no-retry-when-sleep rule, and deep sleep between
//! rounds.

use nbmodem_clock::VirtualClock;
use nbmodem_platform::{Fault, RequestRecord, Server, Store, Verdict};
use nbmodem_scenario::{Bench, ModuleSetup, StandIns, MODULE_IP};
use std::time::Duration;

const CT_IMSI: &str = "460110000000001";
const CU_IMSI: &str = "460060000000001";

/// How the stand-in registries treat every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Registries {
    Accept,
    /// A failure answer (resultCode "1").
    Reject,
    /// No answer at all.
    Silent,
}

fn setup(model: &str, imsi: &str) -> ModuleSetup {
    let mut setup = ModuleSetup::model(model);
    setup.imsi = Some(imsi.into());
    setup.iccid = Some("89861100000000000042".into());
    setup
}

/// A powered-on module of `model` with a SIM of `imsi`, beside registries behaving as told.
fn bench(model: &str, imsi: &str, registries: Registries) -> (Bench, StandIns) {
    let mut setup = setup(model, imsi);
    let mut stand_ins = StandIns::new(&mut setup).unwrap();
    let mut bench = Bench::new(setup).unwrap();
    stand_ins.attach(&mut bench).unwrap();
    let fault = match registries {
        Registries::Accept => None,
        Registries::Reject => Some(Fault::Reject(u32::MAX)),
        Registries::Silent => Some(Fault::Drop(u32::MAX)),
    };
    for server in [Server::Ct, Server::Cu] {
        stand_ins.set_fault(&mut bench, server, fault).unwrap();
    }
    bench.power_on();
    (bench, stand_ins)
}

/// Restarts the module's process with another firmware installed.
fn update_firmware(bench: &mut Bench, stand_ins: &StandIns, model: &str, firmware: &str) {
    let mut updated = setup(model, CT_IMSI);
    updated.firmware = Some(firmware.into());
    stand_ins.route(&mut updated).unwrap();
    bench.replace_setup(updated);
    bench.restart_process().unwrap();
}

/// The registrations `server` accepted.
fn accepted(stand_ins: &StandIns, server: Server) -> Vec<RequestRecord> {
    let mut records = Store::open(stand_ins.data_dir())
        .unwrap()
        .records(server)
        .unwrap();
    records.retain(|r| r.verdict == Verdict::Accepted);
    records
}

/// Seconds since the bench started at which a record was made.
fn seconds(record: &RequestRecord) -> u64 {
    (record.time_ms - VirtualClock::DEFAULT_START.unix_millis()) / 1000
}

/// Seconds (since the bench started) at which the module sent datagrams.
fn module_sends(bench: &mut Bench) -> Vec<u64> {
    bench
        .network()
        .records()
        .iter()
        .filter(|r| r.from.ip() == MODULE_IP)
        .map(|r| {
            r.sent
                .saturating_since(VirtualClock::DEFAULT_START)
                .as_secs()
        })
        .collect()
}

/// The BC25 schedule from attach at 3 s: three rounds an hour after each other's give-up, each
/// sent at 0, 3, 9, 21 and 45 s and given up at 93 s.
fn bc25_rounds() -> Vec<u64> {
    let round = |start: u64| [start, start + 3, start + 9, start + 21, start + 45];
    [3, 3 + 93 + 3600, 3 + 2 * (93 + 3600)]
        .into_iter()
        .flat_map(round)
        .collect()
}

/// Lets time run until `second` (since the bench started); whether the module is in deep sleep then.
fn asleep_at(bench: &mut Bench, second: u64) -> bool {
    bench.advance(Duration::from_secs(second) - bench.elapsed());
    bench.module().is_in_deep_sleep()
}

#[test]
fn china_telecom_registers_once_per_identity() {
    let (mut bench, stand_ins) = bench("BC25", CT_IMSI, Registries::Accept);
    bench.advance(Duration::from_secs(10));
    let records = accepted(&stand_ins, Server::Ct);
    let [record] = &records[..] else {
        panic!("{records:?}")
    };
    assert_eq!(seconds(record), 3, "boot 1 s + attach 2 s");
    let field = |name: &str| record.fields[name].as_str().unwrap_or_default().to_string();
    assert_eq!(
        ["regver", "meid", "model", "swver", "imsi"].map(field),
        ["2", "865975030000001", "QUE-BC25", "BC25PAR01A04", CT_IMSI]
    );
    assert!(bench
        .store()
        .content()
        .unwrap()
        .contains("\"china_telecom\""));
    // The same identity after a reboot: nothing to do. A new firmware: registers again.
    bench.power_off();
    bench.power_on();
    bench.advance(Duration::from_secs(10));
    assert_eq!(accepted(&stand_ins, Server::Ct).len(), 1);
    update_firmware(&mut bench, &stand_ins, "BC25", "BC25PAR01A03");
    bench.advance(Duration::from_secs(10));
    assert_eq!(accepted(&stand_ins, Server::Ct).len(), 2);
}

#[test]
fn bc25_retransmits_at_3_6_12_24_s_and_retries_twice_an_hour_apart() {
    let (mut bench, _stand_ins) = bench("BC25", CT_IMSI, Registries::Silent);
    bench.advance(Duration::from_secs(4 * 3600));
    assert_eq!(module_sends(&mut bench), bc25_rounds());
}

#[test]
fn bc25_retry_wakes_the_module_from_deep_sleep() {
    let (mut bench, _stand_ins) = bench("BC25", CT_IMSI, Registries::Silent);
    bench.advance(Duration::from_secs(1));
    bench.at("AT+QSCLK=1");
    // Rounds start at 3 s (attach), 3696 s and 7389 s; each is given up 93 s after its first send.
    // The exchange in flight keeps the module awake; between rounds it sleeps, and the retry
    // wakes it.
    for start in [3, 3 + 93 + 3600, 3 + 2 * (93 + 3600)] {
        assert!(
            !asleep_at(&mut bench, start),
            "awake for the round at {start} s"
        );
        assert!(!asleep_at(&mut bench, start + 92), "exchange in flight");
        assert!(
            asleep_at(&mut bench, start + 93),
            "given up at {} s",
            start + 93
        );
        assert!(asleep_at(&mut bench, start + 3599));
    }
    assert_eq!(
        module_sends(&mut bench),
        bc25_rounds(),
        "the schedule is unchanged"
    );
    assert!(
        asleep_at(&mut bench, 5 * 3600),
        "nothing more until the next boot"
    );
}

#[test]
fn after_giving_up_only_the_next_power_on_registers_again() {
    for (model, imsi) in [("BC25", CT_IMSI), ("BC25", CU_IMSI)] {
        let (mut bench, _stand_ins) = bench(model, imsi, Registries::Silent);
        bench.advance(Duration::from_secs(3 * 3600));
        assert_eq!(
            module_sends(&mut bench),
            bc25_rounds(),
            "given up after three rounds"
        );
        bench.take_raw();
        // Radio off and on, then a lost and regained attach: not a power-on (seed 000 §2.1.3,
        // §2.2.3: "下次开机才会再次触发").
        for command in ["AT+CFUN=0", "AT+CFUN=1", "AT+CGATT=0", "AT+CGATT=1"] {
            assert_eq!(bench.at(command), "\r\nOK\r\n", "{command}");
            bench.advance(Duration::from_secs(300));
        }
        assert_eq!(module_sends(&mut bench).len(), 15, "{imsi}: nothing new");
        bench.at("AT+QRST=1");
        bench.advance(Duration::from_secs(10));
        assert_eq!(
            module_sends(&mut bench).len(),
            15 + 2,
            "{imsi}: the reboot starts a round (sends 3 and 6 s after it)"
        );
    }
}

#[test]
fn a_detached_module_sends_nothing() {
    let (mut bench, _stand_ins) = bench("BC25", CT_IMSI, Registries::Silent);
    bench.advance(Duration::from_secs(4));
    bench.at("AT+CGATT=0");
    bench.advance(Duration::from_secs(200));
    assert_eq!(
        module_sends(&mut bench),
        [3],
        "the retransmissions are lost"
    );
}

#[test]
fn a_failure_answer_fails_the_round() {
    let (mut bench, stand_ins) = bench("BC25", CT_IMSI, Registries::Reject);
    bench.advance(Duration::from_secs(3 * 3600));
    let records = Store::open(stand_ins.data_dir())
        .unwrap()
        .records(Server::Ct)
        .unwrap();
    let times: Vec<u64> = records.iter().map(seconds).collect();
    assert_eq!(times, [3, 3603, 7203], "each round answered at once");
    assert!(!bench
        .store()
        .content()
        .unwrap()
        .contains("\"china_telecom\": {"));
}

#[test]
fn dns_failure_fails_rounds_without_sending() {
    let (mut bench, _stand_ins) = bench("BC25", CT_IMSI, Registries::Accept);
    bench.module().router_mut().fail_dns(Some("zzhc.vnet.cn"));
    bench.advance(Duration::from_secs(5 * 3600));
    assert!(module_sends(&mut bench).is_empty());
}

#[test]
fn china_unicom_registers_again_after_30_days() {
    let (mut bench, stand_ins) = bench("BC25", CU_IMSI, Registries::Accept);
    bench.advance(Duration::from_secs(29 * 86_400));
    let records = accepted(&stand_ins, Server::Cu);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].fields["model"], "QUE-BC25");
    bench.advance(Duration::from_secs(86_400 + 10));
    let records = accepted(&stand_ins, Server::Cu);
    assert_eq!(
        records.iter().map(seconds).collect::<Vec<_>>(),
        [3, 3 + 30 * 86_400],
        "30 days after the first"
    );
    // Across a reboot too: the date is kept in NVRAM.
    bench.power_off();
    bench.advance(Duration::from_secs(31 * 86_400));
    bench.power_on();
    bench.advance(Duration::from_secs(10));
    assert_eq!(accepted(&stand_ins, Server::Cu).len(), 3);
}

#[test]
fn the_china_unicom_renewal_wakes_the_module() {
    let (mut bench, stand_ins) = bench("BC25", CU_IMSI, Registries::Accept);
    bench.advance(Duration::from_secs(1));
    bench.at("AT+QSCLK=1");
    // Registered at attach (3 s); asleep from 23 s, when the connection is released.
    assert!(asleep_at(&mut bench, 23));
    let renewal = 3 + 30 * 86_400;
    assert!(asleep_at(&mut bench, renewal - 1));
    assert!(!asleep_at(&mut bench, renewal), "woken to register again");
    assert_eq!(accepted(&stand_ins, Server::Cu).len(), 2);
    assert!(asleep_at(&mut bench, renewal + 20));
}

#[test]
fn bc260y_retries_only_with_sleep_disabled() {
    let (mut with_sleep, _stand_ins) = bench("BC260Y-CN", CT_IMSI, Registries::Silent);
    with_sleep.advance(Duration::from_secs(2));
    with_sleep.at("AT+QSREGENABLE=1");
    with_sleep.at("AT+QSCLK=1");
    with_sleep.power_off();
    with_sleep.power_on();
    // Booted at 3 s, attached at 5 s: the exchange, given up at 98 s, delays deep sleep although
    // the connection was released at 70 s (20 s after the last send, at 50 s).
    assert!(!asleep_at(&mut with_sleep, 97));
    assert!(asleep_at(&mut with_sleep, 98));
    with_sleep.advance(Duration::from_secs(4 * 3600));
    assert!(with_sleep.module().is_in_deep_sleep());
    assert_eq!(
        module_sends(&mut with_sleep).len(),
        5,
        "one round, no retry: {:?}",
        module_sends(&mut with_sleep)
    );

    let (mut without, _stand_ins) = bench("BC260Y-CN", CT_IMSI, Registries::Silent);
    without.advance(Duration::from_secs(2));
    without.at("AT+QSREGENABLE=1");
    without.at("AT+QSCLK=0");
    without.power_off();
    without.power_on();
    without.advance(Duration::from_secs(4 * 3600));
    assert_eq!(module_sends(&mut without).len(), 15, "three rounds");
    assert!(!without.module().is_in_deep_sleep());
}

#[test]
fn switched_off_or_other_operators_do_nothing() {
    let (mut off, stand_ins) = bench("BC25", CT_IMSI, Registries::Accept);
    off.advance(Duration::from_secs(10));
    off.at("AT+QSELFREGISTER=0");
    // A new firmware would trigger a registration, but the switch is off from this boot on.
    update_firmware(&mut off, &stand_ins, "BC25", "BC25PAR01A03");
    off.advance(Duration::from_secs(60));
    assert_eq!(
        accepted(&stand_ins, Server::Ct).len(),
        1,
        "only the registration of the first boot"
    );
    let (mut mobile, stand_ins) = bench("BC25", "460040000000001", Registries::Accept);
    mobile.advance(Duration::from_secs(60));
    assert!(accepted(&stand_ins, Server::Ct).is_empty());
    let (mut bc26, stand_ins) = bench("BC26", CT_IMSI, Registries::Accept);
    bc26.advance(Duration::from_secs(60));
    assert!(
        accepted(&stand_ins, Server::Ct).is_empty(),
        "BC26 does no CT self-registration"
    );
}
