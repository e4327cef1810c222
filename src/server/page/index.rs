//! `/`: counts by status, a search, and one tile per app of the page asked for (`listing.rs`
//! decides which apps and in what order). The tile markup here and `ordo.js`'s `renderTile`
//! build the same DOM, so an update over SSE looks exactly like a reload.

use maud::{Markup, html};

use super::layout::{self, duration, first_line, label, short, status, status_as, time};
use super::listing::{Counts, Facet, Filter, Listing, Only, has_error, list};
use crate::agent::AppState;
use crate::agent::state::TierState;
use crate::agent::{HistoryEntry, Phase};

/// The index page's content for `filter` and its JSON island: `apps` (the summaries of the
/// tiles shown), `statuses` (`[name, sync, health, hasError, standby]` for every app, so the
/// script can keep the counts live) and `filter` (so it can mark tiles that stop matching).
pub fn content(apps: &[&AppState], filter: &Filter, now: f64) -> (Markup, Markup) {
    let listing = list(apps, filter);
    let summaries: Vec<_> = listing
        .shown
        .iter()
        .map(|a| crate::server::view::summary(a))
        .collect();
    let statuses: Vec<_> = apps
        .iter()
        .map(|a| {
            serde_json::json!([
                a.name,
                a.sync_status.as_str(),
                a.health.as_str(),
                has_error(a),
                a.phase == Phase::Standby
            ])
        })
        .collect();
    let data = layout::json_island(
        "ordo-data",
        &serde_json::json!({
            "apps": summaries,
            "statuses": statuses,
            "filter": {
                "sync": filter.sync.map(|s| s.as_str()),
                "health": filter.health.map(|h| h.as_str()),
                "only": filter.only.map(|o| o.as_str()),
            },
        }),
    );
    let main = html! {
        h1.page-title { "Applications" }
        @if apps.is_empty() {
            p.empty { "No apps are configured: add one under " code { "apps:" } " in the agent's config file ("
                code { "config.apps" } " in the Helm chart's values), with at least its "
                code { "name" } ", " code { "repo" } " and " code { "namespace" } "." }
        } @else {
            (counts(&listing.counts, filter))
            (search(filter))
            (summary(&listing, filter))
            @if listing.matching == 0 {
                p.empty { "No app matches. " a href="/" { "Clear the filters" } " to see all "
                    (listing.counts.total) "." }
            }
        }
        div.tiles {
            @for app in &listing.shown { (tile(app, now)) }
        }
        @if listing.pages > 1 { (pager(&listing, filter, "Pages (bottom)")) }
    };
    (main, data)
}

/// Every app counted by sync status, health and condition; each count a link that filters by
/// it (or, when it is the active filter, clears it). The counts are of all apps, as in Argo
/// CD's filter panel, whatever the search: they answer "how is the fleet?".
fn counts(counts: &Counts, filter: &Filter) -> Markup {
    let groups: [(&str, Vec<Facet>); 3] = [
        (
            "Sync",
            Facet::all()
                .filter(|f| matches!(f, Facet::Sync(_)))
                .collect(),
        ),
        (
            "Health",
            Facet::all()
                .filter(|f| matches!(f, Facet::Health(_)))
                .collect(),
        ),
        (
            "Condition",
            Facet::all()
                .filter(|f| matches!(f, Facet::Only(_)))
                .collect(),
        ),
    ];
    let all = !filter.is_narrowed();
    html! {
        nav.counts aria-label="Filter by status" {
            a.count.count-all href="/" data-count="all" aria-current=[all.then_some("true")] {
                span.count-label { "All apps" } " " span.count-n { (counts.total) }
            }
            @for (name, facets) in &groups {
                div.count-group role="group" aria-label=(name) {
                    span.count-group-name { (name) }
                    @for facet in facets { (count(*facet, counts.get(*facet), filter)) }
                }
            }
        }
    }
}

fn count(facet: Facet, n: usize, filter: &Filter) -> Markup {
    let active = filter.is_active(facet);
    let title = if active {
        "Showing only these: select to clear"
    } else {
        "Show only these"
    };
    let (value, text) = match facet {
        Facet::Sync(s) => (s.as_str(), label(s.as_str())),
        Facet::Health(h) => (h.as_str(), label(h.as_str())),
        Facet::Only(o) => (only_status(o), o.label().to_owned()),
    };
    html! {
        a.count href=(filter.toggled(facet).href()) data-count=(facet.key())
            data-zero=[(n == 0).then_some("true")] aria-current=[active.then_some("true")] title=(title) {
            (status_as(value, &text)) " " span.count-n { (n) }
        }
    }
}

/// The colour and icon a condition's count borrows from a status.
fn only_status(only: Only) -> &'static str {
    match only {
        Only::Attention => "OutOfSync",
        Only::Error => "Failed",
        Only::Standby => "Idle",
    }
}

/// A GET form: it works without the script, and keeps the active status filters.
fn search(filter: &Filter) -> Markup {
    html! {
        form.search method="get" action="/" role="search" {
            label for="q" { "Search" }
            input #q type="search" name="q" value=(filter.q) placeholder="name, repository, path or namespace"
                autocomplete="off" spellcheck="false";
            @if let Some(s) = filter.sync { input type="hidden" name="sync" value=(s.as_str()); }
            @if let Some(h) = filter.health { input type="hidden" name="health" value=(h.as_str()); }
            @if let Some(o) = filter.only { input type="hidden" name="only" value=(o.as_str()); }
            button.btn type="submit" { "Search" }
            @if filter.is_narrowed() { a.clear href="/" { "Clear filters" } }
        }
    }
}

/// "Showing 101–200 of 734 matching", what is filtered, the order, and the pages.
fn summary(listing: &Listing<'_>, filter: &Filter) -> Markup {
    let last = listing.first + listing.shown.len() - usize::from(!listing.shown.is_empty());
    let active: Vec<String> = [
        (!filter.q.is_empty()).then(|| format!("“{}”", filter.q)),
        filter.sync.map(|s| label(s.as_str())),
        filter.health.map(|h| label(h.as_str())),
        filter.only.map(|o| o.label().to_lowercase()),
    ]
    .into_iter()
    .flatten()
    .collect();
    html! {
        div.listing {
            p.listing-summary #listing-summary {
                @if listing.matching > 0 {
                    "Showing " (listing.first) "–" (last) " of " (listing.matching)
                    @if filter.is_narrowed() { " matching " (active.join(" · ")) }
                    @else { " apps" }
                    ". "
                }
                span.muted { "Apps that need attention (not Healthy, not Synced, or with an error) come first, then by name." }
            }
            @if listing.pages > 1 { (pager(listing, filter, "Pages")) }
        }
    }
}

fn pager(listing: &Listing<'_>, filter: &Filter, name: &str) -> Markup {
    let (page, pages) = (listing.page, listing.pages);
    html! {
        nav.pager aria-label=(name) {
            @if page > 1 { a rel="prev" href=(filter.at_page(page - 1).href()) { "← Previous" } }
            @else { span.muted aria-disabled="true" { "← Previous" } }
            span.pager-at { "Page " (page) " of " (pages) }
            @if page < pages { a rel="next" href=(filter.at_page(page + 1).href()) { "Next →" } }
            @else { span.muted aria-disabled="true" { "Next →" } }
        }
    }
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
