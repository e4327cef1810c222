//! What a running sync's events mean for the published snapshot: each object's node on the
//! status page follows the sync as it happens, and the app shows its current step; the
//! revision's objects are published once its checks passed. Pure but for [`reporter`] and
//! [`publish`], which send on the app's channels.

use std::sync::Arc;

use tokio::sync::watch;

use super::state::AppState;
use crate::diff::SyncStatus;
use crate::health::HealthStatus;
use crate::sync::Event;

/// One event's effect on the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub id: String,
    pub sync: SyncStatus,
    pub health: HealthStatus,
    /// Shown on the object's node; `None` clears it.
    pub message: Option<String>,
    /// Shown as the app's current step.
    pub step: String,
}

/// The effect of `event`, if it has one (validation, blocked objects and prunes are reported
/// at the end of the sync, not as they happen).
pub fn progress(event: &Event) -> Option<Progress> {
    match event {
        Event::Applied { id, .. } => Some(Progress {
            id: id.clone(),
            sync: SyncStatus::Synced,
            health: HealthStatus::Progressing,
            message: Some("applied, waiting for health".into()),
            step: format!("applied {id}, waiting for health"),
        }),
        Event::Healthy { id, .. } => Some(Progress {
            id: id.clone(),
            sync: SyncStatus::Synced,
            health: HealthStatus::Healthy,
            message: None,
            step: format!("{id} healthy"),
        }),
        Event::Failed { id, message, .. } => Some(Progress {
            id: id.clone(),
            sync: SyncStatus::OutOfSync,
            health: HealthStatus::Degraded,
            message: Some(message.clone()),
            step: format!("{id}: {message}"),
        }),
        _ => None,
    }
}

impl AppState {
    pub fn show_progress(&mut self, p: Progress) {
        if let Some(r) = self.resources.iter_mut().find(|r| r.id == p.id) {
            r.sync = p.sync;
            r.health = Some(p.health);
            r.message = p.message;
        }
        self.current_step = Some(p.step);
    }
}

/// The reporter of one sync: progress into the snapshot and, once the sync's checks passed
/// (`Validated`: allow list, ownership, dry run), the revision's objects (`listed`) and its
/// plan for diffs (`desired`). A refused commit naming `ConfigMap/other-ns/x` must not make
/// that object readable through the page, whose reads go by what is published.
pub(super) fn reporter(
    state: watch::Sender<Arc<AppState>>,
    (desired_tx, desired): (
        watch::Sender<Option<Arc<super::Desired>>>,
        Arc<super::Desired>,
    ),
    listed: Vec<super::state::ResourceState>,
) -> crate::sync::Reporter {
    Arc::new(move |event: &Event| {
        if let Event::Validated { .. } = event {
            desired_tx.send_replace(Some(desired.clone()));
            publish(&state, |s| s.resources = listed.clone());
        }
        if let Some(p) = progress(event) {
            tracing::debug!(step = %p.step, "progress");
            publish(&state, |s| s.show_progress(p));
        }
    })
}

/// Every change to a snapshot goes through here, so its `version` moves with it (the status
/// page caches what it rendered per version).
pub(super) fn publish(state: &watch::Sender<Arc<AppState>>, change: impl FnOnce(&mut AppState)) {
    state.send_modify(|arc| {
        let s = Arc::make_mut(arc);
        change(s);
        s.version += 1;
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sync::{Action, Outcome};

    #[test]
    fn applied_healthy_and_failed_objects_move_their_node() {
        let applied = Event::Applied {
            id: "Deployment/ns/api".into(),
            action: Action::Created,
            elapsed: Duration::ZERO,
        };
        let p = progress(&applied);
        assert_eq!(
            p.as_ref().map(|p| (p.sync, p.health, p.step.as_str())),
            Some((
                SyncStatus::Synced,
                HealthStatus::Progressing,
                "applied Deployment/ns/api, waiting for health"
            ))
        );
        let failed = Event::Failed {
            id: "Deployment/ns/api".into(),
            outcome: Outcome::Degraded,
            message: "exceeded its progress deadline".into(),
            elapsed: Duration::ZERO,
        };
        let p = progress(&failed);
        assert_eq!(
            p.as_ref().map(|p| (p.health, p.message.as_deref())),
            Some((
                HealthStatus::Degraded,
                Some("exceeded its progress deadline")
            ))
        );
        let blocked = Event::Blocked {
            id: "a".into(),
            by: "b".into(),
        };
        assert_eq!(progress(&blocked), None);
    }
}
