//! Every annotation and label key ordo reads or writes, in one place: ordo's own
//! (`ordo.dev/*`), the ApplySet convention (KEP-3659), and the keys of other tools that ordo
//! honours (Argo CD, kubectl, the Kubernetes recommended labels). The contract is listed in the
//! book's reference, docs/src/reference/annotations.md.

// ordo's own.
/// `config`, `database`, `backend`, `frontend`, `monitoring`: overrides the inferred tier.
pub const TIER_ANNOTATION: &str = "ordo.dev/tier";
/// `Kind/name[, Kind/ns/name…]` that must be healthy first.
pub const DEPENDS_ON_ANNOTATION: &str = "ordo.dev/depends-on";
/// Written by ordo on pod templates: a digest of the referenced ConfigMap/Secret data.
pub const CONFIG_HASH_ANNOTATION: &str = "ordo.dev/config-hash";
/// `"true"`: don't wait on the object's health.
pub const IGNORE_HEALTH_ANNOTATION: &str = "ordo.dev/ignore-health";
/// `"false"`: never prune the object.
pub const PRUNE_ANNOTATION: &str = "ordo.dev/prune";
/// `"true"`: delete and create when an immutable field changes.
pub const RECREATE_ANNOTATION: &str = "ordo.dev/recreate";
/// `post-sync` on a Job: runs after everything is healthy.
pub const HOOK_ANNOTATION: &str = "ordo.dev/hook";
/// Written by ordo on hooks: the revision they ran for.
pub const REVISION_ANNOTATION: &str = "ordo.dev/revision";
/// On the leader's Lease: the address other replicas forward commands to.
pub const LEADER_URL_ANNOTATION: &str = "ordo.dev/leader-url";
/// On ordo's own state ConfigMaps: the app they belong to.
pub const APP_LABEL: &str = "ordo.dev/app";
/// The Kubernetes recommended label for the tool that manages an object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

// ApplySet (KEP-3659): ownership and prune.
pub const PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";
pub const ID_LABEL: &str = "applyset.kubernetes.io/id";
pub const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";
pub const GROUP_KINDS_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-kinds";
pub const NAMESPACES_ANNOTATION: &str = "applyset.kubernetes.io/additional-namespaces";

/// Written by ordo on hook instances (not ApplySet members): which app's hook this is, as a
/// short digest, so a new instance can find and replace the previous one.
pub const HOOK_OF_LABEL: &str = "ordo.dev/hook-of";

// Other tools' keys that ordo honours.
/// Argo CD's hook phases: `PreSync`, `Sync`, `PostSync`, `SyncFail`, `Skip` (comma-separated).
pub const ARGO_HOOK_ANNOTATION: &str = "argocd.argoproj.io/hook";
/// `HookSucceeded`, `HookFailed`, `BeforeHookCreation` (comma-separated).
pub const ARGO_HOOK_DELETE_POLICY_ANNOTATION: &str = "argocd.argoproj.io/hook-delete-policy";
/// Helm's hook events (`pre-install`, `post-upgrade`…), mapped to phases as Argo CD maps them.
pub const HELM_HOOK_ANNOTATION: &str = "helm.sh/hook";
/// Helm's order of hooks within an event.
pub const HELM_HOOK_WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
/// `hook-succeeded`, `hook-failed`, `before-hook-creation` (comma-separated).
pub const HELM_HOOK_DELETE_POLICY_ANNOTATION: &str = "helm.sh/hook-delete-policy";
/// Argo CD's waves, for people migrating: ordered before inferred edges.
pub const SYNC_WAVE_ANNOTATION: &str = "argocd.argoproj.io/sync-wave";
/// Argo CD's per-object sync options (`Prune=false`, `Delete=false`, `Replace=true`,
/// `SkipDryRunOnMissingResource=true`…), comma-separated; see [`has_sync_option`].
pub const SYNC_OPTIONS_ANNOTATION: &str = "argocd.argoproj.io/sync-options";
/// Helm's `keep`: never delete the object (Argo CD reads it as `Delete=false`).
pub const HELM_RESOURCE_POLICY_ANNOTATION: &str = "helm.sh/resource-policy";
/// The Kubernetes recommended label naming a workload's role (`frontend`, `database`…).
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// kubectl's client-side apply record: ignored in diffs.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Whether `annotations` (an object's `metadata.annotations`) list Argo CD sync option `option`
/// (`Name=value`, compared without spaces, the name case-sensitive as in Argo CD).
pub fn has_sync_option(annotations: Option<&serde_json::Value>, option: &str) -> bool {
    annotations
        .and_then(|a| a.get(SYNC_OPTIONS_ANNOTATION))
        .and_then(serde_json::Value::as_str)
        .is_some_and(|v| v.split(',').any(|o| o.trim() == option))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_options_are_found_in_a_comma_separated_list() {
        let a = serde_json::json!({SYNC_OPTIONS_ANNOTATION: "Validate=false, Prune=false"});
        assert!(has_sync_option(Some(&a), "Prune=false"));
        assert!(!has_sync_option(Some(&a), "Delete=false"));
        assert!(!has_sync_option(None, "Prune=false"));
    }
}
