//! The engines stay sans-IO by construction: this crate may depend on the protocol engines and
//! on data crates, never on a database, an async runtime, an HTTP stack, the store or the
//! server, nor on the UDP sockets of `nbmodem-net`. (Its other tests build and run with what is
//! listed here alone.)

const ALLOWED: &[&str] = &[
    "nbmodem-clock",
    // Pure functions of their input; its JavaScript engine has no file, network or module access.
    "nbmodem-codec",
    "nbmodem-coap",
    "nbmodem-dtls",
    "nbmodem-lwm2m",
    "nbmodem-net",
    "nbmodem-operators",
    "coap-lite",
    "serde",
    "serde_json",
    "thiserror",
];

/// The names and lines of the `[dependencies]` table of this crate's manifest.
fn dependencies() -> Vec<(String, String)> {
    let manifest = include_str!("../Cargo.toml");
    let mut in_table = false;
    let mut found = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == "[dependencies]";
        } else if in_table && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.']).next().unwrap_or_default().trim();
            found.push((name.to_string(), line.to_string()));
        }
    }
    found
}

#[test]
fn the_engines_depend_on_nothing_that_does_io() {
    let dependencies = dependencies();
    assert!(!dependencies.is_empty(), "the manifest was read");
    for (name, line) in &dependencies {
        assert!(
            ALLOWED.contains(&name.as_str()),
            "{name} does I/O or is not vetted: {line}"
        );
        assert!(!line.contains("udp"), "no sockets: {line}");
    }
}
