//! The DTLS controls of libssl that the `openssl` crate does not wrap.
//!
//! `DTLSv1_get_timeout` and `DTLSv1_handle_timeout` are C macros over `SSL_ctrl`, so they are
//! reached through `SSL_ctrl` with their control numbers from `<openssl/ssl.h>`.
//! `DTLS_set_timer_cb` and `DTLS_get_data_mtu` are libssl functions (since 1.1.1) that
//! `openssl-sys` does not declare; libssl itself is linked by `openssl-sys`.

use std::ptr;

use foreign_types::ForeignTypeRef;
use libc::{c_int, c_uint, size_t, timeval};
use openssl::ssl::SslRef;
use openssl_sys::SSL;

/// `DTLS_timer_cb`: given the previous timer duration in microseconds (0 when a new flight starts
/// the timer), returns the next one.
pub(crate) type TimerCallback = unsafe extern "C" fn(ssl: *mut SSL, previous_us: c_uint) -> c_uint;

const DTLS_CTRL_GET_TIMEOUT: c_int = 73;
const DTLS_CTRL_HANDLE_TIMEOUT: c_int = 74;

extern "C" {
    fn DTLS_set_timer_cb(ssl: *mut SSL, cb: Option<TimerCallback>);
    fn DTLS_get_data_mtu(ssl: *const SSL) -> size_t;
}

/// What `DTLSv1_handle_timeout` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeoutOutcome {
    /// OpenSSL's own clock says its timer has not expired (or no timer runs): nothing was sent.
    NotExpired,
    /// The last flight was sent again.
    Retransmitted,
    /// OpenSSL gave up; the reason is on its error queue.
    Failed,
}

/// Makes OpenSSL ask `callback` for every retransmission timer duration of `ssl`.
pub(crate) fn set_timer_callback(ssl: &SslRef, callback: TimerCallback) {
    // SAFETY: `ssl` is a live SSL object and `callback` is a plain function, valid forever.
    unsafe { DTLS_set_timer_cb(ssl.as_ptr(), Some(callback)) }
}

/// Whether OpenSSL's retransmission timer is armed (expired or not).
pub(crate) fn timer_armed(ssl: &SslRef) -> bool {
    let mut time_left = timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let arg = ptr::addr_of_mut!(time_left).cast();
    // SAFETY: DTLS_CTRL_GET_TIMEOUT writes one `struct timeval` through `arg` and returns 1 when a
    // timer is armed, 0 otherwise.
    unsafe { openssl_sys::SSL_ctrl(ssl.as_ptr(), DTLS_CTRL_GET_TIMEOUT, 0, arg) == 1 }
}

/// `DTLSv1_handle_timeout`: retransmits the last flight if OpenSSL's timer has expired.
pub(crate) fn handle_timeout(ssl: &SslRef) -> TimeoutOutcome {
    // SAFETY: DTLS_CTRL_HANDLE_TIMEOUT takes no argument; any datagram it sends goes through the
    // SSL object's own BIO.
    let ret = unsafe {
        openssl_sys::SSL_ctrl(ssl.as_ptr(), DTLS_CTRL_HANDLE_TIMEOUT, 0, ptr::null_mut())
    };
    match ret {
        0 => TimeoutOutcome::NotExpired,
        r if r > 0 => TimeoutOutcome::Retransmitted,
        _ => TimeoutOutcome::Failed,
    }
}

/// The largest plaintext that fits one datagram with the negotiated cipher suite, or 0 before the
/// handshake has chosen one.
pub(crate) fn data_mtu(ssl: &SslRef) -> usize {
    // SAFETY: `ssl` is a live SSL object; the call only reads it.
    unsafe { DTLS_get_data_mtu(ssl.as_ptr()) }
}
