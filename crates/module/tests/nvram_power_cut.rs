//! NVRAM survives power cuts: a writer process saving the store in a loop is killed with SIGKILL at
//! random moments, and each time the store holds a whole version, old or new, never a broken one.

use nbmodem_module::nvram::{FileStore, NvramData, NvramStore};
use nbmodem_module::radio::SleepSetting;
use serde_json::json;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const WRITER_ENV: &str = "NBMODEM_NVRAM_WRITER_DIR";
/// Large enough that a write takes a while, so that kills land inside writes.
const PADDING: usize = 1024 * 1024;

/// Version `n` of the store: a counter and a padding made of one repeated digit of `n`.
fn version(n: u64) -> NvramData {
    let mut data = NvramData::new("BC25", "865975030000001", "BC25PAR01A04");
    data.set_section(&SleepSetting {
        mode: (n % 3) as u8,
    });
    let digit = char::from(b'0' + (n % 10) as u8);
    data.unknown.insert("counter".into(), json!(n));
    data.unknown
        .insert("padding".into(), json!(digit.to_string().repeat(PADDING)));
    data
}

/// Checks that `data` is exactly one of the versions; returns its number.
fn check_whole(data: &NvramData) -> u64 {
    let n = data.unknown["counter"].as_u64().expect("counter");
    assert_eq!(data, &version(n), "store holds a mix of versions");
    n
}

fn run_writer(dir: &Path) -> ! {
    let mut store = FileStore::in_dir(dir).unwrap();
    let mut n = match store.load() {
        Ok(Some(data)) => data.unknown["counter"].as_u64().unwrap() + 1,
        _ => 0,
    };
    let mut out = std::io::stdout();
    loop {
        // The parent reads these lines to know whether its kill landed inside a save.
        writeln!(out, "saving {n}")
            .and_then(|_| out.flush())
            .unwrap();
        store.save(&version(n)).unwrap();
        writeln!(out, "saved {n}")
            .and_then(|_| out.flush())
            .unwrap();
        n += 1;
    }
}

#[test]
fn kill_9_during_writes_leaves_a_whole_store() {
    if let Ok(dir) = std::env::var(WRITER_ENV) {
        run_writer(Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut last = None;
    let mut kills_inside_a_write = 0;
    for round in 0..30u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "kill_9_during_writes_leaves_a_whole_store",
                "--nocapture",
            ])
            .env(WRITER_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different moment each round: 30 to 229 ms into the run.
        std::thread::sleep(Duration::from_millis(30 + (round * 37) % 200));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let mut said = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut said)
            .unwrap();
        if said.lines().last().is_some_and(|l| l.starts_with("saving")) {
            kills_inside_a_write += 1;
        }
        let mut store = FileStore::in_dir(dir.path()).unwrap();
        if let Some(data) = store.load().expect("a readable store after every kill") {
            let n = check_whole(&data);
            assert!(
                last.is_none_or(|l| n >= l),
                "a kill went back in time: {n} after {last:?}"
            );
            last = Some(n);
        }
    }
    eprintln!("{kills_inside_a_write} of 30 kills inside a save; last version {last:?}");
    assert!(
        last.unwrap_or(0) >= 3,
        "the writers made progress: {last:?}"
    );
    assert!(
        kills_inside_a_write >= 10,
        "only {kills_inside_a_write} kills landed inside a save"
    );
}
