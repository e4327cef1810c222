//! Forwarding only to a verified leader (issues #13, #23). The address a standby forwards to
//! comes from the Lease, which anyone allowed to edit Leases could change: before anything goes
//! there, the address must prove it is the replica holding the Lease, by answering a fresh
//! challenge with an HMAC keyed by the secret the replicas share (the API token, else the
//! webhook secret) over the challenge, its identity and the exact URL the standby dialled. The
//! leader answers only for its own advertised addresses, so a forged address that relays the
//! challenge to the real leader gets a refusal, or a proof for another URL that does not verify.
//! Nothing secret is sent to prove it, and what is forwarded afterwards carries the standby's
//! own signature (`signature.rs`), never the caller's token.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, post};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::ServerState;
use super::error::ApiError;
use super::signature::{self, Replays};
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

/// What this replica knows about forwarding: where it is reached, which leader address proved
/// itself last, and which forwarded requests it already took.
#[derive(Debug, Default)]
pub struct Forwarding {
    /// This replica's own addresses (`--advertise-url`): the only ones it proves.
    advertised: Vec<String>,
    /// The last leader address that proved itself: (url, identity, when).
    trust: Mutex<Option<(String, String, Instant)>>,
    /// Forwarded requests accepted lately, so none is acted on twice.
    pub(super) replays: Mutex<Replays>,
}

impl Forwarding {
    pub fn new(advertised: Option<String>) -> Self {
        Forwarding {
            advertised: advertised.into_iter().collect(),
            ..Forwarding::default()
        }
    }

    pub fn advertised(&self) -> &[String] {
        &self.advertised
    }

    fn advertises(&self, url: &str) -> bool {
        self.advertised
            .iter()
            .any(|own| signature::same_address(own, url))
    }

    fn trusts(&self, leader: &LeaderAddress) -> bool {
        let trust = self.trust.lock().unwrap_or_else(PoisonError::into_inner);
        trust.as_ref().is_some_and(|(url, identity, at)| {
            *url == leader.url && *identity == leader.identity && at.elapsed() < TRUSTED_FOR
        })
    }

    fn trust(&self, leader: &LeaderAddress) {
        let mut trust = self.trust.lock().unwrap_or_else(PoisonError::into_inner);
        *trust = Some((leader.url.clone(), leader.identity.clone(), Instant::now()));
    }
}

/// The secret the replicas share: the API token, else the webhook secret.
pub(super) fn shared_key(state: &ServerState) -> Option<Vec<u8>> {
    state
        .api_token
        .as_ref()
        .map(|t| t.as_bytes().to_vec())
        .or_else(|| state.webhook_secret.as_ref().map(|s| s.to_vec()))
}

/// `POST /api/v1/leader/proof {"nonce": "…", "url": "<the URL dialled>"}`: the leader's
/// identity and its proof. Only a replica that leads answers, and only for its own address;
/// the nonce is the caller's, so an answer cannot be replayed. Open whatever `readAuth` says:
/// it reveals nothing but an HMAC under a key used for nothing else.
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
            "send {\"nonce\": \"<32 to 128 characters>\", \"url\": \"<the URL you dialled>\"}",
        ));
    }
    let url = body.get("url").and_then(Value::as_str).unwrap_or("");
    if !state.forwarding.advertises(url) {
        return Err(ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected",
            format!(
                "{url:?} is not this replica's advertised address (--advertise-url): it proves only the address it writes on the Lease"
            ),
        ));
    }
    Ok(Json(json!({
        "identity": identity.as_ref(),
        "proof": signature::proof(&key, nonce, identity, url),
    })))
}

/// Whether `leader` (the address and holder the Lease names) proved it holds the Lease and
/// answers at that very address. Cached per (address, holder) for a minute.
pub async fn verified(state: &ServerState, leader: &LeaderAddress) -> Result<(), String> {
    if state.forwarding.trusts(leader) {
        return Ok(());
    }
    let key = shared_key(state).ok_or("no shared secret to verify the leader with")?;
    let nonce = random_hex(24)?;
    let answer = ask(&leader.url, &nonce).await?;
    let identity = answer.get("identity").and_then(Value::as_str).unwrap_or("");
    let given = answer.get("proof").and_then(Value::as_str).unwrap_or("");
    let expected = signature::proof(&key, &nonce, &leader.identity, &leader.url);
    let good = identity == leader.identity
        && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
        && !given.is_empty();
    if !good {
        return Err(format!(
            "the address on the Lease ({}) did not prove it is {}, the replica holding the Lease",
            leader.url, leader.identity
        ));
    }
    state.forwarding.trust(leader);
    Ok(())
}

/// `bytes` random bytes, hex.
pub(super) fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|e| format!("no randomness: {e}"))?;
    Ok(buffer.iter().map(|b| format!("{b:02x}")).collect())
}

/// Challenges `url`, saying which URL was dialled: the answer proves that one or nothing.
async fn ask(url: &str, nonce: &str) -> Result<Value, String> {
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(format!("{url}/api/v1/leader/proof"))
        .header("content-type", "application/json")
        .header(FORWARDED, "1")
        .body(Full::new(Bytes::from(
            json!({"nonce": nonce, "url": url}).to_string(),
        )))
        .map_err(|e| format!("cannot build the challenge: {e}"))?;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let answer = tokio::time::timeout(TIMEOUT, client.request(request))
        .await
        .map_err(|_| format!("{url} did not answer the leader challenge in time"))?
        .map_err(|e| format!("{url} did not answer the leader challenge: {e}"))?;
    // An identity and 64 hex digits: anything longer is not a proof.
    let limited = http_body_util::Limited::new(answer.into_body(), 4096);
    let body = tokio::time::timeout(TIMEOUT, limited.collect())
        .await
        .map_err(|_| format!("{url} did not finish its answer in time"))?
        .map_err(|e| format!("{url}: answer unreadable or too large: {e}"))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| format!("{url}: not a proof: {e}"))
}
