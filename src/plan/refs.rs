//! Inferred edges: what each object references by name or selects, found in the manifests
//! themselves. Every edge carries a sentence a person can check against the YAML.

use std::collections::HashMap;

use serde_json::Value;

use super::discovery::Naming;
use super::edge::{Edge, Rule};
use super::tier::{followed_workloads, scale_target};
use super::workload::{Selector, WorkloadIndex, containers, pod_spec};
use crate::manifest::{Object, ObjectId};

/// Objects by identity.
/// (group, kind, namespace, name): borrowed, so a lookup allocates nothing.
type Key<'a> = (&'a str, &'a str, Option<&'a str>, &'a str);

pub struct Lookup<'a> {
    by_id: HashMap<Key<'a>, usize>,
    crd_by_kind: HashMap<(&'a str, &'a str), usize>,
}

impl<'a> Lookup<'a> {
    pub fn new(objects: &'a [Object]) -> Self {
        let by_id = objects
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let id = &o.id;
                let key = (
                    id.group.as_str(),
                    id.kind.as_str(),
                    id.namespace.as_deref(),
                    id.name.as_str(),
                );
                (key, i)
            })
            .collect();
        let crd_by_kind = objects
            .iter()
            .enumerate()
            .filter(|(_, o)| o.id.is("apiextensions.k8s.io", "CustomResourceDefinition"))
            .filter_map(|(i, o)| {
                let group = o.at("/spec/group")?.as_str()?;
                let kind = o.at("/spec/names/kind")?.as_str()?;
                Some(((group, kind), i))
            })
            .collect();
        Lookup { by_id, crd_by_kind }
    }

    pub fn find(
        &self,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<usize> {
        self.by_id.get(&(group, kind, namespace, name)).copied()
    }
}

/// Collects edges while skipping self-references and duplicates of the same (from, to, rule).
struct Edges<'a> {
    objects: &'a [Object],
    out: Vec<Edge>,
}

impl Edges<'_> {
    fn add(&mut self, from: usize, to: usize, rule: Rule, reason: String) {
        if from == to {
            return;
        }
        if self
            .out
            .iter()
            .rev()
            .take_while(|e| e.from == from)
            .any(|e| e.to == to && e.rule == rule)
        {
            return;
        }
        self.out.push(Edge {
            from,
            to,
            rule,
            reason,
        });
    }
}

/// Every inferred edge of the set. `namings[i]`: the Services object `i` names.
pub fn inferred_edges(
    objects: &[Object],
    lookup: &Lookup,
    index: &WorkloadIndex,
    namings: &[Vec<Naming>],
) -> Vec<Edge> {
    let mut edges = Edges {
        objects,
        out: Vec::new(),
    };
    for (i, object) in objects.iter().enumerate() {
        structural(i, object, lookup, &mut edges);
        if let Some(spec) = pod_spec(object) {
            pod_template(i, object, spec, lookup, &mut edges);
        }
        if let Some(named) = namings.get(i) {
            service_discovery(i, named, index, &mut edges);
        }
        by_kind(i, object, lookup, index, &mut edges);
    }
    edges.out
}

/// Namespace and CRD edges.
fn structural(i: usize, object: &Object, lookup: &Lookup, edges: &mut Edges) {
    if let Some(ns) = &object.id.namespace
        && let Some(target) = lookup.find("", "Namespace", None, ns)
    {
        edges.add(
            i,
            target,
            Rule::Namespace,
            "namespaced object waits for its Namespace".to_owned(),
        );
    }
    if let Some(&crd) = lookup
        .crd_by_kind
        .get(&(object.id.group.as_str(), object.id.kind.as_str()))
    {
        edges.add(
            i,
            crd,
            Rule::Definition,
            format!("custom resource of kind {} needs its CRD", object.id.kind),
        );
    }
}

/// Names of the ConfigMaps and Secrets a pod spec reads, with how it reads them.
pub fn config_refs<'v>(spec: &'v Value) -> Vec<ConfigRef<'v>> {
    let mut refs = Vec::new();
    for container in containers(spec) {
        for from in container
            .get("envFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for (field, kind) in [("configMapRef", "ConfigMap"), ("secretRef", "Secret")] {
                if let Some(name) = from
                    .pointer(&format!("/{field}/name"))
                    .and_then(Value::as_str)
                {
                    refs.push(ConfigRef {
                        kind,
                        name,
                        how: format!("envFrom {kind}/{name}"),
                        key: None,
                        env: None,
                    });
                }
            }
        }
        for env in container
            .get("env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let var = env.get("name").and_then(Value::as_str).unwrap_or("?");
            for (field, kind) in [("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")] {
                let Some(r) = env.pointer(&format!("/valueFrom/{field}")) else {
                    continue;
                };
                if let Some(name) = r.get("name").and_then(Value::as_str) {
                    refs.push(ConfigRef {
                        kind,
                        name,
                        how: format!("env {var} reads {kind}/{name}"),
                        key: r.get("key").and_then(Value::as_str),
                        env: Some(var),
                    });
                }
            }
        }
    }
    for volume in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let vname = volume.get("name").and_then(Value::as_str).unwrap_or("?");
        let mut push = |kind: &'static str, name: Option<&'v str>| {
            if let Some(name) = name {
                refs.push(ConfigRef {
                    kind,
                    name,
                    how: format!("volume {vname} mounts {kind}/{name}"),
                    key: None,
                    env: None,
                });
            }
        };
        push(
            "ConfigMap",
            volume.pointer("/configMap/name").and_then(Value::as_str),
        );
        push(
            "Secret",
            volume.pointer("/secret/secretName").and_then(Value::as_str),
        );
        for source in volume
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push(
                "ConfigMap",
                source.pointer("/configMap/name").and_then(Value::as_str),
            );
            push(
                "Secret",
                source.pointer("/secret/name").and_then(Value::as_str),
            );
        }
    }
    refs
}

/// One reference from a pod spec to a ConfigMap or Secret.
pub struct ConfigRef<'a> {
    pub kind: &'static str,
    pub name: &'a str,
    /// How it is read, for edge reasons.
    pub how: String,
    /// The single key read (`valueFrom`), if only one.
    pub key: Option<&'a str>,
    /// The env var it fills (`valueFrom`).
    pub env: Option<&'a str>,
}

fn pod_template(i: usize, object: &Object, spec: &Value, lookup: &Lookup, edges: &mut Edges) {
    let ns = object.id.namespace.as_deref();
    for r in config_refs(spec) {
        if let Some(target) = lookup.find("", r.kind, ns, r.name) {
            edges.add(i, target, Rule::PodTemplate, r.how);
        }
    }
    for volume in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(claim) = volume
            .pointer("/persistentVolumeClaim/claimName")
            .and_then(Value::as_str)
            && let Some(target) = lookup.find("", "PersistentVolumeClaim", ns, claim)
        {
            let vname = volume.get("name").and_then(Value::as_str).unwrap_or("?");
            edges.add(
                i,
                target,
                Rule::PodTemplate,
                format!("volume {vname} uses PersistentVolumeClaim/{claim}"),
            );
        }
    }
    let account = spec
        .get("serviceAccountName")
        .or_else(|| spec.get("serviceAccount"))
        .and_then(Value::as_str);
    if let Some(sa) = account
        && let Some(target) = lookup.find("", "ServiceAccount", ns, sa)
    {
        edges.add(
            i,
            target,
            Rule::PodTemplate,
            format!("runs as ServiceAccount/{sa}"),
        );
    }
    for secret in spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
    {
        if let Some(target) = lookup.find("", "Secret", ns, secret) {
            edges.add(
                i,
                target,
                Rule::PodTemplate,
                format!("pulls images with Secret/{secret}"),
            );
        }
    }
    for (field, group, kind) in [
        ("priorityClassName", "scheduling.k8s.io", "PriorityClass"),
        ("runtimeClassName", "node.k8s.io", "RuntimeClass"),
    ] {
        if let Some(name) = spec.get(field).and_then(Value::as_str)
            && let Some(target) = lookup.find(group, kind, None, name)
        {
            edges.add(
                i,
                target,
                Rule::UsesClass,
                format!("{field} names {kind}/{name}"),
            );
        }
    }
}

/// Host names in env values, command lines and the ConfigMaps a pod reads that name a Service
/// of the set (found by `discovery::named_by_pod`): the workload depends on the workloads that
/// Service selects.
fn service_discovery(i: usize, namings: &[Naming], index: &WorkloadIndex, edges: &mut Edges) {
    for naming in namings {
        let service = &edges.objects[naming.service];
        let reason = naming.reason(&service.id);
        let targets = followed_workloads(service, edges.objects, index);
        if targets.is_empty() {
            edges.add(i, naming.service, naming.rule, reason.clone());
        }
        for target in targets {
            edges.add(i, target, naming.rule, reason.clone());
        }
    }
}

/// `Kind/name` without the namespace, for reasons (the namespace is the referrer's).
fn short(id: &ObjectId) -> String {
    format!("{}/{}", id.kind, id.name)
}

/// Edges that depend on the object's own kind.
fn by_kind(i: usize, object: &Object, lookup: &Lookup, index: &WorkloadIndex, edges: &mut Edges) {
    let id = &object.id;
    let ns = id.namespace.as_deref();
    let objects = edges.objects;
    if id.is("networking.k8s.io", "Ingress") {
        ingress(i, object, lookup, index, edges);
    } else if id.is("autoscaling", "HorizontalPodAutoscaler") {
        if let Some(target) = scale_target(object, objects) {
            edges.add(
                i,
                target,
                Rule::Scales,
                format!("HPA scales {}", short(&objects[target].id)),
            );
        }
    } else if id.group == "rbac.authorization.k8s.io"
        && (id.kind == "RoleBinding" || id.kind == "ClusterRoleBinding")
    {
        bindings(i, object, lookup, edges);
    } else if id.is("", "PersistentVolumeClaim") {
        if let Some(class) = object.at("/spec/storageClassName").and_then(Value::as_str)
            && let Some(target) = lookup.find("storage.k8s.io", "StorageClass", None, class)
        {
            edges.add(
                i,
                target,
                Rule::UsesClass,
                format!("claims StorageClass/{class}"),
            );
        }
    } else if id.is("apps", "StatefulSet") {
        if let Some(svc) = object.at("/spec/serviceName").and_then(Value::as_str)
            && let Some(target) = lookup.find("", "Service", ns, svc)
        {
            edges.add(
                i,
                target,
                Rule::GoverningService,
                format!("serviceName names its governing Service/{svc}"),
            );
        }
        for template in object
            .at("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(class) = template
                .pointer("/spec/storageClassName")
                .and_then(Value::as_str)
                && let Some(target) = lookup.find("storage.k8s.io", "StorageClass", None, class)
            {
                edges.add(
                    i,
                    target,
                    Rule::UsesClass,
                    format!("volumeClaimTemplate claims StorageClass/{class}"),
                );
            }
        }
    } else if id.group == "monitoring.coreos.com"
        && (id.kind == "ServiceMonitor" || id.kind == "PodMonitor")
    {
        monitor(i, object, index, edges);
    }
}

fn ingress(i: usize, object: &Object, lookup: &Lookup, index: &WorkloadIndex, edges: &mut Edges) {
    let ns = object.id.namespace.as_deref();
    let objects = edges.objects;
    for name in ingress_backends(object) {
        let Some(svc) = lookup.find("", "Service", ns, name) else {
            continue;
        };
        let targets = followed_workloads(&objects[svc], objects, index);
        if targets.is_empty() {
            edges.add(i, svc, Rule::RoutesTo, format!("routes to Service/{name}"));
        }
        for target in targets {
            edges.add(
                i,
                target,
                Rule::RoutesTo,
                format!(
                    "routes to Service/{name}, which selects {}",
                    short(&objects[target].id)
                ),
            );
        }
    }
    if let Some(class) = object.at("/spec/ingressClassName").and_then(Value::as_str)
        && let Some(target) = lookup.find("networking.k8s.io", "IngressClass", None, class)
    {
        edges.add(
            i,
            target,
            Rule::UsesClass,
            format!("uses IngressClass/{class}"),
        );
    }
    for secret in object
        .at("/spec/tls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("secretName").and_then(Value::as_str))
    {
        if let Some(target) = lookup.find("", "Secret", ns, secret) {
            edges.add(
                i,
                target,
                Rule::PodTemplate,
                format!("serves TLS with Secret/{secret}"),
            );
        }
    }
}

/// Names of the Services an Ingress routes to: its rules' paths, then its default backend.
pub fn ingress_backends(ingress: &Object) -> Vec<&str> {
    let mut services: Vec<&str> = ingress
        .at("/spec/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.pointer("/http/paths").and_then(Value::as_array))
        .flatten()
        .filter_map(|p| p.pointer("/backend/service/name").and_then(Value::as_str))
        .collect();
    if let Some(default) = ingress
        .at("/spec/defaultBackend/service/name")
        .and_then(Value::as_str)
    {
        services.push(default);
    }
    services
}

fn bindings(i: usize, object: &Object, lookup: &Lookup, edges: &mut Edges) {
    let ns = object.id.namespace.as_deref();
    if let (Some(kind), Some(name)) = (
        object.at("/roleRef/kind").and_then(Value::as_str),
        object.at("/roleRef/name").and_then(Value::as_str),
    ) {
        let role_ns = if kind == "Role" { ns } else { None };
        if let Some(target) = lookup.find("rbac.authorization.k8s.io", kind, role_ns, name) {
            edges.add(i, target, Rule::Binds, format!("binds {kind}/{name}"));
        }
    }
    for subject in object
        .at("/subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if subject.get("kind").and_then(Value::as_str) != Some("ServiceAccount") {
            continue;
        }
        let Some(name) = subject.get("name").and_then(Value::as_str) else {
            continue;
        };
        let sa_ns = subject.get("namespace").and_then(Value::as_str).or(ns);
        if let Some(target) = lookup.find("", "ServiceAccount", sa_ns, name) {
            edges.add(
                i,
                target,
                Rule::Binds,
                format!("binds subject ServiceAccount/{name}"),
            );
        }
    }
}

/// ServiceMonitor -> workloads behind the Services it selects; PodMonitor -> workloads whose
/// pods it selects. Namespaces: its own, or those listed in `namespaceSelector.matchNames`.
fn monitor(i: usize, object: &Object, index: &WorkloadIndex, edges: &mut Edges) {
    let objects = edges.objects;
    let Some(selector) = Selector::from_label_selector(object.at("/spec/selector")) else {
        return;
    };
    let own = object.namespace_or_default().to_owned();
    let namespaces: Vec<String> = object
        .at("/spec/namespaceSelector/matchNames")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_else(|| vec![own]);
    if object.id.kind == "PodMonitor" {
        for ns in &namespaces {
            for target in index.select(objects, ns, &selector) {
                edges.add(
                    i,
                    target,
                    Rule::Monitors,
                    format!("selects the pods of {}", short(&objects[target].id)),
                );
            }
        }
        return;
    }
    for (svc, service) in objects.iter().enumerate() {
        let in_scope = service.id.is("", "Service")
            && namespaces
                .iter()
                .any(|n| n == service.namespace_or_default());
        if !in_scope
            || !selector.matches(
                service
                    .manifest
                    .pointer("/metadata/labels")
                    .and_then(Value::as_object),
            )
        {
            continue;
        }
        let targets = followed_workloads(service, objects, index);
        if targets.is_empty() {
            edges.add(
                i,
                svc,
                Rule::Monitors,
                format!("selects Service/{}", service.id.name),
            );
        }
        for target in targets {
            edges.add(
                i,
                target,
                Rule::Monitors,
                format!(
                    "selects Service/{}, which selects {}",
                    service.id.name,
                    short(&objects[target].id)
                ),
            );
        }
    }
}
