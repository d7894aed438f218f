//! libcoap's `coap-client-notls` posts self-registration records to the CT registry of
//! `nbmodem platform` over loopback UDP.
//!
//! The peer comes from Debian (`libcoap3-bin`); `scripts/test` installs it and sets
//! `NBMODEM_INTEROP`, which turns a missing peer into a failure. Without it, the test prints a
//! note and passes when the peer is missing.

use crate::binary::{run, Platform};
use crate::sample::record;
use nbmodem_operators::selfreg::Registry;
use serde_json::Value;
use std::process::Command;

const LIBCOAP_CLIENT: &str = "coap-client-notls";

/// Whether libcoap's client is installed. When it is not: fails under `NBMODEM_INTEROP`, else
/// notes it.
fn libcoap_available() -> bool {
    let found = Command::new(LIBCOAP_CLIENT).arg("-h").output().is_ok();
    if found {
        return true;
    }
    let what = format!("{LIBCOAP_CLIENT} (libcoap3-bin) is not installed");
    if std::env::var_os("NBMODEM_INTEROP").is_some() {
        panic!("{what}; install it with `apt-get install libcoap3-bin` (scripts/test does)");
    }
    eprintln!("note: interop test skipped: {what} (`apt-get install libcoap3-bin`)");
    false
}

/// Posts `body` as JSON (Content-Format 50) with libcoap; returns what it printed on stdout (a
/// success body) and on stderr (an error response, as `4.00 body`).
fn libcoap_post(uri: &str, body: &str) -> (String, String) {
    let output = Command::new(LIBCOAP_CLIENT)
        .args(["-B", "10", "-m", "post", "-t", "50", "-e", body, uri])
        .output()
        .expect("running coap-client-notls");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (text(&output.stdout), text(&output.stderr))
}

#[test]
fn libcoap_posts_a_record_to_the_ct_registry_and_gets_success() {
    if !libcoap_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path(), &[]);
    let body = String::from_utf8(record().encode(Registry::ChinaTelecom)).unwrap();
    let uri = format!("coap://{}/nb", platform.ct);
    let (answer, _) = libcoap_post(&uri, &body);
    assert_eq!(
        answer.trim(),
        r#"{"resultCode":"0","resultDesc":"Success"}"#
    );
    let (_, refused) = libcoap_post(&uri, "not base64!");
    assert!(refused.starts_with("4.00"), "{refused}");
    assert!(refused.contains(r#""resultCode":"2""#), "{refused}");

    let output = run(&[
        "platform",
        "records",
        "ct",
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    let records: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["verdict"], "accepted");
    assert_eq!(records[0]["fields"]["meid"], "865975030000001");
    assert_eq!(
        records[0]["source"].as_str().unwrap().split(':').next(),
        Some("127.0.0.1")
    );
    assert_eq!(records[1]["verdict"], "rejected");
    assert_eq!(records[1]["status"], "4.00");
}
