//! What an app's task tells the notifier (`notify/`): the agent's values turned into
//! [`Event`]s. Publishing never waits, so a sync is never slowed by a receiver.

use crate::agent::drift::Drift;
use crate::agent::state::{HistoryEntry, SyncResult, Trigger, now};
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
        for kind in kinds(synced, entry, report) {
            let mut e = of_commit(kind, app, commit);
            e.result = format!("{:?}", entry.result);
            e.duration_seconds = Some(entry.finished - entry.started);
            e.reason = entry.error.clone();
            e.object = failing_object(report);
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
fn kinds(synced: bool, entry: &HistoryEntry, report: Option<&SyncReport>) -> Vec<EventKind> {
    if !synced {
        return vec![EventKind::BadCommit];
    }
    let mut kinds = match entry.result {
        SyncResult::Succeeded => vec![EventKind::SyncSucceeded],
        // Interrupted (partly applied, retried with backoff) failed all the same: the retry
        // starts a new sync and sets the status again.
        SyncResult::Failed | SyncResult::TimedOut | SyncResult::Interrupted => {
            vec![EventKind::SyncFailed]
        }
        // A newer revision took over: its own sync says how it went.
        SyncResult::Superseded => return Vec::new(),
    };
    if report.is_some_and(|r| r.health == HealthStatus::Degraded) {
        kinds.push(EventKind::Degraded);
    }
    if entry.trigger == Trigger::Rollback && entry.result == SyncResult::Succeeded {
        kinds.push(EventKind::RolledBack);
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

    fn entry(result: SyncResult, trigger: Trigger) -> HistoryEntry {
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
    fn a_finished_sync_means_these_events() {
        use EventKind::*;
        let cases: &[(bool, SyncResult, Trigger, &[EventKind])] = &[
            (false, SyncResult::Failed, Trigger::Interval, &[BadCommit]),
            (
                true,
                SyncResult::Succeeded,
                Trigger::Webhook,
                &[SyncSucceeded],
            ),
            (true, SyncResult::Failed, Trigger::Interval, &[SyncFailed]),
            (true, SyncResult::TimedOut, Trigger::Manual, &[SyncFailed]),
            (true, SyncResult::Superseded, Trigger::Interval, &[]),
            (
                true,
                SyncResult::Succeeded,
                Trigger::Rollback,
                &[SyncSucceeded, RolledBack],
            ),
            (true, SyncResult::Failed, Trigger::Rollback, &[SyncFailed]),
        ];
        for (synced, result, trigger, want) in cases {
            let got = kinds(*synced, &entry(*result, *trigger), None);
            assert_eq!(got, *want, "{synced} {result:?} {trigger:?}");
        }
    }
}
