//! Where an app may write (issue #13, Argo CD's AppProject destinations and cluster-resource
//! allow list, per app): checked for every object before the dry run, so a commit that reaches
//! outside is refused whole, naming the object and the rule; prune never deletes outside it.
//! Pure.
//!
//! Safe by default (issue #23): an app without `allow` writes only into its own namespace and
//! nothing cluster-scoped; the operator widens it explicitly. ordo's own namespace (its token,
//! webhook secret, keys and stored state) is closed to every app not marked `platform: true`,
//! whatever its globs say: a Role and RoleBinding there would hand a tenant all of them.

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::manifest::ObjectId;

/// An app's allow list; `None` for a key means no restriction there (`ordo sync DIR` run by a
/// person; a configured app always has both, see `config/validate/allow.rs`).
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    /// Namespaces (globs) namespaced objects may live in.
    pub namespaces: Option<Patterns>,
    /// Cluster-scoped kinds (globs over `Kind` or `Kind.group`, as ApplySets write them) the
    /// app may own.
    pub cluster_kinds: Option<Patterns>,
    /// ordo's own namespace, closed to this app whatever `namespaces` says; `None` for an app
    /// marked `platform: true` (and where ordo's namespace is not known).
    pub closed_namespace: Option<String>,
    /// The Namespace object `createNamespace` makes (the app's own), allowed whatever
    /// `cluster_kinds` says: the operator asked for it, and git cannot write it.
    pub namespace_object: Option<String>,
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
        self.namespaces == other.namespaces
            && self.cluster_kinds == other.cluster_kinds
            && self.closed_namespace == other.closed_namespace
            && self.namespace_object == other.namespace_object
    }
}
impl Eq for AllowList {}

impl AllowList {
    /// What the app may do beyond writing namespaced objects into `namespace`, for the warning
    /// at start and on its page; `None` when it is confined to its own namespace.
    pub fn wider_than(&self, namespace: &str) -> Option<String> {
        let mut wider = Vec::new();
        match &self.namespaces {
            None => wider.push("any namespace".to_owned()),
            Some(p) if p.text.iter().any(|t| t != namespace) => {
                wider.push(format!("namespaces {}", p.shown()));
            }
            Some(_) => {}
        }
        match &self.cluster_kinds {
            None => wider.push("any cluster-scoped kind".to_owned()),
            Some(p) if !p.text.is_empty() => wider.push(format!("cluster kinds {}", p.shown())),
            Some(_) => {}
        }
        (!wider.is_empty()).then(|| wider.join("; "))
    }
}

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
        if id.group.is_empty()
            && id.kind == "Namespace"
            && allow.namespace_object.as_deref() == Some(id.name.as_str())
        {
            return None;
        }
        let kind = crate::sync::applyset::group_kind(&id.group, &id.kind);
        let patterns = allow.cluster_kinds.as_ref()?;
        return (!patterns.matches(&kind)).then(|| {
            format!(
                "{id}: cluster-scoped kind {kind} is not in the app's allow.clusterKinds ({})",
                patterns.shown()
            )
        });
    }
    let namespace = id.namespace.as_deref().unwrap_or_default();
    if let Some(patterns) = &allow.namespaces
        && !patterns.matches(namespace)
    {
        return Some(format!(
            "{id}: namespace {namespace} is not in the app's allow.namespaces ({})",
            patterns.shown()
        ));
    }
    (allow.closed_namespace.as_deref() == Some(namespace)).then(|| {
        format!(
            "{id}: namespace {namespace} is ordo's own; only an app marked platform: true may \
             write there"
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
            closed_namespace: None,
            namespace_object: None,
        };
        let some_cluster_kinds = AllowList {
            namespaces: None,
            cluster_kinds: patterns(&["Namespace", "*.rbac.authorization.k8s.io"]),
            closed_namespace: None,
            namespace_object: None,
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
    fn ordos_own_namespace_is_closed_to_an_app_whatever_its_globs() {
        let everywhere = AllowList {
            namespaces: patterns(&["*"]),
            cluster_kinds: patterns(&["*"]),
            closed_namespace: Some("ordo-system".into()),
            namespace_object: None,
        };
        let role = ObjectId::new(
            "rbac.authorization.k8s.io",
            "Role",
            Some("ordo-system"),
            "r",
        );
        let why = refused(&role, false, &everywhere).unwrap();
        assert!(
            why.contains("ordo's own") && why.contains("platform: true"),
            "{why}"
        );
        let elsewhere = ObjectId::new("", "ConfigMap", Some("shop"), "c");
        assert_eq!(refused(&elsewhere, false, &everywhere), None);
        let platform = AllowList {
            closed_namespace: None,
            namespace_object: None,
            ..everywhere
        };
        assert_eq!(refused(&role, false, &platform), None);
    }

    #[test]
    fn the_namespace_create_namespace_makes_is_allowed_and_no_other() {
        let creates = AllowList {
            namespaces: patterns(&["shop"]),
            cluster_kinds: patterns(&[]),
            closed_namespace: None,
            namespace_object: Some("shop".into()),
        };
        let ns = |name: &str| ObjectId::new("", "Namespace", None, name);
        assert_eq!(refused(&ns("shop"), true, &creates), None);
        assert!(refused(&ns("other"), true, &creates).is_some());
        let role = ObjectId::new("rbac.authorization.k8s.io", "ClusterRole", None, "shop");
        assert!(refused(&role, true, &creates).is_some());
    }

    #[test]
    fn a_policy_wider_than_the_apps_namespace_is_described() {
        let own = AllowList {
            namespaces: patterns(&["shop"]),
            cluster_kinds: patterns(&[]),
            closed_namespace: None,
            namespace_object: None,
        };
        assert_eq!(own.wider_than("shop"), None);
        let wide = AllowList {
            namespaces: patterns(&["shop", "shop-*"]),
            cluster_kinds: patterns(&["Namespace"]),
            closed_namespace: None,
            namespace_object: None,
        };
        assert_eq!(
            wide.wider_than("shop").as_deref(),
            Some("namespaces shop, shop-*; cluster kinds Namespace")
        );
        assert_eq!(
            AllowList::default().wider_than("shop").as_deref(),
            Some("any namespace; any cluster-scoped kind")
        );
    }

    #[test]
    fn a_pattern_that_is_not_a_glob_is_named() {
        let err = Patterns::new(vec!["shop".into(), "[oops".into()]).unwrap_err();
        assert!(err.starts_with("\"[oops\""), "{err}");
    }
}
