//! DFOTA manufacturer public keys (seed 002 §5.1.4–5.1.5): a platform keeps one public key per
//! manufacturer, and a signed package is checked against the key of the manufacturer it names.
//! The keys are rows of the store (`ctiot_fota_keys`), written through the platform's API before
//! they reach the shared state, like everything else the platforms know.

use super::Flavour;
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
