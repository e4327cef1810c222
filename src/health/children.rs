//! What a workload owns, live: the tree Argo CD users know (Deployment → ReplicaSets → Pods,
//! StatefulSet and DaemonSet → Pods, CronJob → Jobs → Pods, Service → EndpointSlices), built
//! from owner references, each child with its health, ready count, restarts, node and age.
//! Pure: the caller passes the live objects of the namespace (from the watch cache).

use serde::Serialize;
use serde_json::Value;

use super::fields::str_at;
use super::{HealthStatus, assess};

/// Children shown per object: a Deployment of 500 replicas lists its newest 50 pods (and says
/// how many there are), so a page never carries an unbounded list.
pub const MAX_CHILDREN: usize = 50;
/// Deployment → ReplicaSet → Pod and CronJob → Job → Pod are the deepest chains.
const MAX_DEPTH: usize = 3;

/// The kinds a kind owns, by (API group, kind): the watches to start for its tree.
const OWNED: &[(&str, &str, &[&str])] = &[
    ("apps", "Deployment", &["ReplicaSet", "Pod"]),
    ("apps", "StatefulSet", &["Pod"]),
    ("apps", "DaemonSet", &["Pod"]),
    ("apps", "ReplicaSet", &["Pod"]),
    ("batch", "Job", &["Pod"]),
    ("batch", "CronJob", &["Job", "Pod"]),
    ("", "Service", &["EndpointSlice"]),
];

/// The kinds whose live objects a tree of `kind` (in API group `group`) is made of; empty for
/// kinds that own nothing ordo shows.
pub fn owned_kinds(group: &str, kind: &str) -> &'static [&'static str] {
    OWNED
        .iter()
        .find(|(g, k, _)| *g == group && *k == kind)
        .map_or(&[], |(_, _, owned)| owned)
}

/// One live object owned (directly or not) by an object of the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Child {
    pub kind: String,
    pub name: String,
    pub health: HealthStatus,
    pub message: String,
    /// "ready/wanted": containers for a Pod, replicas for a ReplicaSet, endpoints for an
    /// EndpointSlice, completions for a Job.
    pub ready: Option<String>,
    /// Container restarts, summed over the pods below.
    pub restarts: u64,
    /// The node a Pod runs on.
    pub node: Option<String>,
    /// `metadata.creationTimestamp` (RFC 3339): the page shows the age.
    pub created: Option<String>,
    /// A Pod's containers, init containers first (what logs can be asked for).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
    pub children: Vec<Child>,
    /// Children left out beyond [`MAX_CHILDREN`].
    #[serde(skip_serializing_if = "is_zero")]
    pub more: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The children of `kind`/`name` among `live` (objects of one namespace, any kinds), newest
/// first, each with its own children.
pub fn children(kind: &str, name: &str, live: &[Value]) -> (Vec<Child>, usize) {
    children_at(kind, name, live, 1)
}

fn children_at(kind: &str, name: &str, live: &[Value], depth: usize) -> (Vec<Child>, usize) {
    if depth > MAX_DEPTH {
        return (Vec::new(), 0);
    }
    let mut owned: Vec<&Value> = live.iter().filter(|o| owned_by(o, kind, name)).collect();
    owned.sort_by(|a, b| {
        let key = |o: &Value| {
            (
                str_at(o, "/metadata/creationTimestamp").map(str::to_owned),
                str_at(o, "/metadata/name").map(str::to_owned),
            )
        };
        key(b).cmp(&key(a))
    });
    let more = owned.len().saturating_sub(MAX_CHILDREN);
    let children = owned
        .into_iter()
        .take(MAX_CHILDREN)
        .map(|o| child(o, live, depth))
        .collect();
    (children, more)
}

fn child(object: &Value, live: &[Value], depth: usize) -> Child {
    let kind = str_at(object, "/kind").unwrap_or_default().to_owned();
    let name = str_at(object, "/metadata/name")
        .unwrap_or_default()
        .to_owned();
    let (children, more) = children_at(&kind, &name, live, depth + 1);
    let health = assess(object);
    let restarts = match kind.as_str() {
        "Pod" => statuses(object)
            .filter_map(|s| s.get("restartCount").and_then(Value::as_u64))
            .sum(),
        _ => children.iter().map(|c| c.restarts).sum(),
    };
    Child {
        ready: ready(&kind, object),
        node: (kind == "Pod")
            .then(|| str_at(object, "/spec/nodeName").map(str::to_owned))
            .flatten(),
        created: str_at(object, "/metadata/creationTimestamp").map(str::to_owned),
        containers: if kind == "Pod" {
            containers(object)
        } else {
            Vec::new()
        },
        health: health.status,
        message: super::why::quote(&health.message),
        restarts,
        kind,
        name,
        children,
        more,
    }
}

/// Whether `object` names `kind`/`name` among its owners.
fn owned_by(object: &Value, kind: &str, name: &str) -> bool {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| str_at(r, "/kind") == Some(kind) && str_at(r, "/name") == Some(name))
}

fn statuses(pod: &Value) -> impl Iterator<Item = &Value> {
    ["/status/initContainerStatuses", "/status/containerStatuses"]
        .into_iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
}

fn containers(pod: &Value) -> Vec<String> {
    ["/spec/initContainers", "/spec/containers"]
        .into_iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| str_at(c, "/name").map(str::to_owned))
        .collect()
}

fn ready(kind: &str, object: &Value) -> Option<String> {
    let n = |p: &str| object.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    match kind {
        "Pod" => {
            let wanted = object
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ready = object
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|s| s.get("ready").and_then(Value::as_bool) == Some(true))
                .count();
            Some(format!("{ready}/{wanted}"))
        }
        "ReplicaSet" => {
            let wanted = object
                .pointer("/spec/replicas")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            Some(format!("{}/{wanted}", n("/status/readyReplicas")))
        }
        "Job" => {
            let wanted = object
                .pointer("/spec/completions")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            Some(format!("{}/{wanted}", n("/status/succeeded")))
        }
        "EndpointSlice" => {
            let endpoints = object.get("endpoints").and_then(Value::as_array);
            let total = endpoints.map_or(0, Vec::len);
            let ready = endpoints
                .into_iter()
                .flatten()
                .filter(|e| e.pointer("/conditions/ready").and_then(Value::as_bool) != Some(false))
                .count();
            Some(format!("{ready}/{total}"))
        }
        _ => None,
    }
}

/// Every object of a tree, as (kind, name): what events are gathered for.
pub fn members(children: &[Child]) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    for c in children {
        out.push((c.kind.as_str(), c.name.as_str()));
        out.extend(members(&c.children));
    }
    out
}

/// The Pod named `name` in a tree, if it is one (logs are only read for pods of the app).
pub fn find_pod<'a>(children: &'a [Child], name: &str) -> Option<&'a Child> {
    children.iter().find_map(|c| {
        if c.kind == "Pod" && c.name == name {
            Some(c)
        } else {
            find_pod(&c.children, name)
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(
        kind: &str,
        name: &str,
        owner: Option<(&str, &str)>,
        created: &str,
        rest: Value,
    ) -> Value {
        let api_version = match kind {
            "ReplicaSet" => "apps/v1",
            "Job" => "batch/v1",
            "EndpointSlice" => "discovery.k8s.io/v1",
            _ => "v1",
        };
        let mut o = json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "creationTimestamp": created}});
        if let Some((k, n)) = owner {
            o["metadata"]["ownerReferences"] = json!([{"kind": k, "name": n, "controller": true}]);
        }
        if let (Some(map), Value::Object(rest)) = (o.as_object_mut(), rest) {
            map.extend(rest);
        }
        o
    }

    fn pod(name: &str, owner: (&str, &str), created: &str, ready: bool, restarts: u64) -> Value {
        object(
            "Pod",
            name,
            Some(owner),
            created,
            json!({
            "spec": {"nodeName": "kwok-node-0", "containers": [{"name": "api"}]},
            "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "containerStatuses": [{"name": "api", "ready": ready, "restartCount": restarts,
                    "state": {"running": {}}}]}}),
        )
    }

    fn cluster() -> Vec<Value> {
        vec![
            object(
                "ReplicaSet",
                "api-1",
                Some(("Deployment", "api")),
                "2025-01-01T00:00:00Z",
                json!({"spec": {"replicas": 0}, "status": {}}),
            ),
            object(
                "ReplicaSet",
                "api-2",
                Some(("Deployment", "api")),
                "2025-01-01T00:01:00Z",
                json!({"spec": {"replicas": 2}, "status": {"replicas": 2, "readyReplicas": 1}}),
            ),
            pod(
                "api-2-a",
                ("ReplicaSet", "api-2"),
                "2025-01-01T00:01:00Z",
                true,
                0,
            ),
            pod(
                "api-2-b",
                ("ReplicaSet", "api-2"),
                "2025-01-01T00:01:01Z",
                false,
                4,
            ),
            pod(
                "web-0",
                ("StatefulSet", "web"),
                "2025-01-01T00:00:00Z",
                true,
                0,
            ),
            object(
                "Job",
                "nightly-1",
                Some(("CronJob", "nightly")),
                "2025-01-01T00:00:00Z",
                json!({"spec": {"completions": 1}, "status": {"succeeded": 1,
                    "conditions": [{"type": "Complete", "status": "True"}]}}),
            ),
            pod(
                "nightly-1-x",
                ("Job", "nightly-1"),
                "2025-01-01T00:00:00Z",
                false,
                0,
            ),
            object(
                "EndpointSlice",
                "api-abc",
                Some(("Service", "api")),
                "2025-01-01T00:00:00Z",
                json!({"endpoints": [{"conditions": {"ready": true}}, {"conditions": {"ready": false}}]}),
            ),
            pod(
                "stray",
                ("ReplicaSet", "other-1"),
                "2025-01-01T00:00:00Z",
                true,
                0,
            ),
        ]
    }

    /// "Kind/name ready restarts" lines, indented by depth.
    fn outline(children: &[Child], depth: usize, out: &mut Vec<String>) {
        for c in children {
            out.push(format!(
                "{}{}/{} {} {} {}",
                "  ".repeat(depth),
                c.kind,
                c.name,
                c.health,
                c.ready.as_deref().unwrap_or("-"),
                c.restarts
            ));
            outline(&c.children, depth + 1, out);
        }
    }

    #[test]
    fn trees_follow_owner_references_newest_first() {
        let live = cluster();
        let cases: [(&str, &str, &[&str]); 6] = [
            (
                "Deployment",
                "api",
                &[
                    "ReplicaSet/api-2 Progressing 1/2 4",
                    "  Pod/api-2-b Progressing 0/1 4",
                    "  Pod/api-2-a Healthy 1/1 0",
                    "ReplicaSet/api-1 Healthy 0/0 0",
                ],
            ),
            ("StatefulSet", "web", &["Pod/web-0 Healthy 1/1 0"]),
            (
                "CronJob",
                "nightly",
                &[
                    "Job/nightly-1 Healthy 1/1 0",
                    "  Pod/nightly-1-x Progressing 0/1 0",
                ],
            ),
            ("Service", "api", &["EndpointSlice/api-abc Healthy 1/2 0"]),
            ("Deployment", "gone", &[]),
            ("ConfigMap", "api", &[]),
        ];
        for (kind, name, expected) in cases {
            let (tree, more) = children(kind, name, &live);
            let mut got = Vec::new();
            outline(&tree, 0, &mut got);
            assert_eq!(got, expected, "{kind}/{name}");
            assert_eq!(more, 0);
        }
    }

    #[test]
    fn pods_carry_node_containers_and_age_and_are_found_for_logs() {
        let live = cluster();
        let (tree, _) = children("Deployment", "api", &live);
        let pod = find_pod(&tree, "api-2-b").expect("pod in the tree");
        assert_eq!(pod.node.as_deref(), Some("kwok-node-0"));
        assert_eq!(pod.containers, ["api"]);
        assert_eq!(pod.created.as_deref(), Some("2025-01-01T00:01:01Z"));
        assert!(
            find_pod(&tree, "stray").is_none(),
            "not owned by the Deployment"
        );
        assert!(
            find_pod(&tree, "api-2").is_none(),
            "a ReplicaSet is not a pod"
        );
        let members = members(&tree);
        assert_eq!(members.len(), 4);
        assert!(members.contains(&("Pod", "api-2-a")));
    }

    #[test]
    fn long_lists_are_cut_and_counted() {
        let live: Vec<Value> = (0..MAX_CHILDREN + 7)
            .map(|i| {
                pod(
                    &format!("p-{i:03}"),
                    ("DaemonSet", "agent"),
                    "2025-01-01T00:00:00Z",
                    true,
                    1,
                )
            })
            .collect();
        let (tree, more) = children("DaemonSet", "agent", &live);
        assert_eq!((tree.len(), more), (MAX_CHILDREN, 7));
    }

    #[test]
    fn owned_kinds_by_group_and_kind() {
        assert_eq!(owned_kinds("apps", "Deployment"), ["ReplicaSet", "Pod"]);
        assert_eq!(owned_kinds("", "Service"), ["EndpointSlice"]);
        assert!(owned_kinds("example.com", "Deployment").is_empty());
        assert!(owned_kinds("", "ConfigMap").is_empty());
    }
}
