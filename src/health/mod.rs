//! Health of live objects: is this object done converging, still on its way, or stuck?
//!
//! Pure: a live object (as the API server returns it) in, a [`Health`] out. One small function
//! per kind, chosen from one table ([`RULES`]) by group and kind; adding a kind is adding a
//! function and a row. Kinds not in the table get the generic rule (observedGeneration plus
//! `Ready`/`Available` conditions), which is how most CRDs report progress. The rules follow
//! `kubectl rollout status` and Argo CD's gitops-engine, so users see the verdicts they know.

pub mod children;
mod conditions;
mod fields;
mod network;
mod pods;
mod storage;
mod wait;
pub mod why;
mod workloads;

pub use wait::{Observation, Wait, claim_class, older, wait};

use serde_json::Value;

/// How far an object is from serving what was asked of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum HealthStatus {
    Healthy,
    Progressing,
    Degraded,
    Suspended,
    Missing,
    Unknown,
}

impl HealthStatus {
    /// Ordering for [`worst`]: an app is as unhealthy as its least healthy object. Suspended
    /// ranks just above Healthy because it is a deliberate state, not a fault.
    pub fn severity(self) -> u8 {
        match self {
            HealthStatus::Healthy => 0,
            HealthStatus::Suspended => 1,
            HealthStatus::Progressing => 2,
            HealthStatus::Unknown => 3,
            HealthStatus::Missing => 4,
            HealthStatus::Degraded => 5,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "Healthy",
            HealthStatus::Progressing => "Progressing",
            HealthStatus::Degraded => "Degraded",
            HealthStatus::Suspended => "Suspended",
            HealthStatus::Missing => "Missing",
            HealthStatus::Unknown => "Unknown",
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict and a short reason a person can act on ("2 of 3 replicas updated").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    pub status: HealthStatus,
    pub message: String,
}

impl Health {
    pub fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        Health {
            status,
            message: message.into(),
        }
    }

    pub fn healthy(message: impl Into<String>) -> Self {
        Health::new(HealthStatus::Healthy, message)
    }

    pub fn progressing(message: impl Into<String>) -> Self {
        Health::new(HealthStatus::Progressing, message)
    }

    pub fn degraded(message: impl Into<String>) -> Self {
        Health::new(HealthStatus::Degraded, message)
    }

    pub fn suspended(message: impl Into<String>) -> Self {
        Health::new(HealthStatus::Suspended, message)
    }

    /// The object should exist but the API server does not have it.
    pub fn missing() -> Self {
        Health::new(HealthStatus::Missing, "object not found")
    }
}

/// A health rule: one kind's live object in, its health out.
type Rule = fn(&Value) -> Health;

/// The one table of health rules, keyed by (API group, kind). The core group is "".
const RULES: &[(&str, &str, Rule)] = &[
    ("apps", "Deployment", workloads::deployment),
    ("apps", "StatefulSet", workloads::stateful_set),
    ("apps", "DaemonSet", workloads::daemon_set),
    ("apps", "ReplicaSet", workloads::replica_set),
    ("", "Pod", pods::pod),
    ("batch", "Job", pods::job),
    ("batch", "CronJob", pods::cron_job),
    (
        "",
        "PersistentVolumeClaim",
        storage::persistent_volume_claim,
    ),
    ("", "Service", network::service),
    ("networking.k8s.io", "Ingress", network::ingress),
    (
        "autoscaling",
        "HorizontalPodAutoscaler",
        conditions::horizontal_pod_autoscaler,
    ),
    (
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        conditions::custom_resource_definition,
    ),
    (
        "apiregistration.k8s.io",
        "APIService",
        conditions::api_service,
    ),
];

/// Health of a live object (as returned by the API server, with apiVersion, kind, metadata,
/// spec, status). `null` means the object is absent and is reported as Missing.
pub fn assess(live: &Value) -> Health {
    if live.is_null() {
        return Health::missing();
    }
    let api_version = fields::str_at(live, "/apiVersion").unwrap_or_default();
    let kind = fields::str_at(live, "/kind").unwrap_or_default();
    rule_for(group_of(api_version), kind)(live)
}

fn rule_for(group: &str, kind: &str) -> Rule {
    RULES
        .iter()
        .find(|(g, k, _)| *g == group && *k == kind)
        .map_or(conditions::generic as Rule, |(_, _, rule)| *rule)
}

/// "apps/v1" -> "apps"; "v1" -> "" (the core group has no name).
fn group_of(api_version: &str) -> &str {
    crate::manifest::split_api_version(api_version).0
}

/// Worst status of a set (Healthy for an empty set), by [`HealthStatus::severity`].
pub fn worst<I: IntoIterator<Item = HealthStatus>>(statuses: I) -> HealthStatus {
    statuses
        .into_iter()
        .max_by_key(|s| s.severity())
        .unwrap_or(HealthStatus::Healthy)
}

pub use crate::manifest::keys::IGNORE_HEALTH_ANNOTATION;

/// true when the object's annotation `ordo.dev/ignore-health` is "true": sync doesn't wait on it.
pub fn ignored(object: &Value) -> bool {
    object
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(IGNORE_HEALTH_ANNOTATION))
        .and_then(Value::as_str)
        == Some("true")
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::{Health, HealthStatus, assess};

    /// Parses a YAML fixture into the JSON value the API server would return.
    pub fn live(yaml: &str) -> serde_json::Value {
        serde_saphyr::from_str(yaml).expect("fixture is valid YAML")
    }

    /// Runs every (name, YAML body, expected status, expected message) row through [`assess`],
    /// with `head` (apiVersion, kind, metadata) put before each body.
    pub fn check(head: &str, cases: &[(&str, &str, HealthStatus, &str)]) {
        for (name, body, status, message) in cases {
            let got = assess(&live(&format!("{head}{body}\n")));
            assert_eq!(got, Health::new(*status, *message), "case {name}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::live;
    use super::*;
    use HealthStatus::*;

    #[test]
    fn severity_orders_healthy_below_degraded() {
        let ordered = [Healthy, Suspended, Progressing, Unknown, Missing, Degraded];
        for pair in ordered.windows(2) {
            assert!(pair[0].severity() < pair[1].severity(), "{pair:?}");
        }
    }

    #[test]
    fn status_serializes_in_pascal_case_like_argo_cd() {
        for status in [Healthy, Progressing, Degraded, Suspended, Missing, Unknown] {
            let json = serde_json::to_value(status).expect("serializes");
            assert_eq!(json, Value::String(status.as_str().into()));
            assert_eq!(status.to_string(), status.as_str());
            let back: HealthStatus = serde_json::from_value(json).expect("deserializes");
            assert_eq!(back, status);
        }
        let health = serde_json::to_value(Health::progressing("1 of 2 replicas updated"))
            .expect("serializes");
        assert_eq!(
            health,
            serde_json::json!({"status": "Progressing", "message": "1 of 2 replicas updated"})
        );
    }

    #[test]
    fn worst_picks_highest_severity_and_empty_is_healthy() {
        let cases: &[(&[HealthStatus], HealthStatus)] = &[
            (&[], Healthy),
            (&[Healthy], Healthy),
            (&[Healthy, Suspended], Suspended),
            (&[Suspended, Progressing, Healthy], Progressing),
            (&[Progressing, Unknown], Unknown),
            (&[Unknown, Missing, Progressing], Missing),
            (&[Missing, Degraded, Healthy], Degraded),
        ];
        for (statuses, expected) in cases {
            assert_eq!(worst(statuses.iter().copied()), *expected, "{statuses:?}");
        }
    }

    #[test]
    fn ignored_only_when_annotation_is_exactly_true() {
        let cases = [
            (
                "metadata: {annotations: {ordo.dev/ignore-health: 'true'}}",
                true,
            ),
            (
                "metadata: {annotations: {ordo.dev/ignore-health: 'false'}}",
                false,
            ),
            (
                "metadata: {annotations: {ordo.dev/ignore-health: 'yes'}}",
                false,
            ),
            ("metadata: {annotations: {other: 'true'}}", false),
            ("metadata: {name: x}", false),
            ("kind: ConfigMap", false),
        ];
        for (yaml, expected) in cases {
            assert_eq!(ignored(&live(yaml)), expected, "{yaml}");
        }
    }

    #[test]
    fn group_comes_from_api_version() {
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("v1"), "");
        assert_eq!(group_of("networking.k8s.io/v1"), "networking.k8s.io");
        assert_eq!(group_of(""), "");
    }

    #[test]
    fn null_is_missing() {
        assert_eq!(assess(&Value::Null), Health::missing());
    }

    #[test]
    fn kind_in_another_group_uses_generic_rule_not_the_core_one() {
        // A CRD named "Deployment" in some other group must not be judged as apps/Deployment.
        let crd = live(
            "apiVersion: example.com/v1\nkind: Deployment\nmetadata: {generation: 1}\nspec: {replicas: 3}\n",
        );
        assert_eq!(assess(&crd), Health::healthy(""));
    }

    #[test]
    fn every_table_row_is_unique() {
        for (i, (g, k, _)) in RULES.iter().enumerate() {
            assert!(
                RULES[i + 1..].iter().all(|(g2, k2, _)| (g, k) != (g2, k2)),
                "{g}/{k} appears twice"
            );
        }
    }
}
