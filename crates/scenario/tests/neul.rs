//! The Neul family (BC35-G, BC28, BC95 R2.0) in virtual time: the examples of its AT Commands
//! Manual for AT+NRB, AT+NCONFIG, AT+NBAND, AT+NATSPEED and AT+NCDP reproduced byte for byte,
//! AUTOCONNECT=FALSE leaving the radio off after the reboot, the bounds of every Neul command
//! (one past each) changing nothing, and the China Telecom IoT platform link of the family:
//! AT+NCDP, the registration at the first uplink or at attach, AT+NMGS and AT+QLWULDATAEX up,
//! a platform downlink by `+NNMI` and AT+NMGR. Echo off, errors numeric where a code is checked.

use nbmodem_platform::ctiot::NewDevice;
use nbmodem_platform::Flavour;
use nbmodem_scenario::{Bench, ModuleSetup, StandIns};
use std::time::Duration;

const OK: &str = "\r\nOK\r\n";
const IMEI: &str = "865975030000001";
const NEUL_MODELS: [&str; 3] = ["BC35-G", "BC28", "BC95"];

/// The boot banner after AT+NRB, as the manual's example of AT+NRB shows it.
const REBOOT_BANNER: &str = "\r\nREBOOTING\r\n\r\nBoot: Unsigned\r\nSecurity B.. Verified\r\n\
    Protocol A.. Verified\r\nApps A...... Verified\r\n\r\nREBOOT_CAUSE_APPLICATION_AT\r\nNeul \r\nOK\r\n";

fn booted(model: &str) -> Bench {
    let mut bench = Bench::new(ModuleSetup::model(model)).unwrap();
    bench.power_on();
    bench.advance(nbmodem_module::BOOT_TIME);
    bench.take_raw();
    bench
}

fn answer(lines: &[&str]) -> String {
    format!("\r\n{}\r\n{OK}", lines.join("\r\n"))
}

fn cme(code: u16) -> String {
    format!("\r\n+CME ERROR: {code}\r\n")
}

fn urc(text: &str) -> String {
    format!("\r\n{text}\r\n")
}

/// AT+NRB, and what the module writes until it is booted again.
fn nrb(bench: &mut Bench) -> String {
    let mut written = bench.at("AT+NRB");
    bench.advance(nbmodem_module::BOOT_TIME);
    written.push_str(&String::from_utf8(bench.take_raw()).unwrap());
    written
}

/// Every AT+NCONFIG item of the manual with its factory value.
const FACTORY_NCONFIG: &[&str] = &[
    "+NCONFIG:AUTOCONNECT,TRUE",
    "+NCONFIG:CR_0354_0338_SCRAMBLING,TRUE",
    "+NCONFIG:CR_0859_SI_AVOID,TRUE",
    "+NCONFIG:COMBINE_ATTACH,FALSE",
    "+NCONFIG:CELL_RESELECTION,TRUE",
    "+NCONFIG:ENABLE_BIP,FALSE",
    "+NCONFIG:MULTITONE,TRUE",
    "+NCONFIG:NAS_SIM_POWER_SAVING_ENABLE,TRUE",
    "+NCONFIG:BARRING_RELEASE_DELAY,64",
    "+NCONFIG:RELEASE_VERSION,13",
    "+NCONFIG:RPM,FALSE",
    "+NCONFIG:SYNC_TIME_PERIOD,0",
    "+NCONFIG:IPV6_GET_PREFIX_TIME,15",
    "+NCONFIG:NB_CATEGORY,1",
    "+NCONFIG:RAI,FALSE",
    "+NCONFIG:HEAD_COMPRESS,FALSE",
    "+NCONFIG:RLF_UPDATE,FALSE",
    "+NCONFIG:CONNECTION_REESTABLISHMENT,FALSE",
    "+NCONFIG:TWO_HARQ,FALSE",
    "+NCONFIG:PCO_IE_TYPE,EPCO",
];

#[test]
fn the_manuals_start_up_examples_byte_for_byte() {
    for model in NEUL_MODELS {
        let mut bench = booted(model);
        assert_eq!(nrb(&mut bench), REBOOT_BANNER, "{model}");
        assert_eq!(bench.at("AT+NRB=?"), OK, "{model}");
        assert_eq!(bench.at("AT+NCONFIG?"), answer(FACTORY_NCONFIG), "{model}");
        assert_eq!(
            bench.at("AT+NCONFIG=CR_0354_0338_SCRAMBLING,FALSE"),
            OK,
            "{model}"
        );
        assert_eq!(
            bench.at("AT+NATSPEED?"),
            answer(&["+NATSPEED:9600,3,1,0,0"])
        );
        assert_eq!(bench.at("AT+QREGSWT?"), answer(&["+QREGSWT:1"]));
        assert_eq!(bench.at("AT+NCDP?"), OK, "{model}: no platform yet");
        assert_eq!(bench.at("AT+NCDP=180.101.147.115,5683"), OK);
        assert_eq!(
            bench.at("AT+NCDP?"),
            answer(&["+NCDP:180.101.147.115,5683"])
        );
        assert_eq!(
            bench.at("AT+NMSTATUS?"),
            answer(&["+NMSTATUS:UNINITIALISED"])
        );
        assert_eq!(
            bench.at("AT+NQMGR"),
            answer(&["BUFFERED=0,RECEIVED=0,DROPPED=0"])
        );
        assert_eq!(bench.at("AT+NQMGS"), answer(&["PENDING=0,SENT=0,ERROR=0"]));
        assert_eq!(bench.at("AT+NNMI?"), answer(&["+NNMI:0"]));
        assert_eq!(bench.at("AT+NSMI?"), answer(&["+NSMI:0"]));
    }
    // The bands each model's variant supports, and the default.
    let mut bc28 = booted("BC28");
    assert_eq!(bc28.at("AT+NBAND=?"), answer(&["+NBAND:(1,3,5,8,20,28)"]));
    assert_eq!(bc28.at("AT+NBAND?"), answer(&["+NBAND:1,3,5,8,20,28"]));
    assert_eq!(bc28.at("AT+CFUN=0"), OK);
    assert_eq!(bc28.at("AT+NBAND=5"), OK);
    assert_eq!(bc28.at("AT+NBAND?"), answer(&["+NBAND:5"]));
    assert_eq!(bc28.at("AT+NBAND=5,8,20"), OK);
    assert_eq!(bc28.at("AT+NBAND?"), answer(&["+NBAND:5,8,20"]));
    let mut bc95 = booted("BC95");
    assert_eq!(bc95.at("AT+NBAND=?"), answer(&["+NBAND:(8)"]));
    assert_eq!(bc95.at("AT+NBAND?"), answer(&["+NBAND:8"]));
    assert_eq!(
        bc95.at("AT+NPOWERCLASS=?"),
        answer(&["+NPOWERCLASS:(8),(3,5)"])
    );
    assert_eq!(bc95.at("AT+NPOWERCLASS?"), answer(&["+NPOWERCLASS:8,3"]));
    assert_eq!(bc95.at("AT+NPOWERCLASS=8,5"), OK);
    assert_eq!(bc95.at("AT+NPOWERCLASS?"), answer(&["+NPOWERCLASS:8,5"]));
    assert_eq!(
        bc28.at("AT+NPOWERCLASS?"),
        answer(&[
            "+NPOWERCLASS:1,3",
            "+NPOWERCLASS:3,3",
            "+NPOWERCLASS:5,3",
            "+NPOWERCLASS:8,3",
            "+NPOWERCLASS:20,3",
            "+NPOWERCLASS:28,3"
        ])
    );
}

#[test]
fn the_test_forms() {
    let mut bench = booted("BC35-G");
    let test = bench.at("AT+NCONFIG=?");
    assert!(
        test.starts_with("\r\n+NCONFIG:(AUTOCONNECT,(FALSE,TRUE))\r\n"),
        "{test}"
    );
    assert!(test.contains("\r\n+NCONFIG:(BARRING_RELEASE_DELAY,(0-1800))\r\n"));
    assert!(test.contains("\r\n+NCONFIG:(RELEASE_VERSION,(13,14))\r\n"));
    assert!(test.ends_with("\r\n+NCONFIG:(PCO_IE_TYPE,(PCO,EPCO))\r\n\r\nOK\r\n"));
    assert_eq!(test.matches("+NCONFIG:").count(), FACTORY_NCONFIG.len());
    assert_eq!(
        bench.at("AT+NATSPEED=?"),
        answer(&["+NATSPEED:(4800,9600,57600,115200,230400,460800),(0-30000),(1,2),(0-2),(0,1)"])
    );
    assert_eq!(bench.at("AT+QREGSWT=?"), answer(&["+QREGSWT:(0,1,2)"]));
    assert_eq!(bench.at("AT+NNMI=?"), answer(&["+NNMI:(0,1,2)"]));
    assert_eq!(bench.at("AT+NSMI=?"), answer(&["+NSMI:(0,1)"]));
}

#[test]
fn nconfig_is_saved_at_once_and_in_use_after_the_reboot() {
    let mut bench = booted("BC28");
    // Quoted, as some drivers send it, and in lower case.
    assert_eq!(bench.at("AT+NCONFIG=\"AUTOCONNECT\",\"false\""), OK);
    assert_eq!(bench.at("AT+NCONFIG=BARRING_RELEASE_DELAY,1800"), OK);
    let read = bench.at("AT+NCONFIG?");
    assert!(read.contains("+NCONFIG:AUTOCONNECT,FALSE\r\n"), "{read}");
    assert!(
        read.contains("+NCONFIG:BARRING_RELEASE_DELAY,1800\r\n"),
        "{read}"
    );
    // Still attached: AUTOCONNECT is in use from the next boot.
    bench.advance(Duration::from_secs(3));
    assert_eq!(bench.at("AT+CGATT?"), answer(&["+CGATT:1"]));
    assert_eq!(nrb(&mut bench), REBOOT_BANNER);
    assert_eq!(bench.at("AT+NCONFIG?"), read, "kept across the reboot");
}

#[test]
fn autoconnect_false_leaves_the_radio_off_until_the_host_attaches() {
    let mut bench = booted("BC95");
    assert_eq!(bench.at("AT+NCONFIG=AUTOCONNECT,FALSE"), OK);
    nrb(&mut bench);
    bench.advance(Duration::from_secs(10));
    assert_eq!(bench.at("AT+CFUN?"), answer(&["+CFUN:0"]));
    assert_eq!(bench.at("AT+CGATT?"), answer(&["+CGATT:0"]));
    assert_eq!(bench.at("AT+CEREG?"), answer(&["+CEREG:0,0"]));
    // The radio on is not yet an attach.
    assert_eq!(bench.at("AT+CFUN=1"), OK);
    bench.advance(Duration::from_secs(10));
    assert_eq!(bench.at("AT+CGATT?"), answer(&["+CGATT:0"]));
    assert_eq!(bench.at("AT+CGATT=1"), OK);
    bench.advance(Duration::from_secs(3));
    assert_eq!(bench.at("AT+CGATT?"), answer(&["+CGATT:1"]));
    // Back to the factory value: the next boot attaches by itself.
    assert_eq!(bench.at("AT+NCONFIG=AUTOCONNECT,TRUE"), OK);
    nrb(&mut bench);
    bench.advance(Duration::from_secs(3));
    assert_eq!(bench.at("AT+CFUN?"), answer(&["+CFUN:1"]));
    assert_eq!(bench.at("AT+CGATT?"), answer(&["+CGATT:1"]));
}

/// Each command is refused with `+CME ERROR: <code>` and the reads are the same afterwards.
fn refused(bench: &mut Bench, reads: &[&str], cases: &[(&str, u16)]) {
    let before: Vec<String> = reads.iter().map(|r| bench.at(r)).collect();
    for (command, code) in cases {
        assert_eq!(bench.at(command), cme(*code), "{command}");
    }
    let after: Vec<String> = reads.iter().map(|r| bench.at(r)).collect();
    assert_eq!(before, after, "nothing changed");
}

#[test]
fn bounds_and_bad_input_change_nothing() {
    let mut bench = booted("BC28");
    bench.at("AT+CMEE=1");
    let reads = [
        "AT+NCONFIG?",
        "AT+NBAND?",
        "AT+NATSPEED?",
        "AT+NCDP?",
        "AT+QREGSWT?",
        "AT+NNMI?",
        "AT+NSMI?",
        "AT+NQMGS",
        "AT+NPOWERCLASS?",
    ];
    // With the radio on, the radio settings are refused as not allowed.
    refused(
        &mut bench,
        &reads,
        &[
            ("AT+NBAND=5", 3),
            ("AT+NEARFCN=0,3555", 3),
            ("AT+NCSEARFCN", 3),
        ],
    );
    bench.at("AT+CFUN=0");
    refused(
        &mut bench,
        &reads,
        &[
            ("AT+NCONFIG=AUTOCONNECT", 50),
            ("AT+NCONFIG=AUTOCONNECT,TRUE,1", 50),
            ("AT+NCONFIG=AUTOCONNECT,TURE", 50),
            ("AT+NCONFIG=AUTOCONNECT,1", 50),
            ("AT+NCONFIG=NO_SUCH_ITEM,TRUE", 50),
            ("AT+NCONFIG=BARRING_RELEASE_DELAY,1801", 50),
            ("AT+NCONFIG=BARRING_RELEASE_DELAY,-1", 50),
            ("AT+NCONFIG=RELEASE_VERSION,15", 50),
            ("AT+NCONFIG=SYNC_TIME_PERIOD,65536", 50),
            ("AT+NCONFIG=PCO_IE_TYPE,XPCO", 50),
            ("AT+NBAND=2", 50),
            ("AT+NBAND=5,5", 50),
            ("AT+NBAND=0", 50),
            ("AT+NBAND=1,3,5,8,20,28,5", 50),
            ("AT+NBAND=\"5\"", 50),
            ("AT+NEARFCN=1,3555", 50),
            ("AT+NEARFCN=0,262144", 50),
            ("AT+NEARFCN=0,3555,1F8", 50),
            ("AT+NEARFCN=0,3555,XYZ", 50),
            ("AT+NEARFCN=0", 50),
            ("AT+NATSPEED=9601", 50),
            ("AT+NATSPEED=9600,30001", 50),
            ("AT+NATSPEED=9600,3,3", 50),
            ("AT+NATSPEED=9600,3,0", 50),
            ("AT+NATSPEED=9600,3,1,3", 50),
            ("AT+NATSPEED=9600,3,1,0,2", 50),
            ("AT+NATSPEED=9600,3,1,0,0,0", 50),
            ("AT+NCDP=180.101.147.115,65536", 50),
            ("AT+NCDP=\"\"", 50),
            ("AT+NCDP=180.101.147.115,5683,1", 50),
            ("AT+QREGSWT=3", 50),
            ("AT+NPOWERCLASS=2,3", 50),
            ("AT+NPOWERCLASS=5,4", 50),
            ("AT+NPOWERCLASS=5,6", 50),
            ("AT+NPOWERCLASS=5", 50),
            ("AT+NNMI=3", 50),
            ("AT+NSMI=2", 50),
            ("AT+NMGS=0,\"\"", 50),
            ("AT+NMGS=2,AABBCC", 50),
            ("AT+NMGS=3,AABBC", 50),
            ("AT+NMGS=3,AABBXX", 50),
            (&format!("AT+NMGS=513,{}", "00".repeat(513)), 50),
            ("AT+QLWULDATAEX=3,AABBCC,0x0200", 50),
            ("AT+QLWULDATAEX=3,AABBCC", 50),
            ("AT+QLWULDATAEX=3,AABBCC,0x0100,256", 50),
            ("AT+QLWULDATAEX=3,AABBCC,0x0100,0", 50),
            // Well formed, but the radio is off: no network service.
            ("AT+NMGS=1,00", 30),
            ("AT+QLWULDATAEX=1,00,0x0000", 30),
        ],
    );
    // One inside each bound is taken.
    for command in [
        "AT+NCONFIG=BARRING_RELEASE_DELAY,0",
        "AT+NEARFCN=0,262143,1F7",
        "AT+NCSEARFCN",
        "AT+NATSPEED=460800,30000,2,2,1",
        "AT+NCDP=180.101.147.115,65535",
        "AT+NBAND=1,3,5,8,20,28",
        "AT+NPOWERCLASS=28,5",
    ] {
        assert_eq!(bench.at(command), OK, "{command}");
    }
    // Without a platform an uplink has nowhere to go: 512, "required parameter not configured".
    let mut fresh = booted("BC35-G");
    fresh.advance(Duration::from_secs(3));
    fresh.at("AT+CMEE=1");
    assert_eq!(fresh.at("AT+NMGS=1,00"), cme(512));
    assert_eq!(fresh.at("AT+NQMGS"), answer(&["PENDING=0,SENT=0,ERROR=0"]));
}

/// A booted `model` beside the stand-ins (which know its IMEI on the CT IoT platform), echo
/// off, numeric errors, attached.
fn on_the_platform(model: &str) -> (Bench, StandIns) {
    let mut setup = ModuleSetup::model(model);
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
    bench.take_raw();
    bench.at("AT+CMEE=1");
    (bench, stand_ins)
}

fn wait(bench: &mut Bench, d: Duration) -> String {
    bench.advance(d);
    String::from_utf8(bench.take_raw()).unwrap()
}

#[test]
fn the_first_uplink_registers_with_the_ncdp_platform_and_downlinks_come_back() {
    for model in ["BC28", "BC95"] {
        let (mut bench, mut stand_ins) = on_the_platform(model);
        for command in ["AT+NCDP=180.101.147.115,5683", "AT+NSMI=1", "AT+NNMI=1"] {
            assert_eq!(bench.at(command), OK, "{model} {command}");
        }
        // The uplink waits for the registration it starts, and goes once the platform observes
        // (at once here: the stand-in answers in the same virtual instant).
        assert_eq!(
            bench.at("AT+NMSTATUS?"),
            answer(&["+NMSTATUS:UNINITIALISED"])
        );
        assert_eq!(
            bench.at("AT+NMGS=3,AABBCC"),
            format!("{OK}{}", urc("+NSMI:SENT")),
            "{model}"
        );
        assert_eq!(
            bench.at("AT+NMSTATUS?"),
            answer(&["+NMSTATUS:MO_DATA_ENABLED"])
        );
        assert_eq!(stand_ins.uplinks(Flavour::Iot, IMEI), Ok(1), "{model}");

        // A downlink queued on the platform comes at the next contact, printed (+NNMI 1)…
        stand_ins
            .queue_downlink(&mut bench, Flavour::Iot, IMEI, "BEEF")
            .unwrap();
        assert_eq!(
            bench.at("AT+NMGS=1,01"),
            format!("{OK}{}{}", urc("+NSMI:SENT"), urc("+NNMI:2,BEEF"))
        );
        // …or buffered for AT+NMGR (+NNMI 0), which prints it without its name.
        assert_eq!(bench.at("AT+NNMI=0"), OK);
        assert_eq!(bench.at("AT+NSMI=0"), OK);
        stand_ins
            .queue_downlink(&mut bench, Flavour::Iot, IMEI, "0102")
            .unwrap();
        assert_eq!(bench.at("AT+NMGS=1,02"), OK);
        assert_eq!(wait(&mut bench, Duration::from_secs(1)), "");
        assert_eq!(
            bench.at("AT+NQMGR"),
            answer(&["BUFFERED=1,RECEIVED=2,DROPPED=0"])
        );
        assert_eq!(bench.at("AT+NMGR"), answer(&["2,0102"]));
        assert_eq!(bench.at("AT+NMGR"), OK, "nothing left");

        // A confirmable uplink reports its delivery with +QLWULDATASTATUS.
        assert_eq!(
            bench.at("AT+QLWULDATAEX=3,AABBCC,0x0100"),
            format!("{OK}{}", urc("+QLWULDATASTATUS:4"))
        );
        assert_eq!(
            bench.at("AT+QLWULDATASTATUS?"),
            answer(&["+QLWULDATASTATUS:4"])
        );
        assert_eq!(bench.at("AT+NQMGS"), answer(&["PENDING=0,SENT=4,ERROR=0"]));
        assert_eq!(stand_ins.uplinks(Flavour::Iot, IMEI), Ok(4), "{model}");
    }
}

#[test]
fn with_qregswt_1_the_module_registers_at_attach_after_the_reboot() {
    let (mut bench, stand_ins) = on_the_platform("BC35-G");
    assert_eq!(bench.at("AT+NCDP=180.101.147.115"), OK);
    assert_eq!(
        bench.at("AT+NCDP?"),
        answer(&["+NCDP:180.101.147.115,5683"])
    );
    assert_eq!(
        bench.at("AT+NMSTATUS?"),
        answer(&["+NMSTATUS:UNINITIALISED"])
    );
    nrb(&mut bench);
    bench.advance(Duration::from_secs(5));
    assert_eq!(
        bench.at("AT+NMSTATUS?"),
        answer(&["+NMSTATUS:MO_DATA_ENABLED"])
    );
    assert_eq!(bench.at("AT+NMGS=1,00"), OK);
    bench.advance(Duration::from_secs(1));
    assert_eq!(stand_ins.uplinks(Flavour::Iot, IMEI), Ok(1));

    // With 0 the module waits for the first uplink.
    assert_eq!(bench.at("AT+QREGSWT=0"), OK);
    nrb(&mut bench);
    bench.advance(Duration::from_secs(5));
    assert_eq!(
        bench.at("AT+NMSTATUS?"),
        answer(&["+NMSTATUS:UNINITIALISED"])
    );
    assert_eq!(bench.at("AT+QREGSWT?"), answer(&["+QREGSWT:0"]));

    // With 2 (as RT-Thread's BC28 driver sets it) the link never registers: uplinks are refused.
    assert_eq!(bench.at("AT+QREGSWT=2"), OK);
    nrb(&mut bench);
    bench.advance(Duration::from_secs(5));
    bench.at("AT+CMEE=1");
    assert_eq!(bench.at("AT+NMGS=1,00"), cme(3));
    assert_eq!(
        bench.at("AT+NMSTATUS?"),
        answer(&["+NMSTATUS:UNINITIALISED"])
    );
}

#[test]
fn a_platform_that_never_answers_discards_the_waiting_uplinks() {
    // No stand-ins: nobody answers at the platform's address.
    let mut bench = booted("BC28");
    bench.advance(Duration::from_secs(3));
    for command in ["AT+NCDP=180.101.147.115,5683", "AT+NSMI=1"] {
        assert_eq!(bench.at(command), OK);
    }
    assert_eq!(bench.at("AT+NMGS=1,00"), OK);
    assert_eq!(bench.at("AT+NMGS=1,01"), OK);
    assert_eq!(bench.at("AT+NMSTATUS?"), answer(&["+NMSTATUS:REGISTERING"]));
    assert_eq!(bench.at("AT+NQMGS"), answer(&["PENDING=2,SENT=0,ERROR=0"]));
    // The registration gives up after the link's back-off (2 + 4 + … + 64 s).
    let written = wait(&mut bench, Duration::from_secs(130));
    assert_eq!(
        written,
        format!("{}{}", urc("+NSMI:DISCARDED"), urc("+NSMI:DISCARDED"))
    );
    assert_eq!(bench.at("AT+NQMGS"), answer(&["PENDING=0,SENT=0,ERROR=2"]));
    assert_eq!(bench.at("AT+NMSTATUS?"), answer(&["+NMSTATUS:TIMEOUT"]));

    // A platform whose name does not resolve cannot be reached: 30, nothing waits.
    assert_eq!(bench.at("AT+NCDP=no.such.platform"), OK);
    bench.at("AT+CMEE=1");
    assert_eq!(bench.at("AT+NMGS=1,00"), cme(30));
    assert_eq!(bench.at("AT+NQMGS"), answer(&["PENDING=0,SENT=0,ERROR=2"]));
}

/// The Neul part of the start-up of RT-Thread's `at_device` BC28 class, in its order: registration
/// off, AUTOCONNECT off, AT+NRB, then the band with the radio still off, the radio on and the
/// attach by hand. Every command is answered `OK` and the module ends attached with an address.
#[test]
fn an_open_source_bc28_drivers_start_up_sequence() {
    let mut bench = booted("BC28");
    for command in ["ATE0", "AT+QREGSWT=2", "AT+NCONFIG=AUTOCONNECT,FALSE"] {
        assert!(bench.at(command).ends_with(OK), "{command}");
    }
    assert_eq!(nrb(&mut bench), REBOOT_BANNER);
    for command in [
        "AT",
        "AT+CGSN=1",
        "AT+NBAND=8",
        "AT+CFUN=1",
        "AT+CIMI",
        "AT+CGATT=1",
    ] {
        assert!(bench.at(command).ends_with(OK), "{command}");
    }
    let speed = bench.at("AT+NATSPEED?");
    assert!(speed.starts_with("\r\n+NATSPEED:9600,"), "{speed}");
    bench.advance(Duration::from_secs(3));
    assert_eq!(bench.at("AT+CGATT?"), answer(&["+CGATT:1"]));
    let address = bench.at("AT+CGPADDR");
    assert!(address.starts_with("\r\n+CGPADDR:0,"), "{address}");
}

/// Every Neul setting survives the process being killed and started again on its NVRAM; the
/// NVRAM file holds them in its one `neul` section.
#[test]
fn the_settings_survive_a_restart_of_the_process() {
    let mut bench = booted("BC28");
    bench.at("AT+CFUN=0");
    for command in [
        "AT+NCONFIG=CELL_RESELECTION,FALSE",
        "AT+NBAND=3,8",
        "AT+NEARFCN=0,3555,A1",
        "AT+NATSPEED=115200,10,1,0,0",
        "AT+NPOWERCLASS=3,5",
        "AT+NCDP=180.101.147.115,5683",
        "AT+QREGSWT=0",
    ] {
        assert_eq!(bench.at(command), OK, "{command}");
    }
    let reads = [
        "AT+NCONFIG?",
        "AT+NBAND?",
        "AT+NATSPEED?",
        "AT+NPOWERCLASS?",
        "AT+NCDP?",
        "AT+QREGSWT?",
    ];
    let before: Vec<String> = reads.iter().map(|r| bench.at(r)).collect();
    bench.restart_process().unwrap();
    bench.advance(nbmodem_module::BOOT_TIME);
    bench.take_raw();
    let after: Vec<String> = reads.iter().map(|r| bench.at(r)).collect();
    assert_eq!(before, after);
    let text = bench.store().content().unwrap();
    let nvram = nbmodem_module::NvramData::decode(&text).unwrap();
    let neul = nbmodem_module::neul::saved(&nvram);
    let lock = neul.earfcn.map(|lock| (lock.earfcn, lock.pci));
    assert_eq!(lock, Some((3555, Some(0xA1))));
    assert_eq!(neul.bands, Some(vec![3, 8]));
}
