//! Writing the platforms' records off the engine path, with group commit, and answering only what
//! is durable.
//!
//! A node hands each record (and each DM device read) to its [`RecordWriter`] and gets a
//! [`Ticket`]. In real time ([`Writing::Thread`]) a writer thread owns a database connection; it
//! takes whatever has been handed to it meanwhile, writes it in one transaction (one fsync for the
//! whole batch: group commit, SQLite WAL with `synchronous=FULL`), marks the batch's tickets
//! committed and wakes the node's driver. While it waits for the disk, the next batch gathers, so
//! the busier the server, the bigger the batches. In virtual time ([`Writing::Inline`]) each write
//! is committed as it is handed over, so a simulation stays deterministic.
//!
//! [`HeldOutput`] keeps a node's datagrams until the records made before them are committed: an
//! answer never leaves before the record of its request is on disk, and neither does anything
//! sent after it (a retransmitted answer from the CoAP engine's cache included).

use crate::ctiot::{Device as CtIotDevice, Downlink, Flavour, Product, Uplink};
use crate::record::RequestRecord;
use crate::store::{DmDevice, Store, StoreError};
use crate::Console;
use nbmodem_net::Transmit;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::Notify;

/// The most writes in one transaction.
const MAX_BATCH: usize = 4096;

/// What a writer writes.
#[derive(Debug, Clone)]
pub enum Write {
    Record(RequestRecord),
    /// What the DM server read and decrypted about a device (replacing what it knew).
    Device(DmDevice),
    /// A CT IoT platform's product, added or replaced.
    Product(Product),
    /// A device registered with a CT IoT platform, added or replaced.
    CtIotDevice(CtIotDevice),
    /// A device removed from a CT IoT platform, with its downlinks.
    RemoveCtIotDevice(Flavour, String),
    /// An uplink a CT IoT platform received.
    Uplink(Uplink),
    /// A downlink queued, or its new status.
    Downlink(Downlink),
    /// A firmware package accepted by a CT IoT platform.
    FotaPackage(crate::ctiot::fota::Package),
    /// An upgrade task, created or changed.
    FotaTask(crate::ctiot::fota::Task),
    /// A device's upgrade, changed.
    FotaUpgrade(crate::ctiot::fota::Upgrade),
    /// A manufacturer's DFOTA public key, added or replaced.
    FotaKey(crate::ctiot::keys::ManufacturerKey),
    /// A manufacturer's DFOTA public key removed.
    RemoveFotaKey(Flavour, String),
}

/// The place of a write in its writer's order; every write up to a committed ticket is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Ticket(u64);

/// How a node writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writing {
    /// Each write committed at once, on the caller's thread (virtual time).
    Inline,
    /// A writer thread, committing in batches (real time).
    Thread,
}

pub struct RecordWriter {
    mode: Mode,
    next: u64,
    /// Where a line per record goes (`nbmodem platform`, the sandbox), if anywhere.
    console: Option<Console>,
}

enum Mode {
    Inline(Store),
    Thread(Background),
}

struct Background {
    jobs: Option<mpsc::Sender<(Ticket, Write)>>,
    committed: Arc<AtomicU64>,
    wake: Arc<Mutex<Option<Arc<Notify>>>>,
    thread: Option<JoinHandle<()>>,
}

impl RecordWriter {
    /// A writer on the database in `data_dir`.
    pub fn open(data_dir: &Path, writing: Writing) -> Result<RecordWriter, StoreError> {
        let store = Store::open(data_dir)?;
        let mode = match writing {
            Writing::Inline => Mode::Inline(store),
            Writing::Thread => Mode::Thread(Background::start(store)?),
        };
        Ok(RecordWriter {
            mode,
            next: 0,
            console: None,
        })
    }

    /// Gives `console` a line for every record handed over from now on (none: no lines).
    pub fn set_console(&mut self, console: Option<Console>) {
        self.console = console;
    }

    /// Hands a write over; its ticket is committed once it is durable.
    pub fn submit(&mut self, write: Write) -> Ticket {
        self.next += 1;
        let ticket = Ticket(self.next);
        if let Some(console) = &self.console {
            if let Some(line) = console_line(&write) {
                console.line(&line);
            }
        }
        match &mut self.mode {
            Mode::Inline(store) => commit(store, std::slice::from_ref(&write)),
            Mode::Thread(background) => {
                let sent = match &background.jobs {
                    Some(jobs) => jobs.send((ticket, write)).is_ok(),
                    None => false,
                };
                if !sent {
                    tracing::error!("the record writer has stopped: a write is lost");
                }
            }
        }
        ticket
    }

    /// The last ticket handed over.
    pub fn last(&self) -> Ticket {
        Ticket(self.next)
    }

    /// Every write up to this ticket is durable.
    pub fn committed(&self) -> Ticket {
        match &self.mode {
            Mode::Inline(_) => Ticket(self.next),
            Mode::Thread(background) => Ticket(background.committed.load(Ordering::Acquire)),
        }
    }

    /// Who to wake when a batch is committed (the node's real-time driver).
    pub fn set_wake(&mut self, wake: Arc<Notify>) {
        if let Mode::Thread(background) = &self.mode {
            *background.wake.lock().unwrap_or_else(|e| e.into_inner()) = Some(wake);
        }
    }
}

impl Background {
    fn start(store: Store) -> Result<Background, StoreError> {
        let (jobs, inbox) = mpsc::channel();
        let committed = Arc::new(AtomicU64::new(0));
        let wake: Arc<Mutex<Option<Arc<Notify>>>> = Arc::default();
        let (done, woken) = (Arc::clone(&committed), Arc::clone(&wake));
        let thread = std::thread::Builder::new()
            .name("records".into())
            .spawn(move || write_batches(store, inbox, &done, &woken))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the record writer: {e}")))?;
        Ok(Background {
            jobs: Some(jobs),
            committed,
            wake,
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    /// Writes what is still waiting before the writer ends.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread: a batch of everything waiting, one transaction, then the next.
fn write_batches(
    mut store: Store,
    inbox: mpsc::Receiver<(Ticket, Write)>,
    committed: &AtomicU64,
    wake: &Mutex<Option<Arc<Notify>>>,
) {
    while let Ok(first) = inbox.recv() {
        let mut batch = vec![first];
        batch.extend(inbox.try_iter().take(MAX_BATCH - 1));
        let last = batch.last().map_or(Ticket(0), |(ticket, _)| *ticket);
        let writes: Vec<Write> = batch.into_iter().map(|(_, write)| write).collect();
        commit(&mut store, &writes);
        committed.store(last.0, Ordering::Release);
        if let Some(wake) = wake.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            wake.notify_one();
        }
    }
}

/// Writes a batch in one transaction; a database failure is logged, never fatal to the server
/// (the request is answered all the same, as before there was a writer).
/// The console line of a write: a record's, or an uplink's.
fn console_line(write: &Write) -> Option<String> {
    match write {
        Write::Record(record) => Some(record.to_string()),
        Write::Uplink(uplink) => Some(format!(
            "{} {} uplink from {}: {} byte{}{}",
            nbmodem_clock::Instant::from_unix_millis(uplink.time_ms).time_of_day(),
            uplink.flavour,
            uplink.imei,
            uplink.data.len() / 2,
            if uplink.data.len() == 2 { "" } else { "s" },
            if uplink.confirmable { " (CON)" } else { "" }
        )),
        _ => None,
    }
}

fn commit(store: &mut Store, writes: &[Write]) {
    if let Err(e) = store.write_all(writes) {
        tracing::error!("cannot write {} records: {e}", writes.len());
    }
}

/// A node's datagrams, each held until the writes handed over before it was sent are durable.
#[derive(Debug, Default)]
pub struct HeldOutput {
    queue: VecDeque<(Ticket, Transmit)>,
}

impl HeldOutput {
    /// Queues `transmit`, sent after the write `after` (the writer's last ticket then).
    pub fn push(&mut self, after: Ticket, transmit: Transmit) {
        self.queue.push_back((after, transmit));
    }

    /// The next datagram whose writes are all durable, in the order they were queued.
    pub fn pop(&mut self, committed: Ticket) -> Option<Transmit> {
        match self.queue.front() {
            Some((after, _)) if *after <= committed => self.queue.pop_front().map(|(_, t)| t),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Server;
    use nbmodem_clock::Instant;

    fn record(n: u64) -> Write {
        let source = "127.0.0.1:1".parse().unwrap();
        Write::Record(RequestRecord::new(
            Server::Ct,
            Instant::from_unix_millis(n),
            source,
            "register",
        ))
    }

    #[test]
    fn a_thread_commits_in_batches_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RecordWriter::open(dir.path(), Writing::Thread).unwrap();
        let wake = Arc::new(Notify::new());
        writer.set_wake(Arc::clone(&wake));
        let tickets: Vec<Ticket> = (0..1000).map(|n| writer.submit(record(n))).collect();
        let last = *tickets.last().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while writer.committed() < last {
            assert!(std::time::Instant::now() < deadline, "never committed");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let stored = Store::open(dir.path())
            .unwrap()
            .records(Server::Ct)
            .unwrap();
        assert_eq!(stored.len(), 1000, "committed means stored");
        drop(writer);
    }

    #[test]
    fn output_waits_for_the_writes_before_it() {
        let mut held = HeldOutput::default();
        let t = |n| Transmit {
            destination: "127.0.0.1:2".parse().unwrap(),
            payload: vec![n],
        };
        held.push(Ticket(0), t(0));
        held.push(Ticket(2), t(2));
        held.push(Ticket(3), t(3));
        assert_eq!(held.pop(Ticket(1)), Some(t(0)));
        assert_eq!(held.pop(Ticket(1)), None, "its record is not on disk yet");
        assert_eq!(held.pop(Ticket(3)), Some(t(2)));
        assert_eq!(held.pop(Ticket(3)), Some(t(3)));
        assert!(held.is_empty());
    }

    #[test]
    fn inline_writes_are_committed_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RecordWriter::open(dir.path(), Writing::Inline).unwrap();
        let ticket = writer.submit(record(1));
        assert_eq!(writer.committed(), ticket);
    }
}
