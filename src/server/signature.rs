//! What replicas prove to each other (issue #23), pure: the leader's proof that it answers at the
//! address a standby dialled, and the signature a standby forwards a command or a webhook with
//! instead of the caller's credentials.
//!
//! Both are HMAC-SHA256 with keys derived from the secret the replicas share (the API token,
//! else the webhook secret), one key per purpose: the proof endpoint answers anyone, so what it
//! signs must never be usable as a forwarding signature, a webhook signature or a session.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header a forwarded request carries its signature in.
pub const HEADER: &str = "x-ordo-forward-signature";
/// A forwarded request is accepted this long after (or before: clocks of two pods differ a
/// little) the standby signed it. Forwarding takes milliseconds; 30 s absorbs clock skew.
pub const VALID_FOR: u64 = 30;
/// Signatures remembered against replay. A standby forwards what people click and git hosts
/// push: far fewer than this in a minute. When full, new forwards are refused until old
/// entries expire (a flood needs the shared secret anyway).
const MAX_REMEMBERED: usize = 10_000;

/// A key for one purpose, derived from the shared secret.
pub fn derived_key(shared: &[u8], purpose: &str) -> Vec<u8> {
    hmac(shared, &[b"ordo/", purpose.as_bytes(), b"/v2"])
}

/// HMAC-SHA256 of `parts` one after the other.
pub(super) fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares an address dialled with an advertised one: a trailing `/` is not a difference.
pub fn same_address(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// hex(HMAC(proof key, "ordo-leader-proof\n<nonce>\n<identity>\n<url>")): the leader's answer
/// to a challenge. The URL is the one the standby dialled, so a forged Lease address that
/// relays the challenge to the real leader gets a proof for another address, or none.
pub fn proof(shared: &[u8], nonce: &str, identity: &str, url: &str) -> String {
    let key = derived_key(shared, "leader-proof");
    let url = url.trim_end_matches('/');
    let text = format!("ordo-leader-proof\n{nonce}\n{identity}\n{url}");
    hex(&hmac(&key, &[text.as_bytes()]))
}

/// What a forwarded request is signed over: method, target address, path with query, time,
/// nonce, then the body.
fn forward_mac(
    shared: &[u8],
    method: &str,
    target: &str,
    path: &str,
    at: u64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let key = derived_key(shared, "forward");
    let target = target.trim_end_matches('/');
    let head = format!("ordo-forward\n{method}\n{target}\n{path}\n{at}\n{nonce}\n");
    hmac(&key, &[head.as_bytes(), body])
}

/// The header value for a request to `target` (the leader's address) signed at `at` (Unix
/// seconds): `t=<at>,n=<nonce>,v1=<hex>`.
pub fn sign(
    shared: &[u8],
    method: &str,
    target: &str,
    path: &str,
    body: &[u8],
    at: u64,
    nonce: &str,
) -> String {
    let mac = forward_mac(shared, method, target, path, at, nonce, body);
    format!("t={at},n={nonce},v1={}", hex(&mac))
}

/// Why a forwarded request's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Expired,
    Mismatch,
    Replayed,
    Busy,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Malformed => "the forwarding signature is not t=<seconds>,n=<nonce>,v1=<hex>",
            Refusal::Expired => "the forwarding signature is too old or from the future",
            Refusal::Mismatch => {
                "the forwarding signature does not match this request, this replica's address or the shared secret"
            }
            Refusal::Replayed => "this forwarded request was already received",
            Refusal::Busy => "too many forwarded requests at once",
        })
    }
}

/// A signature's fields.
struct Fields<'a> {
    at: u64,
    nonce: &'a str,
    mac: Vec<u8>,
}

fn fields(value: &str) -> Option<Fields<'_>> {
    let (mut at, mut nonce, mut mac) = (None, None, None);
    for part in value.split(',') {
        match part.trim().split_once('=')? {
            ("t", v) => at = v.parse::<u64>().ok(),
            ("n", v) => nonce = Some(v),
            ("v1", v) => mac = decode_hex(v),
            _ => return None,
        }
    }
    let nonce = nonce.filter(|n| (16..=128).contains(&n.len()))?;
    Some(Fields {
        at: at?,
        nonce,
        mac: mac?,
    })
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A forwarded request as the leader received it.
pub struct Received<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
}

/// Checks `value` (the header) for `request`, addressed to one of `own` (this replica's
/// advertised addresses), at `now`; remembers it in `seen` so it is accepted once.
pub fn check(
    shared: &[u8],
    value: &str,
    request: &Received<'_>,
    own: &[String],
    now: u64,
    seen: &mut Replays,
) -> Result<(), Refusal> {
    let f = fields(value).ok_or(Refusal::Malformed)?;
    if f.at.abs_diff(now) > VALID_FOR {
        return Err(Refusal::Expired);
    }
    let matches = own.iter().any(|target| {
        let expected = forward_mac(
            shared,
            request.method,
            target,
            request.path,
            f.at,
            f.nonce,
            request.body,
        );
        crate::server::api::same_secret(&expected, &f.mac)
    });
    if !matches {
        return Err(Refusal::Mismatch);
    }
    seen.admit(f.nonce, now)
}

/// Nonces of accepted forwards, until they could no longer pass the time check.
#[derive(Debug, Default)]
pub struct Replays {
    seen: HashMap<String, u64>,
}

impl Replays {
    /// Accepts `nonce` once per validity window.
    pub fn admit(&mut self, nonce: &str, now: u64) -> Result<(), Refusal> {
        // A signature dated up to VALID_FOR ahead stays valid until 2 × VALID_FOR from now.
        self.seen
            .retain(|_, at| now.saturating_sub(*at) <= 2 * VALID_FOR);
        if self.seen.contains_key(nonce) {
            return Err(Refusal::Replayed);
        }
        if self.seen.len() >= MAX_REMEMBERED {
            return Err(Refusal::Busy);
        }
        self.seen.insert(nonce.to_owned(), now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"token";
    const LEADER: &str = "http://10.0.0.7:8080";

    #[test]
    fn a_proof_binds_the_key_the_nonce_the_identity_and_the_address() {
        let p = proof(KEY, "n1", "ordo-0", LEADER);
        assert_eq!(p.len(), 64);
        assert_eq!(p, proof(KEY, "n1", "ordo-0", LEADER));
        assert_eq!(p, proof(KEY, "n1", "ordo-0", "http://10.0.0.7:8080/"));
        for other in [
            proof(b"other", "n1", "ordo-0", LEADER),
            proof(KEY, "n2", "ordo-0", LEADER),
            proof(KEY, "n1", "ordo-1", LEADER),
            proof(KEY, "n1", "ordo-0", "http://attacker.example:8080"),
        ] {
            assert_ne!(p, other);
        }
    }

    #[test]
    fn a_proof_is_no_forwarding_signature_nor_a_webhook_signature() {
        // The proof endpoint answers anyone: what it signs is keyed apart from the rest.
        let nonce = "n".repeat(32);
        let p = proof(KEY, &nonce, "ordo-0", LEADER);
        let text = format!("ordo-leader-proof\n{nonce}\nordo-0\n{LEADER}");
        assert_ne!(p, hex(&hmac(KEY, &[text.as_bytes()])));
        assert_ne!(
            derived_key(KEY, "leader-proof"),
            derived_key(KEY, "forward")
        );
    }

    fn received<'a>(path: &'a str, body: &'a [u8]) -> Received<'a> {
        Received {
            method: "POST",
            path,
            body,
        }
    }

    #[test]
    fn a_forwarded_request_is_accepted_once_within_its_window() {
        let nonce = "a".repeat(32);
        let value = sign(
            KEY,
            "POST",
            LEADER,
            "/api/v1/apps/shop/sync",
            b"{}",
            1000,
            &nonce,
        );
        let own = vec![format!("{LEADER}/")];
        let mut seen = Replays::default();
        let request = received("/api/v1/apps/shop/sync", b"{}");
        assert_eq!(check(KEY, &value, &request, &own, 1010, &mut seen), Ok(()));
        assert_eq!(
            check(KEY, &value, &request, &own, 1011, &mut seen),
            Err(Refusal::Replayed)
        );
        let mut late = Replays::default();
        assert_eq!(
            check(KEY, &value, &request, &own, 1000 + VALID_FOR + 1, &mut late),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn a_forwarding_signature_covers_method_path_body_address_and_key() {
        let nonce = "b".repeat(32);
        let value = sign(
            KEY,
            "POST",
            LEADER,
            "/api/v1/apps/shop/sync",
            b"{}",
            1000,
            &nonce,
        );
        let own = vec![LEADER.to_owned()];
        let cases: [(&[u8], &str, Received<'_>, &[String]); 5] = [
            (
                KEY,
                "method",
                Received {
                    method: "PUT",
                    ..received("/api/v1/apps/shop/sync", b"{}")
                },
                &own,
            ),
            (
                KEY,
                "path",
                received("/api/v1/apps/billing/sync", b"{}"),
                &own,
            ),
            (
                KEY,
                "body",
                received("/api/v1/apps/shop/sync", b"{\"x\":1}"),
                &own,
            ),
            (
                KEY,
                "address",
                received("/api/v1/apps/shop/sync", b"{}"),
                &["http://10.0.0.8:8080".to_owned()],
            ),
            (
                b"other",
                "key",
                received("/api/v1/apps/shop/sync", b"{}"),
                &own,
            ),
        ];
        for (key, what, request, own) in cases {
            let mut seen = Replays::default();
            assert_eq!(
                check(key, &value, &request, own, 1000, &mut seen),
                Err(Refusal::Mismatch),
                "{what}"
            );
        }
        let mut seen = Replays::default();
        for garbled in ["", "t=1000", "t=x,n=abc,v1=00", "t=1000,n=short,v1=00"] {
            assert_eq!(
                check(KEY, garbled, &received("/", b""), &own, 1000, &mut seen),
                Err(Refusal::Malformed),
                "{garbled:?}"
            );
        }
    }

    #[test]
    fn remembered_nonces_are_forgotten_once_they_could_not_pass_again() {
        let mut seen = Replays::default();
        assert_eq!(seen.admit("n1", 100), Ok(()));
        assert_eq!(
            seen.admit("n1", 100 + 2 * VALID_FOR),
            Err(Refusal::Replayed)
        );
        assert_eq!(seen.admit("n1", 100 + 2 * VALID_FOR + 1), Ok(()));
    }
}
