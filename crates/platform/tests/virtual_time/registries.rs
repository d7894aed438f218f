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

/// A module's record with one field replaced, as a registry body.
fn record_with(key: &str, value: &str, duplicate: bool) -> Vec<u8> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let body = record().encode(Registry::ChinaTelecom);
    let mut json = String::from_utf8(engine.decode(body).unwrap()).unwrap();
    let field = format!("{}:{}", json!(key), json!(value));
    json = match duplicate {
        true => json.replacen('{', &format!("{{{field},"), 1),
        false => {
            let mut object: serde_json::Map<String, Value> = serde_json::from_str(&json).unwrap();
            object.insert(key.into(), json!(value));
            Value::Object(object).to_string()
        }
    };
    engine.encode(json).into_bytes()
}

#[test]
fn records_are_checked_as_the_operator_would_and_what_is_stored_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = network(dir.path(), |_| {});
    let ct = registry_address(Registry::ChinaTelecom);
    let long_meid = "8".repeat(700);
    let hostile = [
        (
            record_with("MEID", &long_meid, false),
            Status::RequestEntityTooLarge,
        ),
        (
            record_with("MEID", "86597503\u{1}000001", false),
            Status::BadRequest,
        ),
        (
            record_with("MEID", "865975030000002", true),
            Status::BadRequest,
        ),
        (record_with("SIM1ICCID", "1234", false), Status::BadRequest),
    ];
    for (body, _) in &hostile {
        post(&mut net, ct, "/nb", body.clone());
        net.run_for(Duration::from_secs(1));
    }
    // And a request to a path no resource has, 20 KB of it.
    let path = format!("/{}", "p/".repeat(10_000));
    send(&mut net, ct, Request::get(&path));
    net.run_for(Duration::from_secs(1));
    let answers = responses(&mut net);
    let statuses: Vec<Status> = answers.iter().map(|a| a.status).collect();
    let expected: Vec<Status> = hostile
        .iter()
        .map(|h| h.1)
        .chain([Status::NotFound])
        .collect();
    assert_eq!(statuses, expected);
    let stored = records(dir.path(), Server::Ct);
    let errors: Vec<&str> = stored[..4]
        .iter()
        .map(|r| r.fields["error"].as_str().unwrap())
        .collect();
    assert_eq!(
        errors,
        [
            "the body is longer than 1024 bytes",
            "field MEID must be the 15-digit IMEI (or a 14-digit MEID)",
            "key MEID appears more than once",
            "field SIM1ICCID must be the 19- or 20-digit ICCID",
        ]
    );
    for record in &stored {
        let size = serde_json::to_string(record).unwrap().len();
        assert!(size < 2048, "a record of {size} bytes: {record:?}");
    }
    assert_eq!(
        stored[4].fields["path"].as_str().unwrap().chars().count(),
        256
    );
}
