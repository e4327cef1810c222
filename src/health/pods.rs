//! Pods and the kinds that run pods to completion: Pod, Job, CronJob.

use serde_json::Value;

use super::fields::{condition, count, flag, str_at};
use super::{Health, HealthStatus};

/// Waiting reasons that won't clear without a change to the spec, the image or the registry:
/// waiting on them would only run into the sync timeout, so they are Degraded at once.
const STUCK_REASONS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

pub(super) fn pod(pod: &Value) -> Health {
    let phase = str_at(pod, "/status/phase").unwrap_or_default();
    match phase {
        "Succeeded" => return Health::healthy("completed"),
        "Failed" => return Health::degraded(failure(pod)),
        _ => {}
    }
    if let Some(stuck) = stuck_container(pod) {
        return Health::degraded(stuck);
    }
    match phase {
        "Running" => running(pod),
        "Unknown" => Health::new(
            HealthStatus::Unknown,
            str_at(pod, "/status/message").unwrap_or("node stopped reporting on the pod"),
        ),
        // Pending, or no status yet: the scheduler or the kubelet still has work to do.
        _ => match condition(pod, "PodScheduled") {
            Some(scheduled) if scheduled.is_false() => {
                Health::progressing(format!("not scheduled: {}", scheduled.explanation()))
            }
            _ => Health::progressing("pending"),
        },
    }
}

fn running(pod: &Value) -> Health {
    match condition(pod, "Ready") {
        Some(ready) if ready.is_true() => Health::healthy("running"),
        // Only restartPolicy Always pods are meant to become ready and stay; the others are
        // on their way to Succeeded.
        _ if str_at(pod, "/spec/restartPolicy").unwrap_or("Always") != "Always" => {
            Health::progressing("running to completion")
        }
        Some(ready) if !ready.message.is_empty() => Health::progressing(ready.message),
        _ => Health::progressing("running, not ready"),
    }
}

/// "container api: CrashLoopBackOff" for the first container (init containers first, as they
/// run first) waiting on a reason in [`STUCK_REASONS`].
pub(super) fn stuck_container(pod: &Value) -> Option<String> {
    ["/status/initContainerStatuses", "/status/containerStatuses"]
        .iter()
        .filter_map(|pointer| pod.pointer(pointer).and_then(Value::as_array))
        .flatten()
        .find_map(|status| {
            let reason = str_at(status, "/state/waiting/reason")?;
            if !STUCK_REASONS.contains(&reason) {
                return None;
            }
            let name = str_at(status, "/name").unwrap_or("?");
            Some(match str_at(status, "/state/waiting/message") {
                Some(message) if !message.is_empty() => {
                    format!("container {name}: {reason}: {message}")
                }
                _ => format!("container {name}: {reason}"),
            })
        })
}

/// Why a pod failed: the kubelet's message (eviction, deadline), else the first container that
/// exited non-zero.
pub(super) fn failure(pod: &Value) -> String {
    if let Some(message) = str_at(pod, "/status/message").filter(|m| !m.is_empty()) {
        return message.to_string();
    }
    pod.pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|status| {
            let code = status.pointer("/state/terminated/exitCode")?.as_i64()?;
            let name = str_at(status, "/name").unwrap_or("?");
            if code == 0 {
                return None;
            }
            let said = |p: &str| str_at(status, p).filter(|s| !s.is_empty());
            Some(
                match (
                    said("/state/terminated/reason"),
                    said("/state/terminated/message"),
                ) {
                    (Some(reason), Some(message)) => {
                        format!("container {name} exited with code {code} ({reason}): {message}")
                    }
                    (Some(reason), None) => {
                        format!("container {name} exited with code {code} ({reason})")
                    }
                    (None, Some(message)) => {
                        format!("container {name} exited with code {code}: {message}")
                    }
                    (None, None) => format!("container {name} exited with code {code}"),
                },
            )
        })
        .unwrap_or_else(|| "pod failed".to_string())
}

pub(super) fn job(job: &Value) -> Health {
    if condition(job, "Complete").is_some_and(|c| c.is_true()) {
        return Health::healthy("completed");
    }
    if let Some(failed) = condition(job, "Failed")
        && failed.is_true()
    {
        return Health::degraded(format!("failed: {}", failed.explanation()));
    }
    if flag(job, "/spec/suspend") {
        return Health::suspended("job suspended");
    }
    match count(job, "/status/active") {
        0 => Health::progressing("waiting for pods to start"),
        active => Health::progressing(format!("{active} active, running")),
    }
}

pub(super) fn cron_job(cron_job: &Value) -> Health {
    if flag(cron_job, "/spec/suspend") {
        return Health::suspended("schedule suspended");
    }
    match str_at(cron_job, "/status/lastScheduleTime") {
        Some(time) => Health::healthy(format!("last scheduled at {time}")),
        None => Health::healthy("not scheduled yet"),
    }
}

#[cfg(test)]
mod tests {
    use crate::health::HealthStatus::*;
    use crate::health::test_support::check;

    #[test]
    fn pod() {
        let head = "apiVersion: v1\nkind: Pod\nmetadata: {name: api-0}\n";
        let cases = [
            (
                "succeeded",
                "spec: {restartPolicy: Never}\nstatus: {phase: Succeeded}",
                Healthy,
                "completed",
            ),
            (
                "failed with kubelet message",
                "status: {phase: Failed, reason: Evicted, message: 'The node was low on resource: memory.'}",
                Degraded,
                "The node was low on resource: memory.",
            ),
            (
                "failed with non-zero exit",
                "status:\n  phase: Failed\n  containerStatuses:\n    - {name: side, state: {terminated: {exitCode: 0}}}\n    - {name: main, state: {terminated: {exitCode: 2}}}",
                Degraded,
                "container main exited with code 2",
            ),
            (
                "failed with no detail",
                "status: {phase: Failed}",
                Degraded,
                "pod failed",
            ),
            (
                "crash loop while running",
                "status:\n  phase: Running\n  containerStatuses:\n    - {name: api, ready: false, state: {waiting: {reason: CrashLoopBackOff}}}",
                Degraded,
                "container api: CrashLoopBackOff",
            ),
            (
                "image pull back-off while pending, with message",
                "status:\n  phase: Pending\n  containerStatuses:\n    - {name: api, state: {waiting: {reason: ImagePullBackOff, message: 'Back-off pulling image \"api:nope\"'}}}",
                Degraded,
                "container api: ImagePullBackOff: Back-off pulling image \"api:nope\"",
            ),
            (
                "stuck init container",
                "status:\n  phase: Pending\n  initContainerStatuses:\n    - {name: migrate, state: {waiting: {reason: CreateContainerConfigError, message: ''}}}",
                Degraded,
                "container migrate: CreateContainerConfigError",
            ),
            (
                "every stuck reason is degraded",
                "status:\n  phase: Pending\n  containerStatuses:\n    - {name: a, state: {waiting: {reason: ContainerCreating}}}\n    - {name: b, state: {waiting: {reason: InvalidImageName}}}",
                Degraded,
                "container b: InvalidImageName",
            ),
            (
                "running and ready",
                "spec: {restartPolicy: Always}\nstatus:\n  phase: Running\n  conditions: [{type: Ready, status: 'True'}]",
                Healthy,
                "running",
            ),
            (
                "running, not ready, restart policy defaults to Always",
                "status:\n  phase: Running\n  conditions: [{type: Ready, status: 'False', reason: ContainersNotReady, message: 'containers with unready status: [api]'}]",
                Progressing,
                "containers with unready status: [api]",
            ),
            (
                "running, no conditions yet",
                "status: {phase: Running}",
                Progressing,
                "running, not ready",
            ),
            (
                "run-to-completion pod still running",
                "spec: {restartPolicy: OnFailure}\nstatus: {phase: Running}",
                Progressing,
                "running to completion",
            ),
            (
                "pending, scheduled",
                "status: {phase: Pending}",
                Progressing,
                "pending",
            ),
            (
                "pending, unschedulable",
                "status:\n  phase: Pending\n  conditions: [{type: PodScheduled, status: 'False', reason: Unschedulable, message: '0/3 nodes are available'}]",
                Progressing,
                "not scheduled: 0/3 nodes are available",
            ),
            ("no status yet", "spec: {}", Progressing, "pending"),
            (
                "unknown phase",
                "status: {phase: Unknown}",
                Unknown,
                "node stopped reporting on the pod",
            ),
        ];
        check(head, &cases);
    }

    #[test]
    fn job() {
        let head = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: smoke}\n";
        let cases = [
            (
                "complete",
                "status:\n  succeeded: 1\n  conditions: [{type: Complete, status: 'True'}]",
                Healthy,
                "completed",
            ),
            (
                "failed",
                "status:\n  failed: 7\n  conditions: [{type: Failed, status: 'True', reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}]",
                Degraded,
                "failed: Job has reached the specified backoff limit",
            ),
            (
                "suspended",
                "spec: {suspend: true}\nstatus: {}",
                Suspended,
                "job suspended",
            ),
            (
                "running",
                "spec: {suspend: false}\nstatus: {active: 2}",
                Progressing,
                "2 active, running",
            ),
            (
                "not started",
                "spec: {}",
                Progressing,
                "waiting for pods to start",
            ),
            (
                "false conditions don't count",
                "status:\n  active: 1\n  conditions: [{type: Complete, status: 'False'}, {type: Failed, status: 'False'}]",
                Progressing,
                "1 active, running",
            ),
        ];
        check(head, &cases);
    }

    #[test]
    fn cron_job() {
        let head = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\n";
        let cases = [
            (
                "suspended",
                "spec: {schedule: '0 3 * * *', suspend: true}",
                Suspended,
                "schedule suspended",
            ),
            (
                "scheduled before",
                "spec: {schedule: '0 3 * * *'}\nstatus: {lastScheduleTime: '2025-01-02T03:00:00Z'}",
                Healthy,
                "last scheduled at 2025-01-02T03:00:00Z",
            ),
            (
                "never scheduled",
                "spec: {schedule: '0 3 * * *'}",
                Healthy,
                "not scheduled yet",
            ),
        ];
        check(head, &cases);
    }
}
