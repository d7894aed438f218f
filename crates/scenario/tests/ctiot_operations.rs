//! Operations on a device's object tree asked through the stand-in CT IoT platform (the console's
//! tree, like Leshan's), in virtual time with a BC260Y-CN: queued until the device's next
//! contact, then Read, Observe and a refused Execute each settled by the device's answer.

use nbmodem_platform::ctiot::operation::{NewOperation, OperationKind, OperationStatus};
use nbmodem_platform::ctiot::NewDevice;
use nbmodem_platform::Flavour;
use nbmodem_scenario::{Bench, ModuleSetup, StandIns};
use std::time::Duration;

const IMEI: &str = "865975030000001";

fn registered() -> (Bench, StandIns) {
    let mut setup = ModuleSetup::model("BC260Y-CN");
    let mut stand_ins = StandIns::new(&mut setup).unwrap();
    let mut bench = Bench::new(setup).unwrap();
    stand_ins.attach(&mut bench).unwrap();
    let device = NewDevice {
        imei: IMEI.into(),
        psk: None,
        product: None,
        reply: Some(false),
    };
    stand_ins.add_device(Flavour::Iot, device).unwrap();
    bench.power_on();
    bench.advance(Duration::from_secs(3));
    for command in ["ATE0", "AT+QSCLK=0"] {
        bench.at(command);
    }
    let open = bench.at("AT+NCDPOPEN=\"180.101.147.115\",5683");
    assert!(open.contains("+QLWEVTIND: 3"), "{open:?}");
    (bench, stand_ins)
}

fn ask(kind: OperationKind, path: &str) -> NewOperation {
    NewOperation {
        kind,
        path: path.into(),
        value: None,
    }
}

#[test]
fn operations_wait_for_the_device_s_contact_and_end_with_its_answer() {
    let (mut bench, mut stand_ins) = registered();
    for (kind, path) in [
        (OperationKind::Read, "/3/0"),
        (OperationKind::Observe, "/3/0/0"),
        (OperationKind::Execute, "/3/0/0"),
    ] {
        let queued = stand_ins
            .operate(&bench, Flavour::Iot, IMEI, ask(kind, path))
            .unwrap();
        assert_eq!(queued.status, OperationStatus::Queued);
    }
    bench.advance(Duration::from_secs(5));
    let waiting = stand_ins.operations(Flavour::Iot, IMEI).unwrap();
    assert!(
        waiting
            .iter()
            .all(|op| op.status == OperationStatus::Queued),
        "no contact yet"
    );

    assert!(
        bench.at("AT+NMGS=1,00").starts_with("\r\nOK\r\n"),
        "an uplink: a contact"
    );
    bench.advance(Duration::from_secs(5));
    let done = stand_ins.operations(Flavour::Iot, IMEI).unwrap();
    let (execute, observe, read) = (&done[0], &done[1], &done[2]);
    assert_eq!(
        (read.status, read.code.as_deref()),
        (OperationStatus::Done, Some("2.05"))
    );
    assert!(read.content.is_some(), "{read:?}");
    assert_eq!(
        (observe.status, observe.code.as_deref()),
        (OperationStatus::Done, Some("2.05"))
    );
    assert_eq!(
        execute.status,
        OperationStatus::Failed,
        "the manufacturer is not executable"
    );
    assert_eq!(execute.code.as_deref(), Some("4.05"));
}

#[test]
fn an_operation_that_is_not_one_is_refused() {
    let (bench, mut stand_ins) = registered();
    let refused = stand_ins.operate(
        &bench,
        Flavour::Iot,
        IMEI,
        ask(OperationKind::Write, "/1/0/1"),
    );
    assert!(refused.unwrap_err().contains("needs a value"));
    let refused = stand_ins.operate(&bench, Flavour::Iot, IMEI, ask(OperationKind::Read, "3/x"));
    assert!(refused.is_err());
    assert!(stand_ins.operations(Flavour::Iot, IMEI).unwrap().is_empty());
}
