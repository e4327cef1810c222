//! Kinds whose controllers report health only through `status.conditions`:
//! HorizontalPodAutoscaler, CustomResourceDefinition, APIService, and the generic rule every
//! kind without its own function falls back to.

use serde_json::Value;

use super::Health;
use super::fields::{Condition, condition, condition_in, count, int_at};

/// autoscaling/v1 has no conditions field; the API server carries v2's conditions in this
/// annotation (as a JSON string) when it serves an HPA as v1.
const HPA_V1_CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";

pub(super) fn horizontal_pod_autoscaler(hpa: &Value) -> Health {
    let from_annotation;
    let conditions = match hpa.pointer("/status/conditions") {
        Some(conditions) => conditions,
        None => {
            from_annotation = hpa
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get(HPA_V1_CONDITIONS))
                .and_then(Value::as_str)
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or(Value::Null);
            &from_annotation
        }
    };
    if let Some(able) = condition_in(conditions, "AbleToScale")
        && able.is_false()
    {
        return Health::degraded(explain(&able, "unable to scale"));
    }
    if let Some(active) = condition_in(conditions, "ScalingActive")
        && active.is_false()
    {
        // ScalingDisabled: the target was scaled to zero on purpose, which turns autoscaling off.
        if active.reason == "ScalingDisabled" {
            return Health::suspended(explain(&active, "scaling disabled"));
        }
        return Health::degraded(explain(&active, "scaling inactive"));
    }
    Health::healthy(format!(
        "{} current replicas",
        count(hpa, "/status/currentReplicas")
    ))
}

pub(super) fn custom_resource_definition(crd: &Value) -> Health {
    if condition(crd, "Established").is_some_and(|c| c.is_true()) {
        return Health::healthy("established");
    }
    // NamesAccepted False: the plural or kind clashes with another CRD; it will never serve.
    if let Some(names) = condition(crd, "NamesAccepted")
        && names.is_false()
    {
        return Health::degraded(explain(&names, "names not accepted"));
    }
    Health::progressing("waiting to be established")
}

pub(super) fn api_service(service: &Value) -> Health {
    match condition(service, "Available") {
        Some(available) if available.is_true() => Health::healthy("available"),
        Some(available) if available.is_false() => Health::degraded(format!(
            "unavailable: {}",
            explain(&available, "no reason given")
        )),
        _ => Health::progressing("waiting to become available"),
    }
}

/// Every kind without its own rule. The conventions most controllers (and kstatus, which Flux
/// uses) follow: a stale `observedGeneration` means the spec isn't acted on yet; then `Ready`,
/// else `Available`, decides; an object reporting neither is healthy once it exists.
pub(super) fn generic(object: &Value) -> Health {
    let generation = count(object, "/metadata/generation");
    if int_at(object, "/status/observedGeneration").is_some_and(|observed| observed < generation) {
        return Health::progressing("waiting for spec to be observed");
    }
    let Some((name, verdict)) = ["Ready", "Available"]
        .into_iter()
        .find_map(|name| condition(object, name).map(|c| (name, c)))
    else {
        return Health::healthy("");
    };
    if verdict
        .observed_generation
        .is_some_and(|observed| observed < generation)
    {
        return Health::progressing(format!("{name} condition is from an older generation"));
    }
    match verdict.status {
        "True" => Health::healthy(verdict.message),
        // Ready False while Reconciling/Progressing True is a controller still at work
        // (kstatus convention), not a failure.
        "False" if still_working(object) => Health::progressing(explain(&verdict, "reconciling")),
        "False" => Health::degraded(explain(&verdict, &format!("{name} is False"))),
        _ => Health::progressing(explain(&verdict, &format!("{name} is Unknown"))),
    }
}

fn still_working(object: &Value) -> bool {
    ["Reconciling", "Progressing"]
        .into_iter()
        .any(|name| condition(object, name).is_some_and(|c| c.is_true()))
}

/// The condition's message (or reason), else `fallback`.
fn explain(condition: &Condition<'_>, fallback: &str) -> String {
    match condition.explanation() {
        "" => fallback.to_string(),
        text => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::health::HealthStatus::*;
    use crate::health::test_support::check;

    #[test]
    fn horizontal_pod_autoscaler() {
        let head =
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: api}\n";
        check(
            head,
            &[
                (
                    "able and active",
                    "status:\n  currentReplicas: 3\n  conditions:\n    - {type: AbleToScale, status: 'True', reason: ReadyForNewScale}\n    - {type: ScalingActive, status: 'True', reason: ValidMetricFound}",
                    Healthy,
                    "3 current replicas",
                ),
                (
                    "no conditions yet",
                    "spec: {}",
                    Healthy,
                    "0 current replicas",
                ),
                (
                    "unable to scale",
                    "status:\n  conditions:\n    - {type: AbleToScale, status: 'False', reason: FailedGetScale, message: 'deployments/scale.apps \"api\" not found'}",
                    Degraded,
                    "deployments/scale.apps \"api\" not found",
                ),
                (
                    "metrics missing",
                    "status:\n  conditions:\n    - {type: AbleToScale, status: 'True'}\n    - {type: ScalingActive, status: 'False', reason: FailedGetResourceMetric, message: 'unable to get metrics for resource cpu'}",
                    Degraded,
                    "unable to get metrics for resource cpu",
                ),
                (
                    "scaling disabled by scaling target to zero",
                    "status:\n  conditions:\n    - {type: ScalingActive, status: 'False', reason: ScalingDisabled, message: 'scaling is disabled since the replica count of the target is zero'}",
                    Suspended,
                    "scaling is disabled since the replica count of the target is zero",
                ),
            ],
        );
    }

    #[test]
    fn horizontal_pod_autoscaler_v1_reads_conditions_annotation() {
        let head = "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\n";
        check(
            head,
            &[
                (
                    "conditions in annotation",
                    "metadata:\n  name: api\n  annotations:\n    autoscaling.alpha.kubernetes.io/conditions: '[{\"type\":\"AbleToScale\",\"status\":\"False\",\"reason\":\"FailedGetScale\"}]'",
                    Degraded,
                    "FailedGetScale",
                ),
                (
                    "unparsable annotation is ignored",
                    "metadata:\n  name: api\n  annotations:\n    autoscaling.alpha.kubernetes.io/conditions: 'not json'\nstatus: {currentReplicas: 1}",
                    Healthy,
                    "1 current replicas",
                ),
            ],
        );
    }

    #[test]
    fn custom_resource_definition() {
        let head = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n";
        check(
            head,
            &[
                (
                    "established",
                    "status:\n  conditions:\n    - {type: NamesAccepted, status: 'True'}\n    - {type: Established, status: 'True'}",
                    Healthy,
                    "established",
                ),
                (
                    "names clash",
                    "status:\n  conditions:\n    - {type: NamesAccepted, status: 'False', reason: MultipleNamesNotAllowed, message: '\"widgets\" is already in use'}\n    - {type: Established, status: 'False'}",
                    Degraded,
                    "\"widgets\" is already in use",
                ),
                (
                    "not yet established",
                    "status:\n  conditions:\n    - {type: NamesAccepted, status: 'True'}\n    - {type: Established, status: 'False', reason: Installing}",
                    Progressing,
                    "waiting to be established",
                ),
                (
                    "no status yet",
                    "spec: {}",
                    Progressing,
                    "waiting to be established",
                ),
            ],
        );
    }

    #[test]
    fn api_service() {
        let head = "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: v1beta1.metrics.k8s.io}\n";
        check(
            head,
            &[
                (
                    "available",
                    "status: {conditions: [{type: Available, status: 'True', reason: Passed}]}",
                    Healthy,
                    "available",
                ),
                (
                    "unavailable",
                    "status: {conditions: [{type: Available, status: 'False', reason: MissingEndpoints, message: endpoints for service/metrics-server have no addresses}]}",
                    Degraded,
                    "unavailable: endpoints for service/metrics-server have no addresses",
                ),
                (
                    "unavailable without detail",
                    "status: {conditions: [{type: Available, status: 'False'}]}",
                    Degraded,
                    "unavailable: no reason given",
                ),
                (
                    "no condition yet",
                    "spec: {}",
                    Progressing,
                    "waiting to become available",
                ),
                (
                    "condition unknown",
                    "status: {conditions: [{type: Available, status: Unknown}]}",
                    Progressing,
                    "waiting to become available",
                ),
            ],
        );
    }

    #[test]
    fn generic() {
        let head = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, generation: 4}\n";
        check(
            head,
            &[
                ("no status at all", "spec: {}", Healthy, ""),
                (
                    "status without conditions",
                    "status: {observedGeneration: 4, phase: Whatever}",
                    Healthy,
                    "",
                ),
                (
                    "stale observedGeneration",
                    "status:\n  observedGeneration: 3\n  conditions: [{type: Ready, status: 'True'}]",
                    Progressing,
                    "waiting for spec to be observed",
                ),
                (
                    "ready true",
                    "status:\n  conditions: [{type: Ready, status: 'True', message: all good}]",
                    Healthy,
                    "all good",
                ),
                (
                    "ready false",
                    "status:\n  conditions: [{type: Ready, status: 'False', reason: InvalidSpec, message: 'spec.size must be positive'}]",
                    Degraded,
                    "spec.size must be positive",
                ),
                (
                    "ready false without detail",
                    "status:\n  conditions: [{type: Ready, status: 'False'}]",
                    Degraded,
                    "Ready is False",
                ),
                (
                    "ready false while reconciling",
                    "status:\n  conditions:\n    - {type: Ready, status: 'False', reason: Progressing, message: 'creating 2 pods'}\n    - {type: Reconciling, status: 'True'}",
                    Progressing,
                    "creating 2 pods",
                ),
                (
                    "ready false while progressing",
                    "status:\n  conditions:\n    - {type: Ready, status: 'False'}\n    - {type: Progressing, status: 'True'}",
                    Progressing,
                    "reconciling",
                ),
                (
                    "ready unknown",
                    "status:\n  conditions: [{type: Ready, status: Unknown}]",
                    Progressing,
                    "Ready is Unknown",
                ),
                (
                    "available used when there is no ready",
                    "status:\n  conditions: [{type: Available, status: 'False', reason: NoEndpoints}]",
                    Degraded,
                    "NoEndpoints",
                ),
                (
                    "ready wins over available",
                    "status:\n  conditions:\n    - {type: Available, status: 'False'}\n    - {type: Ready, status: 'True'}",
                    Healthy,
                    "",
                ),
                (
                    "ready condition from an older generation",
                    "status:\n  conditions: [{type: Ready, status: 'True', observedGeneration: 3}]",
                    Progressing,
                    "Ready condition is from an older generation",
                ),
                (
                    "other conditions alone don't matter",
                    "status:\n  conditions: [{type: Synced, status: 'False'}]",
                    Healthy,
                    "",
                ),
            ],
        );
    }

    #[test]
    fn core_kinds_without_a_rule_are_healthy_once_they_exist() {
        check(
            "",
            &[
                (
                    "config map",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}",
                    Healthy,
                    "",
                ),
                (
                    "namespace",
                    "apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\nstatus: {phase: Active}",
                    Healthy,
                    "",
                ),
            ],
        );
    }
}
