//! `/healthz` (the process serves) and `/readyz` (the API server answers and every app has
//! finished its first reconcile), for Kubernetes probes and load balancers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::json;

use super::ServerState;

pub fn routes() -> Vec<(&'static str, MethodRouter<ServerState>)> {
    vec![("/healthz", get(healthz)), ("/readyz", get(readyz))]
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<ServerState>) -> Response {
    // The agent asks the API server (at most every few seconds) with its own client.
    let api = state.views.api_reachable().await.map_err(|e| e.to_string());
    let waiting: Vec<&str> = state
        .apps
        .iter()
        .filter(|(_, h)| h.state.borrow().reconciled_at.is_none())
        .map(|(name, _)| name.as_str())
        .collect();
    let down: Vec<String> = state
        .apps
        .iter()
        .filter_map(|(name, h)| {
            let s = h.state.borrow();
            let why = s.task_down.clone().or_else(|| s.store_error.clone())?;
            Some(format!("{name} ({why})"))
        })
        .collect();
    let apps = if !down.is_empty() {
        Err(format!(
            "app task down or state not saved: {}",
            down.join(", ")
        ))
    } else if waiting.is_empty() {
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
