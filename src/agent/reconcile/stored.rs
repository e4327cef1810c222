//! The app's stored state as the task reads it: once when it starts leading, and the pin
//! others may have changed since.

use std::time::Duration;

use tokio::time::sleep;
use tracing::{info, warn};

use super::App;
use crate::agent::state::now;
use crate::agent::store;

impl App {
    /// Loads the persisted history, retrying while the API server is unreachable.
    pub(super) async fn restore(&mut self) {
        let mut delay = Duration::from_millis(500);
        loop {
            match store::load(&self.cluster, &self.config.name, &self.state_at).await {
                Ok(persisted) => {
                    self.stored_pin = persisted.pin.clone();
                    self.update(|s| s.persisted = persisted);
                    // What an older ordo kept in the app's namespace is in memory now and goes
                    // to ordo's namespace with the next save: no need to look there again.
                    self.state_at.legacy = None;
                    return;
                }
                Err(e) if e.is_unreadable() => {
                    // Reading again gives the same: go on with the state in memory, the error
                    // on the page until a sync stores a good state again.
                    warn!(app = %self.config.name, error = %e, "stored state unreadable");
                    self.update(|s| s.last_error = Some(e.to_string()));
                    return;
                }
                Err(e) => {
                    warn!(app = %self.config.name, error = %e, "cannot read persisted state; retrying");
                    // Tried once: readiness must not hang on an app that cannot work (say, a
                    // forbidden namespace); its error is on the page and in the API.
                    self.update(|s| {
                        s.last_error = Some(e.to_string());
                        s.reconciled_at.get_or_insert_with(now);
                    });
                }
            }
            tokio::select! {
                _ = self.mode.changed() => if self.stopped() { return },
                _ = sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }

    /// `ordo rollback` and `ordo unpin` (and other replicas) change the pin in the persisted
    /// state; follow what is stored there.
    pub(super) async fn adopt_external_pin(&mut self) {
        let cached = self.stored_from_watch().await;
        // Without the shared watch, at most every 15 s: an idle agent should cost the API
        // server its watches only.
        if cached.is_none()
            && self
                .pin_checked
                .is_some_and(|at| at.elapsed() < Duration::from_secs(15))
        {
            return;
        }
        self.pin_checked = Some(tokio::time::Instant::now());
        let stored = match cached {
            Some(stored) => stored,
            None => store::load(&self.cluster, &self.config.name, &self.state_at).await,
        };
        let Ok(stored) = stored else {
            return;
        };
        // Only a pin someone else changed is adopted; one this task set and has not stored yet
        // stays.
        if stored.pin != self.stored_pin {
            self.stored_pin = stored.pin.clone();
            info!(app = %self.config.name, pin = ?stored.pin, "pin changed outside this agent");
            self.update(|s| {
                s.persisted.pin = stored.pin.clone();
                if stored.pin.is_none() {
                    s.persisted.failed_revision = stored.failed_revision.clone();
                }
            });
        }
    }

    /// The stored state as the watch all apps share has it (no request); None before it has
    /// listed, or when nothing is stored in ordo's namespace yet.
    pub(super) async fn stored_from_watch(
        &mut self,
    ) -> Option<Result<crate::agent::state::Persisted, store::StoreError>> {
        if self.stored_watch.is_none() {
            self.stored_watch = store::watched(&self.cluster, &self.state_at).await.ok();
        }
        let group = self.stored_watch.as_ref()?;
        store::load_watched(group, &self.config.name, &self.state_at)
    }
}
