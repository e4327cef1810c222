//! Hooks: objects applied in a phase of their own rather than with the rest: Argo CD's
//! `argocd.argoproj.io/hook`, Helm's `helm.sh/hook` (mapped to phases as Argo CD maps them) and
//! ordo's own `ordo.dev/hook: post-sync`. Pure: an object in, its hook (if any) out. Inside the
//! Sync phase ordo's own ordering decides; the other phases run their hooks in weight order.

use serde::Serialize;

use super::PlanError;
use crate::manifest::Object;
use crate::manifest::keys::{
    ARGO_HOOK_ANNOTATION, ARGO_HOOK_DELETE_POLICY_ANNOTATION, HELM_HOOK_ANNOTATION,
    HELM_HOOK_DELETE_POLICY_ANNOTATION, HELM_HOOK_WEIGHT_ANNOTATION, HOOK_ANNOTATION,
    SYNC_WAVE_ANNOTATION,
};

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum HookPhase {
    /// Before anything else; a failure means nothing else is applied.
    PreSync,
    /// With the other objects, ordered by the plan's graph.
    Sync,
    /// Once everything else is Healthy.
    PostSync,
    /// When the sync fails.
    SyncFail,
    /// Never applied by a sync (Argo CD's `Skip`, delete-time hooks, Helm test and rollback
    /// hooks, which have no place in a GitOps sync).
    Skip,
}

/// What happens to a hook's object after it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletePolicy {
    /// Delete the previous instance before creating the new one (Argo CD's default).
    pub before_creation: bool,
    pub on_success: bool,
    pub on_failure: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hook {
    /// Usually one; a hook listed in several phases runs in each.
    pub phases: Vec<HookPhase>,
    /// Order within a phase, lowest first (Helm's hook-weight, else Argo CD's sync-wave).
    pub weight: i64,
    pub delete: DeletePolicy,
    /// Which annotation made it a hook, for explanations.
    pub source: &'static str,
}

impl Hook {
    pub fn runs_in(&self, phase: HookPhase) -> bool {
        self.phases.contains(&phase)
    }
}

/// The hook an object is, if any. Argo CD's annotation wins over Helm's (as in Argo CD: with
/// an Argo CD hook annotation present, Helm's are ignored).
pub fn hook_of(o: &Object) -> Result<Option<Hook>, PlanError> {
    let (phases, source) = if let Some(v) = o.annotation(ARGO_HOOK_ANNOTATION) {
        (argo_phases(o, v)?, ARGO_HOOK_ANNOTATION)
    } else if let Some(v) = o.annotation(HELM_HOOK_ANNOTATION) {
        match helm_phases(v) {
            Some(phases) => (phases, HELM_HOOK_ANNOTATION),
            // `crd-install` only: an ordinary object, as Argo CD treats it.
            None => return Ok(None),
        }
    } else if o.annotation(HOOK_ANNOTATION) == Some("post-sync") {
        (vec![HookPhase::PostSync], HOOK_ANNOTATION)
    } else {
        return Ok(None);
    };
    let weight_annotation = match source {
        HELM_HOOK_ANNOTATION => HELM_HOOK_WEIGHT_ANNOTATION,
        _ => SYNC_WAVE_ANNOTATION,
    };
    let weight = match o.annotation(weight_annotation) {
        None => 0,
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| invalid(o, weight_annotation, v, "an integer"))?,
    };
    Ok(Some(Hook {
        phases,
        weight,
        delete: delete_policy(o),
        source,
    }))
}

fn argo_phases(o: &Object, value: &str) -> Result<Vec<HookPhase>, PlanError> {
    let mut phases = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let phase = match name {
            "PreSync" => HookPhase::PreSync,
            "Sync" => HookPhase::Sync,
            "PostSync" => HookPhase::PostSync,
            "SyncFail" => HookPhase::SyncFail,
            "Skip" | "PreDelete" | "PostDelete" => HookPhase::Skip,
            _ => {
                return Err(invalid(
                    o,
                    ARGO_HOOK_ANNOTATION,
                    value,
                    "PreSync, Sync, PostSync, SyncFail or Skip",
                ));
            }
        };
        if !phases.contains(&phase) {
            phases.push(phase);
        }
    }
    if phases.is_empty() {
        return Err(invalid(o, ARGO_HOOK_ANNOTATION, value, "a phase"));
    }
    Ok(phases)
}

/// Helm's events as Argo CD maps them; `None` for `crd-install` alone (not a hook).
fn helm_phases(value: &str) -> Option<Vec<HookPhase>> {
    let mut phases = Vec::new();
    let mut only_crd_install = true;
    for event in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let phase = match event {
            "crd-install" => continue,
            "pre-install" | "pre-upgrade" => HookPhase::PreSync,
            "post-install" | "post-upgrade" => HookPhase::PostSync,
            // Delete, rollback and test hooks have no place in a sync: never applied.
            _ => HookPhase::Skip,
        };
        only_crd_install = false;
        if !phases.contains(&phase) {
            phases.push(phase);
        }
    }
    if only_crd_install {
        return None;
    }
    // A hook that is also a delete or test hook still runs in its sync phases.
    if phases.len() > 1 {
        phases.retain(|p| *p != HookPhase::Skip);
    }
    Some(phases)
}

/// Argo CD's or Helm's policy, whichever the object carries (both merge); none means
/// `BeforeHookCreation`, Argo CD's default, so each revision runs its hooks afresh.
fn delete_policy(o: &Object) -> DeletePolicy {
    let mut policy = DeletePolicy::default();
    let mut any = false;
    for key in [
        ARGO_HOOK_DELETE_POLICY_ANNOTATION,
        HELM_HOOK_DELETE_POLICY_ANNOTATION,
    ] {
        for p in o
            .annotation(key)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
        {
            match p {
                "BeforeHookCreation" | "before-hook-creation" => policy.before_creation = true,
                "HookSucceeded" | "hook-succeeded" => policy.on_success = true,
                "HookFailed" | "hook-failed" => policy.on_failure = true,
                _ => continue,
            }
            any = true;
        }
    }
    if !any {
        policy.before_creation = true;
    }
    policy
}

fn invalid(o: &Object, annotation: &'static str, value: &str, expected: &str) -> PlanError {
    PlanError::Annotation {
        id: o.id.to_string(),
        origin: o.origin.clone(),
        detail: format!("{annotation}: {value:?}; expected {expected}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Origin;

    fn object(annotations: serde_json::Value) -> Object {
        let manifest = serde_json::json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "migrate", "namespace": "shop", "annotations": annotations}
        });
        let origin = Origin {
            file: "hooks.yaml".into(),
            document: 0,
            line: Some(1),
        };
        crate::manifest::from_value(manifest, origin).unwrap_or_else(|e| panic!("{e}"))
    }

    fn phases(annotations: serde_json::Value) -> Option<Vec<HookPhase>> {
        hook_of(&object(annotations))
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|h| h.phases)
    }

    #[test]
    fn phases_come_from_argo_cd_helm_and_ordo_annotations() {
        use HookPhase::*;
        let cases = [
            (serde_json::json!({}), None),
            (
                serde_json::json!({"argocd.argoproj.io/hook": "PreSync"}),
                Some(vec![PreSync]),
            ),
            (
                serde_json::json!({"argocd.argoproj.io/hook": "PreSync, PostSync"}),
                Some(vec![PreSync, PostSync]),
            ),
            (
                serde_json::json!({"argocd.argoproj.io/hook": "Skip"}),
                Some(vec![Skip]),
            ),
            (
                serde_json::json!({"argocd.argoproj.io/hook": "PostDelete"}),
                Some(vec![Skip]),
            ),
            (
                serde_json::json!({"argocd.argoproj.io/hook": "SyncFail"}),
                Some(vec![SyncFail]),
            ),
            (
                serde_json::json!({"helm.sh/hook": "pre-install,pre-upgrade"}),
                Some(vec![PreSync]),
            ),
            (
                serde_json::json!({"helm.sh/hook": "post-install"}),
                Some(vec![PostSync]),
            ),
            (
                serde_json::json!({"helm.sh/hook": "test"}),
                Some(vec![Skip]),
            ),
            (
                serde_json::json!({"helm.sh/hook": "post-install,post-delete"}),
                Some(vec![PostSync]),
            ),
            (serde_json::json!({"helm.sh/hook": "crd-install"}), None),
            (
                serde_json::json!({"ordo.dev/hook": "post-sync"}),
                Some(vec![PostSync]),
            ),
            // Argo CD's annotation wins: Helm's are then ignored.
            (
                serde_json::json!({"argocd.argoproj.io/hook": "Sync", "helm.sh/hook": "pre-install"}),
                Some(vec![Sync]),
            ),
        ];
        for (annotations, expected) in cases {
            assert_eq!(phases(annotations.clone()), expected, "{annotations}");
        }
    }

    #[test]
    fn weights_and_delete_policies() {
        let helm = hook_of(&object(serde_json::json!({
            "helm.sh/hook": "pre-upgrade", "helm.sh/hook-weight": "-5",
            "helm.sh/hook-delete-policy": "hook-succeeded",
            "argocd.argoproj.io/sync-wave": "3"
        })));
        let helm = helm.ok().flatten();
        assert_eq!(
            helm.as_ref().map(|h| h.weight),
            Some(-5),
            "Helm's own weight"
        );
        assert_eq!(
            helm.map(|h| h.delete),
            Some(DeletePolicy {
                before_creation: false,
                on_success: true,
                on_failure: false
            })
        );
        let argo = hook_of(&object(serde_json::json!({
            "argocd.argoproj.io/hook": "PostSync", "argocd.argoproj.io/sync-wave": "2"
        })))
        .ok()
        .flatten();
        assert_eq!(argo.as_ref().map(|h| h.weight), Some(2));
        assert!(
            argo.is_some_and(|h| h.delete.before_creation),
            "no policy: BeforeHookCreation, as in Argo CD"
        );
    }

    #[test]
    fn unknown_phases_and_bad_weights_name_the_object() {
        for annotations in [
            serde_json::json!({"argocd.argoproj.io/hook": "BeforeSync"}),
            serde_json::json!({"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "high"}),
        ] {
            let err = hook_of(&object(annotations.clone()))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("Job/shop/migrate"), "{annotations}: {err}");
            assert!(err.contains("hooks.yaml"), "{err}");
        }
    }
}
