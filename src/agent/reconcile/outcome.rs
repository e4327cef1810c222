//! What follows a sync or a drift report: the history entry, the stored state, the drift
//! watch on what the revision owns.

use std::sync::Arc;

use tracing::{info, warn};

use super::{App, now};
use crate::agent::drift::{self, Drift};
use crate::agent::persisted;
use crate::agent::state::{self, Ended, Trigger};
use crate::agent::store;
use crate::diff::SyncStatus;
use crate::plan::Plan;
use crate::source::CommitInfo;
use crate::sync::{ApplySet, SyncReport};

impl App {
    /// `times` drifts of one object, the latest `d` (the inbox folds bursts together).
    pub(super) fn on_drift(&mut self, d: Drift, times: u64) {
        let app = &self.config.name;
        self.ctx.metrics.drift(app, times);
        for manager in &d.managers {
            self.ctx.metrics.drift_contested(app, manager);
        }
        if d.corrected {
            info!(app = %app, object = %d.id, status = %d.status, fields = ?d.paths, contested = ?d.contested_by, "drift corrected");
        } else {
            warn!(app = %app, object = %d.id, status = %d.status, fields = ?d.paths, error = ?d.error, backing_off = ?d.backing_off, "drift");
        }
        let message = drift::message(&d);
        self.notices.drift(app, self.applied.as_ref(), &d, &message);
        self.update(|s| {
            s.drift_count += times;
            if let Some(r) = s.resources.iter_mut().find(|r| r.id == d.id) {
                if !d.corrected {
                    r.sync = d.status;
                }
                r.message = Some(message);
            }
            if !d.corrected {
                s.sync_status = SyncStatus::OutOfSync;
            }
        });
    }

    /// Records the history entry and publishes the outcome.
    pub(super) async fn finish(
        &mut self,
        commit: &CommitInfo,
        trigger: Trigger,
        (started, ended): (f64, Ended),
        outcome: Result<&SyncReport, &str>,
    ) {
        let entry = state::entry(commit, trigger, (started, now()), ended, outcome);
        let result = entry.result;
        self.ctx.metrics.sync_finished(
            &self.config.name,
            result.as_str(),
            entry.finished - entry.started,
        );
        match &entry.error {
            None => {
                info!(app = %self.config.name, revision = %commit.sha, result = ?result, trigger = ?trigger, "sync finished")
            }
            Some(error) => {
                warn!(app = %self.config.name, revision = %commit.sha, result = ?result, trigger = ?trigger, error = %error, "sync finished")
            }
        }
        self.notices
            .finished(&self.config.name, commit, &entry, outcome.ok());
        self.update(|s| s.record_sync(entry, commit));
        self.store().await;
    }

    /// A commit that left the app's inputs as the cluster holds them (another app's files
    /// changed): recorded as synced, with nothing rendered or applied. Stored like a sync, so
    /// every replica shows the same revision.
    pub(super) async fn advance_unchanged(&mut self, commit: CommitInfo, trigger: Trigger) {
        info!(app = %self.config.name, revision = %commit.sha, "inputs unchanged: recorded as synced without a sync");
        let at = now();
        let entry = state::HistoryEntry {
            revision: commit.sha.clone(),
            message: commit.message.clone(),
            author: commit.author.clone(),
            trigger,
            started: at,
            finished: at,
            result: Ended::Succeeded,
            error: None,
            objects: Vec::new(),
        };
        self.update(|s| s.record_sync(entry, &commit));
        self.applied = Some(commit);
        self.store().await;
    }

    /// Stores the app's state without overwriting a pin someone changed meanwhile (the write is
    /// conditional on what was read; see `persisted::merge_stored`); a failure shows on the page,
    /// in `/readyz` and in `ordo_app_state_save_failures_total`.
    pub(super) async fn store(&mut self) {
        let ours = self.state.borrow().persisted.clone();
        let base = self.stored_pin.clone();
        let first = self.stored_in_watch();
        let saved = store::update(
            &self.ctx.cluster,
            &self.config.name,
            &self.state_at,
            first,
            |theirs| Some(persisted::merge_stored(&ours, theirs, base.as_ref())),
        )
        .await;
        match saved {
            Ok(store::Stored {
                state: stored,
                version,
            }) => {
                self.stored_version = version;
                if stored.pin != ours.pin {
                    info!(app = %self.config.name, pin = ?stored.pin, "pin changed outside this agent during the sync; kept");
                }
                self.stored_pin = stored.pin.clone();
                // What was stored: ours, with the pin someone changed and syncs another
                // replica recorded before this one read the state.
                self.update(|s| {
                    s.persisted = stored;
                    s.store_error = None;
                });
            }
            Err(e) => {
                warn!(app = %self.config.name, error = %e, "cannot persist history");
                self.ctx.metrics.state_save_failed(&self.config.name);
                let shown = format!("state not saved: {e}");
                self.update(|s| s.store_error = Some(shown));
            }
        }
    }

    /// (Re)starts the watch on what this revision owns.
    pub(super) async fn watch_drift(
        &mut self,
        plan: &Plan,
        baseline: std::collections::HashMap<String, serde_json::Value>,
    ) {
        if let Some(task) = self.drift_task.take() {
            task.abort();
        }
        let applyset = ApplySet::for_app(&self.config.name, &self.config.namespace);
        // The watch reads and heals as the app's account, like its syncs.
        let Ok(cluster) = self.apply_as.clone() else {
            return;
        };
        let guarded = drift::guarded(&cluster, plan, &applyset).await;
        let inbox = self.drift_inbox.clone();
        let on_drift: Arc<dyn Fn(Drift) + Send + Sync> = Arc::new(move |d| inbox.post(d));
        self.drift_task = Some(tokio::spawn(drift::watch(
            cluster,
            guarded,
            baseline,
            applyset.id.clone(),
            self.config.self_heal,
            true,
            on_drift,
        )));
    }
}
