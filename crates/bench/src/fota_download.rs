//! `nbmodem-bench fota-download`: a BC260Y-CN in virtual time beside the stand-in platforms (as a
//! scenario with `--platform` runs it) is upgraded by DFOTA with a package of `--size` payload
//! bytes, as in `tests/scenarios/seed_002_dfota_iot.scn`: registered and observed on the IoT
//! platform, a batch task created, an uplink triggers it. Times on the wall clock, `--runs` times,
//! each on a fresh module and fresh platforms: from the uplink to `DOWNLOAD,0` (the platform's
//! observe of /5/0/3 and write of the URI, and the download), the download alone (from
//! `DOWNLOAD START` to `DOWNLOAD,0`), and the whole upgrade (from the uplink to `END,0`).
//!
//! The link is loss-free. By default it has no delay either, as in the scenarios: a whole
//! download then happens at one instant of virtual time, so that the lines of the module are
//! read only once it is over, and only the time from the uplink means anything. With
//! `--delay-ms`, every datagram takes that long in virtual time, each block is a step of its own,
//! and the download alone can be timed.

use anyhow::{bail, Context, Result};
use nbmodem_fota::DeltaPackage;
use nbmodem_net::sim::Conditions;
use nbmodem_platform::ctiot::admin::NewTask;
use nbmodem_platform::ctiot::NewDevice;
use nbmodem_platform::Flavour;
use nbmodem_scenario::{Bench, ModuleSetup, StandIns};
use std::time::{Duration, Instant};

const MODEL: &str = "BC260Y-CN";
const SOURCE: &str = "BC260YCNAAR02A01";
const TARGET: &str = "BC260YCNAAR02A01_BETA1230A";
const PACKAGE: &str = "p1";
/// How long, in virtual time, a line may take to come.
const LINE_LIMIT: Duration = Duration::from_secs(600);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Payload bytes of the delta package (its header adds 89).
    #[arg(long, default_value_t = 100 * 1024)]
    size: usize,
    /// Upgrades, each on a fresh module and fresh platforms.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// One-way delay of every datagram, in milliseconds of virtual time.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
}

/// The wall-clock times of one upgrade.
#[derive(Debug, Clone, Copy)]
struct Timing {
    to_downloaded: Duration,
    download: Duration,
    upgrade: Duration,
    /// Virtual time the download took.
    virtual_download: Duration,
    /// `DOWNLOADING` lines written.
    progress_lines: usize,
}

pub fn run(args: Args) -> Result<()> {
    let package = DeltaPackage::make(SOURCE, TARGET, args.size, 7)?.encode();
    println!(
        "fota-download: {MODEL}, a {}-byte package ({} payload bytes), {} runs, load average \
         {:.2}",
        package.len(),
        args.size,
        args.runs,
        crate::sys::load_average()?
    );
    let mut timings = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        timings.push(upgrade_once(
            &package,
            Duration::from_millis(args.delay_ms),
        )?);
    }
    let first = timings[0];
    println!(
        "each run: {} DOWNLOADING lines, the download {:.1} s of virtual time",
        first.progress_lines,
        first.virtual_download.as_secs_f64()
    );
    report("uplink to DOWNLOAD,0", &timings, |t| t.to_downloaded);
    if args.delay_ms > 0 {
        report("download (DOWNLOAD START to DOWNLOAD,0)", &timings, |t| {
            t.download
        });
    }
    report("whole upgrade (uplink to END,0)", &timings, |t| t.upgrade);
    Ok(())
}

/// Prints the minimum, median and maximum of one figure over the runs.
fn report(what: &str, timings: &[Timing], figure: impl Fn(&Timing) -> Duration) {
    let mut values: Vec<Duration> = timings.iter().map(figure).collect();
    values.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what}: min {:.2} ms, median {:.2} ms, max {:.2} ms",
        ms(values[0]),
        ms(values[values.len() / 2]),
        ms(values[values.len() - 1])
    );
}

/// A module and the stand-ins, the module registered and observed on the IoT platform.
fn registered_module() -> Result<(Bench, StandIns)> {
    let mut setup = ModuleSetup::model(MODEL);
    let mut stand_ins = StandIns::new(&mut setup)?;
    let mut bench = Bench::new(setup)?;
    stand_ins.attach(&mut bench)?;
    bench.power_on();
    let imei = bench.module().imei().to_string();
    let device = NewDevice {
        imei,
        psk: None,
        product: None,
        reply: None,
    };
    stand_ins
        .add_device(Flavour::Iot, device)
        .map_err(anyhow::Error::msg)?;
    wait_for(&mut bench, "+CPIN: READY")?;
    bench.advance(Duration::from_secs(3));
    bench.send_line("AT+QSCLK=0");
    wait_for(&mut bench, "OK")?;
    bench.send_line("AT+NCDPOPEN=\"180.101.147.115\",5683");
    wait_for(&mut bench, "+QLWEVTIND: 3")?;
    Ok((bench, stand_ins))
}

/// Puts the package and a batch task for the module on the IoT platform.
fn create_task(bench: &mut Bench, stand_ins: &mut StandIns, package: &[u8]) -> Result<()> {
    stand_ins
        .add_package(Flavour::Iot, PACKAGE, package.to_vec(), None)
        .map_err(anyhow::Error::msg)?;
    let task = NewTask {
        id: "t1".into(),
        name: None,
        package: PACKAGE.into(),
        group: Some("DFOTA".into()),
        devices: vec![bench.module().imei().to_string()],
        retries: 0,
        retry_after_s: 0,
        max_concurrent: 1,
        start: false,
    };
    stand_ins
        .create_task(Flavour::Iot, task)
        .map_err(anyhow::Error::msg)
}

/// One upgrade on a fresh module and fresh platforms; only the upgrade itself is timed.
fn upgrade_once(package: &[u8], delay: Duration) -> Result<Timing> {
    let (mut bench, mut stand_ins) = registered_module()?;
    create_task(&mut bench, &mut stand_ins, package)?;
    bench.network().set_conditions(Conditions {
        delay,
        ..Conditions::default()
    });
    let start = Instant::now();
    bench.send_line("AT+NMGS=5,00454c4c4f");
    wait_for(&mut bench, "\"DOWNLOAD START\"")?;
    let (download_start, virtual_start) = (Instant::now(), bench.now());
    let progress_lines = wait_for(&mut bench, "\"DOWNLOAD\",0")?;
    let (downloaded, virtual_end) = (Instant::now(), bench.now());
    wait_for(&mut bench, "\"END\",0")?;
    let ended = Instant::now();
    Ok(Timing {
        to_downloaded: downloaded - start,
        download: downloaded - download_start,
        upgrade: ended - start,
        virtual_download: virtual_end.saturating_since(virtual_start),
        progress_lines: progress_lines - 1,
    })
}

/// Runs the module until it writes a line containing `needle`; returns how many lines came (that
/// one included). A `"FOTA"` line that is not progress and not the one waited for is a failure.
fn wait_for(bench: &mut Bench, needle: &str) -> Result<usize> {
    let mut count = 0;
    loop {
        count += 1;
        let line = bench
            .next_line(LINE_LIMIT)
            .with_context(|| format!("no {needle} within {LINE_LIMIT:?} of virtual time"))?;
        if line.contains(needle) {
            return Ok(count);
        }
        let progress = ["DOWNLOADING", "START", "UPDATING"];
        if line.contains("\"FOTA\"") && !progress.iter().any(|p| line.contains(p)) {
            bail!("{line} while waiting for {needle}");
        }
    }
}
