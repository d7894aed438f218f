//! The DTLS controls of libssl that the `openssl` crate does not wrap.
//!
//! `DTLSv1_get_timeout` and `DTLSv1_handle_timeout` are C macros over `SSL_ctrl`, so they are
//! reached through `SSL_ctrl` with their control numbers from `<openssl/ssl.h>`.
//! `DTLS_set_timer_cb`, `DTLS_get_data_mtu`, `DTLSv1_listen`, `SSL_alloc_buffers` and
//! `SSL_free_buffers` are libssl
//! functions (since 1.1.1), `BIO_ADDR_new`/`BIO_ADDR_free` libcrypto ones, that `openssl-sys`
//! does not declare; both libraries are linked by `openssl-sys`.

use std::ptr;

use foreign_types::ForeignTypeRef;
use libc::{c_int, c_uint, c_void, size_t, timeval};
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
    fn DTLSv1_listen(ssl: *mut SSL, client: *mut c_void) -> c_int;
    fn SSL_alloc_buffers(ssl: *mut SSL) -> c_int;
    fn SSL_free_buffers(ssl: *mut SSL) -> c_int;
    fn BIO_ADDR_new() -> *mut c_void;
    fn BIO_ADDR_free(address: *mut c_void);
}

/// What `DTLSv1_listen` made of the datagrams it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listened {
    /// A ClientHello with a valid cookie: the SSL object now holds the handshake.
    Verified,
    /// Nothing kept: a HelloVerifyRequest was written for a ClientHello without a valid cookie,
    /// or the datagram was no ClientHello at all.
    Nothing,
    /// A fatal error.
    Failed,
}

/// `DTLSv1_listen`: looks at the datagrams in the SSL object's read BIO without keeping any state
/// for their sender, until one is a ClientHello whose cookie verifies.
pub(crate) fn listen(ssl: &SslRef) -> Listened {
    // SAFETY: BIO_ADDR_new returns a fresh address object or null; DTLSv1_listen only writes the
    // peer's address into it (or clears it); it is freed below whatever happened.
    unsafe {
        let address = BIO_ADDR_new();
        if address.is_null() {
            return Listened::Failed;
        }
        let ret = DTLSv1_listen(ssl.as_ptr(), address);
        BIO_ADDR_free(address);
        match ret {
            1 => Listened::Verified,
            0 => Listened::Nothing,
            _ => Listened::Failed,
        }
    }
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

/// `SSL_alloc_buffers`: allocates the SSL object's record read and write buffers (about 17 KB
/// each) if they are not there. OpenSSL's DTLS code allocates them when a handshake starts and then
/// writes into them without checking, so after [`free_buffers`] they must be allocated again
/// before each call. False when there was no memory.
pub(crate) fn alloc_buffers(ssl: &SslRef) -> bool {
    // SAFETY: `ssl` is a live SSL object; the call allocates only what is missing.
    unsafe { SSL_alloc_buffers(ssl.as_ptr()) == 1 }
}

/// `SSL_free_buffers`: frees the SSL object's record buffers unless they hold data not yet
/// processed. `SSL_MODE_RELEASE_BUFFERS` does this by itself for TLS, but not for DTLS.
pub(crate) fn free_buffers(ssl: &SslRef) {
    // SAFETY: `ssl` is a live SSL object; OpenSSL 3.0.14 and later free nothing still in use
    // (CVE-2024-4741 was such a case in earlier 3.0 releases).
    unsafe {
        SSL_free_buffers(ssl.as_ptr());
    }
}

/// The largest plaintext that fits one datagram with the negotiated cipher suite, or 0 before the
/// handshake has chosen one.
pub(crate) fn data_mtu(ssl: &SslRef) -> usize {
    // SAFETY: `ssl` is a live SSL object; the call only reads it.
    unsafe { DTLS_get_data_mtu(ssl.as_ptr()) }
}
