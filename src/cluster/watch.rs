//! The shared watch cache: one label-filtered watch per (kind, namespace, selector), started
//! on first use and stopped when its last user lets go (a kind nobody waits on is not watched).
//! Whoever asks for the same (kind, namespace, selector) while it runs shares it: a sync's
//! health waits, and later the views and other apps, read from here instead of polling each
//! object, so 1,000 Deployments rolling out cost a handful of watches, not hundreds of GETs a
//! second. The watch's requests go through the counted client like every other call.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::{Cluster, Resource};
use crate::manifest::keys::PART_OF_LABEL;

/// Changes a whole-group reader may fall behind by before it must look at everything again.
const CHANGES_BUFFERED: usize = 4096;

/// What one shared watch follows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    /// `apiVersion/plural`.
    kind: String,
    /// None: every namespace.
    namespace: Option<String>,
    selector: String,
    /// Objects keyed `namespace/name` (a namespaced kind watched in every namespace).
    qualified: bool,
}

/// The guarded value even when a holder panicked: the maps here are replaced or updated whole
/// by each event, so a panic elsewhere leaves nothing half-written, and reading on is right;
/// treating the poison as "no objects" would make every reader believe the cluster empty.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The objects of one (kind, namespace, selector), with one change signal per object name so
/// that a change wakes only the step waiting on that object.
pub struct Group {
    objects: RwLock<HashMap<String, Seen>>,
    signals: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// Whether the watch's first listing is complete (then absence from `objects` means
    /// absent), or failed before that.
    listing: watch::Sender<Listing>,
    /// A (re)listing in progress: it replaces `objects` when complete, so an object deleted
    /// while the watch was down disappears too.
    relisting: Mutex<Option<HashMap<String, Seen>>>,
    /// Every change by object name, and "" after a (re)listing: for readers that follow the
    /// whole group (drift) rather than one object.
    changed: broadcast::Sender<Arc<str>>,
    /// The watch feeding this group; stopped when the last user drops the group.
    task: Mutex<Option<JoinHandle<()>>>,
    /// Objects are keyed `namespace/name` (a namespaced kind watched in all namespaces).
    qualified: bool,
    /// Readers of one ApplySet's objects (by its id), told only of those: a thousand apps
    /// sharing one watch per kind are each woken by their own objects.
    parts: Mutex<HashMap<String, Weak<PartChanges>>>,
}

/// An object as the watch last saw it, kept as its JSON text: a parsed value takes several
/// times the room, and a thousand apps' objects are all held here. Parsed again when read,
/// which is when it changed or a page shows it.
struct Seen {
    json: Box<str>,
    /// Read without parsing: which ApplySet it belongs to, and where it is.
    part_of: Option<Box<str>>,
    namespace: Option<Box<str>>,
}

impl Seen {
    fn value(&self) -> Option<Value> {
        serde_json::from_str(&self.json).ok()
    }

    /// The ApplySet it belongs to (its part-of label).
    fn owner(&self) -> Option<String> {
        self.part_of.as_deref().map(str::to_owned)
    }
}

/// What changed among one ApplySet's objects of a group since its reader last looked: the
/// keys, or everything (a relisting). Never more than the objects it owns.
#[derive(Default)]
pub struct PartChanges {
    pending: Mutex<(bool, HashSet<Arc<str>>)>,
    ready: tokio::sync::Notify,
}

/// How far a group's watch has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    Pending,
    /// The watch failed before its first listing completed (it keeps trying).
    Failed,
    Listed,
}

/// A batch from [`PartChanges::next`].
pub enum Changed {
    Everything,
    Keys(Vec<Arc<str>>),
}

impl PartChanges {
    fn post(&self, key: Option<&Arc<str>>) {
        {
            let mut pending = lock(&self.pending);
            match key {
                Some(key) => {
                    pending.1.insert(key.clone());
                }
                None => pending.0 = true,
            }
        }
        self.ready.notify_one();
    }

    /// Waits for changes and takes them.
    pub async fn next(&self) -> Changed {
        loop {
            {
                let mut pending = lock(&self.pending);
                if std::mem::take(&mut pending.0) {
                    pending.1.clear();
                    return Changed::Everything;
                }
                if !pending.1.is_empty() {
                    return Changed::Keys(std::mem::take(&mut pending.1).into_iter().collect());
                }
            }
            self.ready.notified().await;
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }
}

/// The running watches, by key. Weak: the users own the groups, the cache only finds them.
#[derive(Default)]
pub struct WatchCache {
    groups: Mutex<HashMap<GroupKey, Weak<Group>>>,
    /// Per kind: may this client watch it in every namespace (see `may_watch_everywhere`).
    everywhere: Mutex<HashMap<String, bool>>,
    asking: tokio::sync::Mutex<()>,
}

impl Group {
    /// How this group keys an object: its name, or `namespace/name` in a group that watches
    /// a namespaced kind in every namespace.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.qualified => format!("{ns}/{name}"),
            _ => name.to_owned(),
        }
    }

    /// Changes of the objects ApplySet `id` owns in this group, from now on.
    pub fn follow_part(&self, id: &str) -> Arc<PartChanges> {
        let mut parts = lock(&self.parts);
        if let Some(part) = parts.get(id).and_then(Weak::upgrade) {
            return part;
        }
        parts.retain(|_, p| p.strong_count() > 0);
        let part = Arc::new(PartChanges::default());
        parts.insert(id.to_owned(), Arc::downgrade(&part));
        part
    }

    /// Tells the readers of the ApplySets in `owners` that `key` changed (every reader of
    /// every ApplySet on a relisting, `key` None).
    fn signal_parts(&self, owners: &[Option<String>], key: Option<&Arc<str>>) {
        let parts = lock(&self.parts);
        if parts.is_empty() {
            return;
        }
        match key {
            Some(_) => {
                let mut told: Vec<&str> = Vec::new();
                for id in owners.iter().flatten() {
                    if told.contains(&id.as_str()) {
                        continue;
                    }
                    told.push(id);
                    if let Some(part) = parts.get(id).and_then(Weak::upgrade) {
                        part.post(key);
                    }
                }
            }
            None => parts
                .values()
                .filter_map(Weak::upgrade)
                .for_each(|p| p.post(None)),
        }
    }

    /// The object as last seen, if the watch has listed; None while it has not.
    pub fn get(&self, name: &str) -> Option<Option<Value>> {
        if !self.listed() {
            return None;
        }
        Some(read(&self.objects).get(name).and_then(Seen::value))
    }

    /// Every object as last seen (empty until the watch has listed): for readers that show a
    /// whole namespace's worth, such as a workload's live children.
    pub fn objects(&self) -> Vec<Value> {
        read(&self.objects)
            .values()
            .filter_map(Seen::value)
            .collect()
    }

    /// Whether the first listing is complete.
    pub fn listed(&self) -> bool {
        *self.listing.borrow() == Listing::Listed
    }

    /// Waits until the first listing is complete (true), or the watch failed before that
    /// (forbidden, say) or `within` passed (false): a reader that must not wait long on the
    /// cache asks the API server instead.
    pub async fn until_listed(&self, within: Duration) -> bool {
        let mut listing = self.listing.subscribe();
        let done = tokio::time::timeout(within, listing.wait_for(|l| *l != Listing::Pending));
        matches!(done.await, Ok(Ok(l)) if *l == Listing::Listed)
    }

    /// The names of changed objects as they change, "" after each (re)listing. A receiver
    /// that lags behind gets `Lagged` and should look at every object again.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.changed.subscribe()
    }

    /// A signal that changes whenever `name` changes (or the group is listed).
    pub fn changes(&self, name: &str) -> watch::Receiver<u64> {
        lock(&self.signals)
            .entry(name.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    fn signal(&self, name: Option<&str>) {
        // No receiver is not an error: most groups have no whole-group reader.
        let _ = self.changed.send(Arc::from(name.unwrap_or("")));
        let signals = lock(&self.signals);
        match name {
            Some(name) => {
                if let Some(s) = signals.get(name) {
                    s.send_modify(|v| *v += 1);
                }
            }
            None => signals.values().for_each(|s| s.send_modify(|v| *v += 1)),
        }
    }
}

impl Cluster {
    /// The live objects of `resource` in `namespace` (all namespaces for `None`) that match
    /// `selector`, kept current by a watch shared with every other holder of the same group.
    /// Keep the `Arc` while reading: the watch stops when the last one is dropped.
    pub fn watch(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        selector: &str,
    ) -> Arc<Group> {
        self.watch_keyed(resource, namespace, selector, false)
    }

    fn watch_keyed(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        selector: &str,
        qualified: bool,
    ) -> Arc<Group> {
        let key = GroupKey {
            kind: format!("{}/{}", resource.api.api_version, resource.api.plural),
            namespace: namespace.map(str::to_owned),
            selector: selector.to_owned(),
            qualified,
        };
        let mut groups = lock(&self.watches.groups);
        if let Some(group) = groups.get(&key).and_then(Weak::upgrade) {
            return group;
        }
        groups.retain(|_, g| g.strong_count() > 0);
        let mut group = empty_group();
        group.qualified = qualified;
        let group = Arc::new(group);
        groups.insert(key, Arc::downgrade(&group));
        let api = self.api(resource, namespace);
        let config = watcher::Config::default().labels(selector);
        let types = (resource.api.api_version.clone(), resource.api.kind.clone());
        let task = tokio::spawn(follow(
            Arc::downgrade(&group),
            watcher::watcher(api, config),
            types,
        ));
        *lock(&group.task) = Some(task);
        group
    }

    /// The objects of `resource` that belong to any ApplySet, in `namespace` (every namespace
    /// for None): one watch per kind shared by every app, each reading its own objects
    /// through [`Group::follow_part`]. Keys are `namespace/name` when watching a namespaced
    /// kind everywhere.
    pub fn watch_owned(&self, resource: &Resource, namespace: Option<&str>) -> Arc<Group> {
        let qualified = namespace.is_none() && resource.namespaced;
        self.watch_keyed(resource, namespace, PART_OF_LABEL, qualified)
    }

    /// Whether this client may list and watch `resource` in every namespace (asked once per
    /// kind with SelfSubjectAccessReviews, then remembered): a namespaced agent, or an app
    /// acting as its own ServiceAccount, watches namespace by namespace instead.
    pub async fn may_watch_everywhere(&self, resource: &Resource) -> bool {
        if !resource.namespaced {
            return true;
        }
        let kind = format!("{}/{}", resource.api.api_version, resource.api.plural);
        let known = || lock(&self.watches.everywhere).get(&kind).copied();
        if let Some(known) = known() {
            return known;
        }
        // One question at a time: the apps starting together ask once per kind.
        let _one = self.watches.asking.lock().await;
        if let Some(known) = known() {
            return known;
        }
        let mut allowed = true;
        for verb in ["list", "watch"] {
            allowed &= self
                .allowed_everywhere(resource, verb)
                .await
                .unwrap_or(false);
        }
        lock(&self.watches.everywhere).insert(kind, allowed);
        allowed
    }

    async fn allowed_everywhere(
        &self,
        resource: &Resource,
        verb: &str,
    ) -> Result<bool, kube::Error> {
        use k8s_openapi::api::authorization::v1::{
            ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
        };
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    group: Some(resource.api.group.clone()),
                    resource: Some(resource.api.plural.clone()),
                    verb: Some(verb.to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let api: kube::Api<SelfSubjectAccessReview> = kube::Api::all(self.client.clone());
        let answer = api
            .create(&kube::api::PostParams::default(), &review)
            .await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }

    /// The objects of ApplySet `id` of `resource` in `namespace`, as a running shared watch has
    /// them (one the apps' drift watches keep), or None when no such watch has listed: then
    /// list. Never starts a watch.
    pub fn owned_from_watch(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        id: &str,
    ) -> Option<Vec<Value>> {
        let kind = format!("{}/{}", resource.api.api_version, resource.api.plural);
        let keys = [
            GroupKey {
                kind: kind.clone(),
                namespace: None,
                selector: PART_OF_LABEL.to_owned(),
                qualified: true,
            },
            GroupKey {
                kind,
                namespace: namespace.map(str::to_owned),
                selector: PART_OF_LABEL.to_owned(),
                qualified: false,
            },
        ];
        let group = {
            let groups = lock(&self.watches.groups);
            keys.iter()
                .filter_map(|k| groups.get(k).and_then(Weak::upgrade))
                .find(|g| g.listed())?
        };
        let objects = read(&group.objects);
        Some(
            objects
                .values()
                .filter(|o| o.part_of.as_deref() == Some(id) && o.namespace.as_deref() == namespace)
                .filter_map(Seen::value)
                .collect(),
        )
    }

    /// How many watches run now (for tests and the request log).
    pub fn watches_running(&self) -> usize {
        lock(&self.watches.groups)
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}

fn empty_group() -> Group {
    Group {
        objects: RwLock::new(HashMap::new()),
        signals: Mutex::new(HashMap::new()),
        listing: watch::channel(Listing::Pending).0,
        relisting: Mutex::new(None),
        changed: broadcast::channel(CHANGES_BUFFERED).0,
        task: Mutex::new(None),
        qualified: false,
        parts: Mutex::new(HashMap::new()),
    }
}

/// `types`: apiVersion and kind, which listed items lack and health rules need. Holds the
/// group weakly: the watch ends when nobody reads it any more.
async fn follow<S>(group: Weak<Group>, stream: S, types: (String, String))
where
    S: futures::Stream<Item = Result<Event<kube::api::DynamicObject>, watcher::Error>> + Send,
{
    let mut stream = std::pin::pin!(stream.default_backoff());
    while let Some(event) = stream.next().await {
        let Some(group) = group.upgrade() else {
            return;
        };
        let Ok(event) = event else {
            // Waiters for a first listing need not wait out the watcher's back-off.
            group.listing.send_if_modified(|l| {
                let first = *l == Listing::Pending;
                if first {
                    *l = Listing::Failed;
                }
                first
            });
            continue;
        };
        match event {
            Event::Init => *lock(&group.relisting) = Some(HashMap::new()),
            Event::InitApply(o) => {
                let (name, value) = typed(o, &types, group.qualified);
                if let (Some(value), Some(listing)) = (value, lock(&group.relisting).as_mut()) {
                    listing.insert(name, value);
                }
            }
            Event::InitDone => {
                if let Some(listing) = lock(&group.relisting).take() {
                    *write(&group.objects) = listing;
                }
                group.listing.send_replace(Listing::Listed);
                group.signal(None);
                group.signal_parts(&[], None);
            }
            Event::Apply(o) => {
                let (name, value) = typed(o, &types, group.qualified);
                let mut owners = vec![value.as_ref().and_then(Seen::owner)];
                if let Some(value) = value {
                    // Its previous owner learns it left (a relabelled object).
                    let previous = write(&group.objects).insert(name.clone(), value);
                    owners.push(previous.and_then(|o| o.owner()));
                }
                group.signal(Some(&name));
                group.signal_parts(&owners, Some(&Arc::from(name.as_str())));
            }
            Event::Delete(o) => {
                let (name, value) = typed(o, &types, group.qualified);
                write(&group.objects).remove(&name);
                group.signal(Some(&name));
                let owners = [value.as_ref().and_then(Seen::owner)];
                group.signal_parts(&owners, Some(&Arc::from(name.as_str())));
            }
        }
    }
}

/// The object's key (name, or `namespace/name` when `qualified`) and what is kept of it:
/// its JSON with the apiVersion and kind that listed items lack, without managedFields (see
/// `cluster::to_value`).
fn typed(
    mut o: kube::api::DynamicObject,
    types: &(String, String),
    qualified: bool,
) -> (String, Option<Seen>) {
    let name = o.metadata.name.clone().unwrap_or_default();
    let name = match (&o.metadata.namespace, qualified) {
        (Some(ns), true) => format!("{ns}/{name}"),
        _ => name,
    };
    o.types = Some(kube::api::TypeMeta {
        api_version: types.0.clone(),
        kind: types.1.clone(),
    });
    o.metadata.managed_fields = None;
    let seen = serde_json::to_string(&o).ok().map(|json| Seen {
        json: json.into(),
        part_of: o
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(PART_OF_LABEL))
            .map(|id| id.as_str().into()),
        namespace: o.metadata.namespace.as_deref().map(Into::into),
    });
    (name, seen)
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
