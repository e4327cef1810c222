//! The JSON API under `/api/v1`: apps, their diffs and resources (read from the published
//! snapshots and, for diffs and live objects, the API server), and the mutating calls that
//! queue a command for an app's reconcile task.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::routing::{MethodRouter, get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::mpsc::error::TrySendError;

use super::ServerState;
use super::error::ApiError;
use super::view;
use crate::agent::{AppHandle, Command, MIN_REVISION_PREFIX, RevisionLookup, ViewError};

/// Bodies of the mutating calls are a few bytes of JSON.
const COMMAND_BODY_LIMIT: usize = 64 * 1024;
/// How long a caller should wait before retrying a refused command: about one reconcile step.
const RETRY_AFTER_SECONDS: u32 = 5;

pub fn routes() -> Vec<(&'static str, MethodRouter<ServerState>)> {
    let limit = || DefaultBodyLimit::max(COMMAND_BODY_LIMIT);
    vec![
        ("/api/v1/apps", get(list)),
        ("/api/v1/apps/{name}", get(app)),
        ("/api/v1/apps/{name}/diff", get(diff)),
        ("/api/v1/apps/{name}/resource", get(resource)),
        ("/api/v1/apps/{name}/sync", post(sync).layer(limit())),
        (
            "/api/v1/apps/{name}/rollback",
            post(rollback).layer(limit()),
        ),
        ("/api/v1/apps/{name}/unpin", post(unpin).layer(limit())),
        (
            "/api/v1/apps/{name}/confirm-prune",
            post(confirm_prune).layer(limit()),
        ),
    ]
}

/// The app named in the path; 404 naming the apps there are when it is unknown.
pub struct App {
    pub name: String,
    pub handle: AppHandle,
}

impl FromRequestParts<ServerState> for App {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ServerState,
    ) -> Result<Self, Self::Rejection> {
        let Path(name) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| {
                ApiError::bad_request(format!("{e}; use the app's name from /api/v1/apps"))
            })?;
        let handle = lookup(state, &name)?.clone();
        Ok(App { name, handle })
    }
}

/// The handle of app `name`, or the 404 every endpoint answers for an unknown app.
pub fn lookup<'a>(state: &'a ServerState, name: &str) -> Result<&'a AppHandle, ApiError> {
    state.apps.get(name).ok_or_else(|| {
        let names: Vec<&str> = state.apps.keys().map(String::as_str).collect();
        ApiError::not_found(format!(
            "no app {name:?}; the apps are: {}",
            names.join(", ")
        ))
    })
}

/// A request carrying the configured bearer token. Checked before anything else is looked at,
/// so a caller without it learns nothing (not even which apps exist).
pub struct Authorized;

impl FromRequestParts<ServerState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ServerState,
    ) -> Result<Self, Self::Rejection> {
        // A standby checked the caller's token before signing what it forwarded.
        if parts
            .extensions
            .get::<super::forward::FromStandby>()
            .is_some()
        {
            return Ok(Authorized);
        }
        let Some(token) = &state.api_token else {
            return Err(ApiError::forbidden(
                "mutating calls are disabled: set apiTokenFile in the config",
            ));
        };
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer);
        match presented {
            None => Err(ApiError::unauthorized(
                "this call needs the API token: send the header Authorization: Bearer <token>",
            )),
            Some(p) if same_secret(p.as_bytes(), token.as_bytes()) => Ok(Authorized),
            Some(_) => Err(ApiError::unauthorized(
                "the bearer token is wrong: send the token from the agent's apiTokenFile",
            )),
        }
    }
}

/// Whether `headers` carry `Authorization: Bearer <token>`.
pub(super) fn bearer_matches(headers: &axum::http::HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .is_some_and(|p| same_secret(p.as_bytes(), token.as_bytes()))
}

/// The credentials of `Authorization: Bearer <credentials>` (the scheme is case-insensitive,
/// RFC 7235).
pub(super) fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim().split_once(' ')?;
    let credentials = credentials.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credentials.is_empty()).then_some(credentials)
}

/// Constant-time equality that leaks neither content nor length: both sides are hashed to the
/// same size first, and the digests compared with `subtle`.
pub fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    let a = Sha256::digest(presented);
    let b = Sha256::digest(expected);
    a.as_slice().ct_eq(b.as_slice()).into()
}

/// `GET /api/v1/apps`: `{"apps": [summary, …]}`.
#[derive(Serialize)]
struct AppList {
    apps: view::Summaries,
}

async fn list(State(state): State<ServerState>) -> Json<AppList> {
    // BTreeMap order is name order. The snapshots are shared, not copied, and no app's
    // publishing waits while the response is written.
    let apps = state.apps.values().map(|h| h.state.borrow().clone());
    Json(AppList {
        apps: view::Summaries(apps.collect()),
    })
}

async fn app(app: App) -> Json<Value> {
    Json(view::app(&app.handle.state.borrow()))
}

#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    pub object: Option<String>,
}

async fn diff(
    app: App,
    query: Result<Query<DiffQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    // Read before diffing: the revision the diff was computed for, or an older one if a new plan
    // lands meanwhile, never a newer one.
    let revision = app
        .handle
        .desired
        .borrow()
        .as_ref()
        .map(|d| d.revision.clone());
    match app.handle.diff(query.object.as_deref()).await {
        Ok(None) => Ok(Json(json!({"revision": null, "objects": []}))),
        Ok(Some(objects)) => Ok(Json(json!({"revision": revision, "objects": objects}))),
        Err(e) => Err(view_error(&app.name, e)),
    }
}

#[derive(Debug, Deserialize)]
pub struct ResourceQuery {
    pub id: Option<String>,
}

async fn resource(
    app: App,
    query: Result<Query<ResourceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let Some(id) = query.id.filter(|id| !id.is_empty()) else {
        return Err(ApiError::bad_request(
            "name the object with ?id=<Kind/namespace/name>, as listed in the app's resources",
        ));
    };
    let snapshot = app.handle.state.borrow().clone();
    let Some(found) = snapshot.resources.iter().find(|r| r.id == id) else {
        return Err(ApiError::not_found(format!(
            "app {} has no object {id:?}; pick one from the app's resources",
            app.name
        )));
    };
    let dependents: Vec<Value> = snapshot
        .resources
        .iter()
        .flat_map(|r| {
            r.depends_on
                .iter()
                .filter(|d| d.id == id)
                .map(|d| json!({"id": r.id, "reason": d.reason}))
        })
        .collect();
    let (live, diff) = tokio::join!(
        app.handle.live_yaml(
            &found.api_version,
            &found.kind,
            found.namespace.as_deref(),
            &found.name
        ),
        app.handle.diff(Some(&id)),
    );
    let live = live.map_err(|e| view_error(&app.name, e))?;
    let mut doc = match serde_json::to_value(found) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    doc.insert("dependents".into(), Value::Array(dependents));
    let root = super::live::roots(&snapshot)
        .into_iter()
        .find(|r| r.id == id);
    if let Some(root) = root {
        doc.extend(super::live::live_fields(&app, &root).await);
    }
    doc.insert("live".into(), live.map_or(Value::Null, Value::String));
    match diff {
        Ok(diffs) => {
            let one = diffs.as_ref().and_then(|d| d.first());
            doc.insert("diffStatus".into(), json!(one.map(|d| d.status)));
            doc.insert(
                "diff".into(),
                json!(one.map(|d| d.diff.clone()).unwrap_or_default()),
            );
        }
        // The live object is still worth showing when the dry run is refused.
        Err(e) => {
            doc.insert("diffStatus".into(), Value::Null);
            doc.insert("diff".into(), Value::Null);
            doc.insert("diffError".into(), json!(e.to_string()));
        }
    }
    Ok(Json(Value::Object(doc)))
}

pub(super) fn view_error(app: &str, e: ViewError) -> ApiError {
    match e {
        ViewError::Unavailable(_) => {
            ApiError::unavailable(format!("{app}: {e}"), RETRY_AFTER_SECONDS)
        }
        ViewError::Busy => {
            let mut busy = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!("{app}: {e}"),
            );
            busy.retry_after = Some(RETRY_AFTER_SECONDS);
            busy
        }
        // The dry run refused the desired state: that is the answer, not an outage.
        ViewError::Refused(_) => {
            ApiError::new(StatusCode::CONFLICT, "diff_refused", format!("{app}: {e}"))
        }
        ViewError::Failed(_) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "cluster_error",
            format!("{app}: {e}"),
        ),
    }
}

/// The JSON object of a command's body; an empty body is `{}`.
fn command_body(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(COMMAND_BODY_LIMIT)
        } else {
            ApiError::bad_request(format!("cannot read the request body: {}", e.body_text()))
        }
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "the request body must be a JSON object, e.g. {\"revision\": \"<sha>\"}",
        )),
        Err(e) => Err(ApiError::invalid_json(e)),
    }
}

/// Queues `command` without waiting: a full queue means the app is busy with earlier requests,
/// and the caller is told to come back rather than being held.
fn queue(app: &App, command: Command, action: &str) -> Result<(StatusCode, Json<Value>), ApiError> {
    if app.handle.state.borrow().phase == crate::agent::Phase::Standby {
        return Err(ApiError::unavailable(
            format!(
                "this replica is on standby: another replica holds the leader lease and acts on {}; retry, or send it to the leader",
                app.name
            ),
            RETRY_AFTER_SECONDS,
        ));
    }
    match app.handle.commands.try_send(command) {
        Ok(()) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"app": app.name, "action": action, "accepted": true})),
        )),
        Err(TrySendError::Full(_)) => Err(ApiError::unavailable(
            format!(
                "{} already has requests queued; retry after {RETRY_AFTER_SECONDS} s",
                app.name
            ),
            RETRY_AFTER_SECONDS,
        )),
        Err(TrySendError::Closed(_)) => Err(ApiError::unavailable(
            format!(
                "{} is not running (the agent is stopping); retry once it is back",
                app.name
            ),
            RETRY_AFTER_SECONDS,
        )),
    }
}

async fn sync(
    _: Authorized,
    app: App,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    command_body(body)?;
    queue(&app, Command::Sync, "sync")
}

async fn unpin(
    _: Authorized,
    app: App,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    command_body(body)?;
    queue(&app, Command::Unpin, "unpin")
}

/// Lets a held prune go ahead: `{}` for the one held now, or `{"revision": "<sha>"}` to make
/// sure it is the one the caller saw (409 when nothing, or another revision's prune, is held).
async fn confirm_prune(
    _: Authorized,
    app: App,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = command_body(body)?;
    let asked = body.get("revision").and_then(Value::as_str).unwrap_or("");
    let held = app.handle.state.borrow().prune_held.clone();
    let Some(revision) = crate::agent::confirmable(held.as_ref(), asked) else {
        let detail = match held {
            None => format!("{} has no prune waiting for confirmation", app.name),
            Some(h) => format!(
                "the prune waiting for confirmation is for revision {}, not {asked:?}; look at it again before confirming",
                h.revision
            ),
        };
        return Err(ApiError::new(StatusCode::CONFLICT, "Conflict", detail));
    };
    queue(&app, Command::ConfirmPrune(revision), "confirm-prune")
}

async fn rollback(
    _: Authorized,
    app: App,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = command_body(body)?;
    let Some(wanted) = body.get("revision").and_then(Value::as_str) else {
        return Err(ApiError::bad_request(
            "send {\"revision\": \"<sha>\"} naming a revision from the app's history",
        ));
    };
    let revision = history_revision(&app, wanted)?;
    queue(&app, Command::Rollback(revision), "rollback")
}

/// The full SHA of the history entry `wanted` names (all of it, or its first 7+ characters).
fn history_revision(app: &App, wanted: &str) -> Result<String, ApiError> {
    let state = app.handle.state.borrow().clone();
    let shown = wanted.trim().to_ascii_lowercase();
    match state.persisted.find_revision(wanted) {
        Ok(entry) => Ok(entry.revision.clone()),
        Err(RevisionLookup::NotFound) => Err(ApiError::bad_request(format!(
            "revision {shown:?} is not in the history of {}; pick a revision (at least {MIN_REVISION_PREFIX} characters) from its history",
            app.name
        ))),
        Err(RevisionLookup::Ambiguous(n)) => Err(ApiError::bad_request(format!(
            "revision {shown:?} matches {n} revisions in the history of {}; give more characters",
            app.name
        ))),
    }
}
