//! Two modules on one simulated network, each with its own identity and services, beside one set
//! of stand-in platforms: each registers with CMDMP as itself, and neither gets the other's
//! answers (fleets of modules in one process rest on this).

use nbmodem_clock::{Timed, VirtualClock};
use nbmodem_module::node::ModuleNode;
use nbmodem_module::nvram::MemoryStore;
use nbmodem_module::services::cmdmp::Cmdmp;
use nbmodem_module::Module;
use nbmodem_net::sim::SimNetwork;
use nbmodem_platform::{Addresses, Platform, Store};
use nbmodem_scenario::ModuleSetup;
use std::net::IpAddr;
use std::time::Duration;

fn module(imei: &str, imsi: &str) -> ModuleNode {
    let mut setup = ModuleSetup::model("BC26");
    setup.imei = Some(imei.into());
    setup.imsi = Some(imsi.into());
    for route in Addresses::default().routes() {
        setup.routes.push(route.parse().unwrap());
    }
    ModuleNode::new(Module::new(setup.config().unwrap(), Box::new(MemoryStore::new())).unwrap())
}

#[test]
fn two_modules_register_each_as_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = SimNetwork::new(VirtualClock::DEFAULT_START, 1);
    Platform::open(dir.path(), 5, nbmodem_platform::Writing::Inline)
        .unwrap()
        .attach(&mut net, &Addresses::default());
    let hosts: [(IpAddr, &str, &str); 2] = [
        (
            "127.0.0.100".parse().unwrap(),
            "865975030000001",
            "460040000000001",
        ),
        (
            "127.0.0.101".parse().unwrap(),
            "865975030000019",
            "460040000000002",
        ),
    ];
    for (ip, imei, imsi) in hosts {
        let mut node = module(imei, imsi);
        node.module_mut().power_on(net.now());
        net.attach_host(ip, node);
    }
    net.run_for(Duration::from_secs(10));
    for (ip, imei, _) in hosts {
        let node = net.host::<ModuleNode>(ip).unwrap();
        let state = node.module().services().get::<Cmdmp>().map(Cmdmp::state);
        assert_eq!(state, Some(6), "{imei} registered");
        assert!(
            node.module().poll_timeout().is_some(),
            "{imei}: its next Update is due"
        );
    }
    let mut devices: Vec<(String, String)> = Store::open(dir.path())
        .unwrap()
        .devices()
        .unwrap()
        .into_iter()
        .map(|d| (d.imei, d.imsi))
        .collect();
    devices.sort();
    assert_eq!(
        devices,
        [
            ("865975030000001".to_string(), "460040000000001".to_string()),
            ("865975030000019".to_string(), "460040000000002".to_string())
        ]
    );
}
