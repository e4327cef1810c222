//! A standby replica hands what only the leader can act on (commands and webhooks) to the
//! leader, at the address the leader wrote on the Lease once that address proved it holds the
//! Lease (`leader.rs`): behind one Service, a click on "Sync now" or a push from git hosting
//! works whichever replica it lands on, and a forged Lease annotation collects nothing.
//!
//! The standby checks the caller itself (the bearer token, the webhook's signature) and
//! forwards the request with its own signature (`signature.rs`: method, path, body, the
//! leader's address, a time and a nonce), never with the caller's token, cookie or GitLab's
//! secret: whatever reaches the leader's address is good for that one request, for 30 s, once.

use std::sync::PoisonError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::ServerState;
use super::error::ApiError;
use super::signature::{self, Received};
use crate::agent::Phase;
use crate::agent::lease::LeaderAddress;

/// Marks a forwarded request, so it is never forwarded twice (two replicas each believing the
/// other leads would otherwise bounce it).
use super::leader::FORWARDED;
/// The largest body forwarded: the webhook limit.
const LIMIT: usize = 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

/// The headers a forwarded request keeps: what the leader's handler reads to understand it.
/// Credentials (`Authorization`, cookies, `X-Gitlab-Token`) and signatures made with the
/// webhook secret stay on the standby, which checked them.
const KEPT_HEADERS: [&str; 7] = [
    "content-type",
    "accept",
    "user-agent",
    "x-github-event",
    "x-gitlab-event",
    "x-gitea-event",
    "x-forgejo-event",
];

/// Set on a request the leader received from a standby with a valid signature: the standby
/// checked the caller's token or the webhook's signature already.
#[derive(Debug, Clone, Copy)]
pub struct FromStandby;

/// What only the leader acts on.
fn leader_only(method: &Method, uri: &Uri) -> bool {
    let path = uri.path();
    *method == Method::POST
        && (path == "/api/v1/webhook"
            || (path.starts_with("/api/v1/apps/")
                && ["/sync", "/rollback", "/unpin", "/confirm-prune"]
                    .iter()
                    .any(|action| path.ends_with(action))))
}

/// Middleware: hands leader-only requests to the replica that leads the apps they are for,
/// once its address proved itself, and returns its answer; everything else is served here.
/// A command goes to the holder of its app's shard. A webhook goes to every other replica
/// that leads apps this one does not (`--shards`), and is acted on here too.
pub async fn to_leader(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    if !leader_only(request.method(), request.uri())
        || request.headers().contains_key(FORWARDED)
        || request.extensions().get::<FromStandby>().is_some()
    {
        return next.run(request).await;
    }
    let (owners, leads_here) = owners_for(&state, request.uri().path());
    if owners.is_empty() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, LIMIT).await {
        Ok(b) => b,
        Err(_) => return ApiError::too_large(LIMIT).into_response(),
    };
    if !caller_checked(&state, parts.uri.path(), &parts.headers, &body) {
        // Nothing is signed for a caller without credentials: the handler here says why not.
        return next.run(Request::from_parts(parts, Body::from(body))).await;
    }
    if leads_here || owners.len() > 1 {
        // Sharded: each owner gets its copy; the answer is this replica's own.
        for owner in owners {
            let (state, parts, body) = (state.clone(), clone_parts(&parts), body.clone());
            tokio::spawn(async move {
                if let Err(answer) = forward(&state, &owner, parts, body).await {
                    tracing::warn!(owner = %owner.url, status = %answer.status(), "a replica leading some of the apps did not take the request");
                }
            });
        }
        return next.run(Request::from_parts(parts, Body::from(body))).await;
    }
    let Some(owner) = owners.into_iter().next() else {
        return next.run(Request::from_parts(parts, Body::from(body))).await;
    };
    match forward(&state, &owner, parts, body).await {
        Ok(answer) | Err(answer) => answer,
    }
}

/// The verified-or-not addresses of the replicas leading the apps `path` is for (an app's
/// command: its app; the webhook: every app), for apps on standby here; and whether this
/// replica leads any of them itself.
fn owners_for(state: &ServerState, path: &str) -> (Vec<LeaderAddress>, bool) {
    let app = path
        .strip_prefix("/api/v1/apps/")
        .and_then(|rest| rest.split('/').next());
    let handles: Vec<&crate::agent::AppHandle> = match app {
        Some(name) => state.apps.get(name).into_iter().collect(),
        None => state.apps.values().collect(),
    };
    let mut owners: Vec<LeaderAddress> = Vec::new();
    let mut leads_here = false;
    for h in handles {
        if h.state.borrow().phase != Phase::Standby {
            leads_here = true;
            continue;
        }
        let owner = h
            .owner
            .borrow()
            .clone()
            .or_else(|| state.leader_url.borrow().clone());
        if let Some(owner) = owner
            && !owners.contains(&owner)
        {
            owners.push(owner);
        }
    }
    (owners, leads_here)
}

/// Whether the caller proved what the leader would ask: the API token for a command, the
/// webhook secret's signature for a webhook.
fn caller_checked(state: &ServerState, path: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    if path == "/api/v1/webhook" {
        return super::webhook::authentic(state, headers, body);
    }
    state
        .api_token
        .as_deref()
        .is_some_and(|token| super::api::bearer_matches(headers, token))
}

/// The headers sent to the leader: [`KEPT_HEADERS`], the forwarding mark and the signature.
fn forwarded_headers(original: &HeaderMap, signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in KEPT_HEADERS {
        for value in original.get_all(name) {
            headers.append(name, value.clone());
        }
    }
    headers.insert(FORWARDED, HeaderValue::from_static("1"));
    if let Ok(value) = HeaderValue::from_str(signature) {
        headers.insert(signature::HEADER, value);
    }
    headers
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Middleware (outermost, on every replica): a request carrying a forwarding signature is
/// acted on only if the signature holds for this request, this replica's address and the
/// shared secret, within its window and once; it is then marked [`FromStandby`].
pub async fn from_standby(
    State(state): State<ServerState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(value) = request.headers().get(signature::HEADER) else {
        return next.run(request).await;
    };
    let value = value.to_str().unwrap_or_default().to_owned();
    let refuse = |why: &str| {
        ApiError::unauthorized(format!("refused a forwarded request: {why}")).into_response()
    };
    if !leader_only(request.method(), request.uri()) {
        return refuse("only commands and webhooks are forwarded");
    }
    let Some(shared) = super::leader::shared_key(&state) else {
        return refuse("this replica has no shared secret to check it with");
    };
    let (mut parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, LIMIT).await {
        Ok(b) => b,
        Err(_) => return ApiError::too_large(LIMIT).into_response(),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let received = Received {
        method: parts.method.as_str(),
        path,
        body: &body,
    };
    let verdict = {
        let mut seen = state
            .forwarding
            .replays
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        signature::check(
            &shared,
            &value,
            &received,
            state.forwarding.advertised(),
            unix_now(),
            &mut seen,
        )
    };
    if let Err(why) = verdict {
        tracing::warn!(path = %parts.uri.path(), error = %why, "refused a forwarded request");
        return refuse(&why.to_string());
    }
    parts.extensions.insert(FromStandby);
    next.run(Request::from_parts(parts, Body::from(body))).await
}

fn clone_parts(parts: &axum::http::request::Parts) -> axum::http::request::Parts {
    let mut builder = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone());
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let (cloned, ()) = builder.body(()).unwrap_or_default().into_parts();
    cloned
}

/// Sends the request to `owner` once it proved it holds the lease; its answer, or why not
/// (as the answer to give).
async fn forward(
    state: &ServerState,
    owner: &LeaderAddress,
    parts: axum::http::request::Parts,
    body: Bytes,
) -> Result<Response, Response> {
    if let Err(why) = super::leader::verified(state, owner).await {
        tracing::warn!(leader = %owner.url, holder = %owner.identity, error = %why, "not forwarding to an unverified leader");
        return Err(ApiError::unavailable(
            format!("this replica is on standby and did not forward the request: {why}; send it to the leader"),
            5,
        )
        .into_response());
    }
    let leader = owner.url.trim_end_matches('/');
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!("{leader}{path}").parse::<Uri>() else {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "the leader's address is not a URL",
        )
        .into_response());
    };
    let nonce = super::leader::random_hex(16).unwrap_or_default();
    let Some(shared) = super::leader::shared_key(state).filter(|_| !nonce.is_empty()) else {
        return Err(ApiError::unavailable(
            "this replica is on standby and cannot sign the request for the leader; send it to the leader",
            5,
        )
        .into_response());
    };
    let signed = signature::sign(
        &shared,
        parts.method.as_str(),
        leader,
        path,
        &body,
        unix_now(),
        &nonce,
    );
    let mut forwarded = axum::http::Request::builder().method(parts.method).uri(uri);
    if let Some(headers) = forwarded.headers_mut() {
        *headers = forwarded_headers(&parts.headers, &signed);
    }
    let Ok(forwarded) = forwarded.body(Full::new(body)) else {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "cannot build the request for the leader",
        )
        .into_response());
    };
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    match tokio::time::timeout(TIMEOUT, client.request(forwarded)).await {
        Ok(Ok(answer)) => {
            tracing::debug!(%leader, status = %answer.status(), "forwarded to the leader");
            Ok(answer.map(Body::new).into_response())
        }
        Ok(Err(e)) => Err(ApiError::unavailable(
            format!("this replica is on standby and the leader at {leader} did not answer: {e}; retry"),
            5,
        )
        .into_response()),
        Err(_) => Err(ApiError::unavailable(
            format!("this replica is on standby and the leader at {leader} did not answer within {} s; retry", TIMEOUT.as_secs()),
            5,
        )
        .into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_commands_and_webhooks_go_to_the_leader() {
        let cases = [
            (Method::POST, "/api/v1/webhook", true),
            (Method::POST, "/api/v1/apps/shop/sync", true),
            (Method::POST, "/api/v1/apps/shop/rollback", true),
            (Method::POST, "/api/v1/apps/shop/unpin", true),
            (Method::GET, "/api/v1/apps/shop", false),
            (Method::GET, "/api/v1/events", false),
            (Method::GET, "/metrics", false),
            (Method::POST, "/apps/shop/sync", false),
        ];
        for (method, path, want) in cases {
            let uri: Uri = path.parse().unwrap();
            assert_eq!(leader_only(&method, &uri), want, "{method} {path}");
        }
    }

    #[test]
    fn a_forwarded_request_carries_no_credential_of_the_caller() {
        let mut original = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer s3cret"),
            ("cookie", "ordo_session=abc"),
            ("x-gitlab-token", "webhook-secret"),
            ("x-hub-signature-256", "sha256=00"),
            ("x-ordo-signature", "sha256=00"),
            ("proxy-authorization", "Basic eA=="),
            ("host", "ordo.example"),
            ("content-type", "application/json"),
            ("x-gitlab-event", "Push Hook"),
        ] {
            original.insert(name, HeaderValue::from_static(value));
        }
        let sent = forwarded_headers(&original, "t=1,n=x,v1=00");
        let names: Vec<&str> = sent.keys().map(|n| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "content-type",
                "x-gitlab-event",
                FORWARDED,
                signature::HEADER
            ]
        );
        assert!(!sent.contains_key(axum::http::header::AUTHORIZATION));
    }
}
