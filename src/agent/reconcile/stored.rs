//! The app's stored state as the task reads it: once when it starts leading, and the pin
//! others may have changed since.

use std::time::Duration;

use tokio::time::sleep;
use tracing::{info, warn};

use super::App;
use crate::agent::state::now;
use crate::agent::store::{self, StoreError, Stored};

/// How long a start waits for the shared state watch to list before reading with a GET.
const LISTING_WAIT: Duration = Duration::from_secs(10);

impl App {
    /// Loads the persisted history, retrying while the API server is unreachable. Read from
    /// the watch every app shares once it has listed (a thousand apps starting together cost
    /// one listing, not a thousand GETs); it may lag behind another replica's last write,
    /// which the first save absorbs (`Persisted::absorb_history`).
    pub(super) async fn restore(&mut self) {
        let mut delay = Duration::from_millis(500);
        loop {
            let stored = match self.stored_from_watch(LISTING_WAIT).await {
                Some(stored) => stored,
                None => {
                    store::load_versioned(&self.ctx.cluster, &self.config.name, &self.state_at)
                        .await
                }
            };
            match stored {
                Ok(stored) => {
                    self.stored_pin = stored.state.pin.clone();
                    self.stored_version = stored.version;
                    self.update(|s| s.persisted = stored.state);
                    // What an older ordo kept in the app's namespace is in memory now and goes
                    // to ordo's namespace with the next save: no need to look there again.
                    self.state_at.legacy = None;
                    self.legacy_watch = None;
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
    /// state; follow what is stored there. The shared watch says whether the stored state is
    /// still the version this task last read or wrote (then nothing changed, at no cost);
    /// another version may be someone's change or the watch not having seen this task's own
    /// write yet, so it is read afresh before a pin is adopted from it.
    pub(super) async fn adopt_external_pin(&mut self) {
        let seen = match self.stored_from_watch(Duration::ZERO).await {
            Some(Ok(seen)) if seen.version == self.stored_version => return,
            Some(Ok(_)) => true,
            Some(Err(_)) | None => false,
        };
        // At most every 15 s, unless the watch saw a change: an idle agent should cost the API
        // server its watches only.
        if !seen
            && self
                .pin_checked
                .is_some_and(|at| at.elapsed() < Duration::from_secs(15))
        {
            return;
        }
        self.pin_checked = Some(tokio::time::Instant::now());
        let Ok(stored) =
            store::load_versioned(&self.ctx.cluster, &self.config.name, &self.state_at).await
        else {
            return;
        };
        self.stored_version = stored.version;
        let stored = stored.state;
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

    /// The stored state as the watches all apps share have it (no request): ordo's namespace,
    /// then, while it may hold one, where an older ordo kept it (a state found there has no
    /// version: the first save creates it in ordo's namespace). None when a watch has not
    /// listed within `wait` (or cannot list): then ask the API server.
    pub(super) async fn stored_from_watch(
        &mut self,
        wait: Duration,
    ) -> Option<Result<Stored, StoreError>> {
        let app = self.config.name.clone();
        if self.stored_watch.is_none() {
            self.stored_watch = store::watched(&self.ctx.cluster, &self.state_at.namespace)
                .await
                .ok();
        }
        let own = self.stored_watch.clone()?;
        if !own.until_listed(wait).await {
            return None;
        }
        match store::read_watched(&own, &app, &self.state_at.namespace)? {
            Ok(stored) if stored.version.is_none() => {}
            found => return Some(found),
        }
        let Some(legacy) = self.state_at.legacy.clone() else {
            return Some(Ok(Stored::default()));
        };
        if self.legacy_watch.is_none() {
            self.legacy_watch = store::watched(&self.ctx.cluster, &legacy).await.ok();
        }
        let old = self.legacy_watch.clone()?;
        if !old.until_listed(wait).await {
            return None;
        }
        match store::read_watched(&old, &app, &legacy)? {
            Ok(stored) if stored.version.is_none() => {
                // Nothing there, and no ordo writes there any more: no need to look again.
                self.state_at.legacy = None;
                self.legacy_watch = None;
                Some(Ok(Stored::default()))
            }
            found => Some(found.map(|s| Stored {
                state: s.state,
                version: None,
            })),
        }
    }

    /// The stored state and its version as the shared watch has it, for a conditional write to
    /// start from (None: read it).
    pub(super) fn stored_in_watch(&self) -> Option<Stored> {
        if self.state_at.legacy.is_some() {
            return None;
        }
        let own = self.stored_watch.as_ref()?;
        store::read_watched(own, &self.config.name, &self.state_at.namespace)?.ok()
    }
}
