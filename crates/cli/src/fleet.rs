//! `nbmodem fleet FILE`: runs a fleet file in virtual time, or with `--real-time` on sockets
//! and the system clock (docs/fleet.md), and prints its JSON summary; `nbmodem fleet merge SUMMARY…` adds the summaries of a fleet's shards. A progress
//! line goes to standard error while it runs (a line a second at most, on one line at a
//! terminal); `--devices` writes a JSON line per module, `--plot` an SVG picture of the run.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use nbmodem_fleet::{Fleet, Progress, Shard, Summary};
use nbmodem_module::Route;
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
    /// In virtual time, run the shard on this many threads, a slice of the modules and the
    /// stand-ins each (their databases in `part-0`, `part-1`, … of the data directory when more
    /// than one); the summary is the same whatever the number. The processor's cores unless given.
    #[arg(long, conflicts_with = "real_time", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Run in real time: the modules on UDP sockets and the system clock, for the fleet's
    /// duration, the stand-in platforms in this process on loopback.
    #[arg(long)]
    real_time: bool,
    /// In real time, send the modules' traffic for NAME_OR_IP[:PORT] to IP:PORT, a server of
    /// yours, rather than to the stand-ins (repeatable).
    #[arg(
        long = "route",
        value_name = "NAME_OR_IP[:PORT]=IP:PORT",
        requires = "real_time"
    )]
    routes: Vec<Route>,
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
    let progress = progress_line(args.quiet, args.real_time);
    let (mut summary, rows) = match args.real_time {
        true => nbmodem_fleet::real_time::run(&fleet, shard, data, &args.routes, progress)?,
        false => nbmodem_fleet::parallel::run(
            &fleet,
            shard,
            threads(args.threads, fleet.size() / shard.count),
            data,
            progress,
        )?,
    };
    if !args.quiet {
        // The run's end, which the once-a-second line may not have shown (a short run shows
        // only its start).
        show_progress(&progress_at_end(&summary), args.real_time);
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

/// The threads of a virtual-time run: as asked, else one per core, and never more than modules.
fn threads(asked: Option<u16>, modules: usize) -> usize {
    let cores = || std::thread::available_parallelism().map_or(1, |n| n.get());
    asked.map_or_else(cores, usize::from).min(modules).max(1)
}

/// The progress callback: a line on standard error, at most once per [`PROGRESS_EVERY`].
fn progress_line(quiet: bool, real_time: bool) -> impl FnMut(Progress) {
    let mut last: Option<Instant> = None;
    move |p: Progress| {
        if quiet || last.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return;
        }
        last = Some(Instant::now());
        show_progress(&p, real_time);
    }
}

/// Where a finished run got to, as its summary counts it.
fn progress_at_end(summary: &Summary) -> Progress {
    let total = &summary.total;
    Progress {
        virtual_elapsed: Duration::from_secs(summary.virtual_seconds),
        started: total.started,
        modules: total.modules,
        uplinks_sent: total.uplinks_sent,
        uplinks_acknowledged: total.uplinks_acknowledged,
        failures: total.failures.values().sum(),
    }
}

/// The progress line on standard error: rewritten in place on a terminal, a line each else.
fn show_progress(p: &Progress, real_time: bool) {
    let time = if real_time { "time" } else { "virtual time" };
    let line = format!(
        "fleet: {time} {}, {}/{} started, uplinks {} sent {} acknowledged, {} failures",
        clock(p.virtual_elapsed),
        p.started,
        p.modules,
        p.uplinks_sent,
        p.uplinks_acknowledged,
        p.failures
    );
    let mut err = std::io::stderr().lock();
    let _ = match err.is_terminal() {
        true => write!(err, "\r{line}\x1b[K"),
        false => writeln!(err, "{line}"),
    };
}

/// Virtual time since the start as a clock reads it: `03:00:00`, `1d 02:30:00`.
fn clock(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let time = format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    match days {
        0 => time,
        days => format!("{days}d {time}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_reads_virtual_time_as_a_clock() {
        assert_eq!(
            clock(Duration::from_millis((4 * 3600 + 9 * 60) * 1000 + 116)),
            "04:09:00"
        );
        assert_eq!(
            clock(Duration::from_secs(86_400 + 2 * 3600 + 30 * 60)),
            "1d 02:30:00"
        );
    }
}
