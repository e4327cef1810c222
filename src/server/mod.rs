//! The HTTP surface of `ordo run` (one axum router): the status page, the JSON API under
//! `/api/v1`, Server-Sent Events, webhooks, `/metrics`, `/healthz` and `/readyz`. Everything
//! read here comes from the agent's published snapshots; nothing holds a lock across an await.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::agent::AppHandle;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::metrics::Metrics;

pub mod page;
pub mod view;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct ServerState {
    pub apps: Arc<BTreeMap<String, AppHandle>>,
    pub config: Arc<Config>,
    pub cluster: Cluster,
    pub metrics: Arc<Metrics>,
    /// Bearer token for mutating calls; `None` disables them (never open).
    pub api_token: Option<Arc<str>>,
    /// Shared secret webhooks are signed with; `None` refuses webhooks.
    pub webhook_secret: Option<Arc<[u8]>>,
}

/// Every route, with its state.
pub fn router(state: ServerState) -> axum::Router {
    axum::Router::new().merge(page::routes()).with_state(state)
}

/// Serves until `shutdown` resolves; open SSE streams are closed then.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
