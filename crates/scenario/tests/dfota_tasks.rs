//! The policies of DFOTA upgrade tasks (seed 002 §5.1.6.1, §5.2.3–5.2.5) in virtual time: BC260Y-CN
//! modules with distinct IMEIs on one network beside the stand-in CT IoT platform and CTWing AEP.
//! A batch task's concurrency limit holds the other devices back until an upgrade ends; a failed
//! attempt is tried again at the device's next contact after the retry delay, as often as the
//! task allows; an AEP task waits for its start; and a task whose package does not fit a
//! device's product, or whose product's profile lacks the upgrade capability, is refused.

use nbmodem_module::node::ModuleNode;
use nbmodem_module::nvram::MemoryStore;
use nbmodem_module::Module;
use nbmodem_platform::ctiot::admin::NewTask;
use nbmodem_platform::ctiot::fota::{Upgrade, UpgradeStatus};
use nbmodem_platform::ctiot::{CodecChoice, NewDevice};
use nbmodem_platform::Flavour;
use nbmodem_scenario::{Bench, ModuleSetup, StandIns};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const SOURCE: &str = "BC260YCNAAR02A01";
const TARGET: &str = "BC260YCNAAR02A01_BETA1230A";
const IMEIS: [&str; 3] = ["865975030000001", "865975030000019", "865975030000027"];
/// The URC of the platform observing /5/0/3: an upgrade begins.
const OBSERVED: &str = "+QLWEVTIND: 8";

/// Where the `n`th module is (the bench's own module stays off).
fn ip(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 101 + n as u8))
}

/// Modules linked to one platform, each with its UART output not yet taken.
struct Fleet {
    bench: Bench,
    stand_ins: StandIns,
    flavour: Flavour,
    output: Vec<String>,
}

impl Fleet {
    /// `count` booted modules, sleep off, each a device of `flavour`, none linked yet.
    fn new(flavour: Flavour, count: usize) -> Fleet {
        let mut setup = ModuleSetup::model("BC260Y-CN");
        let mut stand_ins = StandIns::new(&mut setup).unwrap();
        let mut bench = Bench::new(setup).unwrap();
        stand_ins.attach(&mut bench).unwrap();
        let mut fleet = Fleet {
            bench,
            stand_ins,
            flavour,
            output: vec![String::new(); count],
        };
        for (n, imei) in IMEIS.iter().take(count).enumerate() {
            fleet.power_on(n, imei);
        }
        fleet.wait(Duration::from_secs(3));
        for n in 0..count {
            fleet.take(n);
            fleet.at(n, "ATE0");
            for command in ["AT+QSCLK=0", "AT+CMEE=1"] {
                assert_eq!(fleet.at(n, command), "\r\nOK\r\n", "{command}");
            }
        }
        fleet
    }

    /// `count` linked modules, then a task of a package (of 2000 bytes, `corrupt` or not) for
    /// them all, as `edit` makes it.
    fn linked(
        flavour: Flavour,
        count: usize,
        corrupt: bool,
        edit: impl FnOnce(&mut NewTask),
    ) -> Fleet {
        let mut fleet = Fleet::new(flavour, count);
        for n in 0..count {
            fleet.link(n);
        }
        fleet.package(2000, corrupt);
        fleet.task(count, edit).unwrap();
        fleet
    }

    /// Attaches and powers on a module with its own IMEI, registered as a device.
    fn power_on(&mut self, n: usize, imei: &str) {
        let mut setup = ModuleSetup::model("BC260Y-CN");
        setup.imei = Some(imei.into());
        self.stand_ins.route(&mut setup).unwrap();
        let mut module =
            Module::new(setup.config().unwrap(), Box::new(MemoryStore::new())).unwrap();
        module.power_on(self.bench.now());
        self.bench
            .network()
            .attach_host(ip(n), ModuleNode::new(module));
        let device = NewDevice {
            imei: imei.into(),
            psk: None,
            product: None,
            reply: None,
        };
        self.stand_ins.add_device(self.flavour, device).unwrap();
    }

    fn module(&mut self, n: usize) -> &mut Module {
        let node = self.bench.network().host::<ModuleNode>(ip(n));
        node.expect("attached").module_mut()
    }

    /// Moves every module's output to `output`.
    fn collect(&mut self) {
        for n in 0..self.output.len() {
            let out = self.module(n).take_output();
            self.output[n].push_str(&String::from_utf8(out).unwrap());
        }
    }

    fn wait(&mut self, d: Duration) {
        self.bench.advance(d);
        self.collect();
    }

    /// What module `n` wrote since last taken.
    fn take(&mut self, n: usize) -> String {
        self.collect();
        std::mem::take(&mut self.output[n])
    }

    /// Sends a command to module `n`; returns what it wrote by the end of it.
    fn at(&mut self, n: usize, command: &str) -> String {
        let now = self.bench.now();
        self.module(n)
            .receive(format!("{command}\r").as_bytes(), now);
        self.wait(Duration::ZERO);
        self.take(n)
    }

    /// Sends a command that module `n` answers OK; returns what it wrote in the next minute.
    fn ok_then_minute(&mut self, n: usize, command: &str) -> String {
        let mut out = self.at(n, command);
        self.wait(Duration::from_secs(60));
        out += &self.take(n);
        assert!(out.starts_with("\r\nOK\r\n"), "{command}: {out:?}");
        out
    }

    /// Module `n` registers with its platform and is observed (a contact); returns what it wrote
    /// in the next minute.
    fn link(&mut self, n: usize) -> String {
        let command = format!("AT+NCDPOPEN=\"{}\",5683", self.flavour.host());
        let out = self.ok_then_minute(n, &command);
        assert!(
            out.contains("+QLWEVTIND: 3"),
            "module {n} observed: {out:?}"
        );
        out
    }

    /// Module `n` sends an uplink (a contact); returns what it wrote in the next minute.
    fn uplink(&mut self, n: usize) -> String {
        self.ok_then_minute(n, "AT+NMGS=5,00454c4c4f")
    }

    /// Module `n` rebooted into the new firmware after an update: it registers again, and the
    /// platform reads the result and cancels its observation.
    fn relink_updated(&mut self, n: usize) {
        self.at(n, "ATE0");
        self.at(n, "AT+QSCLK=0");
        self.link(n);
        let revision = self.at(n, "AT+CGMR");
        assert!(revision.contains(TARGET), "module {n}: {revision:?}");
    }

    fn package(&mut self, size: usize, corrupt: bool) {
        let made = nbmodem_fota::DeltaPackage::make(SOURCE, TARGET, size, 7).unwrap();
        let stand_ins = &mut self.stand_ins;
        stand_ins
            .add_package(self.flavour, "p1", made.encode(), None)
            .unwrap();
        if corrupt {
            stand_ins.damage_package(self.flavour, "p1").unwrap();
        }
    }

    /// A task of package p1 for the first `count` devices.
    fn task(&mut self, count: usize, edit: impl FnOnce(&mut NewTask)) -> Result<(), String> {
        let mut task = NewTask {
            id: "t1".into(),
            name: None,
            package: "p1".into(),
            group: Some("DFOTA".into()),
            devices: IMEIS[..count].iter().map(|i| i.to_string()).collect(),
            retries: 0,
            retry_after_s: 0,
            max_concurrent: 1,
            start: false,
        };
        edit(&mut task);
        self.stand_ins.create_task(self.flavour, task)
    }

    fn upgrade(&mut self, n: usize) -> Upgrade {
        self.stand_ins
            .upgrade(self.flavour, "t1", IMEIS[n])
            .unwrap()
    }

    fn status(&mut self, n: usize) -> UpgradeStatus {
        self.upgrade(n).status
    }
}

/// A whole upgrade as module `n` shows it, up to its reboot.
fn assert_upgraded(n: usize, out: &str) {
    for urc in [OBSERVED, "\"DOWNLOAD\",0", "\"END\",0", "RDY"] {
        assert!(out.contains(urc), "module {n} shows {urc}: {out:?}");
    }
}

#[test]
fn one_upgrade_at_a_time_the_next_begins_at_its_contact_after_the_first_ends() {
    let mut fleet = Fleet::linked(Flavour::Iot, 3, false, |_| {});
    assert_upgraded(0, &fleet.uplink(0));
    for n in 1..3 {
        let out = fleet.uplink(n);
        assert!(!out.contains(OBSERVED), "module {n} waits: {out:?}");
        assert_eq!(fleet.status(n), UpgradeStatus::Waiting);
        assert_eq!(fleet.upgrade(n).attempts, 0);
    }
    assert_eq!(fleet.status(0), UpgradeStatus::Updating);
    fleet.relink_updated(0);
    assert_eq!(fleet.status(0), UpgradeStatus::Succeeded);
    for n in 1..3 {
        assert_upgraded(n, &fleet.uplink(n));
        fleet.relink_updated(n);
        assert_eq!(fleet.status(n), UpgradeStatus::Succeeded);
        assert_eq!(fleet.upgrade(n).attempts, 1);
    }
}

#[test]
fn a_limit_of_two_runs_two_upgrades_at_once() {
    let mut fleet = Fleet::linked(Flavour::Iot, 3, false, |t| t.max_concurrent = 2);
    let mut out: Vec<String> = (0..3)
        .map(|n| fleet.at(n, "AT+NMGS=5,00454c4c4f"))
        .collect();
    let active: Vec<bool> = (0..3).map(|n| fleet.status(n).is_active()).collect();
    assert_eq!(active, [true, true, false]);
    fleet.wait(Duration::from_secs(60));
    for (n, out) in out.iter_mut().enumerate() {
        *out += &fleet.take(n);
    }
    for (n, out) in out[..2].iter().enumerate() {
        assert_upgraded(n, out);
        fleet.relink_updated(n);
    }
    assert!(!out[2].contains(OBSERVED), "{:?}", out[2]);
    assert_upgraded(2, &fleet.uplink(2));
    fleet.relink_updated(2);
    for n in 0..3 {
        assert_eq!(fleet.status(n), UpgradeStatus::Succeeded, "module {n}");
    }
}

/// One linked module and a task of a corrupt package allowing `retries`, 10 minutes apart.
fn corrupt_upgrade(retries: u32) -> Fleet {
    let task = |t: &mut NewTask| {
        t.retries = retries;
        t.retry_after_s = 600;
    };
    Fleet::linked(Flavour::Iot, 1, true, task)
}

/// An attempt that fails on the corrupt package: the module reports the digest's failure.
fn assert_failed_attempt(fleet: &mut Fleet) {
    let out = fleet.uplink(0);
    for urc in [OBSERVED, "\"DOWNLOAD\",5", "+QLWEVTIND: 9"] {
        assert!(out.contains(urc), "{urc}: {out:?}");
    }
}

#[test]
fn a_failed_upgrade_is_retried_after_the_delay_as_often_as_the_task_allows() {
    let mut fleet = corrupt_upgrade(2);
    for attempt in 1..=3 {
        assert_failed_attempt(&mut fleet);
        let upgrade = fleet.upgrade(0);
        assert_eq!(upgrade.attempts, attempt);
        assert_eq!(upgrade.result, Some(5));
        let begun = upgrade
            .history
            .iter()
            .filter(|e| e.text.contains("observing"));
        assert_eq!(begun.count(), attempt as usize, "{:?}", upgrade.history);
        if attempt < 3 {
            assert_eq!(upgrade.status, UpgradeStatus::Waiting);
            // Within the delay, a contact begins nothing.
            let out = fleet.uplink(0);
            assert!(!out.contains(OBSERVED), "{out:?}");
            assert_eq!(fleet.upgrade(0).attempts, attempt);
            fleet.wait(Duration::from_secs(600));
        }
    }
    assert_eq!(fleet.status(0), UpgradeStatus::Failed);
    fleet.wait(Duration::from_secs(600));
    assert!(!fleet.uplink(0).contains(OBSERVED));
    assert_eq!(fleet.upgrade(0).attempts, 3);
}

#[test]
fn without_retries_the_first_failure_is_final() {
    let mut fleet = corrupt_upgrade(0);
    assert_failed_attempt(&mut fleet);
    let upgrade = fleet.upgrade(0);
    assert_eq!(
        (upgrade.status, upgrade.attempts),
        (UpgradeStatus::Failed, 1)
    );
    assert!(upgrade.history.last().unwrap().text.contains("now failed"));
    fleet.wait(Duration::from_secs(3600));
    assert!(!fleet.uplink(0).contains(OBSERVED));
}

#[test]
fn an_aep_task_waits_for_its_start() {
    let mut fleet = Fleet::linked(Flavour::Aep, 1, false, |t| t.group = None);
    for _ in 0..2 {
        assert!(!fleet.uplink(0).contains(OBSERVED));
    }
    assert_eq!(fleet.status(0), UpgradeStatus::Waiting);
    fleet.stand_ins.start_task(Flavour::Aep, "t1").unwrap();
    assert_eq!(
        fleet.status(0),
        UpgradeStatus::Waiting,
        "until its next contact"
    );
    assert_upgraded(0, &fleet.uplink(0));
    fleet.relink_updated(0);
    assert_eq!(fleet.status(0), UpgradeStatus::Succeeded);
}

/// A profile of one device of `model`, by the manufacturer, of the type and protocol of the
/// stand-ins' packages, with the upgrade capability (seed §5.1.2) or without.
fn profile(model: &str, upgradable: bool) -> serde_json::Value {
    let mut device = serde_json::json!({"manufacturerId": "quectel", "manufacturerName": "quectel",
        "model": model, "protocolType": "CoAP", "deviceType": "WaterMeter"});
    if upgradable {
        device["omCapability"] = serde_json::json!({"fwUpgradeCapability": {
            "supportUpgrade": true, "upgradeProtocolType": "LWM2M", "downloadProtocolType": "CoAP"}});
    }
    serde_json::json!({ "devices": [device] })
}

/// Fleet `fleet`'s devices 1 and 2 as devices of products of these profiles.
fn with_products(fleet: &mut Fleet, profiles: [(&str, serde_json::Value); 2]) {
    for (n, (product, profile)) in profiles.into_iter().enumerate() {
        let stand_ins = &mut fleet.stand_ins;
        stand_ins
            .add_product(Flavour::Iot, product, profile, CodecChoice::PassThrough)
            .unwrap();
        let device = NewDevice {
            imei: IMEIS[n + 1].into(),
            psk: None,
            product: Some(product.into()),
            reply: None,
        };
        stand_ins.add_device(Flavour::Iot, device).unwrap();
    }
}

/// A task for three devices (the second's product is `products[0]`, the third's `products[1]`)
/// is refused naming the second device and `reasons`, and starts nobody's upgrade; without the
/// second device it is made. Returns the fleet with that task.
fn refused_for_the_second_device(
    products: [(&str, serde_json::Value); 2],
    reasons: &[&str],
) -> Fleet {
    let mut fleet = Fleet::new(Flavour::Iot, 1);
    with_products(&mut fleet, products);
    fleet.package(2000, false);
    let why = fleet.task(3, |_| {}).unwrap_err();
    for part in std::iter::once(&IMEIS[1]).chain(reasons) {
        assert!(why.contains(part), "{part}: {why}");
    }
    assert!(fleet
        .stand_ins
        .upgrade(Flavour::Iot, "t1", IMEIS[0])
        .is_none());
    // The device without a product and the one whose product fits.
    fleet.task(3, |t| _ = t.devices.remove(1)).unwrap();
    assert_eq!(fleet.status(2), UpgradeStatus::Waiting);
    fleet
}

#[test]
fn a_task_is_refused_for_a_device_whose_product_does_not_fit_the_package() {
    let products = [
        ("lamp", profile("StreetLamp", true)),
        ("meter", profile("NBIoTDevice", true)),
    ];
    let mut fleet = refused_for_the_second_device(products, &["lamp", "StreetLamp", "must match"]);
    assert_upgraded(0, &fleet.link(0));
}

#[test]
fn a_task_is_refused_for_a_device_whose_product_cannot_be_upgraded() {
    let products = [
        ("meter", profile("NBIoTDevice", false)),
        ("upgradable", profile("NBIoTDevice", true)),
    ];
    refused_for_the_second_device(products, &["meter", "fwUpgradeCapability", "§5.1.2"]);
}
