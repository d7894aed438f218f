//! Issuing CMDMP app keys (`M100000001`, …) and the 32-character passwords that go with them.
//!
//! The DM server looks each Register's app key up in the store and decrypts the device's identity
//! with that key's password, so a device can register only with a key issued here.

use crate::{AppKey, Store, StoreError};

/// The characters of generated passwords.
const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const PASSWORD_LENGTH: usize = 32;
/// Generated keys are `M` and nine digits, counting up from here.
const FIRST_KEY_NUMBER: u64 = 100_000_001;
const MAX_LENGTH: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum AppKeyError {
    #[error("an app key is 1 to 64 letters and digits, not {0:?}")]
    BadKey(String),
    #[error("a password is 1 to 64 printable ASCII characters without spaces")]
    BadPassword,
    #[error("no randomness for a password: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Issues `app_key` (or the next free `M1000000xx`) with `password` (or a random one). An app key
/// that exists keeps its password unless a new one is given.
pub fn issue(
    store: &mut Store,
    app_key: Option<&str>,
    password: Option<&str>,
) -> Result<AppKey, AppKeyError> {
    if let Some(key) = app_key.filter(|k| !valid_key(k)) {
        return Err(AppKeyError::BadKey(key.to_string()));
    }
    if password.is_some_and(|p| !valid_password(p)) {
        return Err(AppKeyError::BadPassword);
    }
    let random = random_password()?;
    Ok(store.issue_app_key(|existing| {
        let key = app_key.map_or_else(|| next_key(existing), String::from);
        let old = existing.iter().find(|k| k.app_key == key);
        let password = password
            .map(String::from)
            .or_else(|| old.map(|k| k.password.clone()))
            .unwrap_or(random);
        AppKey {
            app_key: key,
            password,
        }
    })?)
}

fn valid_key(key: &str) -> bool {
    (1..=MAX_LENGTH).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn valid_password(password: &str) -> bool {
    (1..=MAX_LENGTH).contains(&password.len()) && password.bytes().all(|b| b.is_ascii_graphic())
}

/// One more than the highest `M` + nine digits key issued so far.
fn next_key(existing: &[AppKey]) -> String {
    let highest = existing
        .iter()
        .filter_map(|k| k.app_key.strip_prefix('M'))
        .filter(|digits| digits.len() == 9)
        .filter_map(|digits| digits.parse::<u64>().ok())
        .max();
    let next = highest.map_or(FIRST_KEY_NUMBER, |n| (n + 1).max(FIRST_KEY_NUMBER));
    format!("M{next}")
}

/// 32 letters and digits from the system's random source (unbiased: bytes past the last whole
/// multiple of the alphabet are drawn again).
fn random_password() -> Result<String, AppKeyError> {
    let limit = (256 / PASSWORD_ALPHABET.len() * PASSWORD_ALPHABET.len()) as u8;
    let mut password = String::with_capacity(PASSWORD_LENGTH);
    let mut bytes = [0u8; 64];
    while password.len() < PASSWORD_LENGTH {
        openssl::rand::rand_bytes(&mut bytes).map_err(|e| AppKeyError::Random(e.to_string()))?;
        password.extend(
            bytes
                .iter()
                .filter(|b| **b < limit)
                .map(|b| char::from(PASSWORD_ALPHABET[usize::from(*b) % PASSWORD_ALPHABET.len()]))
                .take(PASSWORD_LENGTH - password.len()),
        );
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> AppKey {
        AppKey {
            app_key: name.into(),
            password: "pw".into(),
        }
    }

    #[test]
    fn generated_keys_count_up() {
        assert_eq!(next_key(&[]), "M100000001");
        assert_eq!(
            next_key(&[key("M100000089"), key("X1"), key("M7")]),
            "M100000090"
        );
    }

    #[test]
    fn passwords_are_32_letters_and_digits() {
        let a = random_password().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, random_password().unwrap());
    }

    #[test]
    fn keys_and_passwords_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        assert!(matches!(
            issue(&mut store, Some("M1@#@2"), None),
            Err(AppKeyError::BadKey(_))
        ));
        assert!(matches!(
            issue(&mut store, None, Some("two words")),
            Err(AppKeyError::BadPassword)
        ));
        let first = issue(&mut store, None, None).unwrap();
        assert_eq!(first.app_key, "M100000001");
        let same = issue(&mut store, Some("M100000001"), None).unwrap();
        assert_eq!(same, first);
        let changed = issue(&mut store, Some("M100000001"), Some("secret")).unwrap();
        assert_eq!(changed.password, "secret");
        assert_eq!(
            store.password("M100000001").unwrap().as_deref(),
            Some("secret")
        );
    }
}
