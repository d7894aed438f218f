//! A product with a codec on the stand-in China Telecom IoT platform (seed 002 §4.1.1), in
//! virtual time, with a BC260Y-CN typing AT as firmware would: its uplinks are stored as bytes
//! and decoded by the product's compact binary codec (or kept with the reason when they do not
//! decode), and a command goes out encoded, reaches the module as `+NNMI`, and is answered by the
//! module's response uplink, matched by its task id.

use nbmodem_platform::ctiot::admin::NewCommand;
use nbmodem_platform::ctiot::{CodecChoice, DownlinkStatus, NewDevice, Uplink};
use nbmodem_platform::{Flavour, Store};
use nbmodem_scenario::{Bench, ModuleSetup, StandIns};
use serde_json::json;
use std::time::Duration;

const IMEI: &str = "865975030000001";
const PROFILE: &str = include_str!("../../codec/tests/fixtures/water_meter_profile.json");
const OK: &str = "\r\nOK\r\n";
/// A report of service 1 (WaterMeter), 18 bytes: reading 12.5 (a double), battery 87 %, valve
/// "OPEN" padded to 6 bytes.
const REPORT: &str = concat!(
    "02",
    "0001",
    "0012",
    "4029000000000000",
    "00000057",
    "4F50454E0000"
);

/// A BC260Y-CN registered with the IoT platform, whose product is the water meter with the
/// compact binary codec.
fn meter() -> (Bench, StandIns) {
    let mut setup = ModuleSetup::model("BC260Y-CN");
    let mut stand_ins = StandIns::new(&mut setup).unwrap();
    let mut bench = Bench::new(setup).unwrap();
    stand_ins.attach(&mut bench).unwrap();
    let profile = serde_json::from_str(PROFILE).unwrap();
    stand_ins
        .add_product(Flavour::Iot, "meter", profile, CodecChoice::Compact)
        .unwrap();
    let device = NewDevice {
        imei: IMEI.into(),
        psk: None,
        product: Some("meter".into()),
        reply: Some(false),
    };
    stand_ins.add_device(Flavour::Iot, device).unwrap();
    bench.power_on();
    bench.advance(Duration::from_secs(3));
    for command in ["ATE0", "AT+QSCLK=0", "AT+NNMI=1"] {
        bench.at(command);
    }
    let open = bench.at("AT+NCDPOPEN=\"180.101.147.115\",5683");
    assert!(open.contains("+QLWEVTIND: 3"), "{open:?}");
    (bench, stand_ins)
}

fn uplinks(stand_ins: &StandIns) -> Vec<Uplink> {
    let store = Store::open(stand_ins.data_dir()).unwrap();
    store.uplinks(Flavour::Iot, IMEI, None, 10).unwrap()
}

#[test]
fn an_uplink_is_decoded_by_the_product_s_compact_codec_and_kept_as_bytes() {
    let (mut bench, stand_ins) = meter();
    assert_eq!(bench.at(&format!("AT+NMGS=23,{REPORT}")), OK);
    bench.advance(Duration::from_secs(1));
    let stored = uplinks(&stand_ins);
    assert_eq!(
        stored[0].data,
        nbmodem_platform::ctiot::decode_hex(REPORT).unwrap()
    );
    let want = json!({"type": "report", "hasMore": false, "services": [{"serviceId": "Meter",
        "data": {"reading": 12.5, "batteryLevel": 87, "valveState": "OPEN"}}]});
    assert_eq!(stored[0].decoded, Some(want));
    assert_eq!(stored[0].decode_error, None);

    assert_eq!(bench.at("AT+NMGS=2,0201"), OK);
    bench.advance(Duration::from_secs(1));
    let stored = uplinks(&stand_ins);
    assert_eq!(
        stored[0].data,
        [0x02, 0x01],
        "kept although it does not decode"
    );
    assert_eq!(stored[0].decoded, None);
    assert!(stored[0].decode_error.is_some());
}

#[test]
fn a_command_is_encoded_sent_delivered_and_answered_by_the_device_s_response() {
    let (mut bench, mut stand_ins) = meter();
    let command = NewCommand {
        service: "Valve".into(),
        command: "SET_VALVE".into(),
        params: json!({"state": "CLOSED"}),
    };
    let queued = stand_ins
        .queue_command(&mut bench, Flavour::Iot, IMEI, command)
        .unwrap();
    let mid = queued.command.as_ref().unwrap().mid;
    assert_eq!(
        queued.status,
        DownlinkStatus::Queued,
        "cached until the device is in contact"
    );
    // Command 2 (SET_VALVE), its task id, 6 bytes: "CLOSED".
    let encoded = format!("060002{mid:04X}0006434C4F534544");
    assert_eq!(nbmodem_platform::ctiot::hex(&queued.data), encoded);

    // Any uplink is a contact: the platform writes the command to /19/1/0.
    let contact = bench.at(&format!("AT+NMGS=23,{REPORT}"));
    let after = contact.strip_prefix(OK).unwrap();
    assert_eq!(after, format!("\r\n+NNMI: 13,{encoded}\r\n"));
    bench.advance(Duration::from_secs(1));
    let downlinks = stand_ins.downlinks(Flavour::Iot, IMEI).unwrap();
    assert_eq!(downlinks[0].status, DownlinkStatus::Delivered);

    // The device's response: command 2, the same task id, result 1.
    let response = format!("860002{mid:04X}000400000001");
    assert_eq!(bench.at(&format!("AT+NMGS=11,{response}")), OK);
    bench.advance(Duration::from_secs(1));
    let downlinks = stand_ins.downlinks(Flavour::Iot, IMEI).unwrap();
    assert_eq!(downlinks[0].status, DownlinkStatus::Answered);
    let answer = downlinks[0].response.as_ref().unwrap();
    assert_eq!(answer["result"], json!({"result": 1}));
    assert_eq!(answer["command"], "SET_VALVE");
    assert_eq!(
        uplinks(&stand_ins)[0].decoded.as_ref().unwrap()["type"],
        "response"
    );
}

#[test]
fn a_command_the_product_does_not_take_is_refused_and_nothing_is_queued() {
    let (mut bench, mut stand_ins) = meter();
    let command = NewCommand {
        service: "Valve".into(),
        command: "EXPLODE".into(),
        params: json!({}),
    };
    let refused = stand_ins.queue_command(&mut bench, Flavour::Iot, IMEI, command);
    assert!(refused.unwrap_err().contains("EXPLODE"));
    assert!(stand_ins.downlinks(Flavour::Iot, IMEI).unwrap().is_empty());
}
