//! China Telecom and China Unicom self-registration in virtual time (behaviour.md §4.2–4.3): the
//! trigger, the exact retransmission and hourly round schedule, DNS failure, the 30-day Unicom
//! renewal, and BC260Y-CN's no-retry-when-sleep rule. The registry here is a bare CoAP endpoint
//! that records what it gets; the stand-in platform's registries are exercised by the scenarios.

use nbmodem_clock::Instant;
use nbmodem_coap::{Endpoint, EndpointConfig, Event, Response, Status};
use nbmodem_module::Route;
use nbmodem_net::{DatagramNode, Transmit};
use nbmodem_operators::selfreg::{answer, Record, Registry};
use nbmodem_scenario::{Bench, ModuleSetup, MODULE_ADDRESS};
use std::net::SocketAddr;
use std::time::Duration;

const REGISTRY: &str = "127.0.0.1:15683";
const CT_IMSI: &str = "460110000000001";
const CU_IMSI: &str = "460060000000001";

/// Answers every POST with `code` ("0" is success) and keeps the records.
struct FakeRegistry {
    endpoint: Endpoint,
    registry: Registry,
    code: &'static str,
    records: Vec<(Instant, Record)>,
}

impl FakeRegistry {
    fn new(registry: Registry, code: &'static str) -> Self {
        FakeRegistry {
            endpoint: Endpoint::new(EndpointConfig::default()),
            registry,
            code,
            records: Vec::new(),
        }
    }
}

impl DatagramNode for FakeRegistry {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.endpoint.handle_datagram(now, from, datagram);
        while let Some(event) = self.endpoint.poll_event() {
            if let Event::Request { id, request, .. } = event {
                self.records.push((
                    now,
                    Record::decode(self.registry, &request.payload).unwrap(),
                ));
                let response =
                    Response::new(Status::Content).with_payload(50, answer(self.code, "Success"));
                self.endpoint.respond(now, id, response);
            }
        }
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.endpoint.poll_transmit()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.endpoint.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now)
    }
}

fn setup(model: &str, imsi: &str, host: &str) -> ModuleSetup {
    let mut setup = ModuleSetup::model(model);
    setup.imsi = Some(imsi.into());
    setup.iccid = Some("89861100000000000042".into());
    setup.routes = vec![format!("{host}={REGISTRY}").parse::<Route>().unwrap()];
    setup
}

fn bench(setup: ModuleSetup, registry: Option<FakeRegistry>) -> Bench {
    let mut bench = Bench::new(setup).unwrap();
    if let Some(registry) = registry {
        bench.attach(REGISTRY.parse().unwrap(), registry);
    }
    bench.power_on();
    bench
}

fn registry(bench: &mut Bench) -> &mut FakeRegistry {
    bench.network().node(REGISTRY.parse().unwrap()).unwrap()
}

/// Seconds (since the bench started) at which the module sent datagrams.
fn module_sends(bench: &mut Bench) -> Vec<u64> {
    let start =
        Instant::from_unix_millis(bench.now().unix_millis() - bench.elapsed().as_millis() as u64);
    bench
        .network()
        .records()
        .iter()
        .filter(|r| r.from == MODULE_ADDRESS)
        .map(|r| r.sent.saturating_since(start).as_secs())
        .collect()
}

/// Lets time run until `second` (since the bench started); whether the module is in deep sleep then.
fn asleep_at(bench: &mut Bench, second: u64) -> bool {
    bench.advance(Duration::from_secs(second) - bench.elapsed());
    bench.module().is_in_deep_sleep()
}

#[test]
fn china_telecom_registers_once_per_identity() {
    let mut bench = bench(
        setup("BC25", CT_IMSI, "zzhc.vnet.cn"),
        Some(FakeRegistry::new(Registry::ChinaTelecom, "0")),
    );
    bench.advance(Duration::from_secs(10));
    let records = &registry(&mut bench).records;
    assert_eq!(records.len(), 1);
    let (at, record) = &records[0];
    assert_eq!(
        at.saturating_since(Instant::from_unix_millis(1_767_225_600_000)),
        Duration::from_secs(3),
        "boot 1 s + attach 2 s"
    );
    assert_eq!(
        (
            record.regver.as_str(),
            record.meid.as_str(),
            record.model.as_str(),
            record.swver.as_str(),
            record.imsi.as_str()
        ),
        ("2", "865975030000001", "QUE-BC25", "BC25PAR01A04", CT_IMSI)
    );
    assert!(bench
        .store()
        .content()
        .unwrap()
        .contains("\"ct_registered\""));
    // The same identity after a reboot: nothing to do. A new firmware: registers again.
    bench.power_off();
    bench.power_on();
    bench.advance(Duration::from_secs(10));
    assert_eq!(registry(&mut bench).records.len(), 1);
    let mut updated = setup("BC25", CT_IMSI, "zzhc.vnet.cn");
    updated.firmware = Some("BC25PAR01A03".into());
    bench.replace_setup(updated);
    bench.restart_process().unwrap();
    bench.advance(Duration::from_secs(10));
    assert_eq!(registry(&mut bench).records.len(), 2);
}

#[test]
fn bc25_retransmits_at_3_6_12_24_s_and_retries_twice_an_hour_apart() {
    let mut bench = bench(setup("BC25", CT_IMSI, "zzhc.vnet.cn"), None);
    bench.advance(Duration::from_secs(4 * 3600));
    let round = |start: u64| [start, start + 3, start + 9, start + 21, start + 45];
    let expected: Vec<u64> = [3, 3 + 93 + 3600, 3 + 2 * (93 + 3600)]
        .into_iter()
        .flat_map(round)
        .collect();
    assert_eq!(module_sends(&mut bench), expected);
}

#[test]
fn bc25_retry_wakes_the_module_from_deep_sleep() {
    let mut bench = bench(setup("BC25", CT_IMSI, "zzhc.vnet.cn"), None);
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
    let round = |start: u64| [start, start + 3, start + 9, start + 21, start + 45];
    let expected: Vec<u64> = [3, 3 + 93 + 3600, 3 + 2 * (93 + 3600)]
        .into_iter()
        .flat_map(round)
        .collect();
    assert_eq!(
        module_sends(&mut bench),
        expected,
        "the schedule is unchanged"
    );
    assert!(
        asleep_at(&mut bench, 5 * 3600),
        "nothing more until the next boot"
    );
}

#[test]
fn a_detached_module_sends_nothing() {
    let mut bench = bench(setup("BC25", CT_IMSI, "zzhc.vnet.cn"), None);
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
    let mut bench = bench(
        setup("BC25", CT_IMSI, "zzhc.vnet.cn"),
        Some(FakeRegistry::new(Registry::ChinaTelecom, "1")),
    );
    bench.advance(Duration::from_secs(3 * 3600));
    let times: Vec<u64> = registry(&mut bench)
        .records
        .iter()
        .map(|(t, _)| {
            t.saturating_since(Instant::from_unix_millis(1_767_225_600_000))
                .as_secs()
        })
        .collect();
    assert_eq!(times, [3, 3603, 7203]);
    assert!(!bench
        .store()
        .content()
        .unwrap()
        .contains("\"ct_registered\": {"));
}

#[test]
fn dns_failure_fails_rounds_without_sending() {
    let mut failing = setup("BC25", CT_IMSI, "zzhc.vnet.cn");
    failing.routes.clear();
    let mut bench = bench(failing, None);
    bench.module().router_mut().fail_dns(Some("zzhc.vnet.cn"));
    bench.advance(Duration::from_secs(5 * 3600));
    assert!(module_sends(&mut bench).is_empty());
}

#[test]
fn china_unicom_registers_again_after_30_days() {
    let mut bench = bench(
        setup("BC25", CU_IMSI, "114.255.193.236"),
        Some(FakeRegistry::new(Registry::ChinaUnicom, "0")),
    );
    bench.advance(Duration::from_secs(29 * 86_400));
    assert_eq!(registry(&mut bench).records.len(), 1);
    assert_eq!(registry(&mut bench).records[0].1.model, "QUE-BC25");
    bench.advance(Duration::from_secs(86_400 + 10));
    assert_eq!(
        registry(&mut bench).records.len(),
        2,
        "30 days after the first"
    );
    // Across a reboot too: the date is kept in NVRAM.
    bench.power_off();
    bench.advance(Duration::from_secs(31 * 86_400));
    bench.power_on();
    bench.advance(Duration::from_secs(10));
    assert_eq!(registry(&mut bench).records.len(), 3);
}

#[test]
fn the_china_unicom_renewal_wakes_the_module() {
    let mut bench = bench(
        setup("BC25", CU_IMSI, "114.255.193.236"),
        Some(FakeRegistry::new(Registry::ChinaUnicom, "0")),
    );
    bench.advance(Duration::from_secs(1));
    bench.at("AT+QSCLK=1");
    // Registered at attach (3 s); asleep from 23 s, when the connection is released.
    assert!(asleep_at(&mut bench, 23));
    let renewal = 3 + 30 * 86_400;
    assert!(asleep_at(&mut bench, renewal - 1));
    assert!(!asleep_at(&mut bench, renewal), "woken to register again");
    assert_eq!(registry(&mut bench).records.len(), 2);
    assert!(asleep_at(&mut bench, renewal + 20));
}

#[test]
fn bc260y_retries_only_with_sleep_disabled() {
    let mut with_sleep = bench(setup("BC260Y-CN", CT_IMSI, "zzhc.vnet.cn"), None);
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

    let mut without = bench(setup("BC260Y-CN", CT_IMSI, "zzhc.vnet.cn"), None);
    without.advance(Duration::from_secs(2));
    without.at("AT+QSREGENABLE=1");
    without.power_off();
    without.power_on();
    without.advance(Duration::from_secs(4 * 3600));
    assert_eq!(module_sends(&mut without).len(), 15, "three rounds");
    assert!(!without.module().is_in_deep_sleep());
}

#[test]
fn switched_off_or_other_operators_do_nothing() {
    let mut off = bench(
        setup("BC25", CT_IMSI, "zzhc.vnet.cn"),
        Some(FakeRegistry::new(Registry::ChinaTelecom, "0")),
    );
    off.advance(Duration::from_secs(10));
    off.at("AT+QSELFREGISTER=0");
    // A new firmware would trigger a registration, but the switch is off from this boot on.
    let mut updated = setup("BC25", CT_IMSI, "zzhc.vnet.cn");
    updated.firmware = Some("BC25PAR01A03".into());
    off.replace_setup(updated);
    off.restart_process().unwrap();
    off.advance(Duration::from_secs(60));
    assert_eq!(
        registry(&mut off).records.len(),
        1,
        "only the registration of the first boot"
    );
    let mut mobile = bench(
        setup("BC25", "460040000000001", "zzhc.vnet.cn"),
        Some(FakeRegistry::new(Registry::ChinaTelecom, "0")),
    );
    mobile.advance(Duration::from_secs(60));
    assert!(registry(&mut mobile).records.is_empty());
    let mut bc26 = bench(
        setup("BC26", CT_IMSI, "zzhc.vnet.cn"),
        Some(FakeRegistry::new(Registry::ChinaTelecom, "0")),
    );
    bc26.advance(Duration::from_secs(60));
    assert!(
        registry(&mut bc26).records.is_empty(),
        "BC26 does no CT self-registration"
    );
}
