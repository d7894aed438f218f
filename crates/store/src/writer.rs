//! Writing the platforms' records off the engine path, with group commit, and answering only what
//! is durable.
//!
//! A node hands each record (and each DM device read) to its [`RecordWriter`] and gets a
//! [`Ticket`]. In real time ([`Writing::Thread`]) a writer thread owns a database connection; it
//! takes whatever has been handed to it meanwhile, writes it in one transaction (one fsync for the
//! whole batch: group commit, SQLite WAL with `synchronous=FULL`), marks the batch's tickets
//! committed and wakes the node's driver. While it waits for the disk, the next batch gathers, so
//! the busier the server, the bigger the batches. In virtual time ([`Writing::Inline`]) the writes
//! of each step of a server (a datagram served, a timer) are committed as they are handed over, in
//! one transaction, so a simulation stays deterministic; [`Writing::Unsynced`]
//! does the same without waiting for the disk, for a simulation that asks for no durability.
//!
//! [`HeldOutput`] keeps a node's datagrams until the records made before them are committed: an
//! answer never leaves before the record of its request is on disk, and neither does anything
//! sent after it (a retransmitted answer from the CoAP engine's cache included).
//!
//! A commit that fails (a full disk) releases nothing: the writes stay with the writer, which
//! tries them again (a thread after a pause, inline at the next chance) until they are stored,
//! and only then are their tickets committed. Meanwhile the nodes ask [`RecordWriter::refuses`]
//! and serve no new datagram, so the devices retransmit until there is room again. A writer
//! opened to [`OnFailure::GiveUp`] (the API's, whose changes are made to the state only once
//! durable) drops the failed batch instead and says so ([`RecordWriter::given_up`]), so that the
//! change is refused. What the writers of one database went through (failed commits, requests
//! refused, records left out or removed) is counted in its [`Storage`], which the API shows.
//!
//! Whoever follows what is stored (the web console's live events) gives the writer an
//! [`Observer`]: it is called with each write once the batch holding it is committed (never with
//! a write given up), on the thread that committed it, so it must be quick and never block.
//!
//! Rejected and dropped requests are recorded [`SAMPLED_PER_SECOND`] a second at most per writer
//! (a flood of malformed datagrams is not a row each), and the database keeps the newest
//! [`Storage::records_kept`] records ([`DEFAULT_RECORDS_KEPT`] unless told otherwise).

use crate::{Console, Store, StoreError};
use nbmodem_standin::{Journal, RequestRecord, Verdict};
/// What a writer takes, and the place of each in its order.
pub use nbmodem_standin::{Ticket, Write};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::Notify;

/// The most writes in one transaction.
const MAX_BATCH: usize = 4096;

/// How many writes a [`Writing::Batched`] writer holds back before it commits them. Far more than
/// a thread's batch: each commit writes every page its batch changed, and a fleet's uplinks and
/// records land all over their indexes, so the fewer the commits, the fewer times a page is
/// written. A 30 000-module day on one thread: 8 % less CPU with 16 384 than with 4 096, 5 % less
/// again with 65 536, for 12 and then 29 MB more memory.
const HELD_BACK: usize = 65536;

/// The most rejected or dropped requests a writer records in one second of its clock; the
/// others are counted, and the next one recorded says how many it stands for.
pub const SAMPLED_PER_SECOND: u32 = 10;

/// How many request records a database keeps unless told otherwise: the oldest go first.
pub const DEFAULT_RECORDS_KEPT: u64 = 100_000;

/// The pause after a failed commit, doubled at each failure up to [`LAST_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(50);
const LAST_RETRY: Duration = Duration::from_secs(1);

/// How a node writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writing {
    /// Each write committed at once, on the caller's thread (virtual time); the writes of one
    /// step of a server ([`RecordWriter::submit_all`]) in one transaction.
    Inline,
    /// A writer thread, committing in batches (real time).
    Thread,
    /// As [`Writing::Inline`], but the database does not wait for the disk (SQLite
    /// `synchronous=OFF`): a commit survives this process ending, not the machine's. For a
    /// simulation that asks for no durability (a fleet), where an fsync per simulated uplink
    /// would be most of the run's time.
    Unsynced,
    /// As [`Writing::Unsynced`], and the writes are not even committed at each step: a write
    /// counts as done once handed over, and they are committed [`HELD_BACK`] at a time, or when
    /// the writer is flushed ([`RecordWriter::flush`]) or dropped. For a fleet, whose run reads
    /// the database only at its end, where a commit per step would be most of the run's time;
    /// not for a scenario, which reads what the platform stored as it goes.
    Batched,
}

/// What a writer does with a batch whose commit failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Keeps it and tries again until it is stored (the servers: what they answered waits).
    Retry,
    /// Drops it; its tickets are given up (the API: nothing was changed, the caller is told).
    GiveUp,
}

/// What the writers of one database went through, shared by all of them (one per database file
/// in the process, whoever opens it: the servers, the API).
#[derive(Debug)]
pub struct Storage {
    records_kept: AtomicU64,
    /// Whether rejected and dropped requests are sampled (a simulation that counts them all
    /// switches it off).
    sampling: AtomicBool,
    /// Writers whose last commit failed.
    failing: AtomicU64,
    failed_commits: AtomicU64,
    last_error: Mutex<Option<String>>,
    refused: AtomicU64,
    unrecorded: AtomicU64,
    removed: AtomicU64,
}

/// A [`Storage`] as the API shows it (`GET /api/storage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageReport {
    /// False while a commit is failing: the servers answer nothing new until it succeeds.
    pub writable: bool,
    /// Commits that failed (each retried until it succeeded).
    pub failed_commits: u64,
    /// Why the last failed commit failed.
    pub last_error: Option<String>,
    /// Requests (datagrams, API changes) not served while a commit was failing.
    pub refused_requests: u64,
    /// Rejected or dropped requests not recorded (beyond the sample).
    pub unrecorded_requests: u64,
    /// Records removed, oldest first, to keep `records_kept`.
    pub removed_records: u64,
    pub records_kept: u64,
}

impl Storage {
    /// The storage of the database in `data_dir`.
    pub fn of(data_dir: &Path) -> Arc<Storage> {
        static ALL: OnceLock<Mutex<HashMap<PathBuf, Arc<Storage>>>> = OnceLock::new();
        let key = data_dir
            .canonicalize()
            .unwrap_or_else(|_| data_dir.to_path_buf());
        let mut all = ALL
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Arc::clone(all.entry(key).or_insert_with(|| {
            Arc::new(Storage {
                records_kept: AtomicU64::new(DEFAULT_RECORDS_KEPT),
                sampling: AtomicBool::new(true),
                failing: AtomicU64::new(0),
                failed_commits: AtomicU64::new(0),
                last_error: Mutex::new(None),
                refused: AtomicU64::new(0),
                unrecorded: AtomicU64::new(0),
                removed: AtomicU64::new(0),
            })
        }))
    }

    /// Keeps the newest `records` request records from the next commit on (at least one).
    pub fn set_records_kept(&self, records: u64) {
        self.records_kept.store(records.max(1), Ordering::Relaxed);
    }

    pub fn records_kept(&self) -> u64 {
        self.records_kept.load(Ordering::Relaxed)
    }

    /// Records every rejected and dropped request from now on, not a sample of them (a fleet
    /// simulation counts each module's from the records).
    pub fn record_every_request(&self) {
        self.sampling.store(false, Ordering::Relaxed);
    }

    /// Whether a commit on this database is failing now.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Acquire) > 0
    }

    pub fn report(&self) -> StorageReport {
        let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StorageReport {
            writable: !self.is_failing(),
            failed_commits: count(&self.failed_commits),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            refused_requests: count(&self.refused),
            unrecorded_requests: count(&self.unrecorded),
            removed_records: count(&self.removed),
            records_kept: self.records_kept(),
        }
    }
}

/// Called with each write once it is durable ([`RecordWriter::set_observer`]).
pub type Observer = Arc<dyn Fn(&Write) + Send + Sync>;

/// The observer a writer's committer calls, set after the writer started.
type ObserverSlot = Arc<Mutex<Option<Observer>>>;

pub struct RecordWriter {
    mode: Mode,
    observer: ObserverSlot,
    next: u64,
    /// Where a line per record goes (`nbmodem platform`, the sandbox), if anywhere.
    console: Option<Console>,
    storage: Arc<Storage>,
    sampler: Sampler,
}

enum Mode {
    Inline(Inline),
    Thread(Background),
}

/// Inline writing: what is not stored yet (after a failed commit) waits here for the next try.
struct Inline {
    committer: Committer,
    waiting: Vec<Write>,
    committed: u64,
    given_up: u64,
    /// [`Writing::Batched`]: the writes wait for a full batch.
    batched: bool,
}

struct Background {
    jobs: Option<mpsc::Sender<(Ticket, Write)>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl RecordWriter {
    /// A writer on the database in `data_dir`, trying a failed commit again until it succeeds.
    pub fn open(data_dir: &Path, writing: Writing) -> Result<RecordWriter, StoreError> {
        Self::open_with(data_dir, writing, OnFailure::Retry)
    }

    /// A writer on the database in `data_dir`, doing what `on_failure` says with a failed commit.
    pub fn open_with(
        data_dir: &Path,
        writing: Writing,
        on_failure: OnFailure,
    ) -> Result<RecordWriter, StoreError> {
        let store = Store::open(data_dir)?;
        if matches!(writing, Writing::Unsynced | Writing::Batched) {
            store.write_for_simulation()?;
        }
        let storage = Storage::of(data_dir);
        let observer = ObserverSlot::default();
        let committer = Committer {
            store,
            storage: Arc::clone(&storage),
            failing: false,
            on_failure,
            observer: Arc::clone(&observer),
        };
        let mode = match writing {
            Writing::Inline | Writing::Unsynced | Writing::Batched => Mode::Inline(Inline {
                committer,
                waiting: Vec::new(),
                committed: 0,
                given_up: 0,
                batched: writing == Writing::Batched,
            }),
            Writing::Thread => Mode::Thread(Background::start(committer)?),
        };
        Ok(RecordWriter {
            mode,
            observer,
            next: 0,
            console: None,
            storage,
            sampler: Sampler::default(),
        })
    }

    /// Gives `console` a line for every record handed over from now on (none: no lines).
    pub fn set_console(&mut self, console: Option<Console>) {
        self.console = console;
    }

    /// Calls `observer` with each write once it is committed, from now on (replacing any other).
    pub fn set_observer(&mut self, observer: Observer) {
        *self.observer.lock().unwrap_or_else(|e| e.into_inner()) = Some(observer);
    }

    /// Hands a write over; its ticket is committed once it is durable. A rejected or dropped
    /// request beyond the sample is only counted (its ticket is the last one's).
    pub fn submit(&mut self, write: Write) -> Ticket {
        self.submit_all([write])
    }

    /// Hands over the writes of one step of a server, in order; the last one's ticket is
    /// committed once they all are durable. Inline, they are committed in one transaction: a
    /// CT IoT uplink's record, its stored uplink and the reply queued and sent are one commit
    /// rather than four.
    pub fn submit_all(&mut self, writes: impl IntoIterator<Item = Write>) -> Ticket {
        let mut handed = false;
        for write in writes {
            handed |= self.hand_over(write);
        }
        if let (Mode::Inline(inline), true) = (&mut self.mode, handed) {
            inline.step_done(Ticket(self.next));
        }
        self.last()
    }

    /// Commits what a batched writer holds back ([`Writing::Batched`]), so that another
    /// connection reads it all.
    pub fn flush(&mut self) {
        if let Mode::Inline(inline) = &mut self.mode {
            inline.try_commit(Ticket(self.next));
        }
    }

    /// Gives `write` a ticket and queues it for its commit (or sends it to the writer thread);
    /// false for a request record left out of the sample.
    fn hand_over(&mut self, mut write: Write) -> bool {
        if let Write::Record(record) = &mut write {
            let sampling = self.storage.sampling.load(Ordering::Relaxed);
            if sampling && !self.sampler.keep(record) {
                self.storage.unrecorded.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        }
        self.next += 1;
        let ticket = Ticket(self.next);
        if let Some(console) = &self.console {
            if let Some(line) = console_line(&write) {
                console.line(&line);
            }
        }
        match &mut self.mode {
            Mode::Inline(inline) => inline.waiting.push(write),
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
        true
    }

    /// Whether a request (a datagram, an API change) must be left unserved because the
    /// database cannot be written now (it is counted). A thread's writer asks whether any writer
    /// of the database is failing (each tries again on its own); an inline one tries its waiting
    /// writes again, and asks only about itself, since nothing else would try another's.
    pub fn refuses(&mut self) -> bool {
        let refuses = match &mut self.mode {
            Mode::Inline(inline) => {
                // A batched writer tries again only after a failed batch.
                if !inline.batched || inline.committer.failing {
                    inline.try_commit(Ticket(self.next));
                }
                inline.committer.failing
            }
            Mode::Thread(_) => self.storage.is_failing(),
        };
        if refuses {
            self.storage.refused.fetch_add(1, Ordering::Relaxed);
        }
        refuses
    }

    /// The storage of this writer's database.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// The last ticket handed over.
    pub fn last(&self) -> Ticket {
        Ticket(self.next)
    }

    /// Every write up to this ticket is durable.
    pub fn committed(&self) -> Ticket {
        match &self.mode {
            Mode::Inline(inline) => Ticket(inline.committed),
            Mode::Thread(background) => Ticket(background.shared.committed.load(Ordering::Acquire)),
        }
    }

    /// The last ticket of the last batch given up ([`OnFailure::GiveUp`]): the newest ticket
    /// handed over is either committed, given up or still on its way.
    pub fn given_up(&self) -> Ticket {
        match &self.mode {
            Mode::Inline(inline) => Ticket(inline.given_up),
            Mode::Thread(background) => Ticket(background.shared.given_up.load(Ordering::Acquire)),
        }
    }

    /// Who to wake when a batch is committed, or a commit failed (the node's real-time driver).
    pub fn set_wake(&mut self, wake: Arc<Notify>) {
        if let Mode::Thread(background) = &self.mode {
            *background
                .shared
                .wake
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(wake);
        }
    }
}

/// The servers' shells write through a writer.
impl Journal for RecordWriter {
    fn submit(&mut self, write: Write) -> Ticket {
        RecordWriter::submit(self, write)
    }

    fn submit_all(&mut self, writes: Vec<Write>) -> Ticket {
        RecordWriter::submit_all(self, writes)
    }

    fn last(&self) -> Ticket {
        RecordWriter::last(self)
    }

    fn committed(&self) -> Ticket {
        RecordWriter::committed(self)
    }

    fn refuses(&mut self) -> bool {
        RecordWriter::refuses(self)
    }
}

impl Drop for RecordWriter {
    /// A batched writer commits what it holds back.
    fn drop(&mut self) {
        self.flush();
    }
}

impl Inline {
    /// The writes of a step are handed over, the newest with ticket `last`: committed now, or,
    /// batched, counted as done and committed with a full batch.
    fn step_done(&mut self, last: Ticket) {
        if self.batched {
            self.committed = last.0;
            if self.waiting.len() < HELD_BACK {
                return;
            }
        }
        self.try_commit(last);
    }

    /// Stores what waits, if anything does; `last` is the ticket of the newest write.
    fn try_commit(&mut self, last: Ticket) {
        if self.waiting.is_empty() {
            return;
        }
        if self.committer.try_commit(&self.waiting) {
            self.committed = last.0;
        } else if self.committer.on_failure == OnFailure::GiveUp {
            self.given_up = last.0;
        } else {
            return;
        }
        self.waiting.clear();
    }
}

/// A database connection that counts its failed commits in its [`Storage`].
struct Committer {
    store: Store,
    storage: Arc<Storage>,
    /// Whether the last commit failed.
    failing: bool,
    on_failure: OnFailure,
    observer: ObserverSlot,
}

impl Committer {
    /// Writes `writes` in one transaction; false if it failed (nothing of it stored).
    fn try_commit(&mut self, writes: &[Write]) -> bool {
        let storage = &self.storage;
        match self.store.write_all(writes, storage.records_kept()) {
            Ok(removed) => {
                storage.removed.fetch_add(removed, Ordering::Relaxed);
                if std::mem::take(&mut self.failing) {
                    storage.failing.fetch_sub(1, Ordering::AcqRel);
                    tracing::warn!("records: the database is written again");
                }
                self.observe(writes);
                true
            }
            Err(e) => {
                storage.failed_commits.fetch_add(1, Ordering::Relaxed);
                *storage.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                // A writer that gives up has nothing waiting: the database is not failing for it.
                let retries = self.on_failure == OnFailure::Retry;
                if retries && !std::mem::replace(&mut self.failing, true) {
                    storage.failing.fetch_add(1, Ordering::AcqRel);
                    // One line per run of failures; logging never stops the writer (main sets
                    // the subscriber not to panic when standard error is full too).
                    tracing::error!(
                        "records: cannot store {} write{} ({e}); what waits for them is held, and they are tried again",
                        writes.len(),
                        if writes.len() == 1 { "" } else { "s" }
                    );
                }
                false
            }
        }
    }
}

impl Committer {
    /// Tells the observer, if there is one, of `writes`, now committed.
    fn observe(&self, writes: &[Write]) {
        let observer = self
            .observer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(observer) = observer {
            writes.iter().for_each(|write| observer(write));
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        if self.failing {
            self.storage.failing.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Background {
    fn start(committer: Committer) -> Result<Background, StoreError> {
        let (jobs, inbox) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("records".into())
            .spawn(move || write_batches(committer, inbox, &theirs))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the record writer: {e}")))?;
        Ok(Background {
            jobs: Some(jobs),
            shared,
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    /// Writes what is still waiting before the writer ends (unless a commit keeps failing).
    fn drop(&mut self) {
        self.jobs = None;
        self.shared.stopping.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the writer thread shares with its [`RecordWriter`].
#[derive(Default)]
struct Shared {
    committed: AtomicU64,
    given_up: AtomicU64,
    wake: Mutex<Option<Arc<Notify>>>,
    /// Set when the writer is dropped: a failing commit is then abandoned.
    stopping: AtomicBool,
}

impl Shared {
    fn wake(&self) {
        if let Some(wake) = self.wake.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            wake.notify_one();
        }
    }
}

/// The writer thread: a batch of everything waiting, one transaction, then the next.
fn write_batches(
    mut committer: Committer,
    inbox: mpsc::Receiver<(Ticket, Write)>,
    shared: &Shared,
) {
    while let Ok(first) = inbox.recv() {
        let mut batch = vec![first];
        batch.extend(inbox.try_iter().take(MAX_BATCH - 1));
        let last = batch.last().map_or(Ticket(0), |(ticket, _)| *ticket);
        let writes: Vec<Write> = batch.into_iter().map(|(_, write)| write).collect();
        let outcome = match store_batch(&mut committer, &writes, shared) {
            Some(true) => &shared.committed,
            Some(false) => &shared.given_up,
            None => return,
        };
        outcome.store(last.0, Ordering::Release);
        shared.wake();
    }
}

/// Commits `writes`, after a pause each time it fails: true once stored, false if given up
/// ([`OnFailure::GiveUp`]), none if the writer is stopping meanwhile.
fn store_batch(committer: &mut Committer, writes: &[Write], shared: &Shared) -> Option<bool> {
    let mut pause = FIRST_RETRY;
    while !committer.try_commit(writes) {
        if committer.on_failure == OnFailure::GiveUp {
            return Some(false);
        }
        if shared.stopping.load(Ordering::Acquire) {
            tracing::error!("records: stopping with writes not stored (none was acknowledged)");
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(LAST_RETRY);
    }
    Some(true)
}

/// Which rejected and dropped requests are recorded: the first [`SAMPLED_PER_SECOND`] of each
/// second (by the records' clock), the first of them after a gap noting how many were left out.
#[derive(Debug, Default)]
struct Sampler {
    second: u64,
    recorded: u32,
    left_out: u64,
}

impl Sampler {
    /// Whether `record` is stored; if it is, it carries `unrecorded_before` after a gap.
    fn keep(&mut self, record: &mut RequestRecord) -> bool {
        if matches!(record.verdict, Verdict::Accepted | Verdict::Failed) {
            return true;
        }
        let second = record.time_ms / 1000;
        if second != self.second {
            self.second = second;
            self.recorded = 0;
        }
        if self.recorded == SAMPLED_PER_SECOND {
            self.left_out += 1;
            return false;
        }
        self.recorded += 1;
        let left_out = std::mem::take(&mut self.left_out);
        if let (serde_json::Value::Object(fields), 1..) = (&mut record.fields, left_out) {
            fields.insert("unrecorded_before".into(), left_out.into());
        }
        true
    }
}

/// The console line of a write: a record's, or an uplink's.
fn console_line(write: &Write) -> Option<String> {
    match write {
        Write::Record(record) => Some(record.to_string()),
        Write::Uplink(uplink) => Some(format!(
            "{} {} uplink from {}: {} byte{}{}",
            nbmodem_clock::Instant::from_unix_millis(uplink.time_ms).time_of_day(),
            uplink.flavour,
            uplink.imei,
            uplink.data.len(),
            if uplink.data.len() == 1 { "" } else { "s" },
            if uplink.confirmable { " (CON)" } else { "" }
        )),
        _ => None,
    }
}

/// The tests' full disk (shared with the crate's integration tests).
#[cfg(test)]
#[path = "../tests/shared/full_disk.rs"]
mod full_disk;

#[cfg(test)]
mod tests {
    use super::*;
    use nbmodem_clock::Instant;
    use nbmodem_standin::Server;

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

    use super::full_disk;

    fn rejected(ms: u64) -> Write {
        let Write::Record(record) = record(ms) else {
            unreachable!()
        };
        Write::Record(record.verdict(Verdict::Rejected, Some("4.00".into())))
    }

    fn stored(dir: &Path) -> Vec<RequestRecord> {
        Store::open(dir).unwrap().records(Server::Ct).unwrap()
    }

    /// Waits (10 s at most) for `done`.
    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "never {what}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn a_failed_commit_releases_nothing_and_is_tried_until_it_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RecordWriter::open(dir.path(), Writing::Thread).unwrap();
        let storage = Arc::clone(writer.storage());
        full_disk::fill(dir.path());
        let last = (0..100).map(|n| writer.submit(record(n))).last().unwrap();
        wait_for("failing", || storage.is_failing());
        assert!(writer.committed() < last, "nothing is committed");
        assert!(stored(dir.path()).is_empty());
        let report = storage.report();
        assert!(!report.writable && report.failed_commits >= 1);
        assert!(report.last_error.unwrap().contains(full_disk::FULL));
        full_disk::free(dir.path());
        wait_for("committed", || writer.committed() >= last);
        assert_eq!(stored(dir.path()).len(), 100, "every write, once");
        assert!(storage.report().writable);
    }

    #[test]
    fn a_writer_that_gives_up_says_which_writes_it_gave_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer =
            RecordWriter::open_with(dir.path(), Writing::Inline, OnFailure::GiveUp).unwrap();
        full_disk::fill(dir.path());
        let lost = writer.submit(record(1));
        assert!(writer.committed() < lost && writer.given_up() >= lost);
        assert!(!writer.storage().is_failing(), "nothing waits to be stored");
        full_disk::free(dir.path());
        let kept = writer.submit(record(2));
        assert_eq!(writer.committed(), kept);
        assert_eq!(stored(dir.path()).len(), 1);
    }

    #[test]
    fn a_database_told_to_record_every_request_keeps_every_rejection() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RecordWriter::open(dir.path(), Writing::Inline).unwrap();
        writer.storage().record_every_request();
        for _ in 0..25 {
            writer.submit(rejected(7_000));
        }
        assert_eq!(stored(dir.path()).len(), 25);
        assert_eq!(writer.storage().report().unrecorded_requests, 0);
    }

    #[test]
    fn rejected_requests_are_sampled_and_the_next_sample_says_how_many_were_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RecordWriter::open(dir.path(), Writing::Inline).unwrap();
        for _ in 0..25 {
            writer.submit(rejected(7_000));
        }
        for n in 0..3 {
            writer.submit(record(7_000 + n));
        }
        writer.submit(rejected(8_000));
        let records = stored(dir.path());
        let rejected: Vec<&RequestRecord> = records
            .iter()
            .filter(|r| r.verdict == Verdict::Rejected)
            .collect();
        assert_eq!(rejected.len(), SAMPLED_PER_SECOND as usize + 1);
        assert_eq!(
            records.len() - rejected.len(),
            3,
            "accepted ones are all kept"
        );
        assert_eq!(rejected.last().unwrap().fields["unrecorded_before"], 15);
        assert_eq!(writer.storage().report().unrecorded_requests, 15);
    }

    #[test]
    fn only_the_newest_records_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RecordWriter::open(dir.path(), Writing::Inline).unwrap();
        writer.storage().set_records_kept(50);
        for n in 0..120 {
            writer.submit(record(n));
        }
        let times: Vec<u64> = stored(dir.path()).iter().map(|r| r.time_ms).collect();
        assert_eq!(times, (70..120).collect::<Vec<_>>());
        assert_eq!(writer.storage().report().removed_records, 70);
    }

    /// An observer that keeps the times of the records it is told of.
    fn observed(writer: &mut RecordWriter) -> Arc<Mutex<Vec<u64>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let theirs = Arc::clone(&seen);
        writer.set_observer(Arc::new(move |write: &Write| {
            if let Write::Record(record) = write {
                theirs.lock().unwrap().push(record.time_ms);
            }
        }));
        seen
    }

    #[test]
    fn the_observer_hears_of_each_write_once_committed_inline() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RecordWriter::open(dir.path(), Writing::Inline).unwrap();
        let seen = observed(&mut writer);
        full_disk::fill(dir.path());
        writer.submit(record(1));
        assert!(
            seen.lock().unwrap().is_empty(),
            "not told before it is stored"
        );
        full_disk::free(dir.path());
        writer.submit(record(2));
        assert_eq!(*seen.lock().unwrap(), [1, 2], "both, once committed");
    }

    #[test]
    fn the_observer_hears_of_each_write_once_committed_by_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RecordWriter::open(dir.path(), Writing::Thread).unwrap();
        let seen = observed(&mut writer);
        let last = (0..50).map(|n| writer.submit(record(n))).last().unwrap();
        wait_for("committed", || writer.committed() >= last);
        wait_for("observed", || seen.lock().unwrap().len() == 50);
        assert_eq!(*seen.lock().unwrap(), (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn a_given_up_write_is_not_observed() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer =
            RecordWriter::open_with(dir.path(), Writing::Inline, OnFailure::GiveUp).unwrap();
        let seen = observed(&mut writer);
        full_disk::fill(dir.path());
        writer.submit(record(1));
        full_disk::free(dir.path());
        writer.submit(record(2));
        assert_eq!(*seen.lock().unwrap(), [2]);
    }

    #[test]
    fn a_batched_writer_commits_when_flushed_or_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RecordWriter::open(dir.path(), Writing::Batched).unwrap();
        let ticket = writer.submit_all([record(1), record(2)]);
        assert_eq!(writer.committed(), ticket, "done once handed over");
        assert!(!writer.refuses());
        assert!(stored(dir.path()).is_empty(), "held back");
        writer.flush();
        assert_eq!(stored(dir.path()).len(), 2);
        writer.submit(record(3));
        drop(writer);
        assert_eq!(stored(dir.path()).len(), 3);
    }

    #[test]
    fn a_batched_writer_commits_by_itself_once_it_holds_a_whole_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RecordWriter::open(dir.path(), Writing::Batched).unwrap();
        let held_back = HELD_BACK as u64;
        for n in 1..held_back {
            writer.submit(record(n));
        }
        assert!(stored(dir.path()).is_empty(), "one write short");
        writer.submit(record(held_back));
        assert_eq!(stored(dir.path()).len(), HELD_BACK);
    }

    #[test]
    fn inline_writes_are_committed_at_once() {
        let dir = tempfile::tempdir().unwrap();
        for writing in [Writing::Inline, Writing::Unsynced] {
            let mut writer = RecordWriter::open(dir.path(), writing).unwrap();
            let ticket = writer.submit(record(1));
            assert_eq!(writer.committed(), ticket);
        }
        assert_eq!(
            stored(dir.path()).len(),
            2,
            "both seen by another connection"
        );
    }
}
