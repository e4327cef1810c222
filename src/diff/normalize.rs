//! Removes the fields the API server writes on its own, so that comparing a dry-run result with
//! the live object only sees what a sync could change.

use serde_json::Value;

/// Annotation written by `kubectl apply` (client-side). It echoes the whole manifest, so it
/// differs whenever anything does, and for Secrets it holds their plaintext.
pub use crate::manifest::keys::LAST_APPLIED_ANNOTATION;

/// Server-maintained metadata fields: bumped or stamped on every write, never part of the
/// desired state.
const VOLATILE_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "generation",
    "uid",
    "creationTimestamp",
    "selfLink",
    // An object being deleted carries these on both sides of a dry run; they describe a
    // lifecycle event, not configuration that a sync could change.
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Strips what never counts as a difference: `status`, the volatile metadata fields
/// (managedFields, resourceVersion, generation, uid, creationTimestamp, selfLink,
/// deletionTimestamp, deletionGracePeriodSeconds) and the annotation
/// `kubectl.kubernetes.io/last-applied-configuration`. Returns a new value; a non-object is
/// returned unchanged.
pub fn normalize(object: &Value) -> Value {
    let mut out = object.clone();
    let Some(root) = out.as_object_mut() else {
        return out;
    };
    // `status` is written by controllers; a dry-run apply echoes the live one anyway.
    root.remove("status");
    if let Some(metadata) = root.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in VOLATILE_METADATA {
            metadata.remove(*field);
        }
        let annotations_now_empty = match metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
        {
            Some(annotations) => {
                annotations.remove(LAST_APPLIED_ANNOTATION);
                annotations.is_empty()
            }
            None => false,
        };
        // `annotations: {}` and no annotations mean the same to the API server; dropping the
        // empty map keeps an object that only had last-applied from diffing against one that
        // never had annotations.
        if annotations_now_empty {
            metadata.remove("annotations");
        }
    }
    out
}

/// A content hash of `object` as ordo compares it ([`normalize`]d): equal hashes, nothing to
/// look at. The one definition the sync's dry-run skipping and the drift watch share.
pub fn fingerprint(object: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    normalize(object).to_string().hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn noisy_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "backend",
                "namespace": "travel",
                "labels": {"app": "backend"},
                "annotations": {
                    LAST_APPLIED_ANNOTATION: "{\"kind\":\"Deployment\"}",
                    "ordo.dev/tier": "backend"
                },
                "managedFields": [{"manager": "ordo", "operation": "Apply"}],
                "resourceVersion": "4711",
                "generation": 3,
                "uid": "7c0c7e4e-0000-0000-0000-000000000000",
                "creationTimestamp": "2024-01-01T00:00:00Z",
                "selfLink": "/apis/apps/v1/namespaces/travel/deployments/backend",
                "deletionTimestamp": "2024-01-02T00:00:00Z",
                "deletionGracePeriodSeconds": 30
            },
            "spec": {"replicas": 2},
            "status": {"readyReplicas": 2}
        })
    }

    #[test]
    fn normalize_strips_every_volatile_field() {
        let normalized = normalize(&noisy_deployment());
        let cases: &[(&str, &str)] = &[
            ("status", "/status"),
            ("managedFields", "/metadata/managedFields"),
            ("resourceVersion", "/metadata/resourceVersion"),
            ("generation", "/metadata/generation"),
            ("uid", "/metadata/uid"),
            ("creationTimestamp", "/metadata/creationTimestamp"),
            ("selfLink", "/metadata/selfLink"),
            ("deletionTimestamp", "/metadata/deletionTimestamp"),
            (
                "deletionGracePeriodSeconds",
                "/metadata/deletionGracePeriodSeconds",
            ),
            (
                "last-applied annotation",
                "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
            ),
        ];
        for (what, pointer) in cases {
            assert!(
                normalized.pointer(pointer).is_none(),
                "{what} survived normalize"
            );
        }
    }

    #[test]
    fn normalize_keeps_desired_state() {
        let normalized = normalize(&noisy_deployment());
        let kept: &[(&str, Value)] = &[
            ("/apiVersion", json!("apps/v1")),
            ("/kind", json!("Deployment")),
            ("/metadata/name", json!("backend")),
            ("/metadata/namespace", json!("travel")),
            ("/metadata/labels/app", json!("backend")),
            ("/metadata/annotations/ordo.dev~1tier", json!("backend")),
            ("/spec/replicas", json!(2)),
        ];
        for (pointer, want) in kept {
            assert_eq!(normalized.pointer(pointer), Some(want), "{pointer}");
        }
    }

    #[test]
    fn normalize_drops_annotations_left_empty() {
        let object = json!({
            "metadata": {"name": "a", "annotations": {LAST_APPLIED_ANNOTATION: "{}"}}
        });
        assert_eq!(normalize(&object), json!({"metadata": {"name": "a"}}));
    }

    #[test]
    fn normalize_does_not_mutate_its_input() {
        let object = noisy_deployment();
        let before = object.clone();
        let _ = normalize(&object);
        assert_eq!(object, before);
    }

    #[test]
    fn normalize_passes_non_objects_through() {
        for value in [json!(null), json!("text"), json!([1, 2])] {
            assert_eq!(normalize(&value), value);
        }
    }
}
