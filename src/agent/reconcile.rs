//! One app's reconcile task: decides when to sync and which revision, runs the shared sync,
//! records history, rolls back a failed revision, and keeps the drift watch on what it owns.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::sleep;
use tracing::{Instrument, info, warn};

use super::decide::{self, seed, short};
use super::drift::DriftInbox;
use super::progress::{self, publish};
use super::state::{self, AppState, Ended, Phase, Trigger, now};
use super::{Command, Desired, Mode, store};
use crate::cluster::Cluster;
use crate::config::{AppConfig, jittered};
use crate::metrics::Metrics;
use crate::pass::{self, AppSpec, Cancelled, HashKeys};
use crate::plan::{CompactPlan, Plan};
use crate::source::{self, CommitInfo};
use crate::sync::{SyncError, SyncOptions, SyncReport};

mod notice;
mod outcome;
mod read;
mod stored;
mod waits;

/// What the app tasks of one shard share: the clients and the limits, built once. Each task
/// holds it by `Arc` and keeps its own memory in [`App`].
pub(super) struct Context {
    /// The shard's client (its write fence), ordo's own identity.
    pub cluster: Cluster,
    pub cache_dir: PathBuf,
    pub metrics: Arc<Metrics>,
    /// What a pass reads with: the renderer every app shares (renders are cached by their
    /// inputs), the config-hash keys and the cluster's capabilities.
    pub reader: pass::Reader,
    pub hash_keys: Arc<HashKeys>,
    pub peers: super::Peers,
    pub notifier: crate::notify::Notifier,
    /// `maxConcurrentSyncs`: a sync (read, render, apply, wait) holds one; FIFO, so an app
    /// that syncs often queues behind the others instead of starving them.
    pub slots: Arc<tokio::sync::Semaphore>,
}

pub(super) struct App {
    config: AppConfig,
    ctx: Arc<Context>,
    desired: watch::Sender<Option<Arc<Desired>>>,
    /// The app as a pass reads it, resolved once from `config`.
    spec: AppSpec,
    state: watch::Sender<Arc<AppState>>,
    commands: mpsc::Receiver<Command>,
    mode: watch::Receiver<Mode>,
    /// The revision the cluster holds, when known.
    applied: Option<CommitInfo>,
    drift_task: Option<JoinHandle<()>>,
    drift_inbox: Arc<DriftInbox>,
    /// A command that arrived while a sync ran.
    pending: Option<Command>,
    /// Objects as the last sync left them: lets the next sync skip their dry runs.
    memory: pass::SyncMemory,
    /// When the stored pin was last read.
    pin_checked: Option<tokio::time::Instant>,
    /// The stored state's version as this task last read or wrote it (None: nothing stored).
    stored_version: Option<String>,
    /// Every app's stored state, from the one watch they share (see `store::watched`).
    stored_watch: Option<Arc<crate::cluster::Group>>,
    /// The same where an older ordo kept states, while this app's may still be there.
    legacy_watch: Option<Arc<crate::cluster::Group>>,
    /// A held prune someone confirmed, for this revision only.
    confirmed_prune: Option<String>,
    /// When a partly applied revision is tried again.
    retry: decide::RetryBackoff,
    /// Where the app's state is stored (ordo's namespace).
    state_at: store::StateAt,
    /// The pin as this task last read or wrote it: a different stored pin was set by someone
    /// else (`ordo rollback`/`unpin`, the API of another replica) and wins.
    stored_pin: Option<super::state::Pin>,
    /// The client the app's syncs and drift watch use: ordo's own, or impersonating the
    /// app's `serviceAccountName` (never ordo's own when that cannot be built).
    apply_as: Result<Cluster, Arc<crate::cluster::ClusterError>>,
    notices: notice::Notices,
    /// The inputs of the revision in `applied` (see `pass::Inputs`).
    applied_inputs: Option<pass::Inputs>,
    /// When the last webhook for this app arrived: the listing its pass uses must be newer.
    announced: Option<tokio::time::Instant>,
    /// The last pass stopped to wait for the apps of `dependsOn`.
    waiting_on_deps: bool,
}

impl App {
    pub(super) fn new(
        mut config: AppConfig,
        ctx: Arc<Context>,
        desired: watch::Sender<Option<Arc<Desired>>>,
        state: watch::Sender<Arc<AppState>>,
        commands: mpsc::Receiver<Command>,
        mode: watch::Receiver<Mode>,
    ) -> Self {
        let apply_as = match &config.service_account_name {
            Some(account) => ctx
                .cluster
                .impersonating(&format!(
                    "system:serviceaccount:{}:{account}",
                    config.namespace
                ))
                .map_err(Arc::new),
            None => Ok(ctx.cluster.clone()),
        };
        let own_namespace = ctx.hash_keys.own_namespace();
        let state_at = store::StateAt::new(own_namespace, &config.namespace);
        if !config.platform {
            config.allow.closed_namespace = own_namespace.map(str::to_owned);
        }
        App {
            spec: AppSpec::from_config(&config, &ctx.cache_dir),
            state_at,
            apply_as,
            config,
            desired,
            state,
            commands,
            mode,
            applied: None,
            drift_task: None,
            drift_inbox: Arc::default(),
            pending: None,
            memory: pass::SyncMemory::default(),
            pin_checked: None,
            stored_version: None,
            stored_watch: None,
            legacy_watch: None,
            confirmed_prune: None,
            retry: Default::default(),
            stored_pin: None,
            notices: notice::Notices::new(ctx.notifier.clone()),
            ctx,
            announced: None,
            waiting_on_deps: false,
            applied_inputs: None,
        }
    }

    fn update(&self, change: impl FnOnce(&mut AppState)) {
        publish(&self.state, change);
    }

    /// Not (or no longer) the one that writes: shutting down, or another replica leads.
    fn stopped(&self) -> bool {
        *self.mode.borrow() != Mode::Lead
    }

    pub(super) async fn run(&mut self) {
        loop {
            let mode = *self.mode.borrow_and_update();
            match mode {
                Mode::Stop => break,
                Mode::Follow => self.follow().await,
                Mode::Lead => {
                    info!(app = %self.config.name, "leading: reconciling");
                    self.lead().await;
                    // Whatever runs next starts from what is stored, not from this run's memory.
                    if let Some(task) = self.drift_task.take() {
                        task.abort();
                    }
                    self.applied = None;
                    self.memory.forget();
                }
            }
        }
        info!(app = %self.config.name, "stopped");
    }

    /// A replica that does not lead shows what the leader stored, and writes nothing.
    async fn follow(&mut self) {
        info!(app = %self.config.name, "standing by: another replica leads");
        self.update(|s| {
            s.phase = Phase::Standby;
            s.current_step = None;
        });
        let every = self.config.interval.max(Duration::from_secs(5));
        loop {
            let stored = match self.stored_from_watch(Duration::ZERO).await {
                Some(stored) => stored.map(|s| s.state),
                None => store::load(&self.ctx.cluster, &self.config.name, &self.state_at).await,
            };
            match stored {
                Ok(persisted) => self.update(|s| {
                    s.show_stored(persisted);
                    s.last_error = None;
                    s.reconciled_at = Some(now());
                }),
                Err(e) => self.update(|s| s.last_error = Some(e.to_string())),
            }
            tokio::select! {
                _ = self.mode.changed() => return,
                Some(cmd) = self.commands.recv() => {
                    warn!(app = %self.config.name, command = ?cmd, "not the leader: command dropped");
                }
                _ = sleep(every) => {}
            }
        }
    }

    async fn lead(&mut self) {
        // Boxed, as the pass below: an app's task is mostly idle here, and an unboxed pass
        // would size every idle task's future for the deepest await of a sync (kilobytes
        // each, a thousand apps).
        Box::pin(self.restore()).await;
        let mut trigger = Some(Trigger::Start);
        let seed = seed(&self.config.name);
        let mut round = 0u64;
        while !self.stopped() {
            if let Some(t) = trigger.take() {
                Box::pin(self.reconcile(t)).await;
                self.update(|s| s.reconciled_at = Some(now()));
                if let Some(cmd) = self.pending.take() {
                    trigger = self.command(cmd);
                    continue;
                }
            }
            round += 1;
            let wait = jittered(self.config.interval, seed ^ round);
            tokio::select! {
                _ = self.mode.changed() => continue,
                Some(cmd) = self.commands.recv() => trigger = self.command(cmd),
                batch = self.drift_inbox.take() => {
                    for (d, times) in batch {
                        self.on_drift(d, times);
                    }
                }
                _ = sleep(wait) => trigger = Some(Trigger::Interval),
                // Its dependencies turned Healthy and Synced: go on now, not at the interval.
                _ = waits::dependencies_ready(&self.ctx.peers, &self.config.depends_on), if self.waiting_on_deps => {
                    trigger = Some(Trigger::Interval);
                }
            }
        }
    }

    fn command(&mut self, cmd: Command) -> Option<Trigger> {
        match cmd {
            Command::Sync => {
                self.update(|s| s.persisted.request_sync());
                Some(Trigger::Manual)
            }
            Command::Webhook => {
                self.announced = Some(tokio::time::Instant::now());
                Some(Trigger::Webhook)
            }
            Command::Rollback(revision) => {
                self.ctx.metrics.rollback(&self.config.name);
                let head = self.state.borrow().head.clone().unwrap_or_default();
                self.update(|s| s.persisted.pin_rollback(revision, head));
                Some(Trigger::Rollback)
            }
            Command::Unpin => {
                self.update(|s| s.persisted.unpin());
                Some(Trigger::Manual)
            }
            Command::ConfirmPrune(revision) => {
                let held = self.state.borrow().prune_held.clone();
                self.confirmed_prune = decide::confirmable(held.as_ref(), &revision);
                self.confirmed_prune.as_ref().map(|_| Trigger::Manual)
            }
        }
    }

    async fn reconcile(&mut self, trigger: Trigger) {
        self.update(|s| s.phase = Phase::Fetching);
        self.adopt_external_pin().await;
        let spec = self.config.repo_spec();
        let asked = std::time::Instant::now();
        let now = tokio::time::Instant::now();
        let since = decide::fresh_since(trigger, self.config.interval, self.announced.take(), now);
        let head = source::remote_head_since(spec, since).await;
        self.ctx.metrics.git_fetch(
            &self.config.name,
            head.is_ok(),
            asked.elapsed().as_secs_f64(),
        );
        let head = match head {
            Ok(h) => h,
            Err(e) => {
                // Keep what is applied; say why; the next interval retries.
                warn!(app = %self.config.name, error = %e, "source unreachable");
                self.notices
                    .source_error(&self.config.name, "", &e.to_string());
                self.update(|s| {
                    s.phase = Phase::Idle;
                    s.last_error = Some(format!("source: {e}"));
                });
                return;
            }
        };
        self.update(|s| s.head = Some(head.clone()));
        let pin = self.state.borrow().persisted.pin.clone();
        let target = decide::target(pin.as_ref(), &head);
        if target.drop_pin {
            self.update(|s| s.persisted.pin = None);
        }
        // Drift is the drift watch's business (healed with backoff, or reported): a routine
        // trigger does not re-apply a revision the cluster already holds because of it.
        let (failed, synced_at) = {
            let s = self.state.borrow();
            let synced = self.applied.as_ref().map(|a| a.sha.clone());
            (s.persisted.failed_revision.clone(), synced)
        };
        if !decide::should_sync(
            trigger,
            &target.revision,
            failed.as_deref(),
            synced_at.as_deref(),
        ) || self
            .retry
            .holds(trigger, &target.revision, tokio::time::Instant::now())
        {
            self.update(|s| s.phase = Phase::Idle);
            return;
        }
        self.waiting_on_deps = false;
        if let Some(waiting) = decide::waiting_for(&self.config.depends_on, self.ctx.peers.get()) {
            self.waiting_on_deps = true;
            self.update(|s| {
                s.phase = Phase::Idle;
                s.current_step = Some(waiting);
            });
            return;
        }
        let Some(_slot) = self.sync_slot().await else {
            return;
        };
        let pinned = target.pinned;
        let target = target.revision;
        let span = tracing::info_span!("sync", revision = %short(&target), trigger = ?trigger);
        let ended = self.sync_revision(&target, trigger).instrument(span).await;
        self.retry
            .after(ended, &target, tokio::time::Instant::now());
        if decide::rolls_back(ended, self.config.on_failure, pinned) {
            self.roll_back_from(&target, &head).await;
        }
        self.update(|s| {
            s.phase = Phase::Idle;
            s.current_step = None;
        });
    }

    /// A pass that read nothing it could use, through no fault of the commit (git, the
    /// config-hash key): said on the page and to the receivers, retried later.
    fn unread(&self, target: &str, e: &pass::PassError) -> Ended {
        let message = match e.stage {
            pass::Stage::Fetch if !e.message.starts_with("source: ") => format!("source: {e}"),
            _ => e.message.clone(),
        };
        self.notices
            .source_error(&self.config.name, target, &message);
        self.update(|s| s.last_error = Some(message));
        pass::not_applied(e)
    }

    async fn roll_back_from(&mut self, failed: &str, head: &str) {
        let Some(good) = self.state.borrow().persisted.last_healthy.clone() else {
            return;
        };
        if good == failed {
            return;
        }
        self.ctx.metrics.rollback(&self.config.name);
        info!(app = %self.config.name, from = %failed, to = %good, "rolling back");
        self.update(|s| {
            s.phase = Phase::RollingBack;
            s.persisted.pin_automatic(&good, failed, head);
        });
        let span =
            tracing::info_span!("sync", revision = %short(&good), trigger = ?Trigger::Rollback);
        self.sync_revision(&good, Trigger::Rollback)
            .instrument(span)
            .await;
    }

    /// Fetches, plans and syncs one revision; records the outcome.
    async fn sync_revision(&mut self, target: &str, trigger: Trigger) -> Ended {
        let started = now();
        // A routine pass over a commit that left this app's inputs as the cluster holds them
        // (another app's directory changed) records the commit without a render or a sync.
        let unchanged = match trigger {
            Trigger::Interval | Trigger::Webhook if self.applied.is_some() => self.applied_inputs,
            _ => None,
        };
        let read = match self.read_revision(target, unchanged).await {
            Ok(read) => read,
            Err(e) => return self.unread(target, &e),
        };
        let (commit, inputs) = (read.commit, read.inputs);
        let (plan, secrets) = match read.planned {
            Ok(pass::Planned::Unchanged) => {
                self.advance_unchanged(commit, trigger).await;
                return Ended::Succeeded;
            }
            Ok(pass::Planned::Plan { plan, secrets }) => (plan, secrets),
            Err(e) if e.is_commit_fault() => {
                let message = format!(
                    "revision {} cannot be applied: {}",
                    short(&commit.sha),
                    e.message
                );
                warn!(app = %self.config.name, revision = %commit.sha, stage = e.stage.as_str(), error = %e.message, "bad commit");
                let ended = pass::not_applied(&e);
                self.finish(&commit, trigger, (started, ended), Err(&message))
                    .await;
                return ended;
            }
            Err(e) if e.is_transient() => {
                // Not the commit's fault (a chart repository's 5xx, a full disk, the key
                // Secret): retried with a growing delay, never recorded as failed.
                let message = format!(
                    "revision {} not read: {}; will retry",
                    short(&commit.sha),
                    e.message
                );
                warn!(app = %self.config.name, revision = %commit.sha, stage = e.stage.as_str(), error = %e.message, "cannot plan the revision now; will retry");
                self.notices
                    .source_error(&self.config.name, target, &message);
                self.update(|s| s.last_error = Some(message));
                return pass::not_applied(&e);
            }
            Err(e) => return self.unread(target, &e),
        };
        // The watch guards the previous revision: it must not "heal" what this sync changes.
        if let Some(task) = self.drift_task.take() {
            task.abort();
        }
        self.drift_inbox.clear();
        self.update(|s| {
            s.phase = if trigger == Trigger::Rollback {
                Phase::RollingBack
            } else {
                Phase::Syncing
            };
        });
        self.notices
            .sync_started(&self.config.name, &commit, trigger);
        let (ended, report) = self.run_sync(&plan, &commit, secrets).await;
        match &report {
            // The API server was unreachable: not the commit's fault. Say so and let the
            // next interval try again, without marking the revision failed.
            Err(SyncError::Cluster(e)) if ended == Ended::Retry => {
                warn!(app = %self.config.name, error = %e, "cluster unreachable; will retry");
                self.update(|s| s.last_error = Some(format!("cluster: {e}")));
                return Ended::Retry;
            }
            Ok(r) => self.finish(&commit, trigger, (started, ended), Ok(r)).await,
            Err(e) => {
                self.finish(&commit, trigger, (started, ended), Err(&e.to_string()))
                    .await
            }
        }
        if let Ok(r) = &report {
            self.update(|s| {
                s.resources = state::resources(&plan, Some(r));
                s.health = r.health;
                s.show_prune(&commit.sha, r);
            });
        }
        if ended == Ended::Succeeded {
            self.applied = Some(commit);
            self.applied_inputs = Some(inputs);
            let baseline = report.map(|r| r.live).unwrap_or_default();
            self.watch_drift(&plan, baseline).await;
        } else {
            // The cluster may hold part of this revision: no revision is known to be applied.
            self.applied = None;
            self.applied_inputs = None;
        }
        ended
    }

    /// Runs the sync; a newer head or a shutdown cancels it (in-flight requests finish).
    async fn run_sync(
        &mut self,
        plan: &Plan,
        commit: &CommitInfo,
        secrets: Arc<pass::Secrets>,
    ) -> (Ended, Result<SyncReport, SyncError>) {
        let (cancel, cancelled) = watch::channel(None);
        let mut options = SyncOptions::new(self.config.name.clone(), self.config.namespace.clone());
        options.prune = self.config.prune;
        options.allow_empty = self.config.allow_empty;
        options.prune_guard = self.config.prune_guard.clone();
        options.allow = self.config.allow.clone();
        options.redact = secrets;
        options.confirm_prune = self.confirmed_prune.take().as_ref() == Some(&commit.sha);
        options.timeout = self.config.timeout;
        options.revision = commit.sha.clone();
        // What git wants, for diffs asked over HTTP while (and after) this sync runs; the
        // reporter publishes it once the sync's checks passed.
        let desired = Arc::new(Desired {
            revision: commit.sha.clone(),
            plan: CompactPlan::new(plan),
            options: options.clone(),
            reader: self
                .config
                .service_account_name
                .as_ref()
                .and_then(|_| self.apply_as.as_ref().ok().cloned()),
        });
        let listed = state::resources(plan, None);
        let reporter =
            progress::reporter(self.state.clone(), (self.desired.clone(), desired), listed);
        let cluster = match &self.apply_as {
            Ok(cluster) => cluster.clone(),
            Err(e) => {
                let refused = Err(SyncError::Cluster(crate::cluster::ClusterError::Config(
                    format!("cannot act as the app's serviceAccountName: {e}"),
                )));
                return (pass::ended(&refused, None), refused);
            }
        };
        let spec = self.config.repo_spec();
        let poll = self.config.interval.max(Duration::from_secs(1));
        // The memory is lent to the sync while it runs, and comes back with what it learned.
        let mut memory = std::mem::take(&mut self.memory);
        let (ended, result) = {
            let sync = pass::sync(&cluster, plan, options, reporter, (cancelled, &mut memory));
            tokio::pin!(sync);
            let cut_short = |why| {
                // The first reason stands: a shutdown after a newer head is still a supersession.
                cancel.send_if_modified(|c| c.is_none() && c.replace(why).is_none());
            };
            loop {
                tokio::select! {
                    ended = &mut sync => break ended,
                    _ = self.mode.changed(), if cancel.borrow().is_none() => {
                        if self.stopped() {
                            cut_short(Cancelled::Stopping);
                        }
                    }
                    Some(cmd) = self.commands.recv(), if self.pending.is_none() => {
                        // A rollback or unpin outranks the running sync; anything else waits.
                        if matches!(cmd, Command::Rollback(_) | Command::Unpin) {
                            cut_short(Cancelled::Superseded);
                        }
                        self.pending = Some(cmd);
                    }
                    _ = sleep(poll), if cancel.borrow().is_none() => {
                        let since = tokio::time::Instant::now().checked_sub(poll).unwrap_or_else(tokio::time::Instant::now);
                        if let Ok(head) = source::remote_head_since(spec.clone(), since).await
                            && head != commit.sha
                            && self.state.borrow().persisted.pin.is_none()
                        {
                            info!(app = %self.config.name, newer = %head, "newer revision: cancelling the running sync");
                            self.pending.get_or_insert(Command::Webhook);
                            cut_short(Cancelled::Superseded);
                        }
                    }
                }
            }
        };
        self.memory = memory;
        (ended, result)
    }
}

impl super::supervise::Supervised for App {
    fn run(&mut self) -> impl std::future::Future<Output = ()> + Send {
        App::run(self)
    }

    fn went_down(&mut self, why: &str, delay: Duration) {
        if let Some(task) = self.drift_task.take() {
            task.abort();
        }
        self.drift_inbox.clear();
        self.ctx.metrics.task_restart(&self.config.name);
        let down = format!("{why}; restarting in {} s", delay.as_secs());
        self.update(|s| s.task_down = Some(down));
    }

    fn came_back(&mut self) {
        // Start again from what is stored, not from the memory of the run that went down.
        self.applied = None;
        self.memory.forget();
        self.pending = None;
        self.update(|s| s.task_down = None);
    }
}
