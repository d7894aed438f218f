//! China Mobile DM against the stand-in CMDMP server in virtual time: what the server decrypts
//! (identity and the object 666 values), the per-profile retransmission when it is silent, the
//! PLMN restriction, and DM_mode.

use nbmodem_module::Route;
use nbmodem_net::sim::Fate;
use nbmodem_platform::{Addresses, DmServer, Platform, Store};
use nbmodem_scenario::{Bench, ModuleSetup, MODULE_ADDRESS};
use std::time::Duration;

const KEY: &str = "M100000089";
const PASSWORD: &str = "77GaaTUi33nUK05ha528888QFbk0Y38M";

struct World {
    bench: Bench,
    dir: tempfile::TempDir,
}

fn world(model: &str, commands: &[&str]) -> World {
    let mut setup = ModuleSetup::model(model);
    setup.routes = Addresses::default()
        .routes()
        .iter()
        .map(|r| r.parse::<Route>().unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut bench = Bench::new(setup).unwrap();
    let mut platform = Platform::open(dir.path(), 1).unwrap();
    platform
        .dm
        .issue_app_key(Some(KEY), Some(PASSWORD))
        .unwrap();
    platform.attach(bench.network(), &Addresses::default());
    bench.power_on();
    bench.advance(Duration::from_secs(1));
    bench.at("ATE0");
    for command in commands {
        assert_eq!(bench.at(command), "\r\nOK\r\n", "{command}");
    }
    // Settings take effect at the next boot.
    bench.at("AT+QRST=1");
    bench.advance(Duration::from_secs(1));
    bench.take_raw();
    bench.at("ATE0");
    World { bench, dir }
}

fn credentials() -> String {
    format!("AT+QDMPCFG=2,\"{KEY}\",\"{PASSWORD}\",1,863703030822519")
}

fn dm_state(bench: &mut Bench) -> String {
    bench.at("AT+QDMPCFG=6")
}

#[test]
fn the_server_decrypts_the_identity_and_the_666_values() {
    let mut w = world(
        "BC26",
        &[
            &credentials(),
            "AT+QDMPCFGEX=1,0,\"00-01-6C-06-A6-29\"",
            "AT+QDMPCFGEX=3,0,\"BC26NBR01A07\",\"Quectel\"",
        ],
    );
    w.bench.advance(Duration::from_secs(10));
    assert_eq!(dm_state(&mut w.bench), "\r\n+QDMPCFG: 6,6\r\n\r\nOK\r\n");
    let devices = Store::open(w.dir.path()).unwrap().devices().unwrap();
    let [device] = &devices[..] else {
        panic!("{devices:?}")
    };
    assert_eq!(
        (
            device.app_key.as_str(),
            device.imei.as_str(),
            device.imsi.as_str()
        ),
        (KEY, "863703030822519", "460040000000001")
    );
    assert!(
        device.endpoint.starts_with("L@#@"),
        "terminal type 1 is Linux: {}",
        device.endpoint
    );
    let values: Vec<&str> = device.info.values().map(String::as_str).collect();
    for expected in ["00-01-6C-06-A6-29", "BC26NBR01A07", "Quectel"] {
        assert!(
            values.contains(&expected),
            "{expected} not in {:?}",
            device.info
        );
    }
}

#[test]
fn a_silent_server_gets_the_bc260y_retransmissions_then_register_timeout() {
    let mut w = world(
        "BC260Y-CN",
        &["AT+QDMPCFG=1,117.161.2.41,5683,300", &credentials()],
    );
    // A China Mobile SIM is not the BC260Y-CN default: give it one.
    let mut setup = ModuleSetup::model("BC260Y-CN");
    setup.imsi = Some("460040000000001".into());
    setup.iccid = Some("89860400000000000001".into());
    setup.routes = Addresses::default()
        .routes()
        .iter()
        .map(|r| r.parse::<Route>().unwrap())
        .collect();
    w.bench.replace_setup(setup);
    w.bench.network().detach(Addresses::default().dm);
    w.bench.restart_process().unwrap();
    let start = w.bench.now();
    w.bench.advance(Duration::from_secs(200));
    let sends: Vec<u64> = w
        .bench
        .network()
        .records()
        .iter()
        .filter(|r| r.from == MODULE_ADDRESS && r.sent >= start && r.fate == Fate::NoRoute)
        .map(|r| r.sent.saturating_since(start).as_secs())
        .collect();
    assert_eq!(
        sends,
        [3, 5, 9, 17, 33, 65],
        "2, 4, 8, 16, 32 s after the first, from attach at 3 s"
    );
    w.bench.at("ATE0");
    assert_eq!(
        dm_state(&mut w.bench),
        "\r\n+QDMPCFG: 6,8\r\n\r\nOK\r\n",
        "register timeout after 126 s"
    );
}

#[test]
fn plmn_list_and_dm_mode_restrict_dm() {
    let mut other_plmn = world(
        "BC28",
        &[
            "AT+DMPCONFIG=2,\"M100000089\",\"77GaaTUi33nUK05ha528888QFbk0Y38M\",1,863703030822519",
            "AT+DMPCONFIG=3,46008",
        ],
    );
    other_plmn.bench.advance(Duration::from_secs(30));
    assert_eq!(
        other_plmn.bench.at("AT+DMPCONFIG=6"),
        "\r\n6,0\r\n\r\nOK\r\n",
        "46004 is not in the list"
    );
    let mut allowed = world(
        "BC28",
        &[
            "AT+DMPCONFIG=2,\"M100000089\",\"77GaaTUi33nUK05ha528888QFbk0Y38M\",1,863703030822519",
            "AT+DMPCONFIG=3,46004",
        ],
    );
    allowed.bench.advance(Duration::from_secs(30));
    assert_eq!(allowed.bench.at("AT+DMPCONFIG=6"), "\r\n6,6\r\n\r\nOK\r\n");
    let mut off = world("BC26", &[&credentials(), "AT+QDMPCFG=0,0"]);
    off.bench.advance(Duration::from_secs(30));
    assert_eq!(dm_state(&mut off.bench), "\r\n+QDMPCFG: 6,0\r\n\r\nOK\r\n");
    let dm: &mut DmServer = off.bench.network().node(Addresses::default().dm).unwrap();
    assert!(dm.devices().unwrap().is_empty());
}

#[test]
fn the_default_update_period_is_24_hours() {
    let mut w = world("BC26", &[&credentials()]);
    w.bench.advance(Duration::from_secs(10));
    assert_eq!(dm_state(&mut w.bench), "\r\n+QDMPCFG: 6,6\r\n\r\nOK\r\n");
    w.bench.advance(Duration::from_secs(86_400 - 20));
    assert_eq!(
        dm_state(&mut w.bench),
        "\r\n+QDMPCFG: 6,6\r\n\r\nOK\r\n",
        "not yet"
    );
    w.bench.advance(Duration::from_secs(20));
    assert_eq!(
        dm_state(&mut w.bench),
        "\r\n+QDMPCFG: 6,11\r\n\r\nOK\r\n",
        "updated 24 h after registering"
    );
    let updates = Store::open(w.dir.path())
        .unwrap()
        .records(nbmodem_platform::Server::Dm)
        .unwrap();
    assert!(
        updates.iter().any(|r| r.operation == "update"),
        "the server recorded the Update"
    );
}
