//! The reconcile's decisions, pure: which revision to hold, whether a trigger leads to a sync,
//! how a sync ended and what that does to the app's state, and the pin rules ("sync now",
//! rollback, unpin) that the agent, the HTTP commands and `ordo rollback`/`ordo unpin` share.
//! No clock, no I/O: `reconcile` fetches, asks here, and acts.

use std::time::Duration;

use tokio::time::Instant;

use super::state::{AppState, Ended, HistoryEntry, Persisted, Pin, PruneHeld, Trigger};
use crate::config::OnFailure;
use crate::diff::SyncStatus;
use crate::health::HealthStatus;
use crate::source::CommitInfo;

/// A rollback names a revision by at least this many leading hex digits, as git's short SHAs.
pub const MIN_REVISION_PREFIX: usize = 7;

/// The revision an app should hold now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub revision: String,
    /// Held by a pin rather than following the branch.
    pub pinned: bool,
    /// An automatic pin the head has moved past: drop it.
    pub drop_pin: bool,
}

/// A manual pin holds; an automatic pin (after a rollback) holds until the head moves; else
/// the head.
pub fn target(pin: Option<&Pin>, head: &str) -> Target {
    match pin {
        Some(p) if p.manual || p.head_at_pin == head => Target {
            revision: p.revision.clone(),
            pinned: true,
            drop_pin: false,
        },
        other => Target {
            revision: head.to_owned(),
            pinned: false,
            drop_pin: other.is_some(),
        },
    }
}

/// Whether a reconcile with `trigger` syncs `target`. A failed revision is not retried until
/// someone asks (or the head moves); an app already Synced at the target is left alone by
/// timers and webhooks, while a person's "sync now" or a drift always syncs.
pub fn should_sync(
    trigger: Trigger,
    target: &str,
    failed: Option<&str>,
    synced_at: Option<&str>,
) -> bool {
    let asked = matches!(trigger, Trigger::Manual | Trigger::Rollback);
    if failed == Some(target) && !asked {
        return false;
    }
    let routine = matches!(trigger, Trigger::Interval | Trigger::Webhook);
    !(routine && synced_at == Some(target))
}

/// How fresh the shared answer to "where is the branch now?" must be for `trigger`: one from
/// within the last interval for routine passes (so the apps of one repository share one
/// `ls-remote` per interval), one asked after the push was announced for a webhook, and a new
/// one for anything a person asked for.
pub fn fresh_since(
    trigger: Trigger,
    interval: Duration,
    announced: Option<Instant>,
    now: Instant,
) -> Instant {
    match trigger {
        Trigger::Start | Trigger::Interval | Trigger::Drift => {
            now.checked_sub(interval).unwrap_or(now)
        }
        Trigger::Webhook => announced.unwrap_or(now).min(now),
        Trigger::Manual | Trigger::Rollback => now,
    }
}

/// Whether a sync that ended as `ended` rolls the app back under `on_failure`: only one that
/// wrote and then failed, and not while a pin holds the app. A bad commit wrote nothing; a
/// failure that is not the commit's is tried again, not held against it.
pub fn rolls_back(ended: Ended, on_failure: OnFailure, pinned: bool) -> bool {
    ended.is_failure() && on_failure == OnFailure::Rollback && !pinned
}

impl AppState {
    /// Records a finished sync of `commit` and what it means for the app's status.
    pub fn record_sync(&mut self, entry: HistoryEntry, commit: &CommitInfo) {
        let result = entry.result.recorded();
        let error = entry.error.clone();
        self.persisted.record(entry);
        self.revision = Some(commit.clone());
        match result {
            Ended::Succeeded => {
                self.sync_status = SyncStatus::Synced;
                self.last_error = None;
                // A later revision (or a rollback) synced: the failed one is history now, and
                // a pin, if any, keeps it from being retried.
                self.persisted.failed_revision = None;
            }
            Ended::Superseded | Ended::Stopped => self.sync_status = SyncStatus::OutOfSync,
            // Never recorded: nothing was written.
            Ended::Retry | Ended::Transient => {}
            Ended::Interrupted => {
                self.sync_status = SyncStatus::OutOfSync;
                self.last_error = error;
                if self.health == HealthStatus::Healthy {
                    self.health = HealthStatus::Degraded;
                }
            }
            Ended::Failed | Ended::TimedOut | Ended::Rejected => {
                self.sync_status = SyncStatus::OutOfSync;
                self.last_error = error;
                self.persisted.failed_revision = Some(commit.sha.clone());
                if self.health == HealthStatus::Healthy || self.health == HealthStatus::Unknown {
                    self.health = HealthStatus::Degraded;
                }
            }
        }
    }
}

/// What `dependsOn` still waits for: the first app of `deps` that is not Healthy and Synced
/// (an app syncs only after those it depends on converged at their current revision).
pub fn waiting_for(deps: &[String], peers: Option<&super::PeerStates>) -> Option<String> {
    deps.iter().find_map(|dep| {
        let state = peers?.get(dep)?.borrow().clone();
        let ready =
            state.health == HealthStatus::Healthy && state.sync_status == SyncStatus::Synced;
        (!ready).then(|| {
            format!(
                "waiting for app {dep} (dependsOn): it is {} and {}",
                state.health, state.sync_status
            )
        })
    })
}

/// When a partly applied revision, or one that failed for a reason not its own, is tried
/// again: 2 s after the first failure, doubling to 5 min; routine triggers wait for it,
/// people's requests do not.
#[derive(Debug, Default)]
pub struct RetryBackoff {
    held: Option<(String, Duration, Instant)>,
}

impl RetryBackoff {
    const FIRST: Duration = Duration::from_secs(2);
    const LONGEST: Duration = Duration::from_secs(300);

    /// Whether a routine `trigger` for `target` waits (at `now`).
    pub fn holds(&self, trigger: Trigger, target: &str, now: Instant) -> bool {
        let routine = matches!(trigger, Trigger::Interval | Trigger::Webhook);
        routine
            && self
                .held
                .as_ref()
                .is_some_and(|(revision, _, until)| revision == target && now < *until)
    }

    /// After a sync of `target` ended as `ended` (at `now`).
    pub fn after(&mut self, ended: Ended, target: &str, now: Instant) {
        if !matches!(ended, Ended::Interrupted | Ended::Transient) {
            self.held = None;
            return;
        }
        let delay = match &self.held {
            Some((revision, delay, _)) if revision == target => (*delay * 2).min(Self::LONGEST),
            _ => Self::FIRST,
        };
        self.held = Some((target.to_owned(), delay, now + delay));
    }
}

/// The revision a confirmation lets prune: the held one, when `asked` is empty or names it
/// (a unique prefix is enough; a confirmation of a prune nobody saw confirms nothing).
pub fn confirmable(held: Option<&PruneHeld>, asked: &str) -> Option<String> {
    let held = held?;
    let asked = asked.trim().to_ascii_lowercase();
    let names_it = asked.is_empty()
        || (asked.len() >= MIN_REVISION_PREFIX && held.revision.starts_with(&asked));
    names_it.then(|| held.revision.clone())
}

/// Why a revision named by a person was not found in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevisionLookup {
    NotFound,
    /// The prefix names this many different revisions.
    Ambiguous(usize),
}

impl Persisted {
    /// Someone asked to sync: retry a failed revision, leave an automatic pin.
    pub fn request_sync(&mut self) {
        self.failed_revision = None;
        if self.pin.as_ref().is_some_and(|p| !p.manual) {
            self.pin = None;
        }
    }

    /// Holds the app at `revision` until unpinned. `head` is the branch head when known.
    pub fn pin_rollback(&mut self, revision: String, head: String) {
        self.pin = Some(Pin {
            reason: format!("rollback to {} requested", short(&revision)),
            revision,
            head_at_pin: head,
            manual: true,
        });
    }

    /// Follows the branch again, and lets a failed revision be tried again.
    pub fn unpin(&mut self) {
        self.pin = None;
        self.failed_revision = None;
    }

    /// The history entry `wanted` names: its full SHA or its first 7+ characters (in either
    /// case, as pasted from anywhere).
    pub fn find_revision(&self, wanted: &str) -> Result<&HistoryEntry, RevisionLookup> {
        let wanted = wanted.trim().to_ascii_lowercase();
        if wanted.len() < MIN_REVISION_PREFIX {
            return Err(RevisionLookup::NotFound);
        }
        let matching: Vec<&HistoryEntry> = self
            .history
            .iter()
            .filter(|h| h.revision.starts_with(&wanted))
            .collect();
        let mut distinct: Vec<&str> = matching.iter().map(|h| h.revision.as_str()).collect();
        // A revision synced several times appears several times.
        distinct.sort_unstable();
        distinct.dedup();
        match (matching.first(), distinct.len()) {
            (Some(first), 1) => Ok(first),
            (None, _) => Err(RevisionLookup::NotFound),
            (_, n) => Err(RevisionLookup::Ambiguous(n)),
        }
    }

    /// Applies an automatic rollback: hold `good` until the head moves past `head`.
    pub fn pin_automatic(&mut self, good: &str, failed: &str, head: &str) {
        self.pin = Some(Pin {
            revision: good.to_owned(),
            reason: format!("rolled back from {} to {}", short(failed), short(good)),
            head_at_pin: head.to_owned(),
            manual: false,
        });
    }
}

/// A per-app seed for interval jitter, so apps sharing an interval do not poll in lockstep.
pub fn seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub fn short(sha: &str) -> &str {
    sha.get(..MIN_REVISION_PREFIX).unwrap_or(sha)
}

#[cfg(test)]
mod tests;
