//! The walk of the plan's graph: the I/O the schedule (`schedule.rs`, pure) asks for. A node
//! starts as soon as every node it needs is done (applied and Healthy); barriers complete as
//! soon as their stage does. A failed node blocks everything downstream of it and nothing
//! else. Nothing waits past the deadline.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use kube::api::PropagationPolicy;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::time::{Instant, sleep};
use tracing::Instrument;

use super::compare::{apply, dry_run};
use super::hooks;
use super::live::LiveView;
use super::report::{Action, Event, Outcome};
use super::schedule::Schedule;
use super::{Reporter, State, SyncOptions};
use crate::cluster::{Cluster, ClusterError, Group, Resource, identity};
use crate::diff::{self, SyncStatus};
use crate::health::{self, Health};
use crate::plan::{HookPhase, Node, Plan};

/// What one object's convergence hands back.
pub(super) struct Converged {
    pub index: usize,
    pub action: Action,
    pub outcome: Outcome,
    pub health: Option<Health>,
    pub live: Option<Value>,
    pub applied_at: Option<Duration>,
    pub healthy_at: Option<Duration>,
    pub message: Option<String>,
}

/// What every object's convergence shares during one sync.
pub(super) struct Context<'a> {
    pub cluster: &'a Cluster,
    pub live: LiveView,
    pub options: &'a SyncOptions,
    pub permits: Semaphore,
    pub deadline: Instant,
    pub reporter: &'a Reporter,
    pub started: Instant,
}

/// Walks the graph; with `scope`, only the nodes it marks (a set closed under their needs).
/// Objects already Healthy (converged by an earlier walk of this sync) are done at once.
pub(super) async fn walk(
    ctx: &Context<'_>,
    plan: &Plan,
    state: &mut State,
    scope: Option<&[bool]>,
) {
    let (options, reporter) = (ctx.options, ctx.reporter);
    let graph = &plan.graph;
    let mut schedule = Schedule::new(&graph.needs, graph.dependents());
    // Futures polled on this task: they borrow the context, and the cost is I/O, not CPU.
    let mut running: FuturesUnordered<Pin<Box<dyn Future<Output = Converged> + Send + '_>>> =
        FuturesUnordered::new();
    loop {
        while let Some(node) = schedule.start() {
            if scope.is_some_and(|s| !s[node]) {
                continue;
            }
            let Node::Object { index } = graph.nodes[node] else {
                schedule.done(node);
                continue;
            };
            let o = &state.objects[index];
            if o.hook.is_none() && o.report.outcome == Outcome::Healthy {
                schedule.done(node);
                continue;
            }
            if options.cancelled() {
                // Leave it Pending: the next sync picks it up.
                schedule.drop_node(node);
                continue;
            }
            if let Some(hook) = &o.hook {
                // Hooks of the other phases run in theirs (hooks.rs); Sync hooks run here, in
                // the plan's order, as an instance for this revision.
                if hook.runs_in(HookPhase::Sync) {
                    let target = hooks::target(state, index, &options.revision);
                    let span = tracing::debug_span!("hook", id = %target.id);
                    running.push(Box::pin(converge(ctx, target).instrument(span)));
                } else {
                    schedule.done(node);
                }
                continue;
            }
            let target = Target {
                index,
                id: o.report.id.clone(),
                desired: o.desired.clone(),
                resource: o.resource.clone(),
                live: o.live.clone(),
                status: o.status,
                recreate: o.recreate,
                ignore_health: health::ignored(&o.desired),
                hook: false,
            };
            let span = tracing::debug_span!("object", id = %target.id);
            running.push(Box::pin(converge(ctx, target).instrument(span)));
        }
        let Some(done) = running.next().await else {
            break;
        };
        // Object nodes come first in the graph: an object's node is its index.
        let node = done.index;
        record(state, &done);
        if state.objects[node].hook.is_some() {
            hooks::clean_up(ctx, state, node, done.outcome == Outcome::Healthy).await;
        }
        if done.outcome == Outcome::Healthy {
            schedule.done(node);
        } else {
            let blocked = schedule.failed(node);
            block(plan, state, node, &blocked, reporter);
        }
    }
}

pub(super) fn record(state: &mut State, done: &Converged) {
    let o = &mut state.objects[done.index];
    if done.action != Action::Unchanged || o.report.action == Action::Skipped {
        o.report.action = done.action;
    }
    o.report.outcome = done.outcome;
    o.report.health = done.health.clone();
    if let Some(at) = done.applied_at {
        o.report.applied_at = Some(at.as_secs_f64());
    }
    o.report.healthy_at = done.healthy_at.map(|d| d.as_secs_f64());
    o.report.message = done.message.clone();
    if done.live.is_some() {
        o.live = done.live.clone();
    }
}

/// Marks the nodes the schedule found downstream of a failed node Blocked (never started).
fn block(plan: &Plan, state: &mut State, failed: usize, blocked: &[usize], reporter: &Reporter) {
    let Node::Object { index } = plan.graph.nodes[failed] else {
        return;
    };
    let cause = plan.objects[index].object.id.to_string();
    for &node in blocked {
        if let Node::Object { index } = plan.graph.nodes[node] {
            let o = &mut state.objects[index];
            o.report.outcome = Outcome::Blocked;
            o.report.message = Some(format!("not applied: {cause} did not become healthy"));
            reporter(&Event::Blocked {
                id: o.report.id.clone(),
                by: cause.clone(),
            });
        }
    }
}

/// One object to converge, with owned copies of what it needs.
pub(super) struct Target {
    pub index: usize,
    pub id: String,
    pub desired: Value,
    pub resource: Option<Resource>,
    pub live: Option<Value>,
    pub status: SyncStatus,
    pub recreate: bool,
    pub ignore_health: bool,
    /// A hook instance: not an ApplySet member, watched by its own label.
    pub hook: bool,
}

/// Applies the object when it differs, then waits until it is Healthy, Degraded or out of time.
pub(super) async fn converge(ctx: &Context<'_>, t: Target) -> Converged {
    let mut out = Converged {
        index: t.index,
        action: Action::Unchanged,
        outcome: Outcome::Failed,
        health: None,
        live: t.live.clone(),
        applied_at: None,
        healthy_at: None,
        message: None,
    };
    let fail = |mut out: Converged, e: String| {
        ctx_event_failed(ctx, &t.id, Outcome::Failed, &e);
        out.message = Some(e);
        out
    };
    let resource = match &t.resource {
        Some(r) => r.clone(),
        // A custom resource whose CRD this sync just installed: discover and validate now.
        None => match ctx
            .cluster
            .resource(api_version(&t.desired), kind(&t.desired))
            .await
        {
            Ok(r) => r,
            Err(e) => return fail(out, e.to_string()),
        },
    };
    let mut status = t.status;
    if t.resource.is_none() {
        match dry_run(
            ctx.cluster,
            &resource,
            &t.desired,
            ctx.options.force_conflicts,
        )
        .await
        {
            Ok(dry) => status = diff::compare(&dry, t.live.as_ref()),
            Err(e) => return fail(out, e.to_string()),
        }
    }
    if status != SyncStatus::Synced {
        if let (true, Some(live)) = (t.recreate, &t.live) {
            if let Err(e) = delete_and_wait(ctx, &resource, &t.desired, live).await {
                return fail(out, e);
            }
            out.action = Action::Recreated;
        }
        match apply_with_retry(ctx, &resource, &t.desired).await {
            Ok(applied) => out.live = Some(applied),
            Err(e) => return fail(out, e.to_string()),
        }
        if out.action != Action::Recreated {
            out.action = if t.live.is_none() {
                Action::Created
            } else {
                Action::Configured
            };
        }
        let at = ctx.started.elapsed();
        out.applied_at = Some(at);
        (ctx.reporter)(&Event::Applied {
            id: t.id.clone(),
            action: out.action,
            elapsed: at,
        });
    }
    let since = Instant::now();
    if t.ignore_health {
        out.outcome = Outcome::Healthy;
        out.healthy_at = Some(ctx.started.elapsed());
        out.message = Some(format!("{} is \"true\"", health::IGNORE_HEALTH_ANNOTATION));
        return out;
    }
    wait_healthy(ctx, &resource, &t, out, since).await
}

async fn wait_healthy(
    ctx: &Context<'_>,
    resource: &Resource,
    t: &Target,
    mut out: Converged,
    since: Instant,
) -> Converged {
    let (ns, name) = identity(&t.desired);
    // Started on the first wait that does not end at once: objects already Healthy cost nothing.
    let mut group: Option<(std::sync::Arc<Group>, String)> = None;
    let mut changes = None;
    loop {
        if let Some(seen) = group.as_ref().and_then(|(g, key)| g.get(key))
            && !health::older(seen.as_ref(), out.live.as_ref())
        {
            out.live = seen;
        }
        let binding_mode = match health::claim_class(out.live.as_ref()) {
            Some(class) => binding_mode(ctx, class).await,
            None => None,
        };
        let verdict = health::wait(&health::Observation {
            live: out.live.as_ref(),
            before: t.live.as_ref(),
            changed: out.action != Action::Unchanged,
            binding_mode: binding_mode.as_deref(),
        });
        let health = verdict.health().clone();
        out.health = Some(health.clone());
        let done = match verdict {
            health::Wait::Done(_) => Some((Outcome::Healthy, None)),
            health::Wait::Failed(h) => Some((Outcome::Degraded, Some(h.message))),
            _ if ctx.options.cancelled() => Some((
                Outcome::Pending,
                Some(format!(
                    "stopped waiting ({}): the sync was cancelled",
                    health.status
                )),
            )),
            _ if Instant::now() >= ctx.deadline => Some((
                Outcome::TimedOut,
                Some(format!(
                    "still {} after the sync timeout: {}",
                    health.status, health.message
                )),
            )),
            health::Wait::Pending(_) => None,
        };
        if let Some((outcome, mut message)) = done {
            if matches!(outcome, Outcome::Degraded | Outcome::TimedOut)
                && let Some(live) = out.live.as_ref()
                && let Some(fact) = super::why::explain(ctx.cluster, live).await
            {
                message = message.map(|m| health::why::explained(&m, Some(&fact)));
                if let Some(h) = out.health.as_mut() {
                    h.message = health::why::explained(&h.message, Some(&fact));
                }
            }
            return end_wait(ctx, t, out, since, outcome, message);
        }
        if group.is_none() {
            let (g, key) = ctx.live.group(resource, ns, name, t.hook).await;
            changes = Some(g.changes(&key));
            group = Some((g, key));
            continue;
        }
        // Wake on any change of the group, and at least every second for the deadline and
        // cancellation.
        let tick = ctx
            .deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(1));
        if let Some(rx) = changes.as_mut() {
            tokio::select! {
                _ = rx.changed() => {}
                _ = sleep(tick) => {}
            }
        }
    }
}

/// Records how a wait ended and reports it.
fn end_wait(
    ctx: &Context<'_>,
    t: &Target,
    mut out: Converged,
    since: Instant,
    outcome: Outcome,
    message: Option<String>,
) -> Converged {
    out.outcome = outcome;
    let at = ctx.started.elapsed();
    match outcome {
        Outcome::Healthy => {
            out.healthy_at = Some(at);
            (ctx.reporter)(&Event::Healthy {
                id: t.id.clone(),
                waited: since.elapsed(),
                elapsed: at,
                changed: out.action != Action::Unchanged,
            });
        }
        Outcome::Degraded | Outcome::TimedOut => {
            ctx_event_failed(ctx, &t.id, outcome, message.as_deref().unwrap_or_default());
        }
        _ => {}
    }
    out.message = message;
    out
}

/// Server-side apply, retried with backoff while the API server is unreachable or overloaded.
async fn apply_with_retry(
    ctx: &Context<'_>,
    resource: &Resource,
    desired: &Value,
) -> Result<Value, ClusterError> {
    let mut delay = Duration::from_millis(250);
    loop {
        let result = {
            let _permit = ctx.permits.acquire().await;
            apply(ctx.cluster, resource, desired, ctx.options.force_conflicts).await
        };
        match result {
            Err(e)
                if e.is_transient()
                    && Instant::now() + delay < ctx.deadline
                    && !ctx.options.cancelled() =>
            {
                sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// Deletes `live` (foreground, so dependents go first) to re-create it, and waits until it is
/// gone. Only an object the app owns, under the rules of prune, and only that very object
/// (its `uid`): a replace is a delete like any other.
async fn delete_and_wait(
    ctx: &Context<'_>,
    resource: &Resource,
    desired: &Value,
    live: &Value,
) -> Result<(), String> {
    let (ns, name) = identity(desired);
    let owner = super::applyset::ApplySet::for_app(&ctx.options.app, &ctx.options.namespace);
    let (group, kind) = (&resource.api.group, &resource.api.kind);
    if let Some(why) =
        super::prune_guard::never_deleted(group, kind, live, &owner.id, &ctx.options.prune_guard)
    {
        return Err(format!("not re-created: {why}"));
    }
    let uid = super::prune_guard::uid(live)
        .ok_or_else(|| format!("not re-created: {name} has no uid to delete it by"))?;
    {
        let _permit = ctx.permits.acquire().await;
        ctx.cluster
            .delete(resource, ns, name, uid, PropagationPolicy::Foreground)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut delay = Duration::from_millis(200);
    loop {
        let _permit = ctx.permits.acquire().await;
        match ctx.cluster.get(resource, ns, name).await {
            Ok(None) => return Ok(()),
            // Someone else's object of that name now: not ours to wait for (nor to delete).
            Ok(Some(now)) if super::prune_guard::uid(&now) != Some(uid) => {
                return Err(format!(
                    "not re-created: {name} was re-created by someone else meanwhile"
                ));
            }
            Ok(Some(_)) | Err(_) if Instant::now() + delay < ctx.deadline => {}
            Ok(Some(_)) => return Err(format!("{name} was not deleted before the sync timeout")),
            Err(e) => return Err(e.to_string()),
        }
        drop(_permit);
        sleep(delay).await;
        delay = (delay * 3 / 2).min(Duration::from_secs(2));
    }
}

/// The `volumeBindingMode` of StorageClass `class` (the health verdict of a Pending claim
/// depends on it); `None` when it cannot be read.
async fn binding_mode(ctx: &Context<'_>, class: &str) -> Option<String> {
    let resource = ctx
        .cluster
        .resource("storage.k8s.io/v1", "StorageClass")
        .await
        .ok()?;
    let _permit = ctx.permits.acquire().await;
    let sc = ctx.cluster.get(&resource, None, class).await.ok()??;
    sc.get("volumeBindingMode")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn ctx_event_failed(ctx: &Context<'_>, id: &str, outcome: Outcome, message: &str) {
    (ctx.reporter)(&Event::Failed {
        id: id.to_owned(),
        outcome,
        message: message.to_owned(),
        elapsed: ctx.started.elapsed(),
    });
}

fn api_version(object: &Value) -> &str {
    object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn kind(object: &Value) -> &str {
    object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
}
