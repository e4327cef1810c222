//! Forwarding only to a verified leader (issue #13). The address a standby forwards to comes
//! from the Lease, which anyone allowed to edit Leases could change: before a command's token
//! or a webhook's signature goes there, the address must prove it is the replica holding the
//! Lease, by answering a fresh challenge with an HMAC keyed by the secret the replicas share
//! (the API token, else the webhook secret). Nothing secret is sent to prove it.

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, post};
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::ServerState;
use super::error::ApiError;
use crate::agent::Phase;
use crate::agent::lease::LeaderAddress;

/// A proof stays good this long for one (address, holder): commands need not wait for it.
const TRUSTED_FOR: Duration = Duration::from_secs(60);
const TIMEOUT: Duration = Duration::from_secs(5);
/// Marks the challenge so the leader answers it itself (never forwarded).
pub const FORWARDED: &str = "x-ordo-forwarded";

pub fn routes() -> Vec<(&'static str, MethodRouter<ServerState>)> {
    vec![("/api/v1/leader/proof", post(prove))]
}

/// The key the replicas share: the API token, else the webhook secret.
fn shared_key(state: &ServerState) -> Option<Vec<u8>> {
    state
        .api_token
        .as_ref()
        .map(|t| t.as_bytes().to_vec())
        .or_else(|| state.webhook_secret.as_ref().map(|s| s.to_vec()))
}

/// hex(HMAC-SHA256(key, "ordo-leader-proof\n<nonce>\n<identity>")).
pub fn proof(key: &[u8], nonce: &str, identity: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(format!("ordo-leader-proof\n{nonce}\n{identity}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `POST /api/v1/leader/proof {"nonce": "…"}`: the leader's identity and its proof. Only a
/// replica that leads answers; the nonce is the caller's, so an answer cannot be replayed.
async fn prove(
    State(state): State<ServerState>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    // Sharded, every replica leads some apps: only one that leads none refuses.
    let standby = !state.apps.is_empty()
        && state
            .apps
            .values()
            .all(|h| h.state.borrow().phase == Phase::Standby);
    let (Some(identity), Some(key), false) = (&state.identity, shared_key(&state), standby) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_leader",
            "this replica does not lead, or has no shared secret to prove it with",
        ));
    };
    let nonce = body.get("nonce").and_then(Value::as_str).unwrap_or("");
    if nonce.len() < 32 || nonce.len() > 128 {
        return Err(ApiError::bad_request(
            "send {\"nonce\": \"<32 to 128 characters>\"}",
        ));
    }
    Ok(Json(json!({
        "identity": identity.as_ref(),
        "proof": proof(&key, nonce, identity),
    })))
}

/// Whether `leader` (the address and holder the Lease names) proved it holds the Lease.
/// Cached per (address, holder) for a minute.
pub async fn verified(state: &ServerState, leader: &LeaderAddress) -> Result<(), String> {
    let cached = state
        .leader_trust
        .lock()
        .ok()
        .and_then(|t| t.clone())
        .is_some_and(|(url, identity, at)| {
            url == leader.url && identity == leader.identity && at.elapsed() < TRUSTED_FOR
        });
    if cached {
        return Ok(());
    }
    let key = shared_key(state).ok_or("no shared secret to verify the leader with")?;
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    let nonce: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let answer = ask(&leader.url, &nonce).await?;
    let identity = answer.get("identity").and_then(Value::as_str).unwrap_or("");
    let given = answer.get("proof").and_then(Value::as_str).unwrap_or("");
    let expected = proof(&key, &nonce, &leader.identity);
    let good = identity == leader.identity
        && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
        && !given.is_empty();
    if !good {
        return Err(format!(
            "the address on the Lease ({}) did not prove it is {}, the replica holding the Lease",
            leader.url, leader.identity
        ));
    }
    if let Ok(mut trust) = state.leader_trust.lock() {
        *trust = Some((leader.url.clone(), leader.identity.clone(), Instant::now()));
    }
    Ok(())
}

async fn ask(url: &str, nonce: &str) -> Result<Value, String> {
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(format!("{url}/api/v1/leader/proof"))
        .header("content-type", "application/json")
        .header(FORWARDED, "1")
        .body(Full::new(Bytes::from(json!({"nonce": nonce}).to_string())))
        .map_err(|e| format!("cannot build the challenge: {e}"))?;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let answer = tokio::time::timeout(TIMEOUT, client.request(request))
        .await
        .map_err(|_| format!("{url} did not answer the leader challenge in time"))?
        .map_err(|e| format!("{url} did not answer the leader challenge: {e}"))?;
    let body = tokio::time::timeout(TIMEOUT, answer.into_body().collect())
        .await
        .map_err(|_| format!("{url} did not finish its answer in time"))?
        .map_err(|e| format!("{url}: {e}"))?
        .to_bytes();
    if body.len() > 4096 {
        return Err(format!("{url}: answer too large"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url}: not a proof: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_binds_the_key_the_nonce_and_the_identity() {
        let p = proof(b"token", "n1", "ordo-0");
        assert_eq!(p.len(), 64);
        assert_eq!(p, proof(b"token", "n1", "ordo-0"));
        for other in [
            proof(b"other", "n1", "ordo-0"),
            proof(b"token", "n2", "ordo-0"),
            proof(b"token", "n1", "ordo-1"),
        ] {
            assert_ne!(p, other);
        }
    }
}
