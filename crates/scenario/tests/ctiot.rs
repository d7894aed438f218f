//! The BC260Y-CN on the stand-in China Telecom IoT platform and CTWing AEP in virtual time (seed
//! 002 chapters 2, 3 and 6): every command's bounds and error codes, the NNMI modes and the
//! downlink buffer's limits, confirmable uplinks delivered, unacknowledged and reset, the
//! lifetime and its Update, AT+NCDPCLOSE, the 126-s connect timeout, deep sleep with a downlink
//! queued meanwhile, a downlink held for the next contact whatever the release assistance, and
//! DTLS with the right key and a wrong one, its uplinks and their faults. Byte for byte, echo
//! off.

use nbmodem_module::energy::PowerState;
use nbmodem_platform::ctiot::{hex, NewDevice};
use nbmodem_platform::{Fault, Flavour, Server, Store};
use nbmodem_scenario::{Bench, ModuleSetup, StandIns};
use std::time::Duration;

const OK: &str = "\r\nOK\r\n";
const KEY: &str = "00112233445566778899aabbccddeeff";
const IMEI: &str = "865975030000001";

struct World {
    bench: Bench,
    stand_ins: StandIns,
}

fn urc(text: &str) -> String {
    format!("\r\n{text}\r\n")
}

fn cme(code: u16) -> String {
    format!("\r\n+CME ERROR: {code}\r\n")
}

fn answer(line: &str) -> String {
    format!("\r\n{line}\r\n{OK}")
}

impl World {
    /// A booted BC260Y-CN (R02 unless `firmware` says otherwise), echo off, sleep off, numeric
    /// errors, beside the stand-ins; attached unless `attached` is false.
    fn new(firmware: Option<&str>, attached: bool) -> World {
        let mut setup = ModuleSetup::model("BC260Y-CN");
        setup.firmware = firmware.map(String::from);
        let mut stand_ins = StandIns::new(&mut setup).unwrap();
        let mut bench = Bench::new(setup).unwrap();
        stand_ins.attach(&mut bench).unwrap();
        bench.power_on();
        bench.advance(Duration::from_secs(1));
        bench.take_raw();
        for command in ["ATE0", "AT+QSCLK=0", "AT+CMEE=1"] {
            bench.at(command);
        }
        if attached {
            bench.advance(Duration::from_secs(2));
        }
        World { bench, stand_ins }
    }

    fn device(&mut self, flavour: Flavour, psk: Option<&str>, reply: bool) {
        let device = NewDevice {
            imei: IMEI.into(),
            psk: psk.map(String::from),
            product: None,
            reply: Some(reply),
        };
        self.stand_ins.add_device(flavour, device).unwrap();
    }

    fn at(&mut self, command: &str) -> String {
        self.bench.at(command)
    }

    /// Lets `d` pass; returns what the module wrote meanwhile.
    fn wait(&mut self, d: Duration) -> String {
        self.bench.advance(d);
        String::from_utf8(self.bench.take_raw()).unwrap()
    }

    fn status(&mut self) -> String {
        self.at("AT+NMSTATUS?")
    }

    /// Connects to the IoT platform (which knows the module, without the AAAA0000 reply).
    fn connected() -> World {
        let mut w = World::new(None, true);
        w.device(Flavour::Iot, None, false);
        w.open("AT+NCDPOPEN=\"180.101.147.115\",5683");
        w
    }

    fn open(&mut self, command: &str) {
        let want = format!("{OK}{}{}", urc("+QLWEVTIND: 0"), urc("+QLWEVTIND: 3"));
        assert_eq!(self.at(command), want, "{command}");
        assert_eq!(self.status(), answer("+NMSTATUS: REGISTERED_AND_OBSERVED"));
    }

    /// An uplink, the contact in which the platform writes the downlinks queued for the module;
    /// what the module wrote after the uplink's OK.
    fn contact(&mut self) -> String {
        let written = self.at("AT+NMGS=1,00");
        let after = written.strip_prefix(OK);
        after.unwrap_or_else(|| panic!("{written:?}")).to_string()
    }

    fn downlink(&mut self, data: &str) {
        let bench = &mut self.bench;
        self.stand_ins
            .queue_downlink(bench, Flavour::Iot, IMEI, data)
            .unwrap();
    }

    fn set_fault(&mut self, fault: Fault) {
        self.set_fault_on(Server::Iot, fault);
    }

    fn set_fault_on(&mut self, server: Server, fault: Fault) {
        let bench = &mut self.bench;
        self.stand_ins
            .set_fault(bench, server, Some(fault))
            .unwrap();
    }

    fn records(&self) -> Vec<nbmodem_platform::RequestRecord> {
        self.records_of(Server::Iot)
    }

    fn records_of(&self, server: Server) -> Vec<nbmodem_platform::RequestRecord> {
        Store::open(self.stand_ins.data_dir())
            .unwrap()
            .records(server)
            .unwrap()
    }

    /// The statuses and attempts of the device's downlinks on the IoT platform, oldest first.
    fn downlink_statuses(&self) -> Vec<(String, u32)> {
        let mut downlinks = self.stand_ins.downlinks(Flavour::Iot, IMEI).unwrap();
        downlinks.reverse();
        downlinks
            .into_iter()
            .map(|d| (d.status.as_str().to_string(), d.attempts))
            .collect()
    }
}

#[test]
fn every_command_checks_its_parameters() {
    let mut w = World::new(None, false);
    // Not attached: no connection can be made.
    assert_eq!(w.at("AT+NCDPOPEN=\"180.101.147.115\""), cme(957));
    w.wait(Duration::from_secs(2));
    for (command, code) in [
        ("AT+NCDPOPEN=\"180.101.147.115\",5683,\"00\",1", 2),
        ("AT+NCDPOPEN=\"180.101.147.115\",65536", 3),
        ("AT+NCDPOPEN=\"\"", 3),
        ("AT+NCDPOPEN=\"no.such.host\"", 3),
        ("AT+NCDPOPEN=\"180.101.147.115\",5684,\"abc\"", 5),
        ("AT+NCDPOPEN=\"180.101.147.115\",5684,\"xy\"", 5),
        ("AT+NMGS=1,00", 954),
        ("AT+NNMI=3", 3),
        ("AT+NNMI=1,1", 2),
        ("AT+NCFG=0,2592001", 3),
        ("AT+NCFG=1,100", 3),
        ("AT+NCFG=0,100,1", 2),
        ("AT+NCDPCLOSE", 954),
    ] {
        assert_eq!(w.at(command), cme(code), "{command}");
    }
    let long_key = "00".repeat(257);
    let command = format!("AT+NCDPOPEN=\"180.101.147.115\",5684,\"{long_key}\"");
    assert_eq!(w.at(&command), cme(5));
    for (command, want) in [
        ("AT+NCDPOPEN=?", OK.to_string()),
        ("AT+NNMI?", answer("+NNMI: 1")),
        ("AT+NCFG=?", answer("+NCFG: 0,(0-2592000)")),
        ("AT+NCFG=0", answer("+NCFG: 0")),
        ("AT+NMSTATUS?", answer("+NMSTATUS: UNINITIALISED")),
        ("AT+QLWULDATASTATUS?", answer("+QLWULDATASTATUS: 0")),
        ("AT+NQMGR", answer("BUFFERED=0,RECEIVED=0,DROPPED=0")),
        ("AT+NMGR", OK.to_string()),
        ("AT+NMGS=?", "\r\nERROR\r\n".to_string()),
        ("AT+NNMI=?", "\r\nERROR\r\n".to_string()),
    ] {
        assert_eq!(w.at(command), want, "{command}");
    }
    // 1 to 900 s become 900 s; saved at once.
    assert_eq!(w.at("AT+NCFG=0,300"), OK);
    assert_eq!(w.at("AT+NCFG=0"), answer("+NCFG: 900"));
    assert_eq!(w.at("AT+NCFG=0,2592000"), OK);
    assert_eq!(w.at("AT+NCFG=0"), answer("+NCFG: 2592000"));
}

#[test]
fn uplinks_are_checked_once_connected() {
    let mut w = World::connected();
    let too_long = format!("AT+NMGS=1025,{}", "00".repeat(1025));
    let longest = format!("AT+NMGS=1024,{}", "00".repeat(1024));
    for (command, want) in [
        ("AT+NMGS=0,", cme(3)),
        (too_long.as_str(), cme(14)),
        ("AT+NMGS=2,abc", cme(17)),
        ("AT+NMGS=2,0011aa", cme(3)),
        ("AT+NMGS=1,zz", cme(3)),
        ("AT+NMGS=1,00,3", cme(3)),
        ("AT+NMGS=1,00,103", cme(3)),
        ("AT+NMGS=1,00,1,1", cme(2)),
        ("AT+NMGS=1", cme(2)),
        (longest.as_str(), OK.to_string()),
        ("AT+NMGS=1,\"AB\",2", OK.to_string()),
        ("AT+NCDPOPEN=\"180.101.147.115\"", cme(959)),
    ] {
        assert_eq!(w.at(command), want, "{}", &command[..command.len().min(40)]);
    }
    let store = Store::open(w.stand_ins.data_dir()).unwrap();
    let uplinks = store.uplinks(Flavour::Iot, IMEI, None, 10).unwrap();
    assert_eq!(uplinks.len(), 2);
    assert_eq!(uplinks[0].data, [0xAB]);
    assert_eq!(uplinks[1].data.len(), 1024);
}

#[test]
fn r01_firmware_has_none_of_the_commands() {
    let mut w = World::new(Some("BC260YCNAAR01A03"), true);
    for command in [
        "AT+NCDPOPEN=\"180.101.147.115\"",
        "AT+NNMI?",
        "AT+NMSTATUS?",
        "AT+NQMGR",
    ] {
        assert_eq!(w.at(command), "\r\nERROR\r\n", "{command}");
    }
}

#[test]
fn the_receive_modes_and_the_buffer_limits() {
    let mut w = World::connected();
    // 1 (the default): printed, never buffered.
    w.downlink("aa01");
    assert_eq!(w.contact(), urc("+NNMI: 2,AA01"));
    assert_eq!(w.at("AT+NMGR"), OK);
    // 0: buffered silently, at most 8 messages.
    assert_eq!(w.at("AT+NNMI=0"), OK);
    for n in 0..8 {
        w.downlink(&format!("{n:02X}"));
    }
    assert_eq!(w.contact(), "");
    w.downlink("09");
    assert_eq!(w.contact(), urc("+NNMI: \"recv\",buff full"));
    assert_eq!(w.at("AT+NQMGR"), answer("BUFFERED=8,RECEIVED=10,DROPPED=1"));
    assert_eq!(w.at("AT+NMGR"), answer("+NMGR: 1,00"));
    assert_eq!(w.at("AT+NMGR"), answer("+NMGR: 1,01"));
    while w.at("AT+NMGR") != OK {}
    // 2: buffered and announced, at most 2560 bytes.
    assert_eq!(w.at("AT+NNMI=2"), OK);
    assert_eq!(w.at("AT+NNMI?"), answer("+NNMI: 2"));
    let kilobyte = "11".repeat(1000);
    for _ in 0..2 {
        w.downlink(&kilobyte);
        assert_eq!(w.contact(), urc("+NNMI"));
    }
    w.downlink(&"22".repeat(561));
    assert_eq!(w.contact(), urc("+NNMI: \"recv\",buff full"));
    w.downlink(&"33".repeat(560));
    assert_eq!(w.contact(), urc("+NNMI"), "2560 bytes exactly fit");
    assert_eq!(w.at("AT+NQMGR"), answer("BUFFERED=3,RECEIVED=14,DROPPED=2"));
    assert_eq!(w.at("AT+NMGR"), answer(&format!("+NMGR: 1000,{kilobyte}")));
}

#[test]
fn a_confirmable_uplink_delivered_unacknowledged_and_reset() {
    let mut w = World::connected();
    assert_eq!(
        w.at("AT+NMGS=1,01,100"),
        format!("{OK}{}", urc("+QLWEVTIND: 4"))
    );
    assert_eq!(w.at("AT+QLWULDATASTATUS?"), answer("+QLWULDATASTATUS: 4"));
    // Never acknowledged: sent at 0, 2, 6, 14, 30 and 62 s; failed at 126 s. The channel stays.
    w.set_fault(Fault::NoAck(1));
    assert_eq!(w.at("AT+NMGS=1,02,100"), OK);
    assert_eq!(w.at("AT+QLWULDATASTATUS?"), answer("+QLWULDATASTATUS: 1"));
    assert_eq!(w.wait(Duration::from_millis(125_999)), "");
    assert_eq!(w.wait(Duration::from_millis(1)), urc("+QLWEVTIND: 5"));
    assert_eq!(w.at("AT+QLWULDATASTATUS?"), answer("+QLWULDATASTATUS: 3"));
    assert_eq!(
        w.at("AT+NMGS=1,03,100"),
        format!("{OK}{}", urc("+QLWEVTIND: 4"))
    );
    // A Reset ends the channel until the next connection.
    w.set_fault(Fault::Reset(1));
    assert_eq!(
        w.at("AT+NMGS=1,04,100"),
        format!("{OK}{}", urc("+QLWEVTIND: 10"))
    );
    assert_eq!(w.at("AT+QLWULDATASTATUS?"), answer("+QLWULDATASTATUS: 5"));
    assert_eq!(w.at("AT+NMGS=1,05"), cme(959));
    assert_eq!(w.status(), answer("+NMSTATUS: REGISTERED"));
    assert_eq!(w.at("AT+NCDPCLOSE"), OK);
    assert_eq!(w.status(), answer("+NMSTATUS: DEREGISTERED"));
    w.open("AT+NCDPOPEN=\"180.101.147.115\"");
    assert_eq!(w.at("AT+NMGS=1,06"), OK);
    let store = Store::open(w.stand_ins.data_dir()).unwrap();
    let data: Vec<String> = store
        .uplinks(Flavour::Iot, IMEI, None, 10)
        .unwrap()
        .into_iter()
        .map(|u| hex(&u.data))
        .collect();
    assert_eq!(
        data,
        ["06", "03", "02", "01"],
        "the reset one was never stored"
    );
}

#[test]
fn the_lifetime_is_registered_and_updated_after_a_reboot() {
    let mut w = World::new(None, true);
    w.device(Flavour::Iot, None, false);
    assert_eq!(w.at("AT+NCFG=0,1000"), OK);
    // Not in use before a reboot: no lifetime, no Update.
    w.open("AT+NCDPOPEN=\"180.101.147.115\"");
    assert_eq!(w.wait(Duration::from_secs(3 * 86_400)), "");
    w.at("AT+QRST=1");
    w.wait(Duration::from_secs(3));
    for command in ["ATE0", "AT+QSCLK=0", "AT+CMEE=1"] {
        w.at(command);
    }
    w.open("AT+NCDPOPEN=\"180.101.147.115\"");
    // The Update at 90 % of the lifetime.
    assert_eq!(w.wait(Duration::from_millis(899_999)), "");
    assert_eq!(w.wait(Duration::from_millis(1)), urc("+QLWEVTIND: 2"));
    let registers: Vec<Vec<String>> = w
        .records()
        .into_iter()
        .filter(|r| r.operation == "register")
        .map(|r| {
            let query = r.fields["query"].as_array().unwrap();
            query
                .iter()
                .map(|q| q.as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    assert_eq!(registers.len(), 2);
    assert!(
        !registers[0].iter().any(|q| q.starts_with("lt=")),
        "{:?}",
        registers[0]
    );
    assert!(
        registers[1].contains(&"lt=1000".to_string()),
        "{:?}",
        registers[1]
    );
    assert!(registers[1].contains(&format!("ep={IMEI}")));
}

#[test]
fn a_connection_nobody_answers_times_out_after_126_seconds() {
    let mut w = World::new(None, true);
    w.device(Flavour::Iot, None, false);
    w.set_fault(Fault::Drop(100));
    assert_eq!(w.at("AT+NCDPOPEN=\"180.101.147.115\""), OK);
    assert_eq!(w.status(), answer("+NMSTATUS: REGISTERING"));
    // No closing while the connection is being made (seed §2.3.1 note 3).
    assert_eq!(w.at("AT+NCDPCLOSE"), "\r\nERROR\r\n");
    assert_eq!(w.at("AT+NMGS=1,00"), cme(955));
    assert_eq!(w.at("AT+NCDPOPEN=\"180.101.147.115\""), cme(955));
    assert_eq!(w.wait(Duration::from_millis(125_999)), "");
    assert_eq!(w.wait(Duration::from_millis(1)), urc("+QLWEVTIND: 1"));
    assert_eq!(w.status(), answer("+NMSTATUS: TIMEOUT"));
}

#[test]
fn an_unknown_imei_is_rejected_by_the_server() {
    let mut w = World::new(None, true);
    assert_eq!(
        w.at("AT+NCDPOPEN=\"221.229.214.202\""),
        format!("{OK}{}", urc("+QLWEVTIND: 1"))
    );
    assert_eq!(w.status(), answer("+NMSTATUS: REJECTED_BY_SERVER"));
    let refused = Store::open(w.stand_ins.data_dir())
        .unwrap()
        .records(Server::Aep)
        .unwrap();
    assert_eq!(refused[0].status.as_deref(), Some("4.03"));
    assert_eq!(
        refused[0].fields["error"],
        "the IMEI is not registered on the platform"
    );
}

#[test]
fn closing_waits_for_the_deregistration_at_most_124_seconds() {
    let mut w = World::connected();
    w.set_fault(Fault::Drop(100));
    assert_eq!(w.at("AT+NCDPCLOSE"), OK);
    assert_eq!(w.status(), answer("+NMSTATUS: REGISTERED_AND_OBSERVED"));
    assert_eq!(w.at("AT+NMGS=1,00"), cme(959));
    assert_eq!(w.wait(Duration::from_millis(123_999)), "");
    assert_eq!(w.status(), answer("+NMSTATUS: REGISTERED_AND_OBSERVED"));
    w.wait(Duration::from_millis(1));
    assert_eq!(w.status(), answer("+NMSTATUS: DEREGISTERED"));
}

#[test]
fn a_downlink_queued_while_the_module_sleeps_comes_after_its_next_uplink() {
    let mut w = World::connected();
    assert_eq!(w.at("AT+QSCLK=1"), OK);
    // The connection is released 20 s after the last traffic, then the module sleeps.
    let slept = w.wait(Duration::from_secs(30));
    assert_eq!(slept, urc("+QNBIOTEVENT: \"ENTER DEEPSLEEP\""));
    w.downlink("beef");
    assert_eq!(w.wait(Duration::from_secs(600)), "", "held by the platform");
    // Waking: the link resumes locally; the uplink brings the downlink.
    assert_eq!(
        w.at("AT+NMGS=1,01"),
        format!(
            "{}{}{OK}{}",
            urc("+QNBIOTEVENT: \"EXIT DEEPSLEEP\""),
            urc("+QLWEVTIND: 6"),
            urc("+NNMI: 2,BEEF")
        )
    );
    let delivered = Store::open(w.stand_ins.data_dir())
        .unwrap()
        .downlinks(Some((Flavour::Iot, IMEI)))
        .unwrap();
    assert_eq!(delivered[0].status.as_str(), "delivered");
    assert_eq!(delivered[0].attempts, 1);
}

/// A downlink queued at `offset` after an uplink with release assistance `rai` (deep sleep on):
/// held, `queued`, however long the module stays awake, and written in the next uplink's contact.
fn downlink_queued_after_an_uplink(rai: u8, offset: Duration) {
    let what = format!("RAI {rai}, queued {offset:?} after the uplink");
    let mut w = World::connected();
    assert_eq!(w.at("AT+QSCLK=1"), OK);
    assert_eq!(w.at(&format!("AT+NMGS=1,01,{rai}")), OK, "{what}");
    w.wait(offset);
    w.downlink("beef");
    let meanwhile = w.wait(Duration::from_secs(600));
    assert!(!meanwhile.contains("+NNMI"), "{what}: {meanwhile:?}");
    assert_eq!(w.downlink_statuses(), [("queued".into(), 0)], "{what}");
    let contact = w.at(&format!("AT+NMGS=1,02,{rai}")) + &w.wait(Duration::from_secs(1));
    assert!(
        contact.ends_with(&format!("{OK}{}", urc("+NNMI: 2,BEEF"))),
        "{what}: {contact:?}"
    );
    assert_eq!(w.downlink_statuses(), [("delivered".into(), 1)], "{what}");
}

#[test]
fn a_downlink_waits_for_the_next_contact_whatever_the_release_assistance() {
    for rai in [0, 1, 2] {
        for offset in [0, 1, 3, 6, 12, 19, 21, 60] {
            downlink_queued_after_an_uplink(rai, Duration::from_secs(offset));
        }
    }
}

/// Over DTLS on `flavour`'s platform: what the records say, the uplinks' `confirmable`, and the
/// `noack` and `reset` faults, all judged from the plaintext.
fn uplinks_and_their_faults_over_dtls(flavour: Flavour, host: &str) {
    let server = flavour.server();
    let mut w = World::new(None, true);
    w.device(flavour, Some(KEY), false);
    w.open(&format!("AT+NCDPOPEN=\"{host}\",5684,\"{KEY}\""));
    assert_eq!(
        w.at("AT+NMGS=1,01,100"),
        format!("{OK}{}", urc("+QLWEVTIND: 4"))
    );
    assert_eq!(w.at("AT+NMGS=1,02"), OK);
    // A dropped datagram is a DTLS record, whatever it carried.
    w.set_fault_on(server, Fault::Drop(1));
    assert_eq!(w.at("AT+NMGS=1,09"), OK);
    // Never acknowledged: the CON uplink fails at 126 s.
    w.set_fault_on(server, Fault::NoAck(1));
    assert_eq!(w.at("AT+NMGS=1,03,100"), OK);
    assert_eq!(
        w.wait(Duration::from_secs(130)),
        urc("+QLWEVTIND: 5"),
        "{flavour}"
    );
    // A Reset ends the channel.
    w.set_fault_on(server, Fault::Reset(1));
    assert_eq!(
        w.at("AT+NMGS=1,04,100"),
        format!("{OK}{}", urc("+QLWEVTIND: 10")),
        "{flavour}"
    );
    let store = Store::open(w.stand_ins.data_dir()).unwrap();
    let uplinks: Vec<(String, bool)> = store
        .uplinks(flavour, IMEI, None, 10)
        .unwrap()
        .into_iter()
        .map(|u| (hex(&u.data), u.confirmable))
        .collect();
    let want = [("03", true), ("02", false), ("01", true)].map(|(d, c)| (d.to_string(), c));
    assert_eq!(
        uplinks, want,
        "{flavour}: the dropped and the reset ones never stored"
    );
    let records = w.records_of(server);
    let operations: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.operation.as_str(), r.verdict.as_str()))
        .collect();
    assert_eq!(
        operations,
        [
            ("register", "accepted"),
            ("observe", "accepted"),
            ("dtls", "dropped")
        ],
        "{flavour}: no ciphertext recorded as a request"
    );
}

#[test]
fn uplinks_and_their_faults_over_dtls_on_both_platforms() {
    uplinks_and_their_faults_over_dtls(Flavour::Iot, "180.101.147.115");
    uplinks_and_their_faults_over_dtls(Flavour::Aep, "221.229.214.202");
}

#[test]
fn a_registration_that_lapsed_in_deep_sleep_cannot_be_resumed() {
    let mut w = World::new(None, true);
    w.device(Flavour::Iot, None, false);
    assert_eq!(w.at("AT+NCFG=0,900"), OK);
    w.at("AT+QRST=1");
    w.wait(Duration::from_secs(3));
    for command in ["ATE0", "AT+QSCLK=1", "AT+CMEE=1"] {
        w.at(command);
    }
    w.open("AT+NCDPOPEN=\"180.101.147.115\"");
    // The platform goes silent: the Update at 810 s fails, the lifetime ends at 900 s.
    w.set_fault(Fault::Drop(1000));
    w.wait(Duration::from_secs(2000));
    assert_eq!(
        w.at("AT"),
        format!(
            "{}{}{OK}",
            urc("+QNBIOTEVENT: \"EXIT DEEPSLEEP\""),
            urc("+QLWEVTIND: 7")
        )
    );
    assert_eq!(w.status(), answer("+NMSTATUS: RESUMPTION_FAILED"));
    assert_eq!(w.at("AT+NMGS=1,00"), cme(954));
}

#[test]
fn dtls_with_the_right_key_and_with_a_wrong_one() {
    let mut w = World::new(None, true);
    w.device(Flavour::Aep, Some(KEY), false);
    // A device with a key must use the DTLS port.
    assert_eq!(
        w.at("AT+NCDPOPEN=\"lwm2m.ctwing.cn\",5683"),
        format!("{OK}{}", urc("+QLWEVTIND: 1"))
    );
    assert_eq!(w.status(), answer("+NMSTATUS: REJECTED_BY_SERVER"));
    w.open(&format!("AT+NCDPOPEN=\"lwm2m.ctwing.cn\",5684,\"{KEY}\""));
    assert_eq!(
        w.at("AT+NMGS=2,abcd,100"),
        format!("{OK}{}", urc("+QLWEVTIND: 4"))
    );
    assert_eq!(w.at("AT+NCDPCLOSE"), OK);
    assert_eq!(w.status(), answer("+NMSTATUS: DEREGISTERED"));
    let wrong = "ffeeddccbbaa99887766554433221100";
    let command = format!("AT+NCDPOPEN=\"221.229.214.202\",5684,\"{wrong}\"");
    assert_eq!(w.at(&command), OK);
    assert_eq!(w.wait(Duration::from_secs(125)), "");
    assert_eq!(w.status(), answer("+NMSTATUS: REGISTERING"));
    assert_eq!(w.wait(Duration::from_secs(1)), urc("+QLWEVTIND: 1"));
    assert_eq!(w.status(), answer("+NMSTATUS: TIMEOUT"));
    let store = Store::open(w.stand_ins.data_dir()).unwrap();
    assert_eq!(
        store.uplinks(Flavour::Aep, IMEI, None, 10).unwrap().len(),
        1
    );
}

/// The energy account over the hour after one uplink of NMGS `<type>` `kind`, with AT+QSCLK
/// `sleep`: the time in each state, in state order (PSM, idle, connected, transmitting), and the
/// charge.
fn hour_after_an_uplink(kind: u8, sleep: u8) -> ([Duration; 4], f64) {
    let mut w = World::connected();
    w.wait(Duration::from_secs(30));
    let start = w.bench.energy();
    assert_eq!(w.at(&format!("AT+QSCLK={sleep}")), OK);
    assert_eq!(w.at(&format!("AT+NMGS=1,01,{kind}")), OK);
    w.wait(Duration::from_secs(3600));
    let end = w.bench.energy();
    let times = PowerState::ALL.map(|s| end.entry(s).time - start.entry(s).time);
    let times_total: Duration = times[..3].iter().sum();
    assert_eq!(
        times_total,
        Duration::from_secs(3600),
        "PSM, idle and connected"
    );
    (
        times,
        end.total_micro_amp_hours() - start.total_micro_amp_hours(),
    )
}

#[test]
fn release_assistance_and_sleep_show_in_the_energy_account() {
    let secs = Duration::from_secs;
    // One uplink of 1 byte: a notification of 14 bytes on the air (20 ms + 112 bits at 25 kbit/s).
    let airtime = Duration::from_micros(20_000 + 4_480);
    let (rai_0, charge_rai_0) = hour_after_an_uplink(0, 0);
    assert_eq!(rai_0, [secs(0), secs(3580), secs(20), airtime]);
    let (rai_1, charge_rai_1) = hour_after_an_uplink(1, 0);
    assert_eq!(rai_1, [secs(0), secs(3600), secs(0), airtime]);
    let (asleep, charge_asleep) = hour_after_an_uplink(1, 1);
    assert_eq!(
        asleep,
        [secs(3595), secs(5), secs(0), airtime],
        "deep sleep once the host has been quiet for 5 s"
    );
    // 20 s connected at 25 mA is 138.9 µAh more than idle at 0.5 mA would draw.
    assert!((charge_rai_0 - charge_rai_1 - 20.0 * 24_500.0 / 3600.0).abs() < 1e-6);
    assert!(
        charge_asleep < charge_rai_1 / 100.0,
        "{charge_asleep} {charge_rai_1}"
    );
}

#[test]
fn a_link_reopened_in_the_same_millisecond_is_observed_again() {
    for gap in [0, 1, 2] {
        let mut w = World::connected();
        assert_eq!(w.at("AT+NCDPCLOSE"), OK);
        w.wait(Duration::from_millis(gap));
        // A new client, not the old one's message IDs and tokens: the platform's duplicate
        // cache must not answer it with the old link's replies.
        w.open("AT+NCDPOPEN=\"180.101.147.115\",5683");
        assert_eq!(w.at("AT+NMGS=1,07"), OK, "gap {gap} ms");
    }
}

/// A CT IoT platform that, on a Register, asks to observe /19/0/0 before it answers the
/// Register: what a module sees when the Register's answer is lost and comes again after the
/// Register's retransmission, the platform's Observe in between (seen in a real-time fleet of
/// 50 000 modules). It takes whatever else comes and answers nothing more.
#[derive(Default)]
struct ObserveFirst {
    outbox: std::collections::VecDeque<nbmodem_net::Transmit>,
}

impl nbmodem_net::DatagramNode for ObserveFirst {
    fn handle_datagram(
        &mut self,
        _: nbmodem_clock::Instant,
        from: std::net::SocketAddr,
        datagram: &[u8],
    ) {
        use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
        let Ok(register) = Packet::from_bytes(datagram) else {
            return;
        };
        if register.header.code != MessageClass::Request(RequestType::Post) {
            return;
        }
        let mut observe = Packet::new();
        observe.header.set_type(MessageType::Confirmable);
        observe.header.code = MessageClass::Request(RequestType::Get);
        observe.header.message_id = 0x7000;
        observe.set_token(b"obs".to_vec());
        observe.set_observe_value(0);
        for segment in ["19", "0", "0"] {
            observe.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
        }
        let mut created = Packet::new();
        created.header.set_type(MessageType::Acknowledgement);
        created.header.code = MessageClass::Response(ResponseType::Created);
        created.header.message_id = register.header.message_id;
        created.set_token(register.get_token().to_vec());
        for segment in ["rd", "early"] {
            created.add_option(CoapOption::LocationPath, segment.as_bytes().to_vec());
        }
        for packet in [observe, created] {
            self.outbox.push_back(nbmodem_net::Transmit {
                destination: from,
                payload: packet.to_bytes().unwrap(),
            });
        }
    }

    fn poll_transmit(&mut self) -> Option<nbmodem_net::Transmit> {
        self.outbox.pop_front()
    }

    fn poll_timeout(&self) -> Option<nbmodem_clock::Instant> {
        None
    }

    fn handle_timeout(&mut self, _: nbmodem_clock::Instant) {}
}

#[test]
fn an_observe_before_the_registers_answer_leaves_the_link_ready_for_data() {
    let mut w = World::new(None, true);
    // In the stand-in IoT platform's place, where the module's route to 180.101.147.115 leads.
    let platform = nbmodem_platform::Addresses::default().iot;
    w.bench.attach(platform, ObserveFirst::default());
    // Registered, then observed: the order of the indications whatever the order of the datagrams.
    w.open("AT+NCDPOPEN=\"180.101.147.115\",5683");
    assert_eq!(w.at("AT+NMGS=1,07"), OK);
}
