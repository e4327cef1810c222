//! Drift: watches on exactly the kinds and namespaces an app owns, filtered by its ApplySet
//! label, so memory and requests follow what ordo manages rather than the cluster's size.
//! An event whose object differs (after normalizing) from what was last seen is checked with
//! a dry run of the desired object; a real difference is drift, corrected at once with
//! `selfHeal` or reported otherwise.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;

use crate::cluster::{ApplyOptions, Cluster, Resource};
use crate::diff::{self, SyncStatus};

/// One desired object the watch guards.
#[derive(Clone)]
pub struct Guarded {
    pub id: String,
    pub resource: Resource,
    pub namespace: Option<String>,
    pub name: String,
    /// What ordo applies for it (ownership label and config hash included).
    pub desired: Value,
}

/// A drift seen, and whether it was corrected.
#[derive(Debug, Clone)]
pub struct Drift {
    pub id: String,
    pub status: SyncStatus,
    pub paths: Vec<String>,
    pub corrected: bool,
    pub error: Option<String>,
}

type Key = (String, Option<String>, String);

/// Runs until dropped. `on_drift` is called for each drifted object.
/// `baseline`: each object as the sync left it (by id); the first listing checks only objects
/// that differ from it, so drift between the end of the sync and the start of the watch is
/// caught without a dry run of everything.
pub async fn watch(
    cluster: Cluster,
    guarded: Vec<Guarded>,
    baseline: HashMap<String, Value>,
    selector: String,
    self_heal: bool,
    force: bool,
    on_drift: Arc<dyn Fn(Drift) + Send + Sync>,
) {
    // One watch per (kind, namespace) the app uses.
    let mut scopes: Vec<(Resource, Option<String>)> = Vec::new();
    for g in &guarded {
        let seen = scopes.iter().any(|(r, ns)| {
            r.api.plural == g.resource.api.plural
                && r.api.group == g.resource.api.group
                && *ns == g.namespace
        });
        if !seen {
            scopes.push((g.resource.clone(), g.namespace.clone()));
        }
    }
    // Moved, not cloned: at 5,000 objects a second copy of every desired object is tens of MiB.
    let by_key: HashMap<Key, Guarded> = guarded
        .into_iter()
        .map(|g| {
            (
                (
                    g.resource.api.kind.clone(),
                    g.namespace.clone(),
                    g.name.clone(),
                ),
                g,
            )
        })
        .collect();
    let streams = scopes.into_iter().map(|(resource, ns)| {
        let api = cluster.api(&resource, ns.as_deref());
        let config = watcher::Config::default().labels(&selector);
        watcher::watcher(api, config).default_backoff().boxed()
    });
    let mut events = stream::select_all(streams);
    let mut fingerprints: HashMap<Key, u64> = by_key
        .iter()
        .filter_map(|(key, g)| Some((key.clone(), fingerprint(baseline.get(&g.id)?))))
        .collect();
    drop(baseline);
    while let Some(event) = events.next().await {
        let Ok(event) = event else { continue };
        match event {
            Event::Init | Event::InitDone => {}
            Event::InitApply(object) | Event::Apply(object) => {
                let Ok(live) = serde_json::to_value(&object) else {
                    continue;
                };
                let Some((key, guarded)) = lookup(&by_key, &live) else {
                    continue;
                };
                let print = fingerprint(&live);
                if fingerprints.get(&key) == Some(&print) {
                    continue; // status-only or no-op change
                }
                fingerprints.insert(key.clone(), print);
                check(&cluster, guarded, Some(&live), self_heal, force, &on_drift).await;
            }
            Event::Delete(object) => {
                let Ok(live) = serde_json::to_value(&object) else {
                    continue;
                };
                let Some((key, guarded)) = lookup(&by_key, &live) else {
                    continue;
                };
                fingerprints.remove(&key);
                check(&cluster, guarded, None, self_heal, force, &on_drift).await;
            }
        }
    }
}

fn lookup<'a>(by_key: &'a HashMap<Key, Guarded>, live: &Value) -> Option<(Key, &'a Guarded)> {
    let kind = live.get("kind").and_then(Value::as_str)?.to_owned();
    let (ns, name) = crate::cluster::identity(live);
    let (ns, name) = (ns.map(str::to_owned), name.to_owned());
    let key = (kind, ns, name);
    let guarded = by_key.get(&key)?;
    Some((key, guarded))
}

fn fingerprint(live: &Value) -> u64 {
    let mut hasher = DefaultHasher::new();
    diff::normalize(live).to_string().hash(&mut hasher);
    hasher.finish()
}

/// Dry-runs the desired object against the live one; on a difference reports drift and, with
/// self-heal, applies the desired object.
async fn check(
    cluster: &Cluster,
    guarded: &Guarded,
    live: Option<&Value>,
    self_heal: bool,
    force: bool,
    on_drift: &Arc<dyn Fn(Drift) + Send + Sync>,
) {
    let (status, paths) = match live {
        None => (SyncStatus::Missing, Vec::new()),
        Some(live) => {
            let dry = ApplyOptions {
                dry_run: true,
                force,
            };
            match cluster
                .apply(&guarded.resource, &guarded.desired, dry)
                .await
            {
                Ok(result) => (
                    diff::compare(&result, Some(live)),
                    diff::changed_paths(&result, live),
                ),
                Err(_) => return, // the next event or sync will tell
            }
        }
    };
    if status == SyncStatus::Synced {
        return;
    }
    let mut drift = Drift {
        id: guarded.id.clone(),
        status,
        paths,
        corrected: false,
        error: None,
    };
    if self_heal {
        let apply = ApplyOptions {
            dry_run: false,
            force,
        };
        match cluster
            .apply(&guarded.resource, &guarded.desired, apply)
            .await
        {
            Ok(_) => drift.corrected = true,
            Err(e) => drift.error = Some(e.to_string()),
        }
    }
    on_drift(drift);
}
