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
use crate::agent::{AppState, Command, HistoryEntry, SyncResult, Trigger};
use crate::diff::SyncStatus;
use crate::health::HealthStatus;
use crate::plan::Tier;

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
                leader_trust: Default::default(),
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
            result: SyncResult::Succeeded,
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

// ---------------------------------------------------------------------------- reading

#[tokio::test]
async fn apps_are_listed_in_name_order_as_summaries() {
    let f = Fixture::new(None, None).await;
    let (status, body) = f.get("/api/v1/apps").await;
    assert_eq!(status, StatusCode::OK);
    let apps = body["apps"].as_array().expect("apps array");
    let names: Vec<&str> = apps.iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(names, ["billing", "docs", "shop"]);
    let shop = &apps[2];
    assert!(
        shop.get("resources").is_none() && shop.get("history").is_none(),
        "{shop}"
    );
    assert_eq!(shop["lastSync"]["revision"], REV_A);
    assert!(shop["lastSync"].get("objects").is_none());
    assert_eq!(shop["tiers"].as_array().map(Vec::len), Some(5));
    assert_eq!(apps[0]["lastSync"], Value::Null);
    summary_is_the_full_document_less_resources_and_history(&f).await;

    // Every field that is left out when empty, present.
    f.update("shop", |s| {
        s.prune_held = Some(crate::agent::PruneHeld {
            revision: REV_B.to_owned(),
            objects: vec!["ConfigMap/shop/a".into()],
        });
        s.prune_withheld = vec![crate::agent::state::Withheld {
            id: "ConfigMap/shop/b".into(),
            reason: "owned by a controller".into(),
        }];
        s.store_error = Some("forbidden".into());
        s.task_down = Some("the app's task panicked".into());
        s.persisted.last_healthy = Some(REV_B.into());
        s.persisted.failed_revision = Some(REV_A.into());
        s.persisted.history[0].error = Some("Deployment/shop/api: Degraded".into());
    });
    summary_is_the_full_document_less_resources_and_history(&f).await;
}

/// The shop's summary is its full document, key for key and in its order, without resources
/// and history but with `lastSync`: the newest history entry without its per-object timings.
async fn summary_is_the_full_document_less_resources_and_history(f: &Fixture) {
    let (_, list) = f.get("/api/v1/apps").await;
    let (_, full) = f.get("/api/v1/apps/shop").await;
    let mut want = full.as_object().expect("an object").clone();
    want.shift_remove("resources");
    let mut last = want.shift_remove("history").expect("history")[0].clone();
    last.as_object_mut()
        .expect("an entry")
        .shift_remove("objects");
    want.insert("lastSync".into(), last);
    let got = list["apps"][2].as_object().expect("an object");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    assert_eq!(got, &want);
}

#[tokio::test]
async fn one_app_is_the_full_snapshot_and_an_unknown_one_is_404() {
    let f = Fixture::new(None, None).await;
    let (status, body) = f.get("/api/v1/apps/shop").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "shop");
    assert_eq!(body["history"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        body["resources"][1]["dependsOn"][0]["id"],
        "ConfigMap/shop/settings"
    );
    assert_eq!(body["tiers"][0]["tier"], "config");

    for uri in [
        "/api/v1/apps/nope",
        "/api/v1/apps/nope/diff",
        "/api/v1/apps/nope/resource?id=x",
        "/api/v1/events?app=nope",
    ] {
        let (status, body) = f.get(uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_error(&body, "not_found");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("billing, docs, shop"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_diff_before_the_first_plan_is_empty() {
    let f = Fixture::new(None, None).await;
    for uri in [
        "/api/v1/apps/shop/diff",
        "/api/v1/apps/shop/diff?object=Namespace/shop",
    ] {
        let (status, body) = f.get(uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(body, json!({"revision": null, "objects": []}));
    }
}

#[tokio::test]
async fn a_resource_needs_a_known_id_and_a_reachable_cluster() {
    let f = Fixture::new(None, None).await;
    let (status, body) = f.get("/api/v1/apps/shop/resource").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "bad_request");

    let (status, body) = f
        .get("/api/v1/apps/shop/resource?id=Deployment/shop/nope")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("Deployment/shop/nope")
    );

    // Known object, API server down: retry later, said in JSON.
    let response = f
        .send(get("/api/v1/apps/shop/resource?id=ConfigMap/shop/settings"))
        .await;
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(&body, "unavailable");
}

// ---------------------------------------------------------------------------- events

/// Reads SSE frames until one `event: app` arrives; returns its data.
async fn next_app_event(stream: &mut axum::body::BodyDataStream, buffer: &mut String) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if frame.lines().any(|l| l == "event: app") {
                let data: String = frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                return serde_json::from_str(&data)
                    .unwrap_or_else(|_| panic!("bad data {frame:?}"));
            }
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(Ok(chunk))) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(other) => panic!("the event stream ended: {other:?}"),
            Err(_) => panic!("no event within {WAIT:?}; have {buffer:?}"),
        }
    }
}

async fn open_events(f: &Fixture, uri: &str) -> axum::body::BodyDataStream {
    let response = f.send(get(uri)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    response.into_body().into_data_stream()
}

#[tokio::test]
async fn events_start_with_every_app_then_follow_changes() {
    let f = Fixture::new(None, None).await;
    let mut stream = open_events(&f, "/api/v1/events").await;
    let mut buffer = String::new();
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(next_app_event(&mut stream, &mut buffer).await);
    }
    let names: Vec<&str> = first.iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(names, ["billing", "docs", "shop"]);
    assert_eq!(
        first[2]["tiers"].as_array().map(Vec::len),
        Some(5),
        "same JSON as the app endpoint"
    );

    f.update("docs", |s| s.current_step = Some("applying".into()));
    let change = next_app_event(&mut stream, &mut buffer).await;
    assert_eq!(change["name"], "docs");
    assert_eq!(change["currentStep"], "applying");

    let mut only_shop = open_events(&f, "/api/v1/events?app=shop").await;
    let mut buffer = String::new();
    assert_eq!(
        next_app_event(&mut only_shop, &mut buffer).await["name"],
        "shop"
    );
    f.update("billing", |s| s.drift_count = 1);
    f.update("shop", |s| s.drift_count = 7);
    let change = next_app_event(&mut only_shop, &mut buffer).await;
    assert_eq!(
        (change["name"].as_str(), change["driftCount"].as_u64()),
        (Some("shop"), Some(7))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_blocks_neither_the_agent_nor_other_clients() {
    let f = Fixture::new(None, None).await;
    // Connected, and never read while the state changes.
    let mut idle = open_events(&f, "/api/v1/events?app=shop").await;
    let mut reader = open_events(&f, "/api/v1/events?app=shop").await;
    let reading = tokio::spawn(async move {
        let mut buffer = String::new();
        let mut seen = Vec::new();
        loop {
            let event = next_app_event(&mut reader, &mut buffer).await;
            let drift = event["driftCount"].as_u64().unwrap_or(0);
            seen.push(drift);
            if drift == 999 {
                return seen;
            }
        }
    });
    let started = Instant::now();
    for i in 1..=999 {
        f.update("shop", |s| s.drift_count = i);
        tokio::task::yield_now().await;
    }
    let publishing = started.elapsed();
    assert!(
        publishing < Duration::from_secs(2),
        "publishing 999 states took {publishing:?}"
    );
    let seen = tokio::time::timeout(WAIT, reading)
        .await
        .expect("the reading client got the last state")
        .expect("reader task");
    // Coalesced: at most 4 per second after the first, never one per change.
    let allowed = 2 + (started.elapsed().as_secs_f64() * 4.0).ceil() as usize;
    assert!(
        seen.len() <= allowed,
        "{} events for 999 changes: {seen:?}",
        seen.len()
    );

    // The idle client has no backlog: the state it connected with, then only the latest.
    let mut buffer = String::new();
    assert_eq!(
        next_app_event(&mut idle, &mut buffer).await["driftCount"],
        0
    );
    assert_eq!(
        next_app_event(&mut idle, &mut buffer).await["driftCount"],
        999
    );
}

// ---------------------------------------------------------------------------- commands

#[tokio::test]
async fn commands_need_a_configured_token() {
    let mut f = Fixture::new(None, None).await;
    for action in ["sync", "rollback", "unpin"] {
        let uri = format!("/api/v1/apps/shop/{action}");
        let (status, body) = json_of(f.send(post(&uri, Some(TOKEN), "{}")).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{action}");
        assert_eq!(
            body,
            json!({"error": "forbidden", "detail": "mutating calls are disabled: set apiTokenFile in the config"})
        );
    }
    f.nothing_received();
}

#[tokio::test]
async fn commands_without_the_right_token_are_refused_and_do_nothing() {
    let mut f = Fixture::new(Some(TOKEN), None).await;
    let wrong = [None, Some("wrong"), Some("t0ken-for-test"), Some("")];
    for token in wrong {
        for action in ["sync", "rollback", "unpin"] {
            let uri = format!("/api/v1/apps/shop/{action}");
            let body = format!("{{\"revision\": \"{REV_B}\"}}");
            let response = f.send(post(&uri, token, &body)).await;
            assert_eq!(
                response
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer realm=\"ordo\"")
            );
            let (status, body) = json_of(response).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{action} with {token:?}");
            assert_error(&body, "unauthorized");
        }
    }
    // Another scheme is not a bearer token; an unknown app is not revealed before auth.
    let basic = request(
        Method::POST,
        "/api/v1/apps/nope/sync",
        &[("authorization", "Basic dDB rZW4=")],
        Body::empty(),
    );
    assert_eq!(f.send(basic).await.status(), StatusCode::UNAUTHORIZED);
    f.nothing_received();
}

#[tokio::test]
async fn commands_with_the_token_are_queued_for_the_app() {
    let mut f = Fixture::new(Some(TOKEN), None).await;
    let (status, body) = json_of(
        f.send(post("/api/v1/apps/shop/sync", Some(TOKEN), ""))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        body,
        json!({"app": "shop", "action": "sync", "accepted": true})
    );
    assert_eq!(f.received("shop"), [Command::Sync]);

    let lower_case_scheme = request(
        Method::POST,
        "/api/v1/apps/shop/unpin",
        &[("authorization", &format!("bearer {TOKEN}"))],
        Body::empty(),
    );
    assert_eq!(
        f.send(lower_case_scheme).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(f.received("shop"), [Command::Unpin]);

    // A short SHA, pasted in upper case.
    let short = REV_B[..7].to_uppercase();
    let (status, body) = json_of(
        f.send(post(
            "/api/v1/apps/shop/rollback",
            Some(TOKEN),
            &format!("{{\"revision\": \"{short}\"}}"),
        ))
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["action"], "rollback");
    assert_eq!(f.received("shop"), [Command::Rollback(REV_B.to_owned())]);
    f.nothing_received();
}

#[tokio::test]
async fn a_prune_is_confirmed_only_while_one_is_held_and_for_its_revision() {
    let mut f = Fixture::new(Some(TOKEN), None).await;
    let confirm = |body: &str| post("/api/v1/apps/shop/confirm-prune", Some(TOKEN), body);
    let (status, body) = json_of(f.send(confirm("")).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("no prune waiting")
    );

    f.update("shop", |s| {
        s.prune_held = Some(crate::agent::PruneHeld {
            revision: REV_B.to_owned(),
            objects: vec!["ConfigMap/shop/a".into()],
        })
    });
    let other = format!("{{\"revision\": \"{}\"}}", &REV_A[..7]);
    assert_eq!(f.send(confirm(&other)).await.status(), StatusCode::CONFLICT);
    f.nothing_received();
    let seen = format!("{{\"revision\": \"{}\"}}", &REV_B[..7]);
    assert_eq!(f.send(confirm(&seen)).await.status(), StatusCode::ACCEPTED);
    assert_eq!(
        f.received("shop"),
        [Command::ConfirmPrune(REV_B.to_owned())]
    );
}

#[tokio::test]
async fn a_rollback_must_name_a_revision_of_the_history() {
    let mut f = Fixture::new(Some(TOKEN), None).await;
    let cases = [
        ("{\"revision\": \"ccccccc\"}", "ccccccc"),
        ("{\"revision\": \"aaaaaa\"}", "aaaaaa"), // 6 characters: too short
        ("{}", "revision"),
        ("{\"revision\": 7}", "revision"),
    ];
    for (body, named) in cases {
        let (status, reply) = json_of(
            f.send(post("/api/v1/apps/shop/rollback", Some(TOKEN), body))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_error(&reply, "bad_request");
        let detail = reply["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(named) && detail.contains("history"),
            "{detail}"
        );
    }
    f.nothing_received();
}

#[tokio::test]
async fn malformed_bodies_are_400_and_oversized_ones_413() {
    let mut f = Fixture::new(Some(TOKEN), None).await;
    for body in ["{", "{\"revision\": }", "[1, 2]", "\"x\""] {
        for action in ["sync", "rollback", "unpin"] {
            let uri = format!("/api/v1/apps/shop/{action}");
            let (status, reply) = json_of(f.send(post(&uri, Some(TOKEN), body)).await).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{action} {body}");
            assert!(
                ["invalid_json", "bad_request"]
                    .contains(&reply["error"].as_str().unwrap_or_default())
            );
        }
    }
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024));
    let (status, reply) = json_of(
        f.send(post("/api/v1/apps/shop/sync", Some(TOKEN), &huge))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&reply, "payload_too_large");
    let (status, _) = json_of(
        f.send(post("/api/v1/apps/nope/sync", Some(TOKEN), ""))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    f.nothing_received();
}

#[tokio::test]
async fn a_full_command_queue_is_503_with_retry_after() {
    let mut f = Fixture::with_queue(Some(TOKEN), None, 1).await;
    assert_eq!(
        f.send(post("/api/v1/apps/shop/sync", Some(TOKEN), ""))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let response = f
        .send(post("/api/v1/apps/shop/sync", Some(TOKEN), ""))
        .await;
    assert_eq!(
        response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(&body, "unavailable");
    assert_eq!(f.received("shop"), [Command::Sync]);
}

// ---------------------------------------------------------------------------- webhooks

const GITHUB_PUSH: &str = r#"{"ref": "refs/heads/main", "repository": {"clone_url": "https://github.com/acme/shop.git", "ssh_url": "git@github.com:acme/shop.git", "html_url": "https://github.com/acme/shop", "default_branch": "main"}}"#;

fn webhook(headers: &[(&str, &str)], body: &str) -> Request<Body> {
    request(Method::POST, "/api/v1/webhook", headers, body.to_owned())
}

fn github(body: &str, signature: &str) -> Request<Body> {
    let sig = format!("sha256={signature}");
    webhook(
        &[("x-github-event", "push"), ("x-hub-signature-256", &sig)],
        body,
    )
}

async fn webhook_reply(f: &Fixture, request: Request<Body>) -> (StatusCode, Value) {
    json_of(f.send(request).await).await
}

#[tokio::test]
async fn webhooks_without_a_configured_secret_are_403() {
    let mut f = Fixture::new(None, None).await;
    let (status, body) = webhook_reply(
        &f,
        github(GITHUB_PUSH, &sign(GITHUB_PUSH.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "forbidden");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("webhookSecretFile")
    );
    f.nothing_received();
}

#[tokio::test]
async fn unsigned_or_wrongly_signed_webhooks_are_401_and_trigger_nothing() {
    let mut f = Fixture::new(None, Some(SECRET)).await;
    let good = sign(GITHUB_PUSH.as_bytes(), SECRET);
    let tampered = GITHUB_PUSH.replace("main", "mainx");
    let gitea_sig = sign(GITHUB_PUSH.as_bytes(), "other-secret");
    let requests = [
        webhook(&[("x-github-event", "push")], GITHUB_PUSH),
        webhook(&[], GITHUB_PUSH),
        github(GITHUB_PUSH, &sign(GITHUB_PUSH.as_bytes(), "other-secret")),
        github(&tampered, &good),
        github(GITHUB_PUSH, "not-hex"),
        webhook(
            &[("x-github-event", "push"), ("x-hub-signature-256", &good)],
            GITHUB_PUSH,
        ), // no sha256= prefix
        webhook(
            &[
                ("x-gitlab-event", "Push Hook"),
                ("x-gitlab-token", "webhook-secreT"),
            ],
            GITHUB_PUSH,
        ),
        webhook(
            &[("x-gitea-event", "push"), ("x-gitea-signature", &gitea_sig)],
            GITHUB_PUSH,
        ),
        webhook(
            &[("x-ordo-signature", &format!("sha256={gitea_sig}"))],
            GITHUB_PUSH,
        ),
    ];
    for (i, request) in requests.into_iter().enumerate() {
        let response = f.send(request).await;
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "case {i}: {body}");
        assert_error(&body, "unauthorized");
    }
    f.nothing_received();
}

#[tokio::test]
async fn oversized_webhooks_are_413() {
    let mut f = Fixture::new(None, Some(SECRET)).await;
    let body = format!("{{\"pad\": \"{}\"}}", "x".repeat(webhook::BODY_LIMIT));
    let (status, reply) = webhook_reply(&f, github(&body, &sign(body.as_bytes(), SECRET))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&reply, "payload_too_large");
    f.nothing_received();
}

#[tokio::test]
async fn signed_pushes_trigger_exactly_the_apps_following_that_repository_and_branch() {
    let mut f = Fixture::new(None, Some(SECRET)).await;

    let (status, body) = webhook_reply(
        &f,
        github(GITHUB_PUSH, &sign(GITHUB_PUSH.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"triggered": ["shop"]}))
    );
    assert_eq!(f.received("shop"), [Command::Webhook]);
    f.nothing_received();

    // GitLab: the token itself; billing follows the default branch.
    let gitlab = r#"{"object_kind": "push", "ref": "refs/heads/trunk", "project": {"git_http_url": "https://gitlab.example.com/acme/billing.git", "git_ssh_url": "git@gitlab.example.com:acme/billing.git", "default_branch": "trunk"}}"#;
    let (status, body) = webhook_reply(
        &f,
        webhook(
            &[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", SECRET)],
            gitlab,
        ),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"triggered": ["billing"]}))
    );
    assert_eq!(f.received("billing"), [Command::Webhook]);
    f.nothing_received();

    // Gitea and Forgejo: bare hex HMAC; the repository as a local path.
    let local = r#"{"ref": "refs/heads/release", "repository": {"clone_url": "file:///srv/git/docs.git", "default_branch": "main"}}"#;
    let sig = sign(local.as_bytes(), SECRET);
    for headers in [
        [
            ("x-gitea-event", "push"),
            ("x-gitea-signature", sig.as_str()),
        ],
        [
            ("x-forgejo-event", "push"),
            ("x-forgejo-signature", sig.as_str()),
        ],
    ] {
        let (status, body) = webhook_reply(&f, webhook(&headers, local)).await;
        assert_eq!(
            (status, body),
            (StatusCode::ACCEPTED, json!({"triggered": ["docs"]}))
        );
        assert_eq!(f.received("docs"), [Command::Webhook]);
        f.nothing_received();
    }

    // Generic: {"repo", "ref"} with a short branch name.
    let generic = r#"{"repo": "ssh://git@github.com/acme/shop", "ref": "main"}"#;
    let sig = format!("sha256={}", sign(generic.as_bytes(), SECRET));
    let (status, body) = webhook_reply(&f, webhook(&[("x-ordo-signature", &sig)], generic)).await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"triggered": ["shop"]}))
    );
    assert_eq!(f.received("shop"), [Command::Webhook]);
    f.nothing_received();

    let (_, metrics) = text_of(f.send(get("/metrics")).await).await;
    for line in [
        "ordo_webhook_requests_total{provider=\"github\",result=\"triggered\"} 1",
        "ordo_webhook_requests_total{provider=\"gitlab\",result=\"triggered\"} 1",
        "ordo_webhook_requests_total{provider=\"forgejo\",result=\"triggered\"} 1",
        "ordo_webhook_requests_total{provider=\"generic\",result=\"triggered\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn pushes_elsewhere_pings_and_other_events_trigger_nothing() {
    let mut f = Fixture::new(None, Some(SECRET)).await;
    let other_repo = GITHUB_PUSH.replace("acme/shop", "acme/shop-api");
    let other_branch = GITHUB_PUSH.replace("refs/heads/main", "refs/heads/feature");
    for body in [other_repo, other_branch] {
        let (status, reply) =
            webhook_reply(&f, github(&body, &sign(body.as_bytes(), SECRET))).await;
        assert_eq!(
            (status, reply),
            (StatusCode::ACCEPTED, json!({"triggered": []}))
        );
    }
    let ping = r#"{"zen": "Keep it logically awesome.", "hook_id": 1}"#;
    let sig = format!("sha256={}", sign(ping.as_bytes(), SECRET));
    for event in ["ping", "issues"] {
        let (status, reply) = webhook_reply(
            &f,
            webhook(
                &[("x-github-event", event), ("x-hub-signature-256", &sig)],
                ping,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{event}");
        assert_eq!(reply["triggered"], json!([]));
    }
    // Signed but not JSON: 400, nothing triggered.
    let junk = "ref=main";
    let (status, reply) = webhook_reply(&f, github(junk, &sign(junk.as_bytes(), SECRET))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&reply, "bad_request");
    f.nothing_received();

    let (_, metrics) = text_of(f.send(get("/metrics")).await).await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "ordo_webhook_requests_total{provider=\"github\",result=\"ignored\"} 4"),
        "{metrics}"
    );
}

// ---------------------------------------------------------------------------- the rest

#[tokio::test]
async fn unknown_api_paths_and_methods_are_json_errors() {
    let f = Fixture::new(None, None).await;
    let (status, body) = f.get("/api/v2/apps").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    let (status, body) = f.get("/api/v1/apps/shop/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");

    let response = f.send(get("/api/v1/apps/shop/sync")).await;
    assert_eq!(
        response
            .headers()
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&body, "method_not_allowed");
    let (status, body) = json_of(
        f.send(request(Method::DELETE, "/api/v1/apps", &[], Body::empty()))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&body, "method_not_allowed");

    // Outside /api/ nobody expects JSON.
    let (status, text) = text_of(f.send(get("/no/such/page")).await).await;
    assert_eq!((status, text.trim()), (StatusCode::NOT_FOUND, "not found"));
}

/// `{name}` filled with a real app, so a route is reached whatever it checks first.
fn concrete(path: &str) -> String {
    path.replace("{name}", "shop")
}

#[tokio::test]
async fn the_openapi_document_describes_exactly_the_routes_served() {
    let f = Fixture::new(None, None).await;
    let (status, doc) = f.get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let served: Vec<&str> = routes().into_iter().map(|(p, _)| p).collect();
    for path in &served {
        assert!(
            paths.contains_key(*path),
            "{path} is served but not in openapi.json"
        );
    }
    for path in paths.keys() {
        assert!(
            served.contains(&path.as_str()),
            "{path} is in openapi.json but not served"
        );
    }
    // Each documented method is routed, and every other method is 405: nothing undocumented.
    for (path, operations) in paths {
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ] {
            let documented = operations.get(method.as_str().to_lowercase()).is_some();
            let response = f
                .send(request(method.clone(), &concrete(path), &[], Body::empty()))
                .await;
            let status = response.status();
            assert_eq!(
                status == StatusCode::METHOD_NOT_ALLOWED,
                !documented,
                "{method} {path}: {status}"
            );
            if status == StatusCode::NOT_FOUND {
                let (_, body) = json_of(response).await;
                assert!(
                    !body["detail"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("no API endpoint"),
                    "{path}"
                );
            }
        }
    }
    // Every $ref resolves.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap_or_default();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref {name}"
        );
    }
}

#[tokio::test]
async fn metrics_are_openmetrics_with_the_derived_families() {
    let f = Fixture::new(None, None).await;
    let response = f.send(get("/metrics")).await;
    assert_eq!(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let (status, text) = text_of(response).await;
    assert_eq!(status, StatusCode::OK);
    for family in [
        "ordo_app_info",
        "ordo_app_health_status",
        "ordo_app_sync_status",
        "ordo_app_last_sync_timestamp_seconds",
        "ordo_resources",
        "ordo_build_info",
        "ordo_app_sync",
        "process_cpu_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} in\n{text}"
        );
    }
    assert!(
        text.contains("ordo_app_health_status{app=\"shop\",status=\"Healthy\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("ordo_app_health_status{app=\"docs\",status=\"Unknown\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("ordo_app_last_sync_timestamp_seconds{app=\"shop\"} 20.0"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test]
async fn healthz_is_ok_and_readyz_says_which_check_fails() {
    let f = Fixture::new(None, None).await;
    let (status, text) = text_of(f.send(get("/healthz")).await).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "ok"));

    let (status, body) = f.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "not_ready");
    assert_eq!(body["ready"], false);
    assert!(
        body["checks"]["apiServer"]
            .as_str()
            .unwrap_or_default()
            .contains("not reachable"),
        "{body}"
    );
    let apps = body["checks"]["apps"].as_str().unwrap_or_default();
    assert!(apps.contains("billing, docs, shop"), "{body}");

    for app in ["billing", "docs", "shop"] {
        f.update(app, |s| s.reconciled_at = Some(1.0));
    }
    let (status, body) = f.get("/readyz").await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the API server is still down"
    );
    assert_eq!(body["checks"]["apps"], "ok");

    f.update("docs", |s| {
        s.task_down = Some("the app's task panicked: boom; restarting in 2 s".into())
    });
    let (_, body) = f.get("/readyz").await;
    assert_eq!(
        body["checks"]["apps"],
        "app task down or state not saved: docs (the app's task panicked: boom; restarting in 2 s)"
    );
}

#[tokio::test]
async fn a_standby_replica_refuses_commands_and_pushes_it_would_drop() {
    let mut f = Fixture::new(Some(TOKEN), Some(SECRET)).await;
    for app in ["shop", "billing", "docs"] {
        f.update(app, |s| s.phase = crate::agent::Phase::Standby);
    }
    let (status, body) = webhook_reply(
        &f,
        github(GITHUB_PUSH, &sign(GITHUB_PUSH.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("standby"),
        "{body}"
    );
    let response = f
        .send(request(
            Method::POST,
            "/api/v1/apps/shop/sync",
            &[("authorization", &format!("Bearer {TOKEN}"))],
            Body::empty(),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    f.nothing_received();
}

/// Property test (issue #13): correctly signed webhook bodies, generated and mutated, for each
/// provider: every one gets an answer, 2xx or 4xx with a JSON body, never a 5xx or a panic.
#[test]
fn any_signed_webhook_body_gets_a_clean_answer() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, TestRunner};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(Fixture::with_queue(None, Some(SECRET), 100_000));
    let bodies = prop_oneof![
        ".{0,300}",
        (0..GITHUB_PUSH.len(), any::<u8>()).prop_map(|(at, byte)| {
            let mut bytes = GITHUB_PUSH.as_bytes().to_vec();
            bytes[at] ^= byte;
            String::from_utf8_lossy(&bytes).into_owned()
        }),
        (1..2000usize).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d))),
        (".{0,40}", ".{0,40}").prop_map(|(r, url)| {
            json!({"ref": r, "repository": {"clone_url": url, "html_url": url}}).to_string()
        }),
    ];
    let provider = 0..4u8;
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 500,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    runner
        .run(&(bodies, provider), |(body, provider)| {
            let signature = sign(body.as_bytes(), SECRET);
            let sha = format!("sha256={signature}");
            let headers: Vec<(&str, &str)> = match provider {
                0 => vec![("x-github-event", "push"), ("x-hub-signature-256", &sha)],
                1 => vec![("x-gitlab-event", "Push Hook"), ("x-gitlab-token", SECRET)],
                2 => vec![("x-gitea-event", "push"), ("x-gitea-signature", &signature)],
                _ => vec![("x-ordo-signature", &sha)],
            };
            let (status, reply) = rt.block_on(webhook_reply(&f, webhook(&headers, &body)));
            prop_assert!(
                status.is_success() || status.is_client_error(),
                "{status} for {body:?}: {reply}"
            );
            prop_assert!(reply.is_object(), "{reply}");
            Ok(())
        })
        .unwrap();
}
