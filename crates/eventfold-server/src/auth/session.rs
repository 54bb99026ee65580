//! Sessions of the web UI. A browser's `EventSource` cannot send an
//! `Authorization` header, and a page should not ask the browser's own
//! Basic prompt, so the UI logs in once: `POST /ui/session` with
//! `{"login", "password"}` answers a cookie (`HttpOnly`, `SameSite=Strict`,
//! `Secure` over TLS) that stands for those credentials on every later
//! request of that browser, feeds included; `DELETE /ui/session` logs out.
//!
//! The credentials stay in this process's memory only and are checked again
//! on every request through the node's credential cache, so a user disabled,
//! deleted or given a new password is refused at once. Sessions end after
//! [`IDLE`] without use, on logout, and when the node stops; at most
//! [`MAX_SESSIONS`] are kept (the least recently used goes first).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

/// The cookie's name.
pub const COOKIE_NAME: &str = "eventfold_session";
/// A session unused for this long is closed.
pub const IDLE: Duration = Duration::from_secs(8 * 3600);
/// Sessions kept at once.
pub const MAX_SESSIONS: usize = 10_000;

struct Session {
    login: String,
    password: String,
    last_used: Instant,
}

#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// A new session for credentials just verified; answers its token.
    pub fn open(&self, login: &str, password: &str, now: Instant) -> String {
        // 244 random bits from the system's generator (two v4 UUIDs).
        let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let mut open = self.lock();
        open.retain(|_, session| now.duration_since(session.last_used) < IDLE);
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) =
                open.iter().min_by_key(|(_, session)| session.last_used).map(|(token, _)| token.clone())
        {
            open.remove(&oldest);
        }
        open.insert(token.clone(), Session { login: login.to_owned(), password: password.to_owned(), last_used: now });
        token
    }

    /// The credentials a live session stands for.
    pub fn credentials(&self, token: &str, now: Instant) -> Option<(String, String)> {
        let mut open = self.lock();
        let session = open.get_mut(token)?;
        if now.duration_since(session.last_used) >= IDLE {
            open.remove(token);
            return None;
        }
        session.last_used = now;
        Some((session.login.clone(), session.password.clone()))
    }

    pub fn close(&self, token: &str) {
        self.lock().remove(token);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.open.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

/// The session token a request's `Cookie` headers carry, if any.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, token)| token)
        .filter(|token| !token.is_empty())
}

/// The `Set-Cookie` value of a session, or of its end (`token` empty).
pub fn set_cookie(token: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    let expiry = if token.is_empty() { "; Max-Age=0" } else { "" };
    format!("{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict{secure}{expiry}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_stands_for_its_credentials_until_idle_or_closed() {
        let sessions = Sessions::default();
        let start = Instant::now();
        let token = sessions.open("alice", "pw", start);
        assert_eq!(token.len(), 64);
        assert_ne!(token, sessions.open("alice", "pw", start), "every session has its own token");
        let later = start + IDLE / 2;
        assert_eq!(sessions.credentials(&token, later), Some(("alice".into(), "pw".into())));
        // Used halfway, it lives a whole idle time from then.
        assert!(sessions.credentials(&token, later + IDLE / 2 + Duration::from_secs(1)).is_some());
        assert!(sessions.credentials(&token, later + IDLE * 3).is_none(), "idle too long");
        assert!(sessions.credentials(&token, later).is_none(), "an ended session stays ended");
        let other = sessions.open("bob", "pw", start);
        sessions.close(&other);
        assert!(sessions.credentials(&other, start).is_none());
        assert!(sessions.credentials("guess", start).is_none());
    }

    #[test]
    fn the_token_is_read_from_any_cookie_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(token(&headers), None);
        headers.append(COOKIE, "theme=dark".parse().expect("header"));
        headers.append(COOKIE, "a=b; eventfold_session=abc123; c=d".parse().expect("header"));
        assert_eq!(token(&headers), Some("abc123"));
        assert_eq!(set_cookie("abc", true), "eventfold_session=abc; Path=/; HttpOnly; SameSite=Strict; Secure");
        assert!(set_cookie("", false).ends_with("Max-Age=0"));
    }
}
