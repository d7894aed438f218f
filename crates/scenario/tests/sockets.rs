//! Data sockets in virtual time: both families' commands against the UDP and TCP echo nodes of
//! the simulated network, their bounds and bad input (the manual's error, nothing changed).

use nbmodem_net::sim::{Conditions, TcpEcho, UdpEcho};
use nbmodem_scenario::expected::ok;
use nbmodem_scenario::Bench;
use std::net::SocketAddr;
use std::time::Duration;

const UDP_ECHO: &str = "47.100.1.2:5000";
const TCP_ECHO: &str = "47.100.1.2:6000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A module of `model`, attached, with echo off, and the two echo nodes.
fn attached(model: &str) -> Bench {
    let mut b = Bench::booted(model);
    b.at("ATE0");
    b.advance(Duration::from_secs(5));
    b.take_raw();
    // A network delay, so that an answer comes after the command's own result.
    b.network().set_conditions(Conditions {
        delay: Duration::from_millis(100),
        ..Conditions::default()
    });
    b.network().attach(addr(UDP_ECHO), UdpEcho::default());
    b.network()
        .attach_stream_server(addr(TCP_ECHO), TcpEcho::default());
    b
}

/// Lets the network run a second and returns what the module wrote meanwhile.
fn after_a_second(b: &mut Bench) -> String {
    b.advance(Duration::from_secs(1));
    String::from_utf8_lossy(&b.take_raw()).into_owned()
}

#[test]
fn neul_udp_round_trip_with_the_echo_node() {
    let mut b = attached("BC95");
    assert_eq!(b.at("AT+NSOCR=DGRAM,17,5683,1"), ok(&["0"]));
    assert_eq!(b.at("AT+NSOST=0,47.100.1.2,5000,4,74657374"), ok(&["0,4"]));
    assert_eq!(after_a_second(&mut b), "\r\n+NSONMI:0,4\r\n");
    assert_eq!(
        b.at("AT+NSORF=0,2"),
        ok(&["0,47.100.1.2,5000,2,7465,2"]),
        "half of it: two bytes remain"
    );
    assert_eq!(b.at("AT+NSORF=0,10"), ok(&["0,47.100.1.2,5000,2,7374,0"]));
    assert_eq!(b.at("AT+NSORF=0,10"), ok(&[]), "nothing left");
    assert_eq!(
        b.network().node::<UdpEcho>(addr(UDP_ECHO)).unwrap().echoed,
        1
    );
    // Mode 2: the data in the URC.
    assert_eq!(b.at("AT+NSONMI=2"), ok(&[]));
    assert_eq!(b.at("AT+NSONMI?"), ok(&["+NSONMI:2"]));
    b.at("AT+NSOSTF=0,47.100.1.2,5000,0x200,2,AB30");
    assert_eq!(
        after_a_second(&mut b),
        "\r\n+NSONMI:0,47.100.1.2,5000,2,AB30\r\n"
    );
    assert_eq!(b.at("AT+NSOCL=0"), ok(&[]));
    assert_eq!(b.at("AT+NSOCL=0"), "\r\nERROR\r\n", "closed already");
}

#[test]
fn neul_tcp_round_trip_and_a_refused_connection() {
    let mut b = attached("BC95");
    assert_eq!(b.at("AT+NSOCR=STREAM,6,0,1"), ok(&["0"]));
    assert_eq!(b.at("AT+NSOCO=0,47.100.1.2,6000"), ok(&[]));
    assert_eq!(after_a_second(&mut b), "");
    assert_eq!(b.at("AT+NSOSD=0,3,414243"), ok(&["0,3"]));
    assert_eq!(after_a_second(&mut b), "\r\n+NSONMI:0,3\r\n");
    assert_eq!(
        b.at("AT+NSORF=0,512"),
        ok(&["0,47.100.1.2,6000,3,414243,0"])
    );
    // Nobody listens on port 6001: the connection ends at once.
    assert_eq!(b.at("AT+NSOCR=STREAM,6,0,1"), ok(&["1"]));
    assert_eq!(b.at("AT+NSOCO=1,47.100.1.2,6001"), ok(&[]));
    assert_eq!(after_a_second(&mut b), "\r\n+NSOCLI:1\r\n");
}

#[test]
fn neul_bounds_and_bad_input_change_nothing() {
    let mut b = attached("BC95");
    b.at("AT+CMEE=1");
    let incorrect = "\r\n+CME ERROR: 50\r\n";
    for bad in [
        "AT+NSOCR=DGRAM,6,5683",
        "AT+NSOCR=RAW,17,5683",
        "AT+NSOCR=DGRAM,17,65536",
        "AT+NSOCR=DGRAM,17,5683,2",
        "AT+NSOCR=DGRAM,17",
    ] {
        assert_eq!(b.at(bad), incorrect, "{bad}");
    }
    assert_eq!(b.at("AT+NSOCR=DGRAM,17,5683"), ok(&["0"]));
    assert_eq!(
        b.at("AT+NSOCR=DGRAM,17,5683"),
        "\r\n+CME ERROR: 3\r\n",
        "port taken"
    );
    for bad in [
        "AT+NSOST=1,47.100.1.2,5000,1,AA",
        "AT+NSOST=0,47.100.1,5000,1,AA",
        "AT+NSOST=0,47.100.1.2,65536,1,AA",
        "AT+NSOST=0,47.100.1.2,5000,2,AA",
        "AT+NSOST=0,47.100.1.2,5000,1,AG",
        "AT+NSOSTF=0,47.100.1.2,5000,0x300,1,AA",
        "AT+NSORF=0,513",
        "AT+NSONMI=3",
        "AT+NSOST=0,47.100.1.2,5000,1,AA,0",
        "AT+NSOST=0,47.100.1.2,5000,1,AA,256",
    ] {
        assert_eq!(b.at(bad), incorrect, "{bad}");
    }
    let biggest = "AB".repeat(512);
    let sent = b.at(&format!("AT+NSOST=0,47.100.1.2,5000,512,{biggest}"));
    assert_eq!(sent, ok(&["0,512"]));
    let one_past = format!("AT+NSOST=0,47.100.1.2,5000,513,{biggest}AB");
    assert_eq!(b.at(&one_past), incorrect, "one past the largest datagram");
    // Seven sockets (0–6); the eighth is refused.
    for id in 1..7 {
        assert_eq!(b.at("AT+NSOCR=DGRAM,17,0"), ok(&[&id.to_string()]));
    }
    assert_eq!(b.at("AT+NSOCR=DGRAM,17,0"), "\r\n+CME ERROR: 3\r\n");
    assert_eq!(
        b.at("AT+NSOST=0,47.100.1.2,5000,1,AA,7"),
        ok(&["0,1"]) + "\r\n+NSOSTR:0,7,1\r\n",
        "with a sequence"
    );
}

#[test]
fn quectel_udp_in_buffer_and_push_modes() {
    let mut b = attached("BC26");
    assert_eq!(
        b.at("AT+QIOPEN=1,0,\"UDP\",\"47.100.1.2\",5000,0,0"),
        "\r\nOK\r\n\r\n+QIOPEN: 0,0\r\n"
    );
    assert_eq!(b.send_raw(b"AT+QISEND=0,5\r"), None);
    assert_eq!(b.take_raw(), b"\r\n> ");
    b.send_raw(b"hello");
    assert_eq!(String::from_utf8(b.take_raw()).unwrap(), "\r\nSEND OK\r\n");
    assert_eq!(after_a_second(&mut b), "\r\n+QIURC: \"recv\",0\r\n");
    assert_eq!(b.at("AT+QIRD=0,1024"), ok(&["+QIRD: 5", "hello"]));
    assert_eq!(b.at("AT+QIRD=0,1024"), ok(&["+QIRD: 0"]));
    assert_eq!(b.at("AT+QIRD=0,0"), ok(&["+QIRD: 5,5,0"]));
    assert_eq!(b.at("AT+QISEND=0,0"), ok(&["+QISEND: 5,5,0"]));
    // Ctrl-Z ends data of no fixed length; ESC sends nothing.
    b.send_raw(b"AT+QISEND=0\r");
    b.take_raw();
    b.send_raw(b"ab\x1a");
    assert_eq!(String::from_utf8(b.take_raw()).unwrap(), "\r\nSEND OK\r\n");
    assert_eq!(after_a_second(&mut b), "\r\n+QIURC: \"recv\",0\r\n");
    assert_eq!(b.at("AT+QIRD=0"), ok(&["+QIRD: 2", "ab"]));
    b.send_raw(b"AT+QISEND=0\r");
    b.take_raw();
    b.send_raw(b"xy\x1b");
    assert_eq!(String::from_utf8(b.take_raw()).unwrap(), "\r\nOK\r\n");
    assert_eq!(b.at("AT+QISEND=0,0"), ok(&["+QISEND: 7,7,0"]));
    // Direct push: the data comes in the URC.
    assert_eq!(
        b.at("AT+QIOPEN=1,1,\"UDP\",\"47.100.1.2\",5000,0,1"),
        "\r\nOK\r\n\r\n+QIOPEN: 1,0\r\n"
    );
    assert_eq!(b.at("AT+QISENDEX=1,\"3132\""), "\r\nSEND OK\r\n");
    assert_eq!(after_a_second(&mut b), "\r\n+QIURC: \"recv\",1,2\r\n12\r\n");
    // The local ports are the module's next free ones (49152 is the China Mobile DM service's).
    assert_eq!(
        b.at("AT+QISTATE?"),
        ok(&[
            "+QISTATE: 0,\"UDP\",\"47.100.1.2\",5000,49153,2,1,0,0,\"uart1\"",
            "+QISTATE: 1,\"UDP\",\"47.100.1.2\",5000,49154,2,1,0,1,\"uart1\"",
        ])
    );
    assert_eq!(b.at("AT+QICLOSE=0"), ok(&[]));
    assert_eq!(
        b.at("AT+QICLOSE=0"),
        ok(&[]),
        "closing again changes nothing"
    );
    assert_eq!(b.at("AT+QISENDEX=0,\"3132\""), "\r\nERROR\r\n", "closed");
}

#[test]
fn quectel_tcp_round_trip_and_a_refused_connection() {
    let mut b = attached("BC260Y-CN");
    assert_eq!(b.at("AT+QIOPEN=1,0,\"TCP\",\"47.100.1.2\",6000"), ok(&[]));
    assert_eq!(after_a_second(&mut b), "\r\n+QIOPEN: 0,0\r\n");
    assert_eq!(b.at("AT+QISENDEX=0,\"414243\""), "\r\nSEND OK\r\n");
    assert_eq!(after_a_second(&mut b), "\r\n+QIURC: \"recv\",0\r\n");
    assert_eq!(b.at("AT+QIRD=0,2"), ok(&["+QIRD: 2", "AB"]));
    assert_eq!(b.at("AT+QIRD=0,2"), ok(&["+QIRD: 1", "C"]));
    assert_eq!(b.at("AT+QIOPEN=1,1,\"TCP\",\"47.100.1.2\",6001"), ok(&[]));
    assert_eq!(after_a_second(&mut b), "\r\n+QIOPEN: 1,566\r\n");
    assert_eq!(b.at("AT+QISENDEX=1,\"41\""), "\r\nERROR\r\n");
    assert_eq!(
        b.network()
            .stream_server::<TcpEcho>(addr(TCP_ECHO))
            .unwrap()
            .echoed,
        3
    );
}

#[test]
fn quectel_bounds_and_bad_input_change_nothing() {
    let mut b = attached("BC26");
    let invalid = "\r\n+CME ERROR: 552\r\n";
    for bad in [
        "AT+QIOPEN=0,0,\"UDP\",\"47.100.1.2\",5000",
        "AT+QIOPEN=17,0,\"UDP\",\"47.100.1.2\",5000",
        "AT+QIOPEN=1,5,\"UDP\",\"47.100.1.2\",5000",
        "AT+QIOPEN=1,0,\"SCTP\",\"47.100.1.2\",5000",
        "AT+QIOPEN=1,0,UDP,\"47.100.1.2\",5000",
        "AT+QIOPEN=1,0,\"UDP\",\"47.100.1.2\",65536",
        "AT+QIOPEN=1,0,\"UDP\",\"47.100.1.2\",5000,0,2",
        "AT+QIOPEN=1,0,\"UDP\",\"47.100.1.2\"",
    ] {
        assert_eq!(b.at(bad), invalid, "{bad}");
    }
    assert_eq!(b.at("AT+QISTATE?"), ok(&[]), "nothing opened");
    assert_eq!(
        b.at("AT+QIOPEN=1,4,\"UDP\",\"no.such.name\",5000"),
        "\r\nOK\r\n\r\n+QIOPEN: 4,565\r\n"
    );
    assert_eq!(
        b.at("AT+QIGETERROR"),
        ok(&["+QIGETERROR: 565,DNS parse failed"])
    );
    assert_eq!(
        b.at("AT+QICLOSE=4"),
        ok(&[]),
        "the host closes a failed socket"
    );
    b.module().router_mut().fail_dns(None);
    assert_eq!(
        b.at("AT+QIOPEN=1,4,\"UDP\",\"lwm2m.ctwing.cn\",5683"),
        "\r\nOK\r\n\r\n+QIOPEN: 4,565\r\n",
        "--dns-fail"
    );
    b.module().router_mut().restore_dns();
    b.at("AT+QIOPEN=1,4,\"UDP\",\"47.100.1.2\",5000");
    assert_eq!(
        b.at("AT+QIOPEN=1,4,\"UDP\",\"47.100.1.2\",5000"),
        "\r\n+CME ERROR: 563\r\n"
    );
    assert_eq!(
        b.at("AT+QISEND=4,1025"),
        invalid,
        "one past the largest send"
    );
    assert_eq!(b.at("AT+QISEND=3,1"), "\r\nERROR\r\n", "not open");
    assert_eq!(b.at("AT+QISENDEX=4,\"3\""), invalid, "odd hex");
    assert_eq!(b.at("AT+QIRD=4,1025"), invalid);
    assert_eq!(b.at("AT+QICLOSE=5"), invalid);
    b.send_raw(b"AT+QISEND=4,1024\r");
    b.take_raw();
    b.send_raw(&[b'x'; 1024]);
    assert_eq!(String::from_utf8(b.take_raw()).unwrap(), "\r\nSEND OK\r\n");
}

#[test]
fn pings_are_answered_by_what_is_attached_and_time_out_elsewhere() {
    let mut b = attached("BC95");
    assert_eq!(b.at("AT+NPING=47.100.1.2"), ok(&[]));
    assert_eq!(after_a_second(&mut b), "\r\n+NPING:47.100.1.2,64,200\r\n");
    assert_eq!(b.at("AT+NPING=47.100.9.9,12,100"), ok(&[]));
    assert_eq!(after_a_second(&mut b), "\r\n+NPINGERR:1\r\n");
    // AT+QDNS as the BC28 and BC95 drivers send it: quoted or bare, the answer a URC after OK.
    assert_eq!(
        b.at("AT+QDNS=0,\"lwm2m.ctwing.cn\""),
        "\r\nOK\r\n\r\n+QDNS:221.229.214.202\r\n"
    );
    assert_eq!(
        b.at("AT+QDNS=0,no.such.name"),
        "\r\nOK\r\n\r\n+QDNS:QUERY_DNS_FAILED\r\n",
        "the simulated network has no DNS"
    );
    b.at("AT+CMEE=1");
    for bad in [
        "AT+QDNS=1,\"lwm2m.ctwing.cn\"",
        "AT+QDNS=0",
        "AT+QDNS=0,\"\"",
        "AT+NPING=47.100.1",
        "AT+NPING=47.100.1.2,11",
        "AT+NPING=47.100.1.2,1501",
        "AT+NPING=47.100.1.2,12,9",
        "AT+NPING=47.100.1.2,12,60001",
    ] {
        assert_eq!(b.at(bad), "\r\n+CME ERROR: 50\r\n", "{bad}");
    }
    let mut q = attached("BC26");
    assert_eq!(q.at("AT+QPING=1,\"47.100.1.2\",4,2"), ok(&[]));
    assert_eq!(
        after_a_second(&mut q),
        "\r\n+QPING: 0,\"47.100.1.2\",32,200,64\r\n\r\n+QPING: 0,\"47.100.1.2\",32,200,64\r\n\
         \r\n+QPING: 0,2,2,0,200,200,200\r\n"
    );
    assert_eq!(
        q.at("AT+QPING=1,\"no.such.name\""),
        "\r\nOK\r\n\r\n+QPING: 565\r\n",
        "the simulated network has no DNS"
    );
    for bad in [
        "AT+QPING=0,\"47.100.1.2\"",
        "AT+QPING=1,\"47.100.1.2\",0",
        "AT+QPING=1,\"47.100.1.2\",256",
        "AT+QPING=1,\"47.100.1.2\",4,11",
        "AT+QIDNSGIP=1,\"\"",
        "AT+QIDNSCFG=1,\"1.2.3\"",
    ] {
        assert_eq!(q.at(bad), "\r\n+CME ERROR: 552\r\n", "{bad}");
    }
    assert_eq!(
        q.at("AT+QIDNSGIP=1,\"lwm2m.ctwing.cn\""),
        "\r\nOK\r\n\r\n+QIURC: \"dnsgip\",0,1,600\r\n\r\n+QIURC: \"dnsgip\",\"221.229.214.202\"\r\n"
    );
    assert_eq!(q.at("AT+QIDNSCFG=1,\"8.8.8.8\""), ok(&[]));
    assert_eq!(
        q.at("AT+QIDNSCFG=1"),
        ok(&["+QIDNSCFG: 1,\"8.8.8.8\",\"218.4.4.4\""])
    );
}

#[test]
fn a_reboot_closes_the_connections_of_the_sockets_it_loses() {
    let mut b = attached("BC26");
    b.at("AT+QIOPEN=1,0,\"TCP\",\"47.100.1.2\",6000");
    after_a_second(&mut b);
    b.power_off();
    b.power_on();
    b.advance(Duration::from_secs(5));
    b.take_raw();
    // The echo server's connection is gone: what the old socket's port would send is dropped.
    let echo = b
        .network()
        .stream_server::<TcpEcho>(addr(TCP_ECHO))
        .unwrap();
    assert_eq!(echo.echoed, 0);
    assert_eq!(b.network().open_connections(), 0);
}

#[test]
fn nsostf_flags_are_the_uplinks_release_assistance() {
    let mut b = attached("BC95");
    b.at("AT+NSOCR=DGRAM,17,0,1");
    b.at("AT+CSCON=1");
    // No flag: the connection stays up for the inactivity timer.
    let plain = b.at("AT+NSOSTF=0,47.100.9.9,5000,0x000,1,AA");
    assert!(!plain.contains("+CSCON:0"), "{plain:?}");
    assert_eq!(b.at("AT+CSCON?"), ok(&["+CSCON:1,1"]));
    // 0x200: released right after the uplink.
    let released = b.at("AT+NSOSTF=0,47.100.9.9,5000,0x200,1,AA");
    assert_eq!(released, ok(&["0,1"]) + "\r\n+CSCON:0\r\n");
    assert_eq!(b.at("AT+CSCON?"), ok(&["+CSCON:1,0"]));
}
