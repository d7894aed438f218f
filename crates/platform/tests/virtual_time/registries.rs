//! The CT (`POST /nb`) and CU (`POST /`) registries: good records, malformed ones, other paths and
//! methods, garbage datagrams, and what the store records of each.

use crate::common::*;
use nbmodem_coap::{Method, Request, Status};
use nbmodem_operators::selfreg::{is_success, Registry};
use nbmodem_platform::{Server, Verdict};
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn ct_answers_a_good_record_with_success_json_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(dir.path(), |_| {});
    let ct = registry_address(Registry::ChinaTelecom);
    post(&mut net, ct, "/nb", record().encode(Registry::ChinaTelecom));
    net.run_for(Duration::from_secs(1));
    let answers = responses(&mut net);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].status, Status::Content);
    assert_eq!(answers[0].content_format, Some(50));
    assert_eq!(
        answers[0].payload,
        br#"{"resultCode":"0","resultDesc":"Success"}"#
    );
    let recorded = records(dir.path(), Server::Ct);
    assert_eq!(recorded.len(), 1);
    let r = &recorded[0];
    assert_eq!(
        (r.operation.as_str(), r.verdict, r.status.as_deref()),
        ("register", Verdict::Accepted, Some("2.05"))
    );
    assert_eq!(r.source, client_address().to_string());
    assert_eq!(
        (r.time_ms, r.time.as_str()),
        (START.unix_millis(), "2026-01-01T00:00:00.000Z")
    );
    assert_eq!(r.fault, None);
    assert_eq!(
        r.fields,
        json!({"regver": "2", "meid": "865975030000001", "model": "QUE-BC260Y CN",
               "swver": "BC260YCNAAR02A01", "iccid": "89861100000000000001",
               "imsi": "460110000000001"})
    );
    assert!(records(dir.path(), Server::Cu).is_empty());
}

#[test]
fn cu_registers_at_the_root_and_wants_modelsms() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(dir.path(), |_| {});
    let cu = registry_address(Registry::ChinaUnicom);
    post(&mut net, cu, "/", record().encode(Registry::ChinaUnicom));
    net.run_for(Duration::from_secs(1));
    post(&mut net, cu, "/", record().encode(Registry::ChinaTelecom));
    net.run_for(Duration::from_secs(1));
    let answers = responses(&mut net);
    assert!(is_success(&answers[0].payload));
    assert_eq!(answers[1].status, Status::BadRequest);
    let recorded = records(dir.path(), Server::Cu);
    assert_eq!(recorded[0].fields["model"], "QUE-BC260Y CN");
    assert_eq!(recorded[1].verdict, Verdict::Rejected);
    assert_eq!(recorded[1].fields["error"], "field MODELSMS is missing");
}

#[test]
fn malformed_records_get_bad_request_with_a_failure_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(dir.path(), |_| {});
    let ct = registry_address(Registry::ChinaTelecom);
    let bodies: [&[u8]; 4] = [
        b"%%% not base64",
        b"WzFd",                 // base64 of [1]
        b"eyJSRUdWRVIiOiIyIn0=", // {"REGVER":"2"}
        b"",
    ];
    for body in bodies {
        post(&mut net, ct, "/nb", body.to_vec());
        net.run_for(Duration::from_secs(1));
    }
    let answers = responses(&mut net);
    assert_eq!(answers.len(), bodies.len());
    for answer in answers {
        assert_eq!(answer.status, Status::BadRequest);
        let json: Value = serde_json::from_slice(&answer.payload).unwrap();
        assert_eq!(json["resultCode"], "2", "{json}");
        assert!(!is_success(&answer.payload));
    }
    let errors: Vec<Value> = records(dir.path(), Server::Ct)
        .into_iter()
        .inspect(|r| {
            assert_eq!(
                (r.verdict, r.status.as_deref()),
                (Verdict::Rejected, Some("4.00"))
            )
        })
        .map(|r| r.fields["error"].clone())
        .collect();
    assert_eq!(
        errors,
        [
            "the body is not base64",
            "the body is not a JSON object",
            "field MEID is missing",
            "the body is not a JSON object"
        ]
    );
}

#[test]
fn other_paths_get_not_found_and_other_methods_method_not_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(dir.path(), |_| {});
    let ct = registry_address(Registry::ChinaTelecom);
    let cu = registry_address(Registry::ChinaUnicom);
    send(&mut net, ct, Request::get("/nb"));
    send(&mut net, ct, Request::new(Method::Post, "/"));
    send(&mut net, cu, Request::new(Method::Put, "/"));
    send(&mut net, cu, Request::new(Method::Post, "/nb"));
    net.run_for(Duration::from_secs(1));
    let mut statuses: Vec<Status> = responses(&mut net).iter().map(|r| r.status).collect();
    statuses.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(
        statuses,
        [
            Status::MethodNotAllowed,
            Status::MethodNotAllowed,
            Status::NotFound,
            Status::NotFound
        ]
    );
    let ct_records = records(dir.path(), Server::Ct);
    assert_eq!(ct_records[0].operation, "other");
    assert_eq!(
        ct_records[0].fields,
        json!({"method": "GET", "path": "/nb"})
    );
    assert_eq!(ct_records[1].status.as_deref(), Some("4.04"));
    assert_eq!(records(dir.path(), Server::Cu).len(), 2);
}

#[test]
fn garbage_datagrams_are_recorded_and_do_no_harm() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(dir.path(), |_| {});
    let ct = registry_address(Registry::ChinaTelecom);
    send_raw(&mut net, ct, b"\x00\x01garbage");
    send_raw(&mut net, ct, b"");
    net.run_for(Duration::from_secs(1));
    post(&mut net, ct, "/nb", record().encode(Registry::ChinaTelecom));
    net.run_for(Duration::from_secs(1));
    assert!(is_success(&responses(&mut net)[0].payload));
    let recorded = records(dir.path(), Server::Ct);
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0].operation, "malformed");
    assert_eq!(recorded[0].fields["length"], 9);
    assert_eq!(recorded[0].fields["hex"], "000167617262616765");
    assert_eq!(recorded[2].verdict, Verdict::Accepted);
}
