//! A shard run in virtual time on several threads at once: the shard is split into as many
//! slices as threads, each slice a shard of its own (`--shard` arithmetic, below) with its own
//! simulated network and stand-ins, and their summaries and rows are added as `nbmodem fleet
//! merge` adds the summaries of processes. A module behaves alike in whichever shard runs it
//! (shard.rs), so the result does not depend on the number of threads; the run's wall time
//! divides by it, up to the cores there are (docs/decisions.md, "A fleet on every core").

use crate::run::{DeviceRow, Progress, Run, RunError};
use crate::shard::Shard;
use crate::spec::Fleet;
use crate::summary::Summary;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// The `slice`-th of `slices` parts of `shard`: the modules `i` with `i % N == K` are split by
/// `i % (N·slices)`, which is `K + N·slice` for exactly one slice.
fn slice(shard: Shard, slice: usize, slices: usize) -> Shard {
    Shard {
        index: shard.index + shard.count * slice,
        count: shard.count * slices,
    }
}

/// Where the stand-ins of slice `slice` keep their database: `data_dir` itself when the run has
/// one slice, else a directory of its own in it (`part-0`, `part-1`, …).
fn slice_data_dir(data_dir: &Path, slice: usize, slices: usize) -> PathBuf {
    match slices {
        1 => data_dir.to_path_buf(),
        _ => data_dir.join(format!("part-{slice}")),
    }
}

/// Runs `shard` of `fleet` on `threads` threads (at least one) and adds up what they measured;
/// `progress` is told, on the calling thread, where the slowest slice is in virtual time and what
/// all of them counted.
pub fn run(
    fleet: &Fleet,
    shard: Shard,
    threads: usize,
    data_dir: &Path,
    mut progress: impl FnMut(Progress),
) -> Result<(Summary, Vec<DeviceRow>), RunError> {
    let slices = threads.max(1);
    let (tell, told) = mpsc::channel::<(usize, Progress)>();
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..slices)
            .map(|k| {
                let tell = tell.clone();
                let dir = slice_data_dir(data_dir, k, slices);
                scope.spawn(move || {
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| RunError::Platform(format!("{}: {e}", dir.display())))?;
                    let run = Run::new(fleet, slice(shard, k, slices), &dir)?;
                    // A closed channel only means nobody reads the progress any more.
                    run.run(|p| {
                        let _ = tell.send((k, p));
                    })
                })
            })
            .collect();
        drop(tell);
        let mut latest = vec![None; slices];
        for (k, p) in told {
            latest[k] = Some(p);
            if let Some(all) = combined(&latest) {
                progress(all);
            }
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("a fleet thread panicked"))
            .collect::<Vec<_>>()
    });
    add_up(results)
}

/// The fleet's progress once every slice has told its own: the virtual time all have reached,
/// and the sum of their counts.
fn combined(latest: &[Option<Progress>]) -> Option<Progress> {
    let mut all = Progress {
        virtual_elapsed: latest.first()?.as_ref()?.virtual_elapsed,
        ..Progress::default()
    };
    for p in latest {
        let p = p.as_ref()?;
        all.virtual_elapsed = all.virtual_elapsed.min(p.virtual_elapsed);
        all.started += p.started;
        all.modules += p.modules;
        all.uplinks_sent += p.uplinks_sent;
        all.uplinks_acknowledged += p.uplinks_acknowledged;
        all.failures += p.failures;
    }
    Some(all)
}

/// The slices' summaries added, and their rows in the order of the modules' global index.
fn add_up(
    results: Vec<Result<(Summary, Vec<DeviceRow>), RunError>>,
) -> Result<(Summary, Vec<DeviceRow>), RunError> {
    let mut summary: Option<Summary> = None;
    let mut rows = Vec::new();
    for result in results {
        let (part, part_rows) = result?;
        rows.extend(part_rows);
        match &mut summary {
            None => summary = Some(part),
            // Slices of one fleet, none named: adding them cannot fail.
            Some(all) => all.merge(&part).expect("slices of one fleet"),
        }
    }
    rows.sort_by_key(|row| row.index);
    Ok((summary.expect("at least one slice"), rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slices_of_a_shard_split_it_without_overlap() {
        let shard: Shard = "1/3".parse().unwrap();
        let slices: Vec<Shard> = (0..4).map(|k| slice(shard, k, 4)).collect();
        for i in 0..120 {
            let owners = slices.iter().filter(|s| s.owns(i)).count();
            assert_eq!(owners, usize::from(shard.owns(i)), "module {i}");
        }
    }

    #[test]
    fn progress_waits_for_every_slice_and_shows_the_slowest() {
        let at = |minutes: u64, sent: u64| Progress {
            virtual_elapsed: std::time::Duration::from_secs(60 * minutes),
            modules: 10,
            started: 10,
            uplinks_sent: sent,
            ..Progress::default()
        };
        assert_eq!(combined(&[Some(at(5, 3)), None]), None);
        let all = combined(&[Some(at(5, 3)), Some(at(2, 4))]).unwrap();
        assert_eq!(all.virtual_elapsed, std::time::Duration::from_secs(120));
        assert_eq!((all.modules, all.uplinks_sent), (20, 7));
    }
}
