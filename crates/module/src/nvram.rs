//! NVRAM: the module's non-volatile settings.
//!
//! The module keeps two copies of its settings, as the seeds describe: the **saved** copy, written
//! to the store the moment a command changes it, and the **in-use** copy, loaded from the saved one
//! at boot. This file holds the saved copy ([`NvramData`]) and the stores it is written to.
//!
//! [`FileStore`] writes atomically: the new content goes to a temporary file that is flushed to disk
//! and then renamed over the old one, so a power cut (`kill -9`) at any moment leaves either the old
//! or the new content. The format is versioned JSON: fields added by later versions have defaults,
//! fields this version does not know are kept as they were, and a store written in a newer format is
//! refused with a clear error instead of being overwritten.

use crate::profile::{DmConfig, Profile};
use crate::revision::Revision;
use nbmodem_operators::selfreg::Registry;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// The format this version writes.
pub const FORMAT: u32 = 1;

/// The saved settings of one module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NvramData {
    pub format: u32,
    /// The model the store belongs to; a store is never used by another model.
    pub model: String,
    pub imei: String,
    /// The installed firmware revision (changed by `--firmware` or a firmware update).
    pub firmware: String,
    /// AT+QSCLK.
    #[serde(default)]
    pub sleep_mode: u8,
    /// AT+QSELFREGISTER / AT+QSREGENABLE; `None` until set: the firmware's default.
    #[serde(default)]
    pub self_registration: Option<bool>,
    /// BC260Y-CN: reads as 3 after a firmware update, until set again (seed 001).
    #[serde(default)]
    pub self_registration_reads_three: bool,
    /// China Mobile DM settings (AT+QDMPCFG, AT+QDMPCFGEX, AT+DMPCONFIG).
    #[serde(default)]
    pub dm: DmSettings,
    /// What the last successful China Telecom self-registration registered.
    #[serde(default)]
    pub ct_registered: Option<Registered>,
    /// What the last successful China Unicom self-registration registered, and when.
    #[serde(default)]
    pub cu_registered: Option<Registered>,
    /// AT+NCFG=0: the China Telecom IoT platform lifetime, seconds (0: none).
    #[serde(default)]
    pub ctiot_lifetime: u32,
    /// The firmware update (LwM2M Object 5) as it stands: what survives a power cut.
    #[serde(default)]
    pub fota: FotaRecord,
    /// The platform's observation of /5/0/3, kept across the reboot into new firmware: the
    /// result is notified on it after the next registration (protocols.md §5).
    #[serde(default)]
    pub fota_observation: Option<KeptObservation>,
    /// The Neul family's settings (AT+NCONFIG, AT+NBAND, AT+NCDP, …).
    #[serde(default)]
    pub neul: crate::neul::NeulSettings,
    /// Fields written by a newer version of nbmodem, kept untouched.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

impl NvramData {
    pub fn new(model: &str, imei: &str, firmware: &str) -> Self {
        NvramData {
            format: FORMAT,
            model: model.into(),
            imei: imei.into(),
            firmware: firmware.into(),
            sleep_mode: 0,
            self_registration: None,
            self_registration_reads_three: false,
            dm: DmSettings::default(),
            ct_registered: None,
            cu_registered: None,
            ctiot_lifetime: 0,
            fota: FotaRecord::default(),
            fota_observation: None,
            neul: Default::default(),
            unknown: Map::new(),
        }
    }

    /// Whether operator self-registration is switched on: the setting, or the firmware's default.
    pub fn self_registration_on(&self, profile: &Profile) -> bool {
        self.self_registration
            .unwrap_or_else(|| profile.self_registration.default_on(&self.firmware))
    }

    /// The last successful self-registration with `registry`.
    pub fn registered(&self, registry: Registry) -> Option<&Registered> {
        match registry {
            Registry::ChinaTelecom => self.ct_registered.as_ref(),
            Registry::ChinaUnicom => self.cu_registered.as_ref(),
        }
    }

    /// Records a successful self-registration with `registry`.
    pub fn set_registered(&mut self, registry: Registry, registered: Registered) {
        let slot = match registry {
            Registry::ChinaTelecom => &mut self.ct_registered,
            Registry::ChinaUnicom => &mut self.cu_registered,
        };
        *slot = Some(registered);
    }

    /// Installs firmware revision `new` (`--firmware` or a firmware update). BC260Y-CN: an
    /// update from `read_three_after_update_from` (or earlier) to a later revision with
    /// self-registration on keeps the setting but makes AT+QSREGENABLE? read 3 (seed 001).
    pub fn install_firmware(&mut self, profile: &Profile, new: &str) {
        let limit = profile
            .self_registration
            .read_three_after_update_from
            .and_then(Revision::parse);
        if let (Some(limit), Some(old), Some(next)) =
            (limit, Revision::parse(&self.firmware), Revision::parse(new))
        {
            let crosses = old.is_at_most(&limit) && limit.is_at_most(&next) && next != limit;
            if crosses && self.self_registration == Some(true) {
                self.self_registration_reads_three = true;
            }
        }
        self.firmware = new.into();
    }

    /// Checks that every value is one the module's commands could have stored, so that a store
    /// edited by hand or damaged cannot make the module misbehave (`"imei":"12"` would make
    /// AT+CGSN=2 cut a 15-digit IMEI; an update period of 0 would send Updates without end).
    /// The problem found, in words.
    pub fn check(&self, profile: &Profile) -> Result<(), String> {
        let bad = |field: &str, value: &dyn std::fmt::Debug, want: &str| {
            Err(format!("`{field}` is {value:?}, but must be {want}"))
        };
        if crate::identity::check_imei(&self.imei).is_err() {
            return bad("imei", &self.imei, "15 digits");
        }
        if crate::revision::Revision::parse(&self.firmware).is_none() {
            return bad(
                "firmware",
                &self.firmware,
                "a revision such as BC25PAR01A04",
            );
        }
        if self.fota.state > 3 || self.fota.result > 9 {
            return bad(
                "fota",
                &self.fota,
                "a state of 0 to 3 and a result of 0 to 9",
            );
        }
        if self
            .fota
            .uri
            .as_ref()
            .is_some_and(|uri| uri.len() > MAX_PACKAGE_URI)
        {
            let want = format!("a package URI of at most {MAX_PACKAGE_URI} bytes");
            return bad("fota.uri", &self.fota.uri, &want);
        }
        if let Some(kept) = &self.fota_observation {
            kept.check()
                .or_else(|want| bad("fota_observation", kept, &want))?;
        }
        for (field, registered) in [
            ("ct_registered", &self.ct_registered),
            ("cu_registered", &self.cu_registered),
        ] {
            if registered.as_ref().is_some_and(|r| !r.is_sound()) {
                return bad(
                    field,
                    registered,
                    "a revision, a 15-digit IMEI and an ICCID",
                );
            }
        }
        if self.sleep_mode > 2 {
            return bad("sleep_mode", &self.sleep_mode, "0, 1 or 2");
        }
        if let Some(ctiot) = &profile.ctiot {
            let lifetime = self.ctiot_lifetime;
            if lifetime > ctiot.lifetime_max || (1..ctiot.lifetime_floor).contains(&lifetime) {
                let want = format!("0 or {} to {}", ctiot.lifetime_floor, ctiot.lifetime_max);
                return bad("ctiot_lifetime", &lifetime, &want);
            }
        }
        self.neul.check(profile)?;
        self.dm.check(&profile.dm)
    }

    pub fn encode(&self) -> String {
        serde_json::to_string_pretty(self).expect("NVRAM data is plain JSON") + "\n"
    }

    pub fn decode(text: &str) -> Result<NvramData, NvramError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| NvramError::Corrupt(e.to_string()))?;
        let format = value
            .get("format")
            .and_then(Value::as_u64)
            .ok_or_else(|| NvramError::Corrupt("no format number".into()))?;
        if format > u64::from(FORMAT) {
            return Err(NvramError::NewerFormat(format));
        }
        serde_json::from_value(value).map_err(|e| NvramError::Corrupt(e.to_string()))
    }
}

/// A change a service makes to the saved settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NvramChange {
    /// A successful self-registration with a registry.
    Registered(Registry, Registered),
    /// The firmware update's state changed.
    Fota(FotaRecord),
    /// A firmware update succeeded: the new revision is installed, in one write with the state
    /// that reports it.
    FirmwareUpdated { firmware: String, fota: FotaRecord },
    /// The /5/0/3 observation to report the update's result on (`None` once reported).
    FotaObservation(Option<KeptObservation>),
}

impl NvramChange {
    pub fn apply(self, data: &mut NvramData, profile: &Profile) {
        match self {
            NvramChange::Registered(registry, registered) => {
                data.set_registered(registry, registered)
            }
            NvramChange::Fota(record) => data.fota = record,
            NvramChange::FirmwareUpdated { firmware, fota } => {
                data.install_firmware(profile, &firmware);
                data.fota = fota;
            }
            NvramChange::FotaObservation(kept) => data.fota_observation = kept,
        }
    }
}

/// The firmware update as NVRAM keeps it: Object 5's state (0 idle, 1 downloading, 2
/// downloaded, 3 updating) and update result (0–9, protocols.md §5), and the package URI being
/// downloaded (a power cut resumes it when the platform writes the same URI again). The
/// package's bytes are a blob of their own ([`FOTA_PACKAGE`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FotaRecord {
    pub state: u8,
    pub result: u8,
    #[serde(default)]
    pub uri: Option<String>,
}

/// An observation the platform made, as the device keeps it across a reboot: its token and the
/// sequence number of the last notification (the server's address is the one it registers with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptObservation {
    /// The token, as hex.
    pub token: String,
    pub sequence: u32,
}

impl KeptObservation {
    /// Whether the observation is one CoAP can carry: a token of 0 to 8 bytes in hex and a
    /// sequence number that fits the Observe option (24 bits); what it must be, if not.
    fn check(&self) -> Result<(), String> {
        let token = nbmodem_operators::ctiot::decode_hex(&self.token);
        let token_ok = token.is_some_and(|t| t.len() <= nbmodem_coap::MAX_TOKEN);
        if token_ok && self.sequence <= nbmodem_coap::MAX_SEQUENCE {
            return Ok(());
        }
        Err(format!(
            "a token of 0 to {} bytes in hex and a sequence of at most {}",
            nbmodem_coap::MAX_TOKEN,
            nbmodem_coap::MAX_SEQUENCE
        ))
    }
}

/// The longest package URI the firmware object takes (protocols.md §5: /5/0/1).
pub const MAX_PACKAGE_URI: usize = 255;

/// The name of the blob holding the firmware package downloaded so far.
pub const FOTA_PACKAGE: &str = "fota-package";

/// A successful self-registration: the firmware, IMEI and ICCID it registered, and when (ms since
/// the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub firmware: String,
    pub imei: String,
    pub iccid: String,
    pub at_ms: u64,
}

impl Registered {
    /// Whether every field is one a self-registration could have recorded.
    fn is_sound(&self) -> bool {
        crate::identity::check_imei(&self.imei).is_ok()
            && crate::identity::check_iccid(&self.iccid).is_ok()
            && Revision::parse(&self.firmware).is_some()
    }
}

/// China Mobile DM settings; `None` (or absent) is the factory default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmSettings {
    #[serde(default)]
    pub mode: Option<bool>,
    #[serde(default)]
    pub server: Option<DmServerSetting>,
    #[serde(default)]
    pub credentials: Option<DmCredentials>,
    /// AT+DMPCONFIG type 3.
    #[serde(default)]
    pub plmns: Vec<String>,
    /// AT+QDMPCFGEX values by type; a value not there reads `NULL`.
    #[serde(default)]
    pub info: std::collections::BTreeMap<u8, Vec<String>>,
}

impl DmSettings {
    /// DM_mode: on unless switched off.
    pub fn enabled(&self) -> bool {
        self.mode.unwrap_or(true)
    }

    /// The configured port, or the default.
    pub fn port(&self) -> u16 {
        self.server
            .as_ref()
            .and_then(|s| s.port)
            .unwrap_or(crate::services::cmdmp::DEFAULT_PORT)
    }

    /// The configured update period, or the profile's default.
    pub fn period(&self, dm: &DmConfig) -> u32 {
        self.server.as_ref().map_or(dm.default_period, |s| s.period)
    }

    /// See [`NvramData::check`].
    fn check(&self, dm: &DmConfig) -> Result<(), String> {
        let bad = |field: &str, value: &dyn std::fmt::Debug, want: &str| {
            Err(format!("`dm.{field}` is {value:?}, but must be {want}"))
        };
        if let Some(server) = &self.server {
            let (low, high) = dm.port_range;
            if !(300..=4_294_966).contains(&server.period) {
                return bad("server.period", &server.period, "300 to 4294966 seconds");
            }
            if server.port.is_some_and(|p| !(low..=high).contains(&p)) {
                return bad("server.port", &server.port, &format!("{low} to {high}"));
            }
            if server.host.len() > 253 {
                return bad("server.host", &server.host, "at most 253 characters");
            }
        }
        if let Some(c) = &self.credentials {
            let key_ok = (1..=64).contains(&c.app_key.len());
            let password_ok = (1..=64).contains(&c.password.len());
            if !key_ok || !password_ok {
                return bad(
                    "credentials",
                    &c.app_key,
                    "an app key and password of 1 to 64 characters",
                );
            }
            if c.terminal_type > 2 || !(15..=17).contains(&c.terminal_imei.len()) {
                return bad(
                    "credentials",
                    &(c.terminal_type, &c.terminal_imei),
                    "terminal type 0 to 2 and an IMEI of 15 to 17 characters",
                );
            }
        }
        let plmn_ok =
            |p: &String| (5..=6).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
        if self.plmns.len() > 3 || !self.plmns.iter().all(plmn_ok) {
            return bad("plmns", &self.plmns, "at most 3 PLMNs of 5 or 6 digits");
        }
        for (kind, values) in &self.info {
            let limits = crate::services::cmdmp::DEVICE_INFO.get(usize::from(*kind));
            let fits = limits.is_some_and(|limits| {
                limits.len() == values.len()
                    && limits
                        .iter()
                        .zip(values)
                        .all(|((_, max), v)| v.len() <= *max)
            });
            if !fits {
                return bad(
                    "info",
                    &(kind, values),
                    "AT+QDMPCFGEX values of types 0 to 5",
                );
            }
        }
        Ok(())
    }

    /// The configured credentials, or the factory's: the profile's key and password for a
    /// module (terminal type 0) with the module's own IMEI.
    pub fn credentials(&self, dm: &DmConfig, imei: &str) -> DmCredentials {
        self.credentials
            .clone()
            .unwrap_or_else(|| DmCredentials::factory(dm, imei))
    }
}

/// AT+QDMPCFG type 1. An empty host or no port: the default (AT+DMPCONFIG=1, , ,300).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmServerSetting {
    pub host: String,
    pub port: Option<u16>,
    pub period: u32,
}

/// AT+QDMPCFG type 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmCredentials {
    pub app_key: String,
    pub password: String,
    pub terminal_type: u8,
    pub terminal_imei: String,
}

impl DmCredentials {
    /// What a factory module registers with.
    pub fn factory(dm: &DmConfig, imei: &str) -> Self {
        DmCredentials {
            app_key: dm.factory_key.app_key.into(),
            password: dm.factory_key.password.into(),
            terminal_type: 0,
            terminal_imei: imei.into(),
        }
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
        inner.text = Some(data.encode());
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
        assert!(store.read_blob(FOTA_PACKAGE).unwrap().is_empty());
        store.write_blob(FOTA_PACKAGE, 0, &[1; 4]).unwrap();
        store.write_blob(FOTA_PACKAGE, 4, &[2; 4]).unwrap();
        let mut store = FileStore::in_dir(dir.path()).unwrap();
        assert_eq!(
            store.read_blob(FOTA_PACKAGE).unwrap(),
            [1, 1, 1, 1, 2, 2, 2, 2]
        );
        // Writing at an earlier offset drops what followed it (another package from block 0).
        store.write_blob(FOTA_PACKAGE, 2, &[3]).unwrap();
        let mut store = FileStore::in_dir(dir.path()).unwrap();
        assert_eq!(store.read_blob(FOTA_PACKAGE).unwrap(), [1, 1, 3]);
        store.remove_blob(FOTA_PACKAGE).unwrap();
        store.remove_blob(FOTA_PACKAGE).unwrap();
        let store = FileStore::in_dir(dir.path()).unwrap();
        assert!(store.read_blob(FOTA_PACKAGE).unwrap().is_empty());
    }

    #[test]
    fn file_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStore::in_dir(dir.path()).unwrap();
        assert!(store.load().unwrap().is_none());
        let mut data = NvramData::new("BC25", "865975030000001", "BC25PAR01A04");
        data.sleep_mode = 1;
        store.save(&data).unwrap();
        assert_eq!(
            FileStore::in_dir(dir.path()).unwrap().load().unwrap(),
            Some(data)
        );
        assert!(!dir.path().join("nvram.json.tmp").exists());
    }

    #[test]
    fn an_older_store_without_newer_fields_is_read_with_defaults() {
        let old =
            r#"{"format":1,"model":"BC95","imei":"865975030000001","firmware":"BC95HBR02A01_ONT"}"#;
        let data = NvramData::decode(old).unwrap();
        assert_eq!(data.sleep_mode, 0);
        assert_eq!(data.model, "BC95");
    }

    #[test]
    fn unknown_fields_survive_a_rewrite() {
        let text = r#"{"format":1,"model":"BC25","imei":"865975030000001","firmware":"X","future":{"a":1}}"#;
        let data = NvramData::decode(text).unwrap();
        let again = NvramData::decode(&data.encode()).unwrap();
        assert_eq!(
            again.unknown.get("future"),
            Some(&serde_json::json!({"a": 1}))
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
