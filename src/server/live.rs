//! What the page shows of an app's objects live: children and events (in the resource
//! document), a pod's log (`GET /api/v1/apps/{name}/logs`), and the tree view's stream (see
//! `events.rs`). All of it is asked of the agent's views, which watch only while someone looks.

use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::routing::{MethodRouter, get};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ServerState;
use super::api::{App, view_error};
use super::auth::TokenHolder;
use super::error::ApiError;
use crate::agent::{AppState, Look, Root};

pub fn routes() -> Vec<(&'static str, MethodRouter<ServerState>)> {
    vec![
        ("/api/v1/apps/{name}/logs", get(logs)),
        ("/api/v1/apps/{name}/logs/follow", get(follow_logs)),
    ]
}

/// The app's objects, as the roots of their live trees.
pub fn roots(app: &AppState) -> Vec<Root> {
    app.resources
        .iter()
        .map(|r| Root {
            id: r.id.clone(),
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
        })
        .collect()
}

/// `children`, `events` (and `childrenOmitted` for a long list) of one object, or
/// `liveError` when the cluster could not be read: the rest of the document still helps.
pub async fn live_fields(app: &App, root: &Root) -> serde_json::Map<String, Value> {
    let mut fields = serde_json::Map::new();
    let namespace = root.namespace.as_deref().unwrap_or_default();
    match app.handle.may_look(namespace, Look::Tree).await {
        Ok(true) => {}
        Ok(false) => {
            fields.insert("children".into(), json!([]));
            fields.insert("events".into(), json!([]));
            fields.insert(
                "liveError".into(),
                json!(format!(
                    "not shown: the app's serviceAccountName may not list pods, replica sets, \
                     jobs and events in {namespace}"
                )),
            );
            return fields;
        }
        Err(e) => {
            fields.insert("children".into(), json!([]));
            fields.insert("events".into(), json!([]));
            fields.insert("liveError".into(), json!(e.to_string()));
            return fields;
        }
    }
    match app.handle.views.live.live(root).await {
        Ok(live) => {
            fields.insert("children".into(), json!(live.children));
            fields.insert("events".into(), json!(live.events));
            if live.more > 0 {
                fields.insert("childrenOmitted".into(), json!(live.more));
            }
        }
        Err(e) => {
            fields.insert("children".into(), json!([]));
            fields.insert("events".into(), json!([]));
            fields.insert("liveError".into(), json!(e.to_string()));
        }
    }
    fields
}

/// The roots whose namespace the app's own account may `look` at (all of them for an app that
/// runs as ordo's account): a pod elsewhere is then not found, as if it were not the app's.
pub async fn visible(app: &App, roots: Vec<Root>, look: Look) -> Vec<Root> {
    let mut allowed: std::collections::HashMap<String, bool> = Default::default();
    let mut out = Vec::with_capacity(roots.len());
    for root in roots {
        let namespace = root.namespace.clone().unwrap_or_default();
        let may = match allowed.get(&namespace) {
            Some(&may) => may,
            None => {
                let may = app.handle.may_look(&namespace, look).await.unwrap_or(false);
                allowed.insert(namespace, may);
                may
            }
        };
        if may {
            out.push(root);
        }
    }
    out
}

#[derive(Debug, Deserialize)]
pub struct LogsQuery {
    pub pod: Option<String>,
    pub container: Option<String>,
    #[serde(default)]
    pub previous: bool,
}

/// `GET …/logs/follow?pod=&container=`: the last lines of the container's current log, then
/// each line it writes, as `text/plain` streamed while the reader holds the connection (at most
/// 5 min and 1 MiB: then it ends, and the page offers to follow again).
async fn follow_logs(
    _: TokenHolder,
    app: App,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    use futures::StreamExt;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (Some(pod), Some(container)) = (query.pod, query.container) else {
        return Err(ApiError::bad_request(
            "name the pod and container: ?pod=<name>&container=<name>, from a resource's children",
        ));
    };
    let snapshot = app.handle.state.borrow().clone();
    let roots = visible(&app, roots(&snapshot), Look::Logs).await;
    let lines = app
        .handle
        .views
        .live
        .follow_logs(&roots, &pod, &container)
        .await
        .map_err(|e| view_error(&app.name, e))?;
    let Some(lines) = lines else {
        return Err(ApiError::not_found(format!(
            "{} runs no pod {pod:?} with a container {container:?}; pick one from a resource's children",
            app.name
        )));
    };
    let body = axum::body::Body::from_stream(
        lines.map(|line| Ok::<_, std::convert::Infallible>(format!("{line}\n"))),
    );
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "no-cache"),
            // Proxies must pass lines on as they come.
            (
                axum::http::HeaderName::from_static("x-accel-buffering"),
                "no",
            ),
        ],
        body,
    )
        .into_response())
}

async fn logs(
    _: TokenHolder,
    app: App,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (Some(pod), Some(container)) = (query.pod, query.container) else {
        return Err(ApiError::bad_request(
            "name the pod and container: ?pod=<name>&container=<name>[&previous=true], from a resource's children",
        ));
    };
    let snapshot = app.handle.state.borrow().clone();
    let roots = visible(&app, roots(&snapshot), Look::Logs).await;
    match app
        .handle
        .views
        .live
        .logs(&roots, &pod, &container, query.previous)
        .await
    {
        Ok(Some(text)) => Ok(Json(json!({
            "pod": pod,
            "container": container,
            "previous": query.previous,
            "text": text,
        }))),
        Ok(None) => Err(ApiError::not_found(format!(
            "{} runs no pod {pod:?} with a container {container:?}; pick one from a resource's children",
            app.name
        ))),
        Err(e) => Err(view_error(&app.name, e)),
    }
}
