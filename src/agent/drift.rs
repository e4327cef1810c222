//! Drift: watches on exactly the kinds and namespaces an app owns, filtered by its ApplySet
//! label, so memory and requests follow what ordo manages rather than the cluster's size.
//! An event whose object differs (after normalizing) from what was last seen is checked with
//! a dry run of the desired object; a real difference is drift, corrected with `selfHeal`
//! (backing off per object when it keeps coming back, see `heal.rs`) or reported otherwise.
//! Reports reach the app through a [`DriftInbox`]: bounded by the objects it guards, the
//! latest report per object kept.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde_json::Value;
use tokio::time::Instant;

use super::heal::{HealBackoff, Verdict};

use crate::cluster::{Changed, Cluster, Group, PartChanges, Resource};
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
    /// What ordo applies for it (ownership label and config hash included), as JSON text: read
    /// only when the live object changed, and a thousand apps' objects are held here.
    pub desired: Box<str>,
    /// Its key in the shared watch's group (set by `watch`).
    pub key: String,
}

/// A drift seen, and whether it was corrected.
#[derive(Debug, Clone)]
pub struct Drift {
    pub id: String,
    pub status: SyncStatus,
    pub paths: Vec<String>,
    pub corrected: bool,
    pub error: Option<String>,
    /// Self-heal waits this long before it applies again (it healed this object recently).
    pub backing_off: Option<Duration>,
    /// Who else writes the drifted fields, when they came back after a heal:
    /// "spec.replicas is also managed by kube-controller-manager".
    pub contested_by: Option<String>,
    /// Other field managers named in `contested_by`.
    pub managers: Vec<String>,
}

/// What the app's page says of a drift: the fields, who else writes them, the heal's wait.
pub fn message(d: &Drift) -> String {
    let mut message = if d.corrected {
        format!("drift healed: {}", d.paths.join(", "))
    } else {
        format!("drifted: {}", d.paths.join(", "))
    };
    if let Some(contested) = &d.contested_by {
        message.push_str(&format!(" ({contested})"));
    }
    if let Some(wait) = d.backing_off {
        message.push_str(&format!(
            "; self-heal waits {}s before applying again",
            wait.as_secs_f64().ceil()
        ));
    }
    if let Some(error) = &d.error {
        message.push_str(&format!("; heal failed: {error}"));
    }
    message
}

/// Drift reports on their way to the app: the latest per object, with how many were folded
/// into it. Never grows past the objects an app owns, whatever the rate of events.
#[derive(Default)]
pub struct DriftInbox {
    pending: Mutex<BTreeMap<String, (Drift, u64)>>,
    ready: tokio::sync::Notify,
}

impl DriftInbox {
    pub fn post(&self, drift: Drift) {
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let entry = pending
                .entry(drift.id.clone())
                .or_insert((drift.clone(), 0));
            entry.0 = drift;
            entry.1 += 1;
        }
        self.ready.notify_one();
    }

    /// Waits for reports and takes them all: (latest report, how many) per object.
    pub async fn take(&self) -> Vec<(Drift, u64)> {
        loop {
            let batch: Vec<(Drift, u64)> =
                std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
                    .into_values()
                    .collect();
            if !batch.is_empty() {
                return batch;
            }
            self.ready.notified().await;
        }
    }

    /// Drops what is pending (a new sync is about to change everything).
    pub fn clear(&self) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
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
            desired: applyset::member(o, applyset, p.config_hash.as_deref())
                .to_string()
                .into(),
            key: String::new(),
        });
    }
    guarded
}

/// Runs until dropped. `on_drift` is called for each drifted object.
/// `baseline`: each object as the sync left it (by id); a listing checks only objects that
/// differ from it, so drift between the end of the sync and the start of the watch is caught
/// without a dry run of everything. The watches are the cluster's shared ones: one per kind
/// for every app (in every namespace when the client may, else per namespace), each app
/// woken only by the objects of its ApplySet (`applyset_id`).
pub async fn watch(
    cluster: Cluster,
    guarded: Vec<Guarded>,
    baseline: HashMap<String, Value>,
    applyset_id: String,
    self_heal: bool,
    force: bool,
    on_drift: Arc<dyn Fn(Drift) + Send + Sync>,
) {
    let mut scopes: Vec<Scope> = Vec::new();
    let mut fingerprints: HashMap<String, u64> = HashMap::new();
    // Moved, not cloned: at 5,000 objects a second copy of every desired object is tens of MiB.
    for mut g in guarded {
        if let Some(print) = baseline.get(&g.id).map(diff::fingerprint) {
            fingerprints.insert(g.id.clone(), print);
        }
        let everywhere = cluster.may_watch_everywhere(&g.resource).await;
        let namespace = if everywhere {
            None
        } else {
            g.namespace.clone()
        };
        let found = scopes.iter_mut().find(|s| {
            s.resource.api.plural == g.resource.api.plural
                && s.resource.api.group == g.resource.api.group
                && s.namespace == namespace
        });
        match found {
            Some(scope) => {
                g.key = scope.group.key(g.namespace.as_deref(), &g.name);
                scope.guarded.insert(g.key.clone(), g);
            }
            None => {
                let group = cluster.watch_owned(&g.resource, namespace.as_deref());
                g.key = group.key(g.namespace.as_deref(), &g.name);
                scopes.push(Scope {
                    resource: g.resource.clone(),
                    namespace,
                    changes: group.follow_part(&applyset_id),
                    group,
                    guarded: HashMap::from([(g.key.clone(), g)]),
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
        backoff: HealBackoff::default(),
        retries: BTreeMap::new(),
    };
    // A group some other reader already listed sends no listing signal: look now.
    for (i, scope) in scopes.iter().enumerate() {
        if scope.group.listed() {
            checker.everything(i, scope).await;
        }
    }
    let mut changes = stream::select_all(scopes.iter().enumerate().map(|(i, scope)| {
        stream::unfold(scope.changes.clone(), move |changes| async move {
            let next = changes.next().await;
            Some(((i, next), changes))
        })
        .boxed()
    }));
    loop {
        let next_retry = checker.retries.keys().next().map(|(at, _)| *at);
        let event = tokio::select! {
            event = changes.next() => event,
            _ = sleep_until_some(next_retry) => {
                checker.retry_due(&scopes).await;
                continue;
            }
        };
        let Some((i, change)) = event else {
            break;
        };
        let scope = &scopes[i];
        match change {
            // A (re)listing: every object may have moved.
            Changed::Everything => checker.everything(i, scope).await,
            Changed::Keys(keys) => {
                for key in keys {
                    if let Some(g) = scope.guarded.get(&*key) {
                        checker.one(i, scope, g).await;
                    }
                }
            }
        }
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One kind (in one namespace, or all) the app owns, read from the shared watch.
struct Scope {
    resource: Resource,
    namespace: Option<String>,
    group: Arc<Group>,
    /// This app's objects of the group that changed; followed from before the first look.
    changes: Arc<PartChanges>,
    /// The desired objects of this scope, by the group's key.
    guarded: HashMap<String, Guarded>,
}

struct Checker {
    cluster: Cluster,
    self_heal: bool,
    force: bool,
    on_drift: Arc<dyn Fn(Drift) + Send + Sync>,
    /// Each object as last checked (normalized): a change of status only is not drift.
    fingerprints: HashMap<String, u64>,
    backoff: HealBackoff,
    /// Objects to look at again when their heal wait ends: (when, scope index and name).
    retries: BTreeMap<(Instant, String), (usize, String)>,
}

impl Checker {
    /// Looks again at the objects whose heal wait ended.
    async fn retry_due(&mut self, scopes: &[Scope]) {
        let now = Instant::now();
        while let Some(entry) = self.retries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (index, name) = entry.remove();
            let Some(scope) = scopes.get(index) else {
                continue;
            };
            if let Some(g) = scope.guarded.get(&name)
                && let Some(live) = scope.group.get(&name)
            {
                Box::pin(self.check(index, g, live.as_ref())).await;
            }
        }
    }

    async fn everything(&mut self, index: usize, scope: &Scope) {
        for g in scope.guarded.values() {
            self.one(index, scope, g).await;
        }
    }

    async fn one(&mut self, index: usize, scope: &Scope, g: &Guarded) {
        let Some(live) = scope.group.get(&g.key) else {
            return; // not listed yet: the listing signal comes
        };
        match &live {
            Some(live) => {
                let print = diff::fingerprint(live);
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
        // Boxed: the drift task is idle most of its life, yet its future is as large as its
        // largest await, and a check (a dry run, a heal) is by far the largest.
        Box::pin(self.check(index, g, live.as_ref())).await;
    }

    /// Dry-runs the desired object against the live one; on a difference reports drift and,
    /// with self-heal, applies the desired object unless it was healed too recently.
    async fn check(&mut self, index: usize, g: &Guarded, live: Option<&Value>) {
        // Absent from the shared watch may only mean its event has not come yet (an object
        // this sync just created): ask the server before calling it Missing.
        let fetched;
        let live = match live {
            Some(live) => Some(live),
            None => {
                fetched = self
                    .cluster
                    .get(&g.resource, g.namespace.as_deref(), &g.name)
                    .await
                    .ok()
                    .flatten();
                fetched.as_ref()
            }
        };
        let Ok(desired) = serde_json::from_str::<Value>(&g.desired) else {
            return; // written by `guarded` from a value: cannot fail
        };
        let Ok(comparison) =
            sync::compare(&self.cluster, &g.resource, &desired, live, self.force).await
        else {
            return; // the next event or sync will tell
        };
        if comparison.status == SyncStatus::Synced {
            return;
        }
        let mut drift = Drift {
            id: g.id.clone(),
            status: comparison.status,
            paths: comparison.paths,
            corrected: false,
            error: None,
            backing_off: None,
            contested_by: None,
            managers: Vec::new(),
        };
        if !self.self_heal {
            (self.on_drift)(drift);
            return;
        }
        let now = Instant::now();
        match self.backoff.on_drift(&g.id, &drift.paths, now) {
            Verdict::WaitUntil(at) => {
                drift.backing_off = Some(at - now);
                self.retries
                    .insert((at, g.id.clone()), (index, g.key.clone()));
            }
            Verdict::Heal => {
                if self.backoff.contested(&g.id) {
                    self.name_contestants(g, &mut drift).await;
                }
                match sync::apply(&self.cluster, &g.resource, &desired, self.force).await {
                    Ok(_) => drift.corrected = true,
                    Err(e) => drift.error = Some(e.to_string()),
                }
            }
        }
        (self.on_drift)(drift);
    }

    /// Who else manages the drifted fields (a GET keeping managedFields, made only for an
    /// object whose same fields came back after a heal).
    async fn name_contestants(&self, g: &Guarded, drift: &mut Drift) {
        let Ok(managed) = self
            .cluster
            .managed_fields(&g.resource, g.namespace.as_deref(), &g.name)
            .await
        else {
            return;
        };
        let mut said = Vec::new();
        for path in &drift.paths {
            let others = diff::others_managing(&managed, path, crate::cluster::FIELD_MANAGER);
            if !others.is_empty() {
                said.push(format!("{path} is also managed by {}", others.join(", ")));
                drift.managers.extend(others);
            }
        }
        drift.managers.sort();
        drift.managers.dedup();
        if !said.is_empty() {
            drift.contested_by = Some(said.join("; "));
        }
    }
}
