//! `--trace` and `--pcap` as a firmware engineer uses them: seed 002's §4.1.2 transcript played
//! with both, Wireshark's `tshark` reading the capture with no settings, and the trace holding a
//! line per AT line and per datagram; and a DTLS-PSK link that tshark decrypts with the key.
//!
//! tshark comes from Debian (`tshark`); `scripts/test` installs it and sets `NBMODEM_INTEROP`,
//! which turns a missing tshark into a failure. Without it, a test whose tshark is missing prints
//! a note and passes (the trace checks still run).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const NBMODEM: &str = env!("CARGO_BIN_EXE_nbmodem");
const IMEI: &str = "865975030000001";
const KEY: &str = "00112233445566778899aabbccddeeff";
/// The IoT platform's public address, as the module believes it.
const PLATFORM: &str = "180.101.147.115";

/// Whether tshark is installed. When it is not: fails under `NBMODEM_INTEROP`, else notes it.
fn tshark_available() -> bool {
    let present = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !present && std::env::var_os("NBMODEM_INTEROP").is_some() {
        panic!(
            "tshark is not installed; install it with `apt-get install tshark` (scripts/test does)"
        );
    }
    if !present {
        eprintln!("note: interop test skipped: tshark is not installed (`apt-get install tshark`)");
    }
    present
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scenarios")
        .join(name)
}

/// Plays `script` with `--trace` and `--pcap` into `dir`; returns the trace's lines.
fn play(script: &Path, dir: &Path) -> Vec<Value> {
    let output = Command::new(NBMODEM)
        .arg("scenario")
        .arg("--trace")
        .arg(dir.join("trace.jsonl"))
        .arg("--pcap")
        .arg(dir.join("capture.pcapng"))
        .arg(script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let trace = std::fs::read_to_string(dir.join("trace.jsonl")).unwrap();
    trace
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// One row per packet of the capture: the fields asked for, split on `|`.
fn tshark(capture: &Path, options: &[&str], fields: &[&str]) -> Vec<Vec<String>> {
    let mut command = Command::new("tshark");
    command.arg("-r").arg(capture).args(options);
    command.args(["-T", "fields", "-E", "separator=|"]);
    for field in fields {
        command.args(["-e", field]);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| line.split('|').map(String::from).collect())
        .collect()
}

/// The lines of the trace of `kind` (`at` or `datagram`) going `dir`.
fn lines<'a>(trace: &'a [Value], kind: &str, dir: &str) -> Vec<&'a Value> {
    trace
        .iter()
        .filter(|line| line["type"] == kind && line["dir"] == dir)
        .collect()
}

/// What a script sends and expects, in order: (sent lines, expected lines).
fn steps(script: &Path) -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(script).unwrap();
    let step = |prefix: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(prefix))
            .map(String::from)
            .collect()
    };
    (step("send "), step("expect "))
}

/// Seed 002 §4.1.2 on the stand-in IoT platform: tshark finds the Register, the platform's
/// Observe of /19/0/0, both uplinks and both AAAA0000 Writes at the public address; the trace
/// has a line per AT line, in order, and one per datagram.
#[test]
fn seed_002_transcript_in_a_trace_and_in_tshark() {
    let dir = tempfile::tempdir().unwrap();
    let script = scenario("seed_002_iot_platform.scn");
    let trace = play(&script, dir.path());

    // Every line has its time, in virtual time from 2026-01-01.
    assert!(trace.iter().all(|l| l["time"]
        .as_str()
        .is_some_and(|t| t.starts_with("2026-01-01T00:00:"))));
    let (sent, expected) = steps(&script);
    let typed: Vec<&str> = lines(&trace, "at", "in")
        .iter()
        .map(|l| l["line"].as_str().unwrap())
        .collect();
    assert_eq!(typed, sent);
    let written = lines(&trace, "at", "out");
    assert_eq!(written.len(), expected.len());
    for (line, expected) in written.iter().zip(&expected) {
        if !expected.starts_with('/') {
            assert_eq!(line["line"].as_str().unwrap(), expected);
        }
    }
    let urcs: Vec<&str> = written
        .iter()
        .filter(|l| l["kind"] == "urc")
        .map(|l| l["line"].as_str().unwrap())
        .collect();
    assert!(urcs.contains(&"+QLWEVTIND: 3") && urcs.contains(&"+NNMI: 4,AAAA0000"));
    let datagrams =
        lines(&trace, "datagram", "sent").len() + lines(&trace, "datagram", "received").len();
    let operations: Vec<&str> = trace.iter().filter_map(|l| l["lwm2m"].as_str()).collect();
    assert_eq!(
        operations,
        [
            "Register",
            "Register response",
            "Observe",
            "Observe response",
            "Notify",
            "Write",
            "Write response",
            "Notify",
            "Write",
            "Write response"
        ]
    );

    if !tshark_available() {
        return;
    }
    let fields = [
        "ip.src",
        "ip.dst",
        "udp.dstport",
        "coap.type",
        "coap.code",
        "coap.opt.uri_path_recon",
        "coap.opt.uri_query",
        "coap.opt.observe",
        "udp.payload",
    ];
    let packets = tshark(&dir.path().join("capture.pcapng"), &[], &fields);
    assert_eq!(packets.len(), datagrams, "a packet per datagram line");
    // POST 0.02, GET 0.01, PUT 0.03, 2.05 Content is 69; CON 0, NON 1.
    let find = |src: &str, code: &str, path: &str| -> Vec<&Vec<String>> {
        packets
            .iter()
            .filter(|p| p[0] == src && p[4] == code && p[5] == path)
            .collect()
    };
    let module = packets[0][0].clone();
    let register = find(&module, "2", "/rd");
    assert_eq!(register.len(), 1, "{packets:?}");
    assert_eq!(
        (register[0][1].as_str(), register[0][2].as_str()),
        (PLATFORM, "5683")
    );
    assert!(
        register[0][6].contains(&format!("ep={IMEI}")),
        "{:?}",
        register[0]
    );
    assert!(text(&register[0][8]).ends_with("</19/0>,</19/1>"));
    let observe = find(PLATFORM, "1", "/19/0/0");
    assert_eq!(observe.len(), 1);
    assert_eq!(observe[0][7], "0", "Observe: 0");
    let uplinks: Vec<(&str, String)> = find(&module, "69", "/19/0/0")
        .iter()
        .filter(|p| !p[7].is_empty() && p[7] != "0")
        .map(|p| (p[3].as_str(), payload(&p[8])))
        .collect();
    assert_eq!(
        uplinks,
        [("1", "00454c4c4f".into()), ("0", "010548454c4c4f".into())],
        "the NON and the CON uplink"
    );
    let writes: Vec<String> = find(PLATFORM, "3", "/19/1/0")
        .iter()
        .map(|p| payload(&p[8]))
        .collect();
    assert_eq!(writes, ["aaaa0000", "aaaa0000"]);
}

/// The payload of a CoAP message in hex: the UDP payload after the 0xff marker.
fn payload(udp_hex: &str) -> String {
    let at = udp_hex
        .as_bytes()
        .chunks(2)
        .position(|pair| pair == b"ff")
        .expect("a payload marker");
    udp_hex[2 * at + 2..].to_string()
}

fn text(udp_hex: &str) -> String {
    let bytes: Vec<u8> = payload(udp_hex)
        .as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

/// A DTLS-PSK link: the capture shows only DTLS records until tshark is given the key
/// (`-o dtls.psk:…`, as docs/user-guide.md says); with it, the Register and the uplink.
#[test]
fn tshark_decrypts_a_dtls_psk_link_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("dtls.scn");
    let text = format!(
        "module BC260Y-CN --platform\n\
         device iot module psk={KEY}\n\
         expect RDY\nexpect +CFUN: 1\nexpect +CPIN: READY\n\
         send ATE0\nexpect ATE0\nexpect OK\nwait 3s\n\
         send AT+NCDPOPEN=\"{PLATFORM}\",5684,\"{KEY}\"\n\
         expect OK\nexpect +QLWEVTIND: 0\nexpect +QLWEVTIND: 3\n\
         send AT+NMGS=5,00454c4c4f\nexpect OK\nexpect +NNMI: 4,AAAA0000\n"
    );
    std::fs::write(&script, text).unwrap();
    let trace = play(&script, dir.path());
    let records: Vec<&str> = trace
        .iter()
        .filter_map(|l| l["dtls"].as_array())
        .flatten()
        .filter_map(|r| r["message"].as_str())
        .collect();
    assert_eq!(records[..2], ["ClientHello", "HelloVerifyRequest"]);
    if !tshark_available() {
        return;
    }
    let capture = dir.path().join("capture.pcapng");
    let fields = [
        "udp.dstport",
        "dtls.record.content_type",
        "coap.opt.uri_path_recon",
    ];
    let sealed = tshark(&capture, &[], &fields);
    assert!(
        sealed.iter().all(|p| p[2].is_empty()),
        "no CoAP without the key"
    );
    assert!(sealed.iter().any(|p| p[1] == "23"), "application data");
    let psk = format!("dtls.psk:{KEY}");
    let opened = tshark(
        &capture,
        &["-o", &psk],
        &["coap.code", "coap.opt.uri_path_recon", "data.data"],
    );
    let coap: Vec<(&str, &str, &str)> = opened
        .iter()
        .filter(|p| !p[0].is_empty())
        .map(|p| (p[0].as_str(), p[1].as_str(), p[2].as_str()))
        .collect();
    assert!(coap.contains(&("2", "/rd", "")), "{coap:?}");
    assert!(coap.contains(&("69", "/19/0/0", "00454c4c4f")), "{coap:?}");
    assert!(coap.contains(&("3", "/19/1/0", "aaaa0000")), "{coap:?}");
}

/// A Read of /3/0 answered in LwM2M TLV: tshark shows the resources with no settings, from the
/// Content-Format (11542) alone.
#[test]
fn tshark_dissects_lwm2m_tlv() {
    use nbmodem_capture::pcap::Pcap;
    use nbmodem_clock::Instant;
    use nbmodem_module::tap::Datagram;
    let dir = tempfile::tempdir().unwrap();
    let datagram = |sent, payload: &[u8]| Datagram {
        at: Instant::from_unix_millis(1_767_225_600_000),
        sent,
        module: "10.1.2.3:49152".parse().unwrap(),
        peer: format!("{PLATFORM}:5683").parse().unwrap(),
        payload: payload.to_vec(),
    };
    // CON GET /3/0, token 0x01; ACK 2.05, Content-Format 11542 (0x2d16), resource 0 "Quectel".
    let read = [0x41, 0x01, 0, 1, 0x01, 0xb1, b'3', 0x01, b'0'];
    let mut answer = vec![0x61, 0x45, 0, 1, 0x01, 0xc2, 0x2d, 0x16, 0xff, 0xc7, 0x00];
    answer.extend_from_slice(b"Quectel");
    let mut bytes = Vec::new();
    let mut pcap = Pcap::new(&mut bytes).unwrap();
    pcap.record(&datagram(false, &read)).unwrap();
    pcap.record(&datagram(true, &answer)).unwrap();
    drop(pcap);
    let capture = dir.path().join("tlv.pcapng");
    std::fs::write(&capture, bytes).unwrap();
    if !tshark_available() {
        return;
    }
    let rows = tshark(
        &capture,
        &[],
        &["lwm2mtlv.resource_name", "lwm2mtlv.resource.manufacturer"],
    );
    assert_eq!(rows[1], ["Manufacturer", "Quectel"], "{rows:?}");
}
