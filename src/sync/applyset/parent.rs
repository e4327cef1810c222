//! The ApplySet parent in the cluster: written before the members (listing the union of old
//! and new group-kinds, so a crash mid-sync still knows what to prune) and after a prune
//! (only the current ones).

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    ApplySet, GROUP_KINDS_ANNOTATION, NAMESPACES_ANNOTATION, group_kind, parse_group_kinds,
};
use crate::cluster::{ApplyOptions, Cluster};
use crate::diff::SyncStatus;
use crate::plan::Plan;
use crate::sync::report::Action;
use crate::sync::{State, SyncError, SyncOptions};

/// Applies the ApplySet parent when it differs. Before members are written it lists the
/// union of old and new group-kinds (a crash mid-sync still knows what to prune); after a
/// prune, only the current ones. Creates the parent's Namespace first when this sync owns it.
pub(in crate::sync) async fn ensure_parent(
    cluster: &Cluster,
    plan: &Plan,
    state: &mut State,
    applyset: &ApplySet,
    options: &SyncOptions,
    keep_old_kinds: bool,
) -> Result<(), SyncError> {
    let mut kinds: BTreeSet<String> = plan
        .objects
        .iter()
        .map(|p| group_kind(&p.object.id.group, &p.object.id.kind))
        .collect();
    if keep_old_kinds {
        kinds.extend(old_group_kinds(state.parent.as_ref()));
    }
    let mut namespaces: BTreeSet<String> = plan
        .objects
        .iter()
        .filter_map(|p| p.object.id.namespace.clone())
        .collect();
    if keep_old_kinds {
        // Prune looks only in recorded namespaces: a namespace that left git stays recorded
        // until what is in it was pruned.
        namespaces.extend(old_namespaces(state.parent.as_ref()));
    }
    let desired = applyset.parent(&kinds, &namespaces);
    if state
        .parent
        .as_ref()
        .is_some_and(|live| parent_matches(live, &desired))
    {
        return Ok(());
    }
    create_own_namespace(cluster, plan, state, applyset, options).await?;
    let resource = cluster.resource("v1", "Secret").await?;
    let opts = ApplyOptions {
        dry_run: false,
        force: true,
    };
    state.parent = Some(cluster.apply(&resource, &desired, opts).await?);
    Ok(())
}

pub(in crate::sync) fn old_group_kinds(parent: Option<&Value>) -> BTreeSet<String> {
    parent
        .and_then(|p| p.pointer("/metadata/annotations"))
        .and_then(|a| a.get(GROUP_KINDS_ANNOTATION))
        .and_then(Value::as_str)
        .map(|v| {
            parse_group_kinds(v)
                .into_iter()
                .map(|(g, k)| group_kind(&g, &k))
                .collect()
        })
        .unwrap_or_default()
}

/// The namespaces the parent records besides its own.
pub(in crate::sync) fn old_namespaces(parent: Option<&Value>) -> BTreeSet<String> {
    parent
        .and_then(|p| p.pointer("/metadata/annotations"))
        .and_then(|a| a.get(NAMESPACES_ANNOTATION))
        .and_then(Value::as_str)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                // Read from the cluster: only names a namespace can have.
                .filter(|ns| crate::manifest::is_dns_label(ns))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn parent_matches(live: &Value, desired: &Value) -> bool {
    let pick = |v: &Value, field: &str| v.pointer(&format!("/metadata/{field}")).cloned();
    let subset = |d: Option<Value>, l: Option<Value>| match (d, l) {
        (Some(Value::Object(d)), Some(Value::Object(l))) => {
            d.iter().all(|(k, v)| l.get(k) == Some(v))
        }
        (None, _) => true,
        _ => false,
    };
    subset(pick(desired, "labels"), pick(live, "labels"))
        && subset(pick(desired, "annotations"), pick(live, "annotations"))
        && live.pointer(&format!(
            "/metadata/annotations/{}",
            NAMESPACES_ANNOTATION.replace('/', "~1")
        )) == desired.pointer(&format!(
            "/metadata/annotations/{}",
            NAMESPACES_ANNOTATION.replace('/', "~1")
        ))
}

/// The parent lives in the app's namespace; when this sync creates that Namespace, it is
/// applied first (it was validated with everything else).
async fn create_own_namespace(
    cluster: &Cluster,
    plan: &Plan,
    state: &mut State,
    applyset: &ApplySet,
    options: &SyncOptions,
) -> Result<(), SyncError> {
    let Some(i) = plan
        .objects
        .iter()
        .position(|p| p.object.id.is("", "Namespace") && p.object.id.name == applyset.namespace)
    else {
        return Ok(());
    };
    let o = &mut state.objects[i];
    if o.live.is_some() {
        return Ok(());
    }
    let Some(resource) = o.resource.clone() else {
        return Ok(());
    };
    let opts = ApplyOptions {
        dry_run: false,
        force: options.force_conflicts,
    };
    o.live = Some(cluster.apply(&resource, &o.desired, opts).await?);
    o.status = SyncStatus::Synced;
    o.report.action = Action::Created;
    Ok(())
}
