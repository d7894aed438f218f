//! `nbmodem fleet FILE`: runs a fleet file in virtual time (docs/fleet.md) and prints its JSON
//! summary; `nbmodem fleet merge SUMMARY…` adds the summaries of a fleet's shards. A progress
//! line goes to standard error while it runs (a line a second at most, on one line at a
//! terminal); `--devices` writes a JSON line per module, `--plot` an SVG picture of the run.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use nbmodem_fleet::{Fleet, Progress, Run, Shard, Summary};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How often the progress line changes.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct FleetArgs {
    #[command(subcommand)]
    command: Option<FleetCommand>,
    /// The fleet file (TOML; docs/fleet.md).
    file: Option<PathBuf>,
    /// Run only the K-th of N slices of the fleet (`0/4`); a Kubernetes Indexed Job's
    /// JOB_COMPLETION_INDEX with NBMODEM_FLEET_SHARDS says it when this is not given.
    #[arg(long)]
    shard: Option<Shard>,
    /// Write the summary here instead of standard output.
    #[arg(long)]
    summary: Option<PathBuf>,
    /// Write a JSON line per module here.
    #[arg(long)]
    devices: Option<PathBuf>,
    /// Draw the run here (SVG).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Where the stand-ins keep their database (a fresh temporary directory unless given).
    #[arg(long)]
    data: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum FleetCommand {
    /// Add the summaries of a fleet's shards into the fleet's (printed on standard output).
    Merge {
        /// The shards' summaries (JSON files).
        #[arg(required = true)]
        summaries: Vec<PathBuf>,
    },
}

pub fn run(args: FleetArgs) -> Result<ExitCode> {
    if let Some(FleetCommand::Merge { summaries }) = args.command {
        return merge(&summaries);
    }
    let Some(file) = &args.file else {
        bail!("give a fleet file (docs/fleet.md), or `merge` and the shards' summaries");
    };
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let fleet = Fleet::parse(&text).with_context(|| file.display().to_string())?;
    let shard = match args.shard {
        Some(shard) => shard,
        None => Shard::from_env(|name| std::env::var(name).ok())?.unwrap_or(Shard::WHOLE),
    };
    let temporary = tempfile::tempdir().context("a directory for the stand-ins' database")?;
    let data = args.data.as_deref().unwrap_or(temporary.path());
    let (mut summary, rows) = Run::new(&fleet, shard, data)?.run(progress_line(args.quiet))?;
    if !args.quiet {
        eprintln!();
    }
    summary.shards = vec![shard.to_string()];
    if let Some(path) = &args.devices {
        let lines: Vec<String> = rows
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<_, _>>()?;
        write(path, &(lines.join("\n") + "\n"))?;
    }
    if let Some(path) = &args.plot {
        write(path, &nbmodem_fleet::plot::svg(&summary))?;
    }
    print_summary(&summary, args.summary.as_deref())
}

/// The progress callback: a line on standard error, at most once per [`PROGRESS_EVERY`].
fn progress_line(quiet: bool) -> impl FnMut(Progress) {
    let mut last: Option<Instant> = None;
    let terminal = std::io::stderr().is_terminal();
    move |p: Progress| {
        if quiet || last.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return;
        }
        last = Some(Instant::now());
        let line = format!(
            "fleet: {} virtual, {}/{} started, uplinks {} sent {} acknowledged, {} failures",
            nbmodem_clock::format_duration(p.virtual_elapsed),
            p.started,
            p.modules,
            p.uplinks_sent,
            p.uplinks_acknowledged,
            p.failures
        );
        let mut err = std::io::stderr().lock();
        let _ = match terminal {
            true => write!(err, "\r{line}\x1b[K"),
            false => writeln!(err, "{line}"),
        };
    }
}

fn merge(paths: &[PathBuf]) -> Result<ExitCode> {
    let mut merged: Option<Summary> = None;
    for path in paths {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let summary: Summary = serde_json::from_value(value["summary"].clone())
            .with_context(|| format!("{} is not a fleet summary", path.display()))?;
        match &mut merged {
            None => merged = Some(summary),
            Some(all) => all
                .merge(&summary)
                .with_context(|| path.display().to_string())?,
        }
    }
    let merged = merged.expect("at least one summary");
    print_summary(&merged, None)
}

/// The summary and the figures read from it, as JSON, to `path` or standard output.
fn print_summary(summary: &Summary, path: Option<&Path>) -> Result<ExitCode> {
    let groups: serde_json::Map<String, serde_json::Value> = summary
        .groups
        .iter()
        .map(|(name, tally)| (name.clone(), Summary::readout(tally)))
        .collect();
    let document = serde_json::json!({
        "readout": {"total": Summary::readout(&summary.total), "groups": groups},
        "summary": summary,
    });
    let text = serde_json::to_string_pretty(&document)? + "\n";
    match path {
        Some(path) => write(path, &text)?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
