//! `/`: one tile per app. The markup here and `ordo.js`'s `renderTile` build the same DOM, so
//! an update over SSE looks exactly like a reload.

use maud::{Markup, html};

use super::layout::{self, duration, first_line, short, status, status_as, time};
use crate::agent::AppState;
use crate::agent::state::TierState;
use crate::agent::{HistoryEntry, Phase};

/// The whole index page's content and its JSON island (`{"apps": [summary…]}`).
pub fn content(apps: &[&AppState], now: f64) -> (Markup, Markup) {
    let summaries: Vec<_> = apps
        .iter()
        .map(|a| crate::server::view::summary(a))
        .collect();
    let data = layout::json_island("ordo-data", &serde_json::json!({ "apps": summaries }));
    let main = html! {
        h1.page-title { "Applications" }
        @if apps.is_empty() {
            p.empty { "No apps are configured: add one under " code { "apps:" } " in the agent's config file ("
                code { "config.apps" } " in the Helm chart's values), with at least its "
                code { "name" } ", " code { "repo" } " and " code { "namespace" } "." }
        }
        div.tiles {
            @for app in apps { (tile(app, now)) }
        }
    };
    (main, data)
}

fn tile(app: &AppState, now: f64) -> Markup {
    let href = format!("/apps/{}", app.name);
    html! {
        article.tile data-app=(app.name) {
            h2.tile-name { a href=(href) { (app.name) } }
            p.tile-repo {
                span.repo { (app.repo) }
                " @ " span.ref { (app.reference) }
                @if !app.path.is_empty() && app.path != "." { " · " span.path { (app.path) } }
            }
            p.tile-rev data-f="rev" { (revision(app)) }
            p.tile-badges data-f="badges" { (badges(app)) }
            p.tile-last data-f="last" { (last_sync(app.persisted.history.first(), now)) }
            (tier_bar(&app.tiers()))
            p.tile-error data-f="error" hidden[app.last_error.is_none()] {
                @if let Some(e) = &app.last_error { (e) }
            }
        }
    }
}

fn revision(app: &AppState) -> Markup {
    html! {
        @match &app.revision {
            Some(c) => {
                code.sha title=(c.sha) { (short(&c.sha)) }
                " " span.msg title=(c.message) { (first_line(&c.message)) }
            }
            None => span.muted { "not synced yet" },
        }
    }
}

fn badges(app: &AppState) -> Markup {
    let phase = format!("{:?}", app.phase);
    html! {
        (status(app.sync_status.as_str()))
        (status(app.health.as_str()))
        @if app.phase != Phase::Idle { (status(&phase)) }
    }
}

fn last_sync(last: Option<&HistoryEntry>, now: f64) -> Markup {
    html! {
        @match last {
            Some(h) => {
                "Last sync " (time(now, h.finished))
                " · took " span.dur { (duration(h.finished - h.started)) }
                " · " (status(&format!("{:?}", h.result)))
            }
            None => span.muted { "Never synced" },
        }
    }
}

/// Five segments, config → monitoring, each with its health as colour, icon and count.
pub fn tier_bar(tiers: &[TierState]) -> Markup {
    html! {
        ol.tierbar data-f="tierbar" aria-label="Tiers" {
            @for t in tiers {
                @let value = t.health.map_or("Pending", |h| h.as_str());
                @let value = if t.resources == 0 { "Empty" } else { value };
                @let count = format!("{}/{}", t.healthy, t.resources);
                li.seg data-v=(value) title=(format!("{}: {} of {} healthy", t.tier, t.healthy, t.resources)) {
                    span.seg-name { (t.tier.as_str()) }
                    @if t.resources == 0 { span.seg-st { "–" } }
                    @else { span.seg-st { (status_as(value, &count)) } }
                }
            }
        }
    }
}
