//! The version of the platform database's schema and the migrations that bring a database to it.
//!
//! The version is SQLite's `PRAGMA user_version`. `MIGRATIONS` is a list of SQL texts: the one at
//! index N−1 takes a database at version N−1 to version N. When a store opens, each migration its
//! database lacks is applied in order, each in its own transaction together with the new version
//! number, so a power cut leaves the database at one version or the next, never between. A fresh
//! database is an empty one at version 0 and gets every migration.
//!
//! Version 1 is the schema nbmodem used before it had versions. Its migration creates each table
//! only if it is missing, so a database that an older nbmodem wrote (version 0, its tables there)
//! is stamped 1 and nothing else in it changes. Version 2 stores the CT IoT platforms' uplink and
//! downlink payloads as bytes (`BLOB`) where version 1 had hex text. Version 3 adds the products'
//! codecs, the uplinks' decoded forms and the downlinks' commands and responses.
//!
//! A database at a version newer than [`VERSION`] was written by a newer nbmodem: it is refused
//! with [`StoreError::NewerSchema`] before anything is written to it, as the module refuses an
//! NVRAM store of a newer format.
//!
//! Changing the schema is adding one entry at the end of `MIGRATIONS` (say `MIGRATION_3`, with
//! the `ALTER TABLE` or the copy into a new table that the change needs, as `MIGRATION_2` does) and changing the reads
//! and writes to match; [`VERSION`] follows from the list's length. A migration is never edited
//! once released: databases out there are at its version. The test fixtures in
//! `tests/fixtures/schema_vN.sql` are databases as each version wrote them.

use crate::StoreError;
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;

/// Version 1: the tables as they were before the schema had a version (`IF NOT EXISTS`, so that
/// such a database is taken over unchanged).
const MIGRATION_1: &str = "
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    server TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    time TEXT NOT NULL,
    source TEXT NOT NULL,
    operation TEXT NOT NULL,
    verdict TEXT NOT NULL,
    status TEXT,
    fault TEXT,
    fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_time ON records (server, time_ms, id);
CREATE TABLE IF NOT EXISTS app_keys (
    app_key TEXT PRIMARY KEY,
    password TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dm_devices (
    app_key TEXT NOT NULL,
    imei TEXT NOT NULL,
    imei2 TEXT NOT NULL,
    imsi TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    info TEXT NOT NULL,
    read_ms INTEGER NOT NULL,
    PRIMARY KEY (app_key, imei)
);
CREATE TABLE IF NOT EXISTS ctiot_products (
    flavour TEXT NOT NULL,
    id TEXT NOT NULL,
    profile TEXT NOT NULL,
    PRIMARY KEY (flavour, id)
);
CREATE TABLE IF NOT EXISTS ctiot_fota_packages (
    flavour TEXT NOT NULL,
    id TEXT NOT NULL,
    meta TEXT NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (flavour, id)
);
CREATE TABLE IF NOT EXISTS ctiot_fota_keys (
    flavour TEXT NOT NULL,
    manufacturer TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (flavour, manufacturer)
);
CREATE TABLE IF NOT EXISTS ctiot_fota_tasks (
    flavour TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (flavour, id)
);
CREATE TABLE IF NOT EXISTS ctiot_fota_upgrades (
    flavour TEXT NOT NULL,
    task TEXT NOT NULL,
    imei TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (flavour, task, imei)
);
CREATE TABLE IF NOT EXISTS ctiot_devices (
    flavour TEXT NOT NULL,
    imei TEXT NOT NULL,
    psk TEXT,
    product TEXT,
    reply INTEGER NOT NULL,
    PRIMARY KEY (flavour, imei)
);
CREATE TABLE IF NOT EXISTS ctiot_uplinks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    flavour TEXT NOT NULL,
    imei TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    time TEXT NOT NULL,
    data TEXT NOT NULL,
    confirmable INTEGER NOT NULL,
    sequence INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ctiot_uplinks_by_device ON ctiot_uplinks (flavour, imei, id);
CREATE TABLE IF NOT EXISTS ctiot_downlinks (
    id INTEGER PRIMARY KEY,
    flavour TEXT NOT NULL,
    imei TEXT NOT NULL,
    data TEXT NOT NULL,
    status TEXT NOT NULL,
    queued_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ctiot_downlinks_by_device ON ctiot_downlinks (flavour, imei, id);
";

/// Version 2: uplink and downlink payloads are bytes (`BLOB`), not hex text. Each table is copied
/// into a new one, ids and all, and the new one takes the old one's name. A value that is not hex
/// (no nbmodem wrote one; a hand edit could) keeps its text's own bytes rather than being lost;
/// such a downlink still waiting is `failed`, as version 1 never sent it and its bytes are not
/// what anyone queued (docs/decisions.md). The uplinks' AUTOINCREMENT counter is carried over, so
/// that no id is given twice.
const MIGRATION_2: &str = "
CREATE TABLE ctiot_uplinks_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    flavour TEXT NOT NULL,
    imei TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    time TEXT NOT NULL,
    data BLOB NOT NULL,
    confirmable INTEGER NOT NULL,
    sequence INTEGER NOT NULL
);
INSERT INTO ctiot_uplinks_v2 (id, flavour, imei, time_ms, time, data, confirmable, sequence)
SELECT id, flavour, imei, time_ms, time, COALESCE(unhex(data), CAST(data AS BLOB)), confirmable,
       sequence
FROM ctiot_uplinks;
DELETE FROM sqlite_sequence WHERE name = 'ctiot_uplinks_v2';
UPDATE sqlite_sequence SET name = 'ctiot_uplinks_v2' WHERE name = 'ctiot_uplinks';
DROP TABLE ctiot_uplinks;
ALTER TABLE ctiot_uplinks_v2 RENAME TO ctiot_uplinks;
CREATE INDEX ctiot_uplinks_by_device ON ctiot_uplinks (flavour, imei, id);

CREATE TABLE ctiot_downlinks_v2 (
    id INTEGER PRIMARY KEY,
    flavour TEXT NOT NULL,
    imei TEXT NOT NULL,
    data BLOB NOT NULL,
    status TEXT NOT NULL,
    queued_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL
);
INSERT INTO ctiot_downlinks_v2 (id, flavour, imei, data, status, queued_ms, updated_ms, attempts)
SELECT id, flavour, imei, COALESCE(unhex(data), CAST(data AS BLOB)),
       CASE WHEN unhex(data) IS NULL AND status IN ('queued', 'sent') THEN 'failed' ELSE status END,
       queued_ms, updated_ms, attempts
FROM ctiot_downlinks;
DROP TABLE ctiot_downlinks;
ALTER TABLE ctiot_downlinks_v2 RENAME TO ctiot_downlinks;
CREATE INDEX ctiot_downlinks_by_device ON ctiot_downlinks (flavour, imei, id);
";

/// Version 3: codecs (issue 19). A product has a codec (JSON, none: pass-through); an uplink keeps
/// what its product's codec made of it, or why it could not; a downlink encoded from a command
/// keeps the command and, once the device answered, its decoded response (both JSON).
const MIGRATION_3: &str = "
ALTER TABLE ctiot_products ADD COLUMN codec TEXT;
ALTER TABLE ctiot_uplinks ADD COLUMN decoded TEXT;
ALTER TABLE ctiot_uplinks ADD COLUMN decode_error TEXT;
ALTER TABLE ctiot_downlinks ADD COLUMN command TEXT;
ALTER TABLE ctiot_downlinks ADD COLUMN response TEXT;
";

/// The migrations, oldest first: `MIGRATIONS[n - 1]` takes version `n - 1` to `n`.
const MIGRATIONS: &[&str] = &[MIGRATION_1, MIGRATION_2, MIGRATION_3];

/// The schema version this code reads and writes.
pub const VERSION: u32 = MIGRATIONS.len() as u32;

/// Refuses a database written by a newer nbmodem, before anything is written to it (the journal
/// mode included). `file` names it in the error.
pub(crate) fn refuse_newer(connection: &Connection, file: &Path) -> Result<(), StoreError> {
    check_known(version(connection)?, file)
}

/// Applies the migrations the database lacks, each in its own transaction. Another connection may
/// be migrating the same file at the same moment: each transaction takes the write lock first
/// and reads the version under it, so each migration is applied once.
pub(crate) fn migrate(connection: &mut Connection, file: &Path) -> Result<(), StoreError> {
    loop {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = version(&transaction)?;
        check_known(found, file)?;
        let Some(migration) = MIGRATIONS.get(found as usize) else {
            return Ok(());
        };
        transaction.execute_batch(migration)?;
        transaction.pragma_update(None, "user_version", found + 1)?;
        transaction.commit()?;
    }
}

/// The database's schema version.
pub(crate) fn version(connection: &Connection) -> Result<u32, StoreError> {
    Ok(connection.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

fn check_known(found: u32, file: &Path) -> Result<(), StoreError> {
    if found > VERSION {
        return Err(StoreError::NewerSchema {
            file: file.to_path_buf(),
            found,
            known: VERSION,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Store, DATABASE_FILE};
    use nbmodem_standin::ctiot::{CodecChoice, DownlinkStatus, Uplink};
    use nbmodem_standin::{Flavour, Server, Verdict, Write};

    /// A database as nbmodem wrote it before the schema had a version, with a few rows.
    const TODAY_S_DATABASE: &str = include_str!("../tests/fixtures/schema_v1.sql");
    /// A database as nbmodem wrote it at version 2, with a few rows.
    const VERSION_2_DATABASE: &str = include_str!("../tests/fixtures/schema_v2.sql");

    /// Makes the database file of `dir` from `sql`, as the code that wrote it did (its default
    /// journal, no version set).
    fn database_from(dir: &Path, sql: &str) {
        Connection::open(dir.join(DATABASE_FILE))
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }

    /// The tables and indexes as SQLite holds them, to see that nothing changed.
    fn tables(connection: &Connection) -> Vec<(String, Option<String>)> {
        let mut statement = connection
            .prepare("SELECT name, sql FROM sqlite_master ORDER BY name")
            .unwrap();
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)));
        rows.unwrap().collect::<Result<_, _>>().unwrap()
    }

    /// The tables of a fresh database of the current version.
    fn current_tables() -> Vec<(String, Option<String>)> {
        let dir = tempfile::tempdir().unwrap();
        tables(&Store::open(dir.path()).unwrap().connection)
    }

    /// The declared type of each column of `table`.
    fn column_types(connection: &Connection, table: &str) -> Vec<(String, String)> {
        let mut statement = connection
            .prepare(&format!(
                "SELECT name, type FROM pragma_table_info('{table}')"
            ))
            .unwrap();
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)));
        rows.unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn a_database_from_before_versions_opens_with_its_records_intact() {
        let dir = tempfile::tempdir().unwrap();
        database_from(dir.path(), TODAY_S_DATABASE);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(version(&store.connection).unwrap(), VERSION);
        assert_eq!(
            tables(&store.connection),
            current_tables(),
            "migrated to what a fresh database has"
        );

        let ct = store.records(Server::Ct).unwrap();
        assert_eq!(ct.len(), 1);
        assert_eq!(ct[0].time_ms, 1_700_000_000_000);
        assert_eq!(ct[0].fields["meid"], "865975030000001");
        let dm = store.records(Server::Dm).unwrap();
        assert_eq!(dm[0].verdict, Verdict::Rejected);
        assert_eq!(dm[0].fault.as_deref(), Some("drop"));
        assert_eq!(
            store.password("M100000099").unwrap().as_deref(),
            Some("pw-99")
        );
        let devices = store.devices().unwrap();
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].info["mac"], "00:11");

        let ctiot = store.ctiot_devices().unwrap();
        assert_eq!(ctiot.len(), 2);
        assert_eq!(ctiot[0].psk.as_deref(), Some("0011223344556677"));
        let uplinks = store
            .uplinks(Flavour::Iot, "865975030000001", None, 10)
            .unwrap();
        let payloads: Vec<(i64, &[u8])> = uplinks.iter().map(|u| (u.id, &u.data[..])).collect();
        assert_eq!(payloads, [(2, &[0x00, 0xFF][..]), (1, b"Hello")]);
        assert!(uplinks[1].confirmable);
        assert_eq!(uplinks[1].sequence, 7);
        let downlinks = store
            .downlinks(Some((Flavour::Iot, "865975030000001")))
            .unwrap();
        assert_eq!(downlinks.len(), 1);
        assert_eq!(downlinks[0].id, 1);
        assert_eq!(downlinks[0].data, [0xAA, 0xAA, 0x00, 0x00]);
        assert_eq!(downlinks[0].status, DownlinkStatus::Delivered);
        assert_eq!(downlinks[0].attempts, 1);
    }

    #[test]
    fn a_database_from_a_newer_nbmodem_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let newer = VERSION + 1;
        database_from(
            dir.path(),
            &format!("{TODAY_S_DATABASE} PRAGMA user_version = {newer};"),
        );
        let file = dir.path().join(DATABASE_FILE);
        let before = std::fs::read(&file).unwrap();

        let error = Store::open(dir.path()).err().unwrap();
        assert!(
            matches!(error, StoreError::NewerSchema { found, known, .. }
                if found == newer && known == VERSION),
            "{error}"
        );
        let message = error.to_string();
        assert!(message.contains(&file.display().to_string()), "{message}");
        assert!(
            message.contains(&format!("version {newer}"))
                && message.contains(&format!("version {VERSION}")),
            "{message}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), before);
    }

    #[test]
    fn a_fresh_database_gets_the_current_schema() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(version(&store.connection).unwrap(), VERSION);
        let columns = |table| column_types(&store.connection, table);
        for table in ["ctiot_uplinks", "ctiot_downlinks"] {
            assert!(
                columns(table).contains(&("data".into(), "BLOB".into())),
                "{table}"
            );
        }
        let added = [
            ("ctiot_products", "codec"),
            ("ctiot_uplinks", "decoded"),
            ("ctiot_uplinks", "decode_error"),
            ("ctiot_downlinks", "command"),
            ("ctiot_downlinks", "response"),
        ];
        for (table, column) in added {
            assert!(
                columns(table).contains(&(column.into(), "TEXT".into())),
                "{table}.{column}"
            );
        }
    }

    #[test]
    fn a_version_2_database_opens_with_its_rows_intact() {
        let dir = tempfile::tempdir().unwrap();
        database_from(dir.path(), VERSION_2_DATABASE);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(version(&store.connection).unwrap(), VERSION);
        assert_eq!(tables(&store.connection), current_tables());

        let products = store.ctiot_products().unwrap();
        assert_eq!(products.len(), 1);
        assert_eq!(products[0].id, "meter");
        assert_eq!(
            products[0].codec,
            CodecChoice::PassThrough,
            "no codec: pass-through"
        );
        let uplinks = store
            .uplinks(Flavour::Aep, "865975030000001", None, 10)
            .unwrap();
        assert_eq!(uplinks.len(), 1);
        assert_eq!(uplinks[0].data, b"\0ELLO");
        assert_eq!(
            (
                uplinks[0].decoded.as_ref(),
                uplinks[0].decode_error.as_ref()
            ),
            (None, None)
        );
        let downlinks = store
            .downlinks(Some((Flavour::Aep, "865975030000001")))
            .unwrap();
        assert_eq!(downlinks.len(), 1);
        assert_eq!(downlinks[0].data, [0x01, 0x02, 0xAB]);
        assert_eq!(downlinks[0].status, DownlinkStatus::Queued);
        assert_eq!(downlinks[0].command, None);
        assert_eq!(store.records(Server::Aep).unwrap().len(), 1);
        assert_eq!(
            store.password("M100000089").unwrap().as_deref(),
            Some("77GaaTUi33nUK05ha528888QFbk0Y38M")
        );
    }

    #[test]
    fn a_payload_that_is_not_hex_keeps_its_text_s_bytes_and_a_waiting_downlink_fails() {
        let dir = tempfile::tempdir().unwrap();
        let rows = "
            INSERT INTO ctiot_uplinks (flavour, imei, time_ms, time, data, confirmable, sequence)
            VALUES ('aep', '1', 1, 't', 'not hex!', 0, 1), ('aep', '1', 2, 't', 'aB01', 0, 2),
                   ('aep', '1', 3, 't', 'ABC', 0, 3);
            INSERT INTO ctiot_downlinks (id, flavour, imei, data, status, queued_ms, updated_ms,
                                         attempts)
            VALUES (11, 'aep', '1', 'zz', 'delivered', 1, 2, 1),
                   (12, 'aep', '1', 'zz', 'queued', 3, 3, 0),
                   (13, 'aep', '1', 'x y', 'sent', 4, 5, 1),
                   (14, 'aep', '1', 'BEEF', 'queued', 6, 6, 0);
        ";
        database_from(dir.path(), &format!("{TODAY_S_DATABASE}{rows}"));
        let store = Store::open(dir.path()).unwrap();

        let uplinks = store.uplinks(Flavour::Aep, "1", None, 10).unwrap();
        let uplinks: Vec<(i64, &[u8])> = uplinks.iter().map(|u| (u.id, &u.data[..])).collect();
        assert_eq!(
            uplinks,
            [(5, &b"ABC"[..]), (4, &[0xAB, 0x01][..]), (3, b"not hex!")]
        );
        let downlinks = store.downlinks(Some((Flavour::Aep, "1"))).unwrap();
        let downlinks: Vec<(u64, &[u8], DownlinkStatus, u64)> = downlinks
            .iter()
            .map(|d| (d.id, &d.data[..], d.status, d.updated_ms))
            .collect();
        use DownlinkStatus::{Delivered, Failed, Queued};
        assert_eq!(
            downlinks,
            [
                (14, &[0xBE, 0xEF][..], Queued, 6),
                (13, b"x y", Failed, 5),
                (12, b"zz", Failed, 3),
                (11, b"zz", Delivered, 2),
            ]
        );
    }

    #[test]
    fn uplink_ids_are_not_given_twice_across_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let removed_by_hand = "
            INSERT INTO ctiot_uplinks (flavour, imei, time_ms, time, data, confirmable, sequence)
            VALUES ('aep', '1', 1, 't', '00', 0, 1);
            DELETE FROM ctiot_uplinks WHERE imei = '1';
        ";
        database_from(dir.path(), &format!("{TODAY_S_DATABASE}{removed_by_hand}"));
        let mut store = Store::open(dir.path()).unwrap();
        let uplink = Uplink {
            id: 0,
            flavour: Flavour::Aep,
            imei: "1".into(),
            time_ms: 2,
            time: "t".into(),
            data: vec![1],
            confirmable: false,
            sequence: 2,
            decoded: None,
            decode_error: None,
        };
        store.write_all(&[Write::Uplink(uplink)], u64::MAX).unwrap();
        let uplinks = store.uplinks(Flavour::Aep, "1", None, 10).unwrap();
        assert_eq!(
            uplinks[0].id, 4,
            "the fixture's two, the removed third, then this"
        );
    }

    #[test]
    fn a_migration_that_fails_leaves_the_database_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        // A table in the way of the downlinks' copy, after the uplinks' table was rebuilt.
        let in_the_way = "CREATE TABLE ctiot_downlinks_v2 (x); PRAGMA user_version = 1;";
        database_from(dir.path(), &format!("{TODAY_S_DATABASE}{in_the_way}"));
        let before = tables(&Connection::open(dir.path().join(DATABASE_FILE)).unwrap());

        let error = Store::open(dir.path()).err().unwrap();
        assert!(matches!(error, StoreError::Sqlite(_)), "{error}");
        let connection = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        assert_eq!(version(&connection).unwrap(), 1);
        assert_eq!(tables(&connection), before);
        let data: Vec<String> = connection
            .prepare("SELECT data FROM ctiot_uplinks ORDER BY id")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(data, ["48656C6C6F", "00FF"], "still the version-1 text");
    }

    #[test]
    fn opening_again_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        database_from(dir.path(), TODAY_S_DATABASE);
        let first = Store::open(dir.path()).unwrap();
        let (tables_first, records_first) = (
            tables(&first.connection),
            first.records(Server::Ct).unwrap(),
        );
        drop(first);
        let second = Store::open(dir.path()).unwrap();
        assert_eq!(version(&second.connection).unwrap(), VERSION);
        assert_eq!(tables(&second.connection), tables_first);
        assert_eq!(second.records(Server::Ct).unwrap(), records_first);
        assert_eq!(second.ctiot_devices().unwrap().len(), 2);
    }
}
