//! The reconcile's decisions, pure: which revision to hold, whether a trigger leads to a sync,
//! how a sync ended and what that does to the app's state, and the pin rules ("sync now",
//! rollback, unpin) that the agent, the HTTP commands and `ordo rollback`/`ordo unpin` share.
//! No clock, no I/O: `reconcile` fetches, asks here, and acts.

use std::time::Duration;

use tokio::time::Instant;

use super::state::{AppState, HistoryEntry, Persisted, Pin, PruneHeld, SyncResult, Trigger};
use crate::diff::SyncStatus;
use crate::health::HealthStatus;
use crate::source::CommitInfo;
use crate::sync::{SyncError, SyncReport};

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

/// How one revision's sync ended, for the reconcile loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Succeeded,
    /// Refused before any write (bad commit, invalid object): nothing to roll back.
    Rejected,
    Failed,
    Superseded,
    Stopped,
    /// The cluster could not be reached; try again later.
    Retry,
    /// Partly applied because a write failed after the dry run: try again with a growing
    /// delay; the revision is not marked failed and is not rolled back from.
    Interrupted,
}

/// The end of a sync that ran: a shutdown or a newer head outranks what the sync reported.
pub fn ended(stopping: bool, superseded: bool, report: &Result<SyncReport, SyncError>) -> Ended {
    match report {
        _ if stopping => Ended::Stopped,
        _ if superseded => Ended::Superseded,
        Ok(r) if r.succeeded() => Ended::Succeeded,
        Ok(r) if r.interrupted.is_some() => Ended::Interrupted,
        Err(SyncError::Cluster(e)) if e.is_transient() => Ended::Retry,
        Err(_) => Ended::Rejected,
        Ok(_) => Ended::Failed,
    }
}

/// A sync cancelled part way (objects left Pending) did not fail: it was superseded.
pub fn settle(entry: &mut HistoryEntry, report: Option<&SyncReport>) {
    let cancelled = report.is_some_and(|r| {
        r.objects
            .iter()
            .any(|o| o.outcome == crate::sync::Outcome::Pending)
    });
    if cancelled && entry.result != SyncResult::Succeeded {
        entry.result = SyncResult::Superseded;
    }
}

impl AppState {
    /// Records a finished sync of `commit` and what it means for the app's status.
    pub fn record_sync(&mut self, entry: HistoryEntry, commit: &CommitInfo) {
        let result = entry.result;
        let error = entry.error.clone();
        self.persisted.record(entry);
        self.revision = Some(commit.clone());
        match result {
            SyncResult::Succeeded => {
                self.sync_status = SyncStatus::Synced;
                self.last_error = None;
                // A later revision (or a rollback) synced: the failed one is history now, and
                // a pin, if any, keeps it from being retried.
                self.persisted.failed_revision = None;
            }
            SyncResult::Superseded => self.sync_status = SyncStatus::OutOfSync,
            SyncResult::Interrupted => {
                self.sync_status = SyncStatus::OutOfSync;
                self.last_error = error;
                if self.health == HealthStatus::Healthy {
                    self.health = HealthStatus::Degraded;
                }
            }
            SyncResult::Failed | SyncResult::TimedOut => {
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

/// When a partly applied revision is tried again: 2 s after the first interruption, doubling
/// to 5 min; routine triggers wait for it, people's requests do not.
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
        if ended != Ended::Interrupted {
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
mod tests {
    use super::*;

    fn pin(manual: bool, head_at_pin: &str) -> Pin {
        Pin {
            revision: "good".into(),
            reason: String::new(),
            head_at_pin: head_at_pin.into(),
            manual,
        }
    }

    #[test]
    fn the_target_is_the_pin_while_it_holds_and_the_head_otherwise() {
        let cases = [
            (None, "h1", "h1", false, false),
            (Some(pin(true, "h0")), "h1", "good", true, false),
            (Some(pin(false, "h1")), "h1", "good", true, false),
            (Some(pin(false, "h0")), "h1", "h1", false, true),
        ];
        for (pin, head, revision, pinned, drop_pin) in cases {
            let t = target(pin.as_ref(), head);
            assert_eq!(
                (t.revision.as_str(), t.pinned, t.drop_pin),
                (revision, pinned, drop_pin),
                "{pin:?} at {head}"
            );
        }
    }

    #[test]
    fn routine_triggers_skip_synced_and_failed_revisions_people_do_not() {
        use Trigger::*;
        let cases = [
            (Interval, None, None, true),
            (Interval, None, Some("t"), false),
            (Webhook, None, Some("t"), false),
            (Interval, Some("t"), None, false),
            (Drift, Some("t"), None, false),
            (Manual, Some("t"), Some("t"), true),
            (Rollback, Some("t"), None, true),
            (Drift, None, Some("t"), true),
            (Start, None, Some("t"), true),
            (Interval, Some("other"), Some("other"), true),
        ];
        for (trigger, failed, synced, expected) in cases {
            assert_eq!(
                should_sync(trigger, "t", failed, synced),
                expected,
                "{trigger:?} failed={failed:?} synced={synced:?}"
            );
        }
    }

    #[test]
    fn routine_passes_share_a_listing_from_the_last_interval_and_people_get_a_new_one() {
        let now = Instant::now() + Duration::from_secs(600);
        let minute = Duration::from_secs(60);
        let pushed = now - Duration::from_secs(2);
        let cases = [
            (Trigger::Start, None, now - minute),
            (Trigger::Interval, None, now - minute),
            (Trigger::Drift, None, now - minute),
            (Trigger::Webhook, Some(pushed), pushed),
            (Trigger::Webhook, None, now),
            (Trigger::Manual, Some(pushed), now),
            (Trigger::Rollback, None, now),
        ];
        for (trigger, announced, expected) in cases {
            assert_eq!(
                fresh_since(trigger, minute, announced, now),
                expected,
                "{trigger:?} announced={announced:?}"
            );
        }
    }

    fn entry(revision: &str) -> HistoryEntry {
        HistoryEntry {
            revision: revision.into(),
            message: String::new(),
            author: String::new(),
            trigger: Trigger::Manual,
            started: 0.0,
            finished: 0.0,
            result: SyncResult::Succeeded,
            error: None,
            objects: Vec::new(),
        }
    }

    #[test]
    fn revisions_are_found_by_a_unique_prefix_of_seven_or_more() {
        let mut p = Persisted::default();
        for r in ["abcdef0111", "abcdef0222", "1234567aaa", "1234567aaa"] {
            p.history.push(entry(r));
        }
        assert_eq!(
            p.find_revision("1234567").map(|e| e.revision.as_str()),
            Ok("1234567aaa"),
            "a revision synced twice is one revision"
        );
        assert_eq!(
            p.find_revision(" ABCDEF0 ").err(),
            Some(RevisionLookup::Ambiguous(2))
        );
        assert_eq!(
            p.find_revision("abcdef02").map(|e| e.revision.as_str()),
            Ok("abcdef0222")
        );
        assert_eq!(
            p.find_revision("123456").err(),
            Some(RevisionLookup::NotFound)
        );
        assert_eq!(
            p.find_revision("fffffff").err(),
            Some(RevisionLookup::NotFound)
        );
    }

    #[test]
    fn pins_follow_the_rules_people_and_the_agent_share() {
        let mut p = Persisted {
            failed_revision: Some("bad".into()),
            ..Persisted::default()
        };
        p.pin_automatic("good", "bad", "h1");
        p.request_sync();
        assert_eq!((p.pin.clone(), p.failed_revision.clone()), (None, None));

        p.pin_rollback("abcdef0123".into(), "h1".into());
        let held = p.pin.clone();
        p.request_sync();
        assert_eq!(p.pin, held, "a manual pin outlives a sync request");
        assert_eq!(
            held.map(|h| h.reason),
            Some("rollback to abcdef0 requested".to_owned())
        );

        p.failed_revision = Some("bad".into());
        p.unpin();
        assert_eq!((p.pin, p.failed_revision), (None, None));
    }

    #[test]
    fn a_failed_sync_marks_the_revision_and_degrades_a_healthy_app() {
        let commit = CommitInfo {
            sha: "c1".into(),
            message: String::new(),
            author: String::new(),
            time: 0,
        };
        let mut app = AppState::new("a", "/r", "main", "", "ns");
        app.health = HealthStatus::Healthy;
        let mut failed = entry("c1");
        failed.result = SyncResult::Failed;
        failed.error = Some("Deployment/ns/api: Degraded".into());
        app.record_sync(failed, &commit);
        assert_eq!(app.persisted.failed_revision.as_deref(), Some("c1"));
        assert_eq!(app.health, HealthStatus::Degraded);
        assert_eq!(app.sync_status, SyncStatus::OutOfSync);
        assert_eq!(
            app.last_error.as_deref(),
            Some("Deployment/ns/api: Degraded")
        );

        app.record_sync(entry("c1"), &commit);
        assert_eq!(app.persisted.failed_revision, None);
        assert_eq!(app.sync_status, SyncStatus::Synced);
        assert_eq!(app.last_error, None);
    }

    #[test]
    fn a_confirmation_names_the_held_prune_or_nothing() {
        let held = PruneHeld {
            revision: "0123456789abcdef0123456789abcdef01234567".into(),
            objects: vec!["ConfigMap/shop/a".into()],
        };
        let full = Some(held.revision.clone());
        for (asked, want) in [
            ("", full.clone()),
            ("0123456", full.clone()),
            (" 0123456789ABCDEF ", full.clone()),
            ("012345", None), // too short to name anything
            ("fedcba9", None),
        ] {
            assert_eq!(confirmable(Some(&held), asked), want, "{asked:?}");
        }
        assert_eq!(confirmable(None, ""), None);
    }

    #[test]
    fn a_partly_applied_revision_is_retried_ever_later_by_routine_triggers_only() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut b = RetryBackoff::default();
        b.after(Ended::Interrupted, "c1", at(0));
        assert!(b.holds(Trigger::Interval, "c1", at(1)));
        assert!(
            !b.holds(Trigger::Manual, "c1", at(1)),
            "a person is not held"
        );
        assert!(
            !b.holds(Trigger::Interval, "c2", at(1)),
            "a newer revision is not held"
        );
        assert!(!b.holds(Trigger::Interval, "c1", at(2)));
        b.after(Ended::Interrupted, "c1", at(2));
        assert!(b.holds(Trigger::Webhook, "c1", at(5)));
        assert!(
            !b.holds(Trigger::Webhook, "c1", at(6)),
            "4 s after the second"
        );
        for _ in 0..12 {
            b.after(Ended::Interrupted, "c1", at(6));
        }
        assert!(b.holds(Trigger::Interval, "c1", at(305)));
        assert!(
            !b.holds(Trigger::Interval, "c1", at(306)),
            "capped at 5 min"
        );
        b.after(Ended::Succeeded, "c1", at(400));
        assert!(!b.holds(Trigger::Interval, "c1", at(400)));
    }

    #[test]
    fn an_app_waits_for_those_it_depends_on_until_they_are_healthy_and_synced() {
        let state = |health, sync| {
            let mut s = AppState::new("x", "/r", "main", "", "ns");
            s.health = health;
            s.sync_status = sync;
            std::sync::Arc::new(s)
        };
        let (ingress_tx, ingress) =
            tokio::sync::watch::channel(state(HealthStatus::Progressing, SyncStatus::OutOfSync));
        let (_crds_tx, crds) =
            tokio::sync::watch::channel(state(HealthStatus::Healthy, SyncStatus::Synced));
        let peers: super::super::PeerStates =
            [("ingress".to_owned(), ingress), ("crds".to_owned(), crds)].into();
        let deps = vec!["crds".to_owned(), "ingress".to_owned()];
        assert_eq!(
            waiting_for(&deps, Some(&peers)).as_deref(),
            Some("waiting for app ingress (dependsOn): it is Progressing and OutOfSync")
        );
        ingress_tx.send_replace(state(HealthStatus::Healthy, SyncStatus::Synced));
        assert_eq!(waiting_for(&deps, Some(&peers)), None);
        assert_eq!(waiting_for(&[], Some(&peers)), None);
    }
}
