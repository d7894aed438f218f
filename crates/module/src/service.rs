//! The module's network services, in the manner of smoltcp's socket set: each protocol engine
//! (CT/CU self-registration, CMDMP DM, and those later issues add) is a [`Service`] on its own local
//! port. The module delivers each datagram to the service whose port it was sent to, collects
//! what the services send, runs their timers, asks whether any is busy (an exchange in flight
//! keeps the module out of deep sleep), and applies the [`Effect`]s they return in one place.
//!
//! Which services start when is two lists of the services themselves:
//! [`crate::services::AT_BOOT`] and [`crate::services::AT_FIRST_ATTACH`]. Others are added by
//! commands: a data socket the host opens is a service on the local port it names
//! ([`Services::add_on`]) or on the next free one, and may also hold a TCP stream
//! ([`Service::poll_stream`], [`Service::handle_stream`]).

use crate::nvram::{BlobChange, NvramData, NvramEdit, NvramStore, Section};
use crate::profile::Profile;
use crate::radio::{RadioEvent, Rai};
use crate::routing::Router;
use crate::Sim;
use nbmodem_clock::{Instant, SeededRng};
use nbmodem_net::{LookupAnswer, StreamEvent, Transmit};
use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;

/// A datagram a service sends, from its port, with the release assistance the radio applies
/// after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uplink {
    pub source_port: u16,
    pub transmit: Transmit,
    pub rai: Rai,
    /// With no route for its destination, the datagram goes to that address as it is (a data
    /// socket the host opened), rather than being dropped (an operator's service, which must
    /// never reach the real operator).
    pub direct: bool,
}

/// What a service asks of the network itself (the module adds the service's port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupOp {
    /// Resolve a name the module's own resolver does not know.
    Resolve(String),
    /// One echo request of `size` bytes to a public address.
    Ping {
        to: std::net::IpAddr,
        size: usize,
        timeout: std::time::Duration,
    },
}

/// What a service asks of its TCP stream (the module adds the service's port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamOp {
    /// Connect to this public address.
    Connect(SocketAddr),
    Send(Vec<u8>),
    Close,
}

/// What a service does to the module beyond its datagrams; applied by the module.
#[derive(Debug)]
pub enum Effect {
    /// A line for the console (see [`crate::Notice`]), from the service named `source`.
    Notice { source: &'static str, text: String },
    /// A URC for the host.
    Urc(String),
    /// A change to the saved settings (NVRAM).
    Save(NvramEdit),
    /// A change to a blob of NVRAM (a firmware package).
    Blob(BlobChange),
    /// Something for the other services (see [`Message`]).
    Message(Message),
    /// The module reboots (into new firmware, say).
    Restart,
}

impl Effect {
    /// Saves `section` whole.
    pub fn save<S: Section + Send + 'static>(section: S) -> Effect {
        Effect::Save(NvramEdit::new(move |nv, _| nv.set_section(&section)))
    }
}

/// What one service tells the others. The module passes it on without looking: what it says is
/// the sender's type (the CT IoT link and the firmware update speak
/// [`crate::services::firmware_object::FirmwareMessage`]), which a receiver reads with
/// [`Message::get`].
#[derive(Clone)]
pub struct Message(Arc<dyn Any + Send + Sync>);

impl Message {
    pub fn new(content: impl Any + Send + Sync) -> Self {
        Message(Arc::new(content))
    }

    /// What the message says, if it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Message(..)")
    }
}

/// Where the module stands on sleep, as the services see it (see [`Env`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SleepState {
    pub asleep: bool,
    pub disabled: bool,
}

/// What a service sees of the module while it runs, and where it leaves its effects.
pub struct Env<'a> {
    pub router: &'a Router,
    /// The module is in deep sleep: work due now either wakes it (by sending) or, for a service
    /// whose work may not wake the module, is skipped.
    pub asleep: bool,
    /// AT+QSCLK=0: sleep disabled altogether (seed 001's "禁用休眠模式").
    pub sleep_disabled: bool,
    /// Whether the module's notices are taken: a notice nobody takes is not even formatted.
    noticing: bool,
    /// Confirmable CoAP messages the services sent again during this call into them.
    pub retransmitted: u32,
    /// The service being run, whose notices these are.
    source: &'static str,
    effects: &'a mut Vec<Effect>,
    /// The module's one generator, from which each new engine draws its seed.
    rng: &'a mut SeededRng,
}

impl<'a> Env<'a> {
    pub fn new(
        router: &'a Router,
        sleep: SleepState,
        noticing: bool,
        effects: &'a mut Vec<Effect>,
        rng: &'a mut SeededRng,
    ) -> Self {
        Env {
            router,
            asleep: sleep.asleep,
            sleep_disabled: sleep.disabled,
            noticing,
            retransmitted: 0,
            source: "",
            effects,
            rng,
        }
    }

    /// A seed for a new protocol engine (its message IDs, tokens and jitter): a fresh draw from
    /// the module's generator, so that an engine started in the same millisecond as an earlier
    /// one does not repeat its message IDs and tokens.
    pub fn engine_seed(&mut self) -> u64 {
        self.rng.fork()
    }

    /// The environment of the service named `source`.
    pub fn of(&mut self, source: &'static str) -> &mut Self {
        self.source = source;
        self
    }

    pub fn effect(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    pub fn notice(&mut self, text: impl std::fmt::Display) {
        if !self.noticing {
            return;
        }
        let source = self.source;
        self.effect(Effect::Notice {
            source,
            text: text.to_string(),
        });
    }
}

/// One protocol engine of the module on one local port.
pub trait Service: Any + Send {
    /// Its name in console notices: `CT self-registration`, `CMDMP`…
    fn name(&self) -> &'static str;
    /// A datagram from `from` arrived on this service's port.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8], env: &mut Env);
    /// The next datagram to send (the module stamps the service's port on it).
    fn poll_transmit(&mut self) -> Option<(Transmit, Rai)>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant, env: &mut Env);
    /// Whether an exchange is in flight (the module does not go to deep sleep meanwhile).
    fn is_busy(&self) -> bool;
    /// What changed in the radio (deep sleep began or ended, …); most services need not know.
    fn radio_event(&mut self, _now: Instant, _event: RadioEvent, _env: &mut Env) {}
    /// A message of another service; most services need not know.
    fn message(&mut self, _now: Instant, _message: &Message, _env: &mut Env) {}
    /// Confirmable CoAP messages it sent again since the last call; a service without CoAP
    /// sends none.
    fn take_retransmissions(&mut self) -> u32 {
        0
    }
    /// Whether its datagrams to an address with no route go to that address as it is (see
    /// [`Uplink::direct`]); only the host's own sockets do.
    fn sends_anywhere(&self) -> bool {
        false
    }
    /// The next request for its TCP stream; most services have none.
    fn poll_stream(&mut self) -> Option<StreamOp> {
        None
    }
    /// Something happened on its TCP stream.
    fn handle_stream(&mut self, _now: Instant, _event: StreamEvent, _env: &mut Env) {}
    /// The next question for the network; most services have none.
    fn poll_lookup(&mut self) -> Option<LookupOp> {
        None
    }
    /// The network's answer to its question.
    fn handle_lookup(&mut self, _now: Instant, _answer: LookupAnswer, _env: &mut Env) {}
}

/// What a service is started with.
pub struct Start<'a> {
    pub now: Instant,
    pub profile: &'static Profile,
    /// The settings in use (loaded at boot).
    pub in_use: &'a NvramData,
    /// The settings saved (what the last successes recorded).
    pub saved: &'a NvramData,
    pub sim: &'a Sim,
    pub router: &'a Router,
    /// NVRAM, for the blobs a service left before the power went (a package half downloaded).
    pub store: &'a dyn NvramStore,
}

/// Starts a service if it applies to this module, SIM and settings.
pub type Starter = fn(&Start<'_>, &mut Env<'_>) -> Option<Box<dyn Service>>;

/// The first local port given to a service: the start of the dynamic range (RFC 6335).
const FIRST_PORT: u16 = 49152;

/// The services of one boot, each on its own port.
#[derive(Default)]
pub struct Services {
    entries: Vec<(u16, Box<dyn Service>)>,
    next_port: u16,
}

impl Services {
    /// Adds a service on the next free port; returns the port.
    pub fn add(&mut self, service: Box<dyn Service>) -> u16 {
        let port = loop {
            let port = FIRST_PORT.wrapping_add(self.next_port);
            self.next_port = self.next_port.wrapping_add(1);
            if !self.has_port(port) {
                break port;
            }
        };
        self.entries.push((port, service));
        port
    }

    /// Adds a service on `port` (a socket the host opened on a port of its choice); `false`, and
    /// nothing added, when a service has that port already.
    pub fn add_on(&mut self, port: u16, service: Box<dyn Service>) -> bool {
        if self.has_port(port) {
            return false;
        }
        self.entries.push((port, service));
        true
    }

    /// Whether a service has `port`.
    pub fn has_port(&self, port: u16) -> bool {
        self.entries.iter().any(|(p, _)| *p == port)
    }

    /// Every service of type `T`, with its port.
    pub fn each_mut<T: Service>(&mut self) -> impl Iterator<Item = (u16, &mut T)> {
        self.entries.iter_mut().filter_map(|(port, s)| {
            let service = (s.as_mut() as &mut dyn Any).downcast_mut()?;
            Some((*port, service))
        })
    }

    /// Every service of type `T`.
    pub fn each<T: Service>(&self) -> impl Iterator<Item = &T> {
        self.entries
            .iter()
            .filter_map(|(_, s)| (s.as_ref() as &dyn Any).downcast_ref())
    }

    /// Removes the service on `port`.
    pub fn remove_port(&mut self, port: u16) {
        self.entries.retain(|(p, _)| *p != port);
    }

    /// Removes every service (power off).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.next_port = 0;
    }

    /// The service of type `T`, if one runs.
    pub fn get<T: Service>(&self) -> Option<&T> {
        self.entries
            .iter()
            .find_map(|(_, s)| (s.as_ref() as &dyn Any).downcast_ref())
    }

    pub fn get_mut<T: Service>(&mut self) -> Option<&mut T> {
        self.entries
            .iter_mut()
            .find_map(|(_, s)| (s.as_mut() as &mut dyn Any).downcast_mut())
    }

    /// Removes the service of type `T`.
    pub fn remove<T: Service>(&mut self) {
        self.entries
            .retain(|(_, s)| !(s.as_ref() as &dyn Any).is::<T>());
    }

    /// Delivers a datagram to the service on `port`; returns its name, or `None` when no service
    /// has that port.
    pub fn deliver(
        &mut self,
        now: Instant,
        port: u16,
        from: SocketAddr,
        datagram: &[u8],
        env: &mut Env,
    ) -> Option<&'static str> {
        let (_, service) = self.entries.iter_mut().find(|(p, _)| *p == port)?;
        service.handle_datagram(now, from, datagram, env.of(service.name()));
        Some(service.name())
    }

    /// The next datagram any service sends, and the sender's name.
    pub fn poll_transmit(&mut self) -> Option<(&'static str, Uplink)> {
        self.entries.iter_mut().find_map(|(port, service)| {
            let (transmit, rai) = service.poll_transmit()?;
            let uplink = Uplink {
                source_port: *port,
                transmit,
                rai,
                direct: service.sends_anywhere(),
            };
            Some((service.name(), uplink))
        })
    }

    /// The next request any service makes of its TCP stream, with the sender's name and port.
    pub fn poll_stream(&mut self) -> Option<(&'static str, u16, StreamOp)> {
        self.entries
            .iter_mut()
            .find_map(|(port, service)| Some((service.name(), *port, service.poll_stream()?)))
    }

    /// The next question any service asks of the network, with the asker's port.
    pub fn poll_lookup(&mut self) -> Option<(u16, LookupOp)> {
        self.entries
            .iter_mut()
            .find_map(|(port, service)| Some((*port, service.poll_lookup()?)))
    }

    /// Hands the network's answer to the service on `port`.
    pub fn lookup_answer(&mut self, now: Instant, port: u16, answer: LookupAnswer, env: &mut Env) {
        if let Some((_, service)) = self.entries.iter_mut().find(|(p, _)| *p == port) {
            service.handle_lookup(now, answer, env.of(service.name()));
        }
    }

    /// Hands an event of the stream of `port` to its service; `false` when no service has it.
    pub fn stream_event(
        &mut self,
        now: Instant,
        port: u16,
        event: StreamEvent,
        env: &mut Env,
    ) -> bool {
        let Some((_, service)) = self.entries.iter_mut().find(|(p, _)| *p == port) else {
            return false;
        };
        service.handle_stream(now, event, env.of(service.name()));
        true
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter_map(|(_, s)| s.poll_timeout())
            .min()
    }

    /// Runs each service's due timers.
    pub fn handle_timeout(&mut self, now: Instant, env: &mut Env) {
        for (_, service) in &mut self.entries {
            if service.poll_timeout().is_some_and(|t| t <= now) {
                service.handle_timeout(now, env.of(service.name()));
                // A CoAP engine sends again only when its timer is due: read its count here,
                // not at every call into the services (a fleet's module makes many).
                env.retransmitted = env
                    .retransmitted
                    .saturating_add(service.take_retransmissions());
            }
        }
    }

    /// Tells every service what changed in the radio.
    pub fn radio_event(&mut self, now: Instant, event: RadioEvent, env: &mut Env) {
        for (_, service) in &mut self.entries {
            service.radio_event(now, event, env.of(service.name()));
        }
    }

    /// Tells every service another's message.
    pub fn message(&mut self, now: Instant, message: &Message, env: &mut Env) {
        for (_, service) in &mut self.entries {
            service.message(now, message, env.of(service.name()));
        }
    }

    /// Whether any service has an exchange in flight.
    pub fn is_busy(&self) -> bool {
        self.entries.iter().any(|(_, s)| s.is_busy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps what reaches it and answers each datagram to its sender.
    struct Echo {
        name: &'static str,
        received: Vec<Vec<u8>>,
        outbox: Vec<Transmit>,
    }

    impl Service for Echo {
        fn name(&self) -> &'static str {
            self.name
        }
        fn handle_datagram(&mut self, _: Instant, from: SocketAddr, d: &[u8], env: &mut Env) {
            self.received.push(d.to_vec());
            self.outbox.push(Transmit {
                destination: from,
                payload: d.to_vec(),
            });
            env.notice("got one");
        }
        fn poll_transmit(&mut self) -> Option<(Transmit, Rai)> {
            Some((self.outbox.pop()?, Rai::None))
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
        fn handle_timeout(&mut self, _: Instant, _: &mut Env) {}
        fn is_busy(&self) -> bool {
            !self.outbox.is_empty()
        }
    }

    fn echo(name: &'static str) -> Box<dyn Service> {
        Box::new(Echo {
            name,
            received: Vec::new(),
            outbox: Vec::new(),
        })
    }

    #[test]
    fn a_datagram_reaches_the_service_of_its_port_whoever_sent_it() {
        let mut services = Services::default();
        let first = services.add(echo("first"));
        let second = services.add(echo("second"));
        assert_ne!(first, second);
        let (router, mut effects, mut rng) = (Router::new(), Vec::new(), SeededRng::new(0));
        let sleep = SleepState::default();
        let mut env = Env::new(&router, sleep, true, &mut effects, &mut rng);
        // One server address for both, as an LwM2M link and its firmware download have.
        let server: SocketAddr = "221.229.214.202:5683".parse().unwrap();
        let now = Instant::default();
        let got = services.deliver(now, second, server, b"for the second", &mut env);
        assert_eq!(got, Some("second"));
        assert_eq!(services.deliver(now, 1, server, b"x", &mut env), None);
        assert!(services.is_busy());
        let (name, uplink) = services.poll_transmit().unwrap();
        assert_eq!((name, uplink.source_port), ("second", second));
        assert_eq!(uplink.transmit.destination, server);
        assert!(services.poll_transmit().is_none());
        assert!(matches!(
            effects.as_slice(),
            [Effect::Notice { source: "second", text }] if text == "got one"
        ));
        let first_echo = services.get::<Echo>().unwrap();
        assert_eq!(first_echo.name, "first");
        assert!(first_echo.received.is_empty());
        services.remove::<Echo>();
        assert!(services.get::<Echo>().is_none());
    }
}
