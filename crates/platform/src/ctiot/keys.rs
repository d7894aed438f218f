//! DFOTA manufacturer public keys (seed 002 §5.1.4–5.1.5): a platform keeps one public key per
//! manufacturer, and a signed package is checked against the key of the manufacturer it names.
//! The keys are rows of the store (`ctiot_fota_keys`), written through [`super::Admin`] before
//! they reach the shared state, like everything else the platforms know.

use super::Flavour;
use crate::store::{Store, StoreError};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

/// The longest manufacturer name.
pub const MAX_MANUFACTURER: usize = 64;

/// A manufacturer's public key on a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManufacturerKey {
    pub flavour: Flavour,
    /// As the product profile names it (`manufacturerId` or `manufacturerName`).
    pub manufacturer: String,
    /// The signature algorithm the key is for (`RSA2048+SHA256`, `ECDSA_256K1+SHA256`).
    pub algorithm: String,
    /// The key as PEM (`-----BEGIN PUBLIC KEY-----`), as the platform re-encoded it.
    pub public_key: String,
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Writes (or replaces) a key.
pub(crate) fn save(connection: &Connection, key: &ManufacturerKey) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO ctiot_fota_keys (flavour, manufacturer, body)
             VALUES (?1, ?2, ?3)",
        )?
        .execute(params![
            key.flavour.as_str(),
            key.manufacturer,
            serde_json::to_string(key).map_err(corrupt)?
        ])?;
    Ok(())
}

pub(crate) fn remove(
    connection: &Connection,
    flavour: Flavour,
    manufacturer: &str,
) -> Result<(), StoreError> {
    connection
        .prepare_cached("DELETE FROM ctiot_fota_keys WHERE flavour = ?1 AND manufacturer = ?2")?
        .execute(params![flavour.as_str(), manufacturer])?;
    Ok(())
}

impl Store {
    /// The manufacturers' public keys of both platforms.
    pub fn fota_keys(&self) -> Result<Vec<ManufacturerKey>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT body FROM ctiot_fota_keys ORDER BY flavour, manufacturer")?;
        let mut rows = statement.query([])?;
        let mut keys = Vec::new();
        while let Some(row) = rows.next()? {
            let body = row.get::<_, String>(0)?;
            keys.push(serde_json::from_str(&body).map_err(corrupt)?);
        }
        Ok(keys)
    }
}
