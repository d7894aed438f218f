//! The scenario script format (see `docs/scenarios.md`).
//!
//! One step a line; `#` starts a comment line; blank lines are ignored. The first step names the
//! module: `module <MODEL> [--firmware R] [--imei N] [--imsi N] [--iccid N] [--platform]`.

use crate::bench::ModuleSetup;
use nbmodem_clock::parse_duration;
use nbmodem_module::energy::PowerState;
use nbmodem_module::RadioCondition;
use nbmodem_platform::ctiot::admin::NewTask;
use nbmodem_platform::ctiot::fota::UpgradeStatus;
use nbmodem_platform::ctiot::NewDevice;
use nbmodem_platform::{Fault, Flavour, Server, Verdict};
use regex::Regex;
use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;

/// What an `expect` step matches.
#[derive(Debug, Clone)]
pub enum Pattern {
    Exact(String),
    Regex(Regex),
}

impl Pattern {
    pub fn matches(&self, line: &str) -> bool {
        match self {
            Pattern::Exact(text) => text == line,
            Pattern::Regex(re) => re.is_match(line),
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pattern::Exact(text) => write!(f, "{text:?}"),
            Pattern::Regex(re) => write!(f, "/{}/", re.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Step {
    /// Sends a command line, terminated by `<CR>`.
    Send(String),
    /// The next output line must match, within the expect time limit.
    Expect(Pattern),
    /// Lets virtual time pass; output is kept for the following `expect` steps.
    Wait(Duration),
    /// Lets virtual time pass; fails if the module writes anything meanwhile.
    Silent(Duration),
    /// Fails unless exactly this much virtual time has passed since the start.
    Elapsed(Duration),
    /// Sets how long an `expect` waits for its line (default 10 minutes).
    Timeout(Duration),
    PowerOn,
    PowerOff,
    /// Checks the module's energy account since power-on.
    Energy(EnergyCheck),
    /// A power cut followed by power-on.
    PowerCycle,
    /// The process is killed and started again on the same NVRAM.
    Kill,
    /// Sets (or clears) a fault on a stand-in server: `fault ct drop=3`, `fault dm clear`.
    Fault {
        server: Server,
        /// `None` for `clear`.
        fault: Option<Fault>,
    },
    /// Fails unless the stand-in server has recorded this many requests (with this verdict).
    Records {
        server: Server,
        count: usize,
        verdict: Option<Verdict>,
    },
    /// Issues an app key and its password on the stand-in CMDMP server.
    AppKey {
        key: String,
        password: String,
    },
    /// Registers a device on a CT IoT platform: `device aep module psk=… reply=no`.
    Device {
        flavour: Flavour,
        device: NewDevice,
    },
    /// Queues a downlink for a device of a CT IoT platform: `downlink iot module AA01`.
    Downlink {
        flavour: Flavour,
        imei: String,
        data: String,
    },
    /// Fails unless a CT IoT platform stored this many uplinks from the device.
    Uplinks {
        flavour: Flavour,
        imei: String,
        count: usize,
    },
    /// Adds a firmware package made with `DeltaPackage::make` to a CT IoT platform:
    /// `package iot p1 BC260YCNAAR02A01 BC260YCNAAR02A02 102400 [corrupt] [uri=URI]`.
    Package {
        flavour: Flavour,
        id: String,
        source: String,
        target: String,
        size: usize,
        /// The copy the platform serves is damaged after it accepted the package (its last
        /// byte flipped), so that the module's digest check fails.
        corrupt: bool,
        /// The URI the platform writes to /5/0/1 instead of its own.
        uri: Option<String>,
    },
    /// Creates an upgrade task: `task iot t1 p1 module [group=DFOTA] [retries=N] [start=yes]`.
    Task {
        flavour: Flavour,
        task: NewTask,
    },
    /// Starts a task: `task-start aep t1`.
    TaskStart {
        flavour: Flavour,
        id: String,
    },
    /// Fails unless the device's upgrade by the task has this status (and, when given, this
    /// last update result read from /5/0/5): `upgrade iot t1 module failed 5`.
    Upgrade {
        flavour: Flavour,
        task: String,
        imei: String,
        status: UpgradeStatus,
        result: Option<u8>,
    },
    /// Makes the module's resolution of a name (or of every name, `*`) fail.
    DnsFail(String),
    /// Lets every name resolve again.
    DnsRestore,
    /// Fails unless the module is (`deep-sleep yes`) or is not (`deep-sleep no`) in deep sleep.
    DeepSleep(bool),
    /// Moves the module into a radio condition: `coverage edge`, `coverage rsrp=-110,sinr=-3`.
    Coverage(RadioCondition),
    /// Starts a UDP echo server at an address on the simulated network: `udp-echo 47.100.1.2:5000`.
    UdpEcho(SocketAddr),
    /// Starts a TCP echo server at an address: `tcp-echo 47.100.1.2:6000`.
    TcpEcho(SocketAddr),
}

/// A parsed script.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub setup: ModuleSetup,
    /// `--platform`: the stand-in operator platforms run beside the module.
    pub platform: bool,
    /// The line of the `module` step, to report a module that cannot be built.
    pub module_line: usize,
    /// Each step with its line number in the script.
    pub steps: Vec<(usize, Step)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {message}")]
pub struct ScriptError {
    pub line: usize,
    pub message: String,
}

/// Parses a scenario script.
pub fn parse(text: &str) -> Result<Scenario, ScriptError> {
    let mut setup = None;
    let mut steps = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let err = |message: String| ScriptError { line, message };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (keyword, arg) = trimmed
            .split_once(' ')
            .map(|(k, a)| (k, a.trim()))
            .unwrap_or((trimmed, ""));
        if keyword == "module" {
            if setup.is_some() || !steps.is_empty() {
                return Err(err("`module` must be the first step, and come once".into()));
            }
            setup = Some((parse_module(arg).map_err(err)?, line));
            continue;
        }
        if setup.is_none() {
            return Err(err("the first step must be `module <MODEL> …`".into()));
        }
        steps.push((line, parse_step(keyword, arg).map_err(err)?));
    }
    let ((setup, platform), module_line) = setup.ok_or(ScriptError {
        line: 0,
        message: "no `module` step".into(),
    })?;
    Ok(Scenario {
        setup,
        platform,
        module_line,
        steps,
    })
}

/// `IP:PORT`, the address of an echo server.
fn parse_address(keyword: &str, arg: &str) -> Result<SocketAddr, String> {
    arg.parse()
        .map_err(|_| format!("write `{keyword} IP:PORT`, e.g. `{keyword} 47.100.1.2:5000`"))
}

fn parse_step(keyword: &str, arg: &str) -> Result<Step, String> {
    let duration = || parse_duration(arg).map_err(|e| e.to_string());
    let no_arg = |step: Step| {
        if arg.is_empty() {
            Ok(step)
        } else {
            Err(format!("`{keyword}` takes no argument"))
        }
    };
    match keyword {
        "send" => Ok(Step::Send(arg.to_string())),
        "expect" => parse_pattern(arg).map(Step::Expect),
        "wait" => duration().map(Step::Wait),
        "silent" => duration().map(Step::Silent),
        "elapsed" => duration().map(Step::Elapsed),
        "timeout" => duration().map(Step::Timeout),
        "power-on" => no_arg(Step::PowerOn),
        "power-off" => no_arg(Step::PowerOff),
        "power-cycle" => no_arg(Step::PowerCycle),
        "kill" => no_arg(Step::Kill),
        "fault" => parse_fault(arg),
        "records" => parse_records(arg),
        "appkey" => match arg.split_whitespace().collect::<Vec<_>>()[..] {
            [key, password] => Ok(Step::AppKey {
                key: key.into(),
                password: password.into(),
            }),
            _ => Err("write `appkey KEY PASSWORD`".into()),
        },
        "device" => parse_device(arg),
        "udp-echo" => parse_address(keyword, arg).map(Step::UdpEcho),
        "tcp-echo" => parse_address(keyword, arg).map(Step::TcpEcho),
        "downlink" => match arg.split_whitespace().collect::<Vec<_>>()[..] {
            [flavour, imei, data] => Ok(Step::Downlink {
                flavour: parse_flavour(flavour)?,
                imei: imei.into(),
                data: data.into(),
            }),
            _ => Err("write `downlink PLATFORM IMEI HEX`, e.g. `downlink iot module AA01`".into()),
        },
        "uplinks" => match arg.split_whitespace().collect::<Vec<_>>()[..] {
            [flavour, imei, count] => Ok(Step::Uplinks {
                flavour: parse_flavour(flavour)?,
                imei: imei.into(),
                count: count
                    .parse()
                    .map_err(|_| "write `uplinks PLATFORM IMEI COUNT`".to_string())?,
            }),
            _ => Err("write `uplinks PLATFORM IMEI COUNT`, e.g. `uplinks aep module 2`".into()),
        },
        "package" => parse_package(arg),
        "task" => parse_task(arg),
        "task-start" => match arg.split_whitespace().collect::<Vec<_>>()[..] {
            [flavour, id] => Ok(Step::TaskStart {
                flavour: parse_flavour(flavour)?,
                id: id.into(),
            }),
            _ => Err("write `task-start PLATFORM TASK`".into()),
        },
        "upgrade" => parse_upgrade(arg),
        "dns-fail" if !arg.is_empty() => Ok(Step::DnsFail(arg.into())),
        "dns-restore" => no_arg(Step::DnsRestore),
        "energy" => parse_energy(arg).map(Step::Energy),
        "deep-sleep" => match arg {
            "yes" => Ok(Step::DeepSleep(true)),
            "no" => Ok(Step::DeepSleep(false)),
            _ => Err("write `deep-sleep yes` or `deep-sleep no`".into()),
        },
        "coverage" => arg.parse().map(Step::Coverage),
        _ => Err(format!("unknown step `{keyword}`")),
    }
}

/// `fault SERVER FAULT`, where FAULT is `drop=N`, `reject=N`, `delay=DURATION`, (on `iot` and
/// `aep`) `reset=N` or `noack=N`, or `clear`.
fn parse_fault(arg: &str) -> Result<Step, String> {
    let [server, fault] = arg.split_whitespace().collect::<Vec<_>>()[..] else {
        return Err("write `fault SERVER FAULT`, e.g. `fault ct drop=3`".into());
    };
    let server = parse_server(server)?;
    let fault = match fault {
        "clear" => None,
        fault => Some(fault.parse::<Fault>().map_err(|e| format!("{e}"))?),
    };
    if let Some(fault) = fault.filter(|f| !server.takes(*f)) {
        return Err(format!("{server} takes no {} faults", fault.kind()));
    }
    Ok(Step::Fault { server, fault })
}

/// `device PLATFORM IMEI [psk=HEX] [reply=yes|no] [product=ID]`.
fn parse_device(arg: &str) -> Result<Step, String> {
    let usage = || "write `device PLATFORM IMEI [psk=HEX] [reply=yes|no] [product=ID]`".to_string();
    let mut words = arg.split_whitespace();
    let flavour = parse_flavour(words.next().ok_or_else(usage)?)?;
    let mut device = NewDevice {
        imei: words.next().ok_or_else(usage)?.to_string(),
        psk: None,
        product: None,
        reply: None,
    };
    for option in words {
        match option.split_once('=') {
            Some(("psk", key)) => device.psk = Some(key.into()),
            Some(("product", id)) => device.product = Some(id.into()),
            Some(("reply", "yes")) => device.reply = Some(true),
            Some(("reply", "no")) => device.reply = Some(false),
            _ => return Err(usage()),
        }
    }
    Ok(Step::Device { flavour, device })
}

/// `package PLATFORM ID SOURCE TARGET SIZE [corrupt] [uri=URI]`.
fn parse_package(arg: &str) -> Result<Step, String> {
    let usage = || "write `package PLATFORM ID SOURCE TARGET SIZE [corrupt] [uri=URI]`".to_string();
    let words: Vec<&str> = arg.split_whitespace().collect();
    let [flavour, id, source, target, size, ref options @ ..] = words[..] else {
        return Err(usage());
    };
    let (mut corrupt, mut uri) = (false, None);
    for option in options {
        match (*option, option.split_once('=')) {
            ("corrupt", _) => corrupt = true,
            (_, Some(("uri", value))) => uri = Some(value.to_string()),
            _ => return Err(usage()),
        }
    }
    Ok(Step::Package {
        flavour: parse_flavour(flavour)?,
        id: id.into(),
        source: source.into(),
        target: target.into(),
        size: size.parse().map_err(|_| usage())?,
        corrupt,
        uri,
    })
}

/// `upgrade PLATFORM TASK IMEI STATUS [RESULT]`.
fn parse_upgrade(arg: &str) -> Result<Step, String> {
    let usage = || "write `upgrade PLATFORM TASK IMEI STATUS [RESULT]`".to_string();
    let words: Vec<&str> = arg.split_whitespace().collect();
    let ([flavour, task, imei, status], result) = match words[..] {
        [f, t, i, s] => ([f, t, i, s], None),
        [f, t, i, s, r] => ([f, t, i, s], Some(r.parse().map_err(|_| usage())?)),
        _ => return Err(usage()),
    };
    Ok(Step::Upgrade {
        flavour: parse_flavour(flavour)?,
        task: task.into(),
        imei: imei.into(),
        status: status.parse()?,
        result,
    })
}

/// `task PLATFORM ID PACKAGE IMEI[,IMEI…] [group=NAME] [retries=N] [start=yes]`.
fn parse_task(arg: &str) -> Result<Step, String> {
    let usage = || {
        "write `task PLATFORM ID PACKAGE IMEI[,IMEI…] [group=NAME] [retries=N] [start=yes]`"
            .to_string()
    };
    let mut words = arg.split_whitespace();
    let mut next = || words.next().ok_or_else(usage);
    let flavour = parse_flavour(next()?)?;
    let mut task = NewTask {
        id: next()?.into(),
        name: None,
        package: next()?.into(),
        group: None,
        devices: next()?.split(',').map(String::from).collect(),
        retries: 0,
        retry_after_s: 0,
        max_concurrent: 1,
        start: false,
    };
    for option in words {
        match option.split_once('=') {
            Some(("group", group)) => task.group = Some(group.into()),
            Some(("retries", n)) => task.retries = n.parse().map_err(|_| usage())?,
            Some(("start", "yes")) => task.start = true,
            _ => return Err(usage()),
        }
    }
    Ok(Step::Task { flavour, task })
}

/// What an `energy` step checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EnergyCheck {
    /// Exactly this much time was spent in the state.
    Time(PowerState, Duration),
    /// The total charge is below this many µAh.
    Below(f64),
    /// The total charge is above this many µAh.
    Above(f64),
}

/// `energy STATE DURATION`, `energy below CHARGE` or `energy above CHARGE`, a charge written
/// `150uAh` (or `µAh`) or `1.5mAh`.
fn parse_energy(arg: &str) -> Result<EnergyCheck, String> {
    let usage = || {
        "write `energy STATE DURATION` (psm, idle, connected, transmitting), `energy below CHARGE` \
         or `energy above CHARGE`, e.g. `energy psm 1h`, `energy below 150uAh`"
            .to_string()
    };
    let [first, second] = arg.split_whitespace().collect::<Vec<_>>()[..] else {
        return Err(usage());
    };
    match first {
        "below" => parse_charge(second).map(EnergyCheck::Below),
        "above" => parse_charge(second).map(EnergyCheck::Above),
        state => {
            let state = state.parse::<PowerState>()?;
            let time = parse_duration(second).map_err(|e| format!("{e}"))?;
            Ok(EnergyCheck::Time(state, time))
        }
    }
}

/// `150uAh`, `150µAh` or `1.5mAh`, in µAh.
fn parse_charge(text: &str) -> Result<f64, String> {
    let bad = || format!("bad charge {text:?}: write e.g. 150uAh or 1.5mAh");
    let (number, scale) = if let Some(n) = text.strip_suffix("mAh") {
        (n, 1000.0)
    } else if let Some(n) = text
        .strip_suffix("uAh")
        .or_else(|| text.strip_suffix("µAh"))
    {
        (n, 1.0)
    } else {
        return Err(bad());
    };
    match number.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value * scale),
        _ => Err(bad()),
    }
}

fn parse_flavour(name: &str) -> Result<Flavour, String> {
    name.parse().map_err(|e| format!("{e}"))
}

/// `records SERVER COUNT [VERDICT]`.
fn parse_records(arg: &str) -> Result<Step, String> {
    let usage =
        || "write `records SERVER COUNT [VERDICT]`, e.g. `records ct 1 accepted`".to_string();
    let words: Vec<&str> = arg.split_whitespace().collect();
    let (server, count, verdict) = match words[..] {
        [server, count] => (server, count, None),
        [server, count, verdict] => (server, count, Some(verdict)),
        _ => return Err(usage()),
    };
    Ok(Step::Records {
        server: parse_server(server)?,
        count: count.parse().map_err(|_| usage())?,
        verdict: verdict.map(str::parse).transpose()?,
    })
}

fn parse_server(name: &str) -> Result<Server, String> {
    name.parse().map_err(|e| format!("{e}"))
}

/// `/regex/` (anchored to the whole line) or exact text.
fn parse_pattern(arg: &str) -> Result<Pattern, String> {
    match arg.strip_prefix('/').and_then(|a| a.strip_suffix('/')) {
        Some(re) if arg.len() >= 2 => Regex::new(&format!("^(?:{re})$"))
            .map(Pattern::Regex)
            .map_err(|e| format!("bad regex: {e}")),
        _ if arg.is_empty() => Err("`expect` needs a line to match".into()),
        _ => Ok(Pattern::Exact(arg.to_string())),
    }
}

fn parse_module(arg: &str) -> Result<(ModuleSetup, bool), String> {
    let mut words = arg.split_whitespace();
    let model = words.next().ok_or("`module` needs a model")?;
    let mut setup = ModuleSetup::model(model);
    let mut platform = false;
    while let Some(option) = words.next() {
        if option == "--platform" {
            platform = true;
            continue;
        }
        let value = words
            .next()
            .ok_or(format!("{option} needs a value"))?
            .to_string();
        if option == "--coverage" {
            setup.coverage = Some(value.parse()?);
            continue;
        }
        let slot = match option {
            "--firmware" => &mut setup.firmware,
            "--imei" => &mut setup.imei,
            "--imsi" => &mut setup.imsi,
            "--iccid" => &mut setup.iccid,
            _ => return Err(format!("unknown module option {option}")),
        };
        *slot = Some(value);
    }
    Ok((setup, platform))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_step() {
        let s = parse(
            "# boot\nmodule BC25 --imsi 460110000000001\n\nexpect RDY\nsend AT+CSQ\nexpect /\\+CSQ: \\d+,99/\n\
             wait 30d\nsilent 1h\nelapsed 30d1h\ntimeout 2h\npower-off\npower-on\npower-cycle\nkill\ndeep-sleep yes\n\
             coverage rsrp=-115,sinr=0\n",
        )
        .unwrap();
        assert_eq!(s.setup.model, "BC25");
        assert_eq!(s.setup.imsi.as_deref(), Some("460110000000001"));
        assert_eq!(s.steps.len(), 13);
        assert!(matches!(s.steps[11].1, Step::DeepSleep(true)));
        assert!(matches!(s.steps[12].1, Step::Coverage(c) if c.rsrp == -115 && c.sinr == 0));
        let edge = parse("module BC95 --coverage edge\n").unwrap();
        assert_eq!(
            edge.setup.coverage.map(|c| c.to_string()).as_deref(),
            Some("edge")
        );
        for bad in [
            "module BC95 --coverage far\n",
            "module BC95\ncoverage rsrp=-150\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(s.steps[0].0, 4, "line numbers count comments and blanks");
        match &s.steps[2].1 {
            Step::Expect(p) => assert!(p.matches("+CSQ: 25,99") && !p.matches("x+CSQ: 25,99")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_platform_steps() {
        let s = parse("module BC25\nfault ct delay=5s\nfault dm clear\nrecords cu 2 dropped\n")
            .unwrap();
        let steps: Vec<_> = s.steps.into_iter().map(|(_, step)| step).collect();
        assert!(matches!(
            steps[..],
            [
                Step::Fault { server: Server::Ct, fault: Some(Fault::Delay(d)) },
                Step::Fault { server: Server::Dm, fault: None },
                Step::Records { server: Server::Cu, count: 2, verdict: Some(Verdict::Dropped) },
            ] if d == Duration::from_secs(5)
        ));
    }

    #[test]
    fn reports_mistakes_with_their_line() {
        let cases = [
            ("send AT", 1, "first step"),
            ("module BC25\nwait soon", 2, "not a duration"),
            ("module BC25\nexpect /(/", 2, "bad regex"),
            ("module BC25\nfly away", 2, "unknown step"),
            ("module BC25\nmodule BC26", 2, "first step"),
            ("module BC25 --imei", 1, "needs a value"),
            ("module BC25\nkill now", 2, "no argument"),
            ("module BC25\ndeep-sleep maybe", 2, "deep-sleep yes"),
            ("module BC25\nrecords ct 0 acceptd", 2, "unknown verdict"),
            ("module BC25\nrecords xx 0", 2, "unknown server"),
            ("module BC25\nrecords ct many", 2, "records SERVER COUNT"),
            ("module BC25\nfault cx drop=1", 2, "unknown server"),
            ("module BC25\nfault ct drop=lots", 2, "bad fault"),
            ("module BC25\nfault ct", 2, "fault SERVER FAULT"),
            ("module BC25\nfault ct reset=1", 2, "takes no reset"),
            ("module BC25\ndevice onenet module", 2, "unknown platform"),
            (
                "module BC25\ndevice aep module key=00",
                2,
                "device PLATFORM IMEI",
            ),
            (
                "module BC25\ndownlink aep module",
                2,
                "downlink PLATFORM IMEI HEX",
            ),
            (
                "module BC25\nuplinks aep module some",
                2,
                "uplinks PLATFORM IMEI COUNT",
            ),
            ("# nothing", 0, "no `module`"),
        ];
        for (text, line, message) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text}");
            assert!(e.message.contains(message), "{text}: {}", e.message);
        }
    }
}
