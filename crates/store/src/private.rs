//! Owner-only data: the platform's database holds the devices' pre-shared keys and their uplinks,
//! so the data directory is created 0700 and the database files 0600, as the control token
//! already is. A directory made by an older version (0755, its database 0644) is tightened when
//! the platform starts, with a notice per change.
//!
//! SQLite creates the `-wal` and `-shm` files with the database file's own mode, so creating the
//! database file 0600 before SQLite opens it is what keeps all three private.

use crate::DATABASE_FILE;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The data directory's mode: only its owner lists or enters it.
pub const DIR_MODE: u32 = 0o700;
/// The database files' mode: only their owner reads or writes them.
pub const FILE_MODE: u32 = 0o600;

/// The files SQLite keeps a database in: the database, its write-ahead log and shared memory.
fn database_files() -> [String; 3] {
    [
        DATABASE_FILE.to_string(),
        format!("{DATABASE_FILE}-wal"),
        format!("{DATABASE_FILE}-shm"),
    ]
}

/// Creates `dir` (and its missing parents) with mode 0700; an existing directory is left as it
/// is (see [`tighten`]).
pub fn create_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Creates the database file in `dir` with mode 0600 if it is not there yet, so that SQLite
/// creates it and its journal files owner-only.
pub fn create_database_file(dir: &Path) -> io::Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(dir.join(DATABASE_FILE))
        .map(drop)
}

/// Takes group and other permissions away from `dir` and the database files in it; one notice
/// per file changed, saying what it was.
pub fn tighten(dir: &Path) -> io::Result<Vec<String>> {
    let mut notices = Vec::new();
    if let Some(notice) = restrict(dir, DIR_MODE)? {
        notices.push(notice);
    }
    for name in database_files() {
        if let Some(notice) = restrict(&dir.join(name), FILE_MODE)? {
            notices.push(notice);
        }
    }
    Ok(notices)
}

/// Sets `path` to `mode` if others than its owner had any access; a notice if it did. A file
/// that is not there is not an error: SQLite creates the `-wal` and `-shm` files when needed.
fn restrict(path: &Path, mode: u32) -> io::Result<Option<String>> {
    let was = match fs::metadata(path) {
        Ok(metadata) => metadata.permissions().mode() & 0o777,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if was & 0o077 == 0 {
        return Ok(None);
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(Some(format!(
        "{} was mode {was:04o}, open to other users: now {mode:04o}",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_data_directory_and_its_database_are_owner_only() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        let store = Store::open(&dir).unwrap();
        // A write makes SQLite create the journal files beside the database.
        store.app_keys().unwrap();
        assert_eq!(mode(&dir), DIR_MODE);
        for name in database_files() {
            assert_eq!(mode(&dir.join(&name)), FILE_MODE, "{name}");
        }
        assert!(tighten(&dir).unwrap().is_empty(), "nothing to tighten");
    }

    #[test]
    fn an_open_data_directory_is_tightened_with_a_notice_per_file() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        drop(Store::open(&dir).unwrap());
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let database = dir.join(DATABASE_FILE);
        fs::set_permissions(&database, fs::Permissions::from_mode(0o644)).unwrap();
        let notices = tighten(&dir).unwrap();
        assert_eq!(notices.len(), 2, "{notices:?}");
        assert!(notices[0].contains("mode 0755") && notices[0].ends_with("now 0700"));
        assert!(notices[1].contains(DATABASE_FILE) && notices[1].contains("mode 0644"));
        assert_eq!((mode(&dir), mode(&database)), (DIR_MODE, FILE_MODE));
    }
}
