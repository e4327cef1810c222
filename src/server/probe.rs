//! `/healthz` (the process serves) and `/readyz` (the API server answers and every app has
//! finished its first reconcile), for Kubernetes probes and load balancers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use axum::{Extension, Json};
use serde_json::json;

use super::ServerState;
use crate::cluster::Cluster;

/// A probe that waits longer than the kubelet's default 1 s timeout fails anyway.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// Probes, scrapers and load balancers may ask every second; the API server hears from us at
/// most this often.
const CACHE_FOR: Duration = Duration::from_secs(5);

pub fn routes() -> Vec<(&'static str, MethodRouter<ServerState>)> {
    vec![("/healthz", get(healthz)), ("/readyz", get(readyz))]
}

async fn healthz() -> &'static str {
    "ok"
}

/// The last answer of the API server check, shared by all requests. The lock is never held
/// across the check itself: two probes arriving together may both ask, which is harmless.
#[derive(Default)]
pub struct ApiCheck {
    last: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl ApiCheck {
    pub async fn reachable(&self, cluster: &Cluster) -> Result<(), String> {
        if let Some(fresh) = self.cached() {
            return fresh;
        }
        // `/version`: the cheapest request every API server answers, through the counted client.
        let result =
            match tokio::time::timeout(CHECK_TIMEOUT, cluster.client().apiserver_version()).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("the API server is not reachable: {e}")),
                Err(_) => Err(format!(
                    "the API server did not answer within {} ms",
                    CHECK_TIMEOUT.as_millis()
                )),
            };
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), result.clone()));
        }
        result
    }

    fn cached(&self) -> Option<Result<(), String>> {
        let last = self.last.lock().ok()?;
        let (at, result) = last.as_ref()?;
        (at.elapsed() < CACHE_FOR).then(|| result.clone())
    }
}

async fn readyz(
    State(state): State<ServerState>,
    Extension(check): Extension<Arc<ApiCheck>>,
) -> Response {
    let api = check.reachable(&state.cluster).await;
    let waiting: Vec<&str> = state
        .apps
        .iter()
        .filter(|(_, h)| h.state.borrow().reconciled_at.is_none())
        .map(|(name, _)| name.as_str())
        .collect();
    let apps = if waiting.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "not reconciled once yet: {}; wait for the first sync to finish (see /api/v1/apps)",
            waiting.join(", ")
        ))
    };
    let verdict = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.clone(),
    };
    let checks = json!({"apiServer": verdict(&api), "apps": verdict(&apps)});
    match (api, apps) {
        (Ok(()), Ok(())) => Json(json!({"ready": true, "checks": checks})).into_response(),
        (api, apps) => {
            let failed: Vec<String> = [api.err(), apps.err()].into_iter().flatten().collect();
            let body = json!({
                "error": "not_ready",
                "detail": failed.join("; "),
                "ready": false,
                "checks": checks,
            });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}
