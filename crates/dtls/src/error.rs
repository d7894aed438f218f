//! Errors returned by calls, and the reasons a session fails.

use std::fmt;

use crate::config::MAX_WAITING_MESSAGES;

/// An error returned by a call on [`crate::DtlsSession`]. A session that fails on its own (bad
/// handshake, time-out, fatal alert) reports it as [`crate::Event::Failed`] instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid PSK identity: {0}")]
    InvalidIdentity(&'static str),
    #[error("invalid pre-shared key: {0}")]
    InvalidKey(&'static str),
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// OpenSSL refused to set the session up.
    #[error("OpenSSL refused the session setup: {0}")]
    Setup(#[from] openssl::error::ErrorStack),
    #[error("empty message")]
    EmptyMessage,
    #[error("a message of {len} bytes does not fit one datagram (at most {max})")]
    MessageTooLong { len: usize, max: usize },
    #[error("{MAX_WAITING_MESSAGES} messages already wait for the handshake to complete")]
    QueueFull,
    #[error("the session is closed or has failed")]
    NotOpen,
}

/// Why a session failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionFailure {
    /// OpenSSL aborted the handshake: unknown identity, no common cipher suite, a fatal alert from
    /// the peer, a malformed handshake message... The text is OpenSSL's.
    Handshake(String),
    /// The handshake got no answer: the last flight was retransmitted
    /// [`crate::Config::max_retransmissions`] times in vain. A wrong pre-shared key ends this way:
    /// DTLS silently drops records that fail authentication, so the peer never answers.
    TimedOut,
    /// A server gave this unfinished handshake's slot to a peer from a source that held fewer
    /// handshakes (see [`crate::ServerLimits`]).
    Displaced,
    /// An established session hit a fatal error, such as a fatal alert from the peer.
    Connection(String),
}

impl fmt::Display for SessionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionFailure::Handshake(reason) => write!(f, "handshake failed: {reason}"),
            SessionFailure::TimedOut => f.write_str("handshake timed out"),
            SessionFailure::Displaced => {
                f.write_str("handshake dropped to make room for another source's")
            }
            SessionFailure::Connection(reason) => write!(f, "connection failed: {reason}"),
        }
    }
}
