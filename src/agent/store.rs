//! Persisted app state (history, last healthy revision, pin) in a ConfigMap next to the
//! ApplySet parent, so a restarted agent, `ordo status` and every replica read the same.
//! What is written is held to a byte budget, and what is read is checked (`persisted.rs`).

use serde_json::{Value, json};
use tracing::warn;

use super::persisted::{self, STATE_BUDGET};
use super::state::Persisted;
use crate::cluster::{ApplyOptions, Cluster, ClusterError};
use crate::manifest::keys::{APP_LABEL, MANAGED_BY_LABEL};

const KEY: &str = "state.json";

fn name(app: &str) -> String {
    format!("ordo-{app}-state")
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),

    #[error(
        "stored state of app {app} (ConfigMap {namespace}/{name}, key {KEY}) cannot be read: \
         {reason}; ordo keeps the state it has in memory and overwrites the stored one at the \
         next sync: fix or delete the ConfigMap now if its pin or history matter"
    )]
    Unreadable {
        app: String,
        namespace: String,
        name: String,
        reason: String,
    },

    #[error(
        "state of app {app} takes {size} bytes even with its history cut to the pinned entry, \
         over the budget of {STATE_BUDGET} bytes: it was not stored"
    )]
    TooLarge { app: String, size: usize },
}

impl StoreError {
    /// A stored state that will read the same next time: retrying does not help.
    pub fn is_unreadable(&self) -> bool {
        matches!(self, StoreError::Unreadable { .. })
    }
}

/// Reads the state; a missing ConfigMap (first run) is an empty state, unparseable state an
/// error, and a pin that does not check out is dropped with a warning.
pub async fn load(cluster: &Cluster, app: &str, namespace: &str) -> Result<Persisted, StoreError> {
    let resource = cluster.resource("v1", "ConfigMap").await?;
    let Some(cm) = cluster.get(&resource, Some(namespace), &name(app)).await? else {
        return Ok(Persisted::default());
    };
    let Some(text) = cm.pointer(&format!("/data/{KEY}")).and_then(Value::as_str) else {
        return Ok(Persisted::default());
    };
    let (state, warnings) = persisted::decode(text).map_err(|e| StoreError::Unreadable {
        app: app.to_owned(),
        namespace: namespace.to_owned(),
        name: name(app),
        reason: e.0,
    })?;
    for warning in warnings {
        warn!(app, "{warning}");
    }
    Ok(state)
}

/// Writes the state (one server-side apply), trimmed to the byte budget.
pub async fn save(
    cluster: &Cluster,
    app: &str,
    namespace: &str,
    state: &Persisted,
) -> Result<(), StoreError> {
    let (text, trimmed) =
        persisted::encode(state, STATE_BUDGET).map_err(|size| StoreError::TooLarge {
            app: app.to_owned(),
            size,
        })?;
    if trimmed != persisted::Trimmed::default() {
        warn!(
            app,
            timings_dropped = trimmed.timings,
            entries_dropped = trimmed.entries,
            "stored history trimmed to {STATE_BUDGET} bytes"
        );
    }
    let resource = cluster.resource("v1", "ConfigMap").await?;
    let object = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name(app),
            "namespace": namespace,
            "labels": { MANAGED_BY_LABEL: "ordo", APP_LABEL: app },
        },
        "data": { KEY: text },
    });
    let options = ApplyOptions {
        dry_run: false,
        force: true,
    };
    Ok(cluster
        .apply(&resource, &object, options)
        .await
        .map(|_| ())?)
}
