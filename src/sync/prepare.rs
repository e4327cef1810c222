//! Before the first write: resolve kinds, read live state (a LIST per kind and namespace for
//! what we own, a GET only for what we do not have yet), check ownership, and validate every
//! object with a server-side dry run. A single refusal stops the sync with nothing written.

use std::collections::{BTreeSet, HashMap};

use futures::stream::{self, StreamExt};
use serde_json::Value;

use super::applyset::{self, ApplySet, PART_OF_LABEL};
use super::compare::dry_run;
use super::report::{Action, ObjectReport, Outcome};
use super::{ObjectState, State, SyncError, SyncOptions};
use crate::cluster::{Cluster, ClusterError};
use crate::diff::{self, SyncStatus};
use crate::manifest::keys::{HOOK_OF_LABEL, has_sync_option};
use crate::plan::{Plan, PlannedObject};

pub use crate::manifest::keys::RECREATE_ANNOTATION;
/// Objects in a namespace this sync creates are validated here, which every cluster has.
const STAND_IN_NAMESPACE: &str = "default";

pub(super) async fn prepare(
    cluster: &Cluster,
    plan: &Plan,
    applyset: &ApplySet,
    options: &SyncOptions,
) -> Result<State, SyncError> {
    cluster
        .discover_if_older(std::time::Duration::from_secs(30))
        .await?;
    let mut objects = Vec::with_capacity(plan.objects.len());
    let mut invalid = Vec::new();
    let mut not_allowed = Vec::new();
    for p in &plan.objects {
        let o = &p.object;
        let resource = match cluster.resource(&o.api_version, &o.id.kind).await {
            Ok(r) => Some(r),
            // Validated once the kind exists: its CRD comes in this sync, or Argo CD's
            // SkipDryRunOnMissingResource says it will exist by the time it is applied.
            Err(ClusterError::UnknownKind { .. })
                if crd_in_plan(plan, &o.id.group, &o.id.kind)
                    || has_sync_option(
                        o.at("/metadata/annotations"),
                        "SkipDryRunOnMissingResource=true",
                    ) =>
            {
                None
            }
            Err(e) => {
                invalid.push(format!("{}: {e}", o.id));
                None
            }
        };
        let cluster_scoped = resource
            .as_ref()
            .map_or(o.id.namespace.is_none(), |r| !r.namespaced);
        if let Some(why) = super::allow::refused(&o.id, cluster_scoped, &options.allow) {
            not_allowed.push(why);
        }
        if p.hook.is_some()
            && let Some(why) = super::prune_guard::protected_hook(o, &options.prune_guard)
        {
            not_allowed.push(why);
        }
        let member = applyset::member(o, applyset, p.config_hash.as_deref());
        objects.push(ObjectState {
            desired: match &p.hook {
                Some(_) => super::hooks::instance(member, applyset, &options.revision),
                None => member,
            },
            deferred: resource.is_none(),
            resource,
            live: None,
            dry_run: None,
            status: SyncStatus::Missing,
            recreate: false,
            hook: p.hook.clone(),
            report: initial_report(p),
        });
    }
    if !not_allowed.is_empty() {
        return Err(SyncError::NotAllowed(not_allowed));
    }
    if !invalid.is_empty() {
        return Err(SyncError::Invalid(invalid));
    }
    read_live(cluster, plan, &mut objects, applyset, options).await?;
    validate(cluster, plan, &mut objects, options).await?;
    let parent_resource = cluster.resource("v1", "Secret").await?;
    let parent = cluster
        .get(&parent_resource, Some(&applyset.namespace), &applyset.name)
        .await?;
    Ok(State { objects, parent })
}

fn initial_report(p: &PlannedObject) -> ObjectReport {
    ObjectReport {
        id: p.object.id.to_string(),
        tier: p.tier,
        sync: SyncStatus::Missing,
        action: Action::Skipped,
        outcome: Outcome::Pending,
        health: None,
        applied_at: None,
        healthy_at: None,
        message: None,
    }
}

fn crd_in_plan(plan: &Plan, group: &str, kind: &str) -> bool {
    plan.objects.iter().any(|p| {
        let o = &p.object;
        o.id.is("apiextensions.k8s.io", "CustomResourceDefinition")
            && o.at("/spec/group").and_then(Value::as_str) == Some(group)
            && o.at("/spec/names/kind").and_then(Value::as_str) == Some(kind)
    })
}

/// Live objects: one LIST of our members per (resource, namespace), then a GET for each desired
/// object the lists did not return (new objects, or objects someone else created).
async fn read_live(
    cluster: &Cluster,
    plan: &Plan,
    objects: &mut [ObjectState],
    applyset: &ApplySet,
    options: &SyncOptions,
) -> Result<(), SyncError> {
    let mut groups: HashMap<(String, Option<String>), Vec<usize>> = HashMap::new();
    for (i, o) in objects.iter().enumerate() {
        if let Some(r) = &o.resource {
            let key = (
                r.api.api_version.clone() + "/" + &r.api.plural,
                plan.objects[i].object.id.namespace.clone(),
            );
            groups.entry(key).or_default().push(i);
        }
    }
    let selector = applyset.selector();
    let lists = stream::iter(groups.into_values())
        .map(|members| {
            let resource = objects[members[0]].resource.clone();
            let ns = plan.objects[members[0]].object.id.namespace.clone();
            let selector = selector.clone();
            let id = applyset.id.as_str();
            async move {
                let Some(resource) = resource else {
                    return Ok((members, Vec::new()));
                };
                // The agent's shared watch of the kind, when it runs, has them: no list. What
                // it has not seen yet is read below with a GET, like any unlisted object.
                if let Some(items) = cluster.owned_from_watch(&resource, ns.as_deref(), id) {
                    return Ok((members, items));
                }
                match cluster
                    .list(&resource, ns.as_deref(), Some(&selector))
                    .await
                {
                    Ok(items) => Ok((members, items)),
                    Err(e) => Err((members, e)),
                }
            }
        })
        .buffer_unordered(options.concurrency)
        .collect::<Vec<_>>()
        .await;
    let mut forbidden = Vec::new();
    for result in lists {
        let (members, items) = match result {
            Ok(found) => found,
            Err((members, e)) if e.code() == Some(403) => {
                forbidden.extend(
                    members
                        .iter()
                        .map(|&i| format!("{}: {e}", plan.objects[i].object.id)),
                );
                continue;
            }
            Err((_, e)) => return Err(e.into()),
        };
        // Moved, not cloned: at 5,000 objects a second copy of every listed object is what
        // pushes the peak memory up.
        let mut by_name: HashMap<String, Value> = items
            .into_iter()
            .filter_map(|v| Some((v.pointer("/metadata/name")?.as_str()?.to_owned(), v)))
            .collect();
        for i in members {
            let name = plan.objects[i].object.id.name.as_str();
            objects[i].live = by_name.remove(name);
        }
    }
    if !forbidden.is_empty() {
        return Err(SyncError::Forbidden(forbidden));
    }
    get_unlisted(cluster, plan, objects, applyset, options).await
}

/// A GET for each desired object the lists did not return; one that exists and is neither a
/// member nor a hook instance of this app is someone else's.
async fn get_unlisted(
    cluster: &Cluster,
    plan: &Plan,
    objects: &mut [ObjectState],
    applyset: &ApplySet,
    options: &SyncOptions,
) -> Result<(), SyncError> {
    let unlisted: Vec<usize> = (0..objects.len())
        .filter(|&i| objects[i].live.is_none() && objects[i].resource.is_some())
        .collect();
    let fetched = stream::iter(unlisted)
        .map(|i| {
            let resource = objects[i].resource.clone();
            // The desired object's own name: a hook instance's differs from its id's.
            let (ns, name) = crate::cluster::identity(&objects[i].desired);
            async move {
                let Some(resource) = resource else {
                    return Ok((i, None));
                };
                let live = cluster.get(&resource, ns, name).await?;
                Ok::<_, ClusterError>((i, live))
            }
        })
        .buffer_unordered(options.concurrency)
        .collect::<Vec<_>>()
        .await;
    let mut foreign = Vec::new();
    for result in fetched {
        let (i, live) = result?;
        if let Some(live) = &live {
            let owner = label(live, PART_OF_LABEL);
            let ours = owner == Some(applyset.id.as_str())
                || label(live, HOOK_OF_LABEL) == Some(applyset.id.as_str());
            if !ours && !options.adopt {
                let whose = owner.map_or("no ApplySet".to_owned(), |o| format!("ApplySet {o}"));
                foreign.push(format!(
                    "{} (belongs to {whose})",
                    plan.objects[i].object.id
                ));
            }
        }
        objects[i].live = live;
    }
    if foreign.is_empty() {
        Ok(())
    } else {
        Err(SyncError::NotOwned(foreign))
    }
}

fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .pointer(&format!("/metadata/labels/{}", key.replace('/', "~1")))
        .and_then(Value::as_str)
}

/// Server-side dry run of every object that can be checked now; compares each result with
/// the live object.
async fn validate(
    cluster: &Cluster,
    plan: &Plan,
    objects: &mut [ObjectState],
    options: &SyncOptions,
) -> Result<(), SyncError> {
    let new_namespaces: BTreeSet<String> = plan
        .objects
        .iter()
        .zip(objects.iter())
        .filter(|(p, o)| p.object.id.is("", "Namespace") && o.live.is_none())
        .map(|(p, _)| p.object.id.name.clone())
        .collect();
    let unchanged = mark_unchanged(objects, options);
    let checks = stream::iter(0..objects.len())
        .filter(|&i| std::future::ready(!objects[i].deferred && !unchanged[i]))
        .map(|i| {
            let o = &objects[i];
            let mut desired = o.desired.clone();
            let ns = plan.objects[i].object.id.namespace.as_deref();
            if ns.is_some_and(|ns| new_namespaces.contains(ns)) {
                desired["metadata"]["namespace"] = Value::String(STAND_IN_NAMESPACE.into());
            }
            let resource = o.resource.clone();
            let live = o.live.as_ref();
            let own_namespace = plan.objects[i].object.id.namespace.as_deref();
            async move {
                let Some(resource) = resource else {
                    return (i, Ok(None));
                };
                // Compared as each answer arrives and dropped unless kept for a diff, so 5,000
                // dry-run results are never all in memory at once.
                let result = dry_run(cluster, &resource, &desired, options.force_conflicts)
                    .await
                    .map(|dry| {
                        let status = diff::compare(&dry, live);
                        // Validated in the stand-in namespace: not what will be applied.
                        let same_namespace =
                            dry.pointer("/metadata/namespace").and_then(Value::as_str)
                                == own_namespace;
                        Some((
                            status,
                            (same_namespace && options.keep_dry_run).then_some(dry),
                        ))
                    });
                (i, result)
            }
        })
        .buffer_unordered(options.concurrency)
        .collect::<Vec<_>>()
        .await;
    let mut invalid = Vec::new();
    for (i, result) in checks {
        let o = &mut objects[i];
        let object = &plan.objects[i].object;
        match result {
            Ok(None) => {}
            Ok(Some((status, dry))) => {
                o.status = status;
                o.dry_run = dry;
            }
            Err(e) if is_immutable(&e) && (object.id.is("batch", "Job") || object.annotation(RECREATE_ANNOTATION) == Some("true") || has_sync_option(object.at("/metadata/annotations"), "Replace=true")) => {
                o.recreate = true;
                o.status = SyncStatus::OutOfSync;
            }
            Err(e) if is_immutable(&e) => invalid.push(format!(
                "{e}\n    (an immutable field changed; annotate the object with {RECREATE_ANNOTATION}: \"true\" to delete and recreate it)"
            )),
            // The API server could not be reached (no answer at all): not the commit's fault,
            // and nothing was written; the caller retries later. An answer, even a 500 for a
            // field the schema lacks, is the commit's.
            Err(e) if e.code().is_none() && e.is_transient() => return Err(SyncError::Cluster(e)),
            Err(e) => invalid.push(format!("{} ({}): {e}", object.id, object.origin)),
        }
        o.report.sync = o.status;
    }
    if invalid.is_empty() {
        Ok(())
    } else {
        invalid.sort();
        Err(SyncError::Invalid(invalid))
    }
}

/// Objects unchanged since the previous sync on both sides (their dry run would say Synced
/// again) are marked Synced; returns which.
fn mark_unchanged(objects: &mut [ObjectState], options: &SyncOptions) -> Vec<bool> {
    let mut unchanged = vec![false; objects.len()];
    let Some(known) = &options.known else {
        return unchanged;
    };
    for (i, o) in objects.iter_mut().enumerate() {
        let same = o.live.as_ref().is_some_and(|live| {
            known.get(&o.report.id) == Some(&super::Fingerprint::of(&o.desired, live))
        });
        if same {
            unchanged[i] = true;
            o.status = SyncStatus::Synced;
            o.report.sync = SyncStatus::Synced;
        }
    }
    unchanged
}

pub(super) fn is_immutable(e: &ClusterError) -> bool {
    e.code() == Some(422) && e.to_string().contains("immutable")
}
