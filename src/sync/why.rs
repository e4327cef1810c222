//! The I/O behind a failure message that says why: when a wait ends Degraded or timed out, one
//! LIST of the workload's pods (by its own selector) and one page of the namespace's Warning
//! events, read within a short bound, then `health::why` picks the decisive fact. Nothing is
//! read while objects are Healthy, so a sync that succeeds costs no request more.

use std::time::Duration;

use serde_json::Value;

use crate::cluster::Cluster;
use crate::health::{children, why};

/// A failure message is worth a short wait, not a second timeout.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);
/// Warning events read at most (one page).
const EVENTS_PAGE: u32 = 500;
/// Events considered about one workload.
const EVENTS_KEPT: usize = 20;

/// The decisive fact about `live` (a workload that runs pods, or a Pod), when one is found
/// within [`LOOKUP_TIMEOUT`].
pub async fn explain(cluster: &Cluster, live: &Value) -> Option<String> {
    tokio::time::timeout(LOOKUP_TIMEOUT, gather(cluster, live))
        .await
        .ok()
        .flatten()
}

async fn gather(cluster: &Cluster, live: &Value) -> Option<String> {
    let text = |p: &str| live.pointer(p).and_then(Value::as_str);
    let kind = text("/kind")?;
    let name = text("/metadata/name")?;
    let namespace = text("/metadata/namespace")?;
    let group = crate::manifest::split_api_version(text("/apiVersion")?).0;
    let pods = if kind == "Pod" {
        vec![live.clone()]
    } else if children::owned_kinds(group, kind).contains(&"Pod") {
        let selector = match_labels(live)?;
        let resource = cluster.resource("v1", "Pod").await.ok()?;
        let mut pods = cluster
            .list(&resource, Some(namespace), Some(&selector))
            .await
            .ok()?;
        pods.retain(|p| belongs(p, kind, name));
        pods
    } else {
        return None;
    };
    let mut objects: Vec<(&str, &str)> = vec![(kind, name)];
    for pod in &pods {
        if let Some(pod_name) = pod.pointer("/metadata/name").and_then(Value::as_str) {
            objects.push(("Pod", pod_name));
        }
        objects.extend(owners(pod));
    }
    let events = cluster
        .events(namespace, "type=Warning", EVENTS_PAGE)
        .await
        .unwrap_or_default();
    let about = why::events_about(&events, &objects, EVENTS_KEPT);
    why::decisive(&pods, &about)
}

/// `spec.selector.matchLabels` as a label selector (`a=b,c=d`); what a workload's pods carry.
fn match_labels(live: &Value) -> Option<String> {
    let labels = live.pointer("/spec/selector/matchLabels")?.as_object()?;
    let selector: Vec<String> = labels
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
        .collect();
    (!selector.is_empty()).then(|| selector.join(","))
}

/// Whether `pod` is run by `kind`/`name`: directly, or (a Deployment) through one of its
/// ReplicaSets, which are named `<deployment>-<hash>`.
fn belongs(pod: &Value, kind: &str, name: &str) -> bool {
    owners(pod).any(|(k, n)| {
        (k == kind && n == name)
            || (kind == "Deployment"
                && k == "ReplicaSet"
                && n.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('-')))
    })
}

fn owners(object: &Value) -> impl Iterator<Item = (&str, &str)> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some((
                r.get("kind").and_then(Value::as_str)?,
                r.get("name").and_then(Value::as_str)?,
            ))
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pods_belong_to_their_workload_or_its_replica_sets() {
        let pod = |kind: &str, name: &str| json!({"metadata": {"ownerReferences": [{"kind": kind, "name": name}]}});
        let cases = [
            (pod("ReplicaSet", "api-7d9f"), "Deployment", "api", true),
            (pod("ReplicaSet", "api-v2-7d9f"), "Deployment", "api", true),
            (pod("ReplicaSet", "apiserver-1"), "Deployment", "api", false),
            (pod("StatefulSet", "db"), "StatefulSet", "db", true),
            (pod("Job", "migrate"), "Job", "migrate", true),
            (pod("Job", "migrate"), "Job", "other", false),
            (json!({"metadata": {}}), "Job", "migrate", false),
        ];
        for (p, kind, name, expected) in cases {
            assert_eq!(belongs(&p, kind, name), expected, "{p} {kind}/{name}");
        }
        let deployment =
            json!({"spec": {"selector": {"matchLabels": {"app": "api", "tier": "b"}}}});
        assert_eq!(match_labels(&deployment).as_deref(), Some("app=api,tier=b"));
        assert_eq!(match_labels(&json!({"spec": {}})), None);
    }
}
