//! What a sync tells the outside: progress events as they happen and a report at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::State;
use crate::cluster::Cluster;
use crate::diff::SyncStatus;
use crate::health::{Health, HealthStatus};
use crate::plan::Tier;

/// What was done to an object (Flux's change-set vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Configured,
    Recreated,
    Unchanged,
    Deleted,
    Skipped,
}

/// Where an object ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Not reached (dry run, or the sync stopped before it).
    Pending,
    Healthy,
    Degraded,
    /// A dependency failed, so it was not applied.
    Blocked,
    TimedOut,
    /// The API server refused it.
    Failed,
    /// A hook whose phase did not come in this sync (SyncFail when nothing failed), or one
    /// never applied by a sync (Skip).
    NotRun,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReport {
    pub id: String,
    pub tier: Tier,
    pub sync: SyncStatus,
    pub action: Action,
    pub outcome: Outcome,
    pub health: Option<Health>,
    /// Seconds from the start of the sync.
    pub applied_at: Option<f64>,
    pub healthy_at: Option<f64>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub objects: Vec<ObjectReport>,
    pub pruned: Vec<String>,
    /// Objects that left git and that prune never deletes (protected kinds, controlled
    /// objects), with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prune_withheld: Vec<super::prune_guard::Withheld>,
    /// Objects that left git and wait for a confirmed prune.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prune_awaiting_confirmation: Vec<String>,
    /// The API server refused or failed a write after the dry run had accepted everything, or
    /// an error ended the sync after its first write: the cluster holds part of the revision.
    /// Not the commit's fault; the agent tries again with a growing delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    pub health: HealthStatus,
    pub duration_seconds: f64,
    /// Write requests made by this sync (create, update, patch, delete; dry runs excluded).
    pub writes: u64,
    /// Requests by verb and status code over the client's lifetime.
    pub requests: BTreeMap<String, u64>,
    /// Each object as the sync last saw it, by id: the baseline a drift watch starts from.
    #[serde(skip)]
    pub live: std::collections::HashMap<String, serde_json::Value>,
    /// What the healthy objects looked like at the end: the next sync skips the dry run of
    /// those whose desired and live state have not moved since (`SyncOptions::known`).
    #[serde(skip)]
    pub fingerprints: super::Fingerprints,
}

impl SyncReport {
    /// Every object Healthy.
    pub fn succeeded(&self) -> bool {
        self.interrupted.is_none()
            && self
                .objects
                .iter()
                .all(|o| matches!(o.outcome, Outcome::Healthy | Outcome::NotRun))
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    Validated {
        objects: usize,
        to_change: usize,
        elapsed: Duration,
    },
    Applied {
        id: String,
        action: Action,
        elapsed: Duration,
    },
    Healthy {
        id: String,
        waited: Duration,
        elapsed: Duration,
        /// Applied in this sync; false for objects that were already in sync.
        changed: bool,
    },
    Failed {
        id: String,
        outcome: Outcome,
        message: String,
        elapsed: Duration,
    },
    Blocked {
        id: String,
        by: String,
    },
    Pruned {
        id: String,
        elapsed: Duration,
    },
    /// A prune held back until someone confirms it: `objects` of the app's `of`.
    PruneAwaitingConfirmation {
        objects: Vec<String>,
        of: usize,
    },
}

pub(super) fn finish(
    state: &State,
    pruned: super::prune::Pruned,
    started: Instant,
    cluster: &Cluster,
    writes_before: u64,
) -> SyncReport {
    let objects: Vec<ObjectReport> = state.objects.iter().map(|o| o.report.clone()).collect();
    let health = crate::health::worst(objects.iter().map(|o| {
        match o.outcome {
            Outcome::Healthy | Outcome::NotRun => HealthStatus::Healthy,
            Outcome::Degraded | Outcome::Failed | Outcome::Blocked => HealthStatus::Degraded,
            Outcome::TimedOut | Outcome::Pending => o
                .health
                .as_ref()
                .map_or(HealthStatus::Progressing, |h| h.status),
        }
    }));
    let requests = cluster
        .requests()
        .snapshot()
        .into_iter()
        .map(|(k, n)| {
            let dry = if k.dry_run { " (dry run)" } else { "" };
            (format!("{}{dry} {}", k.verb, k.code), n)
        })
        .collect();
    let live = state
        .objects
        .iter()
        .filter_map(|o| Some((o.report.id.clone(), o.live.clone()?)))
        .collect();
    let fingerprints = state
        .objects
        .iter()
        .filter(|o| o.report.outcome == Outcome::Healthy)
        .filter_map(|o| {
            let live = o.live.as_ref()?;
            Some((
                o.report.id.clone(),
                super::Fingerprint::of(&o.desired, live),
            ))
        })
        .collect();
    SyncReport {
        live,
        fingerprints,
        objects,
        pruned: pruned.deleted,
        prune_withheld: pruned.withheld,
        prune_awaiting_confirmation: pruned.awaiting_confirmation,
        // A write the API server refused after the dry run accepted it: the first one says why.
        interrupted: state
            .objects
            .iter()
            .find(|o| o.report.outcome == Outcome::Failed)
            .map(|o| {
                format!(
                    "{}: {}",
                    o.report.id,
                    o.report.message.as_deref().unwrap_or("write failed")
                )
            }),
        health,
        duration_seconds: started.elapsed().as_secs_f64(),
        writes: cluster.requests().writes().saturating_sub(writes_before),
        requests,
    }
}
