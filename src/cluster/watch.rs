//! The shared watch cache: one label-filtered watch per (kind, namespace, selector), started
//! on first use and stopped when its last user lets go (a kind nobody waits on is not watched).
//! Whoever asks for the same (kind, namespace, selector) while it runs shares it: a sync's
//! health waits, and later the views and other apps, read from here instead of polling each
//! object, so 1,000 Deployments rolling out cost a handful of watches, not hundreds of GETs a
//! second. The watch's requests go through the counted client like every other call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::{Cluster, Resource};

/// Changes a whole-group reader may fall behind by before it must look at everything again.
const CHANGES_BUFFERED: usize = 4096;

/// (apiVersion/plural, namespace, label selector).
type GroupKey = (String, Option<String>, String);

/// The objects of one (kind, namespace, selector), with one change signal per object name so
/// that a change wakes only the step waiting on that object.
pub struct Group {
    objects: RwLock<HashMap<String, Value>>,
    signals: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// The watch's first listing is complete: absence from `objects` means absent.
    listed: RwLock<bool>,
    /// A (re)listing in progress: it replaces `objects` when complete, so an object deleted
    /// while the watch was down disappears too.
    relisting: Mutex<Option<HashMap<String, Value>>>,
    /// Every change by object name, and "" after a (re)listing: for readers that follow the
    /// whole group (drift) rather than one object.
    changed: broadcast::Sender<Arc<str>>,
    /// The watch feeding this group; stopped when the last user drops the group.
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Ok(mut task) = self.task.lock()
            && let Some(task) = task.take()
        {
            task.abort();
        }
    }
}

/// The running watches, by key. Weak: the users own the groups, the cache only finds them.
#[derive(Default)]
pub struct WatchCache {
    groups: Mutex<HashMap<GroupKey, Weak<Group>>>,
}

impl Group {
    /// The object as last seen, if the watch has listed; None while it has not.
    pub fn get(&self, name: &str) -> Option<Option<Value>> {
        let listed = self.listed.read().map(|l| *l).unwrap_or(false);
        if !listed {
            return None;
        }
        let objects = self.objects.read().ok()?;
        Some(objects.get(name).cloned())
    }

    /// Every object as last seen (empty until the watch has listed): for readers that show a
    /// whole namespace's worth, such as a workload's live children.
    pub fn objects(&self) -> Vec<Value> {
        self.objects
            .read()
            .map(|o| o.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether the first listing is complete.
    pub fn listed(&self) -> bool {
        self.listed.read().map(|l| *l).unwrap_or(false)
    }

    /// The names of changed objects as they change, "" after each (re)listing. A receiver
    /// that lags behind gets `Lagged` and should look at every object again.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.changed.subscribe()
    }

    /// A signal that changes whenever `name` changes (or the group is listed).
    pub fn changes(&self, name: &str) -> watch::Receiver<u64> {
        match self.signals.lock() {
            Ok(mut signals) => signals
                .entry(name.to_owned())
                .or_insert_with(|| watch::channel(0).0)
                .subscribe(),
            Err(_) => watch::channel(0).1,
        }
    }

    fn signal(&self, name: Option<&str>) {
        // No receiver is not an error: most groups have no whole-group reader.
        let _ = self.changed.send(Arc::from(name.unwrap_or("")));
        let Ok(signals) = self.signals.lock() else {
            return;
        };
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
        let key = (
            format!("{}/{}", resource.api.api_version, resource.api.plural),
            namespace.map(str::to_owned),
            selector.to_owned(),
        );
        let Ok(mut groups) = self.watches.groups.lock() else {
            return Arc::new(empty_group());
        };
        if let Some(group) = groups.get(&key).and_then(Weak::upgrade) {
            return group;
        }
        groups.retain(|_, g| g.strong_count() > 0);
        let group = Arc::new(empty_group());
        groups.insert(key, Arc::downgrade(&group));
        let api = self.api(resource, namespace);
        let config = watcher::Config::default().labels(selector);
        let types = (resource.api.api_version.clone(), resource.api.kind.clone());
        let task = tokio::spawn(follow(
            Arc::downgrade(&group),
            watcher::watcher(api, config),
            types,
        ));
        if let Ok(mut slot) = group.task.lock() {
            *slot = Some(task);
        }
        group
    }

    /// How many watches run now (for tests and the request log).
    pub fn watches_running(&self) -> usize {
        self.watches
            .groups
            .lock()
            .map(|g| g.values().filter(|w| w.strong_count() > 0).count())
            .unwrap_or(0)
    }
}

fn empty_group() -> Group {
    Group {
        objects: RwLock::new(HashMap::new()),
        signals: Mutex::new(HashMap::new()),
        listed: RwLock::new(false),
        relisting: Mutex::new(None),
        changed: broadcast::channel(CHANGES_BUFFERED).0,
        task: Mutex::new(None),
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
        let Ok(event) = event else { continue };
        let Some(group) = group.upgrade() else {
            return;
        };
        match event {
            Event::Init => {
                if let Ok(mut relisting) = group.relisting.lock() {
                    *relisting = Some(HashMap::new());
                }
            }
            Event::InitApply(o) => {
                let (name, value) = typed(o, &types);
                if let (Some(value), Ok(mut relisting)) = (value, group.relisting.lock())
                    && let Some(listing) = relisting.as_mut()
                {
                    listing.insert(name, value);
                }
            }
            Event::InitDone => {
                let listing = group.relisting.lock().ok().and_then(|mut r| r.take());
                if let (Some(listing), Ok(mut objects)) = (listing, group.objects.write()) {
                    *objects = listing;
                }
                if let Ok(mut listed) = group.listed.write() {
                    *listed = true;
                }
                group.signal(None);
            }
            Event::Apply(o) => {
                let (name, value) = typed(o, &types);
                if let (Some(value), Ok(mut objects)) = (value, group.objects.write()) {
                    objects.insert(name.clone(), value);
                }
                group.signal(Some(&name));
            }
            Event::Delete(o) => {
                let name = o.metadata.name.clone().unwrap_or_default();
                if let Ok(mut objects) = group.objects.write() {
                    objects.remove(&name);
                }
                group.signal(Some(&name));
            }
        }
    }
}

/// The object's name and JSON, with the apiVersion and kind that listed items lack.
fn typed(mut o: kube::api::DynamicObject, types: &(String, String)) -> (String, Option<Value>) {
    let name = o.metadata.name.clone().unwrap_or_default();
    o.types = Some(kube::api::TypeMeta {
        api_version: types.0.clone(),
        kind: types.1.clone(),
    });
    (name, crate::cluster::to_value(o))
}
