//! The stand-in platforms' durable state, in one SQLite database (`DATA_DIR/platform.sqlite`, WAL
//! journal, `synchronous=FULL` unless a simulation's writer turns it off ([`Writing::Unsynced`]),
//! its tables versioned and migrated by [`schema`]): the request
//! records of every server, the DM app keys and their passwords ([`appkey`]), the device
//! information the DM server read and decrypted, and the CT IoT platforms' products, devices,
//! uplinks, downlinks and DFOTA state ([`ctiot`], [`keys`]).
//!
//! Every write is one statement or one transaction, so a power cut leaves the old state or the new
//! one. The servers write through a [`writer::RecordWriter`], in batches, off the engines' path;
//! it is the [`Journal`](nbmodem_standin::Journal) of their shells. Each node opens its own
//! connection; the CLI reads with another, while the servers run. The database file and its
//! directory are private to the user ([`private`]). The statements run for every request are
//! prepared once per connection (`prepare_cached`).

pub mod appkey;
pub mod console;
mod ctiot;
mod keys;
pub mod private;
pub mod schema;
pub mod writer;

pub use console::Console;
pub use writer::{RecordWriter, Storage, Writing};

use nbmodem_standin::{DmDevice, RequestRecord, Server, Write};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "platform.sqlite";

/// How long a write waits for another connection's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {0}: {1}")]
    Directory(PathBuf, std::io::Error),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("a stored value is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "the database {} has schema version {found}, newer than this nbmodem knows (version {known}); \
         it was left unchanged: use the newer nbmodem that wrote it, or another data directory",
        file.display()
    )]
    NewerSchema {
        file: PathBuf,
        found: u32,
        known: u32,
    },
}

/// An app key and the password issued with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppKey {
    pub app_key: String,
    pub password: String,
}

pub struct Store {
    pub(crate) connection: Connection,
}

/// The DM server finds app keys' passwords here.
impl nbmodem_standin::AppKeys for Store {
    fn password(&self, app_key: &str) -> Result<Option<String>, String> {
        Store::password(self, app_key).map_err(|e| e.to_string())
    }
}

/// Which of `writes` a later one of the same commit makes moot: each of a downlink's states
/// replaces its row whole, so only its last state in the commit is written. A platform writes
/// three per uplink it answers (queued, sent, delivered), mostly in one commit of a batch.
fn superseded(writes: &[Write]) -> Vec<bool> {
    let mut written_later = std::collections::HashSet::new();
    let mut moot = vec![false; writes.len()];
    for (i, write) in writes.iter().enumerate().rev() {
        if let Write::Downlink(downlink) = write {
            moot[i] = !written_later.insert(downlink.id);
        }
    }
    moot
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`, bringing its schema to the current
    /// version (`crate::schema`); a database written by a newer nbmodem is refused untouched.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        crate::private::create_dir(data_dir)
            .and_then(|()| crate::private::create_database_file(data_dir))
            .map_err(|e| StoreError::Directory(data_dir.to_path_buf(), e))?;
        let file = data_dir.join(DATABASE_FILE);
        let mut connection = Connection::open(&file)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        crate::schema::refuse_newer(&connection, &file)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        crate::schema::migrate(&mut connection, &file)?;
        let store = Store { connection };
        store.know_factory_keys()?;
        Ok(store)
    }

    /// Commits from now on without waiting for the disk (`synchronous=OFF`; see
    /// [`crate::Writing::Unsynced`]). Such a database is a simulation's, written fast and read at
    /// its end: its page cache may also grow to 64 MiB (2 MiB by default), so that a large
    /// fleet's inserts find their index pages in memory rather than read them back from the file.
    pub fn write_for_simulation(&self) -> Result<(), StoreError> {
        self.connection.pragma_update(None, "synchronous", "OFF")?;
        // Negative: a size in KiB rather than in pages.
        self.connection.pragma_update(None, "cache_size", -65536)?;
        Ok(())
    }

    /// The app keys the emulated modules carry from the factory are issued on every platform,
    /// so that a fresh module on a China Mobile SIM registers (seed 000 §2.3.1, seed 001 §2.2.1).
    fn know_factory_keys(&self) -> Result<(), StoreError> {
        let mut statement = self
            .connection
            .prepare_cached("INSERT OR IGNORE INTO app_keys (app_key, password) VALUES (?1, ?2)")?;
        for key in nbmodem_operators::dm::FACTORY_KEYS {
            statement.execute(params![key.app_key, key.password])?;
        }
        Ok(())
    }

    /// Appends a record.
    pub fn insert(&self, record: &RequestRecord) -> Result<(), StoreError> {
        insert_record(&self.connection, record).map(drop)
    }

    /// Writes `writes` in one transaction: all of them or none, with one sync to disk. Keeps the
    /// newest `records_kept` request records; how many older ones it removed.
    pub fn write_all(&mut self, writes: &[Write], records_kept: u64) -> Result<u64, StoreError> {
        let transaction = self.connection.transaction()?;
        let mut newest_record = None;
        let moot = superseded(writes);
        for (write, _) in writes.iter().zip(moot).filter(|(_, moot)| !moot) {
            match write {
                Write::Record(record) => newest_record = Some(insert_record(&transaction, record)?),
                Write::Device(device) => save_device_on(&transaction, device)?,
                Write::FotaKey(key) => crate::keys::save(&transaction, key)?,
                Write::RemoveFotaKey(flavour, manufacturer) => {
                    crate::keys::remove(&transaction, *flavour, manufacturer)?
                }
                ctiot => crate::ctiot::write(&transaction, ctiot)?,
            }
        }
        let removed = match newest_record {
            Some(newest) => remove_records_before(&transaction, newest, records_kept)?,
            None => 0,
        };
        transaction.commit()?;
        Ok(removed)
    }

    /// The records of `server`, in time order (then in the order they were written).
    pub fn records(&self, server: Server) -> Result<Vec<RequestRecord>, StoreError> {
        // SQLite takes a negative limit as none.
        let mut records = self.newest_records(server, -1)?;
        records.reverse();
        Ok(records)
    }

    /// The newest `limit` records of `server`, newest first (the web console's view).
    pub fn newest_records(
        &self,
        server: Server,
        limit: i64,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT time_ms, time, source, operation, verdict, status, fault, fields
             FROM records WHERE server = ?1 ORDER BY time_ms DESC, id DESC LIMIT ?2",
        )?;
        let rows = statement.query_map(params![server.as_str(), limit], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, Option<String>>(6)?,
                row.get::<_, String>(7)?,
            ))
        })?;
        rows.map(|row| {
            let (time_ms, time, source, operation, verdict, status, fault, fields) = row?;
            Ok(RequestRecord {
                server,
                time_ms: u64::try_from(time_ms).unwrap_or_default(),
                time,
                source,
                operation,
                verdict: verdict.parse().map_err(StoreError::Corrupt)?,
                status,
                fault,
                fields: serde_json::from_str(&fields)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            })
        })
        .collect()
    }

    /// The password of `app_key`, if it was issued.
    pub fn password(&self, app_key: &str) -> Result<Option<String>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT password FROM app_keys WHERE app_key = ?1")?;
        Ok(statement
            .query_row(params![app_key], |row| row.get(0))
            .optional()?)
    }

    /// Every issued app key, in order.
    pub fn app_keys(&self) -> Result<Vec<AppKey>, StoreError> {
        all_app_keys(&self.connection)
    }

    /// Stores an app key in one transaction: `choose` sees the keys issued so far and returns the
    /// key to store (replacing one of the same name).
    pub fn issue_app_key(
        &mut self,
        choose: impl FnOnce(&[AppKey]) -> AppKey,
    ) -> Result<AppKey, StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = all_app_keys(&transaction)?;
        let key = choose(&existing);
        transaction.execute(
            "INSERT OR REPLACE INTO app_keys (app_key, password) VALUES (?1, ?2)",
            params![key.app_key, key.password],
        )?;
        transaction.commit()?;
        Ok(key)
    }

    /// Stores (or replaces) what is known about a device.
    pub fn save_device(&self, device: &DmDevice) -> Result<(), StoreError> {
        save_device_on(&self.connection, device)
    }

    /// Every device the DM server read, by app key and IMEI.
    pub fn devices(&self) -> Result<Vec<DmDevice>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT app_key, imei, imei2, imsi, endpoint, info, read_ms
             FROM dm_devices ORDER BY app_key, imei",
        )?;
        let rows = statement.query_map([], |row| {
            let device = DmDevice {
                app_key: row.get(0)?,
                imei: row.get(1)?,
                imei2: row.get(2)?,
                imsi: row.get(3)?,
                endpoint: row.get(4)?,
                info: BTreeMap::new(),
                read_ms: u64::try_from(row.get::<_, i64>(6)?).unwrap_or_default(),
            };
            Ok((device, row.get::<_, String>(5)?))
        })?;
        rows.map(|row| {
            let (mut device, info) = row?;
            device.info =
                serde_json::from_str(&info).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(device)
        })
        .collect()
    }
}

/// Appends a record; its id.
fn insert_record(connection: &Connection, record: &RequestRecord) -> Result<i64, StoreError> {
    let mut statement = connection.prepare_cached(
        "INSERT INTO records (server, time_ms, time, source, operation, verdict, status, fault, fields)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    statement.execute(params![
        record.server.as_str(),
        to_sql_ms(record.time_ms),
        record.time,
        record.source,
        record.operation,
        record.verdict.as_str(),
        record.status,
        record.fault,
        record.fields.to_string(),
    ])?;
    Ok(connection.last_insert_rowid())
}

/// Removes the records older than the `kept` up to id `newest` (the ids only grow: AUTOINCREMENT);
/// how many. The records' primary key makes it a range delete, cheap when there is nothing to do.
fn remove_records_before(
    connection: &Connection,
    newest: i64,
    kept: u64,
) -> Result<u64, StoreError> {
    let first_kept = newest.saturating_sub(i64::try_from(kept).unwrap_or(i64::MAX)) + 1;
    if first_kept <= 1 {
        return Ok(0);
    }
    let mut statement = connection.prepare_cached("DELETE FROM records WHERE id < ?1")?;
    Ok(statement.execute(params![first_kept])? as u64)
}

fn save_device_on(connection: &Connection, device: &DmDevice) -> Result<(), StoreError> {
    let info =
        serde_json::to_string(&device.info).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut statement = connection.prepare_cached(
        "INSERT OR REPLACE INTO dm_devices (app_key, imei, imei2, imsi, endpoint, info, read_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    statement.execute(params![
        device.app_key,
        device.imei,
        device.imei2,
        device.imsi,
        device.endpoint,
        info,
        to_sql_ms(device.read_ms),
    ])?;
    Ok(())
}

fn to_sql_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn all_app_keys(connection: &Connection) -> Result<Vec<AppKey>, StoreError> {
    let mut statement =
        connection.prepare("SELECT app_key, password FROM app_keys ORDER BY app_key")?;
    let rows = statement.query_map([], |row| {
        Ok(AppKey {
            app_key: row.get(0)?,
            password: row.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nbmodem_clock::Instant;

    fn record(server: Server, ms: u64, operation: &str) -> RequestRecord {
        let source = "127.0.0.1:1".parse().unwrap();
        RequestRecord::new(server, Instant::from_unix_millis(ms), source, operation)
    }

    #[test]
    fn the_database_is_wal_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let pragma = |name: &str| -> String {
            store
                .connection
                .query_row(&format!("PRAGMA {name}"), [], |row| {
                    row.get::<_, rusqlite::types::Value>(0)
                })
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(pragma("journal_mode"), r#"Text("wal")"#);
        assert_eq!(pragma("synchronous"), "Integer(2)");
        store.write_for_simulation().unwrap();
        assert_eq!(
            pragma("synchronous"),
            "Integer(0)",
            "for an unsynced writer only"
        );
    }

    #[test]
    fn records_come_back_per_server_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for (server, ms, op) in [
            (Server::Ct, 20, "b"),
            (Server::Dm, 5, "x"),
            (Server::Ct, 10, "a"),
            (Server::Ct, 20, "c"),
        ] {
            store.insert(&record(server, ms, op)).unwrap();
        }
        let reopened = Store::open(dir.path()).unwrap();
        let operations: Vec<String> = reopened
            .records(Server::Ct)
            .unwrap()
            .into_iter()
            .map(|r| r.operation)
            .collect();
        assert_eq!(operations, ["a", "b", "c"]);
        assert_eq!(
            reopened.records(Server::Dm).unwrap(),
            [record(Server::Dm, 5, "x")]
        );
    }

    #[test]
    fn devices_are_replaced_by_a_later_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut device = DmDevice {
            app_key: "M100000001".into(),
            imei: "863703030822519".into(),
            imei2: String::new(),
            imsi: "460040000000001".into(),
            endpoint: "I@#@x@#@M100000001@#@863703030822519@#@v2.0".into(),
            info: BTreeMap::from([("mac".to_string(), "00:11".to_string())]),
            read_ms: 1,
        };
        store.save_device(&device).unwrap();
        device.info.insert("rom".into(), "2MB".into());
        device.read_ms = 2;
        store.save_device(&device).unwrap();
        assert_eq!(store.devices().unwrap(), [device]);
    }
}
