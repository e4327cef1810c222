//! Prune: delete the app's members that left git, only after the rest of the sync succeeded,
//! in reverse dependency order (monitoring first, config last). Only objects labelled with the
//! app's ApplySet id are candidates, and `ordo.dev/prune: "false"` keeps one; `prune_guard.rs`
//! withholds what must not go and holds a large prune until it is confirmed.

use kube::api::PropagationPolicy;
use tokio::time::Instant;

use super::applyset::{ApplySet, Extraneous, find_extraneous};
use super::prune_guard::{Withheld, marked_confirm, never_pruned, too_many};
use super::report::Event;
use super::{Reporter, State, SyncError, SyncOptions};
use crate::cluster::Cluster;
use crate::manifest::{self, Origin};
use crate::plan::{self, Ordering, Plan};

/// What a prune did and did not do.
#[derive(Debug, Default)]
pub(super) struct Pruned {
    pub deleted: Vec<String>,
    /// Never deleted by prune, with the reason.
    pub withheld: Vec<Withheld>,
    /// Waiting for confirmation (`--confirm-prune`, the API, the page).
    pub awaiting_confirmation: Vec<String>,
}

pub(super) async fn prune(
    cluster: &Cluster,
    plan: &Plan,
    state: &State,
    applyset: &ApplySet,
    options: &SyncOptions,
    reporter: &Reporter,
    started: Instant,
) -> Result<Pruned, SyncError> {
    let all = find_extraneous(cluster, plan, state, applyset).await?;
    if plan.objects.is_empty() && !all.is_empty() && !options.allow_empty {
        return Err(SyncError::EmptyPrune(all.len()));
    }
    let mut result = Pruned::default();
    let mut extraneous = Vec::new();
    for e in all {
        let outside = super::allow::refused(&e.id, !e.resource.namespaced, &options.allow);
        match outside
            .or_else(|| never_pruned(&e.id.group, &e.id.kind, &e.live, &options.prune_guard))
        {
            Some(reason) => result.withheld.push(Withheld {
                id: e.id.to_string(),
                reason,
            }),
            None => extraneous.push(e),
        }
    }
    let staying = plan.objects.iter().filter(|p| p.hook.is_none()).count();
    let ask = too_many(extraneous.len(), staying, &options.prune_guard);
    if !options.confirm_prune {
        let (held, free): (Vec<_>, Vec<_>) = extraneous
            .into_iter()
            .partition(|e| ask || marked_confirm(&e.live));
        result.awaiting_confirmation = held.iter().map(|e| e.id.to_string()).collect();
        extraneous = free;
    }
    if !result.awaiting_confirmation.is_empty() {
        reporter(&Event::PruneAwaitingConfirmation {
            objects: result.awaiting_confirmation.clone(),
            of: staying + result.awaiting_confirmation.len() + extraneous.len(),
        });
    }
    let order = reverse_dependency_order(&extraneous);
    for i in order {
        let e = &extraneous[i];
        let Some(uid) = super::prune_guard::uid(&e.live) else {
            result.withheld.push(Withheld {
                id: e.id.to_string(),
                reason: "the live object has no uid to delete it by".to_owned(),
            });
            continue;
        };
        let deleted = cluster
            .delete(
                &e.resource,
                e.id.namespace.as_deref(),
                &e.id.name,
                uid,
                PropagationPolicy::Background,
            )
            .await?;
        if deleted {
            reporter(&Event::Pruned {
                id: e.id.to_string(),
                elapsed: started.elapsed(),
            });
            result.deleted.push(e.id.to_string());
        }
    }
    Ok(result)
}

/// Indexes of `extraneous` in reverse plan order: the leaving objects planned as the plan
/// orders anything (tiers and inferred dependencies), walked backwards, delete dependents
/// before what they depend on.
fn reverse_dependency_order(extraneous: &[Extraneous]) -> Vec<usize> {
    let objects: Option<Vec<manifest::Object>> = extraneous
        .iter()
        .map(|e| {
            let origin = Origin {
                file: format!("live {}", e.id),
                document: 0,
                line: None,
            };
            manifest::from_value(e.live.clone(), origin).ok()
        })
        .collect();
    let planned = objects.and_then(|objects| plan::build(objects, Ordering::Tiers).ok());
    match planned {
        // Built from `extraneous` in order: plan object i is extraneous[i].
        Some(p) => p.order.iter().rev().copied().collect(),
        None => (0..extraneous.len()).rev().collect(),
    }
}

#[cfg(test)]
mod tests {
    use kube::discovery::ApiResource;
    use serde_json::json;

    use super::*;
    use crate::sync::applyset::live_id;
    use serde_json::Value;

    fn leaving(group: &str, version: &str, kind: &str, live: Value) -> Extraneous {
        let api_version = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        Extraneous {
            id: live_id(group, kind, &live),
            live,
            resource: crate::cluster::Resource {
                api: ApiResource {
                    group: group.into(),
                    version: version.into(),
                    api_version,
                    kind: kind.into(),
                    plural: format!("{}s", kind.to_ascii_lowercase()),
                },
                namespaced: true,
            },
        }
    }

    #[test]
    fn leaving_objects_are_deleted_dependents_first() {
        let config = leaving(
            "",
            "v1",
            "ConfigMap",
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "api-config", "namespace": "shop"}}),
        );
        let api = leaving(
            "apps",
            "v1",
            "Deployment",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "api", "namespace": "shop"},
                   "spec": {"selector": {"matchLabels": {"app": "api"}},
                            "template": {"metadata": {"labels": {"app": "api"}},
                                         "spec": {"containers": [{"name": "api", "image": "api:1",
                                                  "envFrom": [{"configMapRef": {"name": "api-config"}}]}]}}}}),
        );
        let monitor = leaving(
            "monitoring.coreos.com",
            "v1",
            "ServiceMonitor",
            json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                   "metadata": {"name": "api", "namespace": "shop"}}),
        );
        let leaving = [config, api, monitor];
        let names: Vec<String> = reverse_dependency_order(&leaving)
            .into_iter()
            .map(|i| leaving[i].id.kind.clone())
            .collect();
        assert_eq!(names, ["ServiceMonitor", "Deployment", "ConfigMap"]);
    }
}
