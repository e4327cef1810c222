//! Persisted app state (history, last healthy revision, pin) in a ConfigMap in ordo's own
//! namespace, so a restarted agent, `ordo status` and every replica read the same, and an app's
//! tenant (who may edit ConfigMaps in the app's namespace) cannot steer what ordo applies.
//! State an older ordo kept in the app's namespace is read once, then written here.
//! What is written is held to a byte budget, and what is read is checked (`persisted.rs`).

use serde_json::{Value, json};
use tracing::warn;

use super::persisted::{self, STATE_BUDGET};
use super::state::Persisted;
use std::sync::Arc;

use crate::cluster::{Cluster, ClusterError, Group};
use crate::manifest::keys::{APP_LABEL, MANAGED_BY_LABEL};

const KEY: &str = "state.json";

fn name(app: &str) -> String {
    format!("ordo-{app}-state")
}

/// Where an app's state lives: ordo's own namespace, and where an older ordo kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateAt {
    pub namespace: String,
    /// The app's namespace, read when nothing is stored in `namespace` yet.
    pub legacy: Option<String>,
}

impl StateAt {
    /// In `own` (ordo's namespace) when known, else in the app's.
    pub fn new(own: Option<&str>, app_namespace: &str) -> Self {
        match own {
            Some(own) if own != app_namespace => StateAt {
                namespace: own.to_owned(),
                legacy: Some(app_namespace.to_owned()),
            },
            _ => StateAt {
                namespace: app_namespace.to_owned(),
                legacy: None,
            },
        }
    }
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

    #[error(
        "stored state of app {app} kept changing while it was written ({tries} tries); \
         try again"
    )]
    Contended { app: String, tries: usize },
}

impl StoreError {
    /// A stored state that will read the same next time: retrying does not help.
    pub fn is_unreadable(&self) -> bool {
        matches!(self, StoreError::Unreadable { .. })
    }
}

/// A state as read, with the ConfigMap's resourceVersion (None: nothing stored yet): a write
/// made from it succeeds only if nobody wrote in between.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stored {
    pub state: Persisted,
    pub version: Option<String>,
}

/// Reads the state; a missing ConfigMap (first run) is an empty state, unparseable state an
/// error, and a pin that does not check out is dropped with a warning.
pub async fn load(cluster: &Cluster, app: &str, at: &StateAt) -> Result<Persisted, StoreError> {
    Ok(load_versioned(cluster, app, at).await?.state)
}

/// [`load`], with the version a conditional write needs. State found only where an older ordo
/// kept it comes without a version: the first write creates it in ordo's namespace.
pub async fn load_versioned(
    cluster: &Cluster,
    app: &str,
    at: &StateAt,
) -> Result<Stored, StoreError> {
    let found = read(cluster, app, &at.namespace).await?;
    match (&found, &at.legacy) {
        (Stored { version: None, .. }, Some(legacy)) => {
            // Where an older ordo kept it: worth a look, not worth failing over (ordo may have
            // no right there any more, e.g. under namespaced RBAC).
            let state = match read(cluster, app, legacy).await {
                Ok(old) => old.state,
                Err(e) if e.is_unreadable() => return Err(e),
                Err(_) => Persisted::default(),
            };
            Ok(Stored {
                state,
                version: None,
            })
        }
        _ => Ok(found),
    }
}

/// Every app's stored state in `namespace` (ordo's, or where an older ordo kept it), kept by
/// one watch all apps share, so that reading an app's state costs no request. The watch may
/// lag a moment behind a write (another replica's, `ordo rollback`'s): what is written from it
/// goes through [`update`], which reads afresh. Keep the group to keep the watch.
pub async fn watched(cluster: &Cluster, namespace: &str) -> Result<Arc<Group>, StoreError> {
    let resource = cluster.resource("v1", "ConfigMap").await?;
    Ok(cluster.watch(
        &resource,
        Some(namespace),
        &format!("{MANAGED_BY_LABEL}=ordo"),
    ))
}

/// The app's state in a [`watched`] group of `namespace`, with its version (None: nothing
/// stored there); None while the watch has not listed.
pub fn read_watched(
    group: &Group,
    app: &str,
    namespace: &str,
) -> Option<Result<Stored, StoreError>> {
    Some(match group.get(&name(app))? {
        Some(cm) => decode(app, namespace, cm),
        None => Ok(Stored::default()),
    })
}

async fn read(cluster: &Cluster, app: &str, namespace: &str) -> Result<Stored, StoreError> {
    let resource = cluster.resource("v1", "ConfigMap").await?;
    let Some(cm) = cluster.get(&resource, Some(namespace), &name(app)).await? else {
        return Ok(Stored::default());
    };
    decode(app, namespace, cm)
}

/// The state a ConfigMap holds, and its resourceVersion.
fn decode(app: &str, namespace: &str, cm: Value) -> Result<Stored, StoreError> {
    let version = cm
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(text) = cm.pointer(&format!("/data/{KEY}")).and_then(Value::as_str) else {
        return Ok(Stored {
            state: Persisted::default(),
            version,
        });
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
    Ok(Stored { state, version })
}

/// How many times a write is tried again after someone else wrote in between.
const WRITE_TRIES: usize = 5;

/// Writes a change to the stored state without losing anyone else's (the CLI's `rollback` and
/// `unpin`, the agent's record of a sync): `change` turns what is stored into what to store
/// (None: nothing to write); what is stored is returned, with its version; it is applied to a fresh read
/// each time the conditional write finds the state moved. `first`: what a [`watched`] group
/// has, tried before reading (the write is conditional, so a stale copy costs one retry).
pub async fn update(
    cluster: &Cluster,
    app: &str,
    at: &StateAt,
    mut first: Option<Stored>,
    mut change: impl FnMut(&Persisted) -> Option<Persisted>,
) -> Result<Stored, StoreError> {
    for _ in 0..WRITE_TRIES {
        let stored = match first.take() {
            Some(stored) => stored,
            None => load_versioned(cluster, app, at).await?,
        };
        let Some(next) = change(&stored.state) else {
            return Ok(stored);
        };
        let written = save_if(
            cluster,
            app,
            &at.namespace,
            &next,
            stored.version.as_deref(),
        )
        .await?;
        if let Some(version) = written {
            return Ok(Stored {
                state: next,
                version: Some(version),
            });
        }
    }
    Err(StoreError::Contended {
        app: app.to_owned(),
        tries: WRITE_TRIES,
    })
}

/// Writes the state if the stored one is still at `version` (None: nothing stored yet),
/// trimmed to the byte budget. The new version, or None when someone wrote in between.
pub async fn save_if(
    cluster: &Cluster,
    app: &str,
    namespace: &str,
    state: &Persisted,
    version: Option<&str>,
) -> Result<Option<String>, StoreError> {
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
    let mut object = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name(app),
            "namespace": namespace,
            "labels": { MANAGED_BY_LABEL: "ordo", APP_LABEL: app },
        },
        "data": { KEY: text },
    });
    if let Some(version) = version {
        object["metadata"]["resourceVersion"] = json!(version);
    }
    Ok(cluster.write_if_unchanged(&resource, &object).await?)
}
