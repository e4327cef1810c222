//! `/apps/{name}`: the app's state, its resources by tier with their dependencies, and its
//! sync history. `ordo.js` builds the same DOM from the same JSON when updates arrive, so the
//! element classes and `data-*` names here are shared with it.

use maud::{Markup, html};

use super::layout::{self, duration, first_line, short, status, time};
use crate::agent::state::ResourceState;
use crate::agent::{AppState, Ended, HistoryEntry};
use crate::health::HealthStatus;
use crate::plan::Tier;

/// The app page's content and its JSON island (the app document of `view::app`).
pub fn content(app: &AppState, now: f64, actions: bool) -> (Markup, Markup) {
    let data = layout::json_island("ordo-data", &crate::server::view::app(app));
    let main = html! {
        section.app-head {
            div.app-title {
                h1 { (app.name) }
                p.repo {
                    span.repo-url { (app.repo) } " @ " span.ref { (app.reference) }
                    @if !app.path.is_empty() && app.path != "." { " · " span.path { (app.path) } }
                    @if let Some(kind) = &app.source_kind { " · " span.source-kind title="How the path's files became manifests" { (kind) } }
                    @if let Some(sig) = &app.signature { " · " span.signature.untrusted[!sig.trusted] data-f="signature" title=(sig.message) { @if sig.trusted { "signed by " } @else { "untrusted: " } (sig.signer) } }
                    " · namespace " span.ns { (app.namespace) }
                }
            }
            div.toolbar {
                (action_button("sync", "Sync now", None, actions, true))
            }
        }
        div.banners #banners { (banners(app, actions)) }
        section.summary aria-label="Status" {
            dl.facts #facts { (facts(app, now)) }
        }
        section.graph-section aria-labelledby="graph-title" {
            h2 #graph-title { "Resources" }
            p.hint { "Arrows point from what is needed to what needs it; the Namespace's arrows show when an object is selected. Select a resource for its live manifest, diff and the reasons for its place." }
            div.view-switch role="group" aria-label="View" {
                button.btn type="button" data-view="graph" aria-pressed="true" aria-controls="graph" { "Tiers" }
                button.btn type="button" data-view="tree" aria-pressed="false" aria-controls="tree" { "Tree" }
            }
            div.tree #tree hidden aria-live="polite" {
                p.muted { "Loading the live tree…" }
            }
            div.graph #graph {
                svg.edges #edges aria-hidden="true" focusable="false" {}
                div.tiers {
                    @for tier in Tier::ALL { (column(tier, &app.resources)) }
                }
            }
        }
        (panel())
        section.history aria-labelledby="history-title" {
            h2 #history-title { "Sync history" }
            div.table-scroll {
                table.history-table {
                    thead {
                        tr {
                            th scope="col" { span.sr { "Details" } }
                            th scope="col" { "Revision" }
                            th scope="col" { "Commit" }
                            th scope="col" { "Author" }
                            th scope="col" { "Trigger" }
                            th scope="col" { "Result" }
                            th scope="col" { "Started" }
                            th scope="col" { "Duration" }
                            th scope="col" { span.sr { "Actions" } }
                        }
                    }
                    tbody #history-body {
                        @for h in &app.persisted.history { (history_rows(h, app, now, actions)) }
                    }
                }
            }
            p.empty #history-empty hidden[!app.persisted.history.is_empty()] { "No syncs yet." }
        }
    };
    (main, data)
}

/// A button that calls the API; disabled (with the reason) when the agent has no token.
fn action_button(
    action: &str,
    text: &str,
    revision: Option<&str>,
    actions: bool,
    primary: bool,
) -> Markup {
    let why = (!actions).then_some("Disabled: the agent has no apiTokenFile configured");
    html! {
        button.btn.primary[primary] type="button" data-action=(action) data-revision=[revision]
            disabled[!actions] title=[why] { (text) }
    }
}

fn banners(app: &AppState, actions: bool) -> Markup {
    let p = &app.persisted;
    html! {
        @if let Some(pin) = &p.pin {
            div.banner data-v="Suspended" {
                (layout::icon("Suspended"))
                div.banner-text {
                    strong { "Pinned to " code title=(pin.revision) { (short(&pin.revision)) } } ": " (pin.reason)
                    br;
                    small {
                        @if pin.manual { "Set by hand: the agent stays on it until it is unpinned." }
                        @else { "A new commit on " (app.reference) " lifts it." }
                    }
                }
                (action_button("unpin", "Unpin", None, actions, false))
            }
        }
        @if let Some(failed) = p.failed_revision.as_ref().filter(|f| holds_back(app, f)) {
            div.banner data-v="Failed" {
                (layout::icon("Failed"))
                div.banner-text {
                    strong { "Revision " code title=(failed) { (short(failed)) } " failed" }
                    br;
                    small { "It is not retried until the branch moves, someone syncs, or it is unpinned." }
                }
                (action_button("unpin", "Unpin", None, actions, false))
            }
        }
        @if let Some(error) = &app.store_error {
            div.banner data-v="Degraded" {
                (layout::icon("Degraded"))
                div.banner-text { strong { "Stored state not saved" } br; span.err { (error) } }
            }
        }
        @if let Some(wider) = &app.policy_wider {
            div.banner data-v="OutOfSync" {
                (layout::icon("OutOfSync"))
                div.banner-text {
                    strong { "May write beyond its namespace" } br;
                    span { (wider) }
                    br;
                    small { "Its allow list says so; narrow it unless this app is meant to." }
                }
            }
        }
        @if let Some(down) = &app.task_down {
            div.banner data-v="Failed" {
                (layout::icon("Failed"))
                div.banner-text { strong { "App task down" } br; span.err { (down) } }
            }
        }
        @if let Some(held) = &app.prune_held {
            div.banner data-v="OutOfSync" {
                (layout::icon("OutOfSync"))
                div.banner-text {
                    strong { "Prune held: " (held.objects.len()) " object(s) left git" }
                    br;
                    small { "More than the app's pruneGuard allows at once, or marked Prune=confirm: "
                        (held.objects.join(", ")) }
                }
                (action_button("confirm-prune", "Confirm prune", Some(&held.revision), actions, false))
            }
        }
        @if let Some(error) = &app.last_error {
            div.banner data-v="Degraded" {
                (layout::icon("Degraded"))
                div.banner-text { strong { "Last error" } br; span.err { (error) } }
            }
        }
    }
}

/// A failed revision matters while the branch still points at it: once the head moves on, the
/// agent syncs the new commit and the failure is only history.
fn holds_back(app: &AppState, failed: &str) -> bool {
    app.head.as_deref().is_none_or(|head| head == failed)
}

fn facts(app: &AppState, now: f64) -> Markup {
    let total = app.resources.len();
    let healthy = app
        .resources
        .iter()
        .filter(|r| r.health == Some(HealthStatus::Healthy))
        .count();
    let phase = format!("{:?}", app.phase);
    html! {
        div.fact.fact-rev {
            dt { "Revision" }
            dd data-f="rev" {
                @match &app.revision {
                    Some(c) => {
                        code.sha title=(c.sha) { (short(&c.sha)) } " "
                        span.msg title=(c.message) { (first_line(&c.message)) }
                        br;
                        small { "by " (c.author) ", committed " (time(now, c.time as f64)) }
                    }
                    None => span.muted { "not synced yet" },
                }
                @if let Some(head) = app.head.as_deref().filter(|h| app.revision.as_ref().is_none_or(|c| c.sha != *h)) {
                    br;
                    small.head { "branch head " code title=(head) { (short(head)) } }
                }
            }
        }
        div.fact { dt { "Sync" } dd data-f="sync" { (status(app.sync_status.as_str())) } }
        div.fact { dt { "Health" } dd data-f="health" { (status(app.health.as_str())) } }
        div.fact {
            dt { "Phase" }
            dd data-f="phase" {
                (status(&phase))
                @if let Some(step) = &app.current_step { br; small.step { (step) } }
            }
        }
        div.fact {
            dt { "Progress" }
            dd data-f="progress" {
                span.count { (healthy) "/" (total) " healthy" }
                progress max=(total.max(1)) value=(healthy) aria-label="Healthy resources" {}
            }
        }
        div.fact {
            dt { "Reconciled" }
            dd data-f="reconciled" {
                @match app.reconciled_at {
                    Some(t) => (time(now, t)),
                    None => span.muted { "not yet" },
                }
                @if app.drift_count > 0 { br; small { (app.drift_count) " drift corrections" } }
            }
        }
    }
}

fn column(tier: Tier, resources: &[ResourceState]) -> Markup {
    let of_tier: Vec<&ResourceState> = resources.iter().filter(|r| r.tier == tier).collect();
    let healthy = of_tier
        .iter()
        .filter(|r| r.health == Some(HealthStatus::Healthy))
        .count();
    let position = Tier::ALL.iter().position(|t| *t == tier).unwrap_or(0) + 1;
    html! {
        section.tier data-tier=(tier.as_str()) aria-label=(format!("Tier {position}: {tier}")) {
            h3.tier-head {
                span.tier-n aria-hidden="true" { (position) }
                span.tier-name { (tier.as_str()) }
                span.tier-count data-f="count" { (healthy) "/" (of_tier.len()) }
            }
            ol.nodes {
                @for r in &of_tier { li { (node(r)) } }
            }
        }
    }
}

/// One resource: a button (focusable, Enter and Space open it) with its kind, name and states.
pub fn node(r: &ResourceState) -> Markup {
    let health = r.health.map_or("Pending", |h| h.as_str());
    html! {
        button.node type="button" data-id=(r.id) data-v=(health) aria-controls="panel" aria-expanded="false"
            title=[r.message.as_deref()] {
            span.node-kind { (r.kind) }
            span.node-name { (r.name) }
            span.node-st {
                span data-f="sync" { (status(r.sync.as_str())) }
                span data-f="health" { (status(health)) }
            }
        }
    }
}

/// The resource panel's shell; the script fills it from the resource endpoint.
fn panel() -> Markup {
    html! {
        aside.panel #panel hidden tabindex="-1" aria-labelledby="panel-title" {
            div.panel-head {
                h2 #panel-title { "Resource" }
                button.btn.close type="button" data-action="close-panel" aria-label="Close" { "✕" }
            }
            div.panel-body #panel-body {}
        }
    }
}

/// A history entry's row and its (collapsed) per-object timings.
fn history_rows(h: &HistoryEntry, app: &AppState, now: f64, actions: bool) -> Markup {
    let key = format!("h-{}", (h.started * 1000.0) as u64);
    let result = format!("{:?}", h.result);
    let current = app.revision.as_ref().is_some_and(|c| c.sha == h.revision);
    html! {
        tr.h-row data-key=(key) {
            td {
                button.expand type="button" data-action="expand" aria-expanded="false"
                    aria-controls=(format!("{key}-objects")) disabled[h.objects.is_empty()]
                    title=(format!("Per-object timings ({} objects)", h.objects.len())) {
                    span aria-hidden="true" { "▸" }
                    span.sr { "Show per-object timings" }
                }
            }
            td { code.sha title=(h.revision) { (short(&h.revision)) } }
            td.msg {
                span title=(h.message) { (h.message) }
                @if let Some(e) = &h.error { br; small.err { (e) } }
            }
            td { (h.author) }
            td { (format!("{:?}", h.trigger).to_lowercase()) }
            td { (status(&result)) }
            td { (time(now, h.started)) }
            td { (duration(h.finished - h.started)) }
            td.row-actions {
                @if current { span.tag { "deployed" } }
                @else if h.result == Ended::Succeeded {
                    (action_button("rollback", "Rollback to this revision", Some(&h.revision), actions, false))
                }
            }
        }
        tr.h-objects id=(format!("{key}-objects")) hidden {
            td colspan="9" {
                table.objects {
                    thead { tr {
                        th scope="col" { "Object" } th scope="col" { "Action" } th scope="col" { "Outcome" }
                        th scope="col" { "Applied" } th scope="col" { "Healthy" } th scope="col" { "Waited" }
                    } }
                    tbody {
                        @for o in &h.objects {
                            tr {
                                td.obj-id { (o.id) }
                                td { (format!("{:?}", o.action).to_lowercase()) }
                                td { (status(&format!("{:?}", o.outcome))) }
                                td { (offset(o.applied_at)) }
                                td { (offset(o.healthy_at)) }
                                td { @if let (Some(a), Some(b)) = (o.applied_at, o.healthy_at) { (duration(b - a)) } @else { "–" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// "+1.2s" after the sync started (object times are relative to it), or a dash.
fn offset(at: Option<f64>) -> String {
    at.map_or("–".into(), |t| format!("+{}", duration(t)))
}
