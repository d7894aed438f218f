//! Session settings, the credential limits, and the cipher suites.

use std::time::Duration;

use crate::error::Error;

/// The PSK cipher suites offered by a client and accepted by a server, most preferred first, in
/// OpenSSL's names (IANA names in the comments).
pub const CIPHER_SUITES: [&str; 5] = [
    // TLS_PSK_WITH_AES_128_CCM_8: mandatory for CoAP over DTLS (RFC 7252 §9.1.3.1), libcoap's default.
    "PSK-AES128-CCM8",
    // TLS_PSK_WITH_AES_128_CCM: LwM2M 1.1.
    "PSK-AES128-CCM",
    // TLS_PSK_WITH_AES_128_GCM_SHA256.
    "PSK-AES128-GCM-SHA256",
    // TLS_PSK_WITH_AES_128_CBC_SHA256: mandatory for LwM2M 1.0.
    "PSK-AES128-CBC-SHA256",
    // TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256: LwM2M 1.1, adds forward secrecy.
    "ECDHE-PSK-AES128-CBC-SHA256",
];

/// The longest PSK identity accepted (RFC 4279 allows more; common stacks stop at 128 bytes).
pub const MAX_IDENTITY_LEN: usize = 128;
/// The longest pre-shared key accepted (OpenSSL 1.1.1's limit; 3.0 allows 512).
pub const MAX_KEY_LEN: usize = 256;
/// Messages [`crate::DtlsSession::send`] keeps while the handshake is still running.
pub const MAX_WAITING_MESSAGES: usize = 32;

/// The smallest datagram OpenSSL's DTLS accepts as a path MTU.
const MIN_DATAGRAM_SIZE: u16 = 256;
/// DTLS record header (13 bytes) plus the worst per-record overhead of [`CIPHER_SUITES`]:
/// AES-CBC with HMAC-SHA256 adds a 16-byte explicit IV, a 32-byte MAC and up to 16 bytes of padding.
const WORST_RECORD_OVERHEAD: usize = 13 + 16 + 32 + 16;

/// Settings of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// First handshake retransmission timeout (RFC 6347 §4.2.4.1 recommends 1 s).
    pub initial_retransmit_timeout: Duration,
    /// The timeout doubles after each retransmission up to this (RFC 6347: 60 s).
    pub max_retransmit_timeout: Duration,
    /// The handshake fails when a flight, sent this many extra times, still gets no answer within
    /// the timeout. OpenSSL itself gives up after 12.
    pub max_retransmissions: u32,
    /// The largest UDP payload to send. 1232 = the IPv6 minimum MTU minus IPv6 and UDP headers.
    pub max_datagram_size: u16,
    /// The suites to offer (client, in order of preference) or accept (server): a non-empty
    /// subset of [`CIPHER_SUITES`].
    pub cipher_suites: &'static [&'static str],
    /// Seeds the server's cookie secret (HelloVerifyRequest, RFC 6347 §4.2.1), the only
    /// randomness of the engine's own, so that a run in virtual time repeats; a real-time server
    /// passes something unpredictable (the clock). OpenSSL's own handshake randoms stay
    /// OpenSSL's.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            initial_retransmit_timeout: Duration::from_secs(1),
            max_retransmit_timeout: Duration::from_secs(60),
            max_retransmissions: 6,
            max_datagram_size: 1232,
            cipher_suites: &CIPHER_SUITES,
            seed: 0,
        }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.initial_retransmit_timeout < Duration::from_millis(1) {
            return Err(Error::InvalidConfig(
                "initial_retransmit_timeout must be at least 1 ms",
            ));
        }
        if self.max_retransmit_timeout < self.initial_retransmit_timeout {
            return Err(Error::InvalidConfig(
                "max_retransmit_timeout must not be below initial_retransmit_timeout",
            ));
        }
        if self.max_datagram_size < MIN_DATAGRAM_SIZE {
            return Err(Error::InvalidConfig(
                "max_datagram_size must be at least 256 bytes",
            ));
        }
        if self.cipher_suites.is_empty() {
            return Err(Error::InvalidConfig("cipher_suites is empty"));
        }
        if !self.cipher_suites.iter().all(|s| CIPHER_SUITES.contains(s)) {
            return Err(Error::InvalidConfig(
                "cipher_suites may only name suites of CIPHER_SUITES",
            ));
        }
        Ok(())
    }

    /// The suites in OpenSSL's cipher-list syntax.
    pub(crate) fn cipher_list(&self) -> String {
        self.cipher_suites.join(":")
    }

    /// The shortest protected record any of the configured suites can produce.
    pub(crate) fn min_protected_record_len(&self) -> usize {
        self.cipher_suites
            .iter()
            .map(|suite| min_protected_record_len(suite))
            .min()
            .unwrap_or(0)
    }

    /// A plaintext length that fits one datagram whatever suite the handshake picks.
    pub(crate) fn safe_message_len(&self) -> usize {
        usize::from(self.max_datagram_size) - WORST_RECORD_OVERHEAD
    }
}

/// The shortest protected record a suite produces (empty plaintext): explicit nonce and tag for
/// the AEAD suites; IV, then MAC and at least one byte of padding in whole AES blocks for CBC
/// (encrypt-then-MAC is never negotiated, see `context.rs`).
pub(crate) fn min_protected_record_len(suite: &str) -> usize {
    match suite {
        "PSK-AES128-CCM8" => 8 + 8,
        "PSK-AES128-CCM" | "PSK-AES128-GCM-SHA256" => 8 + 16,
        "PSK-AES128-CBC-SHA256" | "ECDHE-PSK-AES128-CBC-SHA256" => 16 + 48,
        _ => 0,
    }
}

/// Checks a PSK identity: OpenSSL hands identities around as C strings.
pub(crate) fn check_identity(identity: &[u8]) -> Result<(), Error> {
    if identity.is_empty() {
        return Err(Error::InvalidIdentity("empty"));
    }
    if identity.len() > MAX_IDENTITY_LEN {
        return Err(Error::InvalidIdentity("longer than 128 bytes"));
    }
    if identity.contains(&0) {
        return Err(Error::InvalidIdentity("contains a NUL byte"));
    }
    Ok(())
}

pub(crate) fn check_key(key: &[u8]) -> Result<(), Error> {
    if key.is_empty() {
        return Err(Error::InvalidKey("empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::InvalidKey("longer than 256 bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_is_valid() {
        assert!(Config::default().validate().is_ok());
        assert_eq!(Config::default().safe_message_len(), 1155);
    }

    #[test]
    fn rejects_inconsistent_timeouts_and_tiny_datagrams() {
        let zero = Config {
            initial_retransmit_timeout: Duration::ZERO,
            ..Config::default()
        };
        assert!(zero.validate().is_err());
        let inverted = Config {
            max_retransmit_timeout: Duration::from_millis(500),
            ..Config::default()
        };
        assert!(inverted.validate().is_err());
        let tiny = Config {
            max_datagram_size: 100,
            ..Config::default()
        };
        assert!(tiny.validate().is_err());
        let no_suite = Config {
            cipher_suites: &[],
            ..Config::default()
        };
        assert!(no_suite.validate().is_err());
        let foreign_suite = Config {
            cipher_suites: &["AES128-SHA"],
            ..Config::default()
        };
        assert!(foreign_suite.validate().is_err());
    }

    #[test]
    fn every_suite_has_a_minimum_record_length() {
        for suite in CIPHER_SUITES {
            assert!(min_protected_record_len(suite) >= 16, "{suite}");
        }
        assert_eq!(Config::default().min_protected_record_len(), 16);
    }

    #[test]
    fn checks_credentials() {
        assert!(check_identity(b"867530912345678").is_ok());
        assert!(check_identity(b"").is_err());
        assert!(check_identity(b"imei\0").is_err());
        assert!(check_identity(&[b'1'; 129]).is_err());
        assert!(check_key(&[7; 16]).is_ok());
        assert!(check_key(&[]).is_err());
        assert!(check_key(&[7; 257]).is_err());
    }
}
