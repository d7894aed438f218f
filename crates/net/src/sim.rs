//! An in-memory network in virtual time.
//!
//! Nodes are attached at socket addresses, hosts (nodes with several local ports, such as a
//! module) at IP addresses: a datagram to `ip:port` reaches the node at that address, else the
//! host at `ip` on its port `port`. [`SimNetwork::run_until`] moves virtual time from event
//! to event — the next datagram arrival or the next node timer — so a day of traffic takes
//! milliseconds. Each datagram can be lost, delayed, reordered (by a random extra delay) or blocked
//! by a partition, as the [`Conditions`] say. Everything is seeded, so a run repeats exactly.
//!
//! One event queue runs it all ([`SimNetwork`]): a node is called only when something reaches it
//! or its own timer is due, so a fleet of nodes costs O(log N) per event. A record of each
//! datagram is kept for [`SimNetwork::records`] unless told otherwise ([`Records`]).
//!
//! A host's TCP streams ([`crate::StreamRequest`]) reach the [`StreamServer`]s attached at their
//! addresses: a connection to an address with no server (or across a partition) is refused, and
//! what either side writes arrives after the network's fixed delay, in order and never lost, as
//! TCP's retransmissions would make it. A ping ([`crate::Lookup::Ping`]) is answered after a
//! round trip by any address something is attached at, and times out elsewhere; the simulated
//! network has no DNS, so every name a host asks it about is unresolved.

use crate::{DatagramNode, HostNode, Lookup, LookupAnswer, StreamEvent, StreamRequest, Transmit};
use foldhash::fast::FixedState;
use nbmodem_clock::{Instant, SeededRng};
use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// What the network does to datagrams.
#[derive(Debug, Clone, PartialEq)]
pub struct Conditions {
    /// Probability (0–1) that a datagram is lost.
    pub loss: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Up to this much extra random delay per datagram, which reorders datagrams.
    pub jitter: Duration,
}

impl Default for Conditions {
    fn default() -> Self {
        Conditions {
            loss: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
        }
    }
}

/// What happened to a datagram, for tests and traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatagramRecord {
    pub sent: Instant,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub payload: Vec<u8>,
    pub fate: Fate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Delivered,
    Lost,
    Partitioned,
    /// Nobody is attached at the destination.
    NoRoute,
}

/// A node that can also be looked at as its concrete type.
pub trait SimNode: DatagramNode + Any {
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: DatagramNode + Any> SimNode for T {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A host that can also be looked at as its concrete type.
pub trait SimHost: HostNode + Any {
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: HostNode + Any> SimHost for T {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A TCP server on the simulated network.
pub trait StreamServer: Any {
    /// A connection from `from` wrote `bytes`; returns what the server writes back (nothing, to
    /// write nothing).
    fn receive(&mut self, from: SocketAddr, bytes: &[u8]) -> Vec<u8>;
}

/// A UDP echo server: answers each datagram with its own bytes, to its sender.
#[derive(Debug, Default)]
pub struct UdpEcho {
    /// How many datagrams it has echoed.
    pub echoed: usize,
    outbox: Vec<Transmit>,
}

impl DatagramNode for UdpEcho {
    fn handle_datagram(&mut self, _: Instant, from: SocketAddr, datagram: &[u8]) {
        self.echoed += 1;
        self.outbox.push(Transmit {
            destination: from,
            payload: datagram.to_vec(),
        });
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        (!self.outbox.is_empty()).then(|| self.outbox.remove(0))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _: Instant) {}
}

/// A TCP echo server: writes back what each connection writes.
#[derive(Debug, Default)]
pub struct TcpEcho {
    /// How many bytes it has echoed.
    pub echoed: usize,
}

impl StreamServer for TcpEcho {
    fn receive(&mut self, _: SocketAddr, bytes: &[u8]) -> Vec<u8> {
        self.echoed += bytes.len();
        bytes.to_vec()
    }
}

/// What travels the network: a datagram, or a piece of a stream.
enum InFlight {
    Datagram {
        from: SocketAddr,
        to: SocketAddr,
        payload: Vec<u8>,
    },
    /// For the server of a host's connection, written by the host's socket `from`.
    ToServer {
        from: SocketAddr,
        server: SocketAddr,
        bytes: Vec<u8>,
    },
    /// For a host's socket.
    ToHost { to: SocketAddr, event: StreamEvent },
    /// The answer to the lookup of a host's service.
    Answer {
        to: SocketAddr,
        answer: LookupAnswer,
    },
}

/// Something in flight, due at `at`; the sequence keeps equal times in sending order.
struct Arrival {
    at: Instant,
    sequence: u64,
    item: InFlight,
}

impl Arrival {
    fn key(&self) -> (Instant, u64) {
        (self.at, self.sequence)
    }
}

impl PartialEq for Arrival {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Arrival {}

impl PartialOrd for Arrival {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Arrival {
    /// Reversed, so that the (max-)heap gives the earliest first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.key().cmp(&self.key())
    }
}

/// Where something is attached. The order is the order in which the nodes due at one instant run
/// and are polled: nodes by address, then hosts by IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Place {
    Node(SocketAddr),
    Host(IpAddr),
}

impl Place {
    fn ip(self) -> IpAddr {
        match self {
            Place::Node(address) => address.ip(),
            Place::Host(ip) => ip,
        }
    }
}

enum Attached {
    Node(Box<dyn SimNode>),
    Host(Box<dyn SimHost>),
}

/// A node or host, and the instant its timer is queued at.
struct Slot {
    attached: Attached,
    queued: Option<Instant>,
}

impl Slot {
    fn poll_timeout(&self) -> Option<Instant> {
        match &self.attached {
            Attached::Node(node) => node.poll_timeout(),
            Attached::Host(host) => host.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match &mut self.attached {
            Attached::Node(node) => node.handle_timeout(now),
            Attached::Host(host) => host.handle_timeout(now),
        }
    }

    /// The host here, as its concrete type.
    fn host<T: Any>(&mut self) -> Option<&mut T> {
        match &mut self.attached {
            Attached::Host(host) => host.as_any_mut().downcast_mut(),
            Attached::Node(_) => None,
        }
    }

    /// Takes everything the node at `place` has to send, into `polled`.
    fn poll(&mut self, place: Place, polled: &mut Polled) {
        match (&mut self.attached, place) {
            (Attached::Node(node), Place::Node(from)) => {
                while let Some(t) = node.poll_transmit() {
                    polled.transmits.push((from, t));
                }
            }
            (Attached::Host(host), Place::Host(ip)) => {
                while let Some(t) = host.poll_transmit() {
                    let from = SocketAddr::new(ip, t.source_port);
                    polled.transmits.push((from, t.transmit));
                }
                polled
                    .streams
                    .extend(std::iter::from_fn(|| host.poll_stream()));
                polled
                    .lookups
                    .extend(std::iter::from_fn(|| host.poll_lookup()));
            }
            _ => {}
        }
    }
}

/// What a node handed over when polled, kept between polls for its room.
#[derive(Default)]
struct Polled {
    transmits: Vec<(SocketAddr, Transmit)>,
    streams: Vec<StreamRequest>,
    lookups: Vec<Lookup>,
}

/// Moves the timer of `slot` (at `place`) in `timers` to `due`.
fn queue_timer(
    timers: &mut BTreeSet<(Instant, Place)>,
    place: Place,
    slot: &mut Slot,
    due: Option<Instant>,
) {
    if slot.queued == due {
        return;
    }
    if let Some(old) = slot.queued {
        timers.remove(&(old, place));
    }
    if let Some(new) = due {
        timers.insert((new, place));
    }
    slot.queued = due;
}

/// What the network does with the record of each datagram sent ([`DatagramRecord`]).
pub enum Records {
    /// Kept in memory for [`SimNetwork::records`]: the default, which tests and traces read.
    Kept,
    /// Handed to a function as each is made, and not kept (a capture written as it goes).
    Streamed(Box<dyn FnMut(&DatagramRecord)>),
    /// Not made at all: a fleet, whose records would grow without end.
    Off,
}

/// The in-memory network. One event queue runs the whole simulation: the arrivals in a heap by
/// (time, sequence), the node timers in an ordered set by (time, place). A node is called only
/// when a datagram reaches it or its own timer is due, and polled (for what it sends, and its next
/// timer) only after it was called or handed out by [`SimNetwork::node`] or [`SimNetwork::host`]
/// (it is then "touched"): an event costs O(log N) in the number of nodes, not a scan of them.
pub struct SimNetwork {
    now: Instant,
    /// Looked up at every event: a fast, fixed hash (the standard one is built to resist
    /// flooding, which a simulation's own addresses cannot do, and costs a few per cent here).
    slots: HashMap<Place, Slot, FixedState>,
    stream_servers: BTreeMap<SocketAddr, Box<dyn StreamServer>>,
    /// The server each host socket (host address, local port) is connected to.
    connections: BTreeMap<SocketAddr, SocketAddr>,
    arrivals: BinaryHeap<Arrival>,
    sequence: u64,
    /// Each queued node timer, by when it is due. Exact for every place not in `touched`.
    timers: BTreeSet<(Instant, Place)>,
    /// The places called (or handed out) since they were last polled.
    touched: BTreeSet<Place>,
    conditions: Conditions,
    partitions: HashSet<(SocketAddr, SocketAddr)>,
    rng: SeededRng,
    keeping: Records,
    records: Vec<DatagramRecord>,
    /// Room for what [`SimNetwork::flush`] collects from a node.
    polled: Polled,
}

impl SimNetwork {
    pub fn new(start: Instant, seed: u64) -> Self {
        SimNetwork {
            now: start,
            slots: HashMap::default(),
            stream_servers: BTreeMap::new(),
            connections: BTreeMap::new(),
            arrivals: BinaryHeap::new(),
            sequence: 0,
            timers: BTreeSet::new(),
            touched: BTreeSet::new(),
            conditions: Conditions::default(),
            partitions: HashSet::new(),
            rng: SeededRng::new(seed),
            keeping: Records::Kept,
            records: Vec::new(),
            polled: Polled::default(),
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// Says what to do with the records of datagrams sent from now on (kept by default).
    pub fn set_records(&mut self, records: Records) {
        self.keeping = records;
    }

    pub fn attach(&mut self, address: SocketAddr, node: impl SimNode) {
        self.put(Place::Node(address), Attached::Node(Box::new(node)));
    }

    pub fn detach(&mut self, address: SocketAddr) {
        self.remove(Place::Node(address));
    }

    /// Attaches a host at `ip`: it gets the datagrams to any port of `ip` no node is at.
    pub fn attach_host(&mut self, ip: IpAddr, host: impl SimHost) {
        self.put(Place::Host(ip), Attached::Host(Box::new(host)));
    }

    pub fn detach_host(&mut self, ip: IpAddr) {
        self.remove(Place::Host(ip));
    }

    /// Puts `attached` at `place`, in place of what was there; it is polled at the next step.
    fn put(&mut self, place: Place, attached: Attached) {
        self.remove(place);
        let slot = Slot {
            attached,
            queued: None,
        };
        self.slots.insert(place, slot);
        self.touched.insert(place);
    }

    fn remove(&mut self, place: Place) {
        if let Some(Slot {
            queued: Some(at), ..
        }) = self.slots.remove(&place)
        {
            self.timers.remove(&(at, place));
        }
        self.touched.remove(&place);
    }

    /// Attaches a TCP server at `address`.
    pub fn attach_stream_server(&mut self, address: SocketAddr, server: impl StreamServer) {
        self.stream_servers.insert(address, Box::new(server));
    }

    /// The TCP server at `address`, as its concrete type.
    pub fn stream_server<T: Any>(&mut self, address: SocketAddr) -> Option<&mut T> {
        let server: &mut dyn Any = self.stream_servers.get_mut(&address)?.as_mut();
        server.downcast_mut()
    }

    /// The node at `address`, as its concrete type. It counts as touched: whatever the caller
    /// does to it, it is polled again (what it sends, its timer) at the next step.
    pub fn node<T: Any>(&mut self, address: SocketAddr) -> Option<&mut T> {
        let slot = self.touch(Place::Node(address))?;
        match &mut slot.attached {
            Attached::Node(node) => node.as_any_mut().downcast_mut(),
            Attached::Host(_) => None,
        }
    }

    /// The host at `ip`, as its concrete type; touched, as with [`SimNetwork::node`].
    pub fn host<T: Any>(&mut self, ip: IpAddr) -> Option<&mut T> {
        self.touch(Place::Host(ip)).and_then(Slot::host)
    }

    /// The host at `ip`, as its concrete type, not touched: for a caller that changes nothing of
    /// what the host sends or when its timer is due (reading what a module wrote), so that it is
    /// not polled again for nothing.
    pub fn host_untouched<T: Any>(&mut self, ip: IpAddr) -> Option<&mut T> {
        self.slots.get_mut(&Place::Host(ip)).and_then(Slot::host)
    }

    /// The slot at `place`, marked to be polled at the next step.
    fn touch(&mut self, place: Place) -> Option<&mut Slot> {
        let slot = self.slots.get_mut(&place)?;
        self.touched.insert(place);
        Some(slot)
    }

    pub fn set_conditions(&mut self, conditions: Conditions) {
        self.conditions = conditions;
    }

    /// Blocks datagrams between `a` and `b`, both ways, for the rest of the run.
    pub fn partition(&mut self, a: SocketAddr, b: SocketAddr) {
        self.partitions.insert((a, b));
        self.partitions.insert((b, a));
    }

    /// Every datagram sent so far, with its fate, while they are [`Records::Kept`].
    pub fn records(&self) -> &[DatagramRecord] {
        &self.records
    }

    /// Collects what every touched node wants to send (the others have nothing: a node only
    /// has something to send after it was called), and queues their timers again. Call after
    /// acting on a node from outside.
    pub fn flush(&mut self) {
        let mut polled = std::mem::take(&mut self.polled);
        while let Some(place) = self.touched.pop_first() {
            // One look-up per place: everything it hands over is gathered first, then sent in
            // the order it was handed over (sending never calls a node back).
            if let Some(slot) = self.slots.get_mut(&place) {
                slot.poll(place, &mut polled);
                let due = slot.poll_timeout();
                queue_timer(&mut self.timers, place, slot, due);
            }
            for (from, transmit) in polled.transmits.drain(..) {
                self.send(from, transmit);
            }
            if let Place::Host(ip) = place {
                for request in polled.streams.drain(..) {
                    self.stream_request(ip, request);
                }
                for lookup in polled.lookups.drain(..) {
                    self.lookup(ip, lookup);
                }
            }
        }
        self.polled = polled;
    }

    fn node_mut(&mut self, address: SocketAddr) -> Option<&mut dyn SimNode> {
        match &mut self.slots.get_mut(&Place::Node(address))?.attached {
            Attached::Node(node) => Some(node.as_mut()),
            Attached::Host(_) => None,
        }
    }

    fn host_mut(&mut self, ip: IpAddr) -> Option<&mut dyn SimHost> {
        match &mut self.slots.get_mut(&Place::Host(ip))?.attached {
            Attached::Host(host) => Some(host.as_mut()),
            Attached::Node(_) => None,
        }
    }

    /// Queues the timer of `place` where its node now says.
    fn requeue(&mut self, place: Place) {
        if let Some(slot) = self.slots.get_mut(&place) {
            let due = slot.poll_timeout();
            queue_timer(&mut self.timers, place, slot, due);
        }
    }

    /// Acts on a host's stream request: a connection is made to a server that exists and is not
    /// cut off by a partition, else refused; bytes go to the connection's server.
    fn stream_request(&mut self, ip: IpAddr, request: StreamRequest) {
        let socket = SocketAddr::new(ip, request.port());
        match request {
            StreamRequest::Connect { to, .. } => {
                let reachable = self.stream_servers.contains_key(&to)
                    && !self.partitions.contains(&(socket, to));
                let event = if reachable {
                    self.connections.insert(socket, to);
                    StreamEvent::Connected
                } else {
                    StreamEvent::Refused
                };
                self.schedule(InFlight::ToHost { to: socket, event });
            }
            StreamRequest::Send { bytes, .. } => {
                if let Some(&server) = self.connections.get(&socket) {
                    let from = socket;
                    self.schedule(InFlight::ToServer {
                        from,
                        server,
                        bytes,
                    });
                }
            }
            StreamRequest::Close { .. } => {
                self.connections.remove(&socket);
            }
        }
    }

    /// Answers a host's lookup: a ping after a round trip from an address something is attached
    /// at, else after its time limit; a name never resolves.
    fn lookup(&mut self, ip: IpAddr, lookup: Lookup) {
        let to = SocketAddr::new(ip, lookup.port());
        let (answer, at) = match lookup {
            Lookup::Resolve { .. } => (LookupAnswer::NotResolved, self.now),
            Lookup::Ping {
                to: target,
                timeout,
                ..
            } => {
                let rtt = self.conditions.delay * 2;
                if self.is_attached(target) && rtt <= timeout {
                    (LookupAnswer::Pong { rtt, ttl: 64 }, self.now + rtt)
                } else {
                    (LookupAnswer::NoPong, self.now + timeout)
                }
            }
        };
        self.schedule_at(at, InFlight::Answer { to, answer });
    }

    /// How many host sockets hold a TCP connection.
    pub fn open_connections(&self) -> usize {
        self.connections.len()
    }

    /// Whether a node, host or stream server is attached at `ip`.
    fn is_attached(&self, ip: IpAddr) -> bool {
        self.slots.contains_key(&Place::Host(ip))
            || self.slots.keys().any(|place| place.ip() == ip)
            || self.stream_servers.keys().any(|a| a.ip() == ip)
    }

    /// Puts `item` on the network, to arrive after the fixed delay (streams keep their order).
    fn schedule(&mut self, item: InFlight) {
        self.schedule_at(self.now + self.conditions.delay, item);
    }

    fn schedule_at(&mut self, at: Instant, item: InFlight) {
        self.sequence += 1;
        let sequence = self.sequence;
        self.arrivals.push(Arrival { at, sequence, item });
    }

    /// Runs the network until `deadline`: datagram arrivals and node timers in time order.
    pub fn run_until(&mut self, deadline: Instant) {
        self.flush();
        while let Some(at) = self.next_event().filter(|t| *t <= deadline) {
            self.now = self.now.max(at);
            self.deliver_due();
            self.fire_timers();
            self.flush();
        }
        self.now = self.now.max(deadline);
    }

    /// Sends a datagram from `from`, which need not be a node (a test's raw sender, a spoofed
    /// source), and runs what is due now: its delivery, when the network adds no delay, and the
    /// answers.
    pub fn inject(&mut self, from: SocketAddr, datagram: Transmit) {
        self.send(from, datagram);
        self.run_until(self.now);
    }

    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// When the next datagram arrives or the next node timer fires.
    pub fn next_event(&self) -> Option<Instant> {
        let arrival = self.arrivals.peek().map(|a| a.at);
        let queued = match self.touched.is_empty() {
            true => self.timers.first(),
            // A touched node's queued timer may be stale: ask the node itself.
            false => self
                .timers
                .iter()
                .find(|(_, place)| !self.touched.contains(place)),
        };
        let touched = self.touched.iter();
        let touched = touched.filter_map(|place| self.slots.get(place)?.poll_timeout());
        arrival
            .into_iter()
            .chain(queued.map(|(at, _)| *at))
            .chain(touched)
            .min()
    }

    fn deliver_due(&mut self) {
        while self.arrivals.peek().is_some_and(|a| a.at <= self.now) {
            if let Some(arrival) = self.arrivals.pop() {
                self.arrive(arrival.item);
            }
        }
    }

    fn arrive(&mut self, item: InFlight) {
        let now = self.now;
        match item {
            InFlight::Datagram { from, to, payload } => {
                if let Some(node) = self.node_mut(to) {
                    node.handle_datagram(now, from, &payload);
                    self.touched.insert(Place::Node(to));
                } else if let Some(host) = self.host_mut(to.ip()) {
                    host.handle_datagram(now, to.port(), from, &payload);
                    self.touched.insert(Place::Host(to.ip()));
                }
            }
            InFlight::ToServer {
                from,
                server,
                bytes,
            } => {
                // Bytes still on their way when the host closed the connection are dropped.
                if self.connections.get(&from) != Some(&server) {
                    return;
                }
                let Some(s) = self.stream_servers.get_mut(&server) else {
                    return;
                };
                let reply = s.receive(from, &bytes);
                if !reply.is_empty() {
                    let event = StreamEvent::Data(reply);
                    self.schedule(InFlight::ToHost { to: from, event });
                }
            }
            InFlight::ToHost { to, event } => {
                if let Some(host) = self.host_mut(to.ip()) {
                    host.handle_stream(now, to.port(), event);
                    self.touched.insert(Place::Host(to.ip()));
                }
            }
            InFlight::Answer { to, answer } => {
                if let Some(host) = self.host_mut(to.ip()) {
                    host.handle_lookup(now, to.port(), answer);
                    self.touched.insert(Place::Host(to.ip()));
                }
            }
        }
    }

    /// Runs the timers due now, in the order of their places.
    fn fire_timers(&mut self) {
        let now = self.now;
        // What the arrivals of this step did to the timers of the nodes they reached.
        let touched = std::mem::take(&mut self.touched);
        for &place in &touched {
            self.requeue(place);
        }
        self.touched = touched;
        let mut due = Vec::new();
        while let Some(&(at, place)) = self.timers.first().filter(|(at, _)| *at <= now) {
            self.timers.remove(&(at, place));
            if let Some(slot) = self.slots.get_mut(&place) {
                slot.queued = None;
            }
            due.push(place);
        }
        due.sort_unstable();
        for place in due {
            if let Some(slot) = self.slots.get_mut(&place) {
                if slot.poll_timeout().is_some_and(|t| t <= now) {
                    slot.handle_timeout(now);
                }
            }
            // Its timer left the queue: polled, it is queued again.
            self.touched.insert(place);
        }
    }

    fn send(&mut self, from: SocketAddr, t: Transmit) {
        let to = t.destination;
        let attached = self.slots.contains_key(&Place::Node(to))
            || self.slots.contains_key(&Place::Host(to.ip()));
        let fate = if !attached {
            Fate::NoRoute
        } else if self.partitions.contains(&(from, to)) {
            Fate::Partitioned
        } else if self.random_unit() < self.conditions.loss {
            Fate::Lost
        } else {
            Fate::Delivered
        };
        let record = |payload| DatagramRecord {
            sent: self.now,
            from,
            to,
            payload,
            fate,
        };
        match &mut self.keeping {
            Records::Kept => {
                let record = record(t.payload.clone());
                self.records.push(record);
            }
            Records::Streamed(sink) => sink(&record(t.payload.clone())),
            Records::Off => {}
        }
        if fate == Fate::Delivered {
            let jitter = self.conditions.jitter.mul_f64(self.random_unit());
            let at = self.now + self.conditions.delay + jitter;
            let payload = t.payload;
            self.schedule_at(at, InFlight::Datagram { from, to, payload });
        }
    }

    fn random_unit(&mut self) -> f64 {
        self.rng.unit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every datagram with the same bytes after `delay`; counts what it got.
    #[derive(Default)]
    struct Echo {
        received: Vec<(Instant, Vec<u8>)>,
        outbox: Vec<Transmit>,
    }

    impl DatagramNode for Echo {
        fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
            self.received.push((now, datagram.to_vec()));
            if datagram.first() == Some(&b'?') {
                self.outbox.push(Transmit {
                    destination: from,
                    payload: datagram[1..].to_vec(),
                });
            }
        }
        fn poll_transmit(&mut self) -> Option<Transmit> {
            self.outbox.pop()
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
        fn handle_timeout(&mut self, _: Instant) {}
    }

    fn a() -> SocketAddr {
        "10.0.0.1:1".parse().unwrap()
    }
    fn b() -> SocketAddr {
        "10.0.0.2:2".parse().unwrap()
    }

    fn network() -> SimNetwork {
        let mut net = SimNetwork::new(Instant::from_unix_millis(0), 7);
        net.attach(a(), Echo::default());
        net.attach(b(), Echo::default());
        net
    }

    fn send(net: &mut SimNetwork, payload: &[u8]) {
        net.node::<Echo>(a()).unwrap().outbox.push(Transmit {
            destination: b(),
            payload: payload.to_vec(),
        });
    }

    #[test]
    fn delay_and_answers() {
        let mut net = network();
        net.set_conditions(Conditions {
            delay: Duration::from_millis(50),
            ..Conditions::default()
        });
        send(&mut net, b"?pong");
        net.run_for(Duration::from_secs(1));
        let got = &net.node::<Echo>(a()).unwrap().received;
        assert_eq!(got, &[(Instant::from_unix_millis(100), b"pong".to_vec())]);
    }

    #[test]
    fn loss_is_about_what_was_asked() {
        let mut net = network();
        net.set_conditions(Conditions {
            loss: 0.3,
            ..Conditions::default()
        });
        for _ in 0..1000 {
            send(&mut net, b"x");
            net.flush();
        }
        let lost = net
            .records()
            .iter()
            .filter(|r| r.fate == Fate::Lost)
            .count();
        assert!((250..350).contains(&lost), "{lost} of 1000 lost");
    }

    #[test]
    fn jitter_reorders() {
        let mut net = network();
        net.set_conditions(Conditions {
            jitter: Duration::from_millis(100),
            ..Conditions::default()
        });
        for i in 0..20u8 {
            send(&mut net, &[i]);
            net.flush();
        }
        net.run_for(Duration::from_secs(1));
        let order: Vec<u8> = net
            .node::<Echo>(b())
            .unwrap()
            .received
            .iter()
            .map(|(_, p)| p[0])
            .collect();
        assert_eq!(order.len(), 20);
        assert_ne!(order, (0..20).collect::<Vec<_>>());
    }

    /// A host with two ports: it answers what reaches each port from that port.
    #[derive(Default)]
    struct TwoPorts {
        received: Vec<(u16, Vec<u8>)>,
        outbox: Vec<crate::HostTransmit>,
    }

    impl HostNode for TwoPorts {
        fn handle_datagram(&mut self, _: Instant, port: u16, from: SocketAddr, datagram: &[u8]) {
            self.received.push((port, datagram.to_vec()));
            self.outbox.push(crate::HostTransmit {
                source_port: port,
                transmit: Transmit {
                    destination: from,
                    payload: datagram.to_vec(),
                },
            });
        }
        fn poll_transmit(&mut self) -> Option<crate::HostTransmit> {
            self.outbox.pop()
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
        fn handle_timeout(&mut self, _: Instant) {}
    }

    #[test]
    fn a_host_gets_each_datagram_on_the_port_it_was_sent_to() {
        let mut net = network();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        net.attach_host(ip, TwoPorts::default());
        for (port, payload) in [(7, b"seven"), (8, b"eight")] {
            net.node::<Echo>(a()).unwrap().outbox.push(Transmit {
                destination: SocketAddr::new(ip, port),
                payload: payload.to_vec(),
            });
            net.run_for(Duration::from_secs(1));
        }
        let host = net.host::<TwoPorts>(ip).unwrap();
        assert_eq!(
            host.received,
            [(7, b"seven".to_vec()), (8, b"eight".to_vec())]
        );
        let answers: Vec<SocketAddr> = net
            .records()
            .iter()
            .filter(|r| r.to == a())
            .map(|r| r.from)
            .collect();
        assert_eq!(
            answers,
            [SocketAddr::new(ip, 7), SocketAddr::new(ip, 8)],
            "each from its port"
        );
    }

    /// A host that counts how often the network asks it for a datagram.
    #[derive(Default)]
    struct Asked {
        polls: usize,
    }

    impl HostNode for Asked {
        fn handle_datagram(&mut self, _: Instant, _: u16, _: SocketAddr, _: &[u8]) {}
        fn poll_transmit(&mut self) -> Option<crate::HostTransmit> {
            self.polls += 1;
            None
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
        fn handle_timeout(&mut self, _: Instant) {}
    }

    #[test]
    fn a_host_handed_out_untouched_is_not_polled_again() {
        let mut net = network();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        net.attach_host(ip, Asked::default());
        net.run_for(Duration::from_secs(1));
        let polls = |net: &mut SimNetwork| net.host_untouched::<Asked>(ip).unwrap().polls;
        assert_eq!(polls(&mut net), 1, "once, when attached");
        net.run_for(Duration::from_secs(1));
        assert_eq!(polls(&mut net), 1);
        net.host::<Asked>(ip).unwrap();
        net.run_for(Duration::from_secs(1));
        assert_eq!(polls(&mut net), 2, "handed out touched: polled again");
    }

    /// A host with one socket that connects to a stream server and writes to it.
    #[derive(Default)]
    struct Client {
        requests: Vec<StreamRequest>,
        events: Vec<StreamEvent>,
    }

    impl HostNode for Client {
        fn handle_datagram(&mut self, _: Instant, _: u16, _: SocketAddr, _: &[u8]) {}
        fn poll_transmit(&mut self) -> Option<crate::HostTransmit> {
            None
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
        fn handle_timeout(&mut self, _: Instant) {}
        fn poll_stream(&mut self) -> Option<StreamRequest> {
            (!self.requests.is_empty()).then(|| self.requests.remove(0))
        }
        fn handle_stream(&mut self, _: Instant, port: u16, event: StreamEvent) {
            assert_eq!(port, 7);
            self.events.push(event);
        }
    }

    #[test]
    fn streams_reach_their_server_or_are_refused() {
        let mut net = network();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let server: SocketAddr = "10.0.0.5:5000".parse().unwrap();
        net.attach_host(ip, Client::default());
        net.attach_stream_server(server, TcpEcho::default());
        net.host::<Client>(ip).unwrap().requests = vec![
            StreamRequest::Connect {
                port: 7,
                to: server,
            },
            StreamRequest::Send {
                port: 7,
                bytes: b"hello".to_vec(),
            },
        ];
        net.run_for(Duration::from_secs(1));
        net.host::<Client>(ip).unwrap().requests = vec![
            StreamRequest::Close { port: 7 },
            StreamRequest::Connect { port: 7, to: b() },
        ];
        net.run_for(Duration::from_secs(1));
        assert_eq!(
            net.host::<Client>(ip).unwrap().events,
            [
                StreamEvent::Connected,
                StreamEvent::Data(b"hello".to_vec()),
                StreamEvent::Refused
            ],
            "the echo, then no stream server at a datagram node's address"
        );
        assert_eq!(net.stream_server::<TcpEcho>(server).unwrap().echoed, 5);
    }

    /// A node with a timer every `period` that counts how often the network calls or polls it.
    struct Counting {
        period: Duration,
        next: Instant,
        calls: std::rc::Rc<std::cell::Cell<usize>>,
        fired: Vec<Instant>,
    }

    impl Counting {
        fn new(
            start: Instant,
            period: Duration,
            calls: &std::rc::Rc<std::cell::Cell<usize>>,
        ) -> Self {
            Counting {
                period,
                next: start + period,
                calls: std::rc::Rc::clone(calls),
                fired: Vec::new(),
            }
        }
        fn count(&self) {
            self.calls.set(self.calls.get() + 1);
        }
    }

    impl DatagramNode for Counting {
        fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: &[u8]) {
            self.count();
        }
        fn poll_transmit(&mut self) -> Option<Transmit> {
            self.count();
            None
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.count();
            Some(self.next)
        }
        fn handle_timeout(&mut self, now: Instant) {
            self.count();
            self.fired.push(now);
            self.next = now + self.period;
        }
    }

    #[test]
    fn a_node_is_touched_only_at_its_own_events() {
        let start = Instant::from_unix_millis(0);
        let mut net = SimNetwork::new(start, 7);
        let (busy, idle) = Default::default();
        net.attach(a(), Counting::new(start, Duration::from_millis(10), &busy));
        for port in 100..200 {
            let address = SocketAddr::new(a().ip(), port);
            net.attach(
                address,
                Counting::new(start, Duration::from_secs(3600), &idle),
            );
        }
        net.run_for(Duration::from_secs(10));
        let fired = net.node::<Counting>(a()).unwrap().fired.len();
        assert_eq!(fired, 1000);
        // Each firing is a handful of calls into the busy node; the idle ones were polled once,
        // when attached, and never again in those thousand events.
        assert!(busy.get() <= 5 * fired, "{} calls", busy.get());
        assert!(idle.get() <= 3 * 100, "{} calls", idle.get());
    }

    #[test]
    fn a_node_changed_from_outside_is_timed_again() {
        let start = Instant::from_unix_millis(0);
        let mut net = SimNetwork::new(start, 7);
        let calls = Default::default();
        net.attach(a(), Counting::new(start, Duration::from_secs(60), &calls));
        net.run_for(Duration::from_secs(1));
        net.node::<Counting>(a()).unwrap().next = start + Duration::from_secs(5);
        assert_eq!(net.next_event(), Some(start + Duration::from_secs(5)));
        net.run_for(Duration::from_secs(10));
        let fired = &net.node::<Counting>(a()).unwrap().fired;
        assert_eq!(fired, &[start + Duration::from_secs(5)]);
    }

    /// Ten nodes sending to each other through a lossy, jittery network, as records.
    fn busy_run(seed: u64) -> Vec<DatagramRecord> {
        let mut net = SimNetwork::new(Instant::from_unix_millis(0), seed);
        net.set_conditions(Conditions {
            loss: 0.2,
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(20),
        });
        let at = |i: u16| SocketAddr::new(a().ip(), 1000 + i);
        for i in 0..10 {
            net.attach(at(i), Echo::default());
        }
        for round in 0..20u8 {
            for i in 0..10 {
                net.node::<Echo>(at(i)).unwrap().outbox.push(Transmit {
                    destination: at((i + 1 + u16::from(round)) % 10),
                    payload: vec![b'?', round, i as u8],
                });
            }
            net.run_for(Duration::from_millis(7));
        }
        net.run_for(Duration::from_secs(1));
        net.records().to_vec()
    }

    #[test]
    fn a_seed_gives_the_same_run_and_equal_times_keep_their_order() {
        let run = busy_run(3);
        assert!(run.len() > 200, "the requests and some answers");
        assert_eq!(run, busy_run(3));
        assert_ne!(run, busy_run(4));
        // With no delay at all, datagrams sent at one instant arrive in the order they were sent.
        let mut net = network();
        for i in 0..5 {
            send(&mut net, &[i]);
        }
        net.run_for(Duration::ZERO);
        let got: Vec<u8> = net
            .node::<Echo>(b())
            .unwrap()
            .received
            .iter()
            .map(|r| r.1[0])
            .collect();
        assert_eq!(
            got,
            [4, 3, 2, 1, 0],
            "the echo's outbox is a stack: last pushed, first sent"
        );
    }

    #[test]
    fn records_are_kept_streamed_or_not_made() {
        let mut net = network();
        net.set_records(Records::Off);
        send(&mut net, b"x");
        net.run_for(Duration::from_secs(1));
        assert!(net.records().is_empty());
        assert_eq!(net.node::<Echo>(b()).unwrap().received.len(), 1);
        let streamed = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let sink = std::rc::Rc::clone(&streamed);
        net.set_records(Records::Streamed(Box::new(move |r| {
            sink.borrow_mut().push((r.payload.clone(), r.fate))
        })));
        send(&mut net, b"y");
        net.run_for(Duration::from_secs(1));
        assert!(net.records().is_empty());
        assert_eq!(*streamed.borrow(), [(b"y".to_vec(), Fate::Delivered)]);
    }

    #[test]
    fn partitions_block_both_ways() {
        let mut net = network();
        net.partition(a(), b());
        send(&mut net, b"x");
        net.node::<Echo>(b()).unwrap().outbox.push(Transmit {
            destination: a(),
            payload: b"y".to_vec(),
        });
        net.run_for(Duration::from_secs(1));
        assert!(net.node::<Echo>(a()).unwrap().received.is_empty());
        assert!(net.node::<Echo>(b()).unwrap().received.is_empty());
        let fates: Vec<Fate> = net.records().iter().map(|r| r.fate).collect();
        assert_eq!(fates, [Fate::Partitioned, Fate::Partitioned]);
    }
}
