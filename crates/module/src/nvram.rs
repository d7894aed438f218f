//! NVRAM: the module's non-volatile settings.
//!
//! The module keeps two copies of its settings, as the seeds describe: the **saved** copy, written
//! to the store the moment a command changes it, and the **in-use** copy, loaded from the saved one
//! at boot. This file holds the saved copy ([`NvramData`]) and the stores it is written to.
//!
//! Beyond what every module has (model, IMEI, firmware), the settings are **sections** kept by
//! name: each service or command group declares its own ([`Section`]: a serde type, its name and
//! the check of its values), so that adding one does not touch this file. The module checks the
//! sections it knows at load ([`crate::services::SAVED`], [`crate::commands::SAVED`]); a section
//! it does not know (written by a newer version) is kept as it is.
//!
//! [`FileStore`] writes atomically: the new content goes to a temporary file that is flushed to disk
//! and then renamed over the old one, so a power cut (`kill -9`) at any moment leaves either the old
//! or the new content. The format is versioned JSON: a store of format 1 (settings as top-level
//! fields) is read into sections ([`V1_FIELDS`]), fields this version does not know are kept as
//! they were, and a store written in a newer format is refused with a clear error instead of being
//! overwritten.

use crate::profile::Profile;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// The format this version writes.
pub const FORMAT: u32 = 2;

/// A part of the saved settings, stored under [`Section::NAME`]. Absent until first written.
pub trait Section: Serialize + DeserializeOwned {
    const NAME: &'static str;
    /// Whether every value is one the module's commands and services could have stored, so that
    /// a store edited by hand or damaged cannot make the module misbehave; what it must be, if
    /// not.
    fn check(&self, profile: &Profile) -> Result<(), String>;
}

/// Checks one kind of section of a loaded store (see [`checked`]).
pub type SectionCheck = fn(&NvramData, &Profile) -> Result<(), String>;

/// The [`SectionCheck`] of section `S`: it reads, and its values pass [`Section::check`].
pub fn checked<S: Section>(data: &NvramData, profile: &Profile) -> Result<(), String> {
    let Some(value) = data.sections.get(S::NAME) else {
        return Ok(());
    };
    let section =
        S::deserialize(value).map_err(|e| format!("section `{}` is unreadable: {e}", S::NAME))?;
    section
        .check(profile)
        .map_err(|problem| format!("section `{}`: {problem}", S::NAME))
}

/// The saved settings of one module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NvramData {
    pub format: u32,
    /// The model the store belongs to; a store is never used by another model.
    pub model: String,
    pub imei: String,
    /// The installed firmware revision (changed by `--firmware` or a firmware update).
    pub firmware: String,
    /// Each service's and command group's settings, by section name.
    #[serde(default)]
    sections: Map<String, Value>,
    /// Fields written by a newer version of nbmodem, kept untouched.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// Where each setting of a format-1 store goes: (old field, section, field of the section, or
/// `None` for the whole section).
pub const V1_FIELDS: &[(&str, &str, Option<&str>)] = &[
    ("sleep_mode", "sleep", Some("mode")),
    ("self_registration", "self_registration", Some("switch")),
    (
        "self_registration_reads_three",
        "self_registration",
        Some("reads_three"),
    ),
    ("ct_registered", "self_registration", Some("china_telecom")),
    ("cu_registered", "self_registration", Some("china_unicom")),
    ("dm", "dm", None),
    ("ctiot_lifetime", "ctiot", Some("lifetime")),
    ("fota", "fota", None),
    ("fota_observation", "fota_observation", None),
];

impl NvramData {
    pub fn new(model: &str, imei: &str, firmware: &str) -> Self {
        NvramData {
            format: FORMAT,
            model: model.into(),
            imei: imei.into(),
            firmware: firmware.into(),
            sections: Map::new(),
            unknown: Map::new(),
        }
    }

    /// Section `S`, or `None` while it was never written. A section that does not read (the
    /// load's check refuses such a store) reads as absent.
    pub fn section<S: Section>(&self) -> Option<S> {
        S::deserialize(self.sections.get(S::NAME)?).ok()
    }

    /// Writes section `S` whole. The sections are kept without spare room: a module holds two
    /// copies of them (saved and in use), and a fleet holds thousands of modules.
    pub fn set_section<S: Section>(&mut self, section: &S) {
        let value = serde_json::to_value(section).expect("a section is plain JSON");
        self.sections.insert(S::NAME.into(), compact(value));
        self.sections = std::mem::take(&mut self.sections).into_iter().collect();
    }

    /// Removes section `S`: it reads as never written.
    pub fn remove_section<S: Section>(&mut self) {
        self.sections.remove(S::NAME);
    }

    /// Changes section `S` (starting from its default while absent).
    pub fn edit<S: Section + Default>(&mut self, change: impl FnOnce(&mut S)) {
        let mut section = self.section::<S>().unwrap_or_default();
        change(&mut section);
        self.set_section(&section);
    }

    /// Checks what every store has, then each section of `checks`; the problem found, in words.
    pub fn check(&self, checks: &[SectionCheck], profile: &Profile) -> Result<(), String> {
        if crate::identity::check_imei(&self.imei).is_err() {
            return Err(format!("`imei` is {:?}, but must be 15 digits", self.imei));
        }
        if crate::revision::Revision::parse(&self.firmware).is_none() {
            return Err(format!(
                "`firmware` is {:?}, but must be a revision such as BC25PAR01A04",
                self.firmware
            ));
        }
        checks.iter().try_for_each(|check| check(self, profile))
    }

    pub fn encode(&self) -> String {
        serde_json::to_string_pretty(self).expect("NVRAM data is plain JSON") + "\n"
    }

    pub fn decode(text: &str) -> Result<NvramData, NvramError> {
        let mut value: Value =
            serde_json::from_str(text).map_err(|e| NvramError::Corrupt(e.to_string()))?;
        let format = value
            .get("format")
            .and_then(Value::as_u64)
            .ok_or_else(|| NvramError::Corrupt("no format number".into()))?;
        if format > u64::from(FORMAT) {
            return Err(NvramError::NewerFormat(format));
        }
        if format == 1 {
            upgrade_from_v1(&mut value);
        }
        serde_json::from_value(value).map_err(|e| NvramError::Corrupt(e.to_string()))
    }
}

/// `value` with its objects and arrays rebuilt at their exact size (the order of their entries
/// kept), at every level.
fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, compact(v))).collect())
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.into_iter().map(compact).collect();
            items.shrink_to_fit();
            Value::Array(items)
        }
        other => other,
    }
}

/// Moves the top-level settings of a format-1 store into their sections ([`V1_FIELDS`]).
fn upgrade_from_v1(value: &mut Value) {
    let Some(object) = value.as_object_mut() else {
        return;
    };
    let mut sections = Map::new();
    for &(old, section, field) in V1_FIELDS {
        let Some(setting) = object.remove(old).filter(|v| !v.is_null()) else {
            continue;
        };
        match field {
            None => {
                sections.insert(section.into(), setting);
            }
            Some(field) => {
                let entry = sections
                    .entry(section)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(fields) = entry.as_object_mut() {
                    fields.insert(field.into(), setting);
                }
            }
        }
    }
    object.insert("sections".into(), Value::Object(sections));
    object.insert("format".into(), Value::from(FORMAT));
}

/// What an [`NvramEdit`] runs: a change to the saved settings of the module's profile.
type EditFn = Box<dyn FnOnce(&mut NvramData, &Profile) + Send>;

/// A change a service makes to the saved settings, applied by the module to what is saved.
pub struct NvramEdit(EditFn);

impl NvramEdit {
    pub fn new(edit: impl FnOnce(&mut NvramData, &Profile) + Send + 'static) -> Self {
        NvramEdit(Box::new(edit))
    }

    pub fn apply(self, data: &mut NvramData, profile: &Profile) {
        (self.0)(data, profile)
    }
}

impl std::fmt::Debug for NvramEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NvramEdit(..)")
    }
}

#[derive(Debug, Error)]
pub enum NvramError {
    #[error("NVRAM store is unreadable: {0}")]
    Corrupt(String),
    #[error("NVRAM store was written by a newer nbmodem (format {0}); this version reads up to format {FORMAT}")]
    NewerFormat(u64),
    #[error("NVRAM store I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A store holding a value the module could never have written (edited by hand, damaged).
    #[error("{location}: {problem}; it was left as it is: repair it, or move it away to start from the factory settings")]
    Invalid { location: String, problem: String },
    /// A store file that cannot be used as it is; it is left untouched.
    #[error("{}: {source}; it was left as it is: repair it, or move it away to start from the factory settings", path.display())]
    InFile {
        path: PathBuf,
        source: Box<NvramError>,
    },
}

/// Where NVRAM lives.
pub trait NvramStore: Send {
    /// The saved data, or `None` for a module that has never saved anything.
    fn load(&mut self) -> Result<Option<NvramData>, NvramError>;
    /// Replaces the saved data, atomically.
    fn save(&mut self, data: &NvramData) -> Result<(), NvramError>;
    /// Where it is, for messages (a file's path).
    fn location(&self) -> String;
    /// The bytes of blob `name` (a firmware package being downloaded), empty if there is none.
    fn read_blob(&self, name: &str) -> Result<Vec<u8>, NvramError>;
    /// Cuts blob `name` to `offset` bytes and appends `bytes`, durably: a power cut leaves the
    /// old bytes and a prefix of the new ones.
    fn write_blob(&mut self, name: &str, offset: usize, bytes: &[u8]) -> Result<(), NvramError>;
    fn remove_blob(&mut self, name: &str) -> Result<(), NvramError>;
}

/// A change to a blob, as a service asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobChange {
    Write {
        name: &'static str,
        offset: usize,
        bytes: Vec<u8>,
    },
    Remove(&'static str),
}

impl BlobChange {
    pub fn apply(self, store: &mut dyn NvramStore) -> Result<(), NvramError> {
        match self {
            BlobChange::Write {
                name,
                offset,
                bytes,
            } => store.write_blob(name, offset, &bytes),
            BlobChange::Remove(name) => store.remove_blob(name),
        }
    }
}

/// NVRAM in a file `nvram.json` of the module's data directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub const FILE_NAME: &'static str = "nvram.json";

    /// The store of the module whose data directory is `dir` (created when missing).
    pub fn in_dir(dir: &Path) -> Result<FileStore, NvramError> {
        fs::create_dir_all(dir).map_err(|source| NvramError::Io {
            path: dir.into(),
            source,
        })?;
        Ok(FileStore {
            path: dir.join(Self::FILE_NAME),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Blob `name` is the file `<name>.bin` beside the settings.
    fn blob_path(&self, name: &str) -> PathBuf {
        self.path.with_file_name(format!("{name}.bin"))
    }

    fn write_atomically(&self, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        // Make the rename itself durable.
        if let Some(dir) = self.path.parent() {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl NvramStore for FileStore {
    fn load(&mut self) -> Result<Option<NvramData>, NvramError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => NvramData::decode(&text)
                .map(Some)
                .map_err(|source| NvramError::InFile {
                    path: self.path.clone(),
                    source: Box::new(source),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(NvramError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn save(&mut self, data: &NvramData) -> Result<(), NvramError> {
        self.write_atomically(data.encode().as_bytes())
            .map_err(|source| NvramError::Io {
                path: self.path.clone(),
                source,
            })
    }

    fn read_blob(&self, name: &str) -> Result<Vec<u8>, NvramError> {
        let path = self.blob_path(name);
        match fs::read(&path) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(NvramError::Io { path, source }),
        }
    }

    fn write_blob(&mut self, name: &str, offset: usize, bytes: &[u8]) -> Result<(), NvramError> {
        let path = self.blob_path(name);
        let write = || -> std::io::Result<()> {
            let mut file = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            file.set_len(offset as u64)?;
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset as u64))?;
            file.write_all(bytes)?;
            file.sync_all()
        };
        write().map_err(|source| NvramError::Io {
            path: path.clone(),
            source,
        })
    }

    fn remove_blob(&mut self, name: &str) -> Result<(), NvramError> {
        let path = self.blob_path(name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(NvramError::Io { path, source: e })
            }
            _ => Ok(()),
        }
    }
}

/// NVRAM in memory, for tests and simulations. Clones share the same content, so a test can look at
/// what a module saved. A store can be told to fail its writes, like a worn-out flash.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<MemoryInner>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    text: Option<String>,
    blobs: HashMap<String, Vec<u8>>,
    fail_writes: bool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The encoded content, as a file store would hold it.
    pub fn content(&self) -> Option<String> {
        self.lock().text.clone()
    }

    pub fn set_content(&self, text: Option<String>) {
        self.lock().text = text;
    }

    pub fn fail_writes(&self, fail: bool) {
        self.lock().fail_writes = fail;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A panic elsewhere cannot leave the plain data inside in a broken state.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl NvramStore for MemoryStore {
    fn load(&mut self) -> Result<Option<NvramData>, NvramError> {
        self.lock()
            .text
            .as_deref()
            .map(NvramData::decode)
            .transpose()
    }

    fn save(&mut self, data: &NvramData) -> Result<(), NvramError> {
        let mut inner = self.lock();
        if inner.fail_writes {
            return Err(NvramError::Io {
                path: "memory".into(),
                source: std::io::Error::other("write refused"),
            });
        }
        let mut text = data.encode();
        text.shrink_to_fit();
        inner.text = Some(text);
        Ok(())
    }

    fn location(&self) -> String {
        "NVRAM in memory".into()
    }

    fn read_blob(&self, name: &str) -> Result<Vec<u8>, NvramError> {
        Ok(self.lock().blobs.get(name).cloned().unwrap_or_default())
    }

    fn write_blob(&mut self, name: &str, offset: usize, bytes: &[u8]) -> Result<(), NvramError> {
        let mut inner = self.lock();
        if inner.fail_writes {
            return Err(NvramError::Io {
                path: "memory".into(),
                source: std::io::Error::other("write refused"),
            });
        }
        let blob = inner.blobs.entry(name.to_string()).or_default();
        blob.truncate(offset);
        blob.extend_from_slice(bytes);
        Ok(())
    }

    fn remove_blob(&mut self, name: &str) -> Result<(), NvramError> {
        self.lock().blobs.remove(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_block_written_at_its_offset_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStore::in_dir(dir.path()).unwrap();
        assert!(store.read_blob("package").unwrap().is_empty());
        store.write_blob("package", 0, &[1; 4]).unwrap();
        store.write_blob("package", 4, &[2; 4]).unwrap();
        let mut store = FileStore::in_dir(dir.path()).unwrap();
        assert_eq!(
            store.read_blob("package").unwrap(),
            [1, 1, 1, 1, 2, 2, 2, 2]
        );
        // Writing at an earlier offset drops what followed it (another package from block 0).
        store.write_blob("package", 2, &[3]).unwrap();
        let mut store = FileStore::in_dir(dir.path()).unwrap();
        assert_eq!(store.read_blob("package").unwrap(), [1, 1, 3]);
        store.remove_blob("package").unwrap();
        store.remove_blob("package").unwrap();
        let store = FileStore::in_dir(dir.path()).unwrap();
        assert!(store.read_blob("package").unwrap().is_empty());
    }

    #[test]
    fn file_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStore::in_dir(dir.path()).unwrap();
        assert!(store.load().unwrap().is_none());
        let mut data = NvramData::new("BC25", "865975030000001", "BC25PAR01A04");
        data.set_section(&Setting { value: 1 });
        store.save(&data).unwrap();
        assert_eq!(
            FileStore::in_dir(dir.path()).unwrap().load().unwrap(),
            Some(data)
        );
        assert!(!dir.path().join("nvram.json.tmp").exists());
    }

    #[test]
    fn compacting_keeps_every_value_and_its_order() {
        let value = serde_json::json!({"z": [1, {"b": 2, "a": [3]}], "a": {"y": null, "x": "s"}});
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        let compacted = compact(value.clone());
        assert_eq!(compacted, value);
        assert_eq!(keys(&compacted), keys(&value));
        assert_eq!(keys(&compacted["z"][1]), keys(&value["z"][1]));
    }

    #[test]
    fn a_section_written_again_keeps_its_place() {
        let mut data = NvramData::new("BC95", "865975030000001", "BC95HBR02A01_ONT");
        data.sections.insert("first".into(), Value::Bool(true));
        data.set_section(&Setting { value: 1 });
        data.sections.insert("last".into(), Value::Bool(false));
        let before = data.encode();
        data.set_section(&Setting { value: 2 });
        assert_eq!(
            data.encode(),
            before.replace("\"value\": 1", "\"value\": 2")
        );
    }

    /// A section of a test's own.
    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    struct Setting {
        value: u8,
    }

    impl Section for Setting {
        const NAME: &'static str = "setting";
        fn check(&self, _: &Profile) -> Result<(), String> {
            match self.value {
                0..=2 => Ok(()),
                v => Err(format!("`value` is {v}, but must be 0 to 2")),
            }
        }
    }

    #[test]
    fn a_section_reads_as_written_and_absent_until_then() {
        let mut data = NvramData::new("BC95", "865975030000001", "BC95HBR02A01_ONT");
        assert_eq!(data.section::<Setting>(), None);
        data.edit(|s: &mut Setting| s.value = 2);
        let data = NvramData::decode(&data.encode()).unwrap();
        assert_eq!(data.section(), Some(Setting { value: 2 }));
        let profile = crate::find_profile("BC95").unwrap();
        assert!(data.check(&[checked::<Setting>], profile).is_ok());
        let mut bad = data.clone();
        bad.set_section(&Setting { value: 3 });
        let problem = bad.check(&[checked::<Setting>], profile).unwrap_err();
        assert!(problem.contains("section `setting`"), "{problem}");
        let mut data = data;
        data.remove_section::<Setting>();
        assert_eq!(data.section::<Setting>(), None);
    }

    #[test]
    fn a_format_1_store_is_read_into_sections() {
        let old = r#"{"format":1,"model":"BC25","imei":"865975030000001","firmware":"BC25PAR01A04",
            "sleep_mode":1,"self_registration":true,"self_registration_reads_three":false,
            "ct_registered":null,"dm":{"mode":false},"ctiot_lifetime":900,
            "fota":{"state":2,"result":0},"fota_observation":null,"future":7}"#;
        let data = NvramData::decode(old).unwrap();
        assert_eq!(data.format, FORMAT);
        assert_eq!(
            serde_json::Value::Object(data.sections.clone()),
            serde_json::json!({
                "sleep": {"mode": 1},
                "self_registration": {"switch": true, "reads_three": false},
                "dm": {"mode": false},
                "ctiot": {"lifetime": 900},
                "fota": {"state": 2, "result": 0}
            })
        );
        assert_eq!(data.unknown.get("future"), Some(&serde_json::json!(7)));
        let minimal =
            r#"{"format":1,"model":"BC95","imei":"865975030000001","firmware":"BC95HBR02A01_ONT"}"#;
        assert!(NvramData::decode(minimal).unwrap().sections.is_empty());
    }

    #[test]
    fn unknown_fields_survive_a_rewrite() {
        let text = r#"{"format":2,"model":"BC25","imei":"865975030000001","firmware":"X",
            "sections":{"newer":{"b":2}},"future":{"a":1}}"#;
        let data = NvramData::decode(text).unwrap();
        let again = NvramData::decode(&data.encode()).unwrap();
        assert_eq!(
            again.unknown.get("future"),
            Some(&serde_json::json!({"a": 1}))
        );
        assert_eq!(
            again.sections.get("newer"),
            Some(&serde_json::json!({"b": 2}))
        );
    }

    #[test]
    fn newer_and_broken_stores_are_refused() {
        assert!(matches!(
            NvramData::decode(r#"{"format":9,"model":"BC25"}"#),
            Err(NvramError::NewerFormat(9))
        ));
        assert!(matches!(
            NvramData::decode("{\"form"),
            Err(NvramError::Corrupt(_))
        ));
        assert!(matches!(
            NvramData::decode("{}"),
            Err(NvramError::Corrupt(_))
        ));
    }

    #[test]
    fn a_damaged_file_is_named_in_the_error_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStore::in_dir(dir.path()).unwrap();
        std::fs::write(store.path(), "{\"format\":1,").unwrap();
        let error = store.load().unwrap_err().to_string();
        assert!(
            error.contains(&store.path().display().to_string()),
            "{error}"
        );
        assert!(error.contains("unreadable"), "{error}");
        assert_eq!(
            std::fs::read_to_string(store.path()).unwrap(),
            "{\"format\":1,"
        );
    }

    #[test]
    fn memory_store_can_refuse_writes() {
        let mut store = MemoryStore::new();
        store.fail_writes(true);
        assert!(store.save(&NvramData::new("BC25", "1", "2")).is_err());
        assert_eq!(store.content(), None);
    }
}
