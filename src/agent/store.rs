//! Persisted app state (history, last healthy revision, pin) in a ConfigMap next to the
//! ApplySet parent, so a restarted agent, `ordo status` and every replica read the same.

use serde_json::{Value, json};

use super::state::Persisted;
use crate::cluster::{ApplyOptions, Cluster, ClusterError};
use crate::manifest::keys::{APP_LABEL, MANAGED_BY_LABEL};

const KEY: &str = "state.json";

fn name(app: &str) -> String {
    format!("ordo-{app}-state")
}

/// Reads the state; a missing ConfigMap (first run) is an empty state.
pub async fn load(
    cluster: &Cluster,
    app: &str,
    namespace: &str,
) -> Result<Persisted, ClusterError> {
    let resource = cluster.resource("v1", "ConfigMap").await?;
    let Some(cm) = cluster.get(&resource, Some(namespace), &name(app)).await? else {
        return Ok(Persisted::default());
    };
    Ok(cm
        .pointer(&format!("/data/{KEY}"))
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default())
}

/// Writes the state (one server-side apply).
pub async fn save(
    cluster: &Cluster,
    app: &str,
    namespace: &str,
    state: &Persisted,
) -> Result<(), ClusterError> {
    let resource = cluster.resource("v1", "ConfigMap").await?;
    let text = serde_json::to_string(state).unwrap_or_default();
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
    cluster.apply(&resource, &object, options).await.map(|_| ())
}
