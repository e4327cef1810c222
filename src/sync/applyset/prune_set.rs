//! The ApplySet's prune set: members in the cluster (by label, for every group-kind the parent
//! lists or the plan uses, in the namespaces the parent records or the plan uses) that the plan
//! no longer has, except those marked to keep.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use super::parent::{old_group_kinds, old_namespaces};
use super::{ApplySet, PRUNE_ANNOTATION, group_kind, parse_group_kinds};
use crate::cluster::{Cluster, ClusterError};
use crate::manifest::ObjectId;
use crate::manifest::keys::{HELM_RESOURCE_POLICY_ANNOTATION, has_sync_option};
use crate::plan::Plan;
use crate::sync::{State, SyncError};

/// An owned object that is no longer in git.
pub(crate) struct Extraneous {
    pub id: ObjectId,
    pub live: Value,
    pub resource: crate::cluster::Resource,
}

/// Members of the ApplySet that the plan no longer has, except those marked to keep. Listed by
/// label, for every group-kind the parent lists or the plan uses, and only in the namespaces
/// the parent records or the plan uses: a labelled copy elsewhere is not the app's (the label's
/// value is public), and the lists need no cluster-wide right for namespaced kinds.
pub(crate) async fn find_extraneous(
    cluster: &Cluster,
    plan: &Plan,
    state: &State,
    applyset: &ApplySet,
) -> Result<Vec<Extraneous>, SyncError> {
    let desired: HashSet<&ObjectId> = plan.objects.iter().map(|p| &p.object.id).collect();
    let mut kinds = old_group_kinds(state.parent.as_ref());
    kinds.extend(
        plan.objects
            .iter()
            .map(|p| group_kind(&p.object.id.group, &p.object.id.kind)),
    );
    let namespaces = member_namespaces(plan, state, applyset);
    let mut extraneous = Vec::new();
    for gk in kinds {
        let (group, kind) = parse_group_kinds(&gk).pop().unwrap_or_default();
        let Some(resource) = resource_for(cluster, &group, &kind).await? else {
            continue;
        };
        let scopes: Vec<Option<&str>> = if resource.namespaced {
            namespaces.iter().map(|ns| Some(ns.as_str())).collect()
        } else {
            vec![None]
        };
        for scope in scopes {
            // The agent's shared watch of the kind, when it runs, has them: no list.
            let members = match cluster.owned_from_watch(&resource, scope, &applyset.id) {
                Some(members) => members,
                None => {
                    cluster
                        .list(&resource, scope, Some(&applyset.selector()))
                        .await?
                }
            };
            for live in members {
                let id = live_id(&group, &kind, &live);
                if !desired.contains(&id) && !kept(&live) {
                    extraneous.push(Extraneous {
                        id,
                        live,
                        resource: resource.clone(),
                    });
                }
            }
        }
    }
    Ok(extraneous)
}

/// The parent's namespace, the namespaces its annotation records and those the plan uses.
fn member_namespaces(plan: &Plan, state: &State, applyset: &ApplySet) -> BTreeSet<String> {
    let mut namespaces = old_namespaces(state.parent.as_ref());
    namespaces.insert(applyset.namespace.clone());
    namespaces.extend(
        plan.objects
            .iter()
            .filter_map(|p| p.object.id.namespace.clone()),
    );
    namespaces
}

/// Marked never to be pruned: ordo's `prune: "false"`, Argo CD's `Prune=false` or
/// `Delete=false`, or Helm's `resource-policy: keep`.
fn kept(live: &Value) -> bool {
    let annotations = live.pointer("/metadata/annotations");
    let annotation = |key: &str| annotations.and_then(|a| a.get(key)).and_then(Value::as_str);
    annotation(PRUNE_ANNOTATION) == Some("false")
        || annotation(HELM_RESOURCE_POLICY_ANNOTATION) == Some("keep")
        || has_sync_option(annotations, "Prune=false")
        || has_sync_option(annotations, "Delete=false")
}

/// The kind as served now; None when the server no longer serves it (its CRD is gone, and so
/// are its objects).
async fn resource_for(
    cluster: &Cluster,
    group: &str,
    kind: &str,
) -> Result<Option<crate::cluster::Resource>, SyncError> {
    let versions = ["v1", "v2", "v1beta1", "v1alpha1"];
    for version in versions {
        let api_version = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        match cluster.resource(&api_version, kind).await {
            Ok(r) => return Ok(Some(r)),
            Err(ClusterError::UnknownKind { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

pub(in crate::sync) fn live_id(group: &str, kind: &str, live: &Value) -> ObjectId {
    let meta = |f: &str| {
        live.pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
    };
    ObjectId::new(
        group,
        kind,
        meta("namespace"),
        meta("name").unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn objects_marked_to_keep_are_never_pruned() {
        let with = |a: Value| json!({"metadata": {"name": "x", "annotations": a}});
        for kept_one in [
            json!({"ordo.dev/prune": "false"}),
            json!({"argocd.argoproj.io/sync-options": "Prune=false"}),
            json!({"argocd.argoproj.io/sync-options": "ServerSideApply=true,Delete=false"}),
            json!({"helm.sh/resource-policy": "keep"}),
        ] {
            assert!(kept(&with(kept_one.clone())), "{kept_one}");
        }
        assert!(!kept(&with(
            json!({"argocd.argoproj.io/sync-options": "Replace=true"})
        )));
        assert!(!kept(&json!({"metadata": {"name": "x"}})));
    }
}
