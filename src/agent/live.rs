//! The live side of the page: a workload's children, the events about them, and a pod's log,
//! read for the HTTP layer from the shared watch cache.
//!
//! Nothing runs until someone looks. The first panel or tree view opened on a namespace starts
//! one unfiltered watch per kind shown there (ReplicaSets, Pods, Jobs, EndpointSlices, Events);
//! they are shared by every viewer and stop [`LINGER`] after the last look (an open tree view
//! holds them as long as it stays open). Steady state with nobody looking costs no request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{self, BoxStream, StreamExt};
use serde_json::Value;
use tokio_stream::wrappers::BroadcastStream;

use super::ViewError;
use crate::cluster::{Cluster, Group, LogBounds};
use crate::health::children::{self, Child};
use crate::health::why::{self, EventView};

/// How long a namespace's watches outlive the last look: a person clicking from node to node
/// should not restart them each time.
const LINGER: Duration = Duration::from_secs(60);
/// How often lingering watches are checked.
const SWEEP_EVERY: Duration = Duration::from_secs(15);
/// How long a first look waits for the watches' first listing.
const LISTING_TIMEOUT: Duration = Duration::from_secs(5);
/// Events shown per object.
pub const EVENTS_SHOWN: usize = 50;
/// A log read: the last lines, bytes and time it may take.
const LOG_LINES: i64 = 500;
const LOG_BYTES: i64 = 256 * 1024;
const LOG_TIMEOUT: Duration = Duration::from_secs(10);
/// A followed log is closed after this long (the page offers to follow again).
const LOG_FOLLOW_FOR: Duration = Duration::from_secs(300);
/// …or after this many bytes, whichever comes first.
const LOG_FOLLOW_BYTES: i64 = 1024 * 1024;

/// The kinds watched per namespace while someone looks: (apiVersion, kind).
const WATCHED: &[(&str, &str)] = &[
    ("apps/v1", "ReplicaSet"),
    ("v1", "Pod"),
    ("batch/v1", "Job"),
    ("discovery.k8s.io/v1", "EndpointSlice"),
    ("v1", "Event"),
];

/// A workload as the app knows it: what its tree is built from.
#[derive(Debug, Clone)]
pub struct Root {
    pub id: String,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl Root {
    fn group(&self) -> &str {
        crate::manifest::split_api_version(&self.api_version).0
    }

    /// Whether it owns anything the page shows (a ConfigMap does not).
    pub fn has_children(&self) -> bool {
        !children::owned_kinds(self.group(), &self.kind).is_empty()
    }
}

/// One object's live children and the events about it and them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Live {
    pub children: Vec<Child>,
    /// Children left out of a long list.
    pub more: usize,
    pub events: Vec<EventView>,
}

/// The watches of one namespace; held by viewers, found again through [`LiveWatches`].
pub struct Namespace {
    groups: Vec<(&'static str, Arc<Group>)>,
}

impl Namespace {
    fn objects(&self) -> Vec<Value> {
        self.groups
            .iter()
            .filter(|(kind, _)| *kind != "Event")
            .flat_map(|(_, g)| g.objects())
            .collect()
    }

    fn events(&self) -> Vec<Value> {
        self.groups
            .iter()
            .filter(|(kind, _)| *kind == "Event")
            .flat_map(|(_, g)| g.objects())
            .collect()
    }

    async fn wait_listed(&self) {
        let deadline = tokio::time::Instant::now() + LISTING_TIMEOUT;
        for (_, group) in &self.groups {
            let mut changes = group.subscribe();
            while !group.listed() {
                if tokio::time::timeout_at(deadline, changes.recv())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }

    /// A tick whenever anything in the namespace changes.
    fn changes(&self) -> BoxStream<'static, ()> {
        let streams: Vec<_> = self
            .groups
            .iter()
            .map(|(_, g)| BroadcastStream::new(g.subscribe()).map(|_| ()))
            .collect();
        stream::select_all(streams).boxed()
    }
}

/// Watched namespaces, with when each was last looked at.
type Held = Mutex<HashMap<String, (Arc<Namespace>, Instant)>>;

/// Viewers' watches, by namespace, with when they were last looked at.
pub struct LiveWatches {
    cluster: Cluster,
    held: Arc<Held>,
}

impl LiveWatches {
    pub fn new(cluster: Cluster) -> Self {
        LiveWatches {
            cluster,
            held: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The watches of `namespace`, started if nobody holds them, and marked as just looked at.
    async fn namespace(&self, namespace: &str) -> Result<Arc<Namespace>, ViewError> {
        if let Some(found) = self.touch(namespace) {
            return Ok(found);
        }
        let mut groups = Vec::with_capacity(WATCHED.len());
        for (api_version, kind) in WATCHED {
            let resource = self.cluster.resource(api_version, kind).await?;
            groups.push((*kind, self.cluster.watch(&resource, Some(namespace), "")));
        }
        let started = Arc::new(Namespace { groups });
        let first = {
            let Ok(mut held) = self.held.lock() else {
                return Ok(started);
            };
            let first = held.is_empty();
            held.insert(namespace.to_owned(), (started.clone(), Instant::now()));
            first
        };
        if first {
            tokio::spawn(sweep(Arc::downgrade(&self.held)));
        }
        started.wait_listed().await;
        Ok(started)
    }

    fn touch(&self, namespace: &str) -> Option<Arc<Namespace>> {
        let mut held = self.held.lock().ok()?;
        let (found, seen) = held.get_mut(namespace)?;
        *seen = Instant::now();
        Some(found.clone())
    }

    /// `root`'s children and the events about it and them, newest first.
    pub async fn live(&self, root: &Root) -> Result<Live, ViewError> {
        let Some(namespace) = root.namespace.as_deref().filter(|_| root.has_children()) else {
            return Ok(Live {
                children: Vec::new(),
                more: 0,
                events: Vec::new(),
            });
        };
        let watched = self.namespace(namespace).await?;
        Ok(live_of(root, &watched))
    }

    /// The trees of every root that has children, held open (and their namespaces watched)
    /// until the returned stream is dropped: a first tree at once, then one after each change
    /// in those namespaces (at most every `every`).
    /// `roots` is asked again for each tree, so a new revision's objects show up; the
    /// namespaces watched are those of the first answer.
    pub async fn follow(
        &self,
        roots: impl Fn() -> Vec<Root> + Send + 'static,
        every: Duration,
    ) -> Result<BoxStream<'static, Vec<(String, Live)>>, ViewError> {
        let first_roots: Vec<Root> = roots().into_iter().filter(Root::has_children).collect();
        let mut namespaces: HashMap<String, Arc<Namespace>> = HashMap::new();
        for root in &first_roots {
            if let Some(ns) = root.namespace.as_deref()
                && !namespaces.contains_key(ns)
            {
                namespaces.insert(ns.to_owned(), self.namespace(ns).await?);
            }
        }
        let changes = stream::select_all(namespaces.values().map(|n| n.changes()));
        let changes = tokio_stream::StreamExt::throttle(changes, every);
        let trees = move || {
            roots()
                .iter()
                .filter(|r| r.has_children())
                .filter_map(|root| {
                    let watched = namespaces.get(root.namespace.as_deref()?)?;
                    Some((root.id.clone(), live_of(root, watched)))
                })
                .collect::<Vec<_>>()
        };
        let first = trees();
        Ok(stream::once(async move { first })
            .chain(changes.map(move |()| trees()))
            .boxed())
    }

    /// The last lines of `container` of `pod`, which must be in the tree of one of `roots`
    /// (logs of pods the app does not run are not ordo's to show).
    pub async fn logs(
        &self,
        roots: &[Root],
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Result<Option<String>, ViewError> {
        let mut found = None;
        for root in roots.iter().filter(|r| r.has_children()) {
            let live = self.live(root).await?;
            if let Some(p) = children::find_pod(&live.children, pod)
                && p.containers.iter().any(|c| c == container)
            {
                found = root.namespace.clone();
                break;
            }
        }
        let Some(namespace) = found else {
            return Ok(None);
        };
        let bounds = LogBounds {
            tail_lines: LOG_LINES,
            limit_bytes: LOG_BYTES,
            previous,
        };
        let read = self.cluster.pod_logs(&namespace, pod, container, bounds);
        match tokio::time::timeout(LOG_TIMEOUT, read).await {
            Ok(Ok(text)) => Ok(Some(text)),
            Ok(Err(e)) => Err(ViewError::Failed(e.to_string())),
            Err(_) => Err(ViewError::Unavailable(format!(
                "the log of {pod} did not arrive within {} s",
                LOG_TIMEOUT.as_secs()
            ))),
        }
    }

    /// [`LiveWatches::logs`], followed: the last lines, then each new one as the container
    /// writes it, for at most `LOG_FOLLOW_FOR` and `LOG_FOLLOW_BYTES` (the reader asks again
    /// after that). `None` when the pod is not in the app's tree.
    pub async fn follow_logs(
        &self,
        roots: &[Root],
        pod: &str,
        container: &str,
    ) -> Result<Option<BoxStream<'static, String>>, ViewError> {
        let Some(namespace) = self.pod_namespace(roots, pod, container).await? else {
            return Ok(None);
        };
        let bounds = LogBounds {
            tail_lines: LOG_LINES,
            limit_bytes: LOG_FOLLOW_BYTES,
            previous: false,
        };
        let opened = self
            .cluster
            .pod_log_lines(&namespace, pod, container, bounds);
        let lines = match tokio::time::timeout(LOG_TIMEOUT, opened).await {
            Ok(Ok(lines)) => lines,
            Ok(Err(e)) => return Err(ViewError::Failed(e.to_string())),
            Err(_) => {
                return Err(ViewError::Unavailable(format!(
                    "the log of {pod} did not open within {} s",
                    LOG_TIMEOUT.as_secs()
                )));
            }
        };
        let until = tokio::time::Instant::now() + LOG_FOLLOW_FOR;
        let deadline = Box::pin(tokio::time::sleep_until(until));
        Ok(Some(lines.take_until(deadline).boxed()))
    }

    /// The namespace of `pod` when it runs `container` in the tree of one of `roots`.
    async fn pod_namespace(
        &self,
        roots: &[Root],
        pod: &str,
        container: &str,
    ) -> Result<Option<String>, ViewError> {
        for root in roots.iter().filter(|r| r.has_children()) {
            let live = self.live(root).await?;
            if let Some(p) = children::find_pod(&live.children, pod)
                && p.containers.iter().any(|c| c == container)
            {
                return Ok(root.namespace.clone());
            }
        }
        Ok(None)
    }

    /// Namespaces watched for viewers now (for tests and the request log).
    pub fn watched(&self) -> usize {
        self.held.lock().map(|h| h.len()).unwrap_or(0)
    }
}

fn live_of(root: &Root, watched: &Namespace) -> Live {
    let objects = watched.objects();
    let (children, more) = children::children(&root.kind, &root.name, &objects);
    let mut about = children::members(&children);
    about.push((root.kind.as_str(), root.name.as_str()));
    let events = why::events_about(&watched.events(), &about, EVENTS_SHOWN);
    Live {
        children,
        more,
        events,
    }
}

/// Drops the watches of namespaces nobody looked at for [`LINGER`] and nobody holds; ends
/// when none is left (the next look starts a new sweep).
async fn sweep(held: std::sync::Weak<Held>) {
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        let Some(held) = held.upgrade() else { return };
        let Ok(mut held) = held.lock() else { return };
        held.retain(|_, (watched, seen)| seen.elapsed() < LINGER || Arc::strong_count(watched) > 1);
        if held.is_empty() {
            return;
        }
    }
}
