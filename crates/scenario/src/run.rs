//! Playing a scenario on a bench.

use crate::bench::{Bench, SetupError};
use crate::script::{EnergyCheck, Pattern, Scenario, Step};
use crate::stand_ins::StandIns;
use nbmodem_clock::format_duration;
use nbmodem_module::tap::Tapped;
use nbmodem_net::sim::{TcpEcho, UdpEcho};
use nbmodem_platform::ctiot::admin::NewTask;
use nbmodem_platform::ctiot::fota::UpgradeStatus;
use nbmodem_platform::ctiot::NewDevice;
use nbmodem_platform::{Fault, Flavour, Server, Verdict};
use std::fmt;
use std::time::Duration;

/// How long an `expect` waits for its line unless the script says otherwise.
pub const DEFAULT_EXPECT_LIMIT: Duration = Duration::from_secs(600);

/// How many output lines a failure report shows before the mismatch.
const CONTEXT_LINES: usize = 8;

/// A scenario that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passed {
    pub steps: usize,
    pub virtual_time: Duration,
}

/// Why a scenario failed: the step, what was expected, what came, and the output before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioFailure {
    pub line: usize,
    pub expected: String,
    pub got: String,
    pub at: Duration,
    pub recent: Vec<String>,
}

impl fmt::Display for ScenarioFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "line {} (at virtual time {}):",
            self.line,
            format_duration(self.at)
        )?;
        writeln!(f, "  expected: {}", self.expected)?;
        writeln!(f, "  got:      {}", self.got)?;
        if !self.recent.is_empty() {
            writeln!(f, "  transcript before it:")?;
            for line in &self.recent {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}

/// Plays `scenario` from power-on; stops at the first step that fails.
pub fn run(scenario: &Scenario) -> Result<Passed, ScenarioFailure> {
    play(scenario, None)
}

/// Plays `scenario` as [`run`] does with the module tapped, handing what the taps saw to
/// `tapped` after each step (and after the step that failed): for a trace or a capture.
pub fn run_tapped(
    scenario: &Scenario,
    mut tapped: impl FnMut(Vec<Tapped>),
) -> Result<Passed, ScenarioFailure> {
    play(scenario, Some(&mut tapped))
}

fn play(
    scenario: &Scenario,
    mut tapped: Option<&mut dyn FnMut(Vec<Tapped>)>,
) -> Result<Passed, ScenarioFailure> {
    let mut player = Player::new(scenario, tapped.is_some())?;
    let mut hand_over = |bench: &mut Bench| {
        if let Some(tapped) = tapped.as_mut() {
            tapped(bench.take_tapped());
        }
    };
    for (line, step) in &scenario.steps {
        player.line = *line;
        let done = player.step(step);
        hand_over(&mut player.bench);
        done?;
    }
    let done = player.nothing_left_over();
    hand_over(&mut player.bench);
    done?;
    Ok(Passed {
        steps: scenario.steps.len(),
        virtual_time: player.bench.elapsed(),
    })
}

struct Player {
    bench: Bench,
    platform: Option<StandIns>,
    limit: Duration,
    line: usize,
    transcript: Vec<String>,
}

impl Player {
    /// The player of `scenario`, its module tapped from power-on if `tap`.
    fn new(scenario: &Scenario, tap: bool) -> Result<Player, ScenarioFailure> {
        let setup_failure = |e: SetupError| ScenarioFailure {
            line: scenario.module_line,
            expected: "a module".into(),
            got: e.to_string(),
            at: Duration::ZERO,
            recent: vec![],
        };
        let mut setup = scenario.setup.clone();
        let platform = match scenario.platform {
            true => Some(StandIns::new(&mut setup).map_err(setup_failure)?),
            false => None,
        };
        let mut bench = Bench::new(setup).map_err(setup_failure)?;
        let mut platform = platform;
        if let Some(platform) = &mut platform {
            platform.attach(&mut bench).map_err(setup_failure)?;
        }
        if tap {
            bench.tap();
        }
        bench.power_on();
        Ok(Player {
            bench,
            platform,
            limit: DEFAULT_EXPECT_LIMIT,
            line: 0,
            transcript: Vec::new(),
        })
    }

    fn step(&mut self, step: &Step) -> Result<(), ScenarioFailure> {
        match step {
            Step::Send(text) => {
                self.transcript.push(format!("> {text}"));
                self.bench.send_line(text);
            }
            Step::Expect(pattern) => self.expect(pattern)?,
            Step::Wait(d) => self.bench.advance(*d),
            Step::Silent(d) => self.silent(*d)?,
            Step::Elapsed(d) => self.check_elapsed(*d)?,
            Step::Timeout(d) => self.limit = *d,
            Step::UdpEcho(address) => self.bench.attach(*address, UdpEcho::default()),
            Step::TcpEcho(address) => {
                let echo = TcpEcho::default();
                self.bench.network().attach_stream_server(*address, echo);
            }
            Step::PowerOn => self.bench.power_on(),
            Step::PowerOff => self.bench.power_off(),
            Step::PowerCycle => {
                self.bench.power_off();
                self.bench.power_on();
            }
            Step::Kill => {
                let restarted = self.bench.restart_process();
                restarted.map_err(|e| self.failure("a restarted module".into(), e.to_string()))?;
            }
            Step::Fault { server, fault } => self.set_fault(*server, *fault)?,
            Step::Records {
                server,
                count,
                verdict,
            } => self.check_records(*server, *count, *verdict)?,
            Step::AppKey { key, password } => self.issue_app_key(key, password)?,
            Step::Device { flavour, device } => self.add_device(*flavour, device)?,
            Step::Downlink {
                flavour,
                imei,
                data,
            } => self.queue_downlink(*flavour, imei, data)?,
            Step::Uplinks {
                flavour,
                imei,
                count,
            } => self.check_uplinks(*flavour, imei, *count)?,
            Step::Package {
                flavour,
                id,
                source,
                target,
                size,
                corrupt,
                uri,
            } => {
                let made = nbmodem_fota::DeltaPackage::make(source, target, *size, 7);
                let bytes = made
                    .map_err(|e| self.failure(format!("package {id}"), e.to_string()))?
                    .encode();
                self.add_package(*flavour, id, bytes, *corrupt, uri.clone())?;
            }
            Step::Task { flavour, task } => self.create_task(*flavour, task)?,
            Step::TaskStart { flavour, id } => {
                let started = self.stand_ins()?.start_task(*flavour, id);
                started.map_err(|e| self.failure(format!("task {id} on {flavour}"), e))?;
            }
            Step::Upgrade {
                flavour,
                task,
                imei,
                status,
                result,
            } => self.check_upgrade(*flavour, task, imei, *status, *result)?,
            Step::DnsFail(name) => self
                .bench
                .module()
                .router_mut()
                .fail_dns((name != "*").then_some(name.as_str())),
            Step::DnsRestore => self.bench.module().router_mut().restore_dns(),
            Step::Energy(check) => self.check_energy(*check)?,
            Step::Coverage(condition) => self.bench.module().set_coverage(*condition),
            Step::DeepSleep(expected) => self.check_deep_sleep(*expected)?,
        }
        Ok(())
    }

    /// An `expect` step: the next line matches, within the step timeout.
    fn expect(&mut self, pattern: &Pattern) -> Result<(), ScenarioFailure> {
        match self.bench.next_line(self.limit) {
            Some(line) if pattern.matches(&line) => {
                self.transcript.push(line);
                Ok(())
            }
            Some(line) => Err(self.failure(pattern.to_string(), format!("{line:?}"))),
            None => {
                let got = format!("nothing within {}", format_duration(self.limit));
                Err(self.failure(pattern.to_string(), got))
            }
        }
    }

    /// A `silent` step: no line for `d`.
    fn silent(&mut self, d: Duration) -> Result<(), ScenarioFailure> {
        match self.bench.next_line(d) {
            Some(line) => {
                let expected = format!("no output for {}", format_duration(d));
                Err(self.failure(expected, format!("{line:?}")))
            }
            None => Ok(()),
        }
    }

    /// An `elapsed` step: the virtual time since the start is exactly `d`.
    fn check_elapsed(&self, d: Duration) -> Result<(), ScenarioFailure> {
        let now = self.bench.elapsed();
        if now != d {
            return Err(self.failure(format_duration(d), format_duration(now)));
        }
        Ok(())
    }

    /// A `fault` step: sets (or clears) a stand-in's fault.
    fn set_fault(&mut self, server: Server, fault: Option<Fault>) -> Result<(), ScenarioFailure> {
        let Some(platform) = self.platform.as_ref() else {
            return Err(self.no_stand_ins());
        };
        let set = platform.set_fault(&mut self.bench, server, fault);
        let what = fault.map_or("cleared faults".into(), |f| format!("a fault {f}"));
        set.map_err(|e| self.failure(format!("{what} on {server}"), e))
    }

    /// A `records` step: a stand-in holds `count` records (with `verdict`).
    fn check_records(
        &mut self,
        server: Server,
        count: usize,
        verdict: Option<Verdict>,
    ) -> Result<(), ScenarioFailure> {
        let Some(platform) = self.platform.as_ref() else {
            return Err(self.no_stand_ins());
        };
        let records = platform.records(server, verdict);
        let found = records.map_err(|e| self.failure(format!("{server} records"), e))?;
        if found != count {
            let what = verdict.map_or("", Verdict::as_str);
            return Err(self.failure(
                format!("{count} {server} records {what}"),
                format!("{found}"),
            ));
        }
        Ok(())
    }

    /// An `app-key` step: the DM stand-in issues a key.
    fn issue_app_key(&mut self, key: &str, password: &str) -> Result<(), ScenarioFailure> {
        let Some(platform) = self.platform.as_ref() else {
            return Err(self.no_stand_ins());
        };
        let issued = platform.issue_app_key(key, password);
        issued.map_err(|e| self.failure(format!("app key {key}"), e))
    }

    /// A `device` step: a CT IoT platform learns a device (`module`: the module's IMEI).
    fn add_device(&mut self, flavour: Flavour, device: &NewDevice) -> Result<(), ScenarioFailure> {
        let mut device = device.clone();
        device.imei = self.imei(&device.imei);
        let imei = device.imei.clone();
        let added = self.stand_ins()?.add_device(flavour, device);
        added.map_err(|e| self.failure(format!("device {imei} on {flavour}"), e))
    }

    /// A `downlink` step: the platform queues a downlink for a device.
    fn queue_downlink(
        &mut self,
        flavour: Flavour,
        imei: &str,
        data: &str,
    ) -> Result<(), ScenarioFailure> {
        let imei = self.imei(imei);
        let Some(platform) = self.platform.as_mut() else {
            return Err(self.no_stand_ins());
        };
        let queued = platform.queue_downlink(&mut self.bench, flavour, &imei, data);
        queued.map_err(|e| self.failure(format!("a downlink to {imei}"), e))
    }

    /// An `uplinks` step: the platform stored `count` uplinks of a device.
    fn check_uplinks(
        &mut self,
        flavour: Flavour,
        imei: &str,
        count: usize,
    ) -> Result<(), ScenarioFailure> {
        let imei = self.imei(imei);
        let found = self.stand_ins()?.uplinks(flavour, &imei);
        let found = found.map_err(|e| self.failure(format!("{flavour} uplinks"), e))?;
        if found != count {
            return Err(self.failure(
                format!("{count} uplinks from {imei} on {flavour}"),
                format!("{found}"),
            ));
        }
        Ok(())
    }

    /// A `package` step: the platform stores a package (damaged, if `corrupt`).
    fn add_package(
        &mut self,
        flavour: Flavour,
        id: &str,
        bytes: Vec<u8>,
        corrupt: bool,
        uri: Option<String>,
    ) -> Result<(), ScenarioFailure> {
        let stand_ins = self.stand_ins()?;
        let mut added = stand_ins.add_package(flavour, id, bytes, uri);
        if corrupt {
            added = added.and_then(|()| stand_ins.damage_package(flavour, id));
        }
        added.map_err(|e| self.failure(format!("package {id} on {flavour}"), e))
    }

    /// A `task` step: the platform creates an upgrade task (`module`: the module's IMEI).
    fn create_task(&mut self, flavour: Flavour, task: &NewTask) -> Result<(), ScenarioFailure> {
        let mut task = task.clone();
        task.devices = task.devices.iter().map(|i| self.imei(i)).collect();
        let id = task.id.clone();
        let created = self.stand_ins()?.create_task(flavour, task);
        created.map_err(|e| self.failure(format!("task {id} on {flavour}"), e))
    }

    /// An `upgrade` step: a device's upgrade by a task has this status (and result).
    fn check_upgrade(
        &mut self,
        flavour: Flavour,
        task: &str,
        imei: &str,
        status: UpgradeStatus,
        result: Option<u8>,
    ) -> Result<(), ScenarioFailure> {
        let imei = self.imei(imei);
        let found = self.stand_ins()?.upgrade(flavour, task, &imei);
        let matches = found
            .as_ref()
            .is_some_and(|u| u.status == status && result.is_none_or(|r| u.result == Some(r)));
        if matches {
            return Ok(());
        }
        let result = result.map_or(String::new(), |r| format!(", result {r}"));
        Err(self.failure(
            format!(
                "the upgrade of {imei} by {task} {}{result}",
                status.as_str()
            ),
            format!("{found:?}"),
        ))
    }

    /// A `deep-sleep` step: the module is (or is not) in deep sleep.
    fn check_deep_sleep(&mut self, expected: bool) -> Result<(), ScenarioFailure> {
        let asleep = self.bench.module().is_in_deep_sleep();
        if asleep != expected {
            let state = |asleep: bool| if asleep { "in deep sleep" } else { "awake" };
            return Err(self.failure(state(expected).into(), state(asleep).into()));
        }
        Ok(())
    }

    /// An `energy` step: fails with the whole account when the check does not hold.
    fn check_energy(&mut self, check: EnergyCheck) -> Result<(), ScenarioFailure> {
        let account = self.bench.energy();
        let total = account.total_micro_amp_hours();
        let (holds, expected) = match check {
            EnergyCheck::Time(state, time) => (
                account.entry(state).time == time,
                format!("{} in {}", format_duration(time), state.name()),
            ),
            EnergyCheck::Below(charge) => (total < charge, format!("below {charge} µAh")),
            EnergyCheck::Above(charge) => (total > charge, format!("above {charge} µAh")),
        };
        if holds {
            Ok(())
        } else {
            Err(self.failure(expected, account.to_string()))
        }
    }

    /// At the end of the script: a line the module wrote that no `expect` took fails the
    /// script, as every line must be expected.
    fn nothing_left_over(&mut self) -> Result<(), ScenarioFailure> {
        match self.bench.next_line(Duration::ZERO) {
            Some(line) => Err(self.failure(
                "no more output at the end of the script".into(),
                format!("{line:?}"),
            )),
            None => Ok(()),
        }
    }

    fn stand_ins(&mut self) -> Result<&mut StandIns, ScenarioFailure> {
        if self.platform.is_none() {
            return Err(self.no_stand_ins());
        }
        Ok(self.platform.as_mut().expect("checked"))
    }

    /// An IMEI as a step gives it: `module` stands for the module's.
    fn imei(&mut self, imei: &str) -> String {
        match imei {
            "module" => self.bench.module().imei().to_string(),
            other => other.to_string(),
        }
    }

    fn no_stand_ins(&self) -> ScenarioFailure {
        self.failure(
            "the stand-in platforms (module … --platform)".into(),
            "none".into(),
        )
    }

    fn failure(&self, expected: String, got: String) -> ScenarioFailure {
        let skip = self.transcript.len().saturating_sub(CONTEXT_LINES);
        ScenarioFailure {
            line: self.line,
            expected,
            got,
            at: self.bench.elapsed(),
            recent: self.transcript[skip..].to_vec(),
        }
    }
}
