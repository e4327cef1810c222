//! `GET /api/v1/events`: Server-Sent Events with each app's snapshot (`event: app`, the same
//! JSON as `/api/v1/apps/{name}`), once on connect and then whenever it changes.
//!
//! Each client reads the apps' watch channels itself. A watch channel keeps only the latest
//! value and its sender never waits for receivers, so a client that reads slowly (or never)
//! costs the agent nothing and simply skips the states it was too slow to see.
//!
//! Streams are counted per client, per peer address and in all (`Streams`): each holds a
//! connection, a task's worth of memory and, with `tree`, watches on the cluster, so one host
//! opening hundreds of them must not starve everyone else. Beyond a cap the answer is `429`
//! with `Retry-After`; a stream gives its slot back when it ends, however it ends.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
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

/// Streams one client may hold: a browser opens at most 6 connections to a host over HTTP/1.1
/// (each open page holds one stream), so 16 leaves room for a few people behind one NAT.
pub const PER_CLIENT: usize = 16;
/// Streams one peer address may hold: an ingress or proxy carries many clients (told apart by
/// the last `X-Forwarded-For` hop), but even a client that makes that header up gets no more.
pub const PER_PEER: usize = 256;
/// Streams in all: each costs a connection (a file descriptor) and a little memory; 1,024 is far
/// beyond the people who look at one agent at once, and leaves descriptors for git, the
/// cluster and the probes.
pub const TOTAL: usize = 1024;
/// How long a refused client should wait: streams last as long as a page stays open.
const RETRY_AFTER_SECONDS: u32 = 30;

/// Who holds a stream: the peer address and, behind a proxy, the client it names.
type Client = (IpAddr, String);

/// The open event streams.
#[derive(Debug, Default)]
pub struct Streams {
    open: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
    per_client: HashMap<Client, usize>,
}

/// One open stream's place, given back when dropped (the stream ended or the client left).
pub struct Slot {
    streams: Arc<Streams>,
    client: Client,
}

impl Streams {
    /// A slot for `client`, unless a cap is reached.
    pub fn open(self: &Arc<Self>, client: Client) -> Result<Slot, &'static str> {
        let mut counts = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let peer = counts.per_peer.get(&client.0).copied().unwrap_or(0);
        let mine = counts.per_client.get(&client).copied().unwrap_or(0);
        if counts.total >= TOTAL {
            return Err("the agent serves as many event streams as it allows");
        }
        if peer >= PER_PEER || mine >= PER_CLIENT {
            return Err("this client has as many event streams open as it may");
        }
        counts.total += 1;
        *counts.per_peer.entry(client.0).or_default() += 1;
        *counts.per_client.entry(client.clone()).or_default() += 1;
        Ok(Slot {
            streams: self.clone(),
            client,
        })
    }

    /// Streams open now.
    pub fn total(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .streams
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        release(&mut counts.per_peer, &self.client.0);
        release(&mut counts.per_client, &self.client);
    }
}

fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// The client of a request: its peer address (none in tests without a socket) and the last
/// `X-Forwarded-For` hop, the one the nearest proxy added (bounded: it is the caller's text).
fn client_of(peer: Option<SocketAddr>, headers: &HeaderMap) -> Client {
    let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .map(|hop| hop.trim().chars().take(64).collect())
        .unwrap_or_default();
    (peer, forwarded)
}

async fn events(
    State(state): State<ServerState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, QueryRejection>,
    closing: Option<Extension<Closing>>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let receivers: Vec<watch::Receiver<Arc<AppState>>> = match &query.app {
        Some(name) => vec![lookup(&state, name)?.state.clone()],
        None => state.apps.values().map(|h| h.state.clone()).collect(),
    };
    let client = client_of(peer.map(|Extension(ConnectInfo(a))| a), &headers);
    let slot = state.streams.open(client).map_err(|why| {
        let mut busy = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!("{why}: close another page, or retry in {RETRY_AFTER_SECONDS} s"),
        );
        busy.retry_after = Some(RETRY_AFTER_SECONDS);
        busy
    })?;
    let mut stream = app_events(receivers);
    if let (Some(name), true) = (&query.app, query.tree) {
        let handle = lookup(&state, name)?.clone();
        stream = stream::select(stream, tree_events(name.clone(), handle).await?).boxed();
    }
    let stream = stream
        .take_until(closed(closing.map(|Extension(c)| c)))
        // The slot lives as long as the stream: axum drops it when the client goes away.
        .map(move |event| {
            let _held = &slot;
            Ok::<_, Infallible>(event)
        });
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
    // Only namespaces the app's own account may look at (asked once, when the stream opens).
    let mut allowed = std::collections::HashSet::new();
    let current = super::live::roots(&state.borrow());
    for root in current {
        let namespace = root.namespace.unwrap_or_default();
        if !allowed.contains(&namespace)
            && handle
                .may_look(&namespace, crate::agent::Look::Tree)
                .await
                .unwrap_or(false)
        {
            allowed.insert(namespace);
        }
    }
    let roots = move || {
        let mut roots = super::live::roots(&state.borrow());
        roots.retain(|r| allowed.contains(r.namespace.as_deref().unwrap_or_default()));
        roots
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn client(peer: u8, forwarded: &str) -> Client {
        (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, peer)),
            forwarded.to_owned(),
        )
    }

    #[test]
    fn one_address_gets_at_most_its_share_however_it_names_its_clients() {
        let streams = Arc::new(Streams::default());
        // 600 streams from one address, each claiming another client behind it.
        let held: Vec<Slot> = (0..600)
            .filter_map(|i| streams.open(client(1, &format!("198.51.100.{i}"))).ok())
            .collect();
        assert_eq!(held.len(), PER_PEER);
        assert!(
            streams.open(client(2, "")).is_ok(),
            "other addresses still get one"
        );
    }

    #[test]
    fn streams_are_capped_in_all_and_slots_come_back_when_dropped() {
        let streams = Arc::new(Streams::default());
        let mut held: Vec<Slot> = (0..TOTAL)
            .map(|i| {
                let peer = u8::try_from(i / PER_CLIENT).expect("few peers");
                streams.open(client(peer, "")).expect("under the caps")
            })
            .collect();
        assert_eq!(streams.total(), TOTAL);
        assert!(streams.open(client(200, "")).is_err());
        held.truncate(TOTAL - 1);
        assert!(streams.open(client(200, "")).is_ok());
        drop(held);
        assert_eq!(streams.total(), 0);
        assert!(streams.open.lock().expect("lock").per_peer.is_empty());
    }

    #[test]
    fn the_client_behind_a_proxy_is_the_last_forwarded_hop() {
        let peer = Some(SocketAddr::from(([10, 0, 0, 1], 1234)));
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 203.0.113.5"),
        );
        assert_eq!(client_of(peer, &headers), client(1, "203.0.113.5"));
        assert_eq!(client_of(peer, &HeaderMap::new()), client(1, ""));
    }
}
