//! `nbmodem platform iot …` and `nbmodem platform aep …`: the API's operations on the command
//! line, as a client of a running platform's API (`--api`, with the token in `--data`). Each
//! prints the answer's JSON, a list one item per line (`fota task show` prints text for a person
//! when standard output is a terminal); an error answer goes to standard error and the command
//! fails (exit status 1).

use super::call::{segment, Call};
use super::client::{Answer, Client};
use super::fota::{self, FotaCommand};
use super::output::print_lines;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use nbmodem_clock::parse_duration;
use nbmodem_platform::api::DEFAULT_API;
use nbmodem_platform::control::ControlToken;
use nbmodem_platform::{Flavour, DEFAULT_DATA};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How often `downlink --wait` asks for the downlink's status.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug, Args)]
pub struct CtIotArgs {
    #[command(subcommand)]
    command: CtIotCommand,
    /// The running platform's HTTP API.
    #[arg(long, default_value_t = DEFAULT_API, global = true)]
    api: SocketAddr,
    /// The running platform's data directory, where its control token is.
    #[arg(long, default_value = DEFAULT_DATA, global = true)]
    data: PathBuf,
}

#[derive(Debug, Subcommand)]
enum CtIotCommand {
    /// The devices, with their state (registered, observed, last seen, address).
    Devices,
    /// Add, show or remove a device.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// A device's uplinks, newest first (`--cursor` the `next` the last page gave).
    Uplinks {
        /// The device's IMEI.
        imei: String,
        /// The most uplinks on one page.
        #[arg(long)]
        limit: Option<usize>,
        /// Where the page starts: the `next` the previous page gave.
        #[arg(long)]
        cursor: Option<i64>,
    },
    /// Queue a downlink (hex) for a device; it goes out at the device's next uplink or Update.
    Downlink {
        /// The device's IMEI.
        imei: String,
        // Not named `data`: that would clash with `--data`.
        /// The data, in hex.
        hex: String,
        /// Follow its status until it is delivered or failed, for at most this long (`30s`).
        #[arg(long, value_parser = parse_duration)]
        wait: Option<Duration>,
    },
    /// A device's downlinks, newest first, with their status (commands among them).
    Downlinks {
        /// The device's IMEI.
        imei: String,
    },
    /// Queue a command for a device, encoded by its product's codec; it goes out at the device's
    /// next contact and is answered by the device's response (seed 002 §4.1.1, 命令下发).
    Command {
        /// The device's IMEI.
        imei: String,
        /// The service whose command it is (its `serviceId`).
        service: String,
        /// The command's name.
        command: String,
        /// Its parameters, as a JSON object.
        #[arg(default_value = "{}")]
        params: String,
        /// Follow its status until it is answered or failed, for at most this long (`30s`).
        #[arg(long, value_parser = parse_duration)]
        wait: Option<Duration>,
    },
    /// Ask an operation of a device's object tree (read, write, execute, observe, cancel on a
    /// path); it goes at the device's next contact.
    Operation {
        /// The device's IMEI.
        imei: String,
        /// read, write, execute, observe or cancel.
        kind: String,
        /// The path: /object[/instance[/resource]].
        path: String,
        /// A Write's value (as text), an Execute's arguments.
        value: Option<String>,
    },
    /// A device's operations, newest first, with their answers.
    Operations {
        /// The device's IMEI.
        imei: String,
    },
    /// The objects and instances a device registered with.
    Objects {
        /// The device's IMEI.
        imei: String,
    },
    /// Online debugging: a product's codec on an uplink or a command, no device needed.
    Debug {
        #[command(subcommand)]
        command: DebugCommand,
    },
    /// The products, with their profile documents.
    Products,
    /// Add or replace a product.
    Product {
        #[command(subcommand)]
        command: ProductCommand,
    },
    /// DFOTA: manufacturers' public keys, signed packages, upgrade tasks.
    Fota {
        #[command(subcommand)]
        command: FotaCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Register a device (or replace one).
    Add {
        /// The device's IMEI.
        imei: String,
        /// Its pre-shared key in hex: it then connects over DTLS only.
        #[arg(long)]
        psk: Option<String>,
        /// The product it is.
        #[arg(long)]
        product: Option<String>,
        /// Answer each uplink with AAAA0000 (the IoT platform's default).
        #[arg(long, conflicts_with = "no_reply")]
        reply: bool,
        /// Do not answer uplinks (AEP's default).
        #[arg(long)]
        no_reply: bool,
    },
    /// A device and its state.
    Show {
        /// The device's IMEI.
        imei: String,
    },
    /// Remove a device and its downlinks.
    Remove {
        /// The device's IMEI.
        imei: String,
    },
}

#[derive(Debug, Subcommand)]
enum ProductCommand {
    /// Add a product with its profile document (a JSON file, seed 002 §5.1.2) and its codec.
    Add {
        /// The product's id, as devices and packages name it.
        id: String,
        /// The profile document: a JSON file with a `devices` list (examples/dfota/profile.json)
        /// and, for a codec, its `services` (docs/codecs.md).
        profile: PathBuf,
        #[command(flatten)]
        codec: CodecArgs,
    },
    /// Change a product's codec (its profile stays).
    Codec {
        /// The product's id.
        id: String,
        #[command(flatten)]
        codec: CodecArgs,
    },
}

/// A product's codec: pass-through unless one is named.
#[derive(Debug, Args)]
#[group(multiple = false)]
struct CodecArgs {
    /// CTWing's compact binary codec, from the profile's services.
    #[arg(long)]
    compact: bool,
    /// A JavaScript codec plug-in (the script's file).
    #[arg(long)]
    script: Option<PathBuf>,
}

impl CodecArgs {
    /// The codec as the API takes it.
    fn json(&self) -> Result<Value> {
        Ok(match (&self.script, self.compact) {
            (Some(file), _) => {
                let script = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?;
                json!({"kind": "script", "script": script})
            }
            (None, true) => json!({"kind": "compact"}),
            (None, false) => json!({"kind": "passthrough"}),
        })
    }
}

#[derive(Debug, Subcommand)]
enum DebugCommand {
    /// What the product's codec makes of an uplink: its hex, or (a compact codec) a service's
    /// properties as JSON.
    Uplink {
        /// The product's id.
        product: String,
        /// The uplink in hex.
        #[arg(required_unless_present = "properties")]
        hex: Option<String>,
        /// The service whose properties these are.
        #[arg(long, requires = "properties")]
        service: Option<String>,
        /// The properties, as a JSON object (with --service; the codec encodes them).
        #[arg(long, conflicts_with = "hex", requires = "service")]
        properties: Option<String>,
    },
    /// The bytes the product's codec makes of a command.
    Command {
        /// The product's id.
        product: String,
        service: String,
        command: String,
        /// Its parameters, as a JSON object.
        #[arg(default_value = "{}")]
        params: String,
    },
}

/// Runs `nbmodem platform iot|aep …`.
pub fn run(flavour: Flavour, args: CtIotArgs) -> Result<ExitCode> {
    let token = ControlToken::read(&args.data).with_context(|| {
        format!(
            "reading the control token in {} (is a platform running with --data {0}?)",
            args.data.display()
        )
    })?;
    let client = Client::new(args.api, Some(token.as_str().to_string()));
    let wait = match &args.command {
        CtIotCommand::Downlink { wait, .. } | CtIotCommand::Command { wait, .. } => *wait,
        _ => None,
    };
    let call = call(flavour, args.command)?;
    let body = call
        .body
        .as_ref()
        .map(|(media, bytes)| (*media, bytes.as_slice()));
    let mut answer = client
        .send_as(call.method, &call.path, body)
        .with_context(|| format!("talking to the platform's API at {}", args.api))?;
    if let Some(wait) = wait.filter(|_| answer.is_success()) {
        answer = follow(&client, &answer, wait)?;
    }
    let text = call.text.filter(|_| std::io::stdout().is_terminal());
    print_answer(&answer, call.list, text)
}

/// The request a subcommand makes.
fn call(flavour: Flavour, command: CtIotCommand) -> Result<Call> {
    let base = format!("/api/{flavour}");
    let device = |imei: &str| format!("{base}/devices/{}", segment(imei));
    Ok(match command {
        CtIotCommand::Devices => Call::get(format!("{base}/devices"), Some("devices")),
        CtIotCommand::Device { command } => match command {
            DeviceCommand::Add {
                imei,
                psk,
                product,
                reply,
                no_reply,
            } => {
                let reply = (reply || no_reply).then_some(reply);
                let new = json!({"imei": imei, "psk": psk, "product": product, "reply": reply});
                Call::post(format!("{base}/devices"), new)
            }
            DeviceCommand::Show { imei } => Call::get(device(&imei), None),
            DeviceCommand::Remove { imei } => Call {
                method: "DELETE",
                ..Call::get(device(&imei), None)
            },
        },
        CtIotCommand::Uplinks {
            imei,
            limit,
            cursor,
        } => {
            let query: Vec<String> = [("limit", limit.map(|l| l as i64)), ("cursor", cursor)]
                .into_iter()
                .filter_map(|(name, value)| Some(format!("{name}={}", value?)))
                .collect();
            let path = format!("{}/uplinks?{}", device(&imei), query.join("&"));
            Call::get(path, Some("uplinks"))
        }
        CtIotCommand::Downlink { imei, hex, .. } => {
            Call::post(format!("{}/downlinks", device(&imei)), json!({"data": hex}))
        }
        CtIotCommand::Downlinks { imei } => {
            Call::get(format!("{}/downlinks", device(&imei)), Some("downlinks"))
        }
        CtIotCommand::Command {
            imei,
            service,
            command,
            params,
            ..
        } => {
            let body = command_body(&service, &command, &params)?;
            Call::post(format!("{}/commands", device(&imei)), body)
        }
        CtIotCommand::Debug { command } => debug_call(&base, command)?,
        CtIotCommand::Operation {
            imei,
            kind,
            path,
            value,
        } => {
            let body = json!({"kind": kind, "path": path, "value": value});
            Call::post(format!("{}/operations", device(&imei)), body)
        }
        CtIotCommand::Operations { imei } => {
            Call::get(format!("{}/operations", device(&imei)), Some("operations"))
        }
        CtIotCommand::Objects { imei } => Call::get(format!("{}/objects", device(&imei)), None),
        CtIotCommand::Products => Call::get(format!("{base}/products"), Some("products")),
        CtIotCommand::Fota { command } => fota::call(&base, command)?,
        CtIotCommand::Product {
            command: ProductCommand::Add { id, profile, codec },
        } => {
            let text = std::fs::read_to_string(&profile)
                .with_context(|| format!("reading {}", profile.display()))?;
            let profile: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", profile.display()))?;
            Call::post(
                format!("{base}/products"),
                json!({"id": id, "profile": profile, "codec": codec.json()?}),
            )
        }
        CtIotCommand::Product {
            command: ProductCommand::Codec { id, codec },
        } => Call {
            method: "PUT",
            ..Call::post(
                format!("{base}/products/{}/codec", segment(&id)),
                codec.json()?,
            )
        },
    })
}

/// The request of a `debug …` subcommand.
fn debug_call(base: &str, command: DebugCommand) -> Result<Call> {
    let product = |id: &str| format!("{base}/products/{}/debug", segment(id));
    Ok(match command {
        DebugCommand::Uplink {
            product: id,
            hex,
            service,
            properties,
        } => {
            let body = match (hex, service, properties) {
                (Some(hex), ..) => json!({"hex": hex}),
                (None, service, Some(properties)) => {
                    json!({"service": service, "properties": json_arg(&properties)?})
                }
                (None, _, None) => {
                    anyhow::bail!("give the uplink's hex, or --service and --properties")
                }
            };
            Call::post(format!("{}/uplink", product(&id)), body)
        }
        DebugCommand::Command {
            product: id,
            service,
            command,
            params,
        } => {
            let body = command_body(&service, &command, &params)?;
            Call::post(format!("{}/command", product(&id)), body)
        }
    })
}

/// A command as the API takes it, its parameters a JSON object as typed.
fn command_body(service: &str, command: &str, params: &str) -> Result<Value> {
    Ok(json!({"service": service, "command": command, "params": json_arg(params)?}))
}

/// A JSON argument as typed.
fn json_arg(text: &str) -> Result<Value> {
    serde_json::from_str(text).with_context(|| format!("{text:?} is not JSON"))
}

/// Asks for the downlink `queued` until it is done (delivered, or answered for a command, or
/// failed), or `wait` has passed; the last answer.
fn follow(client: &Client, queued: &Answer, wait: Duration) -> Result<Answer> {
    let path = format!("/api/downlinks/{}", queued.body["id"]);
    let deadline = Instant::now() + wait;
    let command = queued.body.get("command").is_some();
    loop {
        let answer = client.get(&path)?;
        let done = match answer.body["status"].as_str() {
            Some("answered" | "failed") => true,
            Some("delivered") => !command,
            _ => false,
        };
        if done || !answer.is_success() || Instant::now() >= deadline {
            return Ok(answer);
        }
        std::thread::sleep(FOLLOW_EVERY);
    }
}

/// Prints a successful answer (as `text` makes it, or JSON: a list one item per line) or the
/// error of a failed one.
fn print_answer(
    answer: &Answer,
    list: Option<&str>,
    text: Option<fn(&Value) -> String>,
) -> Result<ExitCode> {
    if !answer.is_success() {
        let why = answer.body["error"].as_str().unwrap_or("no reason given");
        eprintln!("error: {} {why}", answer.status);
        return Ok(ExitCode::FAILURE);
    }
    if let Some(text) = text {
        print!("{}", text(&answer.body));
        return Ok(ExitCode::SUCCESS);
    }
    let items = match list.and_then(|key| answer.body[key].as_array()) {
        Some(items) => items.iter().map(Value::to_string).collect(),
        None => vec![answer.body.to_string()],
    };
    if let Some(next) = answer.body["next"].as_i64() {
        eprintln!("more: --cursor {next}");
    }
    print_lines(items)
}
