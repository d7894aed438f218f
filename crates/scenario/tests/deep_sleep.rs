//! Deep sleep (PSM) at the UART and on the network, byte for byte: when the module enters it, what
//! wakes it, and that it cannot be reached meanwhile (crates/module/src/radio.rs). The operator
//! rules built on it (retries waking the module, exchanges delaying sleep, DM updates) are tested
//! in self_registration.rs and dm.rs.

use nbmodem_module::{Profile, SleepControl, PROFILES};
use nbmodem_scenario::Bench;
use std::time::Duration;

const ENTER: &str = "\r\n+QNBIOTEVENT: \"ENTER DEEPSLEEP\"\r\n";
const EXIT: &str = "\r\n+QNBIOTEVENT: \"EXIT DEEPSLEEP\"\r\n";
const OK: &str = "\r\nOK\r\n";

/// Lets time run until `millis` since the bench started; returns what the module wrote meanwhile.
fn output_until(bench: &mut Bench, millis: u64) -> String {
    bench.advance(Duration::from_millis(millis) - bench.elapsed());
    String::from_utf8(bench.take_raw()).unwrap()
}

#[test]
fn bc260y_announces_deep_sleep_and_the_host_wakes_it() {
    // Booted at 1 s, attached at 3 s; the connection is released at 23 s.
    let mut b = Bench::booted("BC260Y-CN");
    b.at("ATE0");
    assert_eq!(b.at("AT+QSCLK=1"), OK);
    assert_eq!(output_until(&mut b, 22_999), "", "connected until 23 s");
    assert_eq!(output_until(&mut b, 23_000), ENTER);
    assert!(b.module().is_in_deep_sleep());
    // The host's next command wakes the module; after 5 s of quiet it sleeps again.
    assert_eq!(b.at("AT"), format!("{EXIT}{OK}"));
    assert!(!b.module().is_in_deep_sleep());
    assert_eq!(output_until(&mut b, 27_999), "");
    assert_eq!(output_until(&mut b, 28_000), ENTER);
    // Sleep disabled: woken by the command, the module stays awake.
    assert_eq!(b.at("AT+QSCLK=0"), format!("{EXIT}{OK}"));
    assert_eq!(output_until(&mut b, 3_600_000), "");
    assert!(!b.module().is_in_deep_sleep());
}

#[test]
fn a_command_keeps_the_module_awake_for_five_seconds() {
    let mut b = Bench::booted("BC260Y-CN");
    b.at("ATE0");
    b.at("AT+QSCLK=1");
    // The connection is released at 23 s; a command at 20 s holds deep sleep off until 25 s.
    output_until(&mut b, 20_000);
    assert_eq!(b.at("AT"), OK);
    assert_eq!(output_until(&mut b, 24_999), "");
    assert_eq!(output_until(&mut b, 25_000), ENTER);
}

/// The command that lets `p` sleep: AT+QSCLK=1, or asking for PSM where sleep is PSM alone.
fn allow_deep_sleep(p: &Profile) -> &'static str {
    match p.sleep_control {
        SleepControl::Qsclk { .. } => "AT+QSCLK=1",
        SleepControl::PsmGrant => "AT+CPSMS=1",
    }
}

#[test]
fn only_qsclk_1_allows_deep_sleep() {
    let with_qsclk = |p: &&Profile| matches!(p.sleep_control, SleepControl::Qsclk { .. });
    for p in PROFILES.iter().filter(with_qsclk) {
        for mode in [0, 2] {
            let mut b = Bench::booted(p.model);
            b.at("ATE0");
            b.at(&format!("AT+QSCLK={mode}"));
            b.advance(Duration::from_secs(3600));
            assert!(
                !b.module().is_in_deep_sleep(),
                "{} AT+QSCLK={mode}",
                p.model
            );
        }
    }
}

#[test]
fn models_without_the_urc_sleep_silently() {
    for p in PROFILES.iter().filter(|p| p.deep_sleep_urcs.is_none()) {
        let mut b = Bench::booted(p.model);
        b.at("ATE0");
        assert_eq!(b.at(allow_deep_sleep(p)), OK, "{}", p.model);
        // BC25-B5 is kept awake a while by its China Telecom self-registration (see
        // self_registration.rs); every model is asleep after ten minutes.
        assert_eq!(output_until(&mut b, 600_000), "", "{}", p.model);
        assert!(b.module().is_in_deep_sleep(), "{}", p.model);
        assert_eq!(b.at("AT"), OK, "{}", p.model);
        assert!(!b.module().is_in_deep_sleep(), "{}", p.model);
    }
}

/// A Neul module has no AT+QSCLK: it stays awake in idle until the network grants it PSM, then
/// sleeps the active time T3324 after each release.
#[test]
fn neul_models_sleep_only_with_a_psm_grant() {
    let psm_only = |p: &&Profile| p.sleep_control == SleepControl::PsmGrant;
    for p in PROFILES.iter().filter(psm_only) {
        let mut b = Bench::booted(p.model);
        b.at("ATE0");
        b.advance(Duration::from_secs(3600));
        assert!(!b.module().is_in_deep_sleep(), "{}: no PSM asked", p.model);
        assert_eq!(b.at("AT+CPSMS=1"), OK, "{}", p.model);
        b.advance(Duration::from_secs(600));
        assert!(b.module().is_in_deep_sleep(), "{}: PSM", p.model);
        assert_eq!(b.take_raw(), b"", "{}: silent without AT+NPSMR=1", p.model);
        // Turned off, PSM no longer sends the module to sleep.
        assert_eq!(b.at("AT+CPSMS=0"), OK, "{}", p.model);
        b.advance(Duration::from_secs(3600));
        assert!(!b.module().is_in_deep_sleep(), "{}: PSM off", p.model);
    }
}

#[test]
fn a_sleeping_module_cannot_be_reached() {
    let mut b = Bench::booted("BC260Y-CN");
    b.at("ATE0");
    b.at("AT+CSCON=1");
    b.at("AT+QSCLK=1");
    assert_eq!(
        output_until(&mut b, 30_000),
        format!("\r\n+CSCON:1\r\n\r\n+CSCON:0\r\n{ENTER}")
    );
    // The network cannot page a module in PSM: the datagram is lost.
    b.datagram_to_module();
    assert_eq!(output_until(&mut b, 31_000), "");
    assert!(b.module().is_in_deep_sleep());
    // Awake and idle, the module is paged: a downlink sets up the connection again.
    assert_eq!(b.at("AT+QSCLK=0"), format!("{EXIT}{OK}"));
    b.datagram_to_module();
    assert_eq!(output_until(&mut b, 32_000), "\r\n+CSCON:1\r\n");
    assert_eq!(output_until(&mut b, 52_000), "\r\n+CSCON:0\r\n");
}
