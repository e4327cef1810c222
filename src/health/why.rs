//! Why an object is not Healthy: the one fact a person would look for first, picked from the
//! pods it runs and the Kubernetes events about it and them. Pure: the caller reads the pods
//! and events (a LIST at failure time, or the watch cache while someone looks) and passes them
//! in.
//!
//! The order follows what `kubectl describe` users scan for: a container stuck on a reason that
//! will not clear (`ErrImagePull`, `CrashLoopBackOff`: the kubelet's own words), a pod that
//! failed (its exit code and message), a pod the scheduler cannot place ("0/2 nodes are
//! available: …"), then the newest Warning event ("Readiness probe failed: …"), whose message
//! is the only place a failing probe is explained.

use serde::Serialize;
use serde_json::Value;

use super::fields::{condition, str_at};
use super::pods::{failure, stuck_container};

/// Everything quoted from the cluster is cut to this many characters: a message is read by a
/// person in one line, and the cluster's text is not ours to trust with our output's size.
pub const MAX_QUOTE: usize = 512;

/// One Kubernetes event, as shown on the page and in the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub kind: String,
    pub reason: String,
    pub message: String,
    pub count: u64,
    /// When it was last seen (RFC 3339), as the API server reports it.
    pub last_seen: Option<String>,
    /// `Kind/name` of the object it is about.
    pub object: String,
}

/// A core/v1 Event as an [`EventView`]; `None` for what is not an event.
pub fn event_view(event: &Value) -> Option<EventView> {
    let kind = str_at(event, "/involvedObject/kind")?;
    let name = str_at(event, "/involvedObject/name")?;
    let last_seen = ["/lastTimestamp", "/series/lastObservedTime", "/eventTime"]
        .iter()
        .chain(std::iter::once(&"/metadata/creationTimestamp"))
        .find_map(|p| str_at(event, p))
        .map(str::to_owned);
    let count = event
        .pointer("/series/count")
        .or_else(|| event.get("count"))
        .and_then(Value::as_u64)
        .unwrap_or(1);
    Some(EventView {
        kind: quote(str_at(event, "/type").unwrap_or("Normal")),
        reason: quote(str_at(event, "/reason").unwrap_or_default()),
        message: quote(str_at(event, "/message").unwrap_or_default().trim_end()),
        count,
        last_seen,
        object: quote(&format!("{kind}/{name}")),
    })
}

/// The events about any of `objects` (`(kind, name)` pairs), newest first, at most `limit`.
pub fn events_about(events: &[Value], objects: &[(&str, &str)], limit: usize) -> Vec<EventView> {
    let mut about: Vec<EventView> = events
        .iter()
        .filter(|e| {
            let kind = str_at(e, "/involvedObject/kind").unwrap_or_default();
            let name = str_at(e, "/involvedObject/name").unwrap_or_default();
            objects.iter().any(|(k, n)| *k == kind && *n == name)
        })
        .filter_map(event_view)
        .collect();
    // RFC 3339 in UTC sorts as text; an event without a time goes last.
    about.sort_by(|a, b| b.last_seen.cmp(&a.last_seen));
    about.truncate(limit);
    about
}

/// The decisive fact about a workload that is not Healthy, given its pods (any order) and the
/// events about it and its children (newest first, as [`events_about`] gives them).
pub fn decisive(pods: &[Value], events: &[EventView]) -> Option<String> {
    let mut pods: Vec<&Value> = pods.iter().collect();
    // The newest pods belong to the newest rollout: their trouble is the one to tell.
    pods.sort_by(|a, b| created(b).cmp(created(a)));
    let name = |pod: &Value| str_at(pod, "/metadata/name").unwrap_or("?").to_owned();
    if let Some((pod, stuck)) = pods
        .iter()
        .find_map(|p| stuck_container(p).map(|s| (*p, s)))
    {
        return Some(quote(&format!("pod {}: {stuck}", name(pod))));
    }
    if let Some(pod) = pods
        .iter()
        .find(|p| str_at(p, "/status/phase") == Some("Failed"))
    {
        return Some(quote(&format!("pod {}: {}", name(pod), failure(pod))));
    }
    if let Some((pod, unscheduled)) = pods.iter().find_map(|p| {
        condition(p, "PodScheduled")
            .filter(|c| c.is_false())
            .map(|c| (*p, c.explanation().to_owned()))
    }) {
        return Some(quote(&format!(
            "pod {}: not scheduled: {unscheduled}",
            name(pod)
        )));
    }
    if let Some(warning) = events.iter().find(|e| e.kind == "Warning") {
        return Some(quote(&format!(
            "{} {}: {}",
            warning.reason, warning.object, warning.message
        )));
    }
    pods.iter()
        .find_map(|pod| restarted(pod).map(|r| quote(&format!("pod {}: {r}", name(pod)))))
}

/// The kind of trouble a failure message tells, from a fixed set (a metric label must stay
/// bounded; the message itself is free text): `ImagePull`, `CrashLoop`, `ContainerConfig`,
/// `Unschedulable`, `OOMKilled`, `ContainerFailed`, `ProbeFailed`, `ProgressDeadline`,
/// `Restarts`, `TimedOut`, else `Other`. First match wins, in the order of [`decisive`].
pub fn reason_label(message: &str) -> &'static str {
    const TABLE: &[(&[&str], &str)] = &[
        (
            &[
                "ErrImagePull",
                "ImagePullBackOff",
                "InvalidImageName",
                "pulling image",
            ],
            "ImagePull",
        ),
        (&["CrashLoopBackOff"], "CrashLoop"),
        (
            &["CreateContainerConfigError", "CreateContainerError"],
            "ContainerConfig",
        ),
        (
            &["not scheduled", "FailedScheduling", "nodes are available"],
            "Unschedulable",
        ),
        (&["OOMKilled"], "OOMKilled"),
        (&["exited with code"], "ContainerFailed"),
        (&["probe failed"], "ProbeFailed"),
        (
            &[
                "progress deadline",
                "ProgressDeadlineExceeded",
                "timed out progressing",
            ],
            "ProgressDeadline",
        ),
        (&["restarted"], "Restarts"),
        (&["timed out", "did not become"], "TimedOut"),
    ];
    let lower = message.to_ascii_lowercase();
    TABLE
        .iter()
        .find(|(needles, _)| {
            needles
                .iter()
                .any(|n| lower.contains(&n.to_ascii_lowercase()))
        })
        .map_or("Other", |(_, label)| label)
}

/// `message`, followed by the decisive fact when there is one and it says something new.
pub fn explained(message: &str, fact: Option<&str>) -> String {
    match fact {
        Some(fact) if !fact.is_empty() && !message.contains(fact) => {
            if message.is_empty() {
                fact.to_owned()
            } else {
                // "…timed out progressing.; pod" reads badly: the fact follows the sentence.
                format!("{}; {fact}", message.trim_end_matches('.'))
            }
        }
        _ => message.to_owned(),
    }
}

/// "container api restarted 3 times, last exit code 1" for a pod whose containers restart
/// without a waiting reason that says why.
fn restarted(pod: &Value) -> Option<String> {
    pod.pointer("/status/containerStatuses")
        .and_then(Value::as_array)?
        .iter()
        .find_map(|status| {
            let restarts = status.get("restartCount").and_then(Value::as_u64)?;
            if restarts == 0 {
                return None;
            }
            let name = str_at(status, "/name").unwrap_or("?");
            Some(
                match status
                    .pointer("/lastState/terminated/exitCode")
                    .and_then(Value::as_i64)
                {
                    Some(code) => {
                        format!(
                            "container {name} restarted {restarts} times, last exit code {code}"
                        )
                    }
                    None => format!("container {name} restarted {restarts} times"),
                },
            )
        })
}

fn created(object: &Value) -> &str {
    str_at(object, "/metadata/creationTimestamp").unwrap_or_default()
}

/// `text` cut to [`MAX_QUOTE`] characters (at a character boundary), with "…" when cut.
pub fn quote(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTE) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, created: &str, status: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "creationTimestamp": created}, "status": status})
    }

    fn event(kind: &str, reason: &str, object: (&str, &str), message: &str, at: &str) -> Value {
        json!({"type": kind, "reason": reason, "message": message, "count": 2,
               "involvedObject": {"kind": object.0, "name": object.1}, "lastTimestamp": at})
    }

    fn waiting(reason: &str, message: &str) -> Value {
        json!({"phase": "Pending", "containerStatuses": [
            {"name": "api", "restartCount": 0, "state": {"waiting": {"reason": reason, "message": message}}}]})
    }

    #[test]
    fn the_decisive_fact_is_picked_in_the_order_people_look() {
        let pull = pod(
            "api-2",
            "2025-01-01T00:01:00Z",
            waiting("ErrImagePull", "failed to pull image \"api:9\": not found"),
        );
        let old_crash = pod(
            "api-1",
            "2025-01-01T00:00:00Z",
            waiting("CrashLoopBackOff", "back-off 10s"),
        );
        let failed = pod(
            "migrate-x",
            "2025-01-01T00:00:00Z",
            json!({"phase": "Failed", "containerStatuses": [{"name": "migrate",
                "state": {"terminated": {"exitCode": 1, "reason": "Error", "message": "relation exists"}}}]}),
        );
        let unscheduled = pod(
            "db-0",
            "2025-01-01T00:00:00Z",
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable", "message": "0/2 nodes are available: 2 Insufficient memory."}]}),
        );
        let unready = pod(
            "web-1",
            "2025-01-01T00:00:00Z",
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [{"name": "web", "restartCount": 0, "state": {"running": {}}}]}),
        );
        let restarting = pod(
            "web-2",
            "2025-01-01T00:00:00Z",
            json!({"phase": "Running", "containerStatuses": [{"name": "web", "restartCount": 3,
                "lastState": {"terminated": {"exitCode": 137}}, "state": {"running": {}}}]}),
        );
        let probe = event(
            "Warning",
            "Unhealthy",
            ("Pod", "web-1"),
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
            "2025-01-01T00:02:00Z",
        );
        let normal = event(
            "Normal",
            "Pulled",
            ("Pod", "web-1"),
            "image pulled",
            "2025-01-01T00:03:00Z",
        );
        let events = events_about(&[probe, normal], &[("Pod", "web-1"), ("Pod", "web-2")], 10);
        type Case<'a> = (&'a str, Vec<Value>, &'a [EventView], Option<&'a str>);
        let cases: Vec<Case<'_>> = vec![
            (
                "the newest pod's stuck container wins",
                vec![old_crash.clone(), pull.clone()],
                &[],
                Some(
                    "pod api-2: container api: ErrImagePull: failed to pull image \"api:9\": not found",
                ),
            ),
            (
                "a failed pod's exit code and message",
                vec![failed],
                &events,
                Some(
                    "pod migrate-x: container migrate exited with code 1 (Error): relation exists",
                ),
            ),
            (
                "an unschedulable pod",
                vec![unscheduled],
                &events,
                Some("pod db-0: not scheduled: 0/2 nodes are available: 2 Insufficient memory."),
            ),
            (
                "a failing probe is only told by its event",
                vec![unready.clone()],
                &events,
                Some(
                    "Unhealthy Pod/web-1: Readiness probe failed: HTTP probe failed with statuscode: 503",
                ),
            ),
            (
                "restarts without a reason",
                vec![unready.clone(), restarting],
                &[],
                Some("pod web-2: container web restarted 3 times, last exit code 137"),
            ),
            ("nothing to say", vec![unready], &[], None),
            ("no pods, no events", vec![], &[], None),
        ];
        for (name, pods, events, expected) in cases {
            assert_eq!(decisive(&pods, events).as_deref(), expected, "{name}");
        }
    }

    #[test]
    fn events_are_those_about_the_objects_newest_first_and_bounded() {
        let events = [
            event(
                "Normal",
                "Scheduled",
                ("Pod", "a"),
                "assigned",
                "2025-01-01T00:00:01Z",
            ),
            event(
                "Warning",
                "BackOff",
                ("Pod", "a"),
                "back-off",
                "2025-01-01T00:00:03Z",
            ),
            event(
                "Warning",
                "Failed",
                ("Pod", "other"),
                "not ours",
                "2025-01-01T00:00:04Z",
            ),
            event(
                "Normal",
                "ScalingReplicaSet",
                ("Deployment", "a"),
                "scaled",
                "2025-01-01T00:00:02Z",
            ),
            json!({"reason": "no involved object"}),
        ];
        let got = events_about(&events, &[("Pod", "a"), ("Deployment", "a")], 10);
        let reasons: Vec<&str> = got.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["BackOff", "ScalingReplicaSet", "Scheduled"]);
        assert_eq!(got[0].object, "Pod/a");
        assert_eq!(got[0].count, 2);
        assert_eq!(events_about(&events, &[("Pod", "a")], 1).len(), 1);
    }

    #[test]
    fn quotes_are_bounded_and_explanations_not_repeated() {
        let long = "x".repeat(MAX_QUOTE + 10);
        assert_eq!(quote(&long).chars().count(), MAX_QUOTE + 1);
        assert_eq!(quote("é".repeat(3).as_str()), "ééé");
        let cases = [
            (
                "still Progressing",
                Some("pod a: x"),
                "still Progressing; pod a: x",
            ),
            ("pod a: x", Some("pod a: x"), "pod a: x"),
            ("", Some("pod a: x"), "pod a: x"),
            (
                "timed out progressing.",
                Some("pod a: x"),
                "timed out progressing; pod a: x",
            ),
            ("still Progressing", None, "still Progressing"),
        ];
        for (message, fact, expected) in cases {
            assert_eq!(explained(message, fact), expected);
        }
    }

    #[test]
    fn failure_messages_map_to_a_bounded_reason() {
        for (message, want) in [
            (
                "pod api-1: container api: ErrImagePull: failed to pull and unpack image \"backend:1.5.0\"",
                "ImagePull",
            ),
            (
                "pod api-1: container api: CrashLoopBackOff: back-off 40s restarting",
                "CrashLoop",
            ),
            (
                "pod api-1: not scheduled: 0/2 nodes are available: insufficient memory",
                "Unschedulable",
            ),
            (
                "pod migrate-x: container migrate exited with code 1 (Error): migration failed",
                "ContainerFailed",
            ),
            (
                "pod api-1: container api exited with code 137 (OOMKilled)",
                "OOMKilled",
            ),
            (
                "Unhealthy Pod/api-1: Readiness probe failed: HTTP probe failed with statuscode: 503",
                "ProbeFailed",
            ),
            (
                "progress deadline exceeded: ReplicaSet \"api-5b\" has timed out progressing",
                "ProgressDeadline",
            ),
            (
                "pod api-1: container api restarted 3 times, last exit code 1",
                "Restarts",
            ),
            ("timed out after 5m0s waiting for health", "TimedOut"),
            ("something nobody foresaw", "Other"),
        ] {
            assert_eq!(reason_label(message), want, "{message}");
        }
    }
}
