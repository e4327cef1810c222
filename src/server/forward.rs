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

/// Middleware: on a standby replica that knows the leader's address, forwards leader-only
/// requests there and returns its answer; everything else is served here.
pub async fn to_leader(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    if !leader_only(request.method(), request.uri()) || request.headers().contains_key(FORWARDED) {
        return next.run(request).await;
    }
    let standby = state
        .apps
        .values()
        .any(|h| h.state.borrow().phase == Phase::Standby);
    let leader = state.leader_url.borrow().clone();
    let Some(leader) = leader.filter(|_| standby) else {
        return next.run(request).await;
    };
    if let Err(why) = super::leader::verified(&state, &leader).await {
        tracing::warn!(leader = %leader.url, holder = %leader.identity, error = %why, "not forwarding to an unverified leader");
        return ApiError::unavailable(
            format!("this replica is on standby and did not forward the request: {why}; send it to the leader"),
            5,
        )
        .into_response();
    }
    let leader = leader.url;
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, LIMIT).await {
        Ok(b) => b,
        Err(_) => return ApiError::too_large(LIMIT).into_response(),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!("{leader}{path}").parse::<Uri>() else {
        return next.run(Request::from_parts(parts, Body::from(body))).await;
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
        return ApiError::new(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "cannot build the request for the leader",
        )
        .into_response();
    };
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    match tokio::time::timeout(TIMEOUT, client.request(forwarded)).await {
        Ok(Ok(answer)) => {
            tracing::debug!(%leader, status = %answer.status(), "forwarded to the leader");
            answer.map(Body::new).into_response()
        }
        Ok(Err(e)) => ApiError::unavailable(
            format!("this replica is on standby and the leader at {leader} did not answer: {e}; retry"),
            5,
        )
        .into_response(),
        Err(_) => ApiError::unavailable(
            format!("this replica is on standby and the leader at {leader} did not answer within {} s; retry", TIMEOUT.as_secs()),
            5,
        )
        .into_response(),
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
