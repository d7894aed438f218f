//! What the benchmarks read from Linux's `/proc`: resident memory, thread ids, CPU time on a thread
//! or a process, and the load average (other work on the machine skews every figure).

use anyhow::{bail, Context, Result};
use std::time::Duration;

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {path}"))
}

/// The resident set size of this process (`VmRSS` of `/proc/self/status`).
pub fn rss_bytes() -> Result<u64> {
    let status = read("/proc/self/status")?;
    let Some(line) = status.lines().find(|l| l.starts_with("VmRSS:")) else {
        bail!("no VmRSS in /proc/self/status");
    };
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .context("VmRSS without a value")?
        .parse()?;
    Ok(kib * 1024)
}

/// The bytes glibc's malloc has handed out and not taken back, in its arenas and in blocks of
/// their own (`mallinfo2`): unlike [`crate::alloc`], this counts what C libraries (OpenSSL)
/// allocate too.
pub fn malloc_in_use() -> u64 {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    (info.uordblks + info.hblkhd) as u64
}

/// The kernel's id of the calling thread.
pub fn thread_id() -> Result<u32> {
    let stat = read("/proc/thread-self/stat")?;
    Ok(stat.split(' ').next().context("empty stat")?.parse()?)
}

/// CPU time so far of thread `tid` of this process.
pub fn thread_cpu(tid: u32) -> Result<Duration> {
    schedstat(&format!("/proc/self/task/{tid}/schedstat"))
}

/// CPU time so far of (the main thread of) process `pid`.
pub fn process_cpu(pid: u32) -> Result<Duration> {
    schedstat(&format!("/proc/{pid}/schedstat"))
}

/// The first field of a `schedstat` file: nanoseconds spent on a CPU.
fn schedstat(path: &str) -> Result<Duration> {
    let text = read(path)?;
    let ns: u64 = text.split(' ').next().context("empty schedstat")?.parse()?;
    Ok(Duration::from_nanos(ns))
}

/// The one-minute load average.
pub fn load_average() -> Result<f64> {
    let text = read("/proc/loadavg")?;
    Ok(text.split(' ').next().context("empty loadavg")?.parse()?)
}
