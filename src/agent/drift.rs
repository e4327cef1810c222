//! Drift: watches on exactly the kinds and namespaces an app owns, filtered by its ApplySet
//! label, so memory and requests follow what ordo manages rather than the cluster's size.
//! An event whose object differs (after normalizing) from what was last seen is checked with
//! a dry run of the desired object; a real difference is drift, corrected at once with
//! `selfHeal` or reported otherwise.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use serde_json::Value;

use crate::cluster::{Cluster, Group, Resource};
use crate::diff::{self, SyncStatus};
use crate::plan::Plan;
use crate::sync::{self, ApplySet, applyset};

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

/// What a sync of `plan` owns, as the drift watch guards it: every object but the hooks
/// (which are not the app's resources) and kinds the server does not serve.
pub(super) async fn guarded(cluster: &Cluster, plan: &Plan, applyset: &ApplySet) -> Vec<Guarded> {
    let mut guarded = Vec::new();
    for p in plan.objects.iter().filter(|p| p.hook.is_none()) {
        let o = &p.object;
        let Ok(resource) = cluster.resource(&o.api_version, &o.id.kind).await else {
            continue;
        };
        guarded.push(Guarded {
            id: o.id.to_string(),
            resource,
            namespace: o.id.namespace.clone(),
            name: o.id.name.clone(),
            desired: applyset::member(o, applyset, p.config_hash.as_deref()),
        });
    }
    guarded
}

/// Runs until dropped. `on_drift` is called for each drifted object.
/// `baseline`: each object as the sync left it (by id); a listing checks only objects that
/// differ from it, so drift between the end of the sync and the start of the watch is caught
/// without a dry run of everything. The watches are the cluster's shared ones (one per kind and
/// namespace the app owns, filtered by its ApplySet label).
pub async fn watch(
    cluster: Cluster,
    guarded: Vec<Guarded>,
    baseline: HashMap<String, Value>,
    selector: String,
    self_heal: bool,
    force: bool,
    on_drift: Arc<dyn Fn(Drift) + Send + Sync>,
) {
    let mut scopes: Vec<Scope> = Vec::new();
    let mut fingerprints: HashMap<String, u64> = HashMap::new();
    // Moved, not cloned: at 5,000 objects a second copy of every desired object is tens of MiB.
    for g in guarded {
        if let Some(print) = baseline.get(&g.id).map(fingerprint) {
            fingerprints.insert(g.id.clone(), print);
        }
        let found = scopes.iter_mut().find(|s| {
            s.resource.api.plural == g.resource.api.plural
                && s.resource.api.group == g.resource.api.group
                && s.namespace == g.namespace
        });
        match found {
            Some(scope) => {
                scope.guarded.insert(g.name.clone(), g);
            }
            None => {
                let group = cluster.watch(&g.resource, g.namespace.as_deref(), &selector);
                scopes.push(Scope {
                    resource: g.resource.clone(),
                    namespace: g.namespace.clone(),
                    changes: Some(group.subscribe()),
                    group,
                    guarded: HashMap::from([(g.name.clone(), g)]),
                });
            }
        }
    }
    drop(baseline);
    let mut checker = Checker {
        cluster,
        self_heal,
        force,
        on_drift,
        fingerprints,
    };
    // A group some other reader already listed sends no listing signal: look now.
    for scope in &scopes {
        if scope.group.listed() {
            checker.everything(scope).await;
        }
    }
    let mut changes = stream::select_all(scopes.iter_mut().enumerate().filter_map(|(i, scope)| {
        let rx = scope.changes.take()?;
        Some(
            tokio_stream::wrappers::BroadcastStream::new(rx)
                .map(move |change| (i, change))
                .boxed(),
        )
    }));
    while let Some((i, change)) = changes.next().await {
        let scope = &scopes[i];
        match change {
            // A (re)listing, or this reader fell behind: every object may have moved.
            Ok(name) if name.is_empty() => checker.everything(scope).await,
            Err(_) => checker.everything(scope).await,
            Ok(name) => {
                if let Some(g) = scope.guarded.get(&*name) {
                    checker.one(scope, g).await;
                }
            }
        }
    }
}

/// One kind in one namespace the app owns, read from the shared watch.
struct Scope {
    resource: Resource,
    namespace: Option<String>,
    group: Arc<Group>,
    /// Taken when the watch loop starts; subscribed at once so nothing is missed before.
    changes: Option<tokio::sync::broadcast::Receiver<Arc<str>>>,
    /// The desired objects of this scope, by name.
    guarded: HashMap<String, Guarded>,
}

struct Checker {
    cluster: Cluster,
    self_heal: bool,
    force: bool,
    on_drift: Arc<dyn Fn(Drift) + Send + Sync>,
    /// Each object as last checked (normalized): a change of status only is not drift.
    fingerprints: HashMap<String, u64>,
}

impl Checker {
    async fn everything(&mut self, scope: &Scope) {
        for g in scope.guarded.values() {
            self.one(scope, g).await;
        }
    }

    async fn one(&mut self, scope: &Scope, g: &Guarded) {
        let Some(live) = scope.group.get(&g.name) else {
            return; // not listed yet: the listing signal comes
        };
        match &live {
            Some(live) => {
                let print = fingerprint(live);
                if self.fingerprints.insert(g.id.clone(), print) == Some(print) {
                    return; // status-only or no-op change
                }
            }
            None => {
                if self.fingerprints.remove(&g.id).is_none() && !scope.group.listed() {
                    return;
                }
            }
        }
        check(
            &self.cluster,
            g,
            live.as_ref(),
            self.self_heal,
            self.force,
            &self.on_drift,
        )
        .await;
    }
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
    let Ok(comparison) =
        sync::compare(cluster, &guarded.resource, &guarded.desired, live, force).await
    else {
        return; // the next event or sync will tell
    };
    if comparison.status == SyncStatus::Synced {
        return;
    }
    let mut drift = Drift {
        id: guarded.id.clone(),
        status: comparison.status,
        paths: comparison.paths,
        corrected: false,
        error: None,
    };
    if self_heal {
        match sync::apply(cluster, &guarded.resource, &guarded.desired, force).await {
            Ok(_) => drift.corrected = true,
            Err(e) => drift.error = Some(e.to_string()),
        }
    }
    on_drift(drift);
}
