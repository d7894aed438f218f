//! DTLS 1.2 with pre-shared keys, client and server, sans-IO, on OpenSSL.
//!
//! A [`DtlsSession`] is a state machine in the style of quinn-proto and rustls: it is fed the
//! datagrams received from its one peer and the current time, and hands back datagrams to send,
//! [`Event`]s, and the instant it next wants to be woken at (it implements
//! [`nbmodem_clock::Timed`]). It never touches a socket.
//!
//! The protocol itself is OpenSSL's (through the `openssl` crate), run over an in-memory transport
//! (`transport.rs`): each datagram OpenSSL writes is queued for [`DtlsSession::poll_transmit`],
//! and each datagram given to [`DtlsSession::handle_datagram`] is offered to OpenSSL's next read.
//!
//! Sessions speak DTLS 1.2 only, with the PSK suites of [`CIPHER_SUITES`] (or a subset, see
//! [`Config::cipher_suites`]), without certificates, renegotiation, session tickets or
//! resumption. A server behind [`secure::SecureNode`] answers ClientHellos statelessly with a
//! HelloVerifyRequest cookie (RFC 6347 §4.2.1) and keeps a session only for a peer that returns
//! it; a session used on its own does no cookie exchange.
//!
//! # Hostile datagrams
//!
//! DTLS must drop invalid records silently (RFC 6347 §4.1.2.7). OpenSSL 3.0 does, with two
//! exceptions that would let one forged datagram end an established session, both avoided here:
//! encrypt-then-MAC is not negotiated (OpenSSL treats a bad encrypt-then-MAC record as fatal),
//! and protected records too short for their nonce and tag are dropped before OpenSSL sees them
//! (`records.rs`). During the handshake nothing is authenticated yet, so a forged plaintext alert
//! or malformed handshake message fails the handshake, as in any DTLS 1.2 stack; random garbage
//! is dropped.
//!
//! # Time
//!
//! The session reads no clock for its own timers. The handshake retransmission schedule runs on
//! the caller's [`Instant`]s: [`Config::initial_retransmit_timeout`] (1 s) doubling up to
//! [`Config::max_retransmit_timeout`] (60 s), and the handshake fails with
//! [`SessionFailure::TimedOut`] when [`Config::max_retransmissions`] (6) retransmissions of a flight got
//! no answer. [`DtlsSession::poll_timeout`] reports the next deadline.
//!
//! What stays on OpenSSL's clock, as OpenSSL 3.0 has no hook to replace it: the decision that a
//! retransmission timer has expired. OpenSSL keeps its own timer per flight, reads
//! `gettimeofday` to check it, and retransmits only when it has expired. Through
//! `DTLS_set_timer_cb` we set that timer to three quarters of ours (at least 50 ms), and when ours
//! expires we call `DTLSv1_handle_timeout` (details in `timer.rs`). Consequences:
//!
//! - With a caller clock that follows real time, retransmissions happen on our schedule.
//! - OpenSSL also checks its timer whenever it reads, so a datagram arriving in the last quarter
//!   of our timeout (once OpenSSL's has expired) makes it retransmit early; our timer follows.
//! - With a virtual clock running ahead of real time, OpenSSL declines to retransmit until its
//!   real-time timer has run out as well. A declined attempt still counts and backs off, so a
//!   handshake without an answer times out on the caller's clock, but a lost flight is only sent
//!   again once enough real time has passed too.
//!
//! An established session has no timers; idle time-outs belong to the caller.
//!
//! [`Instant`]: nbmodem_clock::Instant

mod config;
mod context;
mod error;
mod ffi;
mod handshakes;
mod records;
pub mod secure;
mod session;
mod timer;
mod transport;

pub use config::{Config, CIPHER_SUITES, MAX_IDENTITY_LEN, MAX_KEY_LEN, MAX_WAITING_MESSAGES};
pub use context::PskLookup;
pub use error::{Error, SessionFailure};
pub use secure::{SecureEvent, ServerLimits};
pub use session::{DtlsSession, Event, State};
