//! Client and server sessions joined in memory: handshake, data, failures, loss and garbage.

mod common;

use std::time::Duration;

use common::{Pair, IMEI, KEY, START};
use nbmodem_clock::{run_until, Clock, VirtualClock};
use nbmodem_dtls::{Config, DtlsSession, Error, Event, SessionFailure, State};

/// Timers short enough for tests that must wait for OpenSSL's real-time retransmission timer.
fn fast_timers() -> Config {
    Config {
        initial_retransmit_timeout: Duration::from_millis(60),
        max_retransmit_timeout: Duration::from_millis(240),
        ..Config::default()
    }
}

/// Sleeps past OpenSSL's share of the current timeout, so that it agrees to retransmit.
fn let_openssl_timer_expire(timeout: Duration) {
    std::thread::sleep(timeout + Duration::from_millis(5));
}

fn is_handshake_failure_mentioning(failure: &Event, needle: &str) -> bool {
    match failure {
        Event::Failed(SessionFailure::Handshake(reason)) => reason.contains(needle),
        _ => false,
    }
}

#[test]
fn handshake_completes_and_data_flows_both_ways() {
    let mut p = Pair::new();
    p.connect();
    assert_eq!(p.client.state(), State::Connected);
    assert_eq!(p.server.state(), State::Connected);
    assert_eq!(p.server.peer_identity(), Some(IMEI));
    assert_eq!(p.client.peer_identity(), None);
    assert_eq!(p.client.cipher_suite(), Some("PSK-AES128-CCM8"));
    assert_eq!(p.server.cipher_suite(), Some("PSK-AES128-CCM8"));
    assert_eq!(p.client.poll_timeout(), None, "no timer once connected");
    assert_eq!(p.server.poll_timeout(), None);

    p.client.send(p.now, b"POST /rd?ep=nbmodem").unwrap();
    p.shuttle();
    assert_eq!(
        p.server_events,
        [Event::Received(b"POST /rd?ep=nbmodem".to_vec())]
    );
    p.server.send(p.now, b"2.01 Created").unwrap();
    p.server.send(p.now, b"GET /3/0").unwrap();
    p.shuttle();
    assert_eq!(
        p.client_events,
        [
            Event::Received(b"2.01 Created".to_vec()),
            Event::Received(b"GET /3/0".to_vec())
        ]
    );
}

#[test]
fn a_thousand_byte_message_round_trips() {
    let mut p = Pair::new();
    p.connect();
    let message: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    p.client.send(p.now, &message).unwrap();
    p.shuttle();
    let Some(Event::Received(echo)) = p.server_events.pop() else {
        panic!("server got {:?}", p.server_events)
    };
    assert_eq!(echo, message);
    p.server.send(p.now, &echo).unwrap();
    p.shuttle();
    assert_eq!(p.client_events, [Event::Received(message)]);
}

#[test]
fn messages_that_do_not_fit_a_datagram_or_are_empty_are_refused() {
    let mut p = Pair::new();
    let before = p.client.max_message_len();
    assert_eq!(
        before, 1155,
        "worst-case suite overhead before the handshake"
    );
    p.connect();
    let max = p.client.max_message_len();
    assert!(max >= before && max < 1232, "max {max}");
    let too_long = vec![0u8; max + 1];
    assert!(matches!(
        p.client.send(p.now, &too_long),
        Err(Error::MessageTooLong { len, .. }) if len == max + 1
    ));
    assert!(matches!(
        p.client.send(p.now, b""),
        Err(Error::EmptyMessage)
    ));
    p.client.send(p.now, &vec![1u8; max]).unwrap();
    let datagram = p.client.poll_transmit().unwrap();
    assert!(
        datagram.len() <= 1232,
        "datagram of {} bytes",
        datagram.len()
    );
}

#[test]
fn messages_sent_during_the_handshake_follow_it() {
    let mut p = Pair::new();
    p.client.send(p.now, b"first").unwrap();
    p.client.send(p.now, b"second").unwrap();
    p.shuttle();
    assert_eq!(p.client_events, [Event::Connected]);
    assert_eq!(
        p.server_events,
        [
            Event::Connected,
            Event::Received(b"first".to_vec()),
            Event::Received(b"second".to_vec())
        ]
    );
}

#[test]
fn a_wrong_key_fails_both_sides_when_retransmissions_run_out() {
    let mut p = Pair::with_key(b"not-the-right-key", Config::default());
    p.shuttle();
    assert!(p.client_events.is_empty() && p.server_events.is_empty());
    // DTLS drops the records the wrong key cannot authenticate, so nobody answers: both sides
    // retransmit on the virtual clock until they give up.
    let mut rounds = 0;
    while p.advance_to_next_timeout() {
        p.shuttle();
        rounds += 1;
        assert!(rounds <= 20, "never gave up");
    }
    assert_eq!(p.client_events, [Event::Failed(SessionFailure::TimedOut)]);
    assert_eq!(p.server_events, [Event::Failed(SessionFailure::TimedOut)]);
    // 1 + 2 + 4 + 8 + 16 + 32 + 60 s: six retransmissions, then a last wait.
    assert_eq!(p.now.saturating_since(START), Duration::from_secs(123));
    assert_eq!(p.client.state(), State::Failed);
    assert!(matches!(p.client.send(p.now, b"x"), Err(Error::NotOpen)));
}

#[test]
fn an_unknown_identity_fails_the_handshake_on_both_sides() {
    let client = DtlsSession::client(START, b"000000000000000", KEY).unwrap();
    let server = DtlsSession::server(common::lookup()).unwrap();
    let mut p = Pair::from_sessions(client, server);
    p.shuttle();
    assert_eq!(p.server_events.len(), 1, "{:?}", p.server_events);
    assert!(
        is_handshake_failure_mentioning(&p.server_events[0], "psk identity not found"),
        "{:?}",
        p.server_events
    );
    assert_eq!(p.client_events.len(), 1, "{:?}", p.client_events);
    assert!(
        is_handshake_failure_mentioning(&p.client_events[0], "unknown psk identity"),
        "{:?}",
        p.client_events
    );
    assert_eq!(p.server.peer_identity(), None);
    assert_eq!(
        (p.client.poll_timeout(), p.server.poll_timeout()),
        (None, None)
    );
}

#[test]
fn a_lost_client_hello_is_retransmitted_at_our_deadline() {
    let config = fast_timers();
    let mut p = Pair::with_key(KEY, config);
    let hello = p.client.poll_transmit().expect("ClientHello");
    drop(hello); // lost
    let deadline = p.client.poll_timeout().expect("retransmission timer");
    assert_eq!(deadline, START + config.initial_retransmit_timeout);

    p.client.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(p.client.poll_transmit(), None, "not due yet on our clock");

    let_openssl_timer_expire(config.initial_retransmit_timeout);
    p.now = deadline;
    p.client.handle_timeout(p.now);
    let again = p.client.poll_transmit().expect("ClientHello retransmitted");
    assert_eq!(
        p.client.poll_timeout(),
        Some(deadline + 2 * config.initial_retransmit_timeout),
        "the timeout doubled"
    );
    p.server.handle_datagram(p.now, &again);
    p.connect();
}

#[test]
fn a_lost_final_server_flight_is_resent_when_the_client_repeats_its_own() {
    let config = fast_timers();
    let mut p = Pair::with_key(KEY, config);
    deliver(&mut p.client, &mut p.server, p.now); // ClientHello
    deliver(&mut p.server, &mut p.client, p.now); // ServerHello, ServerHelloDone
    deliver(&mut p.client, &mut p.server, p.now); // ClientKeyExchange, ChangeCipherSpec, Finished
    assert_eq!(p.server.poll_event(), Some(Event::Connected));
    let lost = discard(&mut p.server); // ChangeCipherSpec, Finished
    assert!(lost > 0);
    let timeout = p
        .client
        .poll_timeout()
        .expect("the client waits for the server's Finished");

    let_openssl_timer_expire(config.initial_retransmit_timeout);
    p.now = timeout;
    p.client.handle_timeout(p.now);
    p.shuttle();
    assert_eq!(p.client_events, [Event::Connected]);
    assert!(p.server_events.is_empty(), "{:?}", p.server_events);
    assert_eq!(p.client.poll_timeout(), None);
}

#[test]
fn without_an_answer_the_handshake_backs_off_and_times_out_on_our_clock() {
    let clock = VirtualClock::starting_at(START);
    let mut client = DtlsSession::client(clock.now(), IMEI, KEY).unwrap();
    discard(&mut client);
    let mut deadlines = Vec::new();
    while let Some(deadline) = client.poll_timeout() {
        deadlines.push(deadline.saturating_since(START).as_secs());
        clock.advance_to(deadline);
        client.handle_timeout(clock.now());
        discard(&mut client);
        assert!(deadlines.len() <= 10, "never gave up: {deadlines:?}");
    }
    assert_eq!(deadlines, [1, 3, 7, 15, 31, 63, 123]);
    assert_eq!(
        client.poll_event(),
        Some(Event::Failed(SessionFailure::TimedOut))
    );
    assert_eq!(client.poll_event(), None);
}

#[test]
fn sessions_run_under_the_clock_crate_driver() {
    let clock = VirtualClock::starting_at(START);
    let config = Config {
        max_retransmissions: 2,
        ..Config::default()
    };
    let mut client = DtlsSession::client_with_config(clock.now(), IMEI, KEY, config).unwrap();
    let fired = run_until(&mut client, &clock, START + Duration::from_secs(3600));
    assert_eq!(fired, 3, "two retransmission attempts, then the time-out");
    assert_eq!(client.state(), State::Failed);
}

#[test]
fn garbage_during_the_handshake_is_ignored() {
    let mut p = Pair::new();
    for datagram in garbage() {
        p.server.handle_datagram(p.now, &datagram); // before the ClientHello
    }
    deliver(&mut p.client, &mut p.server, p.now);
    for datagram in garbage() {
        p.client.handle_datagram(p.now, &datagram); // waiting for the server's flight
        p.server.handle_datagram(p.now, &datagram); // waiting for the client's next flight
    }
    p.connect();
    p.client.send(p.now, b"still fine").unwrap();
    p.shuttle();
    assert_eq!(p.server_events, [Event::Received(b"still fine".to_vec())]);
}

#[test]
fn garbage_forgeries_and_replays_after_the_handshake_are_ignored() {
    let mut p = Pair::new();
    let client_hello = p.client.poll_transmit().unwrap();
    p.server.handle_datagram(p.now, &client_hello);
    let server_flight: Vec<Vec<u8>> = std::iter::from_fn(|| p.server.poll_transmit()).collect();
    for datagram in &server_flight {
        p.client.handle_datagram(p.now, datagram);
    }
    p.connect();
    p.client.send(p.now, b"once").unwrap();
    let data = p.client.poll_transmit().unwrap();
    p.server.handle_datagram(p.now, &data);

    let mut hostile = garbage();
    hostile.extend(forged_records());
    hostile.push(data.clone()); // replayed application data
    hostile.push(client_hello.clone()); // a replayed (or restarted) ClientHello
    for datagram in &hostile {
        p.server.handle_datagram(p.now, datagram);
    }
    for datagram in hostile.iter().chain(&server_flight) {
        p.client.handle_datagram(p.now, datagram);
    }
    p.shuttle();
    assert_eq!(
        p.server_events,
        [Event::Received(b"once".to_vec())],
        "the replay is dropped"
    );
    assert!(p.client_events.is_empty(), "{:?}", p.client_events);
    assert_eq!(
        (p.client.state(), p.server.state()),
        (State::Connected, State::Connected)
    );

    p.server.send(p.now, b"still connected").unwrap();
    p.shuttle();
    assert_eq!(
        p.client_events,
        [Event::Received(b"still connected".to_vec())]
    );
}

#[test]
fn every_suite_connects_and_carries_short_and_long_messages() {
    for suite in nbmodem_dtls::CIPHER_SUITES {
        let mut p = Pair::with_key(KEY, only(suite));
        p.connect();
        assert_eq!(p.client.cipher_suite(), Some(suite));
        let long = vec![0x42; 1000];
        for message in [&b"x"[..], &long] {
            p.client.send(p.now, message).unwrap();
            p.server.send(p.now, message).unwrap();
        }
        p.shuttle();
        let expected = [Event::Received(b"x".to_vec()), Event::Received(long)];
        assert_eq!(p.server_events, expected, "{suite}");
        assert_eq!(p.client_events, expected, "{suite}");
    }
}

#[test]
fn forged_records_cannot_end_an_established_session_whatever_the_suite() {
    let mut rng = nbmodem_clock::SeededRng::new(88_172_645_463_325_252);
    for suite in nbmodem_dtls::CIPHER_SUITES {
        let mut p = Pair::with_key(KEY, only(suite));
        p.connect();
        let mut forged: Vec<Vec<u8>> = (0..130)
            .flat_map(|len| [21, 22, 23].map(|content_type| record(content_type, 1, &vec![7; len])))
            .collect();
        forged.extend((0..1000).map(|_| random_records(&mut rng)));
        for datagram in &forged {
            p.server.handle_datagram(p.now, datagram);
            p.client.handle_datagram(p.now, datagram);
        }
        p.client.send(p.now, b"ping").unwrap();
        p.server.send(p.now, b"pong").unwrap();
        p.shuttle();
        assert_eq!(
            p.server_events,
            [Event::Received(b"ping".to_vec())],
            "{suite}"
        );
        assert_eq!(
            p.client_events,
            [Event::Received(b"pong".to_vec())],
            "{suite}"
        );
    }
}

#[test]
fn close_sends_close_notify_and_closes_the_peer() {
    let mut p = Pair::new();
    p.connect();
    p.client.close();
    assert_eq!(p.client.poll_event(), Some(Event::Closed));
    p.shuttle();
    assert_eq!(p.server_events, [Event::Closed]);
    assert_eq!(
        (p.client.state(), p.server.state()),
        (State::Closed, State::Closed)
    );
    assert!(matches!(p.server.send(p.now, b"late"), Err(Error::NotOpen)));
    p.client.close();
    assert_eq!(
        p.client.poll_event(),
        None,
        "closing twice reports nothing more"
    );
}

#[test]
fn closing_during_the_handshake_abandons_it_and_its_queue() {
    let mut client = DtlsSession::client(START, IMEI, KEY).unwrap();
    client.send(START, b"queued").unwrap();
    client.close();
    assert_eq!(client.poll_event(), Some(Event::Closed));
    assert_eq!(client.poll_timeout(), None);
    discard(&mut client);
    client.handle_datagram(START, b"anything");
    assert_eq!(client.poll_transmit(), None);
}

#[test]
fn the_handshake_queue_is_bounded() {
    let mut client = DtlsSession::client(START, IMEI, KEY).unwrap();
    for _ in 0..nbmodem_dtls::MAX_WAITING_MESSAGES {
        client.send(START, b"m").unwrap();
    }
    assert!(matches!(client.send(START, b"m"), Err(Error::QueueFull)));
}

#[test]
fn sessions_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<DtlsSession>();
}

#[test]
fn bad_credentials_and_settings_are_refused_up_front() {
    let refused = |identity: &[u8], key: &[u8], config: Config| {
        DtlsSession::client_with_config(START, identity, key, config).unwrap_err()
    };
    let ok = Config::default();
    assert!(matches!(refused(b"", KEY, ok), Error::InvalidIdentity(_)));
    assert!(matches!(
        refused(b"86753\0", KEY, ok),
        Error::InvalidIdentity(_)
    ));
    assert!(matches!(refused(IMEI, b"", ok), Error::InvalidKey(_)));
    let tiny = Config {
        max_datagram_size: 64,
        ..ok
    };
    assert!(matches!(refused(IMEI, KEY, tiny), Error::InvalidConfig(_)));
    assert!(DtlsSession::server_with_config(common::lookup(), tiny).is_err());
}

/// Moves every datagram `from` has queued to `to`; returns how many.
fn deliver(from: &mut DtlsSession, to: &mut DtlsSession, now: nbmodem_clock::Instant) -> usize {
    let mut count = 0;
    while let Some(datagram) = from.poll_transmit() {
        to.handle_datagram(now, &datagram);
        count += 1;
    }
    count
}

/// Drops every datagram `from` has queued; returns how many.
fn discard(from: &mut DtlsSession) -> usize {
    std::iter::from_fn(|| from.poll_transmit()).count()
}

/// Datagrams no DTLS stack should act on: empty, tiny, random, truncated or oversized records.
fn garbage() -> Vec<Vec<u8>> {
    let mut rng = nbmodem_clock::SeededRng::new(0x2545_f491_4f6c_dd1d);
    let mut datagrams = vec![
        Vec::new(),
        vec![0],
        vec![22],
        vec![0xff; 13],
        vec![0u8; 2000],
    ];
    for len in [1, 12, 13, 14, 50, 100, 1000, 1500, 20_000] {
        datagrams.push((0..len).map(|_| rng.byte()).collect());
    }
    // Record headers that claim more than the datagram holds, or a length far too large.
    datagrams.push(vec![
        22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0x00, 1, 2, 3,
    ]);
    datagrams.push(vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    // Handshake record with a wrong version.
    datagrams.push(vec![22, 0x03, 0x03, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 1, 0]);
    datagrams
}

/// A config offering only `suite`.
fn only(suite: &'static str) -> Config {
    let suites: &'static [&'static str] = match suite {
        "PSK-AES128-CCM8" => &["PSK-AES128-CCM8"],
        "PSK-AES128-CCM" => &["PSK-AES128-CCM"],
        "PSK-AES128-GCM-SHA256" => &["PSK-AES128-GCM-SHA256"],
        "PSK-AES128-CBC-SHA256" => &["PSK-AES128-CBC-SHA256"],
        "ECDHE-PSK-AES128-CBC-SHA256" => &["ECDHE-PSK-AES128-CBC-SHA256"],
        other => panic!("unknown suite {other}"),
    };
    Config {
        cipher_suites: suites,
        ..Config::default()
    }
}

/// Found by the random records above: a header that is not DTLS (type 0x7f, a version of no
/// DTLS, a length past the end) followed by bytes that look like a record made OpenSSL end the
/// session with "unexpected EOF".
#[test]
fn a_datagram_that_is_not_dtls_cannot_end_a_session() {
    let datagram = decode(
        "7fe582adb73c6586f93537e7fbf34522663231\
         1dfb9b670f6a0141d69ed91db64dcfd154a1fb185d0490543bcc10ac29110455\
         10a878022fc9f49216844651ea5118fefd00010000206023 4d00137987a9fe08\
         8ca524f1a66b879272b7f5ee39dc",
    );
    for suite in nbmodem_dtls::CIPHER_SUITES {
        let mut p = Pair::with_key(KEY, only(suite));
        p.connect();
        p.client.handle_datagram(p.now, &datagram);
        p.server.handle_datagram(p.now, &datagram);
        p.client.send(p.now, b"ping").unwrap();
        p.shuttle();
        assert_eq!(
            p.server_events,
            [Event::Received(b"ping".to_vec())],
            "{suite}"
        );
    }
}

fn decode(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// A DTLS 1.2 record with sequence number 0x1000.
fn record(content_type: u8, epoch: u16, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 0xfe, 0xfd];
    r.extend_from_slice(&epoch.to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0, 0x10, 0x00]);
    r.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// One or two records with random type, epoch, sequence number, length (sometimes lying) and body.
fn random_records(rng: &mut nbmodem_clock::SeededRng) -> Vec<u8> {
    let mut datagram = Vec::new();
    for _ in 0..1 + rng.below(2) {
        let content_type = [20, 21, 22, 23, 24, 0, 255][rng.below(7) as usize];
        let body: Vec<u8> = (0..rng.below(150)).map(|_| rng.byte()).collect();
        let mut r = record(content_type, rng.below(3) as u16, &body);
        r[5..11].copy_from_slice(&[0, 0, rng.byte(), rng.byte(), rng.byte(), rng.byte()]);
        if rng.below(5) == 0 {
            r[11..13].copy_from_slice(&(rng.below(300) as u16).to_be_bytes());
        }
        datagram.extend(r);
    }
    datagram
}

/// Well-formed records that are not authentic: they must not reach an established session.
fn forged_records() -> Vec<Vec<u8>> {
    vec![
        record(21, 0, &[2, 40]), // fatal handshake_failure alert in the clear
        record(21, 0, &[1, 0]),  // close_notify in the clear
        record(21, 1, &[0; 26]), // encrypted-looking alert that fails authentication
        record(23, 0, b"plaintext data"), // application data in epoch 0
        record(23, 1, &[0x5a; 40]), // application data that fails authentication
        record(23, 2, &[0x5a; 40]), // a future epoch
        record(20, 0, &[1]),     // ChangeCipherSpec
        record(22, 0, &[1, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]), // bogus ClientHello
        record(99, 1, &[0; 8]),  // unknown content type
    ]
}
