//! Prometheus metrics. Events the agent counts as they happen (syncs, drift, rollbacks, git
//! fetches, webhooks) live in [`Metrics`]; what describes the current state (app info, health,
//! resources, API requests) is derived from the app snapshots at scrape time, so it can never
//! disagree with the status page.

pub mod render;

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppLabel {
    pub app: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppResult {
    pub app: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderResult {
    pub provider: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReceiverResult {
    pub receiver: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShardLabel {
    pub shard: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppManager {
    pub app: String,
    pub manager: String,
}

/// Counters and histograms of what happened since the process started.
/// The longest field-manager label kept (a manager name can be any string a writer chose).
pub const MANAGER_LABEL_MAX: usize = 64;
/// Distinct manager series per app; beyond, `other`: label values from the cluster must not
/// grow the scrape without bound.
pub const MANAGERS_PER_APP: usize = 10;
const OTHER_MANAGER: &str = "other";

/// The `result` label values of `ordo_app_sync_total`: the agent's `Ended::RECORDED`.
pub const SYNC_RESULTS: [&str; 5] = [
    "Succeeded",
    "Failed",
    "TimedOut",
    "Superseded",
    "Interrupted",
];

pub struct Metrics {
    registry: Registry,
    sync_total: Family<AppResult, Counter>,
    sync_duration: Family<AppLabel, Histogram>,
    drift_total: Family<AppLabel, Counter>,
    drift_contested_total: Family<AppManager, Counter>,
    /// The managers each app's `drift_contested_total` has a series for (see
    /// [`MANAGERS_PER_APP`]).
    contested_managers: std::sync::Mutex<std::collections::HashMap<String, Vec<String>>>,
    task_restarts_total: Family<AppLabel, Counter>,
    state_save_failures_total: Family<AppLabel, Counter>,
    rollback_total: Family<AppLabel, Counter>,
    git_fetch_total: Family<AppResult, Counter>,
    git_fetch_duration: Family<AppLabel, Histogram>,
    webhook_total: Family<ProviderResult, Counter>,
    notifications_total: Family<ReceiverResult, Counter>,
    leader: Gauge<i64, AtomicI64>,
    shard_owned: Family<ShardLabel, Gauge<i64, AtomicI64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let sync_total = Family::<AppResult, Counter>::default();
        // Syncs take from a fraction of a second to the 5 min timeout.
        let sync_duration = Family::<AppLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.25, 2.0, 12))
        });
        let drift_total = Family::<AppLabel, Counter>::default();
        let drift_contested_total = Family::<AppManager, Counter>::default();
        let task_restarts_total = Family::<AppLabel, Counter>::default();
        let state_save_failures_total = Family::<AppLabel, Counter>::default();
        let rollback_total = Family::<AppLabel, Counter>::default();
        let git_fetch_total = Family::<AppResult, Counter>::default();
        let git_fetch_duration = Family::<AppLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        let webhook_total = Family::<ProviderResult, Counter>::default();
        let notifications_total = Family::<ReceiverResult, Counter>::default();
        let leader = Gauge::<i64, AtomicI64>::default();
        // Counters get `_total` appended by the encoder.
        registry.register(
            "ordo_app_sync",
            "Finished syncs by result (Succeeded, Failed, TimedOut, Superseded, Interrupted)",
            sync_total.clone(),
        );
        registry.register(
            "ordo_app_sync_duration_seconds",
            "Duration of finished syncs, health waits included",
            sync_duration.clone(),
        );
        registry.register(
            "ordo_app_drift",
            "Changes to managed objects made outside git (drift) noticed by the watches",
            drift_total.clone(),
        );
        registry.register(
            "ordo_app_drift_contested",
            "Drift whose fields came back after self-heal, by the other field manager writing them",
            drift_contested_total.clone(),
        );
        registry.register(
            "ordo_app_task_restarts",
            "App tasks restarted after they panicked or ended",
            task_restarts_total.clone(),
        );
        registry.register(
            "ordo_app_state_save_failures",
            "Failed saves of an app's stored state (history, pin, last healthy revision)",
            state_save_failures_total.clone(),
        );
        registry.register(
            "ordo_app_rollback",
            "Automatic and requested rollbacks",
            rollback_total.clone(),
        );
        registry.register(
            "ordo_git_fetch",
            "Remote checks and fetches by result (ok, error)",
            git_fetch_total.clone(),
        );
        registry.register(
            "ordo_git_fetch_duration_seconds",
            "Duration of remote checks and fetches",
            git_fetch_duration.clone(),
        );
        registry.register(
            "ordo_webhook_requests",
            "Webhook requests by provider and result",
            webhook_total.clone(),
        );
        registry.register(
            "ordo_notifications",
            "Notifications by receiver and result (delivered, failed, dropped, held_back, skipped)",
            notifications_total.clone(),
        );
        registry.register(
            "ordo_leader",
            "1 when this replica holds the leader lease and may write to the cluster",
            leader.clone(),
        );
        let shard_owned = Family::<ShardLabel, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "ordo_shard_owned",
            "1 for each shard of apps (ordo run --shards) whose lease this replica holds",
            shard_owned.clone(),
        );
        Metrics {
            shard_owned,
            registry,
            sync_total,
            sync_duration,
            drift_total,
            drift_contested_total,
            contested_managers: Default::default(),
            task_restarts_total,
            state_save_failures_total,
            rollback_total,
            git_fetch_total,
            git_fetch_duration,
            webhook_total,
            notifications_total,
            leader,
        }
    }

    /// Creates an app's series at zero, so alerts on `increase()` see the first event.
    pub fn register_app(&self, app: &str) {
        let a = || AppLabel {
            app: app.to_owned(),
        };
        for result in SYNC_RESULTS {
            drop(self.sync_total.get_or_create(&AppResult {
                app: app.to_owned(),
                result: result.to_owned(),
            }));
        }
        for result in ["ok", "error"] {
            drop(self.git_fetch_total.get_or_create(&AppResult {
                app: app.to_owned(),
                result: result.to_owned(),
            }));
        }
        drop(self.sync_duration.get_or_create(&a()));
        drop(self.git_fetch_duration.get_or_create(&a()));
        drop(self.drift_total.get_or_create(&a()));
        drop(self.task_restarts_total.get_or_create(&a()));
        drop(self.state_save_failures_total.get_or_create(&a()));
        drop(self.rollback_total.get_or_create(&a()));
    }

    /// `result` is the sync's outcome as its label value (`Succeeded`, `Failed`, …).
    pub fn sync_finished(&self, app: &str, result: &str, seconds: f64) {
        self.sync_total
            .get_or_create(&AppResult {
                app: app.to_owned(),
                result: result.to_owned(),
            })
            .inc();
        self.sync_duration
            .get_or_create(&AppLabel {
                app: app.to_owned(),
            })
            .observe(seconds.max(0.0));
    }

    /// `times` drifts of one object, reported together.
    pub fn drift(&self, app: &str, times: u64) {
        self.drift_total
            .get_or_create(&AppLabel {
                app: app.to_owned(),
            })
            .inc_by(times);
    }

    pub fn state_save_failed(&self, app: &str) {
        self.state_save_failures_total
            .get_or_create(&AppLabel {
                app: app.to_owned(),
            })
            .inc();
    }

    pub fn task_restart(&self, app: &str) {
        self.task_restarts_total
            .get_or_create(&AppLabel {
                app: app.to_owned(),
            })
            .inc();
    }

    /// A field manager that keeps writing fields self-heal puts back. The manager's name is
    /// read from the cluster, so anyone who can write the object picks it: it is cut to
    /// [`MANAGER_LABEL_MAX`] bytes of printable characters, and an app has series for at most
    /// [`MANAGERS_PER_APP`] managers, the rest counted as `other`.
    pub fn drift_contested(&self, app: &str, manager: &str) {
        let manager = self.manager_label(app, manager);
        self.drift_contested_total
            .get_or_create(&AppManager {
                app: app.to_owned(),
                manager,
            })
            .inc();
    }

    fn manager_label(&self, app: &str, manager: &str) -> String {
        let mut label: String = manager
            .chars()
            .filter(|c| !c.is_control())
            .take(MANAGER_LABEL_MAX)
            .collect();
        while label.len() > MANAGER_LABEL_MAX {
            label.pop();
        }
        let Ok(mut seen) = self.contested_managers.lock() else {
            return OTHER_MANAGER.to_owned();
        };
        let known = seen.entry(app.to_owned()).or_default();
        if known.contains(&label) {
            label
        } else if known.len() < MANAGERS_PER_APP {
            known.push(label.clone());
            label
        } else {
            OTHER_MANAGER.to_owned()
        }
    }

    pub fn rollback(&self, app: &str) {
        self.rollback_total
            .get_or_create(&AppLabel {
                app: app.to_owned(),
            })
            .inc();
    }

    pub fn git_fetch(&self, app: &str, ok: bool, seconds: f64) {
        let result = if ok { "ok" } else { "error" };
        self.git_fetch_total
            .get_or_create(&AppResult {
                app: app.to_owned(),
                result: result.to_owned(),
            })
            .inc();
        self.git_fetch_duration
            .get_or_create(&AppLabel {
                app: app.to_owned(),
            })
            .observe(seconds.max(0.0));
    }

    /// `provider`: github, gitlab, gitea, forgejo, generic, unknown; `result`: triggered,
    /// ignored, unauthorized, disabled (no secret configured), invalid, too_large.
    pub fn webhook(&self, provider: &str, result: &str) {
        self.webhook_total
            .get_or_create(&ProviderResult {
                provider: provider.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// `result`: delivered, failed (after its retries), dropped (the receiver's queue was
    /// full), held_back (over the receiver's per-minute cap).
    pub fn notification(&self, receiver: &str, result: &str) {
        self.notifications_total
            .get_or_create(&ReceiverResult {
                receiver: receiver.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    pub fn set_shard_owned(&self, shard: u32, owned: bool) {
        self.shard_owned
            .get_or_create(&ShardLabel {
                shard: shard.to_string(),
            })
            .set(i64::from(owned));
    }

    /// The event metrics in the Prometheus text format, without the closing `# EOF`.
    pub fn encode_events(&self, out: &mut String) -> std::fmt::Result {
        let mut text = String::new();
        prometheus_client::encoding::text::encode_registry(&mut text, &self.registry)?;
        out.push_str(&text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manager_labels_from_the_cluster_are_bounded_in_length_and_number() {
        let metrics = Metrics::new();
        let long = format!("evil\n{}", "m".repeat(10_000));
        let label = metrics.manager_label("long", &long);
        assert_eq!(label.len(), MANAGER_LABEL_MAX);
        assert!(
            label.starts_with("evilm"),
            "control characters dropped: {label:?}"
        );
        for i in 0..MANAGERS_PER_APP {
            assert_eq!(
                metrics.manager_label("shop", &format!("m{i}")),
                format!("m{i}")
            );
        }
        assert_eq!(metrics.manager_label("shop", "one-too-many"), "other");
        assert_eq!(
            metrics.manager_label("shop", "m0"),
            "m0",
            "a known one keeps its series"
        );
        assert_eq!(
            metrics.manager_label("blog", "one-too-many"),
            "one-too-many"
        );
    }
}
