//! `nbmodem fleet` as a user runs it, and as a Kubernetes Indexed Job would: the example fleet
//! (made smaller) in one process, then in three shard processes told their part by
//! JOB_COMPLETION_INDEX and NBMODEM_FLEET_SHARDS, whose summaries `nbmodem fleet merge` adds up
//! to exactly the one process's, and on several threads the same as on one. In real time: a
//! fleet pointed at a server of the user's by `--route`, a fleet on loopback that outnumbers the
//! files the process may open (its modules share sockets), and a fleet routed beyond the machine
//! that needs more files than allowed, refused up front.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn nbmodem() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nbmodem"))
}

/// Runs `command`, which must succeed (its standard error in the message if it does not).
fn succeeded(command: &mut Command) -> Output {
    let ran = command.output().unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    ran
}

/// The example fleet, 9 modules for 9 virtual hours, its uplinks confirmable, all in good
/// coverage with datagrams crossing at once: with a timed radio link a registration's location
/// (`/rd/N`, numbered by the platform across the fleet) can be a byte longer in one run than in
/// its shards, and airtime with it (docs/decisions.md).
fn fleet_file(dir: &Path) -> std::path::PathBuf {
    let example = include_str!("../../../examples/fleet/meters.toml");
    let small = example
        .replace("count = 200", "count = 9")
        // Confirmable uplinks: those the fault window loses are sent again.
        .replace("AT+NMGS=5,00454C4C4F\"", "AT+NMGS=5,00454C4C4F,100\"")
        .replace("coverage = { good = 70, edge = 20, deep = 10 }\n", "")
        .replace("duration = \"24h\"", "duration = \"9h\"")
        .replace("at = \"12h\"", "at = \"4h\"")
        .replace("until = \"12h30m\"", "until = \"4h30m\"");
    let path = dir.join("fleet.toml");
    std::fs::write(&path, small).unwrap();
    path
}

fn summary(path: &Path) -> Value {
    let document: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut summary = document["summary"].clone();
    summary["shards"] = Value::Null;
    summary
}

#[test]
fn a_fleet_runs_and_its_shards_merge_into_the_same_summary() {
    let dir = tempfile::tempdir().unwrap();
    let file = fleet_file(dir.path());
    let (whole, rows, plot) = (
        dir.path().join("whole.json"),
        dir.path().join("devices.jsonl"),
        dir.path().join("fleet.svg"),
    );
    succeeded(
        nbmodem()
            .arg("fleet")
            .arg(&file)
            .args(["--quiet", "--summary"])
            .arg(&whole)
            .arg("--devices")
            .arg(&rows)
            .arg("--plot")
            .arg(&plot),
    );
    let total = summary(&whole)["total"].clone();
    assert_eq!(total["modules"], 9);
    assert_eq!(total["uplinks_sent"], 18, "rounds at 4 h and 8 h");
    assert_eq!(
        total["uplinks_acknowledged"], 9,
        "those of the fault window lost"
    );
    assert_eq!(
        total["coap_retransmissions"], 45,
        "each lost uplink sent 5 more times (the BC260Y-CN's MAX_RETRANSMIT)"
    );
    let rows = std::fs::read_to_string(&rows).unwrap();
    assert_eq!(rows.lines().count(), 9, "a line per module");
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline"),
        "{svg}"
    );

    let shards: Vec<_> = (0..3)
        .map(|k| {
            let out = dir.path().join(format!("shard{k}.json"));
            let child = nbmodem()
                .arg("fleet")
                .arg(&file)
                .args(["--quiet", "--summary"])
                .arg(&out)
                .env("JOB_COMPLETION_INDEX", k.to_string())
                .env("NBMODEM_FLEET_SHARDS", "3")
                .spawn()
                .unwrap();
            (child, out)
        })
        .collect();
    let mut merge = nbmodem();
    merge.args(["fleet", "merge"]);
    for (mut child, out) in shards {
        assert!(child.wait().unwrap().success());
        assert_eq!(summary(&out)["total"]["modules"], 3);
        merge.arg(out);
    }
    let merged = succeeded(&mut merge);
    let merged_path = dir.path().join("merged.json");
    std::fs::write(&merged_path, &merged.stdout).unwrap();
    let document: Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert_eq!(
        document["summary"]["shards"],
        serde_json::json!(["0/3", "1/3", "2/3"])
    );
    assert_eq!(summary(&merged_path), summary(&whole));
}

/// `--threads N` splits the run into N slices, each on its own simulated network and stand-ins:
/// the summary and every device's row are the same as on one thread.
#[test]
fn a_fleet_on_several_threads_is_the_same_fleet_as_on_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = fleet_file(dir.path());
    let run = |threads: &str| {
        let (out, rows, data) = (
            dir.path().join(format!("threads{threads}.json")),
            dir.path().join(format!("threads{threads}.jsonl")),
            dir.path().join(format!("data{threads}")),
        );
        succeeded(
            nbmodem()
                .arg("fleet")
                .arg(&file)
                .args(["--quiet", "--threads", threads, "--summary"])
                .arg(&out)
                .arg("--devices")
                .arg(&rows)
                .arg("--data")
                .arg(&data),
        );
        let text = |path| std::fs::read_to_string(path).unwrap();
        (text(&out), text(&rows), data)
    };
    let (one, one_rows, _) = run("1");
    let (four, four_rows, data) = run("4");
    assert_eq!(four, one);
    assert_eq!(four_rows, one_rows);
    for k in 0..4 {
        let database = data.join(format!("part-{k}")).join("platform.sqlite");
        assert!(database.exists(), "{}", database.display());
    }
}

#[test]
fn the_last_progress_line_is_where_the_run_ended() {
    // A run shorter than the line's second would otherwise end on its first line, at 00:00:00.
    let dir = tempfile::tempdir().unwrap();
    let file = fleet_file(dir.path());
    let ran = succeeded(nbmodem().arg("fleet").arg(&file));
    let stderr = String::from_utf8_lossy(&ran.stderr);
    let last = stderr.lines().rev().find(|l| !l.is_empty()).unwrap();
    let summary: Value = serde_json::from_slice(&ran.stdout).unwrap();
    let total = &summary["summary"]["total"];
    let expected = format!(
        "fleet: virtual time 09:00:00, 9/9 started, uplinks {} sent {} acknowledged,",
        total["uplinks_sent"], total["uplinks_acknowledged"]
    );
    assert!(last.starts_with(&expected), "{stderr}");
}

#[test]
fn a_bad_fleet_file_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "duration = \"1h\"\n[[group]]\nname = \"x\"\nmodel = \"BC999\"\ncount = 1\n",
    )
    .unwrap();
    let ran = nbmodem().arg("fleet").arg(&path).output().unwrap();
    assert!(!ran.status.success());
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(stderr.contains("no model \"BC999\""), "{stderr}");
}

/// A real-time fleet of `modules` that registers with the CT IoT platform and then waits.
fn real_time_file(dir: &Path, modules: usize) -> std::path::PathBuf {
    let text = format!(
        r#"
seed = 3
duration = "10s"
[[group]]
name = "meters"
model = "BC260Y-CN"
count = {modules}
platform = "iot"
start = ["ATE0", "AT+NNMI=1", {{ pause = "5s" }},
         {{ at = 'AT+NCDPOPEN="180.101.147.115",5683', expect = "+QLWEVTIND: 3", within = "3s" }}]
"#
    );
    let path = dir.join("real-time.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_real_time_fleet_goes_where_its_route_says() {
    let dir = tempfile::tempdir().unwrap();
    // The user's own server: a socket that takes the module's registration and never answers.
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let route = format!("180.101.147.115:5683={}", server.local_addr().unwrap());
    let ran = succeeded(
        nbmodem()
            .arg("fleet")
            .arg(real_time_file(dir.path(), 1))
            .args(["--real-time", "--quiet", "--route", &route]),
    );
    server.set_nonblocking(true).unwrap();
    let mut datagram = [0u8; 1500];
    let (len, _) = server.recv_from(&mut datagram).unwrap();
    assert!(
        datagram[..len].windows(2).any(|w| w == b"rd"),
        "an LwM2M Register (POST /rd): {:?}",
        &datagram[..len]
    );
    let document: Value = serde_json::from_slice(&ran.stdout).unwrap();
    let total = &document["summary"]["total"];
    assert_eq!(total["modules"], 1);
    assert_eq!(total["started"], 0, "the server never answered");
    assert_eq!(total["failures"]["no +QLWEVTIND: 3 within 3s"], 1);
}

/// Runs `nbmodem fleet FILE --real-time --quiet ARGS` allowed at most `open_files` open files.
fn fleet_with_open_files(file: &Path, args: &str, open_files: u32) -> std::process::Output {
    // `ulimit -n` in sh lowers the soft and the hard limit: the run cannot raise it back.
    let command = format!(
        "ulimit -n {open_files} && exec '{}' fleet '{}' --real-time --quiet {args}",
        env!("CARGO_BIN_EXE_nbmodem"),
        file.display()
    );
    Command::new("sh").args(["-c", &command]).output().unwrap()
}

#[test]
fn a_real_time_fleet_shares_its_sockets_so_it_may_outnumber_the_open_files_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let ran = fleet_with_open_files(&real_time_file(dir.path(), 400), "", 300);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let document: Value = serde_json::from_slice(&ran.stdout).unwrap();
    let total = &document["summary"]["total"];
    assert_eq!(total["modules"], 400);
    assert_eq!(total["started"], 400, "{total}");
    // Below what the stand-ins and the shared sockets need, whatever the fleet's size.
    let ran = fleet_with_open_files(&real_time_file(dir.path(), 1), "", 64);
    assert_eq!(ran.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(
        stderr.contains("a fleet in real time needs about 256 open files")
            && stderr.contains("may open 64 (ulimit -n)"),
        "{stderr}"
    );
}

#[test]
fn a_real_time_fleet_routed_beyond_the_machine_is_refused_if_it_needs_more_files_than_allowed() {
    let dir = tempfile::tempdir().unwrap();
    // Refused before it starts: nothing is sent to the documentation address.
    let route = "--route 180.101.147.115:5683=192.0.2.10:5683";
    let ran = fleet_with_open_files(&real_time_file(dir.path(), 100), route, 64);
    assert_eq!(ran.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(
        stderr.contains(
            "100 modules in real time routed beyond this machine need about 456 open files"
        ) && stderr.contains("may open 64 (ulimit -n)"),
        "{stderr}"
    );
}

#[test]
fn a_route_is_refused_without_real_time() {
    let dir = tempfile::tempdir().unwrap();
    let ran = nbmodem()
        .arg("fleet")
        .arg(real_time_file(dir.path(), 1))
        .args(["--route", "180.101.147.115:5683=127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(!ran.status.success());
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(stderr.contains("--real-time"), "{stderr}");
}
