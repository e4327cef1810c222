//! The agent (`ordo run`): one reconcile task per app deciding *when* a sync runs (interval,
//! webhook, manual request, drift); the sync itself is the same code `ordo sync` runs. Each app
//! publishes immutable [`AppState`] snapshots on a watch channel: readers never lock the writer.

mod decide;
mod drift;
mod heal;
pub mod lease;
mod live;
mod looks;
mod persisted;
mod progress;
mod push;
mod reconcile;
pub mod shards;
pub mod state;
pub mod store;
mod supervise;
mod views;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

pub use decide::{MIN_REVISION_PREFIX, RevisionLookup, confirmable};
pub use live::{EVENTS_SHOWN, Live, Root};
pub use looks::Look;
pub use push::Push;
pub use state::{
    AppState, CommitInfo, Ended, HistoryEntry, Persisted, Phase, Pin, PruneHeld, Trigger,
};
pub use views::{SharedViews, ViewError, Views};

use crate::cluster::Cluster;
use crate::config::{AppConfig, Config};
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::pass::{self, CapabilitiesCache, HashKeys, Renderer, Tools};
use crate::plan::CompactPlan;
use crate::sync::{ObjectDiff, SyncOptions};

/// A request to an app's reconcile task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Reconcile now (manual "Sync now"; also retries a failed revision).
    Sync,
    /// A push was announced for this app's repository and branch.
    Webhook,
    /// Apply this revision of the history and stay there until unpinned or a new commit.
    Rollback(String),
    /// Lift a pin and follow the branch again.
    Unpin,
    /// Let the held prune of this revision (a full SHA, or empty for the one held now) go
    /// ahead: one sync, that revision only.
    ConfirmPrune(String),
}

/// What an app task does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// This replica leads (or runs alone): reconcile and write.
    Lead,
    /// Another replica leads: show what it stored, write nothing.
    Follow,
    Stop,
}

/// What the outside holds of one running app.
#[derive(Clone)]
pub struct AppHandle {
    pub state: watch::Receiver<Arc<AppState>>,
    pub commands: mpsc::Sender<Command>,
    /// The plan of the revision last synced (or being synced): what git wants.
    pub desired: watch::Receiver<Option<Arc<Desired>>>,
    /// The agent's answers about the cluster (shared by all apps).
    pub views: SharedViews,
    /// The replica that holds this app's shard, while another one does (`--shards`): where
    /// its commands are forwarded. None when running unsharded (see the leader's address).
    pub owner: watch::Receiver<Option<lease::LeaderAddress>>,
    /// What the app's own account may see, for readers of its live views.
    pub looks: looks::Looks,
}

/// One revision's plan and the options it is synced with. Kept until the next sync, for
/// diffs: with its manifests as text (see `plan::CompactPlan`).
pub struct Desired {
    pub revision: String,
    pub plan: CompactPlan,
    pub options: SyncOptions,
    /// The app's own client (its impersonated `serviceAccountName`), for what readers ask
    /// about its objects: a reader sees through ordo only what the app itself may read.
    /// `None`: the app runs as ordo's account.
    pub reader: Option<crate::cluster::Cluster>,
}

impl AppHandle {
    /// Whether a reader may see `look` (children and events, or logs) in `namespace`: always
    /// for an app that runs as ordo's account, else what its ServiceAccount may read.
    pub async fn may_look(&self, namespace: &str, look: Look) -> Result<bool, ViewError> {
        let reader = self
            .desired
            .borrow()
            .as_ref()
            .and_then(|d| d.reader.clone());
        match reader {
            Some(reader) => self.looks.may(&reader, namespace, look).await,
            None => Ok(true),
        }
    }

    /// Desired vs live for the app's current revision (every object, or the one whose id is
    /// `object`), by server-side dry run through the agent's client; writes nothing.
    /// `Ok(None)` before the first plan. Cached until the app's state moves.
    pub async fn diff(&self, object: Option<&str>) -> Result<Option<Vec<ObjectDiff>>, ViewError> {
        let Some(desired) = self.desired.borrow().clone() else {
            return Ok(None);
        };
        let version = self.state.borrow().version;
        Ok(Some(self.views.diff(&desired, object, version).await?))
    }

    /// One of the app's live objects as YAML (Secret values redacted), read with the app's
    /// own identity: `None` when it does not exist or the app may not read it.
    pub async fn live_yaml(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<String>, ViewError> {
        let (reader, redact) = match self.desired.borrow().as_ref() {
            Some(d) => (d.reader.clone(), d.options.redact.clone()),
            None => (None, Arc::default()),
        };
        let yaml = self
            .views
            .live_yaml(reader.as_ref(), api_version, kind, namespace, name)
            .await?;
        // What the revision decrypted shows in the live object too (a ConfigMap holding a
        // SOPS-encrypted value): cut out as in diffs.
        Ok(yaml.map(|y| redact.scrub(&y)))
    }
}

/// The running agent: app handles by name, and the tasks behind them.
pub struct Agent {
    pub apps: BTreeMap<String, AppHandle>,
    /// What readers may ask about the cluster (readiness, request counts).
    pub views: SharedViews,
    /// Where the apps' events go; its `deliveries()` are shown on the status page.
    pub notifier: Notifier,
    tasks: JoinSet<()>,
    shutdown: watch::Sender<bool>,
    /// One per shard.
    modes: Vec<watch::Sender<Mode>>,
}

/// One shard of apps as the agent runs it: whether this replica holds it, who does
/// otherwise, and a client whose write fence follows its lease.
pub struct Shard {
    pub leader: watch::Receiver<bool>,
    pub owner: watch::Receiver<Option<lease::LeaderAddress>>,
    pub cluster: Cluster,
}

impl Agent {
    /// Starts one task per app. They reconcile while `leader` is true (pass a channel that
    /// stays true to run alone) and stand by, writing nothing, while it is false.
    pub fn start(
        config: &Config,
        cluster: Cluster,
        cache_dir: PathBuf,
        metrics: Arc<Metrics>,
        leader: watch::Receiver<bool>,
    ) -> Agent {
        Self::start_keyed(config, cluster, cache_dir, metrics, leader, None)
    }

    /// [`Agent::start`], reading the config-hash key from `key_namespace` (ordo's own), or
    /// when None from each app's namespace.
    pub fn start_keyed(
        config: &Config,
        cluster: Cluster,
        cache_dir: PathBuf,
        metrics: Arc<Metrics>,
        leader: watch::Receiver<bool>,
        key_namespace: Option<String>,
    ) -> Agent {
        let shard = Shard {
            leader,
            owner: watch::channel(None).1,
            cluster: cluster.clone(),
        };
        Self::start_sharded(
            config,
            cluster,
            cache_dir,
            metrics,
            vec![shard],
            key_namespace,
        )
    }

    /// [`Agent::start_keyed`] with apps spread over `shards` (`shards::shard_of`): each app
    /// reconciles while its shard is held here and writes through its shard's client.
    pub fn start_sharded(
        config: &Config,
        cluster: Cluster,
        cache_dir: PathBuf,
        metrics: Arc<Metrics>,
        shards: Vec<Shard>,
        key_namespace: Option<String>,
    ) -> Agent {
        let (shutdown, stop) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut modes = Vec::new();
        let mut mode_rxs = Vec::new();
        for shard in &shards {
            let initial = if *shard.leader.borrow() {
                Mode::Lead
            } else {
                Mode::Follow
            };
            let (mode, mode_rx) = watch::channel(initial);
            tasks.spawn(follow_leadership(
                shard.leader.clone(),
                mode.clone(),
                stop.clone(),
            ));
            modes.push(mode);
            mode_rxs.push(mode_rx);
        }
        let views: SharedViews = Arc::new(Views::new(cluster.clone()));
        let repos = config.apps.iter().map(|a| (a.name.clone(), a.repo.clone()));
        let notifier = Notifier::start(&config.notifications, repos.collect(), metrics.clone());
        let renderer = Arc::new(Renderer::new(Tools::from_env()));
        let capabilities = Arc::new(CapabilitiesCache::default());
        let hash_keys = Arc::new(HashKeys::new(key_namespace));
        let peers = Peers::default();
        let slots = Arc::new(tokio::sync::Semaphore::new(
            config.max_concurrent_syncs.max(1),
        ));
        // One context per shard: its client (and write fence), everything else shared.
        let contexts: Vec<Arc<reconcile::Context>> = shards
            .iter()
            .map(|shard| {
                Arc::new(reconcile::Context {
                    cluster: shard.cluster.clone(),
                    cache_dir: cache_dir.clone(),
                    metrics: metrics.clone(),
                    reader: pass::Reader {
                        renderer: renderer.clone(),
                        target: Some(pass::Target {
                            cluster: shard.cluster.clone(),
                            keys: hash_keys.clone(),
                            capabilities: capabilities.clone(),
                        }),
                    },
                    hash_keys: hash_keys.clone(),
                    peers: peers.clone(),
                    notifier: notifier.clone(),
                    slots: slots.clone(),
                })
            })
            .collect();
        for (key, sharing) in config.shared_decryption_keys() {
            tracing::warn!(
                key = %key,
                apps = %sharing.join(", "),
                "apps share one decryption key: each can decrypt what the others' repositories \
                 hold; give each app (team) its own key"
            );
        }
        let mut apps = BTreeMap::new();
        let count = u32::try_from(shards.len()).unwrap_or(1);
        for app in &config.apps {
            metrics.register_app(&app.name);
            let i = shards::shard_of(&app.name, count) as usize;
            let (Some(shard), Some(mode), Some(context)) =
                (shards.get(i), mode_rxs.get(i), contexts.get(i))
            else {
                continue;
            };
            let (handle, task) = spawn_app(app.clone(), (context, &views), shard, mode.clone());
            tasks.spawn(task);
            apps.insert(app.name.clone(), handle);
        }
        let _ = peers.set(
            apps.iter()
                .map(|(name, h)| (name.clone(), h.state.clone()))
                .collect(),
        );
        // Repositories no app uses any more leave the git cache (source/cache_gc.rs).
        let repos = config.apps.iter().map(|a| a.repo.clone()).collect();
        let cache = cache_dir.clone();
        tasks.spawn(crate::source::collect_garbage_until(
            cache,
            repos,
            stop.clone(),
        ));
        tasks.spawn(log_requests(cluster, stop));
        Agent {
            apps,
            views,
            notifier,
            tasks,
            shutdown,
            modes,
        }
    }

    /// Asks every app to stop after the object it is working on, and waits for them.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        for mode in &self.modes {
            let _ = mode.send(Mode::Stop);
        }
        while self.tasks.join_next().await.is_some() {}
    }

    /// The current snapshot of every app.
    pub fn snapshot(&self) -> Vec<Arc<AppState>> {
        self.apps
            .values()
            .map(|h| h.state.borrow().clone())
            .collect()
    }
}

/// Turns leadership changes into the apps' mode.
async fn follow_leadership(
    mut leader: watch::Receiver<bool>,
    mode: watch::Sender<Mode>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            changed = leader.changed() => {
                if changed.is_err() {
                    return;
                }
                let next = if *leader.borrow_and_update() { Mode::Lead } else { Mode::Follow };
                mode.send_if_modified(|m| {
                    let changed = *m != next && *m != Mode::Stop;
                    if changed {
                        *m = next;
                    }
                    changed
                });
            }
        }
    }
}

/// Once a minute, the API requests of the last minute by verb: what the agent costs the API
/// server (metrics will carry the same counters).
async fn log_requests(cluster: Cluster, mut stop: watch::Receiver<bool>) {
    let mut previous = cluster.requests().snapshot();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
        }
        let now = cluster.requests().snapshot();
        let mut by_verb: BTreeMap<String, u64> = BTreeMap::new();
        for (key, n) in &now {
            let before = previous.get(key).copied().unwrap_or(0);
            let dry = if key.dry_run { " (dry run)" } else { "" };
            *by_verb.entry(format!("{}{dry}", key.verb)).or_default() += n - before;
        }
        by_verb.retain(|_, n| *n > 0);
        let total: u64 = by_verb.values().sum();
        tracing::info!(total, requests = ?by_verb, "API requests in the last minute");
        previous = now;
    }
}

/// The apps' state receivers by name.
pub(crate) type PeerStates = BTreeMap<String, watch::Receiver<Arc<AppState>>>;
/// [`PeerStates`], set once at start when every app exists.
pub(crate) type Peers = Arc<std::sync::OnceLock<PeerStates>>;

fn spawn_app(
    config: AppConfig,
    (context, views): (&Arc<reconcile::Context>, &SharedViews),
    shard: &Shard,
    mode: watch::Receiver<Mode>,
) -> (
    AppHandle,
    impl std::future::Future<Output = ()> + Send + 'static,
) {
    let mut initial = AppState::new(
        &config.name,
        &config.repo,
        &config.reference,
        &config.path,
        &config.namespace,
    );
    initial.policy_wider = config.allow.wider_than(&config.namespace);
    if let Some(wider) = &initial.policy_wider {
        tracing::warn!(
            app = %config.name,
            wider = %wider,
            platform = config.platform,
            "app may write beyond its own namespace (its allow list says so); narrow allow \
             unless that is intended"
        );
    }
    let (state_tx, state_rx) = watch::channel(Arc::new(initial));
    let span = tracing::info_span!("app", app = %config.name);
    let (command_tx, command_rx) = mpsc::channel(16);
    let (desired_tx, desired_rx) = watch::channel(None);
    let mode_for_supervisor = mode.clone();
    let app = reconcile::App::new(
        config,
        context.clone(),
        desired_tx,
        state_tx,
        command_rx,
        mode,
    );
    (
        AppHandle {
            state: state_rx,
            commands: command_tx,
            desired: desired_rx,
            views: views.clone(),
            owner: shard.owner.clone(),
            looks: looks::Looks::default(),
        },
        supervise::supervise(app, mode_for_supervisor).instrument(span),
    )
}
