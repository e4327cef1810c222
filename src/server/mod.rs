//! The HTTP surface of `ordo run` (one axum router): the status page, the JSON API under
//! `/api/v1`, Server-Sent Events, webhooks, `/metrics`, `/healthz` and `/readyz`. Everything
//! read here comes from the agent's published snapshots; nothing holds a lock across an await.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use axum::{Extension, Router};
use tokio::sync::watch;

use crate::agent::{AppHandle, SharedViews};
use crate::metrics::{Metrics, render};

pub mod api;
pub mod auth;
pub mod error;
pub mod events;
pub mod forward;
pub mod leader;
pub mod live;
pub mod openapi;
pub mod page;
pub mod probe;
pub mod session;
pub mod signature;
pub mod view;
pub mod webhook;

#[cfg(test)]
mod tests;

use error::ApiError;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct ServerState {
    pub apps: Arc<BTreeMap<String, AppHandle>>,
    /// The agent's answers about the cluster: readiness and request counts. The HTTP layer
    /// holds no client of its own.
    pub views: SharedViews,
    pub metrics: Arc<Metrics>,
    /// Bearer token for mutating calls; `None` disables them (never open).
    pub api_token: Option<Arc<str>>,
    /// `readAuth: token`: the page and the read API need the token too (see `auth.rs`).
    pub read_needs_token: bool,
    /// Shared secret webhooks are signed with; `None` refuses webhooks.
    pub webhook_secret: Option<Arc<[u8]>>,
    /// The leader's HTTP address and identity while another replica leads (from the Lease;
    /// verified before anything is forwarded there, see `leader.rs`).
    pub leader_url: watch::Receiver<Option<crate::agent::lease::LeaderAddress>>,
    /// This replica's identity on the Lease, when it campaigns: what it proves as leader.
    pub identity: Option<Arc<str>>,
    /// This replica's advertised address, the last leader address that proved itself, and the
    /// forwarded requests already taken (`leader.rs`, `forward.rs`).
    pub forwarding: Arc<leader::Forwarding>,
    /// Browser sessions from `/login`, until they expire or log out (`auth.rs`).
    pub sessions: Arc<auth::Sessions>,
    /// Open event streams, per client and in all (`events.rs`).
    pub streams: Arc<events::Streams>,
    /// Each notification receiver's counts and last error (shown on the index page).
    pub notifications: crate::notify::Deliveries,
}

/// Every route but the status page's, by path: one table, so the OpenAPI test sees exactly what
/// the router serves.
pub fn routes() -> Vec<(&'static str, MethodRouter<ServerState>)> {
    let mut routes = api::routes();
    routes.extend(events::routes());
    routes.extend(webhook::routes());
    routes.extend(openapi::routes());
    routes.extend(probe::routes());
    routes.extend(live::routes());
    routes.extend(leader::routes());
    routes.push(("/metrics", get(metrics)));
    routes
}

/// Every route, with its state.
pub fn router(state: ServerState) -> Router {
    let mut router = Router::new();
    for (path, route) in routes() {
        router = router.route(path, route);
    }
    router
        .merge(page::routes())
        .merge(auth::login_routes())
        .fallback(not_found)
        // After the merge: it applies to the routes present when called.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            forward::to_leader,
        ))
        // Nothing is read, or forwarded, for a caller without the token.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::read_guard,
        ))
        // Before the read guard: a request a standby signed carries no token of its own.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            forward::from_standby,
        ))
        .with_state(state)
}

/// Serves until `shutdown` resolves; open SSE streams are closed then.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (closing, closed) = watch::channel(false);
    let app = router(state).layer(Extension(events::Closing(closed)));
    // The peer address counts event streams per client (`events.rs`).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Event streams never end by themselves; a graceful shutdown waits for them.
            let _ = closing.send(true);
        })
        .await
}

pub(super) fn is_api(uri: &Uri) -> bool {
    uri.path() == "/api" || uri.path().starts_with("/api/")
}

async fn not_found(uri: Uri) -> Response {
    if is_api(&uri) {
        ApiError::no_route(uri.path()).into_response()
    } else {
        (StatusCode::NOT_FOUND, "not found\n").into_response()
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    if is_api(&uri) {
        ApiError::method_not_allowed(method.as_str(), uri.path()).into_response()
    } else {
        (StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n").into_response()
    }
}

async fn metrics(State(state): State<ServerState>) -> Response {
    let apps: Vec<render::AppSample> = state
        .apps
        .values()
        .map(|h| h.state.borrow().metrics_sample())
        .collect();
    match render::exposition(&state.metrics, &apps, &state.views.requests()) {
        Ok(text) => ([(header::CONTENT_TYPE, render::CONTENT_TYPE)], text).into_response(),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("cannot encode the metrics: {e}"),
        )
        .into_response(),
    }
}
