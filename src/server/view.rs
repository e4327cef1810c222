//! The JSON documents the API, the SSE stream and the status page's script share, so a page
//! updated live shows exactly what a reload would.

use serde_json::{Value, json};

use crate::agent::{AppState, HistoryEntry, Persisted};

/// One app in full: the snapshot (camelCase, as `AppState` serializes) plus `tiers`.
pub fn app(state: &AppState) -> Value {
    let mut doc = serde_json::to_value(state).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut doc {
        map.insert("tiers".into(), json!(state.tiers()));
    }
    doc
}

/// One app for lists and tiles: everything but the resources, and only the last sync of the
/// history (as `lastSync`, without its per-object timings).
pub fn summary(state: &AppState) -> Value {
    let mut doc = serde_json::to_value(headline(state)).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut doc {
        // Shifted out, not swapped: the keys keep the full document's order.
        map.shift_remove("resources");
        map.shift_remove("history");
        map.insert("tiers".into(), json!(state.tiers()));
        let last = state.persisted.history.first().map(|e| {
            let mut entry = json!(HistoryEntry {
                revision: e.revision.clone(),
                message: e.message.clone(),
                author: e.author.clone(),
                trigger: e.trigger,
                started: e.started,
                finished: e.finished,
                result: e.result,
                error: e.error.clone(),
                objects: Vec::new(),
            });
            if let Value::Object(e) = &mut entry {
                e.shift_remove("objects");
            }
            entry
        });
        map.insert("lastSync".into(), last.unwrap_or(Value::Null));
    }
    doc
}

/// `state` without its resources and history: a list of a thousand apps would otherwise
/// serialize every app's twenty syncs and their per-object timings only to drop them.
fn headline(state: &AppState) -> AppState {
    AppState {
        name: state.name.clone(),
        repo: state.repo.clone(),
        reference: state.reference.clone(),
        path: state.path.clone(),
        namespace: state.namespace.clone(),
        source_kind: state.source_kind.clone(),
        signature: state.signature.clone(),
        phase: state.phase,
        revision: state.revision.clone(),
        head: state.head.clone(),
        sync_status: state.sync_status,
        health: state.health,
        current_step: state.current_step.clone(),
        last_error: state.last_error.clone(),
        drift_count: state.drift_count,
        prune_held: state.prune_held.clone(),
        prune_withheld: state.prune_withheld.clone(),
        store_error: state.store_error.clone(),
        task_down: state.task_down.clone(),
        reconciled_at: state.reconciled_at,
        resources: Vec::new(),
        persisted: Persisted {
            history: Vec::new(),
            last_healthy: state.persisted.last_healthy.clone(),
            pin: state.persisted.pin.clone(),
            failed_revision: state.persisted.failed_revision.clone(),
        },
        version: state.version,
    }
}
