//! Plays every scenario script of `tests/scenarios/` and `examples/`, and checks that a failing script is reported
//! with what was expected, what came, and the transcript before it.

use std::path::PathBuf;

fn scenario_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios")
}

/// The examples a user starts from: they must keep working too.
fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn every_scenario_passes() {
    let mut files: Vec<_> = [scenario_dir(), examples_dir()]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "scenario files found: {files:?}");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let scenario = match nbmodem_scenario::parse(&text) {
                Ok(s) => s,
                Err(e) => return Some(format!("{}: {e}", file.display())),
            };
            nbmodem_scenario::run(&scenario)
                .err()
                .map(|f| format!("{}: {f}", file.display()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_mismatch_shows_the_difference_and_the_transcript() {
    let script = "module BC25\nexpect RDY\nexpect +CFUN: 1\nexpect +CPIN: READY\nsend AT+CSQ\nexpect AT+CSQ\nexpect +CSQ: 31,99\n";
    let failure = nbmodem_scenario::run(&nbmodem_scenario::parse(script).unwrap()).unwrap_err();
    assert_eq!(failure.line, 7);
    assert_eq!(failure.expected, "\"+CSQ: 31,99\"");
    assert_eq!(failure.got, "\"+CSQ: 25,99\"");
    assert_eq!(
        failure.recent,
        ["RDY", "+CFUN: 1", "+CPIN: READY", "> AT+CSQ", "AT+CSQ"]
    );
    let report = failure.to_string();
    assert!(report.contains("line 7 (at virtual time 1s)"), "{report}");
}

#[test]
fn waiting_for_a_line_that_never_comes_fails_after_the_time_limit() {
    let script = "module BC25\ntimeout 1h\nexpect never\n";
    let failure = nbmodem_scenario::run(&nbmodem_scenario::parse(script).unwrap()).unwrap_err();
    assert_eq!(failure.got, "\"RDY\"");
    let script = "module BC25\nwait 2s\nexpect RDY\nexpect +CFUN: 1\nexpect +CPIN: READY\ntimeout 1h\nexpect never\n";
    let failure = nbmodem_scenario::run(&nbmodem_scenario::parse(script).unwrap()).unwrap_err();
    assert_eq!(failure.got, "nothing within 1h");
    assert_eq!(failure.at, std::time::Duration::from_secs(3602));
}

#[test]
fn output_nobody_expected_fails_the_script_at_its_end() {
    let script = "module BC25\nexpect RDY\nexpect +CFUN: 1\nwait 1s\n";
    let failure = nbmodem_scenario::run(&nbmodem_scenario::parse(script).unwrap()).unwrap_err();
    assert_eq!(failure.expected, "no more output at the end of the script");
    assert_eq!(failure.got, "\"+CPIN: READY\"");
    assert_eq!(failure.line, 4, "reported at the last step");
    let complete = "module BC25\nexpect RDY\nexpect +CFUN: 1\nexpect +CPIN: READY\n";
    assert!(nbmodem_scenario::run(&nbmodem_scenario::parse(complete).unwrap()).is_ok());
}

#[test]
fn a_module_that_cannot_be_built_is_reported_at_its_line() {
    let script = "# a comment\n\nmodule BC99\nexpect RDY\n";
    let failure = nbmodem_scenario::run(&nbmodem_scenario::parse(script).unwrap()).unwrap_err();
    assert_eq!(failure.line, 3);
    assert!(
        failure.got.contains("unknown model \"BC99\""),
        "{}",
        failure.got
    );
}

/// Plays the scenario named by `NBMODEM_SCENARIO` (a path under tests/scenarios), for working
/// on one script: `NBMODEM_SCENARIO=x.scn cargo test -p nbmodem-scenario one_scenario`.
#[test]
fn one_scenario() {
    let Ok(name) = std::env::var("NBMODEM_SCENARIO") else {
        return;
    };
    let text = std::fs::read_to_string(scenario_dir().join(name)).unwrap();
    let scenario = nbmodem_scenario::parse(&text).unwrap();
    if let Err(f) = nbmodem_scenario::run(&scenario) {
        panic!("{f}");
    }
}
