//! OpenSSL contexts for the two roles: DTLS 1.2 only, PSK suites only, no certificates.

use std::sync::Arc;

use openssl::error::ErrorStack;
use openssl::ssl::{SslContext, SslContextBuilder, SslMethod, SslOptions, SslVersion};

use crate::config::Config;

/// `SSL_OP_NO_ENCRYPT_THEN_MAC` from `<openssl/ssl.h>`, which the `openssl` crate does not name.
const NO_ENCRYPT_THEN_MAC: SslOptions = SslOptions::from_bits_retain(1 << 19);

/// Finds the pre-shared key of a client identity (for nbmodem, the device IMEI).
pub type PskLookup = Arc<dyn Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync>;

/// A context whose client offers `identity` with `key`.
pub(crate) fn client(
    identity: &[u8],
    key: &[u8],
    config: &Config,
) -> Result<SslContext, ErrorStack> {
    let mut builder = dtls12_psk(config)?;
    let identity = identity.to_vec();
    let key = key.to_vec();
    builder.set_psk_client_callback(move |_ssl, _hint, identity_out, key_out| {
        Ok(write_credentials(&identity, &key, identity_out, key_out))
    });
    Ok(builder.build())
}

/// A context whose server looks client identities up with `lookup`, with the cookies of the
/// HelloVerifyRequest (RFC 6347 §4.2.1): an HMAC of the peer's address under a secret from
/// `config.seed`, so that a forged source never gets a session.
pub(crate) fn server(lookup: PskLookup, config: &Config) -> Result<SslContext, ErrorStack> {
    let mut builder = dtls12_psk(config)?;
    builder.set_psk_server_callback(move |_ssl, identity, key_out| {
        Ok(identity.map_or(0, |identity| look_up_key(&*lookup, identity, key_out)))
    });
    // The cookie callbacks serve `DTLSv1_listen` (SecureNode's stateless listening); a session
    // used on its own does no cookie exchange (SSL_OP_COOKIE_EXCHANGE is not set here).
    let secret = cookie_secret(config.seed);
    let verify_secret = secret;
    builder.set_cookie_generate_cb(move |_ssl, out| {
        let cookie = cookie_for_peer(&secret)?;
        let len = cookie.len().min(out.len());
        out[..len].copy_from_slice(&cookie[..len]);
        Ok(len)
    });
    builder.set_cookie_verify_cb(move |_ssl, cookie| cookie_matches(&verify_secret, cookie));
    Ok(builder.build())
}

/// Whether `cookie` is the one we gave the peer. A forged cookie can have any length: compared in
/// constant time only when the lengths match (openssl's `memcmp::eq` panics otherwise, and a panic
/// here would cross OpenSSL's C frames, which aborts).
fn cookie_matches(secret: &[u8; 32], cookie: &[u8]) -> bool {
    cookie_for_peer(secret).is_ok_and(|expected| {
        expected.len() == cookie.len() && openssl::memcmp::eq(&expected, cookie)
    })
}

/// The length of our cookies.
const COOKIE_LEN: usize = 16;

thread_local! {
    /// The address of the peer whose ClientHello is being looked at: the cookie callbacks have no
    /// other way to learn it (the session's BIO is a queue, not a socket).
    static PEER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with `peer` as the address the cookie callbacks bind cookies to.
pub(crate) fn with_peer<R>(peer: &[u8], f: impl FnOnce() -> R) -> R {
    PEER.with(|p| *p.borrow_mut() = peer.to_vec());
    let result = f();
    PEER.with(|p| p.borrow_mut().clear());
    result
}

fn cookie_secret(seed: u64) -> [u8; 32] {
    let mut input = seed.to_be_bytes().to_vec();
    input.extend_from_slice(b"nbmodem DTLS cookie secret");
    openssl::sha::sha256(&input)
}

/// HMAC-SHA256 of the current peer's address, cut to [`COOKIE_LEN`].
fn cookie_for_peer(secret: &[u8]) -> Result<Vec<u8>, ErrorStack> {
    let key = openssl::pkey::PKey::hmac(secret)?;
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)?;
    PEER.with(|p| signer.update(&p.borrow()))?;
    let mut mac = signer.sign_to_vec()?;
    mac.truncate(COOKIE_LEN);
    Ok(mac)
}

fn dtls12_psk(config: &Config) -> Result<SslContextBuilder, ErrorStack> {
    let mut builder = SslContext::builder(SslMethod::dtls())?;
    builder.set_min_proto_version(Some(SslVersion::DTLS1_2))?;
    builder.set_max_proto_version(Some(SslVersion::DTLS1_2))?;
    builder.set_cipher_list(&config.cipher_list())?;
    // NO_QUERY_MTU: there is no socket to ask, the session sets its MTU itself (and OpenSSL would
    // otherwise shrink it to the BIO's answer, 0, after two retransmissions).
    // NO_RENEGOTIATION: one handshake per session; a renegotiation request gets a warning alert.
    // NO_TICKET: no session resumption, so the server's last flight stays small.
    // NO_ENCRYPT_THEN_MAC: with RFC 7366 encrypt-then-MAC, OpenSSL 3.0's DTLS treats a record
    // with a bad MAC as fatal, so one forged datagram would kill an established CBC session.
    // Without it, OpenSSL drops such records as DTLS requires (checking MAC-then-encrypt records
    // in constant time).
    builder.set_options(
        SslOptions::NO_QUERY_MTU
            | SslOptions::NO_RENEGOTIATION
            | SslOptions::NO_TICKET
            | NO_ENCRYPT_THEN_MAC,
    );
    Ok(builder)
}

/// Fills OpenSSL's buffers: the identity as a C string, then the key. Returns the key length, or
/// 0 (which fails the handshake) if they do not fit.
fn write_credentials(
    identity: &[u8],
    key: &[u8],
    identity_out: &mut [u8],
    key_out: &mut [u8],
) -> usize {
    if identity.len() >= identity_out.len() || key.len() > key_out.len() {
        return 0;
    }
    identity_out[..identity.len()].copy_from_slice(identity);
    identity_out[identity.len()] = 0;
    key_out[..key.len()].copy_from_slice(key);
    key.len()
}

/// Copies the key of `identity` into OpenSSL's buffer. Returns its length, or 0 (unknown identity,
/// answered with an `unknown_psk_identity` alert) when there is no usable key.
fn look_up_key(
    lookup: &dyn Fn(&[u8]) -> Option<Vec<u8>>,
    identity: &[u8],
    key_out: &mut [u8],
) -> usize {
    match lookup(identity) {
        Some(key) if !key.is_empty() && key.len() <= key_out.len() => {
            key_out[..key.len()].copy_from_slice(&key);
            key.len()
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_written_as_a_c_string_and_a_key() {
        let mut identity = [0xffu8; 8];
        let mut key = [0u8; 4];
        assert_eq!(
            write_credentials(b"abc", b"\x01\x02", &mut identity, &mut key),
            2
        );
        assert_eq!(&identity[..4], b"abc\0");
        assert_eq!(&key[..2], &[1, 2]);
        assert_eq!(
            write_credentials(b"12345678", b"k", &mut identity, &mut key),
            0
        );
        assert_eq!(
            write_credentials(b"a", b"too long", &mut identity, &mut key),
            0
        );
    }

    #[test]
    fn unknown_or_unusable_keys_look_up_as_zero() {
        let lookup = |identity: &[u8]| match identity {
            b"known" => Some(vec![9; 3]),
            b"empty" => Some(Vec::new()),
            b"huge" => Some(vec![9; 100]),
            _ => None,
        };
        let mut key = [0u8; 16];
        assert_eq!(look_up_key(&lookup, b"known", &mut key), 3);
        assert_eq!(look_up_key(&lookup, b"other", &mut key), 0);
        assert_eq!(look_up_key(&lookup, b"empty", &mut key), 0);
        assert_eq!(look_up_key(&lookup, b"huge", &mut key), 0);
    }
}
