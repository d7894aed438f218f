//! A small fleet in real time, from outside: BC260Y-CN modules on loopback sockets registering
//! with the stand-in CT IoT platform started in the process (ports the system picks), and sending
//! an uplink every few seconds. The summary's counts are what the platform's database holds.
//! A power cut early on reboots every module, with self-registration on. Rounds end well before
//! the run does, so that no uplink is still in flight at its end.

use nbmodem_fleet::{Fleet, Shard};
use nbmodem_platform::{Flavour, Store};

const MODULES: u64 = 3;

fn fleet(events: &str) -> Fleet {
    let text = format!(
        r#"
seed = 5
duration = "21s"
[[group]]
name = "meters"
model = "BC260Y-CN"
count = {MODULES}
platform = "iot"
start = ["ATE0", "AT+QSREGENABLE=1", "AT+QSCLK=0", "AT+NNMI=1", {{ pause = "5s" }},
         {{ at = 'AT+NCDPOPEN="180.101.147.115",5683', expect = "+QLWEVTIND: 3", within = "30s" }}]
[[group.every]]
period = "8s"
jitter = "1s"
steps = [{{ at = "AT+NMGS=5,00454C4C4F", expect = "+NNMI: 4,AAAA0000", within = "30s" }}]
{events}
"#
    );
    Fleet::parse(&text).unwrap()
}

#[test]
fn every_module_registers_and_its_uplinks_are_the_ones_the_platform_stored() {
    // Self-registration, switched on by the start script, takes effect at the next boot: a
    // power cut makes one. A fault on a server the modules do not use goes through the
    // stand-ins' control port and changes nothing.
    let events = r#"
[[event]]
at = "2s"
power_cut = 100
off = "1s"
[[event]]
at = "1s"
until = "2s"
fault = "cu:drop=1"
"#;
    let fleet = fleet(events);
    let dir = tempfile::tempdir().unwrap();
    let (summary, rows) =
        nbmodem_fleet::real_time::run(&fleet, Shard::WHOLE, dir.path(), &[], |_| {}).unwrap();
    let total = &summary.total;
    assert!(total.failures.is_empty(), "{:?}", total.failures);
    assert_eq!((total.modules, total.started, total.starts), (3, 3, 3));
    assert_eq!(total.uplinks_sent, MODULES * 2, "rounds at 8 and 16 s");
    assert_eq!(total.uplinks_acknowledged, total.uplinks_sent);
    let store = Store::open(dir.path()).unwrap();
    let stored: u64 = rows
        .iter()
        .map(|row| store.uplink_count(Flavour::Iot, &row.imei).unwrap())
        .sum();
    assert_eq!(stored, total.uplinks_sent);
    assert_eq!(total.uplinks_stored, stored);
    assert_eq!(total.power_cuts, MODULES);
    assert_eq!(
        (total.self_registrations, total.self_registrations_accepted),
        (MODULES, MODULES),
        "after the power cut, with self-registration on, each registered once, from its own address"
    );
}
