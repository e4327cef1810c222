//! What the agent tells the outside about each app: an immutable snapshot per change, read by
//! the HTTP layer and `ordo status` without locks. Pure: built from the plan and sync reports.

use serde::{Deserialize, Serialize};

use crate::diff::SyncStatus;
use crate::health::HealthStatus;
use crate::metrics::render::{AppSample, ResourceSample};
pub use crate::pass::{Ended, SignatureState};
use crate::plan::{Plan, Tier};
pub use crate::source::CommitInfo;
use crate::sync::SyncReport;
pub use crate::sync::prune_guard::Withheld;
pub use crate::sync::{Action, Outcome};

/// Unix seconds now, for the timestamps the state carries.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// How many syncs the history keeps per app.
pub const HISTORY_LEN: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Waiting for the next trigger.
    Idle,
    Fetching,
    Syncing,
    RollingBack,
    /// Another replica holds the leader lease: this one shows what it stored.
    Standby,
}

/// Why a reconcile ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Start,
    Interval,
    Webhook,
    Manual,
    Drift,
    Rollback,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectTiming {
    pub id: String,
    pub action: Action,
    pub outcome: Outcome,
    pub applied_at: Option<f64>,
    pub healthy_at: Option<f64>,
}

/// One finished sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub revision: String,
    pub message: String,
    pub author: String,
    pub trigger: Trigger,
    /// Unix seconds.
    pub started: f64,
    pub finished: f64,
    /// One of [`Ended::RECORDED`].
    pub result: Ended,
    pub error: Option<String>,
    pub objects: Vec<ObjectTiming>,
}

/// A revision the app is held at: after a rollback, or asked for by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pin {
    pub revision: String,
    /// Why: "rolled back from <sha> to <sha>" or "rollback requested".
    pub reason: String,
    /// The remote head when the pin was set: a newer head lifts an automatic pin.
    pub head_at_pin: String,
    /// Set by a person: only `unpin` lifts it.
    pub manual: bool,
}

/// What survives a restart, stored next to the ApplySet parent. A field missing from what is
/// stored (written by an older ordo) reads as empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Persisted {
    pub history: Vec<HistoryEntry>,
    pub last_healthy: Option<String>,
    pub pin: Option<Pin>,
    /// A revision that failed: not retried until the head moves or someone asks.
    pub failed_revision: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    pub id: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceState {
    pub id: String,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub tier: Tier,
    pub tier_reason: String,
    /// Where it came from: its file, or the Helm template or Kustomize build that made it.
    pub source: String,
    pub sync: SyncStatus,
    pub health: Option<HealthStatus>,
    pub message: Option<String>,
    pub depends_on: Vec<Dependency>,
}

/// A prune held until someone confirms it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneHeld {
    /// The revision whose sync held it: a confirmation is for this one only.
    pub revision: String,
    pub objects: Vec<String>,
}

/// The published snapshot of one app.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppState {
    pub name: String,
    pub repo: String,
    pub reference: String,
    pub path: String,
    pub namespace: String,
    /// How the files at `path` became manifests: `directory`, `kustomize` or `helm` (known once
    /// a revision was read).
    pub source_kind: Option<String>,
    /// The signature of the revision last read, when the app verifies signatures
    /// (`verify.signers`): the signer found (or "unsigned") and whether it is trusted.
    pub signature: Option<SignatureState>,
    pub phase: Phase,
    /// The revision the cluster was last synced to.
    pub revision: Option<CommitInfo>,
    /// The newest remote head seen.
    pub head: Option<String>,
    pub sync_status: SyncStatus,
    pub health: HealthStatus,
    pub current_step: Option<String>,
    pub last_error: Option<String>,
    pub drift_count: u64,
    /// Objects that left git and wait for a confirmed prune (`POST …/confirm-prune`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune_held: Option<PruneHeld>,
    /// Objects that left git and that prune never deletes, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prune_withheld: Vec<Withheld>,
    /// Why the last save of the stored state failed; cleared by the next good save.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_error: Option<String>,
    /// Set while the app's task is down (it panicked or ended) and waits to be restarted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_down: Option<String>,
    /// What the app's `allow` lets it write beyond its own namespace ("namespaces *; cluster
    /// kinds *"), shown as a warning: the operator widened it, and should know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_wider: Option<String>,
    /// Unix seconds when the last reconcile ended (the first one makes the agent ready).
    pub reconciled_at: Option<f64>,
    pub resources: Vec<ResourceState>,
    #[serde(flatten)]
    pub persisted: Persisted,
    /// Bumped on every change: what a reader rendered for one version is still true.
    #[serde(skip)]
    pub version: u64,
}

impl AppState {
    pub fn new(name: &str, repo: &str, reference: &str, path: &str, namespace: &str) -> Self {
        AppState {
            name: name.to_owned(),
            // What is published is read without a token (page, API, metrics): never a URL's
            // password.
            repo: crate::source::without_user_info(repo),
            reference: reference.to_owned(),
            path: path.to_owned(),
            namespace: namespace.to_owned(),
            source_kind: None,
            signature: None,
            phase: Phase::Idle,
            revision: None,
            head: None,
            sync_status: SyncStatus::OutOfSync,
            health: HealthStatus::Unknown,
            current_step: None,
            last_error: None,
            drift_count: 0,
            prune_held: None,
            prune_withheld: Vec::new(),
            task_down: None,
            policy_wider: None,
            store_error: None,
            reconciled_at: None,
            resources: Vec::new(),
            persisted: Persisted::default(),
            version: 0,
        }
    }
}

impl AppState {
    /// What the last sync of `revision` left unpruned.
    pub fn show_prune(&mut self, revision: &str, report: &SyncReport) {
        self.prune_withheld = report.prune_withheld.clone();
        self.prune_held = (!report.prune_awaiting_confirmation.is_empty()).then(|| PruneHeld {
            revision: revision.to_owned(),
            objects: report.prune_awaiting_confirmation.clone(),
        });
    }

    /// The app as the metrics see it: plain values, so `metrics` needs nothing of the agent.
    pub fn metrics_sample(&self) -> AppSample {
        AppSample {
            name: self.name.clone(),
            repo: self.repo.clone(),
            reference: self.reference.clone(),
            revision: self
                .revision
                .as_ref()
                .map(|c| c.sha.clone())
                .unwrap_or_default(),
            sync_status: self.sync_status,
            health: self.health,
            last_sync_finished: self.persisted.history.first().map(|h| h.finished),
            resources: self
                .resources
                .iter()
                .map(|r| ResourceSample {
                    tier: r.tier.as_str(),
                    health: r.health,
                    sync: r.sync,
                    reason: (r.health == Some(HealthStatus::Degraded)).then(|| {
                        crate::health::why::reason_label(r.message.as_deref().unwrap_or(""))
                    }),
                })
                .collect(),
        }
    }
}

impl AppState {
    /// What a standby replica shows: the stored history, and the revision and result of the
    /// last sync the leader recorded.
    pub fn show_stored(&mut self, persisted: Persisted) {
        if let Some(last) = persisted.history.first() {
            self.revision = Some(CommitInfo {
                sha: last.revision.clone(),
                message: last.message.clone(),
                author: last.author.clone(),
                time: 0,
            });
            let ok = last.result == Ended::Succeeded;
            self.sync_status = if ok {
                SyncStatus::Synced
            } else {
                SyncStatus::OutOfSync
            };
            self.health = if ok {
                HealthStatus::Healthy
            } else {
                HealthStatus::Degraded
            };
        }
        self.persisted = persisted;
    }
}

/// One tier of an app at a glance: the status page's tile bar and `ordo_resources`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierState {
    pub tier: Tier,
    pub resources: usize,
    pub healthy: usize,
    pub synced: usize,
    /// The least healthy resource's status; `None` when the tier is empty or none is assessed.
    pub health: Option<HealthStatus>,
}

impl AppState {
    /// All five tiers in order, empty ones included.
    pub fn tiers(&self) -> Vec<TierState> {
        Tier::ALL
            .iter()
            .map(|&tier| {
                let of_tier = || self.resources.iter().filter(move |r| r.tier == tier);
                let assessed: Vec<HealthStatus> = of_tier().filter_map(|r| r.health).collect();
                TierState {
                    tier,
                    resources: of_tier().count(),
                    healthy: assessed
                        .iter()
                        .filter(|h| **h == HealthStatus::Healthy)
                        .count(),
                    synced: of_tier().filter(|r| r.sync == SyncStatus::Synced).count(),
                    health: (!assessed.is_empty()).then(|| crate::health::worst(assessed)),
                }
            })
            .collect()
    }
}

/// The resources of a plan with their state after a sync report.
pub fn resources(plan: &Plan, report: Option<&SyncReport>) -> Vec<ResourceState> {
    plan.order
        .iter()
        .map(|&i| {
            let p = &plan.objects[i];
            let id = p.object.id.to_string();
            let reported = report.and_then(|r| r.objects.iter().find(|o| o.id == id));
            ResourceState {
                api_version: p.object.api_version.clone(),
                kind: p.object.id.kind.clone(),
                namespace: p.object.id.namespace.clone(),
                name: p.object.id.name.clone(),
                tier: p.tier,
                tier_reason: p.tier_reason.message.clone(),
                source: p.object.origin.to_string(),
                sync: match reported.map(|o| o.outcome) {
                    Some(Outcome::Healthy | Outcome::NotRun) => SyncStatus::Synced,
                    Some(_) => reported.map_or(SyncStatus::OutOfSync, |o| o.sync),
                    None => SyncStatus::OutOfSync,
                },
                health: reported.and_then(|o| o.health.as_ref().map(|h| h.status)),
                message: reported.and_then(|o| {
                    o.message
                        .clone()
                        .or_else(|| o.health.as_ref().map(|h| h.message.clone()))
                }),
                depends_on: plan
                    .dependencies(i)
                    .map(|e| Dependency {
                        id: plan.objects[e.to].object.id.to_string(),
                        reason: e.reason.clone(),
                    })
                    .collect(),
                id,
            }
        })
        .collect()
}

/// The history entry of a finished sync that ended as `ended`.
pub fn entry(
    commit: &CommitInfo,
    trigger: Trigger,
    (started, finished): (f64, f64),
    ended: Ended,
    outcome: Result<&SyncReport, &str>,
) -> HistoryEntry {
    let result = ended.recorded();
    let (error, objects) = match outcome {
        Ok(report) => {
            let error = report
                .interrupted
                .as_ref()
                .map(|why| format!("partly applied: {why}; retried with a growing delay"))
                .or_else(|| {
                    report
                        .objects
                        .iter()
                        .find(|o| {
                            !matches!(
                                o.outcome,
                                Outcome::Healthy | Outcome::Blocked | Outcome::NotRun
                            )
                        })
                        .map(|o| format!("{}: {}", o.id, o.message.clone().unwrap_or_default()))
                });
            let timings = report
                .objects
                .iter()
                .map(|o| ObjectTiming {
                    id: o.id.clone(),
                    action: o.action,
                    outcome: o.outcome,
                    applied_at: o.applied_at,
                    healthy_at: o.healthy_at,
                })
                .collect();
            (error, timings)
        }
        Err(message) => (Some(message.to_owned()), Vec::new()),
    };
    HistoryEntry {
        revision: commit.sha.clone(),
        message: commit.message.lines().next().unwrap_or_default().to_owned(),
        author: commit.author.clone(),
        trigger,
        started,
        finished,
        result,
        error,
        objects,
    }
    .bounded()
}

/// The longest commit subject, author and error a history entry keeps, in bytes: a commit
/// written to be huge (a 2 MiB subject) must not make the stored state unsavable for good —
/// the pinned revision's entry is never dropped to fit the budget.
pub const MESSAGE_MAX: usize = 512;
pub const AUTHOR_MAX: usize = 256;
pub const ERROR_MAX: usize = 4096;

impl HistoryEntry {
    /// The entry with its free-text fields cut to their bounds (on a character boundary,
    /// marked with "…").
    pub fn bounded(mut self) -> Self {
        cut(&mut self.message, MESSAGE_MAX);
        cut(&mut self.author, AUTHOR_MAX);
        if let Some(error) = &mut self.error {
            cut(error, ERROR_MAX);
        }
        self
    }
}

/// Cuts `text` to at most `max` bytes, ending in "…" when cut.
pub fn cut(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_ends_are_the_metric_label_values_and_read_as_stored_before() {
        let recorded: Vec<&str> = Ended::RECORDED.iter().map(|e| e.as_str()).collect();
        assert_eq!(recorded, crate::metrics::SYNC_RESULTS);
        // History entries as every earlier version stored them read back unchanged.
        for (stored, ended) in [
            ("Succeeded", Ended::Succeeded),
            ("Failed", Ended::Failed),
            ("TimedOut", Ended::TimedOut),
            ("Superseded", Ended::Superseded),
            ("Interrupted", Ended::Interrupted),
        ] {
            let entry: HistoryEntry = serde_json::from_value(serde_json::json!({
                "revision": "abc1234", "message": "m", "author": "a", "trigger": "interval",
                "started": 1.0, "finished": 2.0, "result": stored, "error": null, "objects": []
            }))
            .unwrap();
            assert_eq!(entry.result, ended);
            assert_eq!(serde_json::to_value(entry.result).unwrap(), stored);
        }
        // What wrote nothing, or was refused, is recorded as it always was.
        assert_eq!(Ended::Rejected.recorded(), Ended::Failed);
        assert_eq!(Ended::Stopped.recorded(), Ended::Superseded);
    }

    fn entry_for(rev: &str, result: Ended) -> HistoryEntry {
        HistoryEntry {
            revision: rev.into(),
            message: String::new(),
            author: String::new(),
            trigger: Trigger::Interval,
            started: 0.0,
            finished: 1.0,
            result,
            error: None,
            objects: Vec::new(),
        }
    }

    #[test]
    fn published_state_and_metrics_never_carry_a_url_password() {
        let mut app = AppState::new(
            "shop",
            "https://bot:s3cret@git.example.com/acme/shop.git",
            "main",
            "deploy",
            "shop",
        );
        app.persisted.record(entry_for("abc1234", Ended::Succeeded));
        assert_eq!(app.repo, "https://git.example.com/acme/shop.git");
        let sample = app.metrics_sample();
        assert_eq!(sample.repo, "https://git.example.com/acme/shop.git");
        assert_eq!(sample.last_sync_finished, Some(1.0));
        let json = serde_json::to_string(&app).unwrap_or_default();
        assert!(!json.contains("s3cret"), "{json}");
    }
}
