//! A standby replica hands what only the leader can act on (commands and webhooks) to the
//! leader, at the address the leader wrote on the Lease once that address proved it holds the
//! Lease (`leader.rs`): behind one Service, a click on "Sync now" or a push from git hosting
//! works whichever replica it lands on, and a forged Lease annotation collects nothing.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::ServerState;
use super::error::ApiError;
use crate::agent::Phase;
use crate::agent::lease::LeaderAddress;

/// Marks a forwarded request, so it is never forwarded twice (two replicas each believing the
/// other leads would otherwise bounce it).
use super::leader::FORWARDED;
/// The largest body forwarded: the webhook limit.
const LIMIT: usize = 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

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
    if !leader_only(request.method(), request.uri()) || request.headers().contains_key(FORWARDED) {
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
    let leader = &owner.url;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!("{leader}{path}").parse::<Uri>() else {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "the leader's address is not a URL",
        )
        .into_response());
    };
    let mut forwarded = axum::http::Request::builder().method(parts.method).uri(uri);
    for (name, value) in &parts.headers {
        if name != axum::http::header::HOST {
            forwarded = forwarded.header(name, value);
        }
    }
    let Ok(forwarded) = forwarded
        .header(FORWARDED, HeaderValue::from_static("1"))
        .body(Full::new(body))
    else {
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
}
