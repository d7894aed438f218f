//! What a long-running nbmodem process needs: its data directory to itself, and to stop on
//! Ctrl-C or SIGTERM.

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// The lock file in a data directory.
pub const LOCK_FILE: &str = "nbmodem.lock";

/// Held while a process uses a data directory; released when dropped (or when the process ends,
/// however it ends).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Takes the data directory `dir` (creating it, owner-only) for this process; refuses, saying so, when another
/// process holds it: two modules or two platforms on one NVRAM and one database would overwrite
/// each other's state.
pub fn lock_data_dir(dir: &Path) -> Result<DataDirLock> {
    crate::private::create_dir(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(TryLockError::WouldBlock) => anyhow::bail!(
            "the data directory {} is in use by another nbmodem process ({} is locked); stop \
             that process or choose another --data",
            dir.display(),
            path.display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// Ctrl-C (SIGINT) and SIGTERM, caught from the moment this is made (inside a tokio runtime):
/// a signal that comes before anyone waits is not lost, and does not kill the process.
pub struct StopSignal {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignal {
    pub fn install() -> std::io::Result<StopSignal> {
        Ok(StopSignal {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Completes at the first of the two signals.
    pub async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_directory_is_held_by_one_lock_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_data_dir(dir.path()).unwrap();
        let refused = lock_data_dir(dir.path()).unwrap_err().to_string();
        assert!(
            refused.contains("in use by another nbmodem process"),
            "{refused}"
        );
        drop(first);
        lock_data_dir(dir.path()).unwrap();
    }
}
