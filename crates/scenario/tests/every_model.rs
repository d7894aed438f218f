//! The issue's "done when" on every seed model and every operator it serves, in virtual time
//! against the stand-in platforms: switch self-registration (or DM) on, reboot, and the operator's
//! stand-in records the registration with the right fields.

use nbmodem_module::{Operator, Profile, PROFILES};
use nbmodem_platform::{Server, Store, Verdict};
use nbmodem_scenario::{Bench, ModuleSetup, StandIns};
use std::time::Duration;

const APP_KEY: &str = "M100000089";
const PASSWORD: &str = "77GaaTUi33nUK05ha528888QFbk0Y38M";
const TERMINAL_IMEI: &str = "863703030822519";
/// The module's default IMEI.
const IMEI: &str = "865975030000001";

/// A SIM of `operator`: IMSI and ICCID.
fn sim(operator: Operator) -> (&'static str, &'static str) {
    match operator {
        Operator::ChinaTelecom => ("460110000000001", "89861100000000000077"),
        Operator::ChinaUnicom => ("460060000000001", "89860600000000000077"),
        Operator::ChinaMobile => ("460040000000001", "89860400000000000077"),
        Operator::Other => unreachable!("no profile serves another operator"),
    }
}

/// The commands that switch the operator's feature on, as the profile names them.
fn switch_on(p: &Profile, operator: Operator) -> Vec<String> {
    let has = |name: &str| p.commands().lookup(name).is_some();
    let mut commands = Vec::new();
    let switch_needed = operator != Operator::ChinaMobile || p.dm.needs_self_registration_switch;
    if switch_needed && has("+QSELFREGISTER") {
        commands.push("AT+QSELFREGISTER=1".to_string());
    }
    if switch_needed && has("+QSREGENABLE") {
        commands.push("AT+QSREGENABLE=1".to_string());
    }
    if operator == Operator::ChinaMobile {
        commands.push(format!(
            "AT{}=2,\"{APP_KEY}\",\"{PASSWORD}\",1,{TERMINAL_IMEI}",
            p.dm.command
        ));
    }
    commands
}

/// Runs the user's steps on `p` with a SIM of `operator`; returns the stand-ins.
fn enable_and_reboot(p: &Profile, operator: Operator) -> StandIns {
    let (imsi, iccid) = sim(operator);
    let mut setup = ModuleSetup::model(p.model);
    setup.imsi = Some(imsi.into());
    setup.iccid = Some(iccid.into());
    let mut stand_ins = StandIns::new(&mut setup).unwrap();
    let mut bench = Bench::new(setup).unwrap();
    stand_ins.attach(&mut bench).unwrap();
    stand_ins.issue_app_key(APP_KEY, PASSWORD).unwrap();
    bench.power_on();
    bench.advance(Duration::from_secs(1));
    bench.at("ATE0");
    for command in switch_on(p, operator) {
        assert_eq!(bench.at(&command), "\r\nOK\r\n", "{} {command}", p.model);
    }
    bench.at(p.reboot_command);
    bench.advance(Duration::from_secs(30));
    stand_ins
}

#[test]
fn every_model_registers_with_each_of_its_operators() {
    for p in PROFILES {
        for &operator in p.operators {
            let stand_ins = enable_and_reboot(p, operator);
            let store = Store::open(stand_ins.data_dir()).unwrap();
            let (imsi, iccid) = sim(operator);
            let what = format!("{} on {operator:?}", p.model);
            let server = match operator {
                Operator::ChinaTelecom => Server::Ct,
                Operator::ChinaUnicom => Server::Cu,
                Operator::ChinaMobile => {
                    let devices = store.devices().unwrap();
                    let [device] = &devices[..] else {
                        panic!("{what}: {devices:?}")
                    };
                    assert_eq!(
                        (
                            device.app_key.as_str(),
                            device.imei.as_str(),
                            device.imsi.as_str()
                        ),
                        (APP_KEY, TERMINAL_IMEI, imsi),
                        "{what}"
                    );
                    continue;
                }
                Operator::Other => unreachable!("no profile serves another operator"),
            };
            let records = store.records(server).unwrap();
            let accepted: Vec<_> = records
                .iter()
                .filter(|r| r.verdict == Verdict::Accepted)
                .collect();
            assert!(!accepted.is_empty(), "{what}: {records:?}");
            // The model field: vendor code, a dash, the model with its dashes made spaces.
            let model = format!("QUE-{}", p.model.replace('-', " "));
            for r in accepted {
                let fields = &r.fields;
                assert_eq!(fields["regver"], "2", "{what}");
                assert_eq!(fields["meid"], IMEI, "{what}");
                assert_eq!(fields["model"], model.as_str(), "{what}");
                assert_eq!(fields["swver"], p.default_firmware, "{what}");
                assert_eq!(fields["iccid"], iccid, "{what}");
                assert_eq!(fields["imsi"], imsi, "{what}");
            }
        }
    }
}
