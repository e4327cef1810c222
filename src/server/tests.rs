//! The router without a socket: every route, status code and error path, with app handles
//! built from plain channels and a cluster at an address where nothing listens.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode, header};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;

use super::*;
use crate::agent::state::{Dependency, ResourceState};
use crate::agent::{AppState, Command, Ended, HistoryEntry, Trigger};
use crate::diff::SyncStatus;
use crate::health::HealthStatus;
use crate::plan::Tier;

mod commands;
mod events;
mod forwarding;
mod login;
mod reading;
mod routes;
mod webhooks;

const TOKEN: &str = "t0ken-for-tests";
const SECRET: &str = "webhook-secret";
const REV_A: &str = "aaaaaaa1111111111111111111111111111111111";
const REV_B: &str = "bbbbbbb2222222222222222222222222222222222";
const WAIT: Duration = Duration::from_secs(5);

/// Apps `shop` (GitHub, main), `billing` (GitLab, the default branch) and `docs` (a local
/// repository, branch release), as (name, repo, ref, namespace); `shop` has a history and
/// resources.
const APPS: [(&str, &str, &str, &str); 3] = [
    ("shop", "https://github.com/acme/shop.git", "main", "shop"),
    (
        "billing",
        "git@gitlab.example.com:acme/billing.git",
        "",
        "billing",
    ),
    ("docs", "/srv/git/docs.git", "release", "docs"),
];

struct Fixture {
    state: ServerState,
    senders: BTreeMap<String, watch::Sender<Arc<AppState>>>,
    commands: BTreeMap<String, mpsc::Receiver<Command>>,
    _kubeconfig: tempfile::NamedTempFile,
}

impl Fixture {
    async fn new(token: Option<&str>, secret: Option<&str>) -> Fixture {
        Self::with_queue(token, secret, 4).await
    }

    async fn with_queue(token: Option<&str>, secret: Option<&str>, queue: usize) -> Fixture {
        let (views, kubeconfig) = unreachable_cluster().await;
        let mut apps = BTreeMap::new();
        let mut senders = BTreeMap::new();
        let mut commands = BTreeMap::new();
        for (name, repo, reference, namespace) in APPS {
            let mut initial = AppState::new(name, repo, reference, "", namespace);
            if name == "shop" {
                shop_state(&mut initial);
            }
            let (state_tx, state_rx) = watch::channel(Arc::new(initial));
            let (command_tx, command_rx) = mpsc::channel(queue);
            let (_, desired) = watch::channel(None);
            apps.insert(
                name.to_owned(),
                AppHandle {
                    state: state_rx,
                    commands: command_tx,
                    desired,
                    views: views.clone(),
                    owner: watch::channel(None).1,
                    looks: Default::default(),
                },
            );
            senders.insert(name.to_owned(), state_tx);
            commands.insert(name.to_owned(), command_rx);
        }
        // As the agent does when it starts.
        let metrics = Arc::new(Metrics::new());
        for (name, ..) in APPS {
            metrics.register_app(name);
        }
        Fixture {
            state: ServerState {
                apps: Arc::new(apps),
                views,
                metrics,
                api_token: token.map(Arc::from),
                read_needs_token: false,
                webhook_secret: secret.map(|s| Arc::from(s.as_bytes())),
                // Running alone: no other leader to forward to.
                leader_url: watch::channel(None).1,
                identity: None,
                forwarding: Default::default(),
                sessions: Default::default(),
                streams: Default::default(),
                notifications: Default::default(),
            },
            senders,
            commands,
            _kubeconfig: kubeconfig,
        }
    }

    async fn send(&self, request: Request<Body>) -> Response<Body> {
        router(self.state.clone())
            .oneshot(request)
            .await
            .unwrap_or_else(|e| match e {})
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        json_of(self.send(get(uri)).await).await
    }

    /// Commands queued for `app` so far.
    fn received(&mut self, app: &str) -> Vec<Command> {
        let rx = self.commands.get_mut(app).expect("known app");
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    fn nothing_received(&mut self) {
        for app in ["shop", "billing", "docs"] {
            assert_eq!(self.received(app), Vec::new(), "{app} got a command");
        }
    }

    fn update(&self, app: &str, change: impl FnOnce(&mut AppState)) {
        let sender = &self.senders[app];
        let mut next = (**sender.borrow()).clone();
        change(&mut next);
        sender.send_replace(Arc::new(next));
    }
}

fn shop_state(state: &mut AppState) {
    state.health = HealthStatus::Healthy;
    state.sync_status = SyncStatus::Synced;
    for (rev, finished) in [(REV_A, 20.0), (REV_B, 10.0)] {
        state.persisted.history.push(HistoryEntry {
            revision: rev.into(),
            message: format!("commit {}", &rev[..7]),
            author: "Test".into(),
            trigger: Trigger::Interval,
            started: finished - 5.0,
            finished,
            result: Ended::Succeeded,
            error: None,
            objects: Vec::new(),
        });
    }
    let resource = |kind: &str, name: &str, tier, depends_on: Vec<Dependency>| ResourceState {
        id: format!("{kind}/shop/{name}"),
        api_version: "v1".into(),
        kind: kind.into(),
        namespace: Some("shop".into()),
        name: name.into(),
        tier,
        tier_reason: "by kind".into(),
        source: "deploy/shop.yaml document 0".into(),
        sync: SyncStatus::Synced,
        health: Some(HealthStatus::Healthy),
        message: None,
        depends_on,
    };
    state.resources = vec![
        resource("ConfigMap", "settings", Tier::Config, Vec::new()),
        resource(
            "Service",
            "api",
            Tier::Backend,
            vec![Dependency {
                id: "ConfigMap/shop/settings".into(),
                reason: "reads it".into(),
            }],
        ),
    ];
}

/// The agent's views of a cluster whose API server address refuses connections: enough to
/// build them offline, and to see how handlers answer when it is down.
async fn unreachable_cluster() -> (crate::agent::SharedViews, tempfile::NamedTempFile) {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(
        file.path(),
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n",
    )
    .expect("kubeconfig written");
    let views = crate::agent::Views::connect(Some(file.path()))
        .await
        .expect("a client builds without a server");
    (Arc::new(views), file)
}

fn get(uri: &str) -> Request<Body> {
    request(Method::GET, uri, &[], Body::empty())
}

fn request(
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).expect("valid request")
}

fn post(uri: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    request(Method::POST, uri, &headers, body.to_owned())
}

async fn text_of(response: Response<Body>) -> (StatusCode, String) {
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn json_of(response: Response<Body>) -> (StatusCode, Value) {
    let (status, text) = text_of(response).await;
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, value)
}

/// An error body: `{"error", "detail"}` and nothing else.
fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| d.len() > 10),
        "{body}"
    );
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
}

fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
