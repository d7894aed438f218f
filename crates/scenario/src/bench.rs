//! A module on a virtual clock, with its output split into lines.

use nbmodem_clock::{run_until, Clock, Instant, Timed, VirtualClock};
use nbmodem_module::nvram::MemoryStore;
use nbmodem_module::{find_profile, Module, ModuleConfig, ModuleError, Sim};
use std::time::Duration;
use thiserror::Error;

/// How the module of a bench is built: the options of `nbmodem modem`, as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSetup {
    pub model: String,
    pub firmware: Option<String>,
    pub imei: Option<String>,
    pub imsi: Option<String>,
    pub iccid: Option<String>,
}

impl ModuleSetup {
    pub fn model(model: &str) -> Self {
        ModuleSetup {
            model: model.into(),
            firmware: None,
            imei: None,
            imsi: None,
            iccid: None,
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
            let iccid = self.iccid.as_deref().unwrap_or(default.iccid());
            config.sim = Some(Sim::new(imsi, iccid).map_err(ModuleError::from)?);
        }
        Ok(config)
    }
}

#[derive(Debug, Error)]
pub enum SetupError {
    #[error("unknown model {0:?}; the models are {models}", models = nbmodem_module::profile::model_names().join(", "))]
    UnknownModel(String),
    #[error(transparent)]
    Module(#[from] ModuleError),
}

/// A module, its NVRAM and a virtual clock.
pub struct Bench {
    setup: ModuleSetup,
    store: MemoryStore,
    module: Module,
    clock: VirtualClock,
    start: Instant,
    /// Output not yet taken.
    raw: Vec<u8>,
}

impl Bench {
    /// A powered-off module at the default start of virtual time.
    pub fn new(setup: ModuleSetup) -> Result<Bench, SetupError> {
        let store = MemoryStore::new();
        let module = Module::new(setup.config()?, Box::new(store.clone()))?;
        let clock = VirtualClock::starting_at(VirtualClock::DEFAULT_START);
        let start = clock.now();
        Ok(Bench {
            setup,
            store,
            module,
            clock,
            start,
            raw: Vec::new(),
        })
    }

    /// A module of `model`, powered on and booted, its boot output already taken.
    pub fn booted(model: &str) -> Bench {
        let mut bench = Bench::new(ModuleSetup::model(model)).expect("known model");
        bench.power_on();
        bench.advance(nbmodem_module::BOOT_TIME);
        bench.take_raw();
        bench
    }

    pub fn module(&self) -> &Module {
        &self.module
    }

    pub fn module_mut(&mut self) -> &mut Module {
        &mut self.module
    }

    pub fn store(&self) -> &MemoryStore {
        &self.store
    }

    /// Virtual time since the bench was made.
    pub fn elapsed(&self) -> Duration {
        self.clock.now().saturating_since(self.start)
    }

    pub fn power_on(&mut self) {
        self.module.power_on(self.clock.now());
    }

    /// A power cut: RAM is lost, NVRAM stays.
    pub fn power_off(&mut self) {
        self.module.power_off();
    }

    /// Changes how the next [`Bench::restart_process`] builds the module (a firmware update, say).
    pub fn replace_setup(&mut self, setup: ModuleSetup) {
        self.setup = setup;
    }

    /// The process running the module is killed and started again on the same data: a new module
    /// is built from what NVRAM holds, and powered on.
    pub fn restart_process(&mut self) -> Result<(), SetupError> {
        self.module = Module::new(self.setup.config()?, Box::new(self.store.clone()))?;
        self.power_on();
        Ok(())
    }

    /// Writes bytes to the module's UART; returns the echo, if the module echoed them.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        self.module.receive(bytes, self.clock.now());
        let mut out = self.module.take_output();
        let echoed = out.starts_with(bytes);
        if echoed {
            out.drain(..bytes.len());
        }
        self.collect(out);
        echoed.then(|| bytes.to_vec())
    }

    /// Sends a command line terminated by `<CR>`; its echo, if any, stays in the output.
    pub fn send_line(&mut self, line: &str) {
        self.module
            .receive(format!("{line}\r").as_bytes(), self.clock.now());
        let out = self.module.take_output();
        self.collect(out);
        self.run_due();
    }

    /// Sends a line and returns everything written in answer, byte for byte (echo excluded).
    pub fn at(&mut self, line: &str) -> String {
        self.send_raw(format!("{line}\r").as_bytes());
        self.run_due();
        String::from_utf8_lossy(&self.take_raw()).into_owned()
    }

    /// Moves virtual time forward by `d`, running every timer on the way.
    pub fn advance(&mut self, d: Duration) {
        let deadline = self.clock.now() + d;
        run_until(&mut self.module, &self.clock, deadline);
        let out = self.module.take_output();
        self.collect(out);
    }

    /// Runs the timers due now (a reboot asked for by the command just sent, say).
    fn run_due(&mut self) {
        self.advance(Duration::ZERO);
    }

    /// Runs timers one at a time until an output line is ready or `limit` has passed; returns the
    /// line. Empty lines (the `<CR><LF>` framing) are skipped.
    pub fn next_line(&mut self, limit: Duration) -> Option<String> {
        let deadline = self.clock.now() + limit;
        loop {
            if let Some(line) = self.pop_line() {
                return Some(line);
            }
            match self.module.poll_timeout().filter(|t| *t <= deadline) {
                Some(t) => {
                    self.clock.advance_to(t);
                    self.module.handle_timeout(self.clock.now());
                    let out = self.module.take_output();
                    self.collect(out);
                }
                None => {
                    self.clock.advance_to(deadline);
                    return None;
                }
            }
        }
    }

    /// Everything written and not yet taken, byte for byte.
    pub fn take_raw(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.raw)
    }

    fn collect(&mut self, out: Vec<u8>) {
        self.raw.extend(out);
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
