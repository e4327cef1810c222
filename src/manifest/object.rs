//! One Kubernetes object from git, with where it came from and typed access to its identity.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// Where an object was read: file, document index (0-based) and the document's first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Origin {
    pub file: String,
    pub document: usize,
    /// 1-based line where the document starts, when known.
    pub line: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} document {}", self.file, self.document)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// The identity of an object: group, kind, namespace (None when cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectId {
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectId {
    pub fn new(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        ObjectId {
            group: group.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    /// Is this a given core or grouped kind? (`group` "" is the core API group.)
    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.group == group && self.kind == kind
    }
}

/// `Kind/name` or `Kind/namespace/name`: the form `ordo.dev/depends-on` uses.
impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// A desired object: its identity, its full manifest and where it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub id: ObjectId,
    /// `apiVersion` as written, e.g. `apps/v1`.
    pub api_version: String,
    /// The whole manifest, namespace filled in for namespaced objects.
    pub manifest: Value,
    pub origin: Origin,
}

impl Object {
    /// `metadata.generateName` of a hook without a fixed name (its id's name is the prefix).
    pub fn generate_name(&self) -> Option<&str> {
        let named = self
            .at("/metadata/name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if named {
            return None;
        }
        self.at("/metadata/generateName").and_then(Value::as_str)
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.manifest
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.manifest
            .pointer("/metadata/labels")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
    }

    /// A JSON pointer into the manifest (`/spec/template`).
    pub fn at(&self, pointer: &str) -> Option<&Value> {
        self.manifest.pointer(pointer)
    }

    /// The namespace namespaced references resolve in ("default" for cluster-scoped objects).
    pub fn namespace_or_default(&self) -> &str {
        self.id.namespace.as_deref().unwrap_or("default")
    }
}

/// Whether `name` is a DNS-1123 label (RFC 1123, as Kubernetes checks namespaces and most
/// names): 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or
/// digit.
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Splits `apiVersion` into group and version (`v1` is the core group "").
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// Built-in kinds that are cluster-scoped. Custom kinds take their scope from their CRD when
/// it is in the same set, and are otherwise assumed namespaced (the common case).
pub fn is_builtin_cluster_scoped(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("", "Namespace")
            | ("", "Node")
            | ("", "PersistentVolume")
            | ("rbac.authorization.k8s.io", "ClusterRole")
            | ("rbac.authorization.k8s.io", "ClusterRoleBinding")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("apiregistration.k8s.io", "APIService")
            | ("storage.k8s.io", "StorageClass")
            | ("storage.k8s.io", "CSIDriver")
            | ("storage.k8s.io", "CSINode")
            | ("storage.k8s.io", "VolumeAttachment")
            | ("scheduling.k8s.io", "PriorityClass")
            | ("networking.k8s.io", "IngressClass")
            | ("node.k8s.io", "RuntimeClass")
            | ("admissionregistration.k8s.io", _)
            | ("certificates.k8s.io", "CertificateSigningRequest")
            | ("flowcontrol.apiserver.k8s.io", _)
    )
}
