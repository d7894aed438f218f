//! A module on an in-memory network in virtual time, with its UART output split into lines.
//!
//! The module sits at [`MODULE_IP`] on a [`SimNetwork`], a port per service; tests and scenarios can attach the
//! operators' servers (or anything that is a [`DatagramNode`](nbmodem_net::DatagramNode)) beside
//! it and route the operators' names to them.

use nbmodem_clock::{Instant, VirtualClock};
use nbmodem_module::node::ModuleNode;
use nbmodem_module::nvram::MemoryStore;
use nbmodem_module::tap::Tapped;
use nbmodem_module::{find_profile, Module, ModuleConfig, ModuleError, RadioCondition, Route, Sim};
use nbmodem_net::sim::{SimNetwork, SimNode};
use nbmodem_net::Transmit;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use thiserror::Error;

/// Where the module is on the network: a host whose services each have a port.
pub const MODULE_IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 100));

/// How the module of a bench is built: the options of `nbmodem modem`, as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSetup {
    pub model: String,
    pub firmware: Option<String>,
    pub imei: Option<String>,
    pub imsi: Option<String>,
    pub iccid: Option<String>,
    pub routes: Vec<Route>,
    /// The radio condition; given, datagrams are held for their airtime on it; `None`: the
    /// `good` condition with datagrams crossing at once (see `NetworkConfig::timed_link`).
    pub coverage: Option<RadioCondition>,
}

impl ModuleSetup {
    pub fn model(model: &str) -> Self {
        ModuleSetup {
            model: model.into(),
            firmware: None,
            imei: None,
            imsi: None,
            iccid: None,
            routes: Vec::new(),
            coverage: None,
        }
    }

    /// The module configuration, checking the model and SIM.
    pub fn config(&self) -> Result<ModuleConfig, SetupError> {
        let profile = find_profile(&self.model)
            .ok_or_else(|| SetupError::UnknownModel(self.model.clone()))?;
        let mut config = ModuleConfig::new(profile);
        config.firmware = self.firmware.clone();
        config.imei = self.imei.clone();
        if self.imsi.is_some() || self.iccid.is_some() {
            let default = Sim::default_for(profile.operators[0]);
            let imsi = self.imsi.as_deref().unwrap_or(default.imsi());
            // Without --iccid, a card of the IMSI's operator (its ICCID has the operator's prefix).
            let operator_card = Sim::default_for(nbmodem_module::Operator::from_imsi(imsi));
            let iccid = self.iccid.as_deref().unwrap_or(operator_card.iccid());
            config.sim = Some(Sim::new(imsi, iccid).map_err(ModuleError::from)?);
        }
        for route in &self.routes {
            config.router.add_route(route.clone());
        }
        config.network.timed_link = self.coverage.is_some();
        config.network.condition = self.coverage.unwrap_or_default();
        Ok(config)
    }
}

#[derive(Debug, Error)]
pub enum SetupError {
    #[error("unknown model {0:?}; the models are {models}", models = nbmodem_module::profile::model_names().join(", "))]
    UnknownModel(String),
    #[error(transparent)]
    Module(#[from] ModuleError),
    #[error("the stand-in platforms: {0}")]
    Platform(String),
}

/// A module, its NVRAM, and a network in virtual time.
pub struct Bench {
    setup: ModuleSetup,
    store: MemoryStore,
    net: SimNetwork,
    start: Instant,
    /// UART output not yet taken.
    raw: Vec<u8>,
    /// What the module's taps saw, not yet taken; `None` unless [`Bench::tap`] was called.
    tapped: Option<Vec<Tapped>>,
}

impl Bench {
    /// A powered-off module at the default start of virtual time.
    pub fn new(setup: ModuleSetup) -> Result<Bench, SetupError> {
        let store = MemoryStore::new();
        let module = Module::new(setup.config()?, Box::new(store.clone()))?;
        let start = VirtualClock::DEFAULT_START;
        let mut net = SimNetwork::new(start, 0x5EED);
        net.attach_host(MODULE_IP, ModuleNode::new(module));
        Ok(Bench {
            setup,
            store,
            net,
            start,
            raw: Vec::new(),
            tapped: None,
        })
    }

    /// Taps the module from now on, across restarts: its UART lines, datagrams and notices,
    /// taken with [`Bench::take_tapped`], for a trace or a capture.
    pub fn tap(&mut self) {
        self.module().set_tap(true);
        self.tapped = Some(Vec::new());
    }

    /// What the taps saw since the last call, in order.
    pub fn take_tapped(&mut self) -> Vec<Tapped> {
        self.collect();
        self.tapped.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// A module of `model`, powered on and booted, its boot output already taken.
    pub fn booted(model: &str) -> Bench {
        let mut bench = Bench::new(ModuleSetup::model(model)).expect("known model");
        bench.power_on();
        bench.advance(nbmodem_module::BOOT_TIME);
        bench.take_raw();
        bench
    }

    fn node(&mut self) -> &mut ModuleNode {
        self.net.host(MODULE_IP).expect("the module is attached")
    }

    pub fn module(&mut self) -> &mut Module {
        self.node().module_mut()
    }

    pub fn store(&self) -> &MemoryStore {
        &self.store
    }

    /// The network, to attach servers, inject faults or look at what was sent.
    pub fn network(&mut self) -> &mut SimNetwork {
        &mut self.net
    }

    /// Attaches a server beside the module.
    pub fn attach(&mut self, address: SocketAddr, node: impl SimNode) {
        self.net.attach(address, node);
    }

    pub fn now(&self) -> Instant {
        self.net.now()
    }

    /// The module's energy account since power-on, until now.
    pub fn energy(&mut self) -> nbmodem_module::energy::EnergyAccount {
        let now = self.now();
        self.module().energy(now)
    }

    /// Virtual time since the bench was made.
    pub fn elapsed(&self) -> Duration {
        self.net.now().saturating_since(self.start)
    }

    pub fn power_on(&mut self) {
        let now = self.now();
        self.module().power_on(now);
        self.net.flush();
    }

    /// A power cut: RAM is lost, NVRAM stays.
    pub fn power_off(&mut self) {
        self.module().power_off();
    }

    /// Changes how the next [`Bench::restart_process`] builds the module (a firmware update, say).
    pub fn replace_setup(&mut self, setup: ModuleSetup) {
        self.setup = setup;
    }

    /// The process running the module is killed and started again on the same data: a new module
    /// is built from what NVRAM holds, and powered on.
    pub fn restart_process(&mut self) -> Result<(), SetupError> {
        let mut module = Module::new(self.setup.config()?, Box::new(self.store.clone()))?;
        self.collect();
        module.set_tap(self.tapped.is_some());
        self.net.attach_host(MODULE_IP, ModuleNode::new(module));
        self.power_on();
        Ok(())
    }

    /// A datagram to the module from a server it never talked to, on a port no service has: it
    /// still pages and connects the module (or is lost, if the module cannot be reached).
    pub fn datagram_to_module(&mut self) {
        let datagram = Transmit {
            destination: SocketAddr::new(MODULE_IP, 40_000),
            payload: b"\x40\x01\x00\x01".to_vec(),
        };
        let from = SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), 9999);
        self.net.inject(from, datagram);
    }

    /// Writes bytes to the module's UART; returns the echo, if the module echoed them.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        let now = self.now();
        self.module().receive(bytes, now);
        self.collect_tapped();
        let mut out = self.module().take_output();
        let echoed = out.starts_with(bytes);
        if echoed {
            out.drain(..bytes.len());
        }
        self.raw.extend(out);
        self.net.flush();
        echoed.then(|| bytes.to_vec())
    }

    /// Sends a command line terminated by `<CR>`; its echo, if any, stays in the output.
    pub fn send_line(&mut self, line: &str) {
        let now = self.now();
        self.module().receive(format!("{line}\r").as_bytes(), now);
        self.collect();
        self.net.flush();
        self.run_due();
    }

    /// Sends a line and returns everything written in answer, byte for byte (echo excluded).
    pub fn at(&mut self, line: &str) -> String {
        self.send_raw(format!("{line}\r").as_bytes());
        self.run_due();
        String::from_utf8_lossy(&self.take_raw()).into_owned()
    }

    /// Moves virtual time forward by `d`, running every timer and datagram on the way.
    pub fn advance(&mut self, d: Duration) {
        let deadline = self.now() + d;
        if self.tapped.is_some() {
            // Event by event, so that the taps are emptied as often as the real-time driver does.
            while let Some(t) = self.net.next_event().filter(|t| *t <= deadline) {
                self.net.run_until(t);
                self.collect();
            }
        }
        self.net.run_until(deadline);
        self.collect();
    }

    /// Runs what is due now (a reboot asked for by the command just sent, say).
    fn run_due(&mut self) {
        self.advance(Duration::ZERO);
    }

    /// Runs the network event by event until an output line is ready or `limit` has passed;
    /// returns the line. Empty lines (the `<CR><LF>` framing) are skipped.
    pub fn next_line(&mut self, limit: Duration) -> Option<String> {
        let deadline = self.now() + limit;
        loop {
            if let Some(line) = self.pop_line() {
                return Some(line);
            }
            match self.net.next_event().filter(|t| *t <= deadline) {
                Some(t) => {
                    self.net.run_until(t);
                    self.collect();
                }
                None => {
                    self.net.run_until(deadline);
                    self.collect();
                    return self.pop_line();
                }
            }
        }
    }

    /// Everything written and not yet taken, byte for byte.
    pub fn take_raw(&mut self) -> Vec<u8> {
        self.collect();
        std::mem::take(&mut self.raw)
    }

    fn collect(&mut self) {
        self.collect_tapped();
        let out = self.module().take_output();
        self.raw.extend(out);
    }

    fn collect_tapped(&mut self) {
        if self.tapped.is_some() {
            let tapped = self.module().take_tapped();
            self.tapped.get_or_insert_default().extend(tapped);
        }
    }

    /// Takes the first complete non-empty line off the output.
    fn pop_line(&mut self) -> Option<String> {
        let is_end = |b: &u8| *b == b'\r' || *b == b'\n';
        let start = self.raw.iter().position(|b| !is_end(b))?;
        let len = self.raw[start..].iter().position(is_end)?;
        let line = String::from_utf8_lossy(&self.raw[start..start + len]).into_owned();
        let end = start + len;
        let terminator = if self.raw[end..].starts_with(b"\r\n") {
            2
        } else {
            1
        };
        self.raw.drain(..end + terminator);
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tap_stays_on_across_a_process_restart() {
        let mut bench = Bench::booted("BC25");
        bench.tap();
        bench.at("ATE0");
        bench.restart_process().unwrap();
        bench.advance(nbmodem_module::BOOT_TIME);
        let lines: Vec<String> = bench
            .take_tapped()
            .into_iter()
            .filter_map(|t| match t {
                Tapped::LineIn { text, .. } => Some(format!("in {text}")),
                Tapped::LineOut { kind, text, .. } => Some(format!("{} {text}", kind.name())),
                _ => None,
            })
            .collect();
        assert_eq!(
            lines,
            [
                "in ATE0",
                "echo ATE0",
                "result OK",
                "urc RDY",
                "urc +CFUN: 1",
                "urc +CPIN: READY"
            ]
        );
    }

    #[test]
    fn without_an_iccid_the_card_matches_the_imsis_operator() {
        let mut setup = ModuleSetup::model("BC25");
        setup.imsi = Some("460110000000042".into());
        let config = setup.config().unwrap();
        let sim = config.sim.unwrap();
        assert_eq!(sim.imsi(), "460110000000042");
        assert!(
            sim.iccid().starts_with("898611"),
            "China Telecom: {}",
            sim.iccid()
        );
        setup.imsi = Some("460060000000042".into());
        let sim = setup.config().unwrap().sim.unwrap();
        assert!(
            sim.iccid().starts_with("898606"),
            "China Unicom: {}",
            sim.iccid()
        );
    }
}
