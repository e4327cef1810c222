//! Tiers: every object is config, database, backend, frontend or monitoring, with the rule that
//! decided it. Precedence: annotation > component label > kind (and objects that follow their
//! workload) > database client > container image > exposure > frontend name > frontend
//! client > default.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use super::discovery::Naming;
use super::frontend::{exposed_workloads, named_frontend};
use super::refs::Lookup;
use super::workload::{Selector, WorkloadIndex, is_workload, pod_spec};
use crate::manifest::Object;

use crate::manifest::keys::COMPONENT_LABEL;
pub use crate::manifest::keys::TIER_ANNOTATION;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Config,
    Database,
    Backend,
    Frontend,
    Monitoring,
}

impl Tier {
    pub const ALL: [Tier; 5] = [
        Tier::Config,
        Tier::Database,
        Tier::Backend,
        Tier::Frontend,
        Tier::Monitoring,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Config => "config",
            Tier::Database => "database",
            Tier::Backend => "backend",
            Tier::Frontend => "frontend",
            Tier::Monitoring => "monitoring",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Tier::ALL.into_iter().find(|t| t.as_str() == s).ok_or(())
    }
}

/// Which rule decided a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TierRule {
    Annotation,
    ComponentLabel,
    Kind,
    FollowsWorkload,
    /// A Job or CronJob running a database's client image against a database.
    DatabaseClient,
    Image,
    /// Reached from outside the cluster (LoadBalancer, NodePort, Ingress backend).
    Exposure,
    /// Named like a frontend (`frontend`, `web`, `ui`, `www`).
    Name,
    /// A workload that calls a frontend (a load generator, a smoke test).
    FrontendClient,
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierReason {
    pub rule: TierRule,
    pub message: String,
}

/// An `ordo.dev/tier` value that is not a tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTier {
    pub index: usize,
    pub value: String,
}

/// What tiers are decided from, besides the objects themselves.
pub struct Evidence<'a> {
    pub index: &'a WorkloadIndex,
    pub lookup: &'a Lookup<'a>,
    /// `namings[i]`: the Services object `i` names (env, command line, ConfigMaps).
    pub namings: &'a [Vec<Naming>],
}

/// Decides the tier of every object. Workload-like objects first, then a second look at the
/// workloads whose tier depends on whom they talk to (database clients, frontend clients),
/// then those that follow a workload (Services, PDBs, HPAs, NetworkPolicies).
pub fn classify(
    objects: &[Object],
    evidence: &Evidence,
) -> Result<Vec<(Tier, TierReason)>, UnknownTier> {
    let exposed = exposed_workloads(objects, evidence.lookup, evidence.index);
    let mut decided: Vec<Option<(Tier, TierReason)>> = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        let explicit = by_annotation(object).map_err(|value| UnknownTier { index: i, value })?;
        decided.push(
            explicit
                .or_else(|| by_component(object))
                .or_else(|| (!is_follower(object)).then(|| by_evidence(object, exposed.get(&i)))),
        );
    }
    let peers = Peers {
        first: decided.iter().map(|d| d.as_ref().map(|t| t.0)).collect(),
        served: served_workloads(objects, evidence.index),
    };
    for (i, slot) in decided.iter_mut().enumerate() {
        let Some((tier, why)) = slot.as_ref() else {
            continue;
        };
        if let Some(better) = by_peers(i, objects, (*tier, why.rule), evidence, &peers) {
            *slot = Some(better);
        }
    }
    let mut tiers = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        let tier = match decided[i].take() {
            Some(t) => t,
            None => follow(object, objects, evidence.index, &decided, &tiers)
                .unwrap_or_else(|| unfollowed(object)),
        };
        tiers.push(tier);
    }
    Ok(tiers)
}

fn reason(rule: TierRule, message: String) -> TierReason {
    TierReason { rule, message }
}

fn by_annotation(object: &Object) -> Result<Option<(Tier, TierReason)>, String> {
    let Some(value) = object.annotation(TIER_ANNOTATION) else {
        return Ok(None);
    };
    let tier = value
        .trim()
        .parse::<Tier>()
        .map_err(|()| value.to_owned())?;
    Ok(Some((
        tier,
        reason(
            TierRule::Annotation,
            format!("annotation {TIER_ANNOTATION}: {value}"),
        ),
    )))
}

fn by_component(object: &Object) -> Option<(Tier, TierReason)> {
    let value = object.label(COMPONENT_LABEL)?;
    let tier = match value.to_ascii_lowercase().as_str() {
        "db" | "database" | "cache" | "queue" | "broker" => Tier::Database,
        "api" | "backend" | "server" | "worker" => Tier::Backend,
        "web" | "ui" | "frontend" => Tier::Frontend,
        "monitoring" | "metrics" | "observability" => Tier::Monitoring,
        _ => return None,
    };
    Some((
        tier,
        reason(
            TierRule::ComponentLabel,
            format!("label {COMPONENT_LABEL}={value}"),
        ),
    ))
}

/// Kinds that take their tier from the workload they belong to.
fn is_follower(object: &Object) -> bool {
    let id = &object.id;
    id.is("", "Service")
        || id.is("policy", "PodDisruptionBudget")
        || id.is("autoscaling", "HorizontalPodAutoscaler")
        || id.is("networking.k8s.io", "NetworkPolicy")
}

/// Kind > image > exposure > name > default, from the object alone.
///
/// A database or monitoring image is stronger evidence than exposure: a postgres opened on a
/// NodePort for a desktop client is still the database, Grafana behind an Ingress is still
/// monitoring. A frontend image agrees with exposure, so images simply go first. Exposure is
/// stronger than a name, which is only a habit. An explicit label or annotation beats all.
fn by_evidence(object: &Object, exposed: Option<&String>) -> (Tier, TierReason) {
    if let Some(tier) = tier_of_kind(&object.id.group, &object.id.kind) {
        return (
            tier,
            reason(TierRule::Kind, format!("kind {} is {tier}", object.id.kind)),
        );
    }
    if let Some((tier, image)) = tier_of_images(object) {
        return (
            tier,
            reason(TierRule::Image, format!("image {image} is {tier}")),
        );
    }
    let workload = is_workload(object);
    if workload && let Some(how) = exposed {
        return (Tier::Frontend, reason(TierRule::Exposure, how.clone()));
    }
    if workload && let Some(name) = named_frontend(object) {
        return (Tier::Frontend, reason(TierRule::Name, name));
    }
    let what = if workload {
        "workloads default to backend"
    } else {
        "unclassified objects default to backend"
    };
    (Tier::Backend, reason(TierRule::Default, what.to_owned()))
}

/// What the second look knows of the other workloads.
struct Peers {
    /// Tiers from the object alone.
    first: Vec<Option<Tier>>,
    /// Workloads some Service of the set selects: something may call them.
    served: HashSet<usize>,
}

fn served_workloads(objects: &[Object], index: &WorkloadIndex) -> HashSet<usize> {
    objects
        .iter()
        .filter(|o| o.id.is("", "Service"))
        .flat_map(|s| followed_workloads(s, objects, index))
        .collect()
}

/// A second look at a workload whose tier depends on the workloads it talks to:
/// - a Job or CronJob that only runs database images and connects to a database is that
///   database's client (`pg_dump`, `psql`, `redis-cli`): backend, after it, not a database.
///   Deployments are left alone: a redis replica names its primary and is a database.
/// - a workload that only the default put in backend, that no Service selects (nothing calls
///   it) and that calls only frontends is their client (a load generator, a smoke test):
///   frontend tier, after them. As a backend it would be applied first and its edge dropped.
///   A backend that names a frontend (`CORS_ORIGIN=http://web:3000`) has a Service or calls
///   other backends too, and stays.
fn by_peers(
    i: usize,
    objects: &[Object],
    (tier, rule): (Tier, TierRule),
    evidence: &Evidence,
    peers: &Peers,
) -> Option<(Tier, TierReason)> {
    let object = &objects[i];
    let job = object.id.is("batch", "Job") || object.id.is("batch", "CronJob");
    let maybe_database_client =
        job && rule == TierRule::Image && tier == Tier::Database && only_database_images(object);
    // A load generator may be called back (a proxy routing to its web UI) and is still a
    // client: it goes with the frontends it loads, after them.
    let generator = super::clients::generator(object);
    let maybe_frontend_client = rule == TierRule::Default
        && is_workload(object)
        && (!peers.served.contains(&i) || generator.is_some());
    let namings = evidence.namings.get(i)?;
    if namings.is_empty() || !(maybe_database_client || maybe_frontend_client) {
        return None;
    }
    // Each named Service with the first tiers of the workloads it selects.
    let named: Vec<(&str, Vec<Option<Tier>>)> = namings
        .iter()
        .map(|n| {
            let service = &objects[n.service];
            let tiers = followed_workloads(service, objects, evidence.index)
                .into_iter()
                .map(|w| peers.first.get(w).copied().flatten())
                .collect();
            (service.id.name.as_str(), tiers)
        })
        .collect();
    let first_named = |wanted: Tier| {
        named
            .iter()
            .find(|(_, tiers)| tiers.contains(&Some(wanted)))
            .map(|(name, _)| *name)
    };
    if maybe_database_client {
        let service = first_named(Tier::Database)?;
        return Some((
            Tier::Backend,
            reason(
                TierRule::DatabaseClient,
                format!("runs a database client against Service/{service}"),
            ),
        ));
    }
    let only_frontends = named
        .iter()
        .all(|(_, tiers)| !tiers.is_empty() && tiers.iter().all(|t| *t == Some(Tier::Frontend)));
    if maybe_frontend_client && only_frontends {
        let service = first_named(Tier::Frontend)?;
        let message = match generator {
            Some(why) => {
                format!("a load generator ({why}) calling only frontends (Service/{service})")
            }
            None => format!("calls only frontends (Service/{service}) and nothing calls it"),
        };
        return Some((Tier::Frontend, reason(TierRule::FrontendClient, message)));
    }
    None
}

/// Every main container runs a database image (init containers only prepare).
fn only_database_images(object: &Object) -> bool {
    let images: Vec<&str> = pod_spec(object)
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .collect();
    !images.is_empty()
        && images
            .iter()
            .all(|image| tier_of_image(image) == Some(Tier::Database))
}

/// The kind table. Kept as data so adding a kind is adding a line.
fn tier_of_kind(group: &str, kind: &str) -> Option<Tier> {
    const CONFIG: &[(&str, &str)] = &[
        ("", "Namespace"),
        ("", "ServiceAccount"),
        ("", "ConfigMap"),
        ("", "Secret"),
        ("", "ResourceQuota"),
        ("", "LimitRange"),
        ("", "PersistentVolume"),
        ("", "PersistentVolumeClaim"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("networking.k8s.io", "IngressClass"),
        ("storage.k8s.io", "StorageClass"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("admissionregistration.k8s.io", "*"),
    ];
    const MONITORING_GROUPS: &[&str] = &["monitoring.coreos.com", "grafana.integreatly.org"];
    const FRONTEND: &[(&str, &str)] = &[
        ("networking.k8s.io", "Ingress"),
        ("gateway.networking.k8s.io", "HTTPRoute"),
    ];
    let listed = |table: &[(&str, &str)]| {
        table
            .iter()
            .any(|&(g, k)| g == group && (k == kind || k == "*"))
    };
    if listed(CONFIG) {
        Some(Tier::Config)
    } else if MONITORING_GROUPS.contains(&group) {
        Some(Tier::Monitoring)
    } else if listed(FRONTEND) {
        Some(Tier::Frontend)
    } else {
        None
    }
}

/// Tier suggested by a workload's main container images: the first container whose image
/// names a known database, monitoring or web-server program.
fn tier_of_images(object: &Object) -> Option<(Tier, String)> {
    let spec = pod_spec(object)?;
    spec.get("containers")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .find_map(|image| tier_of_image(image).map(|t| (t, image.to_owned())))
}

pub fn tier_of_image(image: &str) -> Option<Tier> {
    const DATABASE: &[&str] = &[
        "postgres",
        "postgis",
        "mysql",
        "mariadb",
        "mongo",
        "redis",
        "valkey",
        "keydb",
        "memcached",
        "rabbitmq",
        "kafka",
        "zookeeper",
        "nats",
        "elasticsearch",
        "opensearch",
        "minio",
        "cassandra",
        "scylla",
        "cockroach",
        "etcd",
        "clickhouse",
        "influxdb",
        "timescale",
        "neo4j",
        "couchdb",
        "pulsar",
        "dragonfly",
    ];
    const MONITORING: &[&str] = &[
        "prometheus",
        "grafana",
        "alertmanager",
        "node-exporter",
        "kube-state-metrics",
        "loki",
        "promtail",
        "tempo",
        "jaeger",
        "otel",
        "opentelemetry",
        "thanos",
        "mimir",
        "victoria-metrics",
        "fluent-bit",
        "fluentd",
        "vector",
    ];
    const FRONTEND: &[&str] = &["nginx", "httpd", "caddy"];
    let name = image_name(image);
    // Exporters are monitoring even when named after a database (postgres-exporter).
    if name.ends_with("-exporter") || name.ends_with("_exporter") {
        return Some(Tier::Monitoring);
    }
    let hit = |list: &[&str]| list.iter().any(|k| name.starts_with(k));
    if hit(MONITORING) {
        Some(Tier::Monitoring)
    } else if hit(DATABASE) {
        Some(Tier::Database)
    } else if hit(FRONTEND) {
        Some(Tier::Frontend)
    } else {
        None
    }
}

/// `registry:5000/org/postgres:16@sha256:..` -> `postgres`.
fn image_name(image: &str) -> String {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let name = last.split(':').next().unwrap_or(last);
    name.to_ascii_lowercase()
}

/// The tier of the workloads a follower belongs to (the earliest, when it selects several:
/// it must exist before any of them needs it).
fn follow(
    object: &Object,
    objects: &[Object],
    index: &WorkloadIndex,
    decided: &[Option<(Tier, TierReason)>],
    done: &[(Tier, TierReason)],
) -> Option<(Tier, TierReason)> {
    let targets = followed_workloads(object, objects, index);
    let tier_of = |i: usize| {
        done.get(i)
            .or(decided.get(i).and_then(Option::as_ref))
            .map(|t| t.0)
    };
    let (tier, target) = targets
        .into_iter()
        .filter_map(|i| Some((tier_of(i)?, i)))
        .min()?;
    Some((
        tier,
        reason(
            TierRule::FollowsWorkload,
            format!(
                "follows {}/{} ({tier})",
                objects[target].id.kind, objects[target].id.name
            ),
        ),
    ))
}

/// Workloads a Service, PDB, NetworkPolicy or HPA belongs to.
pub fn followed_workloads(
    object: &Object,
    objects: &[Object],
    index: &WorkloadIndex,
) -> Vec<usize> {
    let ns = object.namespace_or_default();
    let id = &object.id;
    let selector = if id.is("", "Service") {
        Selector::from_map(object.at("/spec/selector"))
    } else if id.is("policy", "PodDisruptionBudget") {
        Selector::from_label_selector(object.at("/spec/selector"))
    } else if id.is("networking.k8s.io", "NetworkPolicy") {
        // An empty podSelector is namespace-wide policy, not one workload's.
        object
            .at("/spec/podSelector")
            .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
            .and_then(|s| Selector::from_label_selector(Some(s)))
    } else if id.is("autoscaling", "HorizontalPodAutoscaler") {
        return scale_target(object, objects).into_iter().collect();
    } else {
        None
    };
    selector
        .map(|s| index.select(objects, ns, &s))
        .unwrap_or_default()
}

/// The object an HPA scales.
pub fn scale_target(hpa: &Object, objects: &[Object]) -> Option<usize> {
    let target = hpa.at("/spec/scaleTargetRef")?;
    let kind = target.get("kind")?.as_str()?;
    let name = target.get("name")?.as_str()?;
    let ns = hpa.id.namespace.as_deref();
    objects
        .iter()
        .position(|o| o.id.kind == kind && o.id.name == name && o.id.namespace.as_deref() == ns)
}

fn unfollowed(object: &Object) -> (Tier, TierReason) {
    if object.id.is("networking.k8s.io", "NetworkPolicy") {
        return (
            Tier::Config,
            reason(TierRule::Kind, "kind NetworkPolicy is config".to_owned()),
        );
    }
    // A Service that selects no workload here (ExternalName, hand-managed endpoints) is
    // something others look up by name: it goes early, with config.
    let tier = if object.id.is("", "Service") {
        Tier::Config
    } else {
        Tier::Backend
    };
    (
        tier,
        reason(
            TierRule::Default,
            format!(
                "{} selects no workload of this set; defaults to {tier}",
                object.id.kind
            ),
        ),
    )
}
