//! `nbmodem platform iot|aep fota …`: DFOTA through the API (seed 002 §5.1.5–5.1.6, §5.2.2–5.2.5):
//! a manufacturer's public key, a signed package with its metadata, upgrade tasks.

use super::call::{segment, Call};
use anyhow::{Context, Result};
use clap::Subcommand;
use nbmodem_clock::parse_duration;
use nbmodem_platform::ctiot::fota::UpgradeStatus;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum FotaCommand {
    /// The manufacturers' public keys.
    Keys,
    /// Add (or replace) or remove a manufacturer's public key.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// The packages (without their bytes).
    Packages,
    /// Upload a signed package, or show one.
    Package {
        #[command(subcommand)]
        command: PackageCommand,
    },
    /// The upgrade tasks, with each device's upgrade.
    Tasks,
    /// Create, start or show an upgrade task.
    Task {
        #[command(subcommand)]
        command: TaskCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// The public key (public.pem of `nbmodem fota keygen`) packages of MANUFACTURER are signed
    /// for; the name as the product profile has it.
    Add {
        /// The manufacturer, as the product profile names it.
        manufacturer: String,
        /// The public key file (public.pem).
        public_key: PathBuf,
    },
    /// Remove a manufacturer's public key.
    Remove {
        /// The manufacturer whose key goes.
        manufacturer: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Upload a signed package (`…_signed.zip`); its metadata must match the product's profile.
    Add {
        /// The signed package (…_signed.zip).
        file: PathBuf,
        /// The version it installs: the package's target revision.
        #[arg(long = "version")]
        target: String,
        /// The manufacturer, as the product profile has it (manufacturerId or manufacturerName).
        #[arg(long)]
        manufacturer: String,
        /// The device type, as the profile has it (deviceType).
        #[arg(long)]
        device_type: String,
        /// The model, as the profile has it (model).
        #[arg(long)]
        model: String,
        /// The protocol, as the profile has it (protocolType, e.g. CoAP).
        #[arg(long)]
        protocol: String,
        /// The product whose profile the metadata must match.
        #[arg(long)]
        product: String,
        /// Its id on the platform (default: the `.bin`'s name without `.bin`).
        #[arg(long)]
        id: Option<String>,
    },
    /// A package's metadata.
    Show {
        /// The package's id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Create a task: with --group, the IoT platform's batch task (started at once); without,
    /// an AEP task, started with --start or `fota task start`.
    Add {
        /// The task's id.
        id: String,
        /// The id of the package to install.
        #[arg(long)]
        package: String,
        /// The devices' IMEIs, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        devices: Vec<String>,
        /// The device group of an IoT platform batch task; without it, an AEP task.
        #[arg(long)]
        group: Option<String>,
        /// The task's name as shown (default: its id).
        #[arg(long)]
        name: Option<String>,
        /// Tries after a failed one ("重试次数").
        #[arg(long, default_value_t = 0)]
        retries: u32,
        /// How long after a failure a device may be tried again ("重试策略"), e.g. `5m`.
        #[arg(long, value_parser = parse_duration, default_value = "0s")]
        retry_after: Duration,
        /// The most devices upgrading at once.
        #[arg(long, default_value_t = 1)]
        max_concurrent: u32,
        /// Start at once ("立即启动").
        #[arg(long)]
        start: bool,
    },
    /// Start an AEP task ("立即启动" later).
    Start {
        /// The task's id.
        id: String,
    },
    /// A task with each device's upgrade status and history: as text at a terminal, else (or
    /// with --json) as JSON.
    Show {
        /// The task's id.
        id: String,
        /// JSON even at a terminal.
        #[arg(long)]
        json: bool,
    },
}

/// The request a `fota` subcommand makes; `base` is `/api/<flavour>`.
pub(super) fn call(base: &str, command: FotaCommand) -> Result<Call> {
    let fota = format!("{base}/fota");
    Ok(match command {
        FotaCommand::Keys => Call::get(format!("{fota}/keys"), Some("keys")),
        FotaCommand::Key { command } => match command {
            KeyCommand::Add {
                manufacturer,
                public_key,
            } => {
                let pem =
                    std::fs::read_to_string(&public_key).with_context(|| reading(&public_key))?;
                let new = json!({"manufacturer": manufacturer, "public_key": pem});
                Call::post(format!("{fota}/keys"), new)
            }
            KeyCommand::Remove { manufacturer } => Call {
                method: "DELETE",
                ..Call::get(format!("{fota}/keys/{}", segment(&manufacturer)), None)
            },
        },
        FotaCommand::Packages => Call::get(format!("{fota}/packages"), Some("packages")),
        FotaCommand::Package { command } => match command {
            PackageCommand::Add {
                file,
                target,
                manufacturer,
                device_type,
                model,
                protocol,
                product,
                id,
            } => {
                let form = [
                    ("version", Some(target)),
                    ("manufacturer", Some(manufacturer)),
                    ("device_type", Some(device_type)),
                    ("model", Some(model)),
                    ("protocol", Some(protocol)),
                    ("product", Some(product)),
                    ("id", id),
                ];
                upload(&fota, &file, form)?
            }
            PackageCommand::Show { id } => {
                Call::get(format!("{fota}/packages/{}", segment(&id)), None)
            }
        },
        FotaCommand::Tasks => Call::get(format!("{fota}/tasks"), Some("tasks")),
        FotaCommand::Task { command } => task_call(&fota, command),
    })
}

fn reading(path: &Path) -> String {
    format!("reading {}", path.display())
}

/// The upload of the signed zip `file`, with the form's fields given as query parameters.
fn upload(fota: &str, file: &Path, form: [(&str, Option<String>); 7]) -> Result<Call> {
    let zip = std::fs::read(file).with_context(|| reading(file))?;
    let query: Vec<String> = form
        .into_iter()
        .filter_map(|(name, value)| Some(format!("{name}={}", segment(&value?))))
        .collect();
    Ok(Call {
        method: "POST",
        path: format!("{fota}/packages?{}", query.join("&")),
        body: Some(("application/zip", zip)),
        list: None,
        text: None,
    })
}

fn task_call(fota: &str, command: TaskCommand) -> Call {
    let task = |id: &str| format!("{fota}/tasks/{}", segment(id));
    match command {
        TaskCommand::Add {
            id,
            package,
            devices,
            group,
            name,
            retries,
            retry_after,
            max_concurrent,
            start,
        } => {
            let new = json!({
                "id": id, "name": name, "package": package, "group": group, "devices": devices,
                "retries": retries, "retry_after_s": retry_after.as_secs(),
                "max_concurrent": max_concurrent, "start": start,
            });
            Call::post(format!("{fota}/tasks"), new)
        }
        TaskCommand::Start { id } => Call::post(format!("{}/start", task(&id)), json!({})),
        TaskCommand::Show { id, json } => Call {
            text: (!json).then_some(task_text as fn(&Value) -> String),
            ..Call::get(task(&id), None)
        },
    }
}

/// A task as a person reads it: what it is, how many of its devices are in each status, then
/// each device's upgrade and its history, an event a line.
pub(super) fn task_text(task: &Value) -> String {
    let style = match task["group"].as_str() {
        Some(group) => format!("batch task of group {group}"),
        None => "AEP task".to_string(),
    };
    let started = match task["started"].as_bool() {
        Some(true) => "started",
        _ => "not started",
    };
    let mut text = format!(
        "task {} ({}) on {}: {style} of package {}, {started}\n",
        shown(&task["id"]),
        shown(&task["name"]),
        shown(&task["flavour"]),
        shown(&task["package"]),
    );
    text += &format!(
        "retries {}, retry after {} s, at most {} at once\n",
        shown(&task["retries"]),
        shown(&task["retry_after_s"]),
        shown(&task["max_concurrent"]),
    );
    let counts: Vec<String> = UpgradeStatus::ALL
        .iter()
        .map(|s| format!("{} {}", s.as_str(), shown(&task["statuses"][s.as_str()])))
        .collect();
    text += &counts.join(", ");
    text.push('\n');
    for upgrade in task["upgrades"].as_array().into_iter().flatten() {
        text += &format!(
            "\n{}  {}  attempts {}  result {}\n",
            shown(&upgrade["imei"]),
            shown(&upgrade["status"]),
            shown(&upgrade["attempts"]),
            shown(&upgrade["result"]),
        );
        for event in upgrade["history"].as_array().into_iter().flatten() {
            text += &format!("  {}  {}\n", shown(&event["time"]), shown(&event["text"]));
        }
    }
    text
}

/// A JSON value as text: a string without its quotes, nothing as `-`.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}
