//! What readers (the HTTP layer) may ask about the cluster, answered by the agent with its own
//! counted client: whether the API server answers, what the agent has asked of it, an app's
//! desired-vs-live diff and one live object. The HTTP layer never holds a client itself.
//!
//! Diffs are cached per (revision, object, snapshot version): a page viewed a thousand times
//! costs one round of dry runs until the app's published state moves (a sync, a drift) or the
//! entry ages out; the age bounds how stale a diff can be after a change the agent does not
//! see (an edit by hand with self-heal off).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Desired;
use crate::cluster::{Cluster, ClusterError, RequestKey};
use crate::sync::{ObjectDiff, SyncError, SyncOptions};

/// A readiness probe that waits longer than the kubelet's default 1 s timeout fails anyway.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// Probes, scrapers and load balancers may ask every second; the API server hears from us at
/// most this often.
const CHECK_CACHE_FOR: Duration = Duration::from_secs(5);
/// How long a cached diff may be served when nothing the agent sees has moved.
const DIFF_CACHE_FOR: Duration = Duration::from_secs(30);
/// Diffs kept at once (apps × objects viewed); the oldest goes first.
const DIFF_CACHE_ENTRIES: usize = 256;
/// Uncached views (dry runs, live reads) computed at once, whoever asks: a crowd of readers
/// (or a script) cannot turn page views into API server load.
const VIEWS_AT_ONCE: usize = 2;
/// How long a reader waits for its turn before it is told to come back.
const VIEW_QUEUE_WAIT: Duration = Duration::from_secs(5);

/// Why a view could not be produced, in the terms a reader can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ViewError {
    /// The API server did not answer; retry shortly.
    #[error("the API server did not answer ({0}); retry shortly")]
    Unavailable(String),
    /// Too many views are being computed; retry shortly.
    #[error(
        "other views are being computed (at most {VIEWS_AT_ONCE} at once); retry in a few seconds"
    )]
    Busy,
    /// The API server answered with a refusal of the desired state (the dry run failed).
    #[error("{0}")]
    Refused(String),
    /// Anything else the API server said.
    #[error("{0}")]
    Failed(String),
}

/// A kept manifest that does not parse again: ordo's own bug, said as such.
fn unreadable(e: serde_json::Error) -> ViewError {
    ViewError::Failed(format!(
        "the kept plan does not read back ({e}); this is a bug in ordo"
    ))
}

impl From<ClusterError> for ViewError {
    fn from(e: ClusterError) -> Self {
        if e.is_transient() {
            ViewError::Unavailable(e.to_string())
        } else {
            ViewError::Failed(e.to_string())
        }
    }
}

impl From<SyncError> for ViewError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Cluster(c) => c.into(),
            other => ViewError::Refused(other.to_string()),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct DiffKey {
    app: String,
    revision: String,
    object: Option<String>,
    version: u64,
}

/// Why the API server does not count as reachable (`/readyz`). Kept for a few seconds and
/// handed to every probe, hence the client's error as its words.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unreachable {
    #[error("the API server is not reachable: {0}")]
    Refused(String),
    #[error("the API server did not answer within {0} ms")]
    Silent(u128),
}

/// Shared by every app and the HTTP layer. Cheap to clone behind an `Arc`.
pub struct Views {
    cluster: Cluster,
    /// Live children, events and logs, watched only while someone looks.
    pub live: super::live::LiveWatches,
    last_check: Mutex<Option<(Instant, Result<(), Unreachable>)>>,
    diffs: Mutex<HashMap<DiffKey, (Instant, Vec<ObjectDiff>)>>,
    /// Turns for uncached views (see `VIEWS_AT_ONCE`).
    computing: tokio::sync::Semaphore,
}

impl Views {
    pub fn new(cluster: Cluster) -> Self {
        Views {
            live: super::live::LiveWatches::new(cluster.clone()),
            cluster,
            last_check: Mutex::new(None),
            diffs: Mutex::new(HashMap::new()),
            computing: tokio::sync::Semaphore::new(VIEWS_AT_ONCE),
        }
    }

    /// Views over the cluster a kubeconfig names (tests and tools that run no agent).
    pub async fn connect(kubeconfig: Option<&Path>) -> Result<Self, ViewError> {
        Ok(Views::new(Cluster::connect(kubeconfig).await?))
    }

    /// Requests made to the API server so far, by verb, code and dry run.
    pub fn requests(&self) -> BTreeMap<RequestKey, u64> {
        self.cluster.requests().snapshot()
    }

    /// Whether the API server answers `/version`, asked at most every 5 s. The lock is never
    /// held across the request: two probes arriving together may both ask, which is harmless.
    pub async fn api_reachable(&self) -> Result<(), Unreachable> {
        if let Some(fresh) = self.cached_check() {
            return fresh;
        }
        let version = self.cluster.version();
        let result = match tokio::time::timeout(CHECK_TIMEOUT, version).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Unreachable::Refused(e.to_string())),
            Err(_) => Err(Unreachable::Silent(CHECK_TIMEOUT.as_millis())),
        };
        if let Ok(mut last) = self.last_check.lock() {
            *last = Some((Instant::now(), result.clone()));
        }
        result
    }

    fn cached_check(&self) -> Option<Result<(), Unreachable>> {
        let last = self.last_check.lock().ok()?;
        let (at, result) = last.as_ref()?;
        (at.elapsed() < CHECK_CACHE_FOR).then(|| result.clone())
    }

    /// Desired vs live for `desired` (every object, or the one whose id is `object`), by
    /// server-side dry run; writes nothing. `version` is the app's snapshot version: a new one
    /// means something moved and the cached answer is not reused.
    pub(super) async fn diff(
        &self,
        desired: &Desired,
        object: Option<&str>,
        version: u64,
    ) -> Result<Vec<ObjectDiff>, ViewError> {
        let key = DiffKey {
            app: desired.options.app.clone(),
            revision: desired.revision.clone(),
            object: object.map(str::to_owned),
            version,
        };
        if let Some(cached) = self.cached_diff(&key) {
            return Ok(cached);
        }
        let _turn = self.turn().await?;
        // Someone who waited for the same view before us may have computed it.
        if let Some(cached) = self.cached_diff(&key) {
            return Ok(cached);
        }
        let diffs = self.compute_diff(desired, object).await?;
        if let Ok(mut cache) = self.diffs.lock() {
            cache.retain(|_, (at, _)| at.elapsed() < DIFF_CACHE_FOR);
            if cache.len() >= DIFF_CACHE_ENTRIES
                && let Some(oldest) = cache.iter().min_by_key(|(_, (at, _))| *at)
            {
                let oldest = oldest.0.clone();
                cache.remove(&oldest);
            }
            cache.insert(key, (Instant::now(), diffs.clone()));
        }
        Ok(diffs)
    }

    /// A turn among the views computed at once, or `Busy` after a short wait.
    async fn turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ViewError> {
        match tokio::time::timeout(VIEW_QUEUE_WAIT, self.computing.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ViewError::Busy),
        }
    }

    fn cached_diff(&self, key: &DiffKey) -> Option<Vec<ObjectDiff>> {
        let cache = self.diffs.lock().ok()?;
        let (at, diffs) = cache.get(key)?;
        (at.elapsed() < DIFF_CACHE_FOR).then(|| diffs.clone())
    }

    async fn compute_diff(
        &self,
        desired: &Desired,
        object: Option<&str>,
    ) -> Result<Vec<ObjectDiff>, ViewError> {
        let Some(id) = object else {
            let plan = desired.plan.plan().map_err(unreadable)?;
            let cluster = desired.reader.as_ref().unwrap_or(&self.cluster);
            return Ok(crate::sync::diff(cluster, &plan, &desired.options).await?);
        };
        let Some(i) = desired
            .plan
            .objects()
            .iter()
            .position(|p| p.object.id.to_string() == id)
        else {
            return Ok(Vec::new());
        };
        let one = desired.plan.only(i).map_err(unreadable)?;
        let options = SyncOptions {
            prune: false,
            ..desired.options.clone()
        };
        let cluster = desired.reader.as_ref().unwrap_or(&self.cluster);
        let mut diffs = crate::sync::diff(cluster, &one, &options).await?;
        diffs.retain(|d| d.id == id);
        Ok(diffs)
    }

    /// The live object as YAML, without managedFields and with Secret values redacted; `None`
    /// when it does not exist (or its kind is not served, e.g. a CRD not installed yet).
    /// `reader` is the app's own client when it has one: what its account may not read is
    /// not shown (`None`), rather than read with ordo's wider rights.
    pub async fn live_yaml(
        &self,
        reader: Option<&Cluster>,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<String>, ViewError> {
        let _turn = self.turn().await?;
        let cluster = reader.unwrap_or(&self.cluster);
        let resource = match cluster.resource(api_version, kind).await {
            Ok(r) => r,
            Err(ClusterError::UnknownKind { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let live = match cluster.get(&resource, namespace, name).await {
            Ok(Some(live)) => live,
            Ok(None) => return Ok(None),
            Err(e) if reader.is_some() && e.code() == Some(403) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let shown = crate::diff::redact(&live);
        // Serializing a JSON value as YAML does not fail in practice; JSON is YAML too.
        Ok(Some(
            serde_saphyr::to_string(&shown).unwrap_or_else(|_| format!("{shown:#}\n")),
        ))
    }
}

/// Shared by the handles of every app.
pub type SharedViews = Arc<Views>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn readers_beyond_the_views_computed_at_once_are_told_to_come_back() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n",
        )
        .unwrap();
        let views = Views::connect(Some(file.path())).await.unwrap();
        let first = views.turn().await.unwrap();
        let _second = views.turn().await.unwrap();
        // Paused time: the wait for a turn runs out at once.
        assert!(matches!(views.turn().await, Err(ViewError::Busy)));
        drop(first);
        assert!(views.turn().await.is_ok(), "a turn freed is taken");
        // A busy reader is told what to do.
        assert!(ViewError::Busy.to_string().contains("retry"));
    }
}
