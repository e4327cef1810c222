//! Browser sessions of `readAuth: token` (issue #23): a cookie `<expiry>.<id>.<hmac>` signed with
//! a key derived from the API token. Any replica behind the Service checks it without shared
//! storage; the server, not the browser, decides it has expired (12 h after login); logout
//! revokes it, so a copied cookie stops working; a new token voids every session.
//!
//! A revocation lives in the memory of the replica that served the logout: another replica
//! keeps accepting a copied cookie until it expires. The page's own cookie is deleted on logout
//! everywhere, and 12 h bounds the rest.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::api::same_secret;
use super::signature::{derived_key, hex, hmac};

/// A browser session lasts a working day.
pub const SESSION_SECONDS: u64 = 12 * 3600;

/// Revoked session ids, each until it would have expired anyway.
#[derive(Debug, Default)]
pub struct Sessions {
    revoked: Mutex<HashMap<String, u64>>,
}

/// A session cookie's parts.
struct Parsed<'a> {
    expires: u64,
    id: &'a str,
    mac: &'a str,
}

fn parse(value: &str) -> Option<Parsed<'_>> {
    let mut parts = value.splitn(3, '.');
    let expires = parts.next()?.parse().ok()?;
    let id = parts.next()?;
    let mac = parts.next()?;
    Some(Parsed { expires, id, mac })
}

fn mac(token: &str, expires: u64, id: &str) -> String {
    let key = derived_key(token.as_bytes(), "session");
    let text = format!("ordo-session\n{expires}\n{id}");
    hex(&hmac(&key, &[text.as_bytes()]))
}

impl Sessions {
    /// A new session's cookie value, or `None` without randomness.
    pub fn issue(&self, token: &str, now: u64) -> Option<String> {
        let id = super::leader::random_hex(16).ok()?;
        let expires = now + SESSION_SECONDS;
        Some(format!("{expires}.{id}.{}", mac(token, expires, &id)))
    }

    /// Whether `value` is a session signed with `token`, not expired and not logged out.
    pub fn valid(&self, token: &str, value: &str, now: u64) -> bool {
        let Some(p) = parse(value) else {
            return false;
        };
        let signed = same_secret(p.mac.as_bytes(), mac(token, p.expires, p.id).as_bytes());
        // An expiry further out than a session lasts was not issued here.
        let current = now < p.expires && p.expires <= now + SESSION_SECONDS;
        signed && current && !self.is_revoked(p.id)
    }

    fn is_revoked(&self, id: &str) -> bool {
        let revoked = self.revoked.lock().unwrap_or_else(PoisonError::into_inner);
        revoked.contains_key(id)
    }

    /// Logs `value` out, if it is a valid session: it is refused from now on.
    pub fn revoke(&self, token: &str, value: &str, now: u64) {
        if !self.valid(token, value, now) {
            return;
        }
        let Some(p) = parse(value) else {
            return;
        };
        let mut revoked = self.revoked.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget what expired by itself meanwhile: only live sessions can be revoked, and each
        // needed the token to be made, so this stays as small as the logins of half a day.
        revoked.retain(|_, expires| *expires > now);
        revoked.insert(p.id.to_owned(), p.expires);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn a_session_is_signed_with_the_token_and_never_carries_it() {
        let sessions = Sessions::default();
        let cookie = sessions.issue("s3cret", NOW).expect("randomness");
        assert!(!cookie.contains("s3cret"));
        assert!(sessions.valid("s3cret", &cookie, NOW));
        assert!(
            !sessions.valid("other", &cookie, NOW),
            "a new token voids it"
        );
        let mut forged = cookie.clone();
        forged.replace_range(..1, "9");
        assert!(!sessions.valid("s3cret", &forged, NOW), "expiry is signed");
        for garbage in ["", "s3cret", "1.2", "x.y.z"] {
            assert!(!sessions.valid("s3cret", garbage, NOW), "{garbage:?}");
        }
    }

    #[test]
    fn a_session_expires_on_the_server_after_twelve_hours() {
        let sessions = Sessions::default();
        let cookie = sessions.issue("s3cret", NOW).expect("randomness");
        assert!(sessions.valid("s3cret", &cookie, NOW + SESSION_SECONDS - 1));
        assert!(!sessions.valid("s3cret", &cookie, NOW + SESSION_SECONDS));
    }

    #[test]
    fn logout_revokes_the_session_and_only_that_one() {
        let sessions = Sessions::default();
        let copied = sessions.issue("s3cret", NOW).expect("randomness");
        let other = sessions.issue("s3cret", NOW).expect("randomness");
        sessions.revoke("s3cret", &copied, NOW + 10);
        assert!(!sessions.valid("s3cret", &copied, NOW + 11));
        assert!(sessions.valid("s3cret", &other, NOW + 11));
    }
}
