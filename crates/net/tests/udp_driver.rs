//! The tokio UDP driver delivers every datagram, runs timers on time, and sends what the node
//! wants to send.

use nbmodem_clock::Instant;
use nbmodem_net::{udp, DatagramNode, Transmit};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::Notify;

/// Echoes each datagram back, and counts its timer firings (one every 100 ms).
struct Echo {
    outbox: Vec<Transmit>,
    received: usize,
    ticks: usize,
    next_tick: Option<Instant>,
}

impl DatagramNode for Echo {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.received += 1;
        self.outbox.push(Transmit {
            destination: from,
            payload: datagram.to_vec(),
        });
        self.next_tick
            .get_or_insert(now + Duration::from_millis(100));
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.next_tick
    }
    fn handle_timeout(&mut self, now: Instant) {
        if self.next_tick.is_some_and(|t| t <= now) {
            self.ticks += 1;
            self.next_tick = Some(now + Duration::from_millis(100));
        }
    }
}

#[tokio::test]
async fn delivers_every_datagram_and_runs_timers() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    let node = Arc::new(Mutex::new(Echo {
        outbox: vec![],
        received: 0,
        ticks: 0,
        next_tick: None,
    }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let driver = tokio::spawn(udp::run(
        node.clone(),
        socket,
        Arc::new(Notify::new()),
        async {
            let _ = stopped.await;
        },
    ));
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 16];
    for i in 0..5u8 {
        client.send_to(&[i], address).await.unwrap();
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], &[i]);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let _ = stop.send(());
    driver.await.unwrap().unwrap();
    let node = udp::lock(&node);
    assert_eq!(node.received, 5);
    assert!(node.ticks >= 5, "{} ticks", node.ticks);
}

/// Sends one datagram from each of its ports 7 and 8 to `peer`, and keeps what comes back, by
/// the local port it came to.
struct TwoPorts {
    peer: SocketAddr,
    outbox: Vec<nbmodem_net::HostTransmit>,
    received: Vec<(u16, Vec<u8>)>,
}

impl nbmodem_net::HostNode for TwoPorts {
    fn handle_datagram(&mut self, _: Instant, port: u16, _: SocketAddr, datagram: &[u8]) {
        self.received.push((port, datagram.to_vec()));
    }
    fn poll_transmit(&mut self) -> Option<nbmodem_net::HostTransmit> {
        self.outbox.pop()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _: Instant) {}
}

#[tokio::test]
async fn a_host_sends_from_a_socket_per_port_and_gets_the_answers_on_that_port() {
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_address = peer.local_addr().unwrap();
    let ports = udp::Ports::OnDemand("127.0.0.1".parse().unwrap());
    let (node, driver, stop) = start_two_ports(ports, peer_address, |port| vec![port]);
    let mut sources = Vec::new();
    let mut buf = [0u8; 16];
    for _ in 0..2 {
        let (n, from) = tokio::time::timeout(Duration::from_secs(2), peer.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        // Answer each with its payload doubled, to the address it came from.
        peer.send_to(&[buf[0], buf[0]][..n + 1], from)
            .await
            .unwrap();
        sources.push(from);
    }
    assert_ne!(sources[0], sources[1], "a socket of its own for each port");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = stop.send(());
    driver.await.unwrap().unwrap();
    let node = udp::lock(&node);
    let mut received = node.received.clone();
    received.sort();
    assert_eq!(received, [(7, vec![7, 7]), (8, vec![8, 8])]);
    assert_eq!(node.peer, peer_address);
}

/// What the system lets a socket's receive buffer be (Linux: net.core.rmem_max).
fn system_receive_limit() -> usize {
    std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(udp::SERVER_RECEIVE_BUFFER)
}

#[tokio::test]
async fn a_server_socket_holds_a_burst_of_large_datagrams_while_nobody_reads() {
    let (server, granted) = udp::bind_server("127.0.0.1:0".parse().unwrap()).unwrap();
    let wanted = udp::SERVER_RECEIVE_BUFFER.min(system_receive_limit());
    assert!(granted >= wanted, "granted {granted}, wanted {wanted}");
    // A 60 KB datagram costs about 64 KB of the buffer, of which Linux grants twice the size asked.
    let burst = (granted / 2 / (70 * 1024)).min(40);
    assert!(burst >= 3, "a buffer of {granted} holds too little to test");
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let datagram = vec![7u8; 60_000];
    for _ in 0..burst {
        client
            .send_to(&datagram, server.local_addr().unwrap())
            .unwrap();
    }
    let mut received = 0;
    let mut buffer = vec![0u8; 65_535];
    while let Ok(Ok(_)) =
        tokio::time::timeout(Duration::from_millis(200), server.recv_from(&mut buffer)).await
    {
        received += 1;
    }
    assert_eq!(received, burst);
}

/// A [`TwoPorts`] host on `ports`, its datagram from each port `payload(port)`, and its driver,
/// which runs until told to stop.
fn start_two_ports(
    ports: udp::Ports,
    peer: SocketAddr,
    payload: impl Fn(u8) -> Vec<u8>,
) -> (
    Arc<Mutex<TwoPorts>>,
    tokio::task::JoinHandle<std::io::Result<()>>,
    tokio::sync::oneshot::Sender<()>,
) {
    let outbox = [8u16, 7]
        .map(|port| nbmodem_net::HostTransmit {
            source_port: port,
            transmit: Transmit {
                destination: peer,
                payload: payload(port as u8),
            },
        })
        .to_vec();
    let node = Arc::new(Mutex::new(TwoPorts {
        peer,
        outbox,
        received: Vec::new(),
    }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let driver = tokio::spawn(udp::run_host(
        node.clone(),
        ports,
        Arc::new(Notify::new()),
        None,
        async {
            let _ = stopped.await;
        },
    ));
    (node, driver, stop)
}

#[tokio::test]
async fn hosts_sharing_sockets_are_told_apart_by_their_addresses() {
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_address = peer.local_addr().unwrap();
    let shared = udp::SharedPorts::new();
    let addresses: [std::net::Ipv4Addr; 2] =
        ["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap()];
    // Each sends `[tag, port]`.
    let hosts = [(addresses[0], 0xA), (addresses[1], 0xB)].map(|(address, tag)| {
        let ports = udp::Ports::Shared(Arc::clone(&shared), address);
        start_two_ports(ports, peer_address, move |port| vec![tag, port])
    });
    let mut seen = std::collections::BTreeMap::new();
    let mut buf = [0u8; 16];
    for _ in 0..4 {
        let (n, from) = tokio::time::timeout(Duration::from_secs(2), peer.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        seen.insert((buf[0], buf[1]), from);
        // Nobody has this address: the datagram is dropped, and the others still arrive.
        let stray = SocketAddr::new("127.0.0.9".parse().unwrap(), from.port());
        peer.send_to(&[0xFF], stray).await.unwrap();
        // Answer with the tag and port reversed, to the address it came from.
        peer.send_to(&[buf[1], buf[0]][..n], from).await.unwrap();
    }
    // Each host sends from its own address, and both from the same port for the same local port.
    for (tag, address) in [(0xA, addresses[0]), (0xB, addresses[1])] {
        for port in [7u8, 8] {
            assert_eq!(seen[&(tag, port)].ip(), address);
            assert_eq!(seen[&(tag, port)].port(), seen[&(0xA, port)].port());
        }
    }
    assert_ne!(seen[&(0xA, 7)].port(), seen[&(0xA, 8)].port());
    assert_eq!(
        shared.sockets(),
        2,
        "one socket per local port, whatever the hosts"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (tag, (node, driver, stop)) in [0xAu8, 0xB].into_iter().zip(hosts) {
        let _ = stop.send(());
        driver.await.unwrap().unwrap();
        let mut received = udp::lock(&node).received.clone();
        received.sort();
        assert_eq!(received, [(7, vec![7, tag]), (8, vec![8, tag])]);
    }
}

#[tokio::test]
async fn a_host_on_a_loopback_address_reaches_an_ipv6_peer_from_a_socket_of_that_family() {
    let peer = UdpSocket::bind("[::1]:0").await.unwrap();
    let peer_address = peer.local_addr().unwrap();
    let ports = udp::Ports::OnDemand("127.0.0.1".parse().unwrap());
    let (node, driver, stop) = start_two_ports(ports, peer_address, |port| vec![port]);
    let mut buf = [0u8; 16];
    for _ in 0..2 {
        let (n, from) = tokio::time::timeout(Duration::from_secs(2), peer.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(from.is_ipv6(), "{from}");
        peer.send_to(&[buf[0], 0x66][..n + 1], from).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = stop.send(());
    driver.await.unwrap().unwrap();
    let mut received = udp::lock(&node).received.clone();
    received.sort();
    assert_eq!(received, [(7, vec![7, 0x66]), (8, vec![8, 0x66])]);
}
