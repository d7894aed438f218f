//! China Mobile CMDMP device management (protocols.md §3): the encrypted endpoint name, the EPI of
//! each Update, and the encrypted values of object 666.
//!
//! Every secret value is AES-256-CBC with the key SHA-256(password), a zero IV and PKCS#7 padding,
//! then base64. The endpoint name is `T@#@<cipher>@#@<AppKey>@#@<IMEI>@#@v2.0`, where the cipher
//! hides `IMEI-IMEI2-IMSI-v2.0` (`****` for an empty field) and T is `I`, `L` or `A` for an
//! interface module, Linux or Android. The EPI is the same with `****` as the fourth field of the
//! plaintext.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::sha::sha256;
use openssl::symm::{decrypt as aes_decrypt, encrypt as aes_encrypt, Cipher};
use thiserror::Error;

/// The DM server's port when none is configured.
pub const DEFAULT_PORT: u16 = 5683;

/// The AT+QDMPCFGEX values of each type: the object 666 resource that carries each (protocols.md
/// §3.5) and its maximum length (seed 000 §3.2.2).
pub const DEVICE_INFO: [&[(u16, usize)]; 6] = [
    &[(6602, 255)],
    &[(6603, 19)],
    &[(6604, 19), (6605, 19), (6606, 19), (6607, 47)],
    &[(6608, 47), (6609, 47)],
    &[(6610, 7), (6611, 19), (6612, 47), (6613, 19)],
    &[(6614, 255)],
];

/// The DM protocol version every v2 integration sends.
pub const DM_VERSION: &str = "v2.0";

/// An app key and the password issued with it, as a module carries them from the factory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactoryKey {
    pub app_key: &'static str,
    pub password: &'static str,
}

/// The factory keys of the emulated modules, one per family of models (the seed that documents
/// them): a fresh module on a China Mobile SIM registers with CMDMP using its family's key (seed
/// 000 §2.3.1, seed 001 §2.2.1), and the stand-in CMDMP server knows every one. These are the
/// project's own values; no vendor's key is used.
pub const FACTORY_BC25: FactoryKey = FactoryKey {
    app_key: "NBMODEMBC25",
    password: "nbmFactoryKeyBC25BC32family00001",
};
pub const FACTORY_BC260Y: FactoryKey = FactoryKey {
    app_key: "NBMODEMBC260Y",
    password: "nbmFactoryKeyBC260YCN00000000002",
};
pub const FACTORY_BC26: FactoryKey = FactoryKey {
    app_key: "NBMODEMBC26",
    password: "nbmFactoryKeyBC26BC20family00003",
};
pub const FACTORY_NEUL: FactoryKey = FactoryKey {
    app_key: "NBMODEMNEUL",
    password: "nbmFactoryKeyBC35BC28BC95fam0004",
};
pub const FACTORY_KEYS: [FactoryKey; 4] =
    [FACTORY_BC25, FACTORY_BC260Y, FACTORY_BC26, FACTORY_NEUL];

/// What stands for an empty field.
const EMPTY: &str = "****";

const SEPARATOR: &str = "@#@";

/// The terminal type of AT+QDMPCFG type 2: 0 interface, 1 Linux, 2 Android.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TerminalType {
    Interface,
    Linux,
    Android,
}

impl TerminalType {
    pub fn from_number(n: u64) -> Option<TerminalType> {
        match n {
            0 => Some(TerminalType::Interface),
            1 => Some(TerminalType::Linux),
            2 => Some(TerminalType::Android),
            _ => None,
        }
    }

    pub fn letter(self) -> char {
        match self {
            TerminalType::Interface => 'I',
            TerminalType::Linux => 'L',
            TerminalType::Android => 'A',
        }
    }

    fn from_letter(c: &str) -> Option<TerminalType> {
        [
            TerminalType::Interface,
            TerminalType::Linux,
            TerminalType::Android,
        ]
        .into_iter()
        .find(|t| c.len() == 1 && c.starts_with(t.letter()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DmError {
    #[error("not base64")]
    NotBase64,
    #[error("does not decrypt with this password")]
    WrongPassword,
    #[error("decrypts to something that is not text")]
    NotText,
    #[error("not a DM endpoint name (T@#@cipher@#@AppKey@#@IMEI@#@version)")]
    BadName,
    #[error("the encrypted identity is malformed")]
    BadIdentity,
}

fn key(password: &str) -> [u8; 32] {
    sha256(password.as_bytes())
}

/// Encrypts a DM value: base64(AES-256-CBC(SHA-256(password), IV 0, PKCS#7)).
pub fn encrypt(password: &str, plaintext: &str) -> String {
    let cipher = aes_encrypt(
        Cipher::aes_256_cbc(),
        &key(password),
        Some(&[0u8; 16]),
        plaintext.as_bytes(),
    )
    .expect("AES-256-CBC with a 32-byte key and a 16-byte IV cannot fail");
    STANDARD.encode(cipher)
}

/// Decrypts a DM value.
pub fn decrypt(password: &str, encoded: &str) -> Result<String, DmError> {
    let cipher = STANDARD.decode(encoded).map_err(|_| DmError::NotBase64)?;
    let plain = aes_decrypt(
        Cipher::aes_256_cbc(),
        &key(password),
        Some(&[0u8; 16]),
        &cipher,
    )
    .map_err(|_| DmError::WrongPassword)?;
    String::from_utf8(plain).map_err(|_| DmError::NotText)
}

/// Who the device is, as the encrypted part of its name says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceIdentity {
    pub imei: String,
    pub imei2: String,
    pub imsi: String,
}

fn or_empty_marker(field: &str) -> &str {
    if field.is_empty() {
        EMPTY
    } else {
        field
    }
}

fn plaintext(id: &DeviceIdentity, last: &str) -> String {
    format!(
        "{}-{}-{}-{last}",
        or_empty_marker(&id.imei),
        or_empty_marker(&id.imei2),
        or_empty_marker(&id.imsi)
    )
}

fn outer(terminal: TerminalType, cipher: &str, app_key: &str, imei: &str) -> String {
    [
        &terminal.letter().to_string(),
        cipher,
        app_key,
        imei,
        DM_VERSION,
    ]
    .join(SEPARATOR)
}

/// The endpoint name of the Register.
pub fn endpoint_name(
    terminal: TerminalType,
    app_key: &str,
    password: &str,
    id: &DeviceIdentity,
) -> String {
    outer(
        terminal,
        &encrypt(password, &plaintext(id, DM_VERSION)),
        app_key,
        &id.imei,
    )
}

/// The EPI of each Update.
pub fn epi(terminal: TerminalType, app_key: &str, password: &str, id: &DeviceIdentity) -> String {
    outer(
        terminal,
        &encrypt(password, &plaintext(id, EMPTY)),
        app_key,
        &id.imei,
    )
}

/// An endpoint name or EPI split into its fields (extra fields some SDKs append are ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedName {
    pub terminal: TerminalType,
    pub cipher: String,
    pub app_key: String,
    pub imei: String,
    pub version: String,
}

pub fn parse_name(name: &str) -> Result<ParsedName, DmError> {
    let fields: Vec<&str> = name.split(SEPARATOR).collect();
    let [terminal, cipher, app_key, imei, version, ..] = fields[..] else {
        return Err(DmError::BadName);
    };
    Ok(ParsedName {
        terminal: TerminalType::from_letter(terminal).ok_or(DmError::BadName)?,
        cipher: cipher.into(),
        app_key: app_key.into(),
        imei: imei.into(),
        version: version.into(),
    })
}

impl ParsedName {
    /// Decrypts the identity with the password of the name's app key; returns it and the last
    /// plaintext field (`v2.0` in a name, `****` in an EPI).
    pub fn identity(&self, password: &str) -> Result<(DeviceIdentity, String), DmError> {
        let plain = decrypt(password, &self.cipher)?;
        let parts: Vec<&str> = plain.splitn(4, '-').collect();
        let [imei, imei2, imsi, last] = parts[..] else {
            return Err(DmError::BadIdentity);
        };
        let field = |s: &str| {
            if s == EMPTY {
                String::new()
            } else {
                s.to_string()
            }
        };
        Ok((
            DeviceIdentity {
                imei: field(imei),
                imei2: field(imei2),
                imsi: field(imsi),
            },
            last.to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> DeviceIdentity {
        DeviceIdentity {
            imei: "863703030822519".into(),
            imei2: String::new(),
            imsi: "460040000000001".into(),
        }
    }

    #[test]
    fn values_round_trip_and_pad_full_blocks() {
        for text in ["", "x", "0123456789abcdef", "Douyin|FW1|990650|9123"] {
            let encrypted = encrypt("77GaaTUi33nUK05ha528888QFbk0Y38M", text);
            let cipher_len = STANDARD.decode(&encrypted).unwrap().len();
            assert_eq!(
                cipher_len,
                (text.len() / 16 + 1) * 16,
                "PKCS#7 adds a whole block to a full one"
            );
            assert_eq!(
                decrypt("77GaaTUi33nUK05ha528888QFbk0Y38M", &encrypted).unwrap(),
                text
            );
        }
        assert_eq!(
            decrypt("another password", &encrypt("pw", "secret")),
            Err(DmError::WrongPassword)
        );
        assert_eq!(decrypt("pw", "@@@"), Err(DmError::NotBase64));
    }

    #[test]
    fn endpoint_name_and_epi() {
        let name = endpoint_name(TerminalType::Linux, "M100000089", "pw", &device());
        let parsed = parse_name(&name).unwrap();
        assert!(name.starts_with("L@#@"));
        assert!(name.ends_with("@#@M100000089@#@863703030822519@#@v2.0"));
        assert_eq!(
            (parsed.terminal, parsed.app_key.as_str()),
            (TerminalType::Linux, "M100000089")
        );
        assert_eq!(parsed.identity("pw").unwrap(), (device(), "v2.0".into()));
        assert_eq!(
            decrypt("pw", &parsed.cipher).unwrap(),
            "863703030822519-****-460040000000001-v2.0"
        );
        let epi = parse_name(&epi(TerminalType::Linux, "M100000089", "pw", &device())).unwrap();
        assert_eq!(epi.identity("pw").unwrap().1, "****");
    }

    #[test]
    fn names_that_are_not_dm_names() {
        for bad in ["", "865975030000001", "X@#@a@#@b@#@c@#@d", "I@#@a@#@b@#@c"] {
            assert_eq!(parse_name(bad), Err(DmError::BadName), "{bad}");
        }
        let extended = "I@#@abc@#@M1@#@1@#@v2.0@#@M1+1@#@SN@#@0";
        assert_eq!(parse_name(extended).unwrap().version, "v2.0");
    }
}
