//! `api.session_token_header_key`: a server (a router keeping session affinity) assigns a
//! session token in a response header; the client sends it back in the same header on the
//! session's later requests, as inference-perf does. A token is kept per session id from the
//! latest response that carried one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Sessions whose token is kept at most: beyond, new sessions are not remembered (and a
/// warning says so), so a long stage cannot grow the map without bound.
const MAX_SESSIONS: usize = 1 << 20;

/// The header and the tokens the server assigned, per session id.
#[derive(Debug)]
pub(crate) struct SessionTokens {
    header: http::HeaderName,
    tokens: Mutex<HashMap<String, http::HeaderValue>>,
    warned: AtomicBool,
}

impl SessionTokens {
    /// `None` when `header` is not a valid header name (the profile was checked).
    pub(crate) fn new(header: &str) -> Option<SessionTokens> {
        Some(SessionTokens {
            header: http::HeaderName::from_bytes(header.as_bytes()).ok()?,
            tokens: Mutex::new(HashMap::new()),
            warned: AtomicBool::new(false),
        })
    }

    /// The header and the token to send for `session`, once the server assigned one.
    pub(crate) fn for_session(
        &self,
        session: &str,
    ) -> Option<(http::HeaderName, http::HeaderValue)> {
        let tokens = self.tokens.lock().ok()?;
        Some((self.header.clone(), tokens.get(session)?.clone()))
    }

    /// Keeps the token a response for `session` carried.
    pub(crate) fn remember(&self, session: &str, headers: &http::HeaderMap) {
        let Some(token) = headers.get(&self.header) else {
            return;
        };
        let Ok(mut tokens) = self.tokens.lock() else {
            return;
        };
        if tokens.len() >= MAX_SESSIONS && !tokens.contains_key(session) {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!("{MAX_SESSIONS} sessions' tokens kept: later sessions' tokens are not sent back");
            }
            return;
        }
        tokens.insert(session.to_string(), token.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_gets_back_the_latest_token_its_responses_carried() {
        let t = SessionTokens::new("x-session-token").unwrap();
        assert!(
            t.for_session("0-session-1").is_none(),
            "nothing before the first answer"
        );
        let mut h = http::HeaderMap::new();
        h.insert("X-Session-Token", http::HeaderValue::from_static("tok-a"));
        t.remember("0-session-1", &h);
        t.remember("0-session-2", &http::HeaderMap::new());
        let (name, value) = t.for_session("0-session-1").unwrap();
        assert_eq!(
            (name.as_str(), value.to_str().unwrap()),
            ("x-session-token", "tok-a")
        );
        assert!(t.for_session("0-session-2").is_none());
        h.insert("x-session-token", http::HeaderValue::from_static("tok-b"));
        t.remember("0-session-1", &h);
        assert_eq!(t.for_session("0-session-1").unwrap().1, "tok-b");
        assert!(SessionTokens::new("bad header").is_none());
    }
}
