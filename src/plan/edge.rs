//! Dependency edges: "`to` must be applied and healthy before `from`", with the rule that
//! found it and a sentence saying why.

use serde::Serialize;

/// Why an edge exists. The order of the variants is the strength order used to break a cycle
/// made only of inferred edges: the weakest inferred edge of the cycle is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// A host name found in a file of a mounted ConfigMap.
    ConfigFileNamesService,
    /// An env value, argument or ConfigMap entry names a Service.
    NamesService,
    /// A ServiceMonitor or PodMonitor selects it.
    Monitors,
    /// An Ingress routes to it.
    RoutesTo,
    /// An HPA scales it.
    Scales,
    /// RoleBinding to its role and subjects.
    Binds,
    /// A claim or template uses its StorageClass / class object.
    UsesClass,
    /// Pod template reference: envFrom, valueFrom, volume, service account, pull secret.
    PodTemplate,
    /// StatefulSet -> its governing Service.
    GoverningService,
    /// Namespaced object -> its Namespace.
    Namespace,
    /// Custom resource -> its CRD.
    Definition,
    /// `argocd.argoproj.io/sync-wave`.
    SyncWave,
    /// `ordo.dev/depends-on`.
    DependsOn,
}

impl Rule {
    /// Explicit edges come from the user and are never dropped; a cycle through one is an error.
    pub fn is_explicit(self) -> bool {
        matches!(self, Rule::DependsOn | Rule::SyncWave)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    /// Index of the dependent object.
    pub from: usize,
    /// Index of the object it waits for.
    pub to: usize,
    pub rule: Rule,
    pub reason: String,
}
