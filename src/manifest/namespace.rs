//! The app's own Namespace, made by `createNamespace: true` (Argo CD's `CreateNamespace=true`),
//! with the labels and annotations of `managedNamespaceMetadata`. Pure.
//!
//! The operator writes it, not the commit: a Namespace of the same name in git is refused, so
//! a tenant cannot set its own labels (a Pod Security level, say) through it.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Object, ObjectId, Origin};

/// Labels and annotations of a Namespace that `createNamespace` makes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceMetadata {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Where the made Namespace says it comes from (errors, the plan's provenance).
pub const CREATED_BY: &str = "createNamespace (ordo's config)";

/// Adds Namespace `name` with `metadata` to `objects`; refuses a commit that holds one itself.
pub fn add_namespace(
    objects: &mut Vec<Object>,
    name: &str,
    metadata: &NamespaceMetadata,
) -> Result<(), String> {
    if let Some(own) = objects
        .iter()
        .find(|o| o.id.group.is_empty() && o.id.kind == "Namespace" && o.id.name == name)
    {
        return Err(format!(
            "{}: Namespace/{name} is made by the app's createNamespace: true (its labels and \
             annotations come from managedNamespaceMetadata in ordo's config); remove it from \
             the repository",
            own.origin
        ));
    }
    let mut meta = json!({ "name": name });
    if !metadata.labels.is_empty() {
        meta["labels"] = json!(metadata.labels);
    }
    if !metadata.annotations.is_empty() {
        meta["annotations"] = json!(metadata.annotations);
    }
    objects.push(Object {
        id: ObjectId::new("", "Namespace", None, name),
        api_version: "v1".to_owned(),
        manifest: json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta}),
        origin: Origin {
            file: CREATED_BY.to_owned(),
            document: 0,
            line: None,
        },
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apps_namespace_is_made_with_its_metadata_and_never_taken_from_git() {
        let metadata = NamespaceMetadata {
            labels: BTreeMap::from([("team".to_owned(), "shop".to_owned())]),
            annotations: BTreeMap::new(),
        };
        let mut objects = Vec::new();
        add_namespace(&mut objects, "shop", &metadata).unwrap();
        assert_eq!(objects[0].id.to_string(), "Namespace/shop");
        assert_eq!(objects[0].manifest["metadata"]["labels"]["team"], "shop");
        assert!(objects[0].manifest["metadata"].get("annotations").is_none());

        let err = add_namespace(&mut objects, "shop", &metadata).unwrap_err();
        assert!(
            err.contains("createNamespace") && err.contains("remove it"),
            "{err}"
        );
    }
}
