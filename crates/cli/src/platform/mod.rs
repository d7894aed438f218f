//! `nbmodem platform`: run the stand-in platforms, issue DM app keys, print records and devices,
//! set faults on the running platforms, and manage the CT IoT platforms through their HTTP API.
//!
//! The modules import downwards only: this one is the command and its subcommands that work on
//! the data directory or the control port; [`iot`] is `iot|aep …` (with [`fota`] for `… fota …`),
//! a client of the HTTP API ([`client`]) making the requests of [`call`]; [`output`] prints.
//! What they work on (the servers, the store, the control port, the API's address) is the
//! nbmodem-platform library's.

mod call;
pub mod client;
mod fota;
mod iot;
mod output;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use iot::CtIotArgs;
use nbmodem_platform::api::DEFAULT_API;
use nbmodem_platform::control;
use nbmodem_platform::fault::ServerFault;
use nbmodem_platform::record::Server;
use nbmodem_platform::serve::{serve, ServeConfig};
use nbmodem_platform::store::{Store, DATABASE_FILE};
use nbmodem_platform::writer::DEFAULT_RECORDS_KEPT;
use nbmodem_platform::{appkey, Addresses, Flavour, DEFAULT_CONTROL, DEFAULT_DATA};
use output::{print_json_lines, print_lines};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Run the stand-in operator platforms (CT and CU self-registration, CMDMP DM), or manage them.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PlatformArgs {
    #[command(subcommand)]
    command: Option<PlatformCommand>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Where the platforms keep their database (platform.sqlite).
    #[arg(long, default_value = DEFAULT_DATA)]
    data: PathBuf,
    #[command(flatten)]
    stand_ins: StandInArgs,
    /// No line on standard error per request handled.
    #[arg(long)]
    quiet: bool,
}

/// Where the stand-ins listen and the faults they start with: the options `nbmodem platform` and
/// `nbmodem sandbox` share.
#[derive(Debug, Clone, Args)]
pub struct StandInArgs {
    /// The China Telecom registry's UDP address (port 0: any free port, shown at start-up).
    #[arg(long, default_value_t = Addresses::default().ct)]
    pub ct: SocketAddr,
    /// The China Unicom registry's UDP address.
    #[arg(long, default_value_t = Addresses::default().cu)]
    pub cu: SocketAddr,
    /// The CMDMP DM server's UDP address.
    #[arg(long, default_value_t = Addresses::default().dm)]
    pub dm: SocketAddr,
    /// The China Telecom IoT platform's UDP address (plain CoAP).
    #[arg(long, default_value_t = Addresses::default().iot)]
    pub iot: SocketAddr,
    /// The China Telecom IoT platform's DTLS address.
    #[arg(long, default_value_t = Addresses::default().iot_dtls)]
    pub iot_dtls: SocketAddr,
    /// CTWing AEP's UDP address (plain CoAP).
    #[arg(long, default_value_t = Addresses::default().aep)]
    pub aep: SocketAddr,
    /// CTWing AEP's DTLS address.
    #[arg(long, default_value_t = Addresses::default().aep_dtls)]
    pub aep_dtls: SocketAddr,
    /// The fault control port (loopback TCP).
    #[arg(long, default_value_t = DEFAULT_CONTROL)]
    pub control: SocketAddr,
    /// The CT IoT platforms' HTTP API (loopback TCP; docs/api.md).
    #[arg(long, default_value_t = DEFAULT_API)]
    pub api: SocketAddr,
    /// A fault from the start, e.g. ct:drop=3, dm:reject=2, cu:delay=5s (repeatable).
    #[arg(long = "fault", value_name = "SERVER:FAULT")]
    pub faults: Vec<ServerFault>,
    /// How many request records the database keeps; the oldest are removed first.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RECORDS_KEPT,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub records_kept: u64,
}

impl StandInArgs {
    /// How the platforms run with these options, their database in `data`, their console lines
    /// on `console`.
    pub fn config(&self, data: &Path, console: Option<nbmodem_platform::Console>) -> ServeConfig {
        ServeConfig {
            data: data.to_path_buf(),
            addresses: Addresses {
                ct: self.ct,
                cu: self.cu,
                dm: self.dm,
                iot: self.iot,
                iot_dtls: self.iot_dtls,
                aep: self.aep,
                aep_dtls: self.aep_dtls,
            },
            control: self.control,
            api: self.api,
            faults: self.faults.clone(),
            seed: seed_from_clock(),
            console,
            devices: Vec::new(),
            records_kept: self.records_kept,
            module: None,
        }
    }
}

#[derive(Debug, Subcommand)]
enum PlatformCommand {
    /// Issue or list CMDMP app keys and their passwords.
    Appkey {
        #[command(subcommand)]
        command: AppkeyCommand,
    },
    /// Print a server's records as JSON lines, in time order.
    Records {
        /// The server: ct, cu, dm, iot or aep.
        server: Server,
        /// The platform's data directory (its platform.sqlite).
        #[arg(long, default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
    /// Print the devices the DM server read, as JSON lines.
    Devices {
        /// The platform's data directory (its platform.sqlite).
        #[arg(long, default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
    /// Set faults on the running platforms: `ct drop=3`, `dm delay 5s`, `iot reset=1`,
    /// `aep noack=2`, `cu clear`, `clear`.
    Fault {
        /// A server (ct, cu, dm, iot, aep) and its fault: drop=N (the next N requests go
        /// unanswered), reject=N (refused), delay=DURATION (each answer late), reset=N and
        /// noack=N (iot and aep: uplinks answered with a Reset, or CON uplinks never
        /// acknowledged); `SERVER clear` or `clear` ends them.
        #[arg(required = true, value_name = "SERVER FAULT | SERVER clear | clear")]
        words: Vec<String>,
        #[command(flatten)]
        control: ControlArgs,
    },
    /// Show the faults in force on the running platforms.
    Faults {
        #[command(flatten)]
        control: ControlArgs,
    },
    /// Show or set the radio condition of the module of a running `nbmodem sandbox`: good,
    /// edge, deep, or rsrp=<dBm>,sinr=<dB> (e.g. rsrp=-110,sinr=-3).
    Coverage {
        /// The condition to set; without it, the one in force is shown.
        value: Option<String>,
        #[command(flatten)]
        control: ControlArgs,
    },
    /// The China Telecom IoT platform through its HTTP API: devices, uplinks, downlinks, products.
    Iot(CtIotArgs),
    /// CTWing AEP through the HTTP API (the same subcommands as iot).
    Aep(CtIotArgs),
}

/// How to reach a running platform's control port.
#[derive(Debug, Args)]
struct ControlArgs {
    /// The running platform's control port.
    #[arg(long, default_value_t = DEFAULT_CONTROL)]
    control: SocketAddr,
    /// The running platform's data directory, where its control token is.
    #[arg(long, default_value = DEFAULT_DATA)]
    data: PathBuf,
}

#[derive(Debug, Subcommand)]
enum AppkeyCommand {
    /// Issue an app key (the next M1000000xx unless given) with a password (32 random letters and
    /// digits unless given); prints `APPKEY PASSWORD`.
    Add {
        /// The app key to issue (default: the next M1000000xx).
        #[arg(long)]
        app_key: Option<String>,
        /// Its password (default: 32 random letters and digits).
        #[arg(long)]
        password: Option<String>,
        /// The platform's data directory (its platform.sqlite).
        #[arg(long, default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
    /// Print every app key and its password.
    List {
        /// The platform's data directory (its platform.sqlite).
        #[arg(long, default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
}

/// Runs `nbmodem platform …`.
pub fn run(args: PlatformArgs) -> Result<ExitCode> {
    match args.command {
        None => run_servers(args.serve),
        Some(PlatformCommand::Appkey { command }) => appkey_command(command),
        Some(PlatformCommand::Records { server, data }) => {
            let records = existing_store(&data)?.records(server)?;
            if records.is_empty() {
                eprintln!(
                    "no {server} records in {}",
                    data.join(DATABASE_FILE).display()
                );
            }
            print_json_lines(&records)
        }
        Some(PlatformCommand::Devices { data }) => {
            print_json_lines(&existing_store(&data)?.devices()?)
        }
        Some(PlatformCommand::Fault { words, control }) => {
            control_command(&control, &format!("fault {}", words.join(" ")))
        }
        Some(PlatformCommand::Faults { control }) => control_command(&control, "faults"),
        Some(PlatformCommand::Coverage { value, control }) => {
            let line = value.map_or("coverage".into(), |v| format!("coverage {v}"));
            control_command(&control, &line)
        }
        Some(PlatformCommand::Iot(args)) => iot::run(Flavour::Iot, args),
        Some(PlatformCommand::Aep(args)) => iot::run(Flavour::Aep, args),
    }
}

fn run_servers(args: ServeArgs) -> Result<ExitCode> {
    let _lock = nbmodem_platform::process::lock_data_dir(&args.data)?;
    let console = (!args.quiet).then(nbmodem_platform::Console::stderr);
    let config = args.stand_ins.config(&args.data, console);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let stop = nbmodem_platform::process::StopSignal::install()?;
        serve(config, stop.wait()).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Message IDs and tokens differ from one run to the next, so that a device's duplicate
/// detection does not mistake a new run's requests for old ones.
fn seed_from_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn appkey_command(command: AppkeyCommand) -> Result<ExitCode> {
    let lines = match command {
        AppkeyCommand::Add {
            app_key,
            password,
            data,
        } => {
            let mut store = Store::open(&data)?;
            let key = appkey::issue(&mut store, app_key.as_deref(), password.as_deref())?;
            vec![format!("{} {}", key.app_key, key.password)]
        }
        AppkeyCommand::List { data } => existing_store(&data)?
            .app_keys()?
            .into_iter()
            .map(|k| format!("{} {}", k.app_key, k.password))
            .collect(),
    };
    print_lines(lines)
}

/// The database of a data directory that must already hold one.
fn existing_store(data: &Path) -> Result<Store> {
    if !data.join(DATABASE_FILE).is_file() {
        bail!("no platform database in {}", data.display());
    }
    Ok(Store::open(data)?)
}

fn control_command(args: &ControlArgs, line: &str) -> Result<ExitCode> {
    let token = control::ControlToken::read(&args.data).with_context(|| {
        format!(
            "reading the control token in {} (is a platform running with --data {0}?)",
            args.data.display()
        )
    })?;
    let address = args.control;
    let answer = control::request(address, &token, line)
        .with_context(|| format!("talking to the platform's control port {address}"))?;
    if answer
        .first()
        .is_some_and(|l| l.starts_with(control::TOKEN_REFUSED))
    {
        bail!(
            "the platform on {address} refused the control token read from {}: that file belongs to \
             another run (a platform writes a new token each time it starts). Give --data the \
             directory of the platform running on {address}, or --control the address of the \
             platform whose directory this is.",
            args.data.join(control::TOKEN_FILE).display()
        );
    }
    let failed = answer.last().is_none_or(|last| last.starts_with("ERROR"));
    print_lines(answer)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
