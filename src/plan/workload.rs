//! Pod-template access and label selection: which objects run pods, and which of them a
//! Service, PDB, NetworkPolicy or monitor selects. Indexed so selection stays cheap at 10k objects.

use std::collections::HashMap;

use serde_json::Value;

use crate::manifest::Object;

/// JSON pointer to the pod template (or pod spec holder) of a workload kind.
pub fn pod_template_pointer(group: &str, kind: &str) -> Option<&'static str> {
    match (group, kind) {
        ("", "Pod") => Some(""),
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template"),
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job")
        | ("", "ReplicationController") => Some("/spec/template"),
        _ => None,
    }
}

pub fn is_workload(object: &Object) -> bool {
    pod_template_pointer(&object.id.group, &object.id.kind).is_some()
}

fn pod_template(object: &Object) -> Option<&Value> {
    let base = pod_template_pointer(&object.id.group, &object.id.kind)?;
    object.manifest.pointer(base)
}

/// The pod spec of a workload (`spec` of its template), if it has one.
pub fn pod_spec(object: &Object) -> Option<&Value> {
    pod_template(object)?.get("spec")
}

/// Labels its pods carry.
pub fn pod_labels(object: &Object) -> Option<&serde_json::Map<String, Value>> {
    pod_template(object)?
        .get("metadata")?
        .get("labels")?
        .as_object()
}

/// Every container of a pod spec: init containers first, then the main ones.
pub fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers"]
        .into_iter()
        .filter_map(|key| spec.get(key).and_then(Value::as_array))
        .flatten()
}

/// A Kubernetes label selector: `matchLabels` plus `matchExpressions`, or a plain map
/// (Service `spec.selector`).
#[derive(Debug, Default)]
pub struct Selector<'a> {
    labels: Vec<(&'a str, &'a str)>,
    expressions: Vec<Expression<'a>>,
}

#[derive(Debug)]
struct Expression<'a> {
    key: &'a str,
    operator: &'a str,
    values: Vec<&'a str>,
}

impl<'a> Selector<'a> {
    /// From a plain map of labels (Service selector). None when absent or empty: an empty
    /// Service selector selects nothing (endpoints are managed by hand).
    pub fn from_map(value: Option<&'a Value>) -> Option<Self> {
        let map = value?.as_object()?;
        let labels: Vec<_> = map
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
            .collect();
        (!labels.is_empty()).then_some(Selector {
            labels,
            expressions: Vec::new(),
        })
    }

    /// From a `LabelSelector`. An empty selector selects everything in the namespace, which
    /// is what PDBs and NetworkPolicies mean by it.
    pub fn from_label_selector(value: Option<&'a Value>) -> Option<Self> {
        let value = value?;
        let labels = value
            .get("matchLabels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                    .collect()
            })
            .unwrap_or_default();
        let expressions = value
            .get("matchExpressions")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|e| {
                        Some(Expression {
                            key: e.get("key")?.as_str()?,
                            operator: e.get("operator")?.as_str()?,
                            values: e
                                .get("values")
                                .and_then(Value::as_array)
                                .map(|v| v.iter().filter_map(Value::as_str).collect())
                                .unwrap_or_default(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Selector {
            labels,
            expressions,
        })
    }

    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.labels.iter().all(|(k, v)| get(k) == Some(v))
            && self.expressions.iter().all(|e| {
                let actual = get(e.key);
                match e.operator {
                    "In" => actual.is_some_and(|a| e.values.contains(&a)),
                    "NotIn" => actual.is_none_or(|a| !e.values.contains(&a)),
                    "Exists" => actual.is_some(),
                    "DoesNotExist" => actual.is_none(),
                    _ => false,
                }
            })
    }

    fn first_label(&self) -> Option<(&'a str, &'a str)> {
        self.labels.first().copied()
    }
}

/// Workloads by namespace and by pod label, for fast selection.
pub struct WorkloadIndex {
    by_namespace: HashMap<String, Vec<usize>>,
    by_label: HashMap<(String, String, String), Vec<usize>>,
}

impl WorkloadIndex {
    pub fn new(objects: &[Object]) -> Self {
        let mut by_namespace: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_label: HashMap<(String, String, String), Vec<usize>> = HashMap::new();
        for (i, object) in objects.iter().enumerate() {
            if !is_workload(object) {
                continue;
            }
            let ns = object.namespace_or_default().to_owned();
            for (k, v) in pod_labels(object).into_iter().flatten() {
                if let Some(v) = v.as_str() {
                    by_label
                        .entry((ns.clone(), k.clone(), v.to_owned()))
                        .or_default()
                        .push(i);
                }
            }
            by_namespace.entry(ns).or_default().push(i);
        }
        WorkloadIndex {
            by_namespace,
            by_label,
        }
    }

    /// Indexes of the workloads in `namespace` whose pods `selector` selects.
    pub fn select(&self, objects: &[Object], namespace: &str, selector: &Selector) -> Vec<usize> {
        let candidates = match selector.first_label() {
            Some((k, v)) => self
                .by_label
                .get(&(namespace.to_owned(), k.to_owned(), v.to_owned())),
            None => self.by_namespace.get(namespace),
        };
        candidates
            .into_iter()
            .flatten()
            .copied()
            .filter(|&i| selector.matches(pod_labels(&objects[i])))
            .collect()
    }
}
