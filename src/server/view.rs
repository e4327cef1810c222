//! The JSON documents the API, the SSE stream and the status page's script share, so a page
//! updated live shows exactly what a reload would.

use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use crate::agent::CommitInfo;
use crate::agent::state::{TierState, Withheld};
use crate::agent::{AppState, Ended, Phase, Pin, PruneHeld, Trigger};
use crate::diff::SyncStatus;
use crate::health::HealthStatus;
use crate::verify::SignatureState;

/// One app in full: the snapshot (camelCase, as `AppState` serializes) plus `tiers`.
pub fn app(state: &AppState) -> Value {
    let mut doc = serde_json::to_value(state).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut doc {
        map.insert("tiers".into(), json!(state.tiers()));
    }
    doc
}

/// One app for lists and tiles: everything but the resources, and only the last sync of the
/// history (as `lastSync`, without its per-object timings). It borrows the snapshot and is
/// serialized straight to the response: a list of a thousand apps builds no JSON tree and
/// copies none of their twenty-sync histories. Keys and their order are the full document's
/// (`AppState`, then `Persisted`, then `tiers`), which the server tests check key for key.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary<'a> {
    name: &'a str,
    repo: &'a str,
    reference: &'a str,
    path: &'a str,
    namespace: &'a str,
    source_kind: Option<&'a str>,
    signature: Option<&'a SignatureState>,
    phase: Phase,
    revision: Option<&'a CommitInfo>,
    head: Option<&'a str>,
    sync_status: SyncStatus,
    health: HealthStatus,
    current_step: Option<&'a str>,
    last_error: Option<&'a str>,
    drift_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    prune_held: Option<&'a PruneHeld>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    prune_withheld: &'a [Withheld],
    #[serde(skip_serializing_if = "Option::is_none")]
    store_error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    task_down: Option<&'a str>,
    reconciled_at: Option<f64>,
    last_healthy: Option<&'a str>,
    pin: Option<&'a Pin>,
    failed_revision: Option<&'a str>,
    tiers: Vec<TierState>,
    last_sync: Option<LastSync<'a>>,
}

/// A history entry without its per-object timings.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LastSync<'a> {
    revision: &'a str,
    message: &'a str,
    author: &'a str,
    trigger: Trigger,
    started: f64,
    finished: f64,
    result: Ended,
    error: Option<&'a str>,
}

pub fn summary(state: &AppState) -> Summary<'_> {
    let persisted = &state.persisted;
    Summary {
        name: &state.name,
        repo: &state.repo,
        reference: &state.reference,
        path: &state.path,
        namespace: &state.namespace,
        source_kind: state.source_kind.as_deref(),
        signature: state.signature.as_ref(),
        phase: state.phase,
        revision: state.revision.as_ref(),
        head: state.head.as_deref(),
        sync_status: state.sync_status,
        health: state.health,
        current_step: state.current_step.as_deref(),
        last_error: state.last_error.as_deref(),
        drift_count: state.drift_count,
        prune_held: state.prune_held.as_ref(),
        prune_withheld: &state.prune_withheld,
        store_error: state.store_error.as_deref(),
        task_down: state.task_down.as_deref(),
        reconciled_at: state.reconciled_at,
        last_healthy: persisted.last_healthy.as_deref(),
        pin: persisted.pin.as_ref(),
        failed_revision: persisted.failed_revision.as_deref(),
        tiers: state.tiers(),
        last_sync: persisted.history.first().map(|e| LastSync {
            revision: &e.revision,
            message: &e.message,
            author: &e.author,
            trigger: e.trigger,
            started: e.started,
            finished: e.finished,
            result: e.result,
            error: e.error.as_deref(),
        }),
    }
}

/// The apps of a list, each serialized as its [`Summary`] while the response is written.
pub struct Summaries(pub Vec<Arc<AppState>>);

impl Serialize for Summaries {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|state| summary(state)))
    }
}
