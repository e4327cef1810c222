//! What a pass waits for before it syncs: a free `maxConcurrentSyncs` slot, and the apps of
//! `dependsOn` turning Healthy and Synced.

use std::sync::Arc;

use tokio::sync::watch;

use super::App;
use crate::agent::decide;
use crate::agent::state::{AppState, Phase};

impl App {
    /// One of the `maxConcurrentSyncs` slots, waiting in line for it (the step says so);
    /// None when the app stops leading meanwhile.
    pub(super) async fn sync_slot(&mut self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        if let Ok(slot) = self.ctx.slots.clone().try_acquire_owned() {
            return Some(slot);
        }
        self.update(|s| {
            s.phase = Phase::Idle;
            s.current_step =
                Some("queued: waiting for a free sync slot (maxConcurrentSyncs)".into());
        });
        let slots = self.ctx.slots.clone();
        let slot = tokio::select! {
            slot = slots.acquire_owned() => slot.ok(),
            _ = self.mode.changed() => None,
        };
        self.update(|s| s.current_step = None);
        slot.filter(|_| !self.stopped())
    }
}

/// Resolves once every app of `depends_on` is Healthy and Synced (never when none is known).
pub(super) async fn dependencies_ready(peers: &crate::agent::Peers, depends_on: &[String]) {
    let Some(all) = peers.get() else {
        return std::future::pending().await;
    };
    let mut changes: Vec<watch::Receiver<Arc<AppState>>> = depends_on
        .iter()
        .filter_map(|d| all.get(d).cloned())
        .collect();
    if changes.is_empty() {
        return std::future::pending().await;
    }
    loop {
        if decide::waiting_for(depends_on, Some(all)).is_none() {
            return;
        }
        let next = changes.iter_mut().map(|rx| Box::pin(rx.changed()));
        if futures::future::select_all(next).await.0.is_err() {
            return std::future::pending().await;
        }
    }
}
