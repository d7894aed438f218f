//! A look at incoming DTLS records before OpenSSL's.
//!
//! OpenSSL 3.0 turns a protected record too short to hold its explicit nonce and AEAD tag into a
//! fatal internal error instead of discarding it as DTLS requires (RFC 6347 §4.1.2.7; see
//! openssl/openssl#25389), so one forged datagram of a few bytes would end an established
//! session. Datagrams carrying such a record are dropped here.
//!
//! OpenSSL also ends an established session, with an "unexpected EOF", on some datagrams whose
//! record header is not DTLS at all (an unknown content type or version, a length running past
//! the datagram) followed by bytes that look like a record. A peer never sends such a datagram,
//! and DTLS discards invalid records silently (RFC 6347 §4.1.2.7), so datagrams that are not a
//! sequence of whole DTLS records are dropped here too.
//!
//! A server also looks at the first record of a datagram from an unknown peer: only a plaintext
//! handshake record, which a ClientHello comes in, is worth a new session.

/// DTLS record header: type (1), version (2), epoch (2), sequence number (6), length (2).
const HEADER_LEN: usize = 13;

/// The content type of handshake records.
const HANDSHAKE: u8 = 22;

/// Whether `datagram` starts with a whole record header of a plaintext (epoch 0) handshake record.
pub(crate) fn starts_with_plaintext_handshake(datagram: &[u8]) -> bool {
    datagram
        .get(..HEADER_LEN)
        .is_some_and(|header| header[0] == HANDSHAKE && header[3..5] == [0, 0])
}

/// The handshake type of a ClientHello.
const CLIENT_HELLO: u8 = 1;

/// Whether `datagram` starts with a plaintext handshake record carrying a ClientHello: what a
/// peer starting a new association sends (RFC 6347 §4.2.8), even from an address that has one.
pub(crate) fn starts_with_client_hello(datagram: &[u8]) -> bool {
    starts_with_plaintext_handshake(datagram) && datagram.get(HEADER_LEN) == Some(&CLIENT_HELLO)
}

/// The content types of DTLS 1.2: change_cipher_spec (20) to heartbeat (24).
const CONTENT_TYPES: std::ops::RangeInclusive<u8> = 20..=24;

/// The record versions a DTLS 1.2 peer sends: 1.2, and 1.0 in a first ClientHello.
const VERSIONS: [[u8; 2]; 2] = [[0xfe, 0xfd], [0xfe, 0xff]];

/// Whether `datagram` is one or more whole DTLS records, each with a known content type and
/// version.
pub(crate) fn whole_dtls_records(datagram: &[u8]) -> bool {
    let mut rest = datagram;
    while !rest.is_empty() {
        let Some(header) = rest.get(..HEADER_LEN) else {
            return false;
        };
        let len = usize::from(u16::from_be_bytes([header[11], header[12]]));
        let known =
            CONTENT_TYPES.contains(&header[0]) && VERSIONS.contains(&[header[1], header[2]]);
        match rest.get(HEADER_LEN + len..) {
            Some(after) if known => rest = after,
            _ => return false,
        }
    }
    !datagram.is_empty()
}

/// Whether every protected record (epoch other than 0) in `datagram` is at least
/// `min_protected_len` bytes long (a truncated record is [`whole_dtls_records`]'s to refuse).
pub(crate) fn protected_records_long_enough(datagram: &[u8], min_protected_len: usize) -> bool {
    let mut rest = datagram;
    while let Some(header) = rest.get(..HEADER_LEN) {
        let epoch = u16::from_be_bytes([header[3], header[4]]);
        let len = usize::from(u16::from_be_bytes([header[11], header[12]]));
        if epoch != 0 && len < min_protected_len {
            return false;
        }
        rest = rest.get(HEADER_LEN + len..).unwrap_or_default();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: u16, body_len: usize) -> Vec<u8> {
        let mut r = vec![23, 0xfe, 0xfd];
        r.extend_from_slice(&epoch.to_be_bytes());
        r.extend_from_slice(&[0, 0, 0, 0, 0, 1]);
        r.extend_from_slice(&u16::try_from(body_len).unwrap().to_be_bytes());
        r.resize(r.len() + body_len, 0xaa);
        r
    }

    #[test]
    fn short_protected_records_are_refused_anywhere_in_the_datagram() {
        assert!(protected_records_long_enough(&record(1, 16), 16));
        assert!(!protected_records_long_enough(&record(1, 15), 16));
        let mut two = record(1, 40);
        two.extend(record(1, 3));
        assert!(!protected_records_long_enough(&two, 16));
    }

    #[test]
    fn only_whole_records_of_known_types_and_versions_pass() {
        assert!(whole_dtls_records(&record(1, 40)));
        let mut two = record(0, 3);
        two.extend(record(1, 40));
        assert!(whole_dtls_records(&two));
        let mut dtls10 = record(0, 3);
        dtls10[1..3].copy_from_slice(&[0xfe, 0xff]);
        assert!(whole_dtls_records(&dtls10));
        let whole = record(1, 40);
        assert!(!whole_dtls_records(&whole[..whole.len() - 1]), "truncated");
        assert!(!whole_dtls_records(&whole[..12]), "half a header");
        let mut trailing = record(1, 40);
        trailing.push(0);
        assert!(
            !whole_dtls_records(&trailing),
            "a byte after the last record"
        );
        let mut unknown = record(1, 40);
        unknown[0] = 0x7f;
        assert!(!whole_dtls_records(&unknown), "unknown content type");
        let mut tls = record(1, 40);
        tls[1..3].copy_from_slice(&[0x03, 0x03]);
        assert!(!whole_dtls_records(&tls), "a TLS version");
        assert!(!whole_dtls_records(&[]));
    }

    #[test]
    fn only_a_plaintext_handshake_record_may_open_a_session() {
        let mut hello = record(0, 40);
        hello[0] = HANDSHAKE;
        assert!(starts_with_plaintext_handshake(&hello));
        assert!(!starts_with_plaintext_handshake(&hello[..12]));
        assert!(!starts_with_plaintext_handshake(&record(0, 40)));
        let mut protected = record(1, 40);
        protected[0] = HANDSHAKE;
        assert!(!starts_with_plaintext_handshake(&protected));
        assert!(!starts_with_plaintext_handshake(&[]));
    }

    #[test]
    fn plaintext_records_and_odd_datagrams_are_left_to_openssl() {
        assert!(protected_records_long_enough(&record(0, 2), 16));
        assert!(protected_records_long_enough(&[], 16));
        assert!(protected_records_long_enough(&[23, 0xfe, 0xfd, 0, 1], 16));
        let mut truncated = record(1, 40);
        truncated.truncate(30);
        assert!(protected_records_long_enough(&truncated, 16));
    }
}
