//! `GET /api/v1/events`: Server-Sent Events with each app's snapshot (`event: app`, the same
//! JSON as `/api/v1/apps/{name}`), once on connect and then whenever it changes.
//!
//! Each client reads the apps' watch channels itself. A watch channel keeps only the latest
//! value and its sender never waits for receivers, so a client that reads slowly (or never)
//! costs the agent nothing and simply skips the states it was too slow to see.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderName, HeaderValue};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{MethodRouter, get};
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use serde::Deserialize;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

use super::ServerState;
use super::api::lookup;
use super::error::ApiError;
use super::view;
use crate::agent::AppState;

/// At most 4 events per second per app and client: a sync publishes a snapshot per object
/// step, and a page redrawing faster than this shows nothing more.
const MIN_INTERVAL: Duration = Duration::from_millis(250);
/// Proxies and load balancers close connections idle for 30-60 s; a comment every 15 s keeps
/// the stream open and lets the client notice a dead server.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn routes() -> Vec<(&'static str, MethodRouter<ServerState>)> {
    vec![("/api/v1/events", get(events))]
}

/// Turns true when the server shuts down: open streams end then, or a graceful shutdown would
/// wait for them forever.
#[derive(Clone)]
pub struct Closing(pub watch::Receiver<bool>);

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    pub app: Option<String>,
    /// With `app`: also `event: tree`, the app's live children (the tree view), while the
    /// stream is open.
    #[serde(default)]
    pub tree: bool,
}

/// Live trees change with every pod status; a page redraws them at most twice a second.
const TREE_INTERVAL: Duration = Duration::from_millis(500);

async fn events(
    State(state): State<ServerState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
    closing: Option<Extension<Closing>>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let receivers: Vec<watch::Receiver<Arc<AppState>>> = match &query.app {
        Some(name) => vec![lookup(&state, name)?.state.clone()],
        None => state.apps.values().map(|h| h.state.clone()).collect(),
    };
    let mut stream = app_events(receivers);
    if let (Some(name), true) = (&query.app, query.tree) {
        let handle = lookup(&state, name)?.clone();
        stream = stream::select(stream, tree_events(name.clone(), handle).await?).boxed();
    }
    let stream = stream
        .take_until(closed(closing.map(|Extension(c)| c)))
        .map(Ok::<_, Infallible>);
    // nginx buffers responses unless told not to, which would hold events back.
    let no_buffering = [(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    )];
    Ok((
        no_buffering,
        Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)),
    ))
}

/// The current snapshot of every receiver (in the given order), then each change, at most one
/// per [`MIN_INTERVAL`] per app: the watch channel holds the latest value only, so waiting
/// coalesces the states in between.
pub fn app_events(receivers: Vec<watch::Receiver<Arc<AppState>>>) -> BoxStream<'static, Event> {
    let mut initial = Vec::with_capacity(receivers.len());
    let mut changes = Vec::with_capacity(receivers.len());
    for mut rx in receivers {
        // Marks the current value seen, so the change stream starts after it and no change
        // between the two can be lost.
        initial.push(rx.borrow_and_update().clone());
        let updates =
            tokio_stream::StreamExt::throttle(WatchStream::from_changes(rx), MIN_INTERVAL);
        changes.push(Box::pin(updates));
    }
    stream::iter(initial)
        .chain(stream::select_all(changes))
        .map(|app| app_event(&app))
        .boxed()
}

fn app_event(app: &AppState) -> Event {
    Event::default()
        .event("app")
        .json_data(view::app(app))
        // A JSON value always serializes; should that change, the client still hears of it.
        .unwrap_or_else(|e| Event::default().comment(format!("cannot encode {}: {e}", app.name)))
}

/// `event: tree` with `{"app", "trees": [{"id", "children", "childrenOmitted"}]}`, first at
/// once and then whenever it changes; the watches behind it run while the stream is open.
async fn tree_events(
    name: String,
    handle: crate::agent::AppHandle,
) -> Result<BoxStream<'static, Event>, ApiError> {
    let state = handle.state.clone();
    let roots = move || super::live::roots(&state.borrow());
    let trees = handle
        .views
        .live
        .follow(roots, TREE_INTERVAL)
        .await
        .map_err(|e| super::api::view_error(&name, e))?;
    let mut last = String::new();
    Ok(trees
        .filter_map(move |trees| {
            let trees: Vec<serde_json::Value> = trees
                .into_iter()
                .map(|(id, live)| {
                    serde_json::json!({"id": id, "children": live.children, "childrenOmitted": live.more})
                })
                .collect();
            let doc = serde_json::json!({"app": name, "trees": trees});
            let text = doc.to_string();
            let changed = text != last;
            last = text;
            futures::future::ready(changed.then(|| Event::default().event("tree").data(&last)))
        })
        .boxed())
}

async fn closed(closing: Option<Closing>) {
    match closing {
        // An error means the sender is gone: the server is going away too.
        Some(Closing(mut rx)) => {
            let _ = rx.wait_for(|closing| *closing).await;
        }
        None => std::future::pending().await,
    }
}
