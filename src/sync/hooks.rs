//! Post-sync hooks: Jobs annotated `ordo.dev/hook: post-sync` (smoke tests) run once everything
//! else is Healthy, are recreated for each new revision, and fail the sync when they fail.

use serde_json::Value;

use super::State;
use super::walk::{Context, Target, converge, record};
use crate::diff::SyncStatus;
use crate::plan::Plan;

/// Stamped on hook Jobs: the revision they ran for.
pub use crate::manifest::keys::REVISION_ANNOTATION;

pub(super) async fn run(ctx: &Context<'_>, plan: &Plan, state: &mut State) {
    let options = ctx.options;
    let hooks: Vec<usize> = plan
        .order
        .iter()
        .copied()
        .filter(|&i| state.objects[i].hook)
        .collect();
    for i in hooks {
        let o = &mut state.objects[i];
        if let Some(annotations) = o
            .desired
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        {
            annotations.insert(REVISION_ANNOTATION.into(), options.revision.clone().into());
        } else if let Some(meta) = o.desired.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert(
                "annotations".into(),
                serde_json::json!({ REVISION_ANNOTATION: options.revision }),
            );
        }
        let ran_for = o
            .live
            .as_ref()
            .and_then(|l| l.pointer("/metadata/annotations"))
            .and_then(|a| a.get(REVISION_ANNOTATION))
            .and_then(Value::as_str);
        let same_revision = ran_for == Some(options.revision.as_str());
        let target = Target {
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
            // A Job's template is immutable: a new revision runs as a new Job.
            recreate: !same_revision,
            ignore_health: false,
        };
        let done = converge(ctx, target).await;
        record(state, &done);
    }
}
