//! A data socket the host opened (AT+NSOCR on the Neul family, AT+QIOPEN on the Quectel family),
//! as a service on its own local port: its datagrams leave through the module's uplink (so they
//! wake the module, count in the energy account and keep the RRC connection as RAI says), and
//! unlike the operators' services they reach any address, routed or not. A TCP socket holds a
//! stream ([`StreamOp`]), which the driver maps onto a real connection or a simulated one.
//!
//! What arrives waits in the socket's receive buffer until the host reads it (AT+NSORF, AT+QIRD),
//! or is pushed to the host in the URC itself (AT+NSONMI=2, or AT+QIOPEN's direct push mode).
//! The URCs are written in the style of the family that opened the socket ([`SocketApi`]).

use crate::profile::SocketApi;
use crate::radio::Rai;
use crate::service::{Effect, Env, LookupOp, Service, StreamOp};
use nbmodem_at::DataInput;
use nbmodem_clock::Instant;
use nbmodem_net::{LookupAnswer, StreamEvent, Transmit};
use nbmodem_operators::ctiot::hex;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// How long a TCP connection may take to be made before the socket gives up: well inside the
/// 150 s the Quectel TCP/IP application notes tell the host to wait for `+QIOPEN`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// The sockets' part of the module's RAM: what the commands set for all sockets, and the data
/// being typed after AT+QISEND's `>` prompt.
#[derive(Debug)]
pub struct SocketSession {
    /// The send waiting for its data, while the host types it.
    pub prompt: Option<SendPrompt>,
    /// The final result a command writes instead of `OK` (`SEND OK`).
    pub result_text: Option<&'static str>,
    /// AT+NSONMI: how new Neul sockets tell of data.
    pub nsonmi: Notify,
    /// AT+QIGETERROR: the last error a command met, and when (see [`Socket::error`]).
    pub last_error: (u16, Instant),
    /// AT+QIDNSCFG: the DNS servers shown (the network's until set).
    pub dns_servers: [Ipv4Addr; 2],
}

/// The DNS servers a network gives (China Telecom's public resolvers).
const NETWORK_DNS: [Ipv4Addr; 2] = [Ipv4Addr::new(218, 2, 2, 2), Ipv4Addr::new(218, 4, 4, 4)];

impl Default for SocketSession {
    fn default() -> Self {
        SocketSession {
            prompt: None,
            result_text: None,
            nsonmi: Notify::default(),
            last_error: (0, Instant::default()),
            dns_servers: NETWORK_DNS,
        }
    }
}

/// An AT+QISEND waiting for its data.
#[derive(Debug)]
pub struct SendPrompt {
    pub input: DataInput,
    pub id: u8,
    /// The destination of a `UDP SERVICE` socket's send.
    pub to: Option<SocketAddr>,
}

/// How a socket tells the host that data arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Notify {
    /// Nothing: the host polls (AT+NSONMI=0).
    Silent,
    /// A URC with the length; the host reads the buffer (AT+NSONMI=1, AT+QIOPEN buffer access).
    #[default]
    Indicate,
    /// The data itself in the URC (AT+NSONMI=2, AT+QIOPEN direct push).
    Push,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A TCP connection being made, given up at the instant.
    Connecting(Instant),
    /// Ready to send: a UDP socket, or a connected TCP one.
    Open,
    /// A TCP connection the peer closed, refused, or that broke; the host closes the socket.
    Closed,
}

/// One datagram (or, on TCP, one piece of the stream) waiting to be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub from: SocketAddr,
    pub data: Vec<u8>,
}

#[derive(Debug)]
pub struct Socket {
    /// The number the host knows it by.
    pub id: u8,
    pub transport: Transport,
    /// Its type as the host named it: `DGRAM`, `STREAM`, `UDP`, `TCP`, `UDP SERVICE`.
    pub service: &'static str,
    api: SocketApi,
    pub state: State,
    /// Where a connected socket sends (AT+NSOCO, AT+QIOPEN's remote address).
    pub remote: Option<SocketAddr>,
    /// Whether it takes what arrives (AT+NSOCR's receive control).
    pub receives: bool,
    pub notify: Notify,
    /// The profile's `+NAME: ` separator.
    separator: &'static str,
    /// The receive buffer and its size.
    inbox: VecDeque<Received>,
    buffer_size: usize,
    pub sent_bytes: u64,
    pub received_bytes: u64,
    pub read_bytes: u64,
    outbox: VecDeque<(Transmit, Rai)>,
    streams: VecDeque<StreamOp>,
    /// A remote name being resolved by the network, with the port to use, and whether the
    /// question has been asked.
    resolving: Option<(String, u16, bool)>,
    /// The error its connection (or name) failed with, and when, for AT+QIGETERROR.
    pub error: Option<(u16, Instant)>,
    /// Whether it was opened (+QIOPEN) in a UDP service's way: no remote address to connect to.
    service_only: bool,
}

/// What a socket is opened with.
#[derive(Debug, Clone, Copy)]
pub struct SocketSetup {
    pub id: u8,
    pub transport: Transport,
    pub service: &'static str,
    pub api: SocketApi,
    pub remote: Option<SocketAddr>,
    pub receives: bool,
    pub notify: Notify,
    pub separator: &'static str,
    pub buffer_size: usize,
}

impl Socket {
    /// A socket; a TCP one with a remote address starts connecting at once.
    pub fn open(setup: SocketSetup, now: Instant) -> Socket {
        let mut socket = Socket {
            id: setup.id,
            transport: setup.transport,
            service: setup.service,
            api: setup.api,
            state: State::Open,
            remote: None,
            receives: setup.receives,
            notify: setup.notify,
            separator: setup.separator,
            inbox: VecDeque::new(),
            buffer_size: setup.buffer_size,
            sent_bytes: 0,
            received_bytes: 0,
            read_bytes: 0,
            outbox: VecDeque::new(),
            streams: VecDeque::new(),
            resolving: None,
            error: None,
            service_only: setup.service == "UDP SERVICE",
        };
        if let Some(remote) = setup.remote {
            socket.connect(remote, now);
        }
        socket
    }

    /// A socket whose remote host is a name the network resolves first (`+QIOPEN` comes when
    /// it is resolved and, on TCP, connected).
    pub fn open_by_name(setup: SocketSetup, name: String, port: u16, now: Instant) -> Socket {
        let mut socket = Socket::open(setup, now);
        socket.state = State::Connecting(now + CONNECT_TIMEOUT);
        socket.resolving = Some((name, port, false));
        socket
    }

    /// Sets the remote address; a TCP socket connects to it.
    pub fn connect(&mut self, remote: SocketAddr, now: Instant) {
        self.remote = Some(remote);
        if self.transport == Transport::Tcp {
            self.state = State::Connecting(now + CONNECT_TIMEOUT);
            self.streams.push_back(StreamOp::Connect(remote));
        }
    }

    /// Sends `data` to `to` (UDP) or on the stream (TCP, `to` ignored).
    pub fn send(&mut self, to: SocketAddr, data: Vec<u8>, rai: Rai) {
        self.sent_bytes += data.len() as u64;
        match self.transport {
            Transport::Udp => self.outbox.push_back((
                Transmit {
                    destination: to,
                    payload: data,
                },
                rai,
            )),
            Transport::Tcp => self.streams.push_back(StreamOp::Send(data)),
        }
    }

    /// Closes it: a TCP connection is closed too (the module then removes the service).
    pub fn close(&mut self) {
        if self.transport == Transport::Tcp && self.state != State::Closed {
            self.streams.push_back(StreamOp::Close);
        }
        self.state = State::Closed;
    }

    /// Whether it holds a TCP connection (being made or made) that must be closed with it.
    pub fn has_connection(&self) -> bool {
        self.transport == Transport::Tcp && self.state != State::Closed
    }

    /// Bytes waiting to be read.
    pub fn unread(&self) -> usize {
        self.inbox.iter().map(|r| r.data.len()).sum()
    }

    /// Reads at most `max` bytes of the first datagram (or of the stream, across pieces, on
    /// TCP); returns its sender, the bytes and how many remain unread: of that datagram on UDP,
    /// of the stream on TCP.
    pub fn read(&mut self, max: usize) -> Option<(SocketAddr, Vec<u8>, usize)> {
        let from = self.inbox.front()?.from;
        let mut data = Vec::new();
        while data.len() < max {
            let Some(first) = self.inbox.front_mut() else {
                break;
            };
            let take = first.data.len().min(max - data.len());
            data.extend(first.data.drain(..take));
            let rest = first.data.len();
            if rest == 0 {
                self.inbox.pop_front();
            }
            if self.transport == Transport::Udp {
                self.read_bytes += data.len() as u64;
                return Some((from, data, rest));
            }
        }
        self.read_bytes += data.len() as u64;
        Some((from, data, self.unread()))
    }

    /// Data arrived from `from`: pushed to the host, or kept (as far as the buffer has room) and
    /// told.
    fn arrived(&mut self, from: SocketAddr, data: &[u8], env: &mut Env) {
        if !self.receives || self.state == State::Closed {
            return;
        }
        self.received_bytes += data.len() as u64;
        if self.notify == Notify::Push {
            self.read_bytes += data.len() as u64;
            env.effect(Effect::Urc(self.push_urc(from, data)));
            return;
        }
        if self.unread() + data.len() > self.buffer_size {
            env.notice(format_args!(
                "socket {}: {} bytes from {from} dropped: the receive buffer is full",
                self.id,
                data.len()
            ));
            return;
        }
        let was_empty = self.inbox.is_empty();
        self.inbox.push_back(Received {
            from,
            data: data.to_vec(),
        });
        if let Some(urc) = self.indicate_urc(data.len(), was_empty) {
            env.effect(Effect::Urc(urc));
        }
    }

    /// The URC that tells of data kept in the buffer, if one is due.
    fn indicate_urc(&self, len: usize, was_empty: bool) -> Option<String> {
        if self.notify == Notify::Silent {
            return None;
        }
        match self.api {
            SocketApi::Neul => Some(format!("+NSONMI{}{},{len}", self.separator, self.id)),
            // A new URC only once the host has read everything (the TCP/IP application notes).
            SocketApi::Quectel => {
                was_empty.then(|| format!("+QIURC{}\"recv\",{}", self.separator, self.id))
            }
        }
    }

    fn push_urc(&self, from: SocketAddr, data: &[u8]) -> String {
        let (id, sep, len) = (self.id, self.separator, data.len());
        match self.api {
            SocketApi::Neul => format!(
                "+NSONMI{sep}{id},{},{},{len},{}",
                from.ip(),
                from.port(),
                hex(data)
            ),
            SocketApi::Quectel => format!(
                "+QIURC{sep}\"recv\",{id},{len}\r\n{}",
                String::from_utf8_lossy(data)
            ),
        }
    }

    /// The URC of a connection that ended without the host closing it.
    fn closed_urc(&self) -> String {
        match self.api {
            SocketApi::Neul => format!("+NSOCLI{}{}", self.separator, self.id),
            SocketApi::Quectel => format!("+QIURC{}\"closed\",{}", self.separator, self.id),
        }
    }

    /// The URC of a connection made (`err` 0) or not (AT+QIOPEN only: the Neul family answers
    /// AT+NSOCO itself).
    fn opened_urc(&self, err: u16) -> Option<String> {
        (self.api == SocketApi::Quectel)
            .then(|| format!("+QIOPEN{}{},{err}", self.separator, self.id))
    }

    /// The connection could not be made: told, and the socket is closed.
    fn failed(&mut self, err: u16, now: Instant, env: &mut Env) {
        self.state = State::Closed;
        self.error = Some((err, now));
        let urc = self.opened_urc(err).unwrap_or_else(|| self.closed_urc());
        env.effect(Effect::Urc(urc));
    }
}

/// `+QIOPEN: <id>,<err>` when the connection is refused or the host unreachable: 566, "socket
/// connect failed" (Quectel TCP/IP error codes).
pub const CONNECT_FAILED: u16 = 566;

impl Service for Socket {
    fn name(&self) -> &'static str {
        "socket"
    }

    fn handle_datagram(&mut self, _: Instant, from: SocketAddr, datagram: &[u8], env: &mut Env) {
        if self.transport == Transport::Udp {
            self.arrived(from, datagram, env);
        }
    }

    fn poll_transmit(&mut self) -> Option<(Transmit, Rai)> {
        self.outbox.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Connecting(deadline) => Some(deadline),
            _ => None,
        }
    }

    fn handle_timeout(&mut self, now: Instant, env: &mut Env) {
        if matches!(self.state, State::Connecting(deadline) if deadline <= now) {
            env.notice(format_args!(
                "socket {}: no answer to the connection",
                self.id
            ));
            self.streams.push_back(StreamOp::Close);
            self.failed(CONNECT_FAILED, now, env);
        }
    }

    fn is_busy(&self) -> bool {
        matches!(self.state, State::Connecting(_)) || !self.outbox.is_empty()
    }

    fn sends_anywhere(&self) -> bool {
        true
    }

    fn poll_lookup(&mut self) -> Option<LookupOp> {
        let (name, _, asked) = self.resolving.as_mut().filter(|(_, _, asked)| !asked)?;
        *asked = true;
        Some(LookupOp::Resolve(name.clone()))
    }

    fn handle_lookup(&mut self, now: Instant, answer: LookupAnswer, env: &mut Env) {
        let Some((_, port, _)) = self.resolving.take() else {
            return;
        };
        let ip = match answer {
            LookupAnswer::Resolved(ips) => ips.into_iter().find(std::net::IpAddr::is_ipv4),
            _ => None,
        };
        let Some(ip) = ip else {
            return self.failed(crate::services::query::DNS_FAILED, now, env);
        };
        let remote = SocketAddr::new(ip, port);
        if self.transport == Transport::Tcp {
            self.connect(remote, now);
            return;
        }
        self.state = State::Open;
        if !self.service_only {
            self.remote = Some(remote);
        }
        if let Some(urc) = self.opened_urc(0) {
            env.effect(Effect::Urc(urc));
        }
    }

    fn poll_stream(&mut self) -> Option<StreamOp> {
        self.streams.pop_front()
    }

    fn handle_stream(&mut self, now: Instant, event: StreamEvent, env: &mut Env) {
        match (event, self.state) {
            (StreamEvent::Connected, State::Connecting(_)) => {
                self.state = State::Open;
                if let Some(urc) = self.opened_urc(0) {
                    env.effect(Effect::Urc(urc));
                }
            }
            (StreamEvent::Refused, State::Connecting(_)) => {
                env.notice(format_args!("socket {}: connection refused", self.id));
                self.failed(CONNECT_FAILED, now, env);
            }
            (StreamEvent::Data(data), State::Open) => {
                if let Some(from) = self.remote {
                    self.arrived(from, &data, env);
                }
            }
            (StreamEvent::Closed, State::Open) => {
                self.state = State::Closed;
                env.effect(Effect::Urc(self.closed_urc()));
            }
            // Anything for a connection the host has given up on.
            _ => {}
        }
    }
}
