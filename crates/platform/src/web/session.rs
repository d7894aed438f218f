//! The console's sessions: a person logs in once with the control token and gets a session
//! cookie, which the API then takes as it takes `Authorization: Bearer <token>`.
//!
//! A session is a fresh random id (128 bits from the system's generator), never the token
//! itself, so that logging out ends it without changing the token the command-line clients use.
//! The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page sends
//! it: a change cannot be forged from elsewhere) and `Path=/`. Sessions live in memory: a
//! restarted platform (which makes a new token too) asks for a new login. At most
//! [`MAX_SESSIONS`] are kept; a new one ends the oldest.

use crate::control::same_secret;
use std::collections::VecDeque;
use std::sync::Mutex;

/// The cookie's name.
pub const COOKIE: &str = "nbmodem_session";

/// How many sessions at once.
pub const MAX_SESSIONS: usize = 64;

/// The open sessions, oldest first.
#[derive(Debug, Default)]
pub struct Sessions {
    ids: Mutex<VecDeque<String>>,
}

impl Sessions {
    /// Opens a session; its id, or why none could be made.
    pub fn open(&self) -> Result<String, openssl::error::ErrorStack> {
        let mut bytes = [0u8; 16];
        openssl::rand::rand_bytes(&mut bytes)?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut ids = self.lock();
        if ids.len() == MAX_SESSIONS {
            ids.pop_front();
        }
        ids.push_back(id.clone());
        Ok(id)
    }

    /// Whether a request's `Cookie` header carries an open session.
    pub fn accepts(&self, cookie_header: &[u8]) -> bool {
        let Some(presented) = session_of(cookie_header) else {
            return false;
        };
        // Every id is compared, in constant time, so that timing tells nothing of them.
        self.lock().iter().fold(false, |found, id| {
            same_secret(id.as_bytes(), presented) | found
        })
    }

    /// Ends the session a `Cookie` header carries, if it is open.
    pub fn close(&self, cookie_header: &[u8]) {
        if let Some(presented) = session_of(cookie_header) {
            self.lock()
                .retain(|id| !same_secret(id.as_bytes(), presented));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The session id in a `Cookie` header (`a=1; nbmodem_session=…`), if there is one.
fn session_of(cookie_header: &[u8]) -> Option<&[u8]> {
    cookie_header
        .split(|&b| b == b';')
        .map(<[u8]>::trim_ascii)
        .find_map(|pair| pair.strip_prefix(COOKIE.as_bytes())?.strip_prefix(b"="))
}

/// The `Set-Cookie` value that gives the browser session `id`.
pub fn set_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/")
}

/// The `Set-Cookie` value that makes the browser forget its session.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(id: &str) -> Vec<u8> {
        format!("theme=dark; {COOKIE}={id}; other=1").into_bytes()
    }

    #[test]
    fn an_open_session_is_accepted_until_it_is_closed() {
        let sessions = Sessions::default();
        let id = sessions.open().unwrap();
        assert_eq!(id.len(), 32);
        assert!(sessions.accepts(&header(&id)));
        sessions.close(&header(&id));
        assert!(!sessions.accepts(&header(&id)));
    }

    #[test]
    fn anything_else_is_refused() {
        let sessions = Sessions::default();
        let id = sessions.open().unwrap();
        for refused in [
            b"".to_vec(),
            header(""),
            header(&id[..31]),
            header(&format!("{id}0")),
            format!("x{COOKIE}={id}").into_bytes(),
            format!("{COOKIE}x={id}").into_bytes(),
        ] {
            assert!(
                !sessions.accepts(&refused),
                "{}",
                String::from_utf8_lossy(&refused)
            );
        }
    }

    #[test]
    fn the_oldest_session_ends_when_there_are_too_many() {
        let sessions = Sessions::default();
        let first = sessions.open().unwrap();
        let rest: Vec<String> = (0..MAX_SESSIONS)
            .map(|_| sessions.open().unwrap())
            .collect();
        assert!(!sessions.accepts(&header(&first)));
        assert!(rest.iter().all(|id| sessions.accepts(&header(id))));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_for_every_path() {
        let cookie = set_cookie("ab");
        assert!(cookie.starts_with("nbmodem_session=ab;"));
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(clear_cookie().contains("Max-Age=0"));
    }
}
