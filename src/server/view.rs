//! The JSON documents the API, the SSE stream and the status page's script share, so a page
//! updated live shows exactly what a reload would.

use serde_json::{Value, json};

use crate::agent::AppState;

/// One app in full: the snapshot (camelCase, as `AppState` serializes) plus `tiers`.
pub fn app(state: &AppState) -> Value {
    let mut doc = serde_json::to_value(state).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut doc {
        map.insert("tiers".into(), json!(state.tiers()));
    }
    doc
}

/// One app for lists and tiles: everything but the resources, and only the last sync of the
/// history (as `lastSync`).
pub fn summary(state: &AppState) -> Value {
    let mut doc = app(state);
    if let Value::Object(map) = &mut doc {
        map.remove("resources");
        let last = map
            .remove("history")
            .and_then(|h| h.as_array().and_then(|a| a.first().cloned()))
            .map(|mut entry| {
                if let Value::Object(e) = &mut entry {
                    e.remove("objects");
                }
                entry
            });
        map.insert("lastSync".into(), last.unwrap_or(Value::Null));
    }
    doc
}
