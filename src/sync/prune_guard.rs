//! What prune may delete without asking, and what it never deletes (issue #13). Pure: the
//! live objects that left git in, a verdict per object out.
//!
//! - An object with a controller owner reference belongs to its controller: deleting it would
//!   fight the controller (and it goes with its owner anyway).
//! - Namespaces, CRDs, PersistentVolumes and PersistentVolumeClaims cascade to data nobody can
//!   bring back (everything in the namespace, every custom resource, the volume's bytes): they
//!   are pruned only when the app lists the kind in `pruneGuard.allowKinds` or the object
//!   carries `ordo.dev/prune: "true"`.
//! - A prune that would delete more than `maxShare` of the app and more than `maxObjects`
//!   objects is held until someone confirms it, as are objects marked with Argo CD's
//!   `Prune=confirm` / `Delete=confirm`.

use serde::Serialize;
use serde_json::Value;

use crate::manifest::keys::{PRUNE_ANNOTATION, has_sync_option};

/// Kinds whose deletion cascades to data: (group, kind).
pub const PROTECTED_KINDS: [(&str, &str); 4] = [
    ("", "Namespace"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("", "PersistentVolume"),
    ("", "PersistentVolumeClaim"),
];

/// An app's limits on prune.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneGuard {
    /// Protected kinds (of [`PROTECTED_KINDS`]) this app may prune, by kind name.
    pub allow_kinds: Vec<String>,
    /// Confirmation is asked when a prune deletes more than this percentage of the app's
    /// objects…
    pub max_percent: u32,
    /// …and more than this many objects.
    pub max_objects: usize,
}

impl Default for PruneGuard {
    /// Over half of the app and over 10 objects: a path typo or a deleted directory, not a
    /// routine removal.
    fn default() -> Self {
        PruneGuard {
            allow_kinds: Vec::new(),
            max_percent: 50,
            max_objects: 10,
        }
    }
}

/// Why an object that left git stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Withheld {
    pub id: String,
    pub reason: String,
}

/// Never pruned, whatever is confirmed: `Some(reason)`.
pub fn never_pruned(group: &str, kind: &str, live: &Value, guard: &PruneGuard) -> Option<String> {
    if let Some(owner) = controller_owner(live) {
        return Some(format!(
            "controlled by {owner}: it goes when its controller removes it"
        ));
    }
    let protected = PROTECTED_KINDS.contains(&(group, kind));
    let opted_in = guard.allow_kinds.iter().any(|k| k == kind)
        || annotation(live, PRUNE_ANNOTATION) == Some("true");
    if protected && !opted_in {
        return Some(format!(
            "a {kind} is never pruned unless the app lists it in pruneGuard.allowKinds or the \
             object has {PRUNE_ANNOTATION}: \"true\" (deleting it deletes what it holds)"
        ));
    }
    None
}

/// Why a hook of a protected kind is refused, if it is: a hook is deleted and re-created at
/// every new revision (and by its delete policy), so a PVC or Namespace marked as a Helm
/// `pre-install` hook would lose its data each time. Opted in as prune is.
pub fn protected_hook(object: &crate::manifest::Object, guard: &PruneGuard) -> Option<String> {
    let (group, kind) = (object.id.group.as_str(), object.id.kind.as_str());
    let opted_in = guard.allow_kinds.iter().any(|k| k == kind)
        || annotation(&object.manifest, PRUNE_ANNOTATION) == Some("true");
    (PROTECTED_KINDS.contains(&(group, kind)) && !opted_in).then(|| {
        format!(
            "{}: a {kind} cannot be a hook (hooks are deleted and re-created, which deletes \
             what it holds) unless the app lists {kind} in pruneGuard.allowKinds or the object \
             has {PRUNE_ANNOTATION}: \"true\"",
            object.id
        )
    })
}

/// Why ordo may not delete `live` to re-create it (`Replace=true`, `ordo.dev/recreate`, a
/// hook's new instance) or by a hook's delete policy: it must carry the app's ApplySet id
/// (`part-of` as a member, `hook-of` as a hook instance), and pass the rules of prune.
pub fn never_deleted(
    group: &str,
    kind: &str,
    live: &Value,
    owner_id: &str,
    guard: &PruneGuard,
) -> Option<String> {
    let labels = live.pointer("/metadata/labels");
    let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
    let owned = label(crate::manifest::keys::PART_OF_LABEL) == Some(owner_id)
        || label(crate::manifest::keys::HOOK_OF_LABEL) == Some(owner_id);
    if !owned {
        return Some(
            "the live object is not the app's (no ApplySet label with the app's id): ordo \
             does not delete it to re-create it"
                .to_owned(),
        );
    }
    never_pruned(group, kind, live, guard)
}

/// The `uid` of a live object: every delete is conditional on it, so an object deleted and
/// re-created (or relabelled) meanwhile is never the one deleted.
pub fn uid(live: &Value) -> Option<&str> {
    live.pointer("/metadata/uid").and_then(Value::as_str)
}

/// Asks for confirmation whatever the share (Argo CD's `Prune=confirm`, `Delete=confirm`).
pub fn marked_confirm(live: &Value) -> bool {
    let annotations = live.pointer("/metadata/annotations");
    has_sync_option(annotations, "Prune=confirm") || has_sync_option(annotations, "Delete=confirm")
}

/// Whether deleting `deleting` of an app that kept `staying` objects needs confirmation.
pub fn too_many(deleting: usize, staying: usize, guard: &PruneGuard) -> bool {
    let total = deleting + staying;
    // deleting / total > percent / 100, in integers.
    deleting > guard.max_objects && deleting * 100 > guard.max_percent as usize * total
}

/// `Kind/name` of the owner reference marked `controller: true`.
fn controller_owner(live: &Value) -> Option<String> {
    live.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|r| {
            let field = |f: &str| r.get(f).and_then(Value::as_str).unwrap_or("?");
            format!("{}/{}", field("kind"), field("name"))
        })
}

fn annotation<'a>(live: &'a Value, key: &str) -> Option<&'a str> {
    live.pointer("/metadata/annotations")?.get(key)?.as_str()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_replace_or_hook_delete_needs_the_apps_label_and_the_rules_of_prune() {
        let guard = PruneGuard::default();
        let live =
            |labels: Value| json!({"metadata": {"name": "x", "uid": "u1", "labels": labels}});
        let member = live(json!({"applyset.kubernetes.io/part-of": "applyset-mine-v1"}));
        let hook = live(json!({"ordo.dev/hook-of": "applyset-mine-v1"}));
        let other = live(json!({"applyset.kubernetes.io/part-of": "applyset-theirs-v1"}));
        let bare = live(json!({}));
        let id = "applyset-mine-v1";
        assert_eq!(never_deleted("", "ConfigMap", &member, id, &guard), None);
        assert_eq!(never_deleted("batch", "Job", &hook, id, &guard), None);
        for (what, object) in [("another app's", &other), ("unlabelled", &bare)] {
            let why = never_deleted("", "ConfigMap", object, id, &guard);
            assert!(why.is_some_and(|w| w.contains("not the app's")), "{what}");
        }
        let why = never_deleted("", "PersistentVolumeClaim", &member, id, &guard).unwrap();
        assert!(why.contains("pruneGuard.allowKinds"), "{why}");
        let opted = PruneGuard {
            allow_kinds: vec!["PersistentVolumeClaim".into()],
            ..PruneGuard::default()
        };
        assert_eq!(
            never_deleted("", "PersistentVolumeClaim", &member, id, &opted),
            None
        );
        assert_eq!(uid(&member), Some("u1"));
    }

    #[test]
    fn a_hook_of_a_protected_kind_is_refused_unless_opted_in() {
        let object = |kind: &str, annotations: Value| crate::manifest::Object {
            id: crate::manifest::ObjectId::new("", kind, Some("shop"), "data"),
            api_version: "v1".into(),
            manifest: json!({"metadata": {"name": "data", "annotations": annotations}}),
            origin: crate::manifest::Origin {
                file: "chart/templates/pvc.yaml".into(),
                document: 0,
                line: None,
            },
        };
        let guard = PruneGuard::default();
        let why = protected_hook(&object("PersistentVolumeClaim", json!({})), &guard).unwrap();
        assert!(
            why.starts_with(
                "PersistentVolumeClaim/shop/data: a PersistentVolumeClaim cannot be a hook"
            ),
            "{why}"
        );
        assert!(protected_hook(&object("Namespace", json!({})), &guard).is_some());
        assert_eq!(
            protected_hook(&object("ConfigMap", json!({})), &guard),
            None
        );
        let marked = object("PersistentVolumeClaim", json!({"ordo.dev/prune": "true"}));
        assert_eq!(protected_hook(&marked, &guard), None);
    }

    #[test]
    fn controlled_and_protected_objects_are_never_pruned_without_an_opt_in() {
        let guard = PruneGuard::default();
        let allowing = PruneGuard {
            allow_kinds: vec!["Namespace".into()],
            ..PruneGuard::default()
        };
        let plain = json!({"metadata": {"name": "x"}});
        let owned = json!({"metadata": {"name": "x", "ownerReferences": [
            {"kind": "Deployment", "name": "api", "controller": false},
            {"kind": "ReplicaSet", "name": "api-7d9", "controller": true}]}});
        let not_controller = json!({"metadata": {"name": "x", "ownerReferences": [
            {"kind": "Deployment", "name": "api"}]}});
        let marked = json!({"metadata": {"name": "x", "annotations": {"ordo.dev/prune": "true"}}});
        let cases: [(&str, &str, &Value, &PruneGuard, Option<&str>); 9] = [
            ("", "ConfigMap", &plain, &guard, None),
            (
                "",
                "ConfigMap",
                &owned,
                &guard,
                Some("controlled by ReplicaSet/api-7d9"),
            ),
            ("", "ConfigMap", &not_controller, &guard, None),
            (
                "",
                "Namespace",
                &plain,
                &guard,
                Some("a Namespace is never pruned"),
            ),
            ("", "Namespace", &plain, &allowing, None),
            ("", "Namespace", &marked, &guard, None),
            (
                "",
                "PersistentVolumeClaim",
                &plain,
                &allowing,
                Some("a PersistentVolumeClaim"),
            ),
            (
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                &plain,
                &guard,
                Some("a CustomResourceDefinition"),
            ),
            // Same kind name in another group is not protected.
            ("example.com", "Namespace", &plain, &guard, None),
        ];
        for (group, kind, live, guard, want) in cases {
            let got = never_pruned(group, kind, live, guard);
            match want {
                None => assert_eq!(got, None, "{group}/{kind} {live}"),
                Some(start) => assert!(
                    got.as_deref().is_some_and(|r| r.starts_with(start)),
                    "{group}/{kind} {live}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn a_prune_of_most_of_a_large_app_asks_first() {
        let guard = PruneGuard::default();
        // (deleting, staying, asks)
        for (deleting, staying, asks) in [
            (0, 0, false),
            (10, 0, false), // ten is not over ten
            (11, 0, true),
            (11, 11, false), // exactly half is not over half
            (11, 10, true),
            (30, 100, false),
            (3, 1, false), // a small app may lose most of itself
        ] {
            assert_eq!(
                too_many(deleting, staying, &guard),
                asks,
                "{deleting} of {}",
                deleting + staying
            );
        }
    }

    #[test]
    fn argo_cd_confirm_options_ask_first() {
        let with =
            |o: &str| json!({"metadata": {"annotations": {"argocd.argoproj.io/sync-options": o}}});
        assert!(marked_confirm(&with("Prune=confirm")));
        assert!(marked_confirm(&with("Validate=false,Delete=confirm")));
        assert!(!marked_confirm(&with("Prune=false")));
        assert!(!marked_confirm(&json!({"metadata": {}})));
    }
}
