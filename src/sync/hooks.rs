//! Hooks in their phases (`plan/hook.rs` says which): PreSync before anything else, Sync with
//! the other objects in the walk, PostSync once everything else is Healthy, SyncFail when the
//! sync fails; Skip never. Within a phase, hooks run one after another in weight order (then
//! plan order), each gated on completion: a failed hook stops its phase.
//!
//! Each run is an instance for the revision: named `<generateName><digest of the revision>`
//! when the hook has no fixed name, stamped with the revision, recreated when it ran for
//! another one, and labelled `ordo.dev/hook-of` instead of the ApplySet's part-of label, so
//! prune and drift never touch it (hooks are not the app's resources, as in Argo CD); what
//! remains of it after the run is up to its delete policy.

use kube::api::PropagationPolicy;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::State;
use super::applyset::{ApplySet, PART_OF_LABEL};
use super::prune_guard::{never_deleted, uid};
use super::report::{Action, Outcome};
use super::walk::{Context, Target, converge, record};
use crate::cluster::identity;
use crate::diff::SyncStatus;
use crate::manifest::keys::HOOK_OF_LABEL;
use crate::plan::{HookPhase, Node, Plan};

/// Stamped on hook instances: the revision they ran for.
pub use crate::manifest::keys::REVISION_ANNOTATION;

/// The instance of a hook for `revision`: `desired` is the object as an ApplySet member.
pub(super) fn instance(mut desired: Value, applyset: &ApplySet, revision: &str) -> Value {
    let Some(meta) = desired.get_mut("metadata").and_then(Value::as_object_mut) else {
        return desired;
    };
    let unnamed = meta
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if unnamed
        && let Some(prefix) = meta
            .remove("generateName")
            .and_then(|p| p.as_str().map(str::to_owned))
    {
        // Deterministic: a sync that restarts finds the instance it created.
        let digest = Sha256::digest(revision.as_bytes());
        let suffix: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
        meta.insert(
            "name".into(),
            Value::String(format!("{prefix}{}", &suffix[..5])),
        );
    }
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    if let Some(labels) = labels.as_object_mut() {
        labels.remove(PART_OF_LABEL);
        labels.insert(HOOK_OF_LABEL.into(), Value::String(applyset.id.clone()));
    }
    let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
    if let Some(annotations) = annotations.as_object_mut() {
        annotations.insert(
            REVISION_ANNOTATION.into(),
            Value::String(revision.to_owned()),
        );
    }
    desired
}

/// What converging hook `i` means: create it, or recreate it when it ran for another revision.
pub(super) fn target(state: &State, i: usize, revision: &str) -> Target {
    let o = &state.objects[i];
    let ran_for = o
        .live
        .as_ref()
        .and_then(|l| l.pointer("/metadata/annotations"))
        .and_then(|a| a.get(REVISION_ANNOTATION))
        .and_then(Value::as_str);
    let same_revision = ran_for == Some(revision);
    let before_creation = o.hook.as_ref().is_some_and(|h| h.delete.before_creation);
    Target {
        index: i,
        id: o.report.id.clone(),
        desired: o.desired.clone(),
        resource: o.resource.clone(),
        live: o.live.clone(),
        status: if same_revision {
            SyncStatus::Synced
        } else if o.live.is_some() {
            SyncStatus::OutOfSync
        } else {
            SyncStatus::Missing
        },
        // A Job's template is immutable: a new revision runs as a new instance.
        recreate: !same_revision && before_creation,
        ignore_health: false,
        hook: true,
    }
}

/// The nodes the hooks of `phase` need, transitively (tiers' barriers included): what must be
/// Healthy before they run. A migration in the backend tier thus runs once its config and
/// database are up, and before the backend rolls out.
pub(super) fn needed_by(plan: &Plan, state: &State, phase: HookPhase) -> Vec<bool> {
    let graph = &plan.graph;
    let mut needed = vec![false; graph.nodes.len()];
    let mut stack: Vec<usize> = graph
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(node, n)| match n {
            Node::Object { index } => state.objects[*index]
                .hook
                .as_ref()
                .is_some_and(|h| h.runs_in(phase))
                .then_some(node),
            _ => None,
        })
        .flat_map(|node| graph.needs[node].iter().copied())
        .collect();
    while let Some(node) = stack.pop() {
        if std::mem::replace(&mut needed[node], true) {
            continue;
        }
        stack.extend(graph.needs[node].iter().copied());
    }
    needed
}

/// Runs the hooks of `phase` in weight order; true when every one completed. After a failure
/// the rest of the phase does not run (left Pending).
pub(super) async fn run_phase(
    ctx: &Context<'_>,
    plan: &Plan,
    state: &mut State,
    phase: HookPhase,
) -> bool {
    let mut hooks: Vec<(i64, usize, usize)> = plan
        .order
        .iter()
        .enumerate()
        .filter_map(|(position, &i)| {
            let hook = state.objects[i].hook.as_ref()?;
            hook.runs_in(phase).then_some((hook.weight, position, i))
        })
        .collect();
    hooks.sort_unstable();
    for (_, _, i) in hooks {
        if ctx.options.cancelled() {
            return false;
        }
        let done = converge(ctx, target(state, i, &ctx.options.revision)).await;
        let ok = done.outcome == Outcome::Healthy;
        record(state, &done);
        clean_up(ctx, state, i, ok).await;
        if !ok {
            return false;
        }
    }
    true
}

/// Deletes a hook's instance when its policy says so for how it ended.
pub(super) async fn clean_up(ctx: &Context<'_>, state: &mut State, i: usize, ok: bool) {
    let o = &mut state.objects[i];
    let Some(hook) = &o.hook else { return };
    let delete = if ok {
        hook.delete.on_success
    } else {
        hook.delete.on_failure
    };
    let Some(resource) = &o.resource else { return };
    if !delete {
        return;
    }
    let (ns, name) = identity(&o.desired);
    let live = o.live.as_ref();
    let owner = ApplySet::for_app(&ctx.options.app, &ctx.options.namespace);
    let refused = live.map_or(Some("never seen live".to_owned()), |live| {
        let (group, kind) = (&resource.api.group, &resource.api.kind);
        never_deleted(group, kind, live, &owner.id, &ctx.options.prune_guard)
    });
    let uid = live.and_then(uid);
    let (None, Some(uid)) = (&refused, uid) else {
        let why = refused.unwrap_or_else(|| "the live object has no uid".to_owned());
        tracing::warn!(hook = %o.report.id, reason = %why, "hook kept: not deleted by its policy");
        return;
    };
    // Background: the Job's pods go with it; nothing waits on them.
    match ctx
        .cluster
        .delete(resource, ns, name, uid, PropagationPolicy::Background)
        .await
    {
        Ok(_) => {
            o.report.message = Some(match &o.report.message {
                Some(m) => format!("{m}; deleted (hook delete policy)"),
                None => "deleted (hook delete policy)".to_owned(),
            });
        }
        Err(e) => tracing::warn!(hook = %o.report.id, error = %e, "cannot delete a finished hook"),
    }
}

/// Hooks that never ran in this sync (their phase did not come, or Skip): reported as such
/// rather than Pending, which would read as an unfinished sync.
pub(super) fn mark_not_run(state: &mut State) {
    for o in &mut state.objects {
        let Some(hook) = &o.hook else { continue };
        if o.report.outcome != Outcome::Pending || o.report.action != Action::Skipped {
            continue;
        }
        let only_skip = hook.phases.iter().all(|p| *p == HookPhase::Skip);
        o.report.outcome = Outcome::NotRun;
        o.report.message = Some(if only_skip {
            format!("hook ({}): never applied by a sync", hook.source)
        } else {
            let phases: Vec<String> = hook.phases.iter().map(|p| format!("{p:?}")).collect();
            format!(
                "{} hook: its phase did not run in this sync",
                phases.join(", ")
            )
        });
    }
}
