//! Ownership by the Kubernetes ApplySet convention (KEP-3659), so `kubectl` can read it: one
//! parent Secret per app, every member labelled with the parent's id. This file is pure (ids,
//! labels, the parent object); `parent.rs` writes the parent, `prune_set.rs` finds the members
//! that left git.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::manifest::Object;

mod parent;
mod prune_set;

pub(super) use parent::ensure_parent;
#[cfg(test)]
pub(super) use prune_set::live_id;
pub(crate) use prune_set::{Extraneous, find_extraneous};

pub use crate::manifest::keys::{
    GROUP_KINDS_ANNOTATION, ID_LABEL, NAMESPACES_ANNOTATION, PART_OF_LABEL, PRUNE_ANNOTATION,
    TOOLING_ANNOTATION,
};

/// The parent of one app's ApplySet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySet {
    pub name: String,
    pub namespace: String,
    pub id: String,
}

impl ApplySet {
    /// The parent is a Secret named `ordo-<app>` in the app's namespace.
    pub fn for_app(app: &str, namespace: &str) -> Self {
        let name = format!("ordo-{app}");
        // KEP-3659: base64url(sha256("<name>.<namespace>.<kind>.<group>")), unpadded.
        let digest = Sha256::digest(format!("{name}.{namespace}.Secret.").as_bytes());
        ApplySet {
            id: format!("applyset-{}-v1", URL_SAFE_NO_PAD.encode(digest)),
            name,
            namespace: namespace.to_owned(),
        }
    }

    /// `part-of=<id>`, for listing members.
    pub fn selector(&self) -> String {
        format!("{PART_OF_LABEL}={}", self.id)
    }

    /// `ordo.dev/hook-of=<id>`, for the app's hook instances (not members).
    pub fn hook_selector(&self) -> String {
        format!("{}={}", crate::manifest::keys::HOOK_OF_LABEL, self.id)
    }

    /// The parent object listing the group-kinds and extra namespaces its members use.
    pub fn parent(&self, group_kinds: &BTreeSet<String>, namespaces: &BTreeSet<String>) -> Value {
        let others: Vec<&str> = namespaces
            .iter()
            .map(String::as_str)
            .filter(|ns| *ns != self.namespace)
            .collect();
        let mut annotations = serde_json::Map::new();
        annotations.insert(
            TOOLING_ANNOTATION.into(),
            format!("ordo/v{}", env!("CARGO_PKG_VERSION")).into(),
        );
        annotations.insert(
            GROUP_KINDS_ANNOTATION.into(),
            group_kinds
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(",")
                .into(),
        );
        if !others.is_empty() {
            annotations.insert(NAMESPACES_ANNOTATION.into(), others.join(",").into());
        }
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": { ID_LABEL: self.id },
                "annotations": annotations,
            },
            "type": "Opaque",
        })
    }
}

/// `Kind.group` (`Deployment.apps`, `ConfigMap`): the form the annotation uses.
pub fn group_kind(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    }
}

/// Parses the annotation back into (group, kind) pairs.
pub fn parse_group_kinds(value: &str) -> Vec<(String, String)> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|gk| match gk.split_once('.') {
            Some((kind, group)) => (group.to_owned(), kind.to_owned()),
            None => (String::new(), gk.to_owned()),
        })
        .collect()
}

/// The member as applied: labelled `part-of`, and for workloads reading config, the config
/// hash stamped on the pod template so a changed ConfigMap rolls it.
pub fn member(object: &Object, applyset: &ApplySet, config_hash: Option<&str>) -> Value {
    let mut manifest = object.manifest.clone();
    set_path(
        &mut manifest,
        &["metadata", "labels"],
        PART_OF_LABEL,
        &applyset.id,
    );
    if let Some(hash) = config_hash
        && let Some(base) = crate::plan::pod_template_pointer(&object.id.group, &object.id.kind)
    {
        let mut path: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
        path.extend(["metadata", "annotations"]);
        set_path(
            &mut manifest,
            &path,
            crate::plan::CONFIG_HASH_ANNOTATION,
            hash,
        );
    }
    manifest
}

/// Sets `key: value` in the map at `path`, creating maps on the way.
fn set_path(root: &mut Value, path: &[&str], key: &str, value: &str) {
    let mut node = root;
    for step in path {
        if !node.get(*step).is_some_and(Value::is_object)
            && let Some(map) = node.as_object_mut()
        {
            map.insert((*step).to_owned(), Value::Object(serde_json::Map::new()));
        }
        match node.get_mut(*step) {
            Some(next) => node = next,
            None => return,
        }
    }
    if let Some(map) = node.as_object_mut() {
        map.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_follows_kep_3659() {
        let set = ApplySet::for_app("travel", "travel");
        assert_eq!(set.name, "ordo-travel");
        assert!(set.id.starts_with("applyset-") && set.id.ends_with("-v1"));
        // 32-byte digest in unpadded base64url is 43 characters.
        assert_eq!(set.id.len(), "applyset-".len() + 43 + "-v1".len());
        assert_ne!(set.id, ApplySet::for_app("travel", "staging").id);
    }

    #[test]
    fn parent_lists_group_kinds_and_other_namespaces() {
        let set = ApplySet::for_app("shop", "shop");
        let kinds: BTreeSet<String> = ["ConfigMap", "Deployment.apps"].map(String::from).into();
        let namespaces: BTreeSet<String> = ["shop", "monitoring"].map(String::from).into();
        let parent = set.parent(&kinds, &namespaces);
        let ann = &parent["metadata"]["annotations"];
        assert_eq!(ann[GROUP_KINDS_ANNOTATION], "ConfigMap,Deployment.apps");
        assert_eq!(ann[NAMESPACES_ANNOTATION], "monitoring");
        assert_eq!(parent["metadata"]["labels"][ID_LABEL], set.id.as_str());
        assert_eq!(
            parse_group_kinds("ConfigMap,Deployment.apps,Ingress.networking.k8s.io"),
            [
                ("".into(), "ConfigMap".into()),
                ("apps".into(), "Deployment".into()),
                ("networking.k8s.io".into(), "Ingress".into())
            ]
        );
    }
}
