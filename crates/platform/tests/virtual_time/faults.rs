//! Each fault kind on the registries, in virtual time: drop N then answer, reject N, delay; set at
//! start-up, through control lines, or on a node already on the network.

use crate::common::*;
use nbmodem_net::sim::Fate;
use nbmodem_operators::selfreg::{is_success, Registry};
use nbmodem_platform::control;
use nbmodem_platform::{Addresses, Fault, Faulty, RegistryServer, Server, Verdict};
use std::time::Duration;

#[test]
fn drop_ignores_n_request_datagrams_then_the_retransmission_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(dir.path(), |platform| {
        assert_eq!(control::answer(b"fault ct drop 2", platform), "OK");
    });
    let ct = registry_address(Registry::ChinaTelecom);
    post(&mut net, ct, "/nb", record().encode(Registry::ChinaTelecom));
    net.run_for(Duration::from_secs(8));
    assert!(responses(&mut net).is_empty(), "answered a dropped request");
    net.run_for(Duration::from_secs(2));
    assert!(is_success(&responses(&mut net)[0].payload));
    // Sent at 0, 3 and 9 s (3 s back-off doubling); the third is the one answered, at once.
    let answers: Vec<u64> = net
        .records()
        .iter()
        .filter(|d| d.from == ct && d.fate == Fate::Delivered)
        .map(|d| d.sent.unix_millis() - START.unix_millis())
        .collect();
    assert_eq!(answers, [9000]);
    let recorded = records(dir.path(), Server::Ct);
    let summary: Vec<(u64, Verdict, Option<&str>)> = recorded
        .iter()
        .map(|r| (ms_after_start(r), r.verdict, r.fault.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (0, Verdict::Dropped, Some("drop")),
            (3000, Verdict::Dropped, Some("drop")),
            (9000, Verdict::Accepted, None)
        ]
    );
    assert_eq!(recorded[0].fields["meid"], "865975030000001");
    assert_eq!(recorded[0].status, None);
}

#[test]
fn reject_answers_n_requests_with_result_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(dir.path(), |platform| {
        platform.cu.set_fault(Fault::Reject(1));
    });
    let cu = registry_address(Registry::ChinaUnicom);
    for _ in 0..2 {
        post(&mut net, cu, "/", record().encode(Registry::ChinaUnicom));
        net.run_for(Duration::from_secs(1));
    }
    let answers = responses(&mut net);
    assert_eq!(
        answers[0].payload,
        br#"{"resultCode":"1","resultDesc":"Failure"}"#
    );
    assert!(is_success(&answers[1].payload));
    let recorded = records(dir.path(), Server::Cu);
    assert_eq!(
        (
            recorded[0].verdict,
            recorded[0].status.as_deref(),
            recorded[0].fault.as_deref()
        ),
        (Verdict::Rejected, Some("2.05"), Some("reject"))
    );
    assert_eq!(recorded[1].verdict, Verdict::Accepted);
}

#[test]
fn delay_holds_the_answer_on_virtual_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(dir.path(), |_| {});
    let ct = registry_address(Registry::ChinaTelecom);
    let node = net.node::<RegistryServer>(Addresses::default().ct).unwrap();
    node.set_fault(Fault::Delay(Duration::from_secs(5)));
    assert_eq!(node.faults().to_string(), "drop=0 reject=0 delay=5s");
    post(&mut net, ct, "/nb", record().encode(Registry::ChinaTelecom));
    net.run_for(Duration::from_millis(4999));
    assert!(responses(&mut net).is_empty());
    net.run_for(Duration::from_millis(1));
    assert!(is_success(&responses(&mut net)[0].payload));
    // The retransmission at 3 s is held too, then answered from the engine's cache: one record.
    net.run_for(Duration::from_secs(60));
    let recorded = records(dir.path(), Server::Ct);
    assert_eq!(recorded.len(), 1);
    assert_eq!(ms_after_start(&recorded[0]), 5000);
    assert_eq!(recorded[0].fault.as_deref(), Some("delay=5s"));
    assert_eq!(recorded[0].verdict, Verdict::Accepted);
}

#[test]
fn clearing_faults_restores_normal_service() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(dir.path(), |platform| {
        platform.ct.set_fault(Fault::Drop(100));
        platform.ct.set_fault(Fault::Delay(Duration::from_secs(30)));
        platform.ct.clear_faults();
    });
    let ct = registry_address(Registry::ChinaTelecom);
    post(&mut net, ct, "/nb", record().encode(Registry::ChinaTelecom));
    net.run_for(Duration::from_secs(1));
    assert!(is_success(&responses(&mut net)[0].payload));
}

#[test]
fn clearing_a_delay_answers_the_requests_it_held() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(dir.path(), |_| {});
    let ct = registry_address(Registry::ChinaTelecom);
    let node = net.node::<RegistryServer>(Addresses::default().ct).unwrap();
    node.set_fault("delay=24h".parse().unwrap());
    post(&mut net, ct, "/nb", record().encode(Registry::ChinaTelecom));
    net.run_for(Duration::from_secs(1));
    assert!(responses(&mut net).is_empty());
    let node = net.node::<RegistryServer>(Addresses::default().ct).unwrap();
    node.clear_faults();
    net.run_for(Duration::from_millis(1));
    assert!(is_success(&responses(&mut net)[0].payload));
    let recorded = records(dir.path(), Server::Ct);
    assert_eq!(recorded.len(), 1);
    assert_eq!(ms_after_start(&recorded[0]), 1000);
}

#[test]
fn an_absurd_delay_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(dir.path(), |platform| {
        let answer = control::answer(b"fault ct delay 2777777777777h", platform);
        assert!(answer.starts_with("ERROR bad fault"), "{answer}");
        assert!(answer.contains("at most 24h"), "{answer}");
    });
    let node = net.node::<RegistryServer>(Addresses::default().ct).unwrap();
    assert_eq!(node.faults().to_string(), "drop=0 reject=0 delay=0s");
}
