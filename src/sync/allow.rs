//! Where an app may write (issue #13, Argo CD's AppProject destinations and cluster-resource
//! allow list, per app): checked for every object before the dry run, so a commit that reaches
//! outside is refused whole, naming the object and the rule. Pure.

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::manifest::ObjectId;

/// An app's allow list; `None` for a key means no restriction there.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    /// Namespaces (globs) namespaced objects may live in.
    pub namespaces: Option<Patterns>,
    /// Cluster-scoped kinds (globs over `Kind` or `Kind.group`, as ApplySets write them) the
    /// app may own.
    pub cluster_kinds: Option<Patterns>,
}

/// Glob patterns with their text, for the message.
#[derive(Debug, Clone)]
pub struct Patterns {
    pub text: Vec<String>,
    set: GlobSet,
}

impl PartialEq for Patterns {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for Patterns {}
impl PartialEq for AllowList {
    fn eq(&self, other: &Self) -> bool {
        self.namespaces == other.namespaces && self.cluster_kinds == other.cluster_kinds
    }
}
impl Eq for AllowList {}

impl Patterns {
    /// Compiles `text`; the error names the pattern that is not a glob.
    pub fn new(text: Vec<String>) -> Result<Self, String> {
        let mut builder = GlobSetBuilder::new();
        for pattern in &text {
            let glob = Glob::new(pattern).map_err(|e| format!("{pattern:?}: {e}"))?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| e.to_string())?;
        Ok(Patterns { text, set })
    }

    fn matches(&self, value: &str) -> bool {
        self.set.is_match(value)
    }

    fn shown(&self) -> String {
        if self.text.is_empty() {
            "none".to_owned()
        } else {
            self.text.join(", ")
        }
    }
}

/// Why `id` is outside the app's allow list, if it is.
pub fn refused(id: &ObjectId, cluster_scoped: bool, allow: &AllowList) -> Option<String> {
    if cluster_scoped {
        let kind = crate::sync::applyset::group_kind(&id.group, &id.kind);
        let patterns = allow.cluster_kinds.as_ref()?;
        return (!patterns.matches(&kind)).then(|| {
            format!(
                "{id}: cluster-scoped kind {kind} is not in the app's allow.clusterKinds ({})",
                patterns.shown()
            )
        });
    }
    let patterns = allow.namespaces.as_ref()?;
    let namespace = id.namespace.as_deref().unwrap_or_default();
    (!patterns.matches(namespace)).then(|| {
        format!(
            "{id}: namespace {namespace} is not in the app's allow.namespaces ({})",
            patterns.shown()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(p: &[&str]) -> Option<Patterns> {
        Some(Patterns::new(p.iter().map(|s| s.to_string()).collect()).unwrap())
    }

    #[test]
    fn objects_outside_the_allow_list_are_refused_with_the_rule() {
        let shop_only = AllowList {
            namespaces: patterns(&["shop", "shop-*"]),
            cluster_kinds: patterns(&[]),
        };
        let some_cluster_kinds = AllowList {
            namespaces: None,
            cluster_kinds: patterns(&["Namespace", "*.rbac.authorization.k8s.io"]),
        };
        let open = AllowList::default();
        let cm = |ns: &str| ObjectId::new("", "ConfigMap", Some(ns), "a");
        let binding = ObjectId::new("rbac.authorization.k8s.io", "ClusterRoleBinding", None, "b");
        let namespace = ObjectId::new("", "Namespace", None, "shop");
        let crd = ObjectId::new(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            None,
            "c",
        );
        let cases: [(&ObjectId, bool, &AllowList, Option<&str>); 9] = [
            (&cm("shop"), false, &shop_only, None),
            (&cm("shop-eu"), false, &shop_only, None),
            (
                &cm("kube-system"),
                false,
                &shop_only,
                Some("namespace kube-system is not in the app's allow.namespaces (shop, shop-*)"),
            ),
            (
                &binding,
                true,
                &shop_only,
                Some(
                    "cluster-scoped kind ClusterRoleBinding.rbac.authorization.k8s.io is not in the app's allow.clusterKinds (none)",
                ),
            ),
            (&binding, true, &some_cluster_kinds, None),
            (&namespace, true, &some_cluster_kinds, None),
            (
                &crd,
                true,
                &some_cluster_kinds,
                Some("CustomResourceDefinition.apiextensions.k8s.io is not in"),
            ),
            (&cm("anywhere"), false, &some_cluster_kinds, None),
            (&binding, true, &open, None),
        ];
        for (id, cluster_scoped, allow, want) in cases {
            let got = refused(id, cluster_scoped, allow);
            match want {
                None => assert_eq!(got, None, "{id}"),
                Some(part) => assert!(
                    got.as_deref()
                        .is_some_and(|m| m.contains(part) && m.starts_with(&id.to_string())),
                    "{id}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn a_pattern_that_is_not_a_glob_is_named() {
        let err = Patterns::new(vec!["shop".into(), "[oops".into()]).unwrap_err();
        assert!(err.starts_with("\"[oops\""), "{err}");
    }
}
