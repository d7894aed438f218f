//! `nbmodem`: a software Quectel BC-series NB-IoT module.
//!
//! - `nbmodem sandbox`: the module with an interactive console (the main job).
//! - `nbmodem modem`: the module on stdio, a TCP port or a pseudo-terminal.
//! - `nbmodem scenario FILE…`: plays scenario scripts in virtual time.
//! - `nbmodem models`: the models and their default firmware.
//! - `nbmodem fota`: DFOTA key pairs, delta packages and their signatures.

use anyhow::{anyhow, Context, Result};
use clap::{Args, Parser, Subcommand};
use nbmodem_capture::Recorder;
use nbmodem_cli::capture::CaptureThread;
use nbmodem_cli::console::Terminal;
use nbmodem_cli::driver;
use nbmodem_cli::port::{Port, PortSpec};
use nbmodem_clock::format_duration;
use nbmodem_module::node::ModuleNode;
use nbmodem_module::{FileStore, Module, RadioCondition, Route, PROFILES};
use nbmodem_net::udp::lock;
use nbmodem_platform::control::ModuleControl;
use nbmodem_scenario::ModuleSetup;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// mimalloc rather than the C library's malloc: a fleet holds a few kilobytes of small objects
/// per module, millions in all, and glibc's bins grow long in such a heap (docs/performance.md,
/// "A fleet on every core").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "nbmodem",
    version,
    about = "A software Quectel BC-series NB-IoT module"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a module with an interactive console: the place to start.
    Sandbox {
        /// The model (`nbmodem models` lists them). Give each model its own --data directory.
        #[arg(long, default_value = "BC260Y-CN")]
        model: String,
        /// Where the module keeps its NVRAM and the stand-ins their database.
        #[arg(long, default_value = nbmodem_platform::DEFAULT_DATA)]
        data: PathBuf,
        /// The AT port: stdio, tcp:HOST:PORT or pty:PATH.
        #[arg(long, default_value = "stdio")]
        at: PortSpec,
        #[command(flatten)]
        module: ModuleArgs,
        #[command(flatten)]
        stand_ins: nbmodem_cli::platform::StandInArgs,
        #[command(flatten)]
        capture: CaptureArgs,
    },
    /// Run a module whose AT port is stdio, a TCP port or a pseudo-terminal.
    Modem {
        /// The model (`nbmodem models` lists them).
        #[arg(long)]
        model: String,
        /// Where the module keeps its NVRAM (created if missing); one module per directory.
        #[arg(long)]
        data: PathBuf,
        /// The AT port: stdio, tcp:HOST:PORT or pty:PATH.
        #[arg(long)]
        at: PortSpec,
        #[command(flatten)]
        module: ModuleArgs,
        #[command(flatten)]
        capture: CaptureArgs,
    },
    /// Play scenario scripts in virtual time (see docs/scenarios.md).
    Scenario {
        /// The scenario scripts to play, one after the other (one only with --trace or --pcap).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        capture: CaptureArgs,
    },
    /// List the models and their default firmware.
    Models,
    /// A CoAP test server and client on nbmodem's engine.
    Coap {
        #[command(subcommand)]
        command: CoapCommand,
    },
    /// Stand-in operator platforms: the CT/CU self-registration registries, the CMDMP DM server,
    /// the China Telecom IoT platform (iot) and CTWing AEP (aep); see docs/platforms.md.
    Platform(nbmodem_cli::platform::PlatformArgs),
    /// DFOTA: key pairs, delta packages, signing and verifying (see docs/fota.md).
    Fota(nbmodem_cli::fota::FotaArgs),
    /// Many whole modules at once in virtual time, typed in AT, against the stand-ins (see
    /// docs/fleet.md); `fleet merge` adds the summaries of a fleet's shards.
    Fleet(nbmodem_cli::fleet::FleetArgs),
}

#[derive(Subcommand)]
enum CoapCommand {
    /// Serve /test, /large (100 KiB), /obs (observable), /echo and /.well-known/core.
    Serve {
        /// The address to serve on.
        #[arg(long, default_value = "127.0.0.1:5683")]
        listen: std::net::SocketAddr,
        /// Serve over DTLS with this pre-shared key.
        #[arg(long, value_name = "IDENTITY:KEY")]
        psk: Option<nbmodem_cli::coap_tool::Psk>,
    },
    /// GET a resource, e.g. coap://127.0.0.1:5683/test.
    Get {
        /// coap://HOST:PORT/PATH or coaps://….
        uri: String,
        /// Observe the resource and print notifications for this long (e.g. 10s).
        #[arg(long, value_parser = nbmodem_clock::parse_duration)]
        observe: Option<std::time::Duration>,
        #[command(flatten)]
        message: MessageArgs,
    },
    /// POST a payload.
    Post {
        /// coap://HOST:PORT/PATH or coaps://….
        uri: String,
        /// The payload, as text.
        payload: String,
        #[command(flatten)]
        message: MessageArgs,
    },
    /// PUT a payload.
    Put {
        /// coap://HOST:PORT/PATH or coaps://….
        uri: String,
        /// The payload, as text.
        payload: String,
        #[command(flatten)]
        message: MessageArgs,
    },
    /// DELETE a resource.
    Delete {
        /// coap://HOST:PORT/PATH or coaps://….
        uri: String,
        #[command(flatten)]
        message: MessageArgs,
    },
}

#[derive(Args)]
struct MessageArgs {
    /// Send a non-confirmable request.
    #[arg(long)]
    non: bool,
    /// Content-Format of the payload (0 text, 42 octet-stream, 50 JSON, …).
    #[arg(long, default_value_t = 0)]
    format: u16,
    /// The DTLS pre-shared key for a coaps:// URI.
    #[arg(long, value_name = "IDENTITY:KEY")]
    psk: Option<nbmodem_cli::coap_tool::Psk>,
}

#[derive(Args)]
struct ModuleArgs {
    /// Install this firmware revision (kept in NVRAM).
    #[arg(long)]
    firmware: Option<String>,
    /// Program this IMEI (kept in NVRAM).
    #[arg(long)]
    imei: Option<String>,
    /// The SIM's IMSI; its PLMN decides the operator.
    #[arg(long)]
    imsi: Option<String>,
    /// The SIM's ICCID.
    #[arg(long)]
    iccid: Option<String>,
    /// Send traffic for NAME_OR_IP[:PORT] to IP:PORT (repeatable).
    #[arg(long = "route", value_name = "NAME_OR_IP[:PORT]=IP:PORT")]
    routes: Vec<Route>,
    /// Make DNS resolution of NAME fail, or of every name with `*` (repeatable).
    #[arg(long = "dns-fail", value_name = "NAME")]
    dns_failures: Vec<String>,
    /// The radio condition: good (the default), edge, deep, or rsrp=<dBm>,sinr=<dB> (e.g.
    /// rsrp=-110,sinr=-3). It decides the CE level, the signal values and each datagram's
    /// airtime; `nbmodem platform coverage` changes it while a sandbox runs.
    #[arg(long, value_name = "CONDITION", default_value = "good")]
    coverage: RadioCondition,
    /// No line on standard error for each protocol event (self-registration, DM, requests the
    /// stand-ins handle).
    #[arg(long)]
    quiet: bool,
}

/// A trace and a capture of the module (see docs/user-guide.md, "Tracing and capturing").
#[derive(Args)]
struct CaptureArgs {
    /// Write a trace to FILE, a JSON object a line: every AT line in and out (URCs marked), every
    /// protocol event, every datagram with its CoAP and LwM2M operation decoded.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Write every datagram the module sends and receives to FILE, a pcapng capture for
    /// Wireshark or tshark, at the operators' public addresses.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
}

impl CaptureArgs {
    /// The recorder of the files asked for, `None` when neither was.
    fn recorder(&self) -> Result<Option<Recorder>> {
        let recorder = Recorder::create(self.trace.as_deref(), self.pcap.as_deref())?;
        Ok(recorder.is_recording().then_some(recorder))
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        // A log line that cannot be written (standard error on a full disk) is lost, rather than
        // reported with a panic of whichever thread logged it.
        .log_internal_errors(false)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nbmodem: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Sandbox {
            model,
            data,
            at,
            module,
            stand_ins,
            capture,
        } => serve(&model, data, at, module, Some(stand_ins), capture),
        Command::Modem {
            model,
            data,
            at,
            module,
            capture,
        } => serve(&model, data, at, module, None, capture),
        Command::Scenario { files, capture } => play_scenarios(&files, &capture),
        Command::Coap { command } => coap(command),
        Command::Platform(args) => platform(args),
        Command::Fota(args) => nbmodem_cli::fota::run(args),
        Command::Fleet(args) => nbmodem_cli::fleet::run(args),
        Command::Models => {
            for p in PROFILES {
                println!("{:<10} {}", p.model, p.default_firmware);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Where the stand-ins' console lines go: the terminal's console (unless `quiet`) and the trace
/// (if one is made); nowhere else.
fn platform_console(
    terminal: &Arc<Terminal>,
    capture: &Option<CaptureThread>,
    quiet: bool,
) -> Option<nbmodem_platform::Console> {
    let shown = (!quiet).then(|| terminal.console());
    let traced = capture.as_ref().map(CaptureThread::platform_lines);
    if shown.is_none() && traced.is_none() {
        return None;
    }
    Some(nbmodem_platform::Console::new(move |line| {
        if let Some(shown) = &shown {
            shown.line(line);
        }
        if let Some(traced) = &traced {
            traced(line);
        }
    }))
}

/// Runs a module until Ctrl-C, SIGTERM or (on stdio) the end of its input; with `stand_ins`, the
/// stand-in operator platforms beside it on a thread of their own (their database in the same
/// data directory), the module's routes leading to them.
fn serve(
    model: &str,
    data: PathBuf,
    at: PortSpec,
    args: ModuleArgs,
    stand_ins: Option<nbmodem_cli::platform::StandInArgs>,
    capture: CaptureArgs,
) -> Result<ExitCode> {
    let _lock = nbmodem_platform::process::lock_data_dir(&data)?;
    // On a terminal that shows both the AT port and the console, console lines keep off the line
    // being typed.
    let shared = at == PortSpec::Stdio && io::stdout().is_terminal() && io::stderr().is_terminal();
    let terminal = Terminal::standard(shared);
    // Started before the stand-ins, whose console lines go into the trace too.
    let capture = capture.recorder()?.map(CaptureThread::start);
    let mut module = real_time_module(model, &data, &args)?;
    module.set_tap(capture.is_some());
    let node = Arc::new(Mutex::new(ModuleNode::new(module)));
    let mut platforms = match &stand_ins {
        Some(options) => {
            let console = platform_console(&terminal, &capture, args.quiet);
            let started = start_stand_ins(options.config(&data, console), &node)?;
            eprintln!("nbmodem sandbox: a {model} module and the stand-in operator platforms; type AT commands (ATI, AT+CGPADDR?, …), Ctrl-C to stop.");
            eprintln!("{}", started.banner);
            Some(started)
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let stop = nbmodem_platform::process::StopSignal::install()?;
        let port = Port::open(&at, &terminal).await?;
        eprintln!("{}", started_line(&node, &data, &port));
        let platforms_stopped = async {
            match platforms.as_mut() {
                Some(p) => p.stopped().await,
                None => std::future::pending().await,
            }
        };
        let shutdown = async {
            tokio::select! {
                () = stop.wait() => {}
                () = platforms_stopped => {}
            }
        };
        driver::run(node, port, Arc::clone(&terminal), capture, shutdown).await
    });
    // A read of the terminal may still be blocked in tokio's stdin thread; it cannot be
    // cancelled, so the runtime is not waited for (else Ctrl-C would wait for Enter).
    runtime.shutdown_background();
    result?;
    if let Some(platforms) = platforms {
        platforms.stop().context("the stand-in platforms stopped")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The module of a real-time run, on its NVRAM in `data`.
fn real_time_module(model: &str, data: &Path, args: &ModuleArgs) -> Result<Module> {
    let setup = ModuleSetup {
        model: model.into(),
        firmware: args.firmware.clone(),
        imei: args.imei.clone(),
        imsi: args.imsi.clone(),
        iccid: args.iccid.clone(),
        routes: args.routes.clone(),
        coverage: Some(args.coverage),
    };
    let mut config = setup.config()?;
    config.notices = !args.quiet;
    // In real time each run draws new message IDs and tokens, as a real module does.
    config.seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    for name in &args.dns_failures {
        config
            .router
            .fail_dns((name != "*").then_some(name.as_str()));
    }
    let store = FileStore::in_dir(data)?;
    Module::new(config, Box::new(store))
        .with_context(|| format!("starting the module in {}", data.display()))
}

/// Starts the stand-ins: they know the module (its IMEI on the CT IoT platforms, its coverage
/// on the control port), and the module is routed to them; routes given on the command line
/// win.
fn start_stand_ins(
    mut config: nbmodem_platform::serve::ServeConfig,
    node: &Arc<Mutex<ModuleNode>>,
) -> Result<nbmodem_platform::serve::Background> {
    let mut node_of = lock(node);
    let module = node_of.module_mut();
    config.devices = vec![module.imei().to_string()];
    config.module = Some(coverage_control(Arc::clone(node)));
    let started = nbmodem_platform::serve::Background::start(config)
        .context("starting the stand-in platforms")?;
    let given: Vec<Route> = module.router().routes().to_vec();
    for route in started.addresses.routes() {
        let route: Route = route.parse().map_err(|e| anyhow!("{e}"))?;
        module.router_mut().add_route(route);
    }
    for route in given {
        module.router_mut().add_route(route);
    }
    Ok(started)
}

/// The console line that says what runs: model, firmware, identity, coverage, NVRAM, AT port.
fn started_line(node: &Arc<Mutex<ModuleNode>>, data: &Path, port: &Port) -> String {
    let shown = lock(node);
    let module = shown.module();
    format!(
        "nbmodem: {} {} IMEI {} IMSI {} ({}), coverage {}, NVRAM in {}, AT port on {}",
        module.profile().model,
        module.firmware(),
        module.imei(),
        module.sim().imsi(),
        module.sim().operator().name(),
        module.coverage(),
        data.display(),
        port.describe()
    )
}

/// The control port's `coverage` on the sandbox's module: sets it (a value given) and answers
/// the condition in force.
fn coverage_control(node: Arc<Mutex<ModuleNode>>) -> ModuleControl {
    ModuleControl::new(move |value| {
        let mut node = lock(&node);
        let module = node.module_mut();
        if let Some(value) = value {
            module.set_coverage(value.parse::<RadioCondition>()?);
        }
        let condition = module.coverage();
        Ok(format!("{condition} ({:?})", condition.ce_level()))
    })
}

fn coap(command: CoapCommand) -> Result<ExitCode> {
    use nbmodem_cli::coap_tool::{self, ClientArgs};
    use nbmodem_coap::Method;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = |method, uri, payload, message: MessageArgs, observe| ClientArgs {
        method,
        uri,
        payload,
        content_format: message.format,
        confirmable: !message.non,
        observe,
        psk: message.psk,
    };
    let args = match command {
        CoapCommand::Serve { listen, psk } => {
            return runtime.block_on(async {
                let (socket, _) = nbmodem_net::udp::bind_server(listen)
                    .with_context(|| format!("binding {listen}"))?;
                eprintln!("nbmodem coap: serving on {}", socket.local_addr()?);
                coap_tool::serve(socket, psk, async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
                Ok(ExitCode::SUCCESS)
            });
        }
        CoapCommand::Get {
            uri,
            observe,
            message,
        } => client(Method::Get, uri, None, message, observe),
        CoapCommand::Post {
            uri,
            payload,
            message,
        } => client(Method::Post, uri, Some(payload), message, None),
        CoapCommand::Put {
            uri,
            payload,
            message,
        } => client(Method::Put, uri, Some(payload), message, None),
        CoapCommand::Delete { uri, message } => client(Method::Delete, uri, None, message, None),
    };
    let ok = runtime.block_on(coap_tool::request(args))?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `nbmodem platform …`: runs or manages the stand-in operator platforms.
fn platform(args: nbmodem_cli::platform::PlatformArgs) -> Result<ExitCode> {
    nbmodem_cli::platform::run(args)
}

/// Plays each scenario file and prints its verdict; with a trace or capture (of one file only),
/// writes what the module's taps saw between the steps.
fn play_scenarios(files: &[PathBuf], capture: &CaptureArgs) -> Result<ExitCode> {
    if (capture.trace.is_some() || capture.pcap.is_some()) && files.len() > 1 {
        return Err(anyhow!(
            "--trace and --pcap record one scenario: give one file, not {}",
            files.len()
        ));
    }
    let mut recorder = capture.recorder()?;
    let mut failed = 0;
    for file in files {
        let started = std::time::Instant::now();
        let mut written = Ok(());
        let result = std::fs::read_to_string(file)
            .map_err(|e| anyhow!("cannot read it: {e}"))
            .and_then(|text| nbmodem_scenario::parse(&text).map_err(|e| anyhow!("{e}")))
            .and_then(|scenario| {
                let played = match recorder.as_mut() {
                    Some(recorder) => nbmodem_scenario::run_tapped(&scenario, |events| {
                        if written.is_ok() {
                            written = recorder.record(&events);
                        }
                    }),
                    None => nbmodem_scenario::run(&scenario),
                };
                played.map_err(|f| anyhow!("{f}"))
            });
        if let Some(recorder) = recorder.as_mut() {
            written
                .and_then(|()| recorder.flush())
                .context("writing the trace or capture")?;
        }
        match result {
            Ok(outcome) => println!(
                "PASS {} ({} steps, {} of virtual time in {:.1?})",
                file.display(),
                outcome.steps,
                format_duration(outcome.virtual_time),
                started.elapsed()
            ),
            Err(e) => {
                failed += 1;
                println!("FAIL {}: {e}", file.display());
            }
        }
    }
    println!("{} passed, {failed} failed", files.len() - failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The arguments and subcommands under `command` (reached by `path`) that have no help.
    fn undocumented(command: &clap::Command, path: &str, found: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_hide_set() || id == "help" || id == "version" {
                continue;
            }
            if arg
                .get_help()
                .is_none_or(|h| h.to_string().trim().is_empty())
            {
                found.push(format!("{path} {id}"));
            }
        }
        for sub in command.get_subcommands() {
            let path = format!("{path} {}", sub.get_name());
            if sub.get_name() != "help" && sub.get_about().is_none() {
                found.push(path.clone());
            }
            undocumented(sub, &path, found);
        }
    }

    #[test]
    fn every_subcommand_option_and_argument_has_a_line_of_help() {
        let mut found = Vec::new();
        undocumented(&Cli::command(), "nbmodem", &mut found);
        assert!(found.is_empty(), "no help for:\n{}", found.join("\n"));
    }
}
