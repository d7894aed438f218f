//! With the writer thread, a registry answers a registration only once its record is on disk: a
//! module told "Success" is in the database, whatever a crash does next.

use crate::common::record;
use nbmodem_clock::Instant;
use nbmodem_coap::{Endpoint, EndpointConfig, Event, Method, Request, Status};
use nbmodem_net::DatagramNode;
use nbmodem_operators::selfreg::Registry;
use nbmodem_platform::{RegistryServer, Server, Store, Writing};
use std::net::SocketAddr;
use std::time::Duration;

#[test]
fn every_answered_registration_is_already_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry =
        RegistryServer::open(Registry::ChinaTelecom, dir.path(), 1, Writing::Thread).unwrap();
    let reader = Store::open(dir.path()).unwrap();
    let mut module = Endpoint::new(EndpointConfig::default());
    let (me, them): (SocketAddr, SocketAddr) = (
        "10.0.0.2:40000".parse().unwrap(),
        "10.0.0.1:5683".parse().unwrap(),
    );
    let body = record().encode(Registry::ChinaTelecom);
    let now = Instant::from_unix_millis(1_767_225_600_000);
    for n in 1..=200 {
        let request = Request::new(Method::Post, "/nb").with_payload(50, body.clone());
        module.request(now, them, request, true);
        let datagram = module.poll_transmit().unwrap();
        registry.handle_datagram(now, me, &datagram.payload);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let answer = loop {
            if let Some(answer) = registry.poll_transmit() {
                break answer;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no answer to request {n}"
            );
            std::thread::yield_now();
        };
        assert_eq!(
            reader.records(Server::Ct).unwrap().len(),
            n,
            "answered before stored"
        );
        module.handle_datagram(now, them, &answer.payload);
        assert!(matches!(
            module.poll_event(),
            Some(Event::Response { response, .. }) if response.status == Status::Content
        ));
    }
}
