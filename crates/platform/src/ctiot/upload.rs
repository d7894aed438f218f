//! The checks of a signed DFOTA package's upload (seed 002 §5.1.5 and its note, §5.2.2): the
//! platform takes a package only when
//!
//! - the product named exists and its profile declares, for the device the package is for,
//!   `omCapability.fwUpgradeCapability` with `supportUpgrade: true` over LwM2M with a CoAP
//!   download (seed §5.1.2: "否则在平台上将无法上传对应设备的差分包");
//! - the manufacturer, device type, model and protocol given are exactly those of a device of
//!   that profile ("必须与应用的 Profile 严格一致");
//! - the manufacturer has a public key on the platform and the archive's signature verifies
//!   against it (`nbmodem_fota::verify_signed_zip`: entries, signature, manifest, delta package);
//! - the version given is the package's target revision.
//!
//! Checking only: the package is then added through [`super::Admin::add_package`].

use super::admin::{AdminError, NewPackage};
use super::fota::Package;
use super::state::CtIotState;
use super::{Flavour, Product};
use nbmodem_fota::SignError;
use serde_json::Value;

/// A signed archive as uploaded, with the metadata the upload form asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUpload {
    /// The package's id on the platform; none: the `.bin`'s name without `.bin`.
    pub id: Option<String>,
    /// The `…_signed.zip` bytes.
    pub zip: Vec<u8>,
    pub version: String,
    pub manufacturer: String,
    pub device_type: String,
    pub model: String,
    pub protocol: String,
    /// The product whose profile the metadata must match.
    pub product: String,
}

/// The package to add for an upload that passes every check.
pub fn check(
    state: &CtIotState,
    flavour: Flavour,
    upload: SignedUpload,
) -> Result<NewPackage, AdminError> {
    let product = state
        .product(flavour, &upload.product)
        .ok_or_else(|| AdminError::NoSuchProduct(flavour, upload.product.clone()))?;
    let given = [
        upload.manufacturer.as_str(),
        &upload.device_type,
        &upload.model,
        &upload.protocol,
    ];
    let device = profile_device(&product.profile, &upload.product, given)?;
    check_capability(device, &upload.product)?;
    let key = state
        .manufacturer_key(flavour, &upload.manufacturer)
        .ok_or_else(|| AdminError::NoKey(flavour, upload.manufacturer.clone()))?;
    let signed = nbmodem_fota::verify_signed_zip(&upload.zip, &key.public_key)
        .map_err(|e| refusal(&upload.manufacturer, e))?;
    if signed.target != upload.version {
        return Err(AdminError::BadPackage(format!(
            "the version {:?} is not the package's target revision {:?}",
            upload.version, signed.target
        )));
    }
    let id = upload.id.unwrap_or_else(|| {
        let stem = signed.name.strip_suffix(".bin");
        stem.unwrap_or(&signed.name).to_string()
    });
    Ok(NewPackage {
        id,
        bytes: signed.bin,
        manufacturer: upload.manufacturer,
        device_type: upload.device_type,
        model: upload.model,
        protocol: upload.protocol,
        // An uploaded package is served by the platform itself.
        uri: None,
    })
}

/// Why an archive is refused, the actual reason first: only a signature that does not verify, or
/// one made with another kind of key, is a signature refusal; an archive that is not a zip, has
/// too many entries or an unsafe name never got as far as its signature.
fn refusal(manufacturer: &str, error: SignError) -> AdminError {
    match error {
        SignError::BadSignature | SignError::WrongKeyKind { .. } => {
            AdminError::BadSignature(manufacturer.to_string(), error.to_string())
        }
        other => AdminError::BadArchive(other.to_string()),
    }
}

/// The profile's fields the metadata must match, in the order of the upload's.
const MATCHED: [&str; 4] = ["manufacturerId", "deviceType", "model", "protocolType"];

/// Whether a package's metadata is that of a device of `product`'s profile (seed §5.1.5's note:
/// else its upgrades fail) that declares the upgrade capability (seed §5.1.2: without it "平台也
/// 无法对该设备创建固件升级任务").
pub(super) fn check_fits(product: &Product, package: &Package) -> Result<(), AdminError> {
    let given = [
        package.manufacturer.as_str(),
        &package.device_type,
        &package.model,
        &package.protocol,
    ];
    let device = profile_device(&product.profile, &product.id, given)?;
    check_capability(device, &product.id)
}

/// The device of `product`'s profile that the metadata `given` (manufacturer, device type, model,
/// protocol) names exactly (the manufacturer by its `manufacturerId` or its `manufacturerName`,
/// as the seed's template has both).
fn profile_device<'p>(
    profile: &'p Value,
    product: &str,
    given: [&str; 4],
) -> Result<&'p Value, AdminError> {
    let devices = profile["devices"].as_array().map(Vec::as_slice);
    let matches = |device: &&Value| {
        let manufacturer = ["manufacturerId", "manufacturerName"]
            .iter()
            .any(|field| device[field].as_str() == Some(given[0]));
        let others = MATCHED[1..]
            .iter()
            .zip(&given[1..])
            .all(|(field, value)| device[field].as_str() == Some(*value));
        manufacturer && others
    };
    devices
        .unwrap_or_default()
        .iter()
        .find(matches)
        .ok_or_else(|| {
            let profile_has: Vec<String> = devices
                .unwrap_or_default()
                .iter()
                .map(|d| describe(MATCHED.map(|field| d[field].as_str().unwrap_or("?"))))
                .collect();
            AdminError::ProfileMismatch(
                product.to_string(),
                describe(given),
                profile_has.join("; "),
            )
        })
}

/// `manufacturer quectel, device type WaterMeter, model NBIoTDevice, protocol CoAP`.
fn describe(values: [&str; 4]) -> String {
    let names = ["manufacturer", "device type", "model", "protocol"];
    let parts: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(name, value)| format!("{name} {value:?}"))
        .collect();
    parts.join(", ")
}

/// The device's `omCapability.fwUpgradeCapability` as seed §5.1.2's template has it.
fn check_capability(device: &Value, product: &str) -> Result<(), AdminError> {
    let capability = &device["omCapability"]["fwUpgradeCapability"];
    let supported = capability["supportUpgrade"] == Value::Bool(true)
        && capability["upgradeProtocolType"] == "LWM2M"
        && capability["downloadProtocolType"] == "CoAP";
    supported
        .then_some(())
        .ok_or_else(|| AdminError::NoUpgradeCapability(product.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_refusal_names_its_own_reason_first() {
        let not_signature = [
            (
                SignError::NotAZip("invalid Zip archive".into()),
                "not a zip",
            ),
            (
                SignError::TooManyEntries(10_000),
                "the archive has 10000 entries",
            ),
            (
                SignError::UnsafeName("../x.bin".into()),
                "entry \"../x.bin\" is not",
            ),
            (
                SignError::Missing("sign.json".into()),
                "the signed archive has no",
            ),
        ];
        for (error, start) in not_signature {
            let text = refusal("quectel", error).to_string();
            assert!(text.starts_with(start), "{text}");
            assert!(!text.contains("signature does not check"), "{text}");
        }
        let text = refusal("quectel", SignError::BadSignature).to_string();
        assert!(
            text.starts_with("the package's signature does not check against manufacturer quectel"),
            "{text}"
        );
    }
}
