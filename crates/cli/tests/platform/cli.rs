//! `nbmodem platform` as a user runs it: app keys, records and devices as JSON lines, the start-up
//! banner, and faults set through the control port.

use crate::binary::{run, Platform};
use nbmodem_clock::Instant;
use nbmodem_platform::{DmDevice, RequestRecord, Server, Store, Verdict};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn source() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

#[test]
fn appkey_add_issues_keys_and_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let given = run(&[
        "platform",
        "appkey",
        "add",
        "--app-key",
        "M100000089",
        "--password",
        "secret",
        "--data",
        data,
    ]);
    assert!(given.status.success(), "{}", text(&given.stderr));
    assert_eq!(text(&given.stdout), "M100000089 secret\n");
    let generated = text(&run(&["platform", "appkey", "add", "--data", data]).stdout);
    let words: Vec<&str> = generated.split_whitespace().collect();
    assert_eq!(words[0], "M100000090");
    assert_eq!(words[1].len(), 32);
    assert!(words[1].bytes().all(|b| b.is_ascii_alphanumeric()));
    let listed = text(&run(&["platform", "appkey", "list", "--data", data]).stdout);
    // The factory keys of the emulated modules are known from the start, after those two.
    let factory: String = nbmodem_operators::dm::FACTORY_KEYS
        .iter()
        .map(|k| format!("{} {}\n", k.app_key, k.password))
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(listed, format!("M100000089 secret\n{generated}{factory}"));
    let bad = run(&[
        "platform",
        "appkey",
        "add",
        "--app-key",
        "M1@#@",
        "--data",
        data,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("letters and digits"));
}

#[test]
fn records_prints_one_server_as_json_lines_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let at = |ms: u64| Instant::from_unix_millis(1_767_225_600_000 + ms);
    let mut fields = serde_json::Map::new();
    fields.insert("meid".into(), json!("865975030000001"));
    let later = RequestRecord::new(Server::Ct, at(2000), source(), "register").fields(fields);
    let earlier = RequestRecord::new(Server::Ct, at(1000), source(), "register")
        .verdict(Verdict::Dropped, None)
        .fault(Some("drop".into()));
    store.insert(&later).unwrap();
    store
        .insert(&RequestRecord::new(Server::Dm, at(0), source(), "register"))
        .unwrap();
    store.insert(&earlier).unwrap();
    let output = run(&[
        "platform",
        "records",
        "ct",
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let lines: Vec<Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            json!({"server": "ct", "time_ms": 1_767_225_601_000u64, "time": "2026-01-01T00:00:01.000Z",
                   "source": "127.0.0.1:40000", "operation": "register", "verdict": "dropped",
                   "status": null, "fault": "drop", "fields": {}}),
            json!({"server": "ct", "time_ms": 1_767_225_602_000u64, "time": "2026-01-01T00:00:02.000Z",
                   "source": "127.0.0.1:40000", "operation": "register", "verdict": "accepted",
                   "status": null, "fault": null, "fields": {"meid": "865975030000001"}}),
        ]
    );
    let none = run(&[
        "platform",
        "records",
        "cu",
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert!(none.status.success() && none.stdout.is_empty());
}

#[test]
fn records_and_devices_need_an_existing_database() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    for what in ["records", "devices"] {
        let mut args = vec!["platform", what];
        if what == "records" {
            args.push("dm");
        }
        args.extend(["--data", missing.to_str().unwrap()]);
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{what}");
        assert!(
            text(&output.stderr).contains("no platform database"),
            "{what}"
        );
    }
    assert!(!missing.exists(), "looking must not create the directory");
    let bad_server = run(&[
        "platform",
        "records",
        "xx",
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert!(text(&bad_server.stderr).contains("unknown server"));
}

#[test]
fn devices_prints_the_decrypted_information() {
    let dir = tempfile::tempdir().unwrap();
    let device = DmDevice {
        app_key: "M100000089".into(),
        imei: "863703030822519".into(),
        imei2: String::new(),
        imsi: "460040000000001".into(),
        endpoint: "I@#@…".into(),
        info: BTreeMap::from([("mac".to_string(), "00:11:22:33:44:55".to_string())]),
        read_ms: 5,
    };
    Store::open(dir.path())
        .unwrap()
        .save_device(&device)
        .unwrap();
    let output = run(&[
        "platform",
        "devices",
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    let line: DmDevice = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    assert_eq!(line, device);
}

#[test]
fn the_banner_gives_the_module_routes_and_faults_are_set_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(
        dir.path(),
        &["--fault", "dm:reject=2", "--fault", "cu:delay=5s"],
    );
    let routes = platform.banner.last().unwrap();
    for route in [
        format!("--route zzhc.vnet.cn={}", platform.ct),
        format!("--route 114.255.193.236={}", platform.cu),
        format!("--route m.fxltsbl.com={}", platform.dm),
        format!("--route 117.161.2.41={}", platform.dm),
        format!("--route 117.161.2.7={}", platform.dm),
        format!("--route 180.101.147.115:5683={}", platform.iot[0]),
        format!("--route 180.101.147.115:5684={}", platform.iot[1]),
        format!("--route 221.229.214.202:5683={}", platform.aep[0]),
        format!("--route 221.229.214.202:5684={}", platform.aep[1]),
    ] {
        assert!(routes.contains(&route), "{route} missing from {routes}");
    }
    let control = platform.control.to_string();
    let data = dir.path().to_str().unwrap();
    let fault = |words: &[&str]| {
        let mut args = vec!["platform", "fault"];
        args.extend(words);
        args.extend(["--control", &control, "--data", data]);
        run(&args)
    };
    let set = fault(&["ct", "drop=3"]);
    assert!(set.status.success());
    assert_eq!(text(&set.stdout), "OK\n");
    assert!(fault(&["ct", "reject", "1"]).status.success());
    let shown = run(&["platform", "faults", "--control", &control, "--data", data]);
    assert_eq!(
        text(&shown.stdout),
        "ct drop=3 reject=1 delay=0s\ncu drop=0 reject=0 delay=5s\ndm drop=0 reject=2 delay=0s\n\
         iot drop=0 reject=0 delay=0s\naep drop=0 reject=0 delay=0s\nOK\n"
    );
    let refused = fault(&["ct", "explode"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stdout).starts_with("ERROR bad fault"));
    assert!(fault(&["clear"]).status.success());
    let cleared = text(&run(&["platform", "faults", "--control", &control, "--data", data]).stdout);
    assert_eq!(cleared.matches("drop=0 reject=0 delay=0s").count(), 5);
}

/// The database holds the devices' keys: a data directory an older version left open to other
/// users (0755, its database 0644) is made owner-only at start, with a notice per file; a new
/// one is owner-only from the start.
#[test]
fn the_data_directory_and_database_are_owner_only_and_an_open_one_is_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let set = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let database = dir.join(nbmodem_platform::store::DATABASE_FILE);
    let fresh = Platform::start(&dir, &[]);
    assert!(
        !fresh.banner.iter().any(|l| l.starts_with("notice:")),
        "{:?}",
        fresh.banner
    );
    assert_eq!((mode(&dir), mode(&database)), (0o700, 0o600));
    for journal in ["-wal", "-shm"] {
        let path = dir.join(format!(
            "{}{journal}",
            nbmodem_platform::store::DATABASE_FILE
        ));
        assert_eq!(mode(&path), 0o600, "{journal}");
    }
    drop(fresh);
    set(&dir, 0o755);
    set(&database, 0o644);
    let restarted = Platform::start(&dir, &[]);
    let notices: Vec<&String> = restarted
        .banner
        .iter()
        .filter(|l| l.starts_with("notice:"))
        .collect();
    assert_eq!(notices.len(), 2, "{:?}", restarted.banner);
    assert!(notices[0].contains("was mode 0755") && notices[0].ends_with("now 0700"));
    assert!(notices[1].contains("platform.sqlite was mode 0644"));
    assert_eq!((mode(&dir), mode(&database)), (0o700, 0o600));
}

#[test]
fn the_control_port_and_the_api_must_be_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let any = "127.0.0.1:0";
    let options = "--ct --cu --dm --iot --iot-dtls --aep --aep-dtls --control --api";
    for (option, what) in [("--control", "the control port"), ("--api", "the API")] {
        let mut args = vec!["platform", "--data", data, option, "0.0.0.0:0"];
        let others = options.split(' ').filter(|other| *other != option);
        args.extend(others.flat_map(|other| [other, any]));
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{option}");
        let refusal = format!("{what} 0.0.0.0:0 is not a loopback address");
        assert!(text(&output.stderr).contains(&refusal), "{option}");
    }
}

/// Sends `lines` on a new control connection; returns everything the platform answered until it
/// closed the connection or went quiet for a second.
fn raw_control(platform: &Platform, lines: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(platform.control).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(1)))
        .unwrap();
    stream.write_all(lines.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    text(&answer)
}

#[test]
fn the_control_port_takes_commands_only_after_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path(), &[]);
    let token_file = dir.path().join("control.token");
    let mode = std::fs::metadata(&token_file).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    assert!(platform
        .banner
        .contains(&format!("token {}", token_file.display())));

    let refused = raw_control(&platform, "fault ct drop 1000000\n");
    assert!(
        refused.starts_with("ERROR a control connection starts with: token"),
        "{refused}"
    );
    let wrong = raw_control(
        &platform,
        "token 00000000000000000000000000000000\nfaults\n",
    );
    assert!(wrong.starts_with("ERROR"), "{wrong}");
    assert!(!wrong.contains("drop="), "{wrong}");

    let token = std::fs::read_to_string(&token_file).unwrap();
    let shown = raw_control(&platform, &format!("token {}faults\n", token));
    assert!(
        shown.starts_with("OK\nct drop=0 reject=0 delay=0s\n"),
        "{shown}"
    );
}

#[test]
fn connections_without_the_token_do_not_keep_the_operator_out() {
    // Someone without the token keeps 300 connections open, reconnecting as soon as one is
    // closed: more than the platform may have open files. The limit leaves room for what the
    // platform holds anyway (about 50 descriptors: sockets, the databases of each server's
    // writer and of the HTTP API) beside the 80 control connections it admits at most.
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start_with_file_limit(dir.path(), &[], 192);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let (stop, address) = (stop.clone(), platform.control);
        std::thread::spawn(move || {
            use std::io::Read;
            let connect = || std::net::TcpStream::connect(address).ok();
            let mut open: Vec<_> = (0..300).filter_map(|_| connect()).collect();
            for stream in &open {
                stream.set_nonblocking(true).unwrap();
            }
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for stream in open.iter_mut() {
                    let mut buf = [0; 64];
                    let closed = !matches!(stream.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
                    if let Some(fresh) = connect().filter(|_| closed) {
                        fresh.set_nonblocking(true).unwrap();
                        *stream = fresh;
                    }
                }
            }
        })
    };
    let control = platform.control.to_string();
    let data = dir.path().to_str().unwrap();
    for drop in ["drop=1", "drop=2", "drop=3"] {
        let set = run(&[
            "platform",
            "fault",
            "ct",
            drop,
            "--control",
            &control,
            "--data",
            data,
        ]);
        assert_eq!(text(&set.stdout), "OK\n", "{}", text(&set.stderr));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flood.join().unwrap();
}
