//! One ordered, health-gated sync of a plan to a cluster: read live state, validate everything
//! with a server-side dry run before the first write, walk the dependency graph applying only
//! what differs and waiting for health, run post-sync hooks, prune what left git.
//!
//! Decisions live in pure functions (`applyset`, `diff::compare`, `health::assess`, the plan's
//! graph); this module sequences I/O around them.

pub mod allow;
pub mod applyset;
mod compare;
mod hooks;
mod live;
mod prepare;
mod prune;
pub mod prune_guard;
mod report;
mod schedule;
mod walk;
mod why;

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use thiserror::Error;
use tokio::time::Instant;

pub use allow::AllowList;
pub use applyset::ApplySet;
pub use compare::{Comparison, apply, compare, dry_run};
pub use prune_guard::PruneGuard;
pub use report::{Action, Event, ObjectReport, Outcome, SyncReport};

use crate::cluster::{Cluster, ClusterError};
use crate::plan::{HookPhase, Plan};

#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// App name: names the ApplySet parent (`ordo-<app>`).
    pub app: String,
    /// Namespace of the ApplySet parent.
    pub namespace: String,
    /// Delete owned objects that left git.
    pub prune: bool,
    /// Allow pruning everything when the desired set is empty.
    pub allow_empty: bool,
    /// What prune never deletes and when it asks first.
    pub prune_guard: PruneGuard,
    /// A prune held by the guard (too large, or `Prune=confirm`) goes ahead.
    pub confirm_prune: bool,
    /// Where the app may write: checked before the dry run, and by prune.
    pub allow: AllowList,
    /// Values decrypted from SOPS files for this revision: cut out of every diff whatever
    /// the kind holding them (a ConfigMap, a custom resource), as Secrets' values are.
    pub redact: std::sync::Arc<crate::render::Secrets>,
    /// Validate and diff only; write nothing.
    pub dry_run: bool,
    /// Bound on the whole sync, health waits included.
    pub timeout: Duration,
    /// Take over fields owned by other field managers.
    pub force_conflicts: bool,
    /// Take ownership of existing objects that ordo did not create.
    pub adopt: bool,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Keep each object's dry-run result (for showing diffs); off, it is dropped once compared.
    pub keep_dry_run: bool,
    /// Identifies the desired state (commit SHA or content hash): hooks re-run when it changes.
    pub revision: String,
    /// When it turns true, requests in flight finish, nothing new starts and health waits
    /// end: a newer revision arrived, or the agent is shutting down.
    pub cancel: Option<tokio::sync::watch::Receiver<bool>>,
    /// Objects as the previous sync left them: one whose desired and live state both match
    /// is Synced without a dry run, so a one-object commit costs one dry run, not thousands.
    pub known: Option<Arc<Fingerprints>>,
}

/// Content hashes of one object's desired manifest and (normalized) live state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    desired: u64,
    live: u64,
}

impl Fingerprint {
    pub fn of(desired: &serde_json::Value, live: &serde_json::Value) -> Self {
        let hash = |v: &serde_json::Value| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            v.to_string().hash(&mut h);
            h.finish()
        };
        Fingerprint {
            desired: hash(desired),
            live: crate::diff::fingerprint(live),
        }
    }
}

/// By object id.
pub type Fingerprints = std::collections::HashMap<String, Fingerprint>;

impl SyncOptions {
    pub fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| *c.borrow())
    }
}

impl SyncOptions {
    pub fn new(app: impl Into<String>, namespace: impl Into<String>) -> Self {
        SyncOptions {
            app: app.into(),
            namespace: namespace.into(),
            prune: false,
            allow_empty: false,
            prune_guard: PruneGuard::default(),
            confirm_prune: false,
            allow: AllowList::default(),
            redact: Default::default(),
            dry_run: false,
            timeout: Duration::from_secs(300),
            force_conflicts: true,
            adopt: false,
            concurrency: 16,
            keep_dry_run: false,
            revision: String::new(),
            cancel: None,
            known: None,
        }
    }
}

#[derive(Debug, Error)]
pub enum SyncError {
    #[error("{0}")]
    Cluster(#[from] ClusterError),

    #[error(
        "nothing was applied: {} object(s) failed validation (server-side dry run):\n{}",
        .0.len(),
        .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n")
    )]
    Invalid(Vec<String>),

    #[error(
        "nothing was applied: {} object(s) already exist and are not managed by this app:\n{}\nre-run with --adopt to take them over",
        .0.len(),
        .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n")
    )]
    NotOwned(Vec<String>),

    #[error(
        "nothing was applied: ordo is not allowed to read or write {} object(s):\n{}\ngrant the permissions (RBAC) or remove them from the set",
        .0.len(),
        .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n")
    )]
    Forbidden(Vec<String>),

    #[error(
        "nothing was applied: {} object(s) are outside what this app may write:\n{}\nmove them, or widen the app's allow list in the config",
        .0.len(),
        .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n")
    )]
    NotAllowed(Vec<String>),

    #[error(
        "the desired set is empty and {0} owned object(s) would be pruned; refusing (set allowEmpty / --allow-empty to allow it)"
    )]
    EmptyPrune(usize),
}

/// Progress sink: the CLI prints events, the agent publishes them.
pub type Reporter = Arc<dyn Fn(&Event) + Send + Sync>;

/// Runs one sync. Ok(report) whatever the objects' health (the report says); Err when the
/// sync could not start or was refused before writing.
pub async fn sync(
    cluster: &Cluster,
    plan: &Plan,
    options: &SyncOptions,
    reporter: Reporter,
) -> Result<SyncReport, SyncError> {
    let started = Instant::now();
    let applyset = ApplySet::for_app(&options.app, &options.namespace);
    let writes_before = cluster.requests().writes();
    let mut state = prepare::prepare(cluster, plan, &applyset, options).await?;
    reporter(&Event::Validated {
        objects: state.objects.len(),
        to_change: state.to_change(),
        elapsed: started.elapsed(),
    });
    if options.dry_run {
        return Ok(report::finish(
            &state,
            prune::Pruned::default(),
            started,
            cluster,
            writes_before,
        ));
    }
    applyset::ensure_parent(cluster, plan, &mut state, &applyset, options, true).await?;
    let ctx = walk::Context {
        cluster,
        live: live::LiveView::new(cluster, applyset.hook_selector()),
        options,
        permits: tokio::sync::Semaphore::new(options.concurrency.max(1)),
        deadline: started + options.timeout,
        reporter: &reporter,
        started,
    };
    let mut pruned = prune::Pruned::default();
    // What the PreSync hooks need comes first (their config, their database), then they run.
    let before = hooks::needed_by(plan, &state, HookPhase::PreSync);
    if before.contains(&true) {
        walk::walk(&ctx, plan, &mut state, Some(&before)).await;
    }
    let ready = state.healthy_where(plan, &before);
    if ready && hooks::run_phase(&ctx, plan, &mut state, HookPhase::PreSync).await {
        walk::walk(&ctx, plan, &mut state, None).await;
        if state.all_healthy_but_hooks() {
            hooks::run_phase(&ctx, plan, &mut state, HookPhase::PostSync).await;
        }
    } else {
        state.block_all(&reason_pre_sync_failed(&state));
    }
    if !state.all_healthy() && !options.cancelled() {
        hooks::run_phase(&ctx, plan, &mut state, HookPhase::SyncFail).await;
    }
    hooks::mark_not_run(&mut state);
    let mut interrupted = None;
    if state.all_healthy() && options.prune {
        match prune_and_record(
            cluster, plan, &mut state, &applyset, options, &reporter, started,
        )
        .await
        {
            Ok(p) => pruned = p,
            // After the first write an error is no refusal: the cluster holds part of the
            // revision, and the report says so.
            Err(SyncError::EmptyPrune(n)) => return Err(SyncError::EmptyPrune(n)),
            Err(e) => interrupted = Some(format!("prune: {e}")),
        }
    }
    let mut report = report::finish(&state, pruned, started, cluster, writes_before);
    if report.interrupted.is_none() {
        report.interrupted = interrupted;
    }
    Ok(report)
}

/// Prunes, then records the remaining kinds and namespaces on the parent (held objects stay
/// recorded, so the confirmed prune still finds them).
async fn prune_and_record(
    cluster: &Cluster,
    plan: &Plan,
    state: &mut State,
    applyset: &ApplySet,
    options: &SyncOptions,
    reporter: &Reporter,
    started: Instant,
) -> Result<prune::Pruned, SyncError> {
    let pruned = prune::prune(cluster, plan, state, applyset, options, reporter, started).await?;
    if pruned.awaiting_confirmation.is_empty() {
        applyset::ensure_parent(cluster, plan, state, applyset, options, false).await?;
    }
    Ok(pruned)
}

/// Why nothing was applied: the PreSync hook that failed.
fn reason_pre_sync_failed(state: &State) -> String {
    let failed = state.objects.iter().find(|o| {
        o.hook
            .as_ref()
            .is_some_and(|h| h.runs_in(HookPhase::PreSync))
            && !matches!(o.report.outcome, Outcome::Healthy | Outcome::Pending)
    });
    match failed {
        Some(o) => format!("not applied: PreSync hook {} did not complete", o.report.id),
        None => "not applied: the PreSync hooks did not complete".to_owned(),
    }
}

/// One object's difference between git and the cluster.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDiff {
    pub id: String,
    pub status: crate::diff::SyncStatus,
    /// Unified YAML diff, Secret values redacted; empty when Synced.
    pub diff: String,
}

/// Desired vs live for every object of the plan, plus owned objects that left git. Writes
/// nothing.
pub async fn diff(
    cluster: &Cluster,
    plan: &Plan,
    options: &SyncOptions,
) -> Result<Vec<ObjectDiff>, SyncError> {
    let applyset = ApplySet::for_app(&options.app, &options.namespace);
    let options = &SyncOptions {
        keep_dry_run: true,
        ..options.clone()
    };
    let state = prepare::prepare(cluster, plan, &applyset, options).await?;
    // Hooks are not the app's resources: an instance deleted after it ran is not a difference.
    let mut diffs: Vec<ObjectDiff> = plan
        .order
        .iter()
        .filter(|&&i| state.objects[i].hook.is_none())
        .map(|&i| {
            let o = &state.objects[i];
            let desired = o.dry_run.as_ref().unwrap_or(&o.desired);
            let text = match o.status {
                crate::diff::SyncStatus::Synced => String::new(),
                _ => crate::diff::unified(&o.report.id, o.live.as_ref(), Some(desired)),
            };
            ObjectDiff {
                id: o.report.id.clone(),
                status: o.status,
                diff: options.redact.scrub(&text),
            }
        })
        .collect();
    for e in applyset::find_extraneous(cluster, plan, &state, &applyset).await? {
        diffs.push(ObjectDiff {
            id: e.id.to_string(),
            status: crate::diff::SyncStatus::Extraneous,
            diff: options.redact.scrub(&crate::diff::unified(
                &e.id.to_string(),
                Some(&e.live),
                None,
            )),
        });
    }
    Ok(diffs)
}

/// What the sync knows about each object of the plan, index-aligned with `plan.objects`.
pub(crate) struct State {
    pub objects: Vec<ObjectState>,
    /// Live parent, if it exists.
    pub parent: Option<Value>,
}

pub(crate) struct ObjectState {
    /// What ordo applies: the manifest with ownership label and config hash.
    pub desired: Value,
    pub resource: Option<crate::cluster::Resource>,
    pub live: Option<Value>,
    /// The server-side dry-run result: the object as it would be after applying.
    pub dry_run: Option<Value>,
    pub status: crate::diff::SyncStatus,
    /// Template changed on a kind whose template is immutable (Jobs) or with `ordo.dev/recreate`.
    pub recreate: bool,
    /// Custom resource whose CRD is applied in this same sync: validated once it exists.
    pub deferred: bool,
    /// Set for hooks: they run in their phase (`hooks.rs`), not with the others.
    pub hook: Option<crate::plan::Hook>,
    pub report: ObjectReport,
}

impl State {
    fn to_change(&self) -> usize {
        self.objects
            .iter()
            .filter(|o| o.status != crate::diff::SyncStatus::Synced)
            .count()
    }

    /// Every object Healthy, and every hook that ran completed (a hook that did not run yet
    /// does not count against it).
    fn all_healthy(&self) -> bool {
        self.objects.iter().all(|o| match &o.hook {
            None => o.report.outcome == Outcome::Healthy,
            Some(_) => matches!(
                o.report.outcome,
                Outcome::Healthy | Outcome::Pending | Outcome::NotRun
            ),
        })
    }

    /// Healthy apart from the hooks of later phases, which run only then.
    fn all_healthy_but_hooks(&self) -> bool {
        self.objects.iter().all(|o| {
            o.report.outcome == Outcome::Healthy
                || o.hook.as_ref().is_some_and(|h| !h.runs_in(HookPhase::Sync))
        })
    }

    /// Whether every object (hooks aside) among `nodes` is Healthy.
    fn healthy_where(&self, plan: &Plan, nodes: &[bool]) -> bool {
        plan.graph
            .nodes
            .iter()
            .zip(nodes)
            .all(|(n, wanted)| match n {
                crate::plan::Node::Object { index } if *wanted => {
                    let o = &self.objects[*index];
                    o.hook.is_some() || o.report.outcome == Outcome::Healthy
                }
                _ => true,
            })
    }

    /// After a failed PreSync hook nothing else is applied: every object still waiting says
    /// why.
    fn block_all(&mut self, reason: &str) {
        for o in &mut self.objects {
            if o.hook.is_none() && o.report.outcome == Outcome::Pending {
                o.report.outcome = Outcome::Blocked;
                o.report.message = Some(reason.to_owned());
            }
        }
    }
}
