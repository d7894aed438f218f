//! Small fleets in virtual time, from outside: BC260Y-CN modules registering with the stand-in CT
//! IoT platform and sending an uplink every 10 virtual minutes, typed in AT. What the summary says
//! is what the modules and the platform did; shards add up to the whole fleet exactly; a power
//! cut and a platform fault show in the counts; a self-registration storm against a registry
//! that rejects half of it shows the seeds' retry schedule.

use nbmodem_fleet::{Fleet, Run, Shard, Summary};

fn fleet(modules: usize, events: &str) -> Fleet {
    let text = format!(
        r#"
seed = 11
duration = "1h"
[[group]]
name = "meters"
model = "BC260Y-CN"
count = {modules}
platform = "iot"
start = ["ATE0", "AT+QSCLK=0", "AT+NNMI=1", {{ pause = "5s" }},
         {{ at = 'AT+NCDPOPEN="180.101.147.115",5683', expect = "+QLWEVTIND: 3", within = "30s" }}]
[[group.every]]
period = "10m"
jitter = "2m"
steps = [{{ at = "AT+NMGS=5,00454C4C4F", expect = "+NNMI: 4,AAAA0000", within = "30s" }}]
{events}
"#
    );
    Fleet::parse(&text).unwrap()
}

fn run(fleet: &Fleet, shard: Shard) -> (Summary, Vec<nbmodem_fleet::DeviceRow>) {
    let dir = tempfile::tempdir().unwrap();
    let mut summary_and_rows = Run::new(fleet, shard, dir.path())
        .unwrap()
        .run(|_| {})
        .unwrap();
    summary_and_rows.0.shards = vec![shard.to_string()];
    summary_and_rows
}

#[test]
fn every_module_registers_and_every_uplink_is_stored_and_answered() {
    let fleet = fleet(4, "");
    let (summary, rows) = run(&fleet, Shard::WHOLE);
    let total = &summary.total;
    assert_eq!((total.modules, total.started, total.starts), (4, 4, 4));
    assert_eq!(
        total.uplinks_sent,
        4 * 5,
        "rounds at 10, 20, 30, 40 and 50 minutes"
    );
    assert_eq!(
        total.uplinks_acknowledged, total.uplinks_sent,
        "each answered AAAA0000"
    );
    assert_eq!(total.uplinks_stored, total.uplinks_sent);
    assert!(total.failures.is_empty(), "{:?}", total.failures);
    assert_eq!(
        total.latency_ms.count(),
        4 + 20,
        "registrations and round trips"
    );
    assert_eq!(total.energy_nah_per_day.count(), 4);
    assert_eq!(summary.groups["meters"], *total);
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[1].imei, "865975030000019");
    assert!(rows.iter().all(|r| r.energy_uah_per_day > 0.0));
    let uplinks_per_hour: u64 = summary.hours.iter().map(|h| h.uplinks_sent).sum();
    assert_eq!(uplinks_per_hour, 20);
}

#[test]
fn shards_add_up_to_the_whole_fleet() {
    let fleet = fleet(5, "[[event]]\nat = \"25m\"\npower_cut = 40\n");
    let (mut whole, _) = run(&fleet, Shard::WHOLE);
    let (mut merged, _) = run(&fleet, "0/2".parse().unwrap());
    let (second, _) = run(&fleet, "1/2".parse().unwrap());
    merged.merge(&second).unwrap();
    assert_eq!(merged.shards, ["0/2", "1/2"]);
    assert!(merged.merge(&second).is_err(), "a shard twice");
    merged.shards.clear();
    whole.shards.clear();
    assert_eq!(merged, whole);
    assert!(whole.total.power_cuts > 0, "someone lost power");
}

#[test]
fn a_power_cut_and_a_platform_fault_show_in_the_counts() {
    let events = r#"
[[event]]
at = "15m"
power_cut = 100
off = "2m"
[[event]]
at = "31m"
until = "49m"
fault = "iot:drop=100000"
"#;
    let (summary, _) = run(&fleet(3, events), Shard::WHOLE);
    let total = &summary.total;
    assert_eq!(total.power_cuts, 3);
    assert_eq!(total.starts, 6, "started again after the cut");
    assert!(
        total.uplinks_acknowledged < total.uplinks_sent,
        "uplinks lost in the fault window"
    );
    let timeouts: u64 = total
        .failures
        .iter()
        .filter(|(cause, _)| cause.starts_with("no +NNMI"))
        .map(|(_, n)| *n)
        .sum();
    assert!(timeouts > 0, "{:?}", total.failures);
}

#[test]
fn progress_is_told_once_a_virtual_minute_at_most() {
    let fleet = fleet(4, "");
    let dir = tempfile::tempdir().unwrap();
    let mut told = Vec::new();
    Run::new(&fleet, Shard::WHOLE, dir.path())
        .unwrap()
        .run(|progress| told.push(progress))
        .unwrap();
    let minute = std::time::Duration::from_secs(60);
    assert!(
        told.windows(2)
            .all(|w| w[1].virtual_elapsed >= w[0].virtual_elapsed + minute),
        "{told:?}"
    );
    assert!((1..=61).contains(&told.len()), "{}", told.len());
    let last = told.last().unwrap();
    assert_eq!((last.modules, last.started), (4, 4));
}

#[test]
fn a_self_registration_storm_rejected_by_half_shows_the_retry_schedule() {
    // examples/fleet/storm.toml with 24 modules: self-registration, switched on at the first
    // start, takes effect at the power cut's reboot; every module registers at once, and the
    // registry rejects the first half (more than the 10 a second a server records of its
    // rejections when it samples them: the fleet's records keep every one).
    let text = include_str!("../../../examples/fleet/storm.toml")
        .replace("count = 1000", "count = 24")
        .replace("reject=500", "reject=12");
    let (summary, rows) = run(&Fleet::parse(&text).unwrap(), Shard::WHOLE);
    let total = &summary.total;
    assert_eq!(total.self_registrations, 24 + 12, "twelve retried once");
    assert_eq!(total.self_registrations_accepted, 24);
    let retried: Vec<_> = rows.iter().filter(|r| r.self_registrations == 2).collect();
    assert_eq!(retried.len(), 12);
    assert!(retried.iter().all(|r| r.self_registrations_accepted == 1));
    assert_eq!(
        total.self_registration_gaps_s,
        [(3600, 12)].into(),
        "BC260Y-CN: a retry an hour after a failed attempt"
    );
}
