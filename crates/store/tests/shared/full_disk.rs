//! A full disk as the platform's database meets it, without a file system to fill: triggers make
//! every table refuse every insert, update and delete, so each commit fails as on a full disk
//! (all of it or nothing), until the triggers are dropped again. The triggers are in the database
//! file, so they act on every connection, those of a `nbmodem platform` child process included.
//! The app keys are left writable: opening the store inserts the factory keys where missing
//! (`INSERT OR IGNORE`), which on a real full disk writes nothing once they are there, but would
//! fire a trigger.

use std::path::Path;

/// What a refused write says.
pub const FULL: &str = "database or disk is full (test)";

/// From now on, no write to the database in `data` succeeds.
pub fn fill(data: &Path) {
    let database = connect(data);
    let tables: Vec<String> = database
        .prepare(
            "SELECT name FROM sqlite_master
          WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'app_keys'",
        )
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in tables {
        for event in ["INSERT", "UPDATE", "DELETE"] {
            database
                .execute_batch(&format!(
                    "CREATE TRIGGER IF NOT EXISTS full_{table}_{event} BEFORE {event} ON {table}
                     BEGIN SELECT RAISE(FAIL, '{FULL}'); END;"
                ))
                .unwrap();
        }
    }
}

/// Writes to the database in `data` succeed again.
pub fn free(data: &Path) {
    let database = connect(data);
    let triggers: Vec<String> = database
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'full_%'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for trigger in triggers {
        database
            .execute_batch(&format!("DROP TRIGGER {trigger}"))
            .unwrap();
    }
}

fn connect(data: &Path) -> rusqlite::Connection {
    let database = rusqlite::Connection::open(data.join("platform.sqlite")).unwrap();
    database
        .busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    database
}
