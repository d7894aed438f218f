//! The zip archives of seed 002 §5.1.4.2: a delta package `.bin` is signed wrapped in a zip
//! (`<source>_<target>.zip`, the `.bin` its one entry), and signing writes `<name>_signed.zip`,
//! which is uploaded to the platform as it is.
//!
//! A signed archive holds three entries, all plain names:
//!
//! - `<source>_<target>.bin`: the delta package, unchanged;
//! - `<source>_<target>.bin.sig`: the signature over the `.bin`'s bytes, raw (what
//!   `openssl dgst -sha256 -sign` writes);
//! - `sign.json`: `{"algorithm": "ECDSA_256K1+SHA256", "package": "<bin name>", "sha256": "<hex>"}`.
//!
//! Archives come from outside (a platform receives them from anyone), so reading one is bounded:
//! a handful of entries, each no larger than its kind can be, and never more read than that
//! however large an entry claims or turns out to be.

use serde::{Deserialize, Serialize};
use std::io::{Cursor, Read, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::package::{DeltaPackage, MAX_PAYLOAD, MAX_REVISION};
use crate::signing::{hex, sha256, Algorithm, PrivateKey, PublicKey, Sha256Digest, SignError};

/// The signed archive's description of its signature.
pub const MANIFEST: &str = "sign.json";
/// The most entries an archive may have to be read at all.
const MAX_ENTRIES: usize = 8;
/// The largest `.bin`: the largest payload and the longest header.
const MAX_BIN: u64 = (MAX_PAYLOAD + 64 + 2 * MAX_REVISION) as u64;
/// The largest signature or `sign.json`: an RSA-4096 signature is 512 bytes.
const MAX_SMALL_ENTRY: u64 = 4096;

/// `sign.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    algorithm: String,
    package: String,
    sha256: String,
}

/// A signed archive, made.
#[derive(Debug, Clone)]
pub struct SignedArchive {
    pub bytes: Vec<u8>,
    pub algorithm: Algorithm,
    /// The `.bin` entry's name.
    pub name: String,
    /// The SHA-256 of the `.bin`.
    pub sha256: Sha256Digest,
}

/// A signed archive whose signature has been checked, and its delta package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPackage {
    pub algorithm: Algorithm,
    /// The `.bin` entry's name, e.g. `BC260YCNAAR02A01_BC260YCNAAR02A01_BETA1230A.bin`.
    pub name: String,
    /// The `.bin`'s bytes: a valid delta package.
    pub bin: Vec<u8>,
    pub sha256: Sha256Digest,
    pub source: String,
    pub target: String,
    pub payload_len: usize,
}

/// The file name of the signed archive of `zip_name`: `X.zip` → `X_signed.zip`.
pub fn signed_file_name(zip_name: &str) -> String {
    let stem = zip_name.strip_suffix(".zip").unwrap_or(zip_name);
    format!("{stem}_signed.zip")
}

/// A zip holding `bin` as its one entry `name`: what `sign` takes.
pub fn zip_package(name: &str, bin: &[u8]) -> Result<Vec<u8>, SignError> {
    write_zip(&[(name, bin)])
}

/// The one `.bin` of an unsigned package archive, checked to be a valid delta package.
pub fn read_package_zip(bytes: &[u8]) -> Result<(String, Vec<u8>), SignError> {
    let mut archive = open(bytes)?;
    let names = entry_names(&archive)?;
    let [name] = names.as_slice() else {
        return Err(SignError::NotOnePackage(describe(&names)));
    };
    if !name.ends_with(".bin") {
        return Err(SignError::NotOnePackage(describe(&names)));
    }
    let bin = read_entry(&mut archive, name, MAX_BIN)?;
    check_package(name, &bin)?;
    Ok((name.clone(), bin))
}

/// Signs the `.bin` of an unsigned package archive with `key`: the signed archive.
pub fn sign_package_zip(bytes: &[u8], key: &PrivateKey) -> Result<SignedArchive, SignError> {
    let (name, bin) = read_package_zip(bytes)?;
    let digest = sha256(&bin);
    let signature = key.sign_digest(&digest)?;
    let manifest = Manifest {
        algorithm: key.algorithm().name().to_string(),
        package: name.clone(),
        sha256: hex(&digest),
    };
    let manifest =
        serde_json::to_vec_pretty(&manifest).map_err(|e| SignError::Write(e.to_string()))?;
    let sig_name = signature_name(&name);
    let bytes = write_zip(&[
        (name.as_str(), bin.as_slice()),
        (sig_name.as_str(), signature.as_slice()),
        (MANIFEST, manifest.as_slice()),
    ])?;
    Ok(SignedArchive {
        bytes,
        algorithm: key.algorithm(),
        name,
        sha256: digest,
    })
}

/// Checks a signed archive against a public key (PEM): its entries, its signature over the `.bin`,
/// `sign.json`, and that the `.bin` is a valid delta package. What the platform does on upload.
pub fn verify_signed_zip(bytes: &[u8], public_key_pem: &str) -> Result<SignedPackage, SignError> {
    let key = PublicKey::from_pem(public_key_pem)?;
    let mut archive = open(bytes)?;
    let names = entry_names(&archive)?;
    let name = signed_bin_name(&names)?;
    let manifest = read_manifest(&mut archive)?;
    let algorithm: Algorithm = manifest
        .algorithm
        .parse()
        .map_err(|e: SignError| SignError::BadManifest(e.to_string()))?;
    if algorithm != key.algorithm() {
        return Err(SignError::WrongKeyKind {
            algorithm,
            key: key.algorithm(),
        });
    }
    let bin = read_entry(&mut archive, &name, MAX_BIN)?;
    let signature = read_entry(&mut archive, &signature_name(&name), MAX_SMALL_ENTRY)?;
    let digest = sha256(&bin);
    key.verify_digest(&digest, &signature)?;
    check_manifest(&manifest, &name, &digest)?;
    let package = check_package(&name, &bin)?;
    Ok(SignedPackage {
        algorithm,
        name,
        bin,
        sha256: digest,
        source: package.source,
        target: package.target,
        payload_len: package.payload.len(),
    })
}

fn signature_name(bin_name: &str) -> String {
    format!("{bin_name}.sig")
}

/// The `.bin` of a signed archive whose entries are exactly the `.bin`, its `.sig` and
/// `sign.json`.
fn signed_bin_name(names: &[String]) -> Result<String, SignError> {
    if !names.iter().any(|n| n == MANIFEST) {
        return Err(SignError::Missing(MANIFEST.into()));
    }
    let bins: Vec<&String> = names.iter().filter(|n| n.ends_with(".bin")).collect();
    let [bin] = bins.as_slice() else {
        return Err(SignError::NotOnePackage(describe(names)));
    };
    let expected = [bin.to_string(), signature_name(bin), MANIFEST.to_string()];
    if let Some(missing) = expected.iter().find(|e| !names.contains(e)) {
        return Err(SignError::Missing(missing.clone()));
    }
    if let Some(extra) = names.iter().find(|n| !expected.contains(n)) {
        return Err(SignError::Unexpected(extra.clone()));
    }
    Ok(bin.to_string())
}

fn read_manifest(archive: &mut ZipArchive<Cursor<&[u8]>>) -> Result<Manifest, SignError> {
    let bytes = read_entry(archive, MANIFEST, MAX_SMALL_ENTRY)?;
    serde_json::from_slice(&bytes).map_err(|e| SignError::BadManifest(e.to_string()))
}

fn check_manifest(manifest: &Manifest, name: &str, digest: &Sha256Digest) -> Result<(), SignError> {
    if manifest.package != name {
        return Err(SignError::ManifestMismatch(format!(
            "it names the package {:?}, the archive holds {name:?}",
            manifest.package
        )));
    }
    if !manifest.sha256.eq_ignore_ascii_case(&hex(digest)) {
        return Err(SignError::ManifestMismatch(format!(
            "its sha256 is {}, the package's is {}",
            manifest.sha256,
            hex(digest)
        )));
    }
    Ok(())
}

fn check_package(name: &str, bin: &[u8]) -> Result<DeltaPackage, SignError> {
    DeltaPackage::parse(bin).map_err(|reason| SignError::Package {
        name: name.to_string(),
        reason,
    })
}

/// Opens an archive that has few enough entries, each named once, none overlapping another.
fn open(bytes: &[u8]) -> Result<ZipArchive<Cursor<&[u8]>>, SignError> {
    let mut archive =
        ZipArchive::new(Cursor::new(bytes)).map_err(|e| SignError::NotAZip(e.to_string()))?;
    if archive.len() > MAX_ENTRIES {
        return Err(SignError::TooManyEntries(archive.len()));
    }
    if archive.has_duplicate_names() {
        return Err(SignError::DuplicateEntries);
    }
    // Overlapping entries are how small archives unpack to huge totals.
    if archive
        .has_overlapping_files()
        .map_err(|e| SignError::NotAZip(e.to_string()))?
    {
        return Err(SignError::OverlappingEntries);
    }
    Ok(archive)
}

/// The archive's entry names, each a plain file name.
fn entry_names(archive: &ZipArchive<Cursor<&[u8]>>) -> Result<Vec<String>, SignError> {
    archive
        .file_names_raw()
        .map(|raw| {
            let name = String::from_utf8_lossy(raw).into_owned();
            if is_plain_name(&name) {
                Ok(name)
            } else {
                Err(SignError::UnsafeName(name))
            }
        })
        .collect()
}

/// A file name without folders, parent references, control characters or a drive.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', ':', '\u{fffd}'])
        && !name.chars().any(char::is_control)
}

/// An entry's bytes, at most `limit` of them whatever its header says.
fn read_entry(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
    limit: u64,
) -> Result<Vec<u8>, SignError> {
    let bad = |reason: String| SignError::BadEntry {
        name: name.to_string(),
        reason,
    };
    let too_large = || SignError::EntryTooLarge {
        name: name.to_string(),
        limit,
    };
    let entry = archive.by_name(name).map_err(|e| bad(e.to_string()))?;
    if entry.size() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    // One byte more than the limit tells an entry that lied about its size.
    entry
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// A zip of these entries, deflated, dated 1980-01-01 so that the same entries make the same
/// archive.
fn write_zip(entries: &[(&str, &[u8])]) -> Result<Vec<u8>, SignError> {
    let failed = |e: &dyn std::fmt::Display| SignError::Write(e.to_string());
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(false);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        writer.start_file(*name, options).map_err(|e| failed(&e))?;
        writer.write_all(bytes).map_err(|e| failed(&e))?;
    }
    Ok(writer.finish().map_err(|e| failed(&e))?.into_inner())
}

/// The entry names for an error message.
fn describe(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match names.len() {
        0 => "no entry".into(),
        1 => format!("1 entry: {}", quoted[0]),
        n => format!("{n} entries: {}", quoted.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::test_keys::{pair, private};
    use proptest::prelude::*;

    const SOURCE: &str = "BC260YCNAAR02A01";
    const TARGET: &str = "BC260YCNAAR02A01_BETA1230A";
    const BIN: &str = "BC260YCNAAR02A01_BC260YCNAAR02A01_BETA1230A.bin";

    fn package_zip(size: usize) -> Vec<u8> {
        let package = DeltaPackage::make(SOURCE, TARGET, size, 7).unwrap();
        zip_package(&package.file_name(), &package.encode()).unwrap()
    }

    fn signed(algorithm: Algorithm) -> Vec<u8> {
        sign_package_zip(&package_zip(3000), &private(algorithm))
            .unwrap()
            .bytes
    }

    fn public(algorithm: Algorithm, other: bool) -> &'static str {
        &pair(algorithm, other).public_pem
    }

    /// The archive's entries, in order.
    fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = open(bytes).unwrap();
        let names = entry_names(&archive).unwrap();
        let read = |name: String| {
            let bytes = read_entry(&mut archive, &name, MAX_BIN).unwrap();
            (name, bytes)
        };
        names.into_iter().map(read).collect()
    }

    /// The archive rewritten with `change` applied to each entry.
    fn rewrite(bytes: &[u8], change: impl Fn(&str, &mut Vec<u8>)) -> Vec<u8> {
        let mut entries = entries(bytes);
        for (name, bytes) in &mut entries {
            change(name, bytes);
        }
        let refs: Vec<(&str, &[u8])> = entries
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        write_zip(&refs).unwrap()
    }

    #[test]
    fn both_algorithms_sign_and_verify_an_archive() {
        assert_eq!(
            signed_file_name("BC260YCNAAR02A01_BC260YCNAAR02A01_BETA1230A.zip"),
            "BC260YCNAAR02A01_BC260YCNAAR02A01_BETA1230A_signed.zip"
        );
        for algorithm in Algorithm::ALL {
            let archive = signed(algorithm);
            let names: Vec<String> = entries(&archive).into_iter().map(|(n, _)| n).collect();
            assert_eq!(names, [BIN, &format!("{BIN}.sig"), MANIFEST]);
            let package = verify_signed_zip(&archive, public(algorithm, false)).unwrap();
            assert_eq!(package.algorithm, algorithm);
            assert_eq!(package.name, BIN);
            assert_eq!(
                (package.source.as_str(), package.target.as_str()),
                (SOURCE, TARGET)
            );
            assert_eq!(package.payload_len, 3000);
            assert_eq!(package.sha256, sha256(&package.bin));
            let manifest = entries(&archive).pop().unwrap().1;
            let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
            assert_eq!(manifest["algorithm"], algorithm.name());
            assert_eq!(manifest["package"], BIN);
            assert_eq!(manifest["sha256"], hex(&package.sha256));
        }
    }

    #[test]
    fn a_wrong_key_is_refused() {
        let archive = signed(Algorithm::EcdsaSecp256k1Sha256);
        assert_eq!(
            verify_signed_zip(&archive, public(Algorithm::EcdsaSecp256k1Sha256, true)),
            Err(SignError::BadSignature)
        );
        assert_eq!(
            verify_signed_zip(&archive, public(Algorithm::Rsa2048Sha256, false)),
            Err(SignError::WrongKeyKind {
                algorithm: Algorithm::EcdsaSecp256k1Sha256,
                key: Algorithm::Rsa2048Sha256
            })
        );
        assert!(matches!(
            verify_signed_zip(&archive, "not a key"),
            Err(SignError::NotPem(_))
        ));
    }

    #[test]
    fn tampering_is_refused() {
        let archive = signed(Algorithm::Rsa2048Sha256);
        let key = public(Algorithm::Rsa2048Sha256, false);
        let flip_last = |bytes: &mut Vec<u8>| *bytes.last_mut().unwrap() ^= 1;
        let bin = rewrite(&archive, |name, bytes| {
            if name == BIN {
                flip_last(bytes)
            }
        });
        assert_eq!(verify_signed_zip(&bin, key), Err(SignError::BadSignature));
        let signature = rewrite(&archive, |name, bytes| {
            if name.ends_with(".sig") {
                flip_last(bytes)
            }
        });
        assert_eq!(
            verify_signed_zip(&signature, key),
            Err(SignError::BadSignature)
        );
        let manifest = rewrite(&archive, |name, bytes| {
            if name == MANIFEST {
                *bytes = String::from_utf8(bytes.clone())
                    .unwrap()
                    .replace("\"sha256\": \"", "\"sha256\": \"00")
                    .into_bytes();
            }
        });
        assert!(matches!(
            verify_signed_zip(&manifest, key),
            Err(SignError::ManifestMismatch(_))
        ));
        let garbage = rewrite(&archive, |name, bytes| {
            if name == MANIFEST {
                *bytes = b"{\"algorithm\": 1}".to_vec();
            }
        });
        assert!(matches!(
            verify_signed_zip(&garbage, key),
            Err(SignError::BadManifest(_))
        ));
    }

    #[test]
    fn signed_archives_must_hold_their_three_entries() {
        let archive = signed(Algorithm::EcdsaSecp256k1Sha256);
        let key = public(Algorithm::EcdsaSecp256k1Sha256, false);
        let mut all = entries(&archive);
        let sig = all.remove(1);
        let refs = |entries: &[(String, Vec<u8>)]| -> Vec<u8> {
            let refs: Vec<(&str, &[u8])> = entries
                .iter()
                .map(|(n, b)| (n.as_str(), b.as_slice()))
                .collect();
            write_zip(&refs).unwrap()
        };
        assert_eq!(
            verify_signed_zip(&refs(&all), key),
            Err(SignError::Missing(format!("{BIN}.sig")))
        );
        all.push(sig);
        all.push(("README.txt".into(), b"hi".to_vec()));
        assert_eq!(
            verify_signed_zip(&refs(&all), key),
            Err(SignError::Unexpected("README.txt".into()))
        );
        assert_eq!(
            verify_signed_zip(&package_zip(10), key),
            Err(SignError::Missing(MANIFEST.into()))
        );
    }

    #[test]
    fn sign_takes_exactly_one_valid_delta_package() {
        let key = private(Algorithm::EcdsaSecp256k1Sha256);
        let sign = |entries: &[(&str, &[u8])]| sign_package_zip(&write_zip(entries).unwrap(), &key);
        let bin = DeltaPackage::make(SOURCE, TARGET, 10, 1).unwrap().encode();
        assert!(matches!(
            sign(&[("a.bin", &bin), ("b.bin", &bin)]),
            Err(SignError::NotOnePackage(e)) if e == r#"2 entries: "a.bin", "b.bin""#
        ));
        assert!(matches!(
            sign(&[("a.txt", &bin)]),
            Err(SignError::NotOnePackage(e)) if e == r#"1 entry: "a.txt""#
        ));
        assert!(matches!(sign(&[]), Err(SignError::NotOnePackage(_))));
        assert_eq!(
            sign(&[("a.bin", b"firmware")]).unwrap_err(),
            SignError::Package {
                name: "a.bin".into(),
                reason: crate::PackageError::NotAPackage
            }
        );
        assert!(matches!(
            sign_package_zip(b"PK\x03\x04 not really", &key),
            Err(SignError::NotAZip(_))
        ));
    }

    #[test]
    fn hostile_archives_are_refused() {
        let bin = DeltaPackage::make(SOURCE, TARGET, 10, 1).unwrap().encode();
        for name in [
            "../x.bin",
            "/etc/x.bin",
            "dir/x.bin",
            "..\\x.bin",
            "C:x.bin",
            "x\n.bin",
        ] {
            let zip = write_zip(&[(name, &bin)]).unwrap();
            assert_eq!(
                read_package_zip(&zip),
                Err(SignError::UnsafeName(name.into())),
                "{name}"
            );
        }
        let many: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("{i}.bin")).collect();
        let many: Vec<(&str, &[u8])> = many.iter().map(|n| (n.as_str(), &b""[..])).collect();
        assert_eq!(
            read_package_zip(&write_zip(&many).unwrap()),
            Err(SignError::TooManyEntries(MAX_ENTRIES + 1))
        );
        let twice = write_zip(&[("a.bin", &bin), ("b.bin", &bin)]).unwrap();
        let twice = replace_all(&twice, b"b.bin", b"a.bin");
        assert_eq!(read_package_zip(&twice), Err(SignError::DuplicateEntries));
    }

    #[test]
    fn a_zip_bomb_is_refused_unread() {
        let zeros = vec![0u8; MAX_BIN as usize + 1];
        let bomb = write_zip(&[("x.bin", &zeros)]).unwrap();
        assert!(bomb.len() < 200_000);
        let too_large = SignError::EntryTooLarge {
            name: "x.bin".into(),
            limit: MAX_BIN,
        };
        assert_eq!(read_package_zip(&bomb), Err(too_large));
    }

    #[test]
    fn an_entry_larger_than_its_headers_say_is_refused() {
        let zip = write_zip(&[("x.bin", &[7u8; 5000])]).unwrap();
        // The sizes in the local and the central header: 5000 becomes 100.
        let lying = replace_all(&zip, &5000u32.to_le_bytes(), &100u32.to_le_bytes());
        let mut archive = open(&lying).unwrap();
        // The zip crate stops at the declared size; reading at most the limit is the second net.
        assert!(matches!(
            read_entry(&mut archive, "x.bin", 1000),
            Err(SignError::BadEntry { .. })
        ));
    }

    fn signed_once() -> &'static [u8] {
        static ARCHIVE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        ARCHIVE.get_or_init(|| signed(Algorithm::EcdsaSecp256k1Sha256))
    }

    fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        let mut i = 0;
        while i + from.len() <= out.len() {
            if &out[i..i + from.len()] == from {
                out[i..i + from.len()].copy_from_slice(to);
                i += from.len();
            } else {
                i += 1;
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn damaged_archives_are_refused_without_panicking(
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)
        ) {
            let archive = signed_once();
            let mut damaged = archive.to_vec();
            for (at, xor) in flips {
                damaged[at.index(archive.len())] ^= xor;
            }
            // Damage to what the checks do not cover (a date, an unused field) may pass, but
            // never with other package bytes.
            if let Ok(package) = verify_signed_zip(&damaged, public(Algorithm::EcdsaSecp256k1Sha256, false)) {
                prop_assert_eq!(package.bin, entries(archive).swap_remove(0).1);
            }
        }

        #[test]
        fn any_bytes_are_refused_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut zip = b"PK\x03\x04".to_vec();
            zip.extend_from_slice(&bytes);
            prop_assert!(read_package_zip(&zip).is_err());
            prop_assert!(read_package_zip(&bytes).is_err());
        }
    }
}
