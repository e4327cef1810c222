//! What an app's task tells the notifier (`notify/`): the agent's values turned into
//! [`Event`]s. Publishing never waits, so a sync is never slowed by a receiver.

use crate::agent::drift::Drift;
use crate::agent::state::{Ended, HistoryEntry, Trigger, now};
use crate::health::HealthStatus;
use crate::notify::{Event, EventKind, Notifier};
use crate::source::CommitInfo;
use crate::sync::SyncReport;

/// The notifier, and the revision whose sync start was announced: a finish without one is a
/// commit that never got to sync (a bad commit).
pub(in crate::agent) struct Notices {
    notifier: Notifier,
    started: Option<String>,
}

impl Notices {
    pub fn new(notifier: Notifier) -> Notices {
        Notices {
            notifier,
            started: None,
        }
    }

    pub fn sync_started(&mut self, app: &str, commit: &CommitInfo, trigger: Trigger) {
        self.started = Some(commit.sha.clone());
        let mut e = of_commit(EventKind::SyncStarted, app, commit);
        e.result = "Pending".into();
        e.reason = (trigger == Trigger::Rollback).then(|| "rolling back".to_owned());
        self.notifier.publish(e);
    }

    /// The end of a sync, or of a revision that could not be applied.
    pub fn finished(
        &mut self,
        app: &str,
        commit: &CommitInfo,
        entry: &HistoryEntry,
        report: Option<&SyncReport>,
    ) {
        let synced = self.started.take().as_deref() == Some(commit.sha.as_str());
        let degraded = report.is_some_and(|r| r.health == HealthStatus::Degraded);
        let prune_held = report.is_some_and(|r| !r.prune_awaiting_confirmation.is_empty());
        for kind in kinds(synced, entry, degraded, prune_held) {
            let mut e = of_commit(kind, app, commit);
            e.result = entry.result.as_str().to_owned();
            e.duration_seconds = Some(entry.finished - entry.started);
            e.reason = entry.error.clone();
            e.object = failing_object(report);
            if kind == EventKind::PruneAwaitingConfirmation {
                let held = report.map(|r| r.prune_awaiting_confirmation.join(", "));
                e.reason = held.map(|h| format!("prune waits for confirmation: {h}"));
            }
            self.notifier.publish(e);
        }
    }

    pub fn drift(&self, app: &str, revision: Option<&CommitInfo>, d: &Drift, message: &str) {
        let kind = if d.corrected {
            EventKind::DriftCorrected
        } else {
            EventKind::DriftDetected
        };
        let mut e = match revision {
            Some(c) => of_commit(kind, app, c),
            None => Event::new(kind, app, "", now()),
        };
        e.result = if d.corrected {
            "Corrected"
        } else {
            "OutOfSync"
        }
        .into();
        e.object = Some(d.id.clone());
        e.reason = Some(format!("{}: {message}", d.id));
        self.notifier.publish(e);
    }

    /// The repository could not be reached or read (`revision` when one was being read).
    pub fn source_error(&self, app: &str, revision: &str, error: &str) {
        let mut e = Event::new(EventKind::SourceError, app, revision, now());
        e.result = "Error".into();
        e.reason = Some(error.to_owned());
        self.notifier.publish(e);
    }
}

/// The events a finished sync means, in the order they are sent.
fn kinds(synced: bool, entry: &HistoryEntry, degraded: bool, prune_held: bool) -> Vec<EventKind> {
    if !synced {
        return vec![EventKind::BadCommit];
    }
    let mut kinds = match entry.result {
        Ended::Succeeded => vec![EventKind::SyncSucceeded],
        // Interrupted (partly applied, retried with backoff) failed all the same: the retry
        // starts a new sync and sets the status again.
        Ended::Failed | Ended::TimedOut | Ended::Interrupted | Ended::Rejected => {
            vec![EventKind::SyncFailed]
        }
        // A newer revision took over (or ordo stopped): its own sync says how it went;
        // what wrote nothing is never recorded.
        Ended::Superseded | Ended::Stopped | Ended::Retry | Ended::Transient => return Vec::new(),
    };
    if degraded {
        kinds.push(EventKind::Degraded);
    }
    if entry.trigger == Trigger::Rollback && entry.result == Ended::Succeeded {
        kinds.push(EventKind::RolledBack);
    }
    if prune_held {
        kinds.push(EventKind::PruneAwaitingConfirmation);
    }
    kinds
}

fn failing_object(report: Option<&SyncReport>) -> Option<String> {
    use crate::sync::Outcome;
    report?
        .objects
        .iter()
        .find(|o| {
            !matches!(
                o.outcome,
                Outcome::Healthy | Outcome::Blocked | Outcome::NotRun
            )
        })
        .map(|o| o.id.clone())
}

fn of_commit(kind: EventKind, app: &str, commit: &CommitInfo) -> Event {
    let mut e = Event::new(kind, app, &commit.sha, now());
    e.message = crate::notify::clip_text(&commit.message);
    e.author = commit.author.clone();
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(result: Ended, trigger: Trigger) -> HistoryEntry {
        HistoryEntry {
            revision: "abc".into(),
            message: String::new(),
            author: String::new(),
            trigger,
            started: 0.0,
            finished: 1.0,
            result,
            error: None,
            objects: Vec::new(),
        }
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn a_finished_sync_means_these_events() {
        use Ended::*;
        use EventKind::*;
        use Trigger::*;
        // (synced, result, trigger, degraded, prune held, events)
        let cases: &[(bool, Ended, Trigger, bool, bool, &[EventKind])] = &[
            (false, Failed, Interval, false, false, &[BadCommit]),
            (true, Succeeded, Webhook, false, false, &[SyncSucceeded]),
            (true, Failed, Interval, false, false, &[SyncFailed]),
            (true, Failed, Interval, true, false, &[SyncFailed, Degraded]),
            (true, TimedOut, Manual, false, false, &[SyncFailed]),
            (true, Interrupted, Interval, false, false, &[SyncFailed]),
            (true, Superseded, Interval, true, true, &[]),
            (
                true,
                Succeeded,
                Rollback,
                false,
                false,
                &[SyncSucceeded, RolledBack],
            ),
            (true, Failed, Rollback, false, false, &[SyncFailed]),
            (
                true,
                Succeeded,
                Interval,
                false,
                true,
                &[SyncSucceeded, PruneAwaitingConfirmation],
            ),
        ];
        for (synced, result, trigger, degraded, held, want) in cases {
            let got = kinds(*synced, &entry(*result, *trigger), *degraded, *held);
            assert_eq!(
                got, *want,
                "{synced} {result:?} {trigger:?} {degraded} {held}"
            );
        }
    }
}
