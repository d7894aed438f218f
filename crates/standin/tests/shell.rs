//! The engines are sans-IO: this test binary builds with the stand-in crate alone (no store, no
//! server, no runtime), runs a registry engine in its shell with a journal held in memory, and
//! checks what the shell promises: nothing is served while the journal refuses, a fault acts
//! before the engine, and an answer leaves only once the writes before it are durable.

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use nbmodem_clock::Instant;
use nbmodem_coap::EndpointConfig;
use nbmodem_net::DatagramNode;
use nbmodem_operators::selfreg::Registry;
use nbmodem_standin::{Fault, Faulty, Journal, RegistryEngine, Shell, Ticket, Verdict, Write};
use std::net::SocketAddr;

/// A journal in memory: the test says when writes are durable, or that none can be stored.
#[derive(Default)]
struct MemoryJournal {
    writes: Vec<Write>,
    committed: u64,
    full: bool,
}

impl MemoryJournal {
    fn commit_all(&mut self) {
        self.committed = self.writes.len() as u64;
    }
}

impl Journal for MemoryJournal {
    fn submit(&mut self, write: Write) -> Ticket {
        self.writes.push(write);
        self.last()
    }

    fn last(&self) -> Ticket {
        Ticket(self.writes.len() as u64)
    }

    fn committed(&self) -> Ticket {
        Ticket(self.committed)
    }

    fn refuses(&mut self) -> bool {
        self.full
    }
}

fn registry() -> Shell<RegistryEngine, MemoryJournal> {
    let engine = RegistryEngine::new(Registry::ChinaTelecom, EndpointConfig::default());
    Shell::new(engine, MemoryJournal::default())
}

fn device() -> SocketAddr {
    "127.0.0.1:5683".parse().unwrap()
}

/// A confirmable GET of a path the registry does not serve (answered 4.04, and recorded).
fn get_elsewhere() -> Vec<u8> {
    let mut packet = Packet::new();
    packet.header.set_type(MessageType::Confirmable);
    packet.header.code = MessageClass::Request(RequestType::Get);
    packet.header.message_id = 1;
    packet.set_token(vec![7]);
    packet.add_option(CoapOption::UriPath, b"elsewhere".to_vec());
    packet.to_bytes().unwrap()
}

fn recorded(shell: &Shell<RegistryEngine, MemoryJournal>) -> Vec<(String, Verdict)> {
    let records = shell
        .journal()
        .writes
        .iter()
        .filter_map(|write| match write {
            Write::Record(record) => Some((record.operation.clone(), record.verdict)),
            _ => None,
        });
    records.collect()
}

#[test]
fn an_answer_waits_until_the_record_before_it_is_durable() {
    let mut shell = registry();
    let now = Instant::from_unix_millis(1_000);
    shell.handle_datagram(now, device(), &get_elsewhere());
    assert_eq!(recorded(&shell), [("other".to_string(), Verdict::Rejected)]);
    assert_eq!(shell.poll_transmit(), None, "the record is not durable yet");
    shell.journal_mut().commit_all();
    let answer = shell.poll_transmit().expect("answered once durable");
    let packet = Packet::from_bytes(&answer.payload).unwrap();
    assert_eq!(answer.destination, device());
    assert_eq!(
        packet.header.code,
        MessageClass::Response(ResponseType::NotFound)
    );
}

#[test]
fn nothing_is_served_while_the_journal_refuses() {
    let mut shell = registry();
    shell.journal_mut().full = true;
    shell.handle_datagram(Instant::from_unix_millis(1_000), device(), &get_elsewhere());
    assert!(shell.journal().writes.is_empty());
    shell.journal_mut().commit_all();
    assert_eq!(shell.poll_transmit(), None, "the device retransmits");
}

#[test]
fn a_dropped_request_is_recorded_and_not_answered() {
    let mut shell = registry();
    shell.set_fault(Fault::Drop(1));
    shell.handle_datagram(Instant::from_unix_millis(1_000), device(), &get_elsewhere());
    assert_eq!(recorded(&shell), [("other".to_string(), Verdict::Dropped)]);
    assert_eq!(shell.faults().drop, 0, "the fault counted down");
    shell.journal_mut().commit_all();
    assert_eq!(shell.poll_transmit(), None);
}

#[test]
fn a_delayed_request_is_served_when_its_delay_is_over() {
    let mut shell = registry();
    shell.set_fault(Fault::Delay(std::time::Duration::from_secs(5)));
    let now = Instant::from_unix_millis(1_000);
    shell.handle_datagram(now, device(), &get_elsewhere());
    assert!(recorded(&shell).is_empty(), "held, not yet seen");
    let due = shell.poll_timeout().expect("a timer for the held request");
    assert_eq!(due, Instant::from_unix_millis(6_000));
    shell.handle_timeout(due);
    shell.journal_mut().commit_all();
    assert!(shell.poll_transmit().is_some());
    let Write::Record(record) = &shell.journal().writes[0] else {
        panic!("a record")
    };
    assert_eq!(record.fault.as_deref(), Some("delay=5s"));
}
