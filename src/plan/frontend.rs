//! Frontends that no label or image names: workloads reached from outside the cluster, and
//! workloads named like a frontend. A custom image (`shop/frontend:1.2`) says nothing about
//! its tier, but how the cluster exposes it and what people call it do.

use std::collections::HashMap;

use serde_json::Value;

use super::refs::{Lookup, ingress_backends};
use super::tier::followed_workloads;
use super::workload::{WorkloadIndex, pod_labels};
use crate::manifest::Object;

/// Service types that take traffic from outside the cluster.
const OUTSIDE_TYPES: &[&str] = &["LoadBalancer", "NodePort"];

/// Words that name a frontend, alone or as a `-` separated prefix or suffix.
const FRONTEND_WORDS: &[&str] = &["frontend", "web", "ui", "www"];

/// Labels that carry an application's name.
const NAME_LABELS: &[&str] = &["app", "app.kubernetes.io/name"];

/// Workloads reached from outside the cluster, each with the sentence saying how: selected by
/// a LoadBalancer or NodePort Service, or behind a Service an Ingress routes to. The first
/// way found, in the order of the input, is the one shown.
pub fn exposed_workloads(
    objects: &[Object],
    lookup: &Lookup,
    index: &WorkloadIndex,
) -> HashMap<usize, String> {
    let mut exposed = HashMap::new();
    for object in objects {
        if object.id.is("", "Service") {
            let Some(kind) = object
                .at("/spec/type")
                .and_then(Value::as_str)
                .filter(|t| OUTSIDE_TYPES.contains(t))
            else {
                continue;
            };
            let how = format!(
                "reached from outside through Service/{} ({kind})",
                object.id.name
            );
            for workload in followed_workloads(object, objects, index) {
                exposed.entry(workload).or_insert_with(|| how.clone());
            }
        } else if object.id.is("networking.k8s.io", "Ingress") {
            let ns = object.id.namespace.as_deref();
            for name in ingress_backends(object) {
                let Some(svc) = lookup.find("", "Service", ns, name) else {
                    continue;
                };
                let how = format!(
                    "backend of Ingress/{} through Service/{name}",
                    object.id.name
                );
                for workload in followed_workloads(&objects[svc], objects, index) {
                    exposed.entry(workload).or_insert_with(|| how.clone());
                }
            }
        }
    }
    exposed
}

/// `named "shop-frontend"` when the workload's name, or its `app` / `app.kubernetes.io/name`
/// label (on the object or its pods), names a frontend.
pub fn named_frontend(object: &Object) -> Option<String> {
    if names_frontend(&object.id.name) {
        return Some(format!("named \"{}\"", object.id.name));
    }
    let own = object
        .manifest
        .pointer("/metadata/labels")
        .and_then(Value::as_object);
    [own, pod_labels(object)]
        .into_iter()
        .flatten()
        .flat_map(|labels| NAME_LABELS.iter().map(move |&k| (k, labels.get(k))))
        .find_map(|(key, value)| {
            let value = value?.as_str()?;
            names_frontend(value).then(|| format!("named \"{value}\" (label {key})"))
        })
}

/// `frontend`, `web`, `ui`, `www`, or one of them as a whole `-` separated first or last part
/// (`shop-frontend`, `web-ui`). Whole parts only: `webhook`, `uid-service` and `builder` are
/// not frontends.
pub fn names_frontend(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let first = name.split('-').next().unwrap_or_default();
    let last = name.rsplit('-').next().unwrap_or_default();
    FRONTEND_WORDS.contains(&first) || FRONTEND_WORDS.contains(&last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontend_names_are_whole_words_at_either_end() {
        let cases = [
            ("frontend", true),
            ("web", true),
            ("ui", true),
            ("www", true),
            ("shop-frontend", true),
            ("web-ui", true),
            ("frontend-v2", true),
            ("admin-ui", true),
            ("Web", true),
            ("webhook", false),
            ("uid-service", false),
            ("builder", false),
            ("website", false),
            ("frontends", false),
            ("my-web-app", false),
            ("webapp", false),
            ("guide", false),
            ("", false),
        ];
        for (name, want) in cases {
            assert_eq!(names_frontend(name), want, "{name}");
        }
    }
}
