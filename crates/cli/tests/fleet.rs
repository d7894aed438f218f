//! `nbmodem fleet` as a user runs it, and as a Kubernetes Indexed Job would: the example fleet
//! (made smaller) in one process, then in three shard processes told their part by
//! JOB_COMPLETION_INDEX and NBMODEM_FLEET_SHARDS, whose summaries `nbmodem fleet merge` adds up
//! to exactly the one process's.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn nbmodem() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nbmodem"))
}

/// The example fleet, 9 modules for 9 virtual hours, all in good coverage with datagrams
/// crossing at once: with a timed radio link a registration's location (`/rd/N`, numbered by the
/// platform across the fleet) can be a byte longer in one run than in its shards, and airtime
/// with it (docs/decisions.md).
fn fleet_file(dir: &Path) -> std::path::PathBuf {
    let example = include_str!("../../../examples/fleet/meters.toml");
    let small = example
        .replace("count = 200", "count = 9")
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
    let ran = nbmodem()
        .arg("fleet")
        .arg(&file)
        .args(["--quiet", "--summary"])
        .arg(&whole)
        .arg("--devices")
        .arg(&rows)
        .arg("--plot")
        .arg(&plot)
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let total = summary(&whole)["total"].clone();
    assert_eq!(total["modules"], 9);
    assert_eq!(total["uplinks_sent"], 18, "rounds at 4 h and 8 h");
    assert_eq!(
        total["uplinks_acknowledged"], 9,
        "those of the fault window lost"
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
    let merged = merge.output().unwrap();
    assert!(
        merged.status.success(),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let merged_path = dir.path().join("merged.json");
    std::fs::write(&merged_path, &merged.stdout).unwrap();
    let document: Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert_eq!(
        document["summary"]["shards"],
        serde_json::json!(["0/3", "1/3", "2/3"])
    );
    assert_eq!(summary(&merged_path), summary(&whole));
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
