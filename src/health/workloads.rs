//! Controllers that roll pods out: Deployment, StatefulSet, DaemonSet, ReplicaSet. The checks
//! and their order follow `kubectl rollout status`, so "healthy" here means what it means there.

use serde_json::Value;

use super::Health;
use super::fields::{condition, count, desired_replicas, flag, spec_observed, str_at};

const NOT_OBSERVED: &str = "waiting for rollout to be observed";

pub(super) fn deployment(deployment: &Value) -> Health {
    // A paused rollout never finishes on its own; waiting on it would hang the sync.
    if flag(deployment, "/spec/paused") {
        return Health::suspended("rollout paused");
    }
    if !spec_observed(deployment) {
        return Health::progressing(NOT_OBSERVED);
    }
    if let Some(progressing) = condition(deployment, "Progressing")
        && progressing.reason == "ProgressDeadlineExceeded"
    {
        return Health::degraded(format!(
            "progress deadline exceeded: {}",
            progressing.explanation()
        ));
    }
    let desired = desired_replicas(deployment);
    let updated = count(deployment, "/status/updatedReplicas");
    let total = count(deployment, "/status/replicas");
    let available = count(deployment, "/status/availableReplicas");
    if updated < desired {
        return Health::progressing(format!("{updated} of {desired} replicas updated"));
    }
    if total > updated {
        let old = total - updated;
        return Health::progressing(format!(
            "{} pending termination",
            replicas(old, "old replica")
        ));
    }
    if available < updated {
        return Health::progressing(format!(
            "{available} of {updated} updated replicas available"
        ));
    }
    Health::healthy(format!("{} available", replicas(available, "replica")))
}

pub(super) fn stateful_set(set: &Value) -> Health {
    if !spec_observed(set) {
        return Health::progressing(NOT_OBSERVED);
    }
    // OnDelete: the controller replaces pods only when someone deletes them, so there is no
    // rollout to wait for once the spec is observed.
    if str_at(set, "/spec/updateStrategy/type") == Some("OnDelete") {
        return Health::healthy("OnDelete strategy: pods update when deleted");
    }
    let desired = desired_replicas(set);
    // Pods with ordinal below the partition deliberately stay on the old revision (canary).
    let partition = count(set, "/spec/updateStrategy/rollingUpdate/partition");
    let target = (desired - partition).max(0);
    let updated = count(set, "/status/updatedReplicas");
    let ready = count(set, "/status/readyReplicas");
    if updated < target {
        return Health::progressing(if partition > 0 {
            format!("partitioned rollout: {updated} of {target} pods updated")
        } else {
            format!("{updated} of {desired} pods updated")
        });
    }
    if ready < desired {
        return Health::progressing(format!("{ready} of {desired} pods ready"));
    }
    if partition > 0 {
        return Health::healthy(format!(
            "partitioned rollout complete: {}",
            replicas(updated, "pod") + " updated"
        ));
    }
    let update_revision = str_at(set, "/status/updateRevision").unwrap_or_default();
    if str_at(set, "/status/currentRevision").unwrap_or_default() != update_revision {
        return Health::progressing(format!(
            "waiting for pods to reach revision {update_revision}"
        ));
    }
    Health::healthy(format!("{} ready", replicas(ready, "pod")))
}

pub(super) fn daemon_set(set: &Value) -> Health {
    if !spec_observed(set) {
        return Health::progressing(NOT_OBSERVED);
    }
    if str_at(set, "/spec/updateStrategy/type") == Some("OnDelete") {
        return Health::healthy("OnDelete strategy: pods update when deleted");
    }
    let desired = count(set, "/status/desiredNumberScheduled");
    let updated = count(set, "/status/updatedNumberScheduled");
    let available = count(set, "/status/numberAvailable");
    if updated < desired {
        return Health::progressing(format!("{updated} of {desired} pods updated"));
    }
    if available < desired {
        return Health::progressing(format!("{available} of {desired} pods available"));
    }
    Health::healthy(format!("{} available", replicas(available, "pod")))
}

pub(super) fn replica_set(set: &Value) -> Health {
    if !spec_observed(set) {
        return Health::progressing(NOT_OBSERVED);
    }
    // ReplicaFailure is how quota or admission rejections of pod creation surface.
    if let Some(failure) = condition(set, "ReplicaFailure")
        && failure.is_true()
    {
        return Health::degraded(failure.explanation());
    }
    let desired = desired_replicas(set);
    let available = count(set, "/status/availableReplicas");
    if available < desired {
        return Health::progressing(format!("{available} of {desired} replicas available"));
    }
    Health::healthy(format!("{} available", replicas(available, "replica")))
}

/// "1 pod", "3 pods".
fn replicas(n: i64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use crate::health::HealthStatus::*;
    use crate::health::test_support::check;

    #[test]
    fn deployment() {
        let head = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, generation: 2}\n";
        let cases = [
            (
                "paused wins over everything",
                "spec: {replicas: 3, paused: true}\nstatus: {observedGeneration: 1}",
                Suspended,
                "rollout paused",
            ),
            (
                "spec not yet observed",
                "spec: {replicas: 3}\nstatus: {observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3}",
                Progressing,
                "waiting for rollout to be observed",
            ),
            (
                "no status at all yet",
                "spec: {replicas: 3}",
                Progressing,
                "waiting for rollout to be observed",
            ),
            (
                "progress deadline exceeded",
                "spec: {replicas: 3}\nstatus:\n  observedGeneration: 2\n  updatedReplicas: 1\n  conditions:\n    - {type: Progressing, status: 'False', reason: ProgressDeadlineExceeded, message: ReplicaSet \"api-7d\" has timed out progressing.}",
                Degraded,
                "progress deadline exceeded: ReplicaSet \"api-7d\" has timed out progressing.",
            ),
            (
                "progressing condition with normal reason is not degraded",
                "spec: {replicas: 3}\nstatus:\n  observedGeneration: 2\n  replicas: 3\n  updatedReplicas: 3\n  availableReplicas: 3\n  conditions:\n    - {type: Progressing, status: 'True', reason: NewReplicaSetAvailable}",
                Healthy,
                "3 replicas available",
            ),
            (
                "some replicas not updated",
                "spec: {replicas: 3}\nstatus: {observedGeneration: 2, replicas: 3, updatedReplicas: 2, availableReplicas: 3}",
                Progressing,
                "2 of 3 replicas updated",
            ),
            (
                "replicas default to one",
                "spec: {}\nstatus: {observedGeneration: 2}",
                Progressing,
                "0 of 1 replicas updated",
            ),
            (
                "old replicas pending termination",
                "spec: {replicas: 3}\nstatus: {observedGeneration: 2, replicas: 4, updatedReplicas: 3, availableReplicas: 3}",
                Progressing,
                "1 old replica pending termination",
            ),
            (
                "updated replicas not yet available",
                "spec: {replicas: 3}\nstatus: {observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 1}",
                Progressing,
                "1 of 3 updated replicas available",
            ),
            (
                "rolled out",
                "spec: {replicas: 1}\nstatus: {observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1}",
                Healthy,
                "1 replica available",
            ),
            (
                "scaled to zero",
                "spec: {replicas: 0}\nstatus: {observedGeneration: 2}",
                Healthy,
                "0 replicas available",
            ),
        ];
        check(head, &cases);
    }

    #[test]
    fn stateful_set() {
        let head = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db, generation: 5}\n";
        let cases = [
            (
                "spec not yet observed",
                "spec: {replicas: 3}\nstatus: {observedGeneration: 4, replicas: 3, readyReplicas: 3, updatedReplicas: 3}",
                Progressing,
                "waiting for rollout to be observed",
            ),
            (
                "OnDelete is healthy once observed",
                "spec: {replicas: 3, updateStrategy: {type: OnDelete}}\nstatus: {observedGeneration: 5, readyReplicas: 1}",
                Healthy,
                "OnDelete strategy: pods update when deleted",
            ),
            (
                "OnDelete still waits for observation",
                "spec: {replicas: 3, updateStrategy: {type: OnDelete}}\nstatus: {observedGeneration: 4}",
                Progressing,
                "waiting for rollout to be observed",
            ),
            (
                "partition: fewer than replicas - partition updated",
                "spec:\n  replicas: 5\n  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 3}}\nstatus: {observedGeneration: 5, replicas: 5, readyReplicas: 5, updatedReplicas: 1, currentRevision: db-1, updateRevision: db-2}",
                Progressing,
                "partitioned rollout: 1 of 2 pods updated",
            ),
            (
                "partition: reached replicas - partition, revisions may differ",
                "spec:\n  replicas: 5\n  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 3}}\nstatus: {observedGeneration: 5, replicas: 5, readyReplicas: 5, updatedReplicas: 2, currentRevision: db-1, updateRevision: db-2}",
                Healthy,
                "partitioned rollout complete: 2 pods updated",
            ),
            (
                "partition: updated but not all ready",
                "spec:\n  replicas: 5\n  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 3}}\nstatus: {observedGeneration: 5, replicas: 5, readyReplicas: 4, updatedReplicas: 2}",
                Progressing,
                "4 of 5 pods ready",
            ),
            (
                "partition larger than replicas needs no updates",
                "spec:\n  replicas: 2\n  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 9}}\nstatus: {observedGeneration: 5, replicas: 2, readyReplicas: 2, updatedReplicas: 0}",
                Healthy,
                "partitioned rollout complete: 0 pods updated",
            ),
            (
                "no partition: not all updated",
                "spec: {replicas: 3, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 0}}}\nstatus: {observedGeneration: 5, replicas: 3, readyReplicas: 3, updatedReplicas: 1}",
                Progressing,
                "1 of 3 pods updated",
            ),
            (
                "no partition: not all ready",
                "spec: {replicas: 3}\nstatus: {observedGeneration: 5, replicas: 3, readyReplicas: 2, updatedReplicas: 3}",
                Progressing,
                "2 of 3 pods ready",
            ),
            (
                "no partition: revisions differ",
                "spec: {replicas: 3}\nstatus: {observedGeneration: 5, replicas: 3, readyReplicas: 3, updatedReplicas: 3, currentRevision: db-1, updateRevision: db-2}",
                Progressing,
                "waiting for pods to reach revision db-2",
            ),
            (
                "rolled out",
                "spec: {replicas: 3}\nstatus: {observedGeneration: 5, replicas: 3, readyReplicas: 3, updatedReplicas: 3, currentRevision: db-2, updateRevision: db-2}",
                Healthy,
                "3 pods ready",
            ),
        ];
        check(head, &cases);
    }

    #[test]
    fn daemon_set() {
        let head = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, generation: 2}\n";
        let cases = [
            (
                "spec not yet observed",
                "spec: {}\nstatus: {observedGeneration: 1, desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2}",
                Progressing,
                "waiting for rollout to be observed",
            ),
            (
                "OnDelete is healthy once observed",
                "spec: {updateStrategy: {type: OnDelete}}\nstatus: {observedGeneration: 2, desiredNumberScheduled: 2, updatedNumberScheduled: 0}",
                Healthy,
                "OnDelete strategy: pods update when deleted",
            ),
            (
                "not all nodes updated",
                "spec: {}\nstatus: {observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 1, numberAvailable: 3}",
                Progressing,
                "1 of 3 pods updated",
            ),
            (
                "updated but not available",
                "spec: {}\nstatus: {observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2}",
                Progressing,
                "2 of 3 pods available",
            ),
            (
                "rolled out",
                "spec: {}\nstatus: {observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3}",
                Healthy,
                "3 pods available",
            ),
        ];
        check(head, &cases);
    }

    #[test]
    fn replica_set() {
        let head =
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: api-7d, generation: 1}\n";
        let cases = [
            (
                "spec not yet observed",
                "spec: {replicas: 2}\nstatus: {}",
                Progressing,
                "waiting for rollout to be observed",
            ),
            (
                "replica failure",
                "spec: {replicas: 2}\nstatus:\n  observedGeneration: 1\n  conditions:\n    - {type: ReplicaFailure, status: 'True', reason: FailedCreate, message: 'pods \"api-7d-x\" is forbidden: exceeded quota'}",
                Degraded,
                "pods \"api-7d-x\" is forbidden: exceeded quota",
            ),
            (
                "not all available",
                "spec: {replicas: 2}\nstatus: {observedGeneration: 1, availableReplicas: 1}",
                Progressing,
                "1 of 2 replicas available",
            ),
            (
                "all available",
                "spec: {replicas: 2}\nstatus: {observedGeneration: 1, availableReplicas: 2}",
                Healthy,
                "2 replicas available",
            ),
        ];
        check(head, &cases);
    }
}
