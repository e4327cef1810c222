//! Whether a sync waiting on an object is done with it: the object's [`Health`] read in the
//! light of what the sync just did. Pure; the sync asks here and only performs the I/O (it
//! looks up a claim's StorageClass when [`claim_class`] says the verdict depends on it).

use serde_json::Value;

use super::{Health, HealthStatus, assess};

/// What the sync knows about an object it waits on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observation<'a> {
    /// The object now; `None` when it does not exist.
    pub live: Option<&'a Value>,
    /// The object as it was before this sync; `None` when the sync created it.
    pub before: Option<&'a Value>,
    /// Whether this sync applied a change to it.
    pub changed: bool,
    /// `volumeBindingMode` of the StorageClass [`claim_class`] named, when it was looked up.
    pub binding_mode: Option<&'a str>,
}

/// How the wait on one object stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// Done: dependents may start.
    Done(Health),
    /// Stuck in a way that waiting will not fix.
    Failed(Health),
    /// Still converging (or its verdict predates the change): keep waiting.
    Pending(Health),
}

impl Wait {
    pub fn health(&self) -> &Health {
        match self {
            Wait::Done(h) | Wait::Failed(h) | Wait::Pending(h) => h,
        }
    }
}

/// The verdict on an object the sync waits on.
pub fn wait(o: &Observation<'_>) -> Wait {
    let Some(live) = o.live else {
        return Wait::Pending(Health::new(HealthStatus::Missing, "not found"));
    };
    let health = assess(live);
    match health.status {
        // Suspended is deliberate (a paused rollout, a suspended CronJob): nothing to wait for.
        HealthStatus::Healthy | HealthStatus::Suspended => Wait::Done(health),
        HealthStatus::Progressing if o.binding_mode == Some("WaitForFirstConsumer") => {
            // A Pending claim whose StorageClass binds on first consumer binds only once a pod
            // that uses it is scheduled, and that pod is what waits for it: counting it
            // Progressing would deadlock.
            Wait::Done(Health::healthy(
                "Pending until a pod uses it (StorageClass binds on first consumer)",
            ))
        }
        HealthStatus::Degraded if stale(o) => Wait::Pending(health),
        HealthStatus::Degraded => Wait::Failed(health),
        _ => Wait::Pending(health),
    }
}

/// A Degraded verdict that predates our change: we applied something, but the object's
/// conditions are still exactly those it had before (a Deployment rolled back to an old
/// ReplicaSet keeps its ProgressDeadlineExceeded condition until the rollout progresses).
/// Waiting for the controller to react is right; failing on it would fail every rollback.
fn stale(o: &Observation<'_>) -> bool {
    let conditions = |v: Option<&Value>| v.and_then(|v| v.pointer("/status/conditions")).cloned();
    o.changed && o.before.is_some() && conditions(o.before) == conditions(o.live)
}

/// The StorageClass whose binding mode decides the verdict: that of a Pending claim.
pub fn claim_class(live: Option<&Value>) -> Option<&str> {
    let live = live?;
    let pending_claim = live.get("kind").and_then(Value::as_str) == Some("PersistentVolumeClaim")
        && live.pointer("/status/phase").and_then(Value::as_str) == Some("Pending");
    if !pending_claim {
        return None;
    }
    live.pointer("/spec/storageClassName")
        .and_then(Value::as_str)
}

/// A watch can lag behind the apply that just answered: never trade the object held for one
/// of an earlier generation (its status would describe the previous spec).
pub fn older(seen: Option<&Value>, held: Option<&Value>) -> bool {
    let generation = |v: Option<&Value>| {
        v.and_then(|v| v.pointer("/metadata/generation"))
            .and_then(Value::as_i64)
    };
    match (generation(seen), generation(held)) {
        (Some(seen), Some(held)) => seen < held,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(generation: i64, conditions: Value, ready: i64) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "generation": generation},
            "spec": {"replicas": 1},
            "status": {
                "observedGeneration": generation, "replicas": 1, "updatedReplicas": 1,
                "readyReplicas": ready, "availableReplicas": ready, "conditions": conditions
            }
        })
    }

    fn deadline_exceeded() -> Value {
        json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet \"api-1\" has timed out progressing."}])
    }

    fn claim(phase: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": {"name": "data"}, "spec": {"storageClassName": "local"},
               "status": {"phase": phase}})
    }

    #[test]
    fn verdicts_on_what_the_sync_waits_for() {
        let healthy = deployment(2, json!([]), 1);
        let degraded = deployment(2, deadline_exceeded(), 0);
        let suspended = json!({"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "c"}, "spec": {"suspend": true}});
        let pending = claim("Pending");
        let before_same = deployment(1, deadline_exceeded(), 0);
        let cases: [(&str, Observation<'_>, &str); 8] = [
            ("missing", Observation::default(), "pending"),
            (
                "healthy",
                Observation {
                    live: Some(&healthy),
                    ..Default::default()
                },
                "done",
            ),
            (
                "suspended counts as done",
                Observation {
                    live: Some(&suspended),
                    ..Default::default()
                },
                "done",
            ),
            (
                "degraded, unchanged",
                Observation {
                    live: Some(&degraded),
                    ..Default::default()
                },
                "failed",
            ),
            (
                "degraded since before our change: wait it out",
                Observation {
                    live: Some(&degraded),
                    before: Some(&before_same),
                    changed: true,
                    ..Default::default()
                },
                "pending",
            ),
            (
                "degraded after our change moved the conditions",
                Observation {
                    live: Some(&degraded),
                    before: Some(&healthy),
                    changed: true,
                    ..Default::default()
                },
                "failed",
            ),
            (
                "claim waiting for its first consumer",
                Observation {
                    live: Some(&pending),
                    binding_mode: Some("WaitForFirstConsumer"),
                    ..Default::default()
                },
                "done",
            ),
            (
                "claim with immediate binding still pending",
                Observation {
                    live: Some(&pending),
                    binding_mode: Some("Immediate"),
                    ..Default::default()
                },
                "pending",
            ),
        ];
        for (name, observation, expected) in cases {
            let got = match wait(&observation) {
                Wait::Done(_) => "done",
                Wait::Failed(_) => "failed",
                Wait::Pending(_) => "pending",
            };
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn only_a_pending_claim_asks_for_its_storage_class() {
        assert_eq!(claim_class(Some(&claim("Pending"))), Some("local"));
        assert_eq!(claim_class(Some(&claim("Bound"))), None);
        assert_eq!(claim_class(None), None);
    }

    #[test]
    fn an_earlier_generation_never_replaces_the_object_held() {
        let g = |n: i64| json!({"metadata": {"generation": n}});
        assert!(older(Some(&g(1)), Some(&g(2))));
        assert!(!older(Some(&g(2)), Some(&g(2))));
        assert!(!older(Some(&g(3)), Some(&g(2))));
        assert!(!older(None, Some(&g(2))));
    }
}
