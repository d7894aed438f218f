//! The DFOTA manufacturers' public keys in the store (`ctiot_fota_keys`): one row per platform and
//! manufacturer, its body the key as JSON.

use crate::{Store, StoreError};
use nbmodem_standin::ctiot::keys::ManufacturerKey;
use nbmodem_standin::Flavour;
use rusqlite::{params, Connection};

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
