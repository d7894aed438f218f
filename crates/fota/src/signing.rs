//! Key pairs and signatures for delta packages (seed 002 §5.1.3 and §5.1.4.2): the two algorithms
//! of the CT IoT platform's offline signing tool, `RSA2048+SHA256` (RSASSA-PKCS1-v1_5) and
//! `ECDSA_256K1+SHA256` (ECDSA on secp256k1, the signature in DER).
//!
//! Both sign the SHA-256 digest of the signed bytes, so a signature is exactly what
//! `openssl dgst -sha256 -sign private.pem` makes and `openssl dgst -sha256 -verify public.pem`
//! accepts. Private keys are kept as encrypted PKCS#8 PEM (PBES2: PBKDF2-HMAC-SHA256 and
//! AES-256-CBC) under a pass phrase, public keys as SubjectPublicKeyInfo PEM.

use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use pkcs8::der::{Document, SecretDocument};
use pkcs8::pkcs5::pbes2;
use pkcs8::spki::AlgorithmIdentifierRef;
use pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey,
    EncryptedPrivateKeyInfoRef, LineEnding, ObjectIdentifier, PrivateKeyInfoRef,
    SubjectPublicKeyInfoRef,
};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

use crate::package::PackageError;

/// The RSA modulus size keygen makes, and the smallest a loaded key may have.
pub const RSA_BITS: usize = 2048;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");

const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";
const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// A SHA-256 digest.
pub type Sha256Digest = [u8; 32];

/// The SHA-256 digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> Sha256Digest {
    Sha256::digest(bytes).into()
}

/// Lower-case hexadecimal, as `sha256sum` and `openssl dgst` print digests.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A signature algorithm of the signing tool, named as the tool and the seed name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSA with a 2048-bit modulus, RSASSA-PKCS1-v1_5 over SHA-256.
    Rsa2048Sha256,
    /// ECDSA on secp256k1 over SHA-256, the signature DER-encoded.
    EcdsaSecp256k1Sha256,
}

impl Algorithm {
    pub const ALL: [Algorithm; 2] = [Algorithm::Rsa2048Sha256, Algorithm::EcdsaSecp256k1Sha256];

    /// The seed's name: `RSA2048+SHA256` or `ECDSA_256K1+SHA256`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rsa2048Sha256 => "RSA2048+SHA256",
            Algorithm::EcdsaSecp256k1Sha256 => "ECDSA_256K1+SHA256",
        }
    }

    /// The kind of key the algorithm needs, for error messages.
    fn key_kind(self) -> &'static str {
        match self {
            Algorithm::Rsa2048Sha256 => "an RSA key",
            Algorithm::EcdsaSecp256k1Sha256 => "a secp256k1 EC key",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = SignError;

    /// The seed's names, in any case.
    fn from_str(s: &str) -> Result<Algorithm, SignError> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| SignError::UnknownAlgorithm(s.to_string()))
    }
}

/// Why a key, a signature or a signed archive is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("unknown signature algorithm {0:?}: RSA2048+SHA256 or ECDSA_256K1+SHA256")]
    UnknownAlgorithm(String),
    #[error("the key is not PEM: {0}")]
    NotPem(String),
    #[error("the PEM holds a {found:?}, not a {wanted:?}")]
    WrongPemLabel { found: String, wanted: &'static str },
    #[error(
        "the private key is not encrypted (PEM {0:?}): convert it with \
         `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
    )]
    NotEncrypted(String),
    #[error("the key is malformed: {0}")]
    MalformedKey(String),
    #[error("wrong pass phrase (or the private key is damaged)")]
    WrongPassphrase,
    #[error("the pass phrase is empty")]
    EmptyPassphrase,
    #[error("unsupported key ({0}): only RSA and secp256k1 EC keys sign delta packages")]
    UnsupportedKey(String),
    #[error("an RSA key of {0} bits is too small: {RSA_BITS} bits at least")]
    WeakKey(usize),
    #[error("{algorithm} needs {}, the key is {}", algorithm.key_kind(), key.key_kind())]
    WrongKeyKind {
        algorithm: Algorithm,
        key: Algorithm,
    },
    #[error("cannot make the key: {0}")]
    KeyGeneration(String),
    #[error("cannot sign: {0}")]
    Signing(String),
    #[error(
        "the signature does not match: the package was changed after signing, or signed with \
         another key"
    )]
    BadSignature,
    #[error("not a zip archive: {0}")]
    NotAZip(String),
    #[error("the archive has {0} entries, more than a package archive ever holds")]
    TooManyEntries(usize),
    #[error("the archive names an entry twice")]
    DuplicateEntries,
    #[error("entries of the archive overlap (a zip bomb?)")]
    OverlappingEntries,
    #[error("entry {name:?} is larger than {limit} bytes")]
    EntryTooLarge { name: String, limit: u64 },
    #[error("entry {0:?} is not a plain file name (no folders, no .., no control characters)")]
    UnsafeName(String),
    #[error("cannot read entry {name:?}: {reason}")]
    BadEntry { name: String, reason: String },
    #[error("the archive must hold exactly one .bin delta package and nothing else; it holds {0}")]
    NotOnePackage(String),
    #[error("the signed archive has no {0}")]
    Missing(String),
    #[error("the signed archive holds {0:?}, which is none of the .bin, its .sig and sign.json")]
    Unexpected(String),
    #[error("sign.json is malformed: {0}")]
    BadManifest(String),
    #[error("sign.json does not match the archive: {0}")]
    ManifestMismatch(String),
    #[error("{name} is not a valid delta package: {reason}")]
    Package { name: String, reason: PackageError },
    #[error("cannot write the archive: {0}")]
    Write(String),
}

/// A key pair as the signing tool writes it: `private.pem` and `public.pem`.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// `-----BEGIN ENCRYPTED PRIVATE KEY-----`: PKCS#8, encrypted under the pass phrase.
    pub private_pem: String,
    /// `-----BEGIN PUBLIC KEY-----`: SubjectPublicKeyInfo.
    pub public_pem: String,
}

/// A new key pair for `algorithm` from the operating system's random generator, the private key
/// encrypted under `passphrase`.
pub fn generate_key_pair(algorithm: Algorithm, passphrase: &[u8]) -> Result<KeyPair, SignError> {
    let key = PrivateKey::generate(algorithm)?;
    Ok(KeyPair {
        private_pem: key.to_encrypted_pem(passphrase)?,
        public_pem: key.public_key().to_pem()?,
    })
}

/// A private key that signs.
pub struct PrivateKey(Secret);

enum Secret {
    Rsa(Box<rsa::PrivateKey>),
    Ecdsa(k256::ecdsa::SigningKey),
}

/// A public key that verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(Public);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Public {
    Rsa(Box<rsa::PublicKey>),
    Ecdsa(k256::ecdsa::VerifyingKey),
}

impl PrivateKey {
    /// A new key from the operating system's random generator.
    pub fn generate(algorithm: Algorithm) -> Result<PrivateKey, SignError> {
        let rng = &mut getrandom::SysRng;
        let failed = |e: &dyn fmt::Display| SignError::KeyGeneration(e.to_string());
        Ok(PrivateKey(match algorithm {
            Algorithm::Rsa2048Sha256 => Secret::Rsa(Box::new(
                rsa::PrivateKey::new(rng, RSA_BITS).map_err(|e| failed(&e))?,
            )),
            Algorithm::EcdsaSecp256k1Sha256 => Secret::Ecdsa(
                k256::elliptic_curve::Generate::try_generate_from_rng(rng)
                    .map_err(|e| failed(&e))?,
            ),
        }))
    }

    /// Reads an encrypted PKCS#8 PEM key (`-----BEGIN ENCRYPTED PRIVATE KEY-----`), as keygen and
    /// `openssl pkcs8 -topk8 -v2 aes-256-cbc` write it.
    pub fn from_encrypted_pem(pem: &str, passphrase: &[u8]) -> Result<PrivateKey, SignError> {
        let (label, document) =
            SecretDocument::from_pem(pem).map_err(|e| SignError::NotPem(e.to_string()))?;
        if label != ENCRYPTED_LABEL {
            return Err(if label.ends_with("PRIVATE KEY") {
                SignError::NotEncrypted(label.to_string())
            } else {
                wrong_label(label, ENCRYPTED_LABEL)
            });
        }
        let encrypted =
            EncryptedPrivateKeyInfoRef::try_from(document.as_bytes()).map_err(malformed)?;
        let plain = encrypted.decrypt(passphrase).map_err(decryption_error)?;
        let info = PrivateKeyInfoRef::try_from(plain.as_bytes()).map_err(malformed)?;
        let der = plain.as_bytes();
        Ok(PrivateKey(match algorithm_of(&info.algorithm)? {
            Algorithm::Rsa2048Sha256 => {
                let key = rsa::PrivateKey::from_pkcs8_der(der).map_err(malformed)?;
                check_rsa_size(&key)?;
                Secret::Rsa(Box::new(key))
            }
            Algorithm::EcdsaSecp256k1Sha256 => {
                Secret::Ecdsa(k256::ecdsa::SigningKey::from_pkcs8_der(der).map_err(malformed)?)
            }
        }))
    }

    /// The key as encrypted PKCS#8 PEM: PBES2 with PBKDF2-HMAC-SHA256 (600,000 iterations, a
    /// random salt) and AES-256-CBC, which OpenSSL and the usual tools read.
    pub fn to_encrypted_pem(&self, passphrase: &[u8]) -> Result<String, SignError> {
        if passphrase.is_empty() {
            return Err(SignError::EmptyPassphrase);
        }
        let failed = |e: &dyn fmt::Display| SignError::KeyGeneration(e.to_string());
        let plain = match &self.0 {
            Secret::Rsa(key) => key.to_pkcs8_der(),
            Secret::Ecdsa(key) => key.to_pkcs8_der(),
        }
        .map_err(|e| failed(&e))?;
        let params =
            pbes2::Parameters::generate_pbkdf2(&mut getrandom::SysRng).map_err(|e| failed(&e))?;
        let info = PrivateKeyInfoRef::try_from(plain.as_bytes()).map_err(|e| failed(&e))?;
        let encrypted = info
            .encrypt_with_params(params, passphrase)
            .map_err(|e| failed(&e))?;
        let pem = encrypted
            .to_pem(ENCRYPTED_LABEL, LineEnding::LF)
            .map_err(|e| failed(&e))?;
        Ok(pem.to_string())
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.0 {
            Secret::Rsa(_) => Algorithm::Rsa2048Sha256,
            Secret::Ecdsa(_) => Algorithm::EcdsaSecp256k1Sha256,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(match &self.0 {
            Secret::Rsa(key) => Public::Rsa(Box::new(key.to_public_key())),
            Secret::Ecdsa(key) => Public::Ecdsa(*key.verifying_key()),
        })
    }

    /// Signs the message whose SHA-256 digest is `digest`: the raw RSA signature, or the DER
    /// ECDSA signature (deterministic, RFC 6979).
    pub fn sign_digest(&self, digest: &Sha256Digest) -> Result<Vec<u8>, SignError> {
        let failed = |e: &dyn fmt::Display| SignError::Signing(e.to_string());
        match &self.0 {
            Secret::Rsa(key) => key
                .pkcs1v15_sign_prehash::<Sha256>(digest)
                .map_err(|e| failed(&e)),
            Secret::Ecdsa(key) => {
                let signature: k256::ecdsa::DerSignature =
                    key.sign_prehash(digest).map_err(|e| failed(&e))?;
                Ok(signature.as_bytes().to_vec())
            }
        }
    }
}

impl PublicKey {
    /// Reads a SubjectPublicKeyInfo PEM key (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_pem(pem: &str) -> Result<PublicKey, SignError> {
        let (label, document) =
            Document::from_pem(pem).map_err(|e| SignError::NotPem(e.to_string()))?;
        if label != PUBLIC_KEY_LABEL {
            return Err(wrong_label(label, PUBLIC_KEY_LABEL));
        }
        let der = document.as_bytes();
        let info = SubjectPublicKeyInfoRef::try_from(der).map_err(malformed)?;
        Ok(PublicKey(match algorithm_of(&info.algorithm)? {
            Algorithm::Rsa2048Sha256 => {
                let key = rsa::PublicKey::from_public_key_der(der).map_err(malformed)?;
                check_rsa_size(&key)?;
                Public::Rsa(Box::new(key))
            }
            Algorithm::EcdsaSecp256k1Sha256 => Public::Ecdsa(
                k256::ecdsa::VerifyingKey::from_public_key_der(der).map_err(malformed)?,
            ),
        }))
    }

    /// The key as SubjectPublicKeyInfo PEM.
    pub fn to_pem(&self) -> Result<String, SignError> {
        match &self.0 {
            Public::Rsa(key) => key.to_public_key_pem(LineEnding::LF),
            Public::Ecdsa(key) => key.to_public_key_pem(LineEnding::LF),
        }
        .map_err(|e| SignError::KeyGeneration(e.to_string()))
    }

    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        match self.0 {
            Public::Rsa(_) => Algorithm::Rsa2048Sha256,
            Public::Ecdsa(_) => Algorithm::EcdsaSecp256k1Sha256,
        }
    }

    /// Checks `signature` over the message whose SHA-256 digest is `digest`.
    pub fn verify_digest(&self, digest: &Sha256Digest, signature: &[u8]) -> Result<(), SignError> {
        let verified = match &self.0 {
            Public::Rsa(key) => key
                .pkcs1v15_verify_prehash::<Sha256>(digest, signature)
                .is_ok(),
            Public::Ecdsa(key) => k256::ecdsa::Signature::from_der(signature)
                // OpenSSL makes high-S signatures half the time; k256 accepts only low S, and a
                // package signature is no identifier that malleability could confuse.
                .map(|s| s.normalize_s())
                .is_ok_and(|s| key.verify_prehash(digest, &s).is_ok()),
        };
        if verified {
            Ok(())
        } else {
            Err(SignError::BadSignature)
        }
    }
}

/// The algorithm a key of this PKCS#8/SPKI algorithm identifier signs with.
fn algorithm_of(id: &AlgorithmIdentifierRef<'_>) -> Result<Algorithm, SignError> {
    if id.oid == RSA_ENCRYPTION {
        return Ok(Algorithm::Rsa2048Sha256);
    }
    if id.oid != EC_PUBLIC_KEY {
        return Err(SignError::UnsupportedKey(format!("algorithm {}", id.oid)));
    }
    match id.parameters_oid() {
        Ok(curve) if curve == SECP256K1 => Ok(Algorithm::EcdsaSecp256k1Sha256),
        Ok(curve) => Err(SignError::UnsupportedKey(format!("EC curve {curve}"))),
        Err(_) => Err(SignError::UnsupportedKey(
            "an EC key without a named curve".into(),
        )),
    }
}

fn check_rsa_size(key: &impl PublicKeyParts) -> Result<(), SignError> {
    let bits = key.n().bit_width() as usize;
    if bits < RSA_BITS {
        Err(SignError::WeakKey(bits))
    } else {
        Ok(())
    }
}

fn wrong_label(found: &str, wanted: &'static str) -> SignError {
    SignError::WrongPemLabel {
        found: found.to_string(),
        wanted,
    }
}

fn malformed(e: impl fmt::Display) -> SignError {
    SignError::MalformedKey(e.to_string())
}

/// A failed decryption is a wrong pass phrase unless the key names a scheme we lack.
fn decryption_error(e: pkcs8::Error) -> SignError {
    match e {
        pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed)
        | pkcs8::Error::Asn1(_) => SignError::WrongPassphrase,
        other => SignError::MalformedKey(format!("cannot decrypt it: {other}")),
    }
}

/// Keys made once for all the crate's tests: RSA key generation takes a while.
#[cfg(test)]
pub(crate) mod test_keys {
    use super::*;
    use std::sync::OnceLock;

    pub const PASSPHRASE: &[u8] = b"Quectel123";

    /// A key pair of `algorithm`, the same for every test; `other` picks a second one.
    pub fn pair(algorithm: Algorithm, other: bool) -> &'static KeyPair {
        static PAIRS: [[OnceLock<KeyPair>; 2]; 2] = [const { [const { OnceLock::new() }; 2] }; 2];
        let index = Algorithm::ALL.iter().position(|a| *a == algorithm).unwrap();
        PAIRS[index][usize::from(other)]
            .get_or_init(|| generate_key_pair(algorithm, PASSPHRASE).unwrap())
    }

    pub fn private(algorithm: Algorithm) -> PrivateKey {
        PrivateKey::from_encrypted_pem(&pair(algorithm, false).private_pem, PASSPHRASE).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_keys::{pair, private, PASSPHRASE};
    use super::*;

    const P256_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEMXKbgWW3xjHYaE/2Fn8cJjTT7z+s
rLF518GmstTrLWLkuTZnXPc2dvJWjhqeJGZSdtPnJVnGqcxhGqWCrZPGKg==
-----END PUBLIC KEY-----
";
    const ED25519_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA9uSm9iFLb7Yy67okMIu8TpyeWIMq51zwbqAlSpDugqU=
-----END PUBLIC KEY-----
";
    const RSA1024_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDFxUAFAXeodi4DxW9CInHYQG76
u7chXEFwuwn3DDmqKL99VWCP8ixUlMCOudxm92hXAFmb1sYHboc0Wc+wJb4+wF6D
PEowQ9zWmZeQ4Dqtximolbhtw8b5zRGfFTC4K/+6lMbyOHodIjwt2W0MLtgwSb8p
z03W9vtD28lBMaUiwQIDAQAB
-----END PUBLIC KEY-----
";

    #[test]
    fn algorithms_have_the_seeds_names() {
        for algorithm in Algorithm::ALL {
            assert_eq!(algorithm.to_string().parse::<Algorithm>(), Ok(algorithm));
        }
        assert_eq!(
            "ecdsa_256k1+sha256".parse(),
            Ok(Algorithm::EcdsaSecp256k1Sha256)
        );
        assert_eq!(
            "RSA4096".parse::<Algorithm>(),
            Err(SignError::UnknownAlgorithm("RSA4096".into()))
        );
    }

    #[test]
    fn both_algorithms_sign_and_verify_with_their_pem_files() {
        for algorithm in Algorithm::ALL {
            let pair = pair(algorithm, false);
            assert!(pair
                .private_pem
                .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
            assert!(pair.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
            let key = private(algorithm);
            assert_eq!(key.algorithm(), algorithm);
            let public = PublicKey::from_pem(&pair.public_pem).unwrap();
            assert_eq!(public, key.public_key());
            let digest = sha256(b"a delta package");
            let signature = key.sign_digest(&digest).unwrap();
            assert_eq!(public.verify_digest(&digest, &signature), Ok(()));
            let other = sha256(b"another delta package");
            assert_eq!(
                public.verify_digest(&other, &signature),
                Err(SignError::BadSignature)
            );
            let mut tampered = signature.clone();
            tampered[10] ^= 1;
            assert_eq!(
                public.verify_digest(&digest, &tampered),
                Err(SignError::BadSignature)
            );
        }
    }

    #[test]
    fn another_key_pair_does_not_verify() {
        for algorithm in Algorithm::ALL {
            let digest = sha256(b"x");
            let signature = private(algorithm).sign_digest(&digest).unwrap();
            let other = PublicKey::from_pem(&pair(algorithm, true).public_pem).unwrap();
            assert_eq!(
                other.verify_digest(&digest, &signature),
                Err(SignError::BadSignature)
            );
        }
    }

    #[test]
    fn a_wrong_pass_phrase_is_named() {
        let pem = &pair(Algorithm::EcdsaSecp256k1Sha256, false).private_pem;
        assert!(matches!(
            PrivateKey::from_encrypted_pem(pem, b"Quectel124"),
            Err(SignError::WrongPassphrase)
        ));
        assert!(matches!(
            PrivateKey::from_encrypted_pem(pem, PASSPHRASE),
            Ok(key) if key.algorithm() == Algorithm::EcdsaSecp256k1Sha256
        ));
    }

    #[test]
    fn keys_of_the_wrong_form_are_named() {
        let pair = pair(Algorithm::EcdsaSecp256k1Sha256, false);
        let load = |pem: &str| PrivateKey::from_encrypted_pem(pem, PASSPHRASE).err();
        assert!(matches!(load("hello"), Some(SignError::NotPem(_))));
        assert_eq!(
            load(&pair.public_pem),
            Some(SignError::WrongPemLabel {
                found: "PUBLIC KEY".into(),
                wanted: ENCRYPTED_LABEL
            })
        );
        let plain = private(Algorithm::EcdsaSecp256k1Sha256);
        let SignError::WrongPemLabel { .. } = PublicKey::from_pem(&pair.private_pem).unwrap_err()
        else {
            panic!("a private key taken for a public one");
        };
        let Secret::Ecdsa(secret) = plain.0 else {
            unreachable!()
        };
        let unencrypted = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(
            load(&unencrypted),
            Some(SignError::NotEncrypted("PRIVATE KEY".into()))
        );
        assert_eq!(
            generate_key_pair(Algorithm::EcdsaSecp256k1Sha256, b"").err(),
            Some(SignError::EmptyPassphrase)
        );
    }

    #[test]
    fn unsupported_public_keys_are_named() {
        assert_eq!(
            PublicKey::from_pem(P256_PUBLIC),
            Err(SignError::UnsupportedKey(
                "EC curve 1.2.840.10045.3.1.7".into()
            ))
        );
        assert_eq!(
            PublicKey::from_pem(ED25519_PUBLIC),
            Err(SignError::UnsupportedKey("algorithm 1.3.101.112".into()))
        );
        assert_eq!(
            PublicKey::from_pem(RSA1024_PUBLIC),
            Err(SignError::WeakKey(1024))
        );
        let garbled = P256_PUBLIC.replace("MFkw", "MFkx");
        assert!(matches!(
            PublicKey::from_pem(&garbled),
            Err(SignError::MalformedKey(_) | SignError::NotPem(_))
        ));
    }

    #[test]
    fn a_new_key_pair_is_new_each_time() {
        let a = generate_key_pair(Algorithm::EcdsaSecp256k1Sha256, PASSPHRASE).unwrap();
        let b = generate_key_pair(Algorithm::EcdsaSecp256k1Sha256, PASSPHRASE).unwrap();
        assert_ne!(a.public_pem, b.public_pem);
    }
}
