//! Rendering, checked on the HTML text: what a person (or the script) relies on being there.

use super::{render_app, render_index, render_not_found};
use crate::agent::state::{Action, Outcome};
use crate::agent::state::{Dependency, ObjectTiming, ResourceState};
use crate::agent::{AppState, Ended, HistoryEntry, Pin, Trigger};
use crate::diff::SyncStatus;
use crate::health::HealthStatus;
use crate::plan::Tier;
use crate::source::CommitInfo;

const NOW: f64 = 1_700_000_100.0;
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const OLD: &str = "fedcba9876543210fedcba9876543210fedcba98";

fn resource(kind: &str, name: &str, tier: Tier, deps: &[&str]) -> ResourceState {
    ResourceState {
        id: format!("{kind}/shop/{name}"),
        api_version: "v1".into(),
        kind: kind.into(),
        namespace: Some("shop".into()),
        name: name.into(),
        tier,
        tier_reason: format!("{kind} is {tier}"),
        source: format!("deploy/{name}.yaml document 0"),
        sync: SyncStatus::Synced,
        health: Some(HealthStatus::Healthy),
        message: None,
        depends_on: deps
            .iter()
            .map(|d| Dependency {
                id: (*d).into(),
                reason: "reads it".into(),
            })
            .collect(),
    }
}

fn entry(revision: &str, message: &str, started: f64, result: Ended) -> HistoryEntry {
    HistoryEntry {
        revision: revision.into(),
        message: message.into(),
        author: "Ada".into(),
        trigger: Trigger::Interval,
        started,
        finished: started + 2.5,
        result,
        error: None,
        objects: vec![ObjectTiming {
            id: "ConfigMap/shop/settings".into(),
            action: Action::Configured,
            outcome: Outcome::Healthy,
            applied_at: Some(0.5),
            healthy_at: Some(0.7),
        }],
    }
}

fn shop(message: &str) -> AppState {
    let mut app = AppState::new("shop", "https://git.example/shop.git", "main", ".", "shop");
    app.revision = Some(CommitInfo {
        sha: SHA.into(),
        message: message.into(),
        author: "Ada".into(),
        time: 1_700_000_000,
    });
    app.sync_status = SyncStatus::Synced;
    app.health = HealthStatus::Healthy;
    app.resources = vec![
        resource("ConfigMap", "settings", Tier::Config, &[]),
        resource(
            "StatefulSet",
            "db",
            Tier::Database,
            &["ConfigMap/shop/settings"],
        ),
        resource("Deployment", "api", Tier::Backend, &["StatefulSet/shop/db"]),
        resource("Service", "api", Tier::Backend, &["Deployment/shop/api"]),
        resource("Deployment", "web", Tier::Frontend, &["Service/shop/api"]),
        resource("Deployment", "grafana", Tier::Monitoring, &[]),
    ];
    app.persisted.history = vec![
        entry(SHA, message, 1_700_000_050.0, Ended::Succeeded),
        entry(OLD, "older", 1_699_999_000.0, Ended::Succeeded),
        entry(OLD, "broken", 1_699_998_000.0, Ended::Failed),
    ];
    app
}

#[test]
fn the_index_has_a_tile_per_app_linking_to_its_page() {
    let mut other = shop("x");
    other.name = "blog".into();
    other.revision = None;
    other.persisted.history.clear();
    let shop = shop("Raise the replica count");
    let html = render_index(&[&shop, &other], NOW, true).into_string();
    assert_eq!(html.matches(r#"<article class="tile""#).count(), 2);
    assert!(html.contains(r#"href="/apps/shop""#) && html.contains(r#"href="/apps/blog""#));
    assert!(html.contains("0123456") && html.contains("Raise the replica count"));
    assert!(html.contains("not synced yet") && html.contains("Never synced"));
    assert!(
        html.contains("Last sync <time") && html.contains(r#"took <span class="dur">2.5s</span>"#)
    );
    // The tier bar: five segments, each with its word and count, not colour alone.
    assert_eq!(html.matches(r#"<li class="seg""#).count(), 10);
    assert!(html.contains(">config<") && html.contains(">2/2<"));
}

#[test]
fn the_app_page_has_five_tier_columns_and_one_node_per_resource() {
    let app = shop("msg");
    let html = render_app(&app, NOW, true).into_string();
    assert_eq!(html.matches(r#"<section class="tier""#).count(), 5);
    let order: Vec<usize> = ["config", "database", "backend", "frontend", "monitoring"]
        .iter()
        .map(|t| html.find(&format!(r#"data-tier="{t}""#)).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "tiers in order");
    assert_eq!(html.matches(r#"<button class="node""#).count(), 6);
    assert!(html.contains(r#"data-id="Deployment/shop/api""#));
    // The backend column holds the Deployment and the Service, not the frontend's.
    let backend = &html[order[2]..order[3]];
    assert_eq!(backend.matches("class=\"node\"").count(), 2);
    assert!(html.contains(r#"id="panel""#));
}

#[test]
fn commit_messages_are_escaped_everywhere() {
    let evil = "<script>alert(1)</script> & <img src=x onerror=alert(2)>";
    let app = shop(evil);
    for html in [
        render_app(&app, NOW, true).into_string(),
        render_index(&[&app], NOW, true).into_string(),
    ] {
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // The JSON island keeps the message, escaped for its context.
        assert!(html.contains(r"\u003cscript\u003ealert(1)"));
    }
}

#[test]
fn history_rows_offer_rollback_only_for_other_successful_revisions() {
    let app = shop("current");
    let html = render_app(&app, NOW, true).into_string();
    assert_eq!(html.matches(r#"<tr class="h-row""#).count(), 3);
    // Row 1 is deployed, row 2 succeeded elsewhere, row 3 failed.
    assert_eq!(html.matches(r#"data-action="rollback""#).count(), 1);
    assert!(html.contains(&format!(r#"data-revision="{OLD}""#)));
    assert!(html.contains(">deployed<"));
    // Per-object timings are there, collapsed.
    assert!(html.contains("ConfigMap/shop/settings") && html.contains("+0.5s"));
    assert!(html.contains(r#"class="h-objects""#));
}

#[test]
fn actions_are_disabled_with_a_reason_when_the_agent_has_no_token() {
    let app = shop("m");
    let with = render_app(&app, NOW, true).into_string();
    let without = render_app(&app, NOW, false).into_string();
    assert!(with.contains(r#"data-action="sync""#) && !with.contains("no apiTokenFile"));
    assert!(without.contains("no apiTokenFile configured"));
    assert!(without.contains(r#"data-actions="false""#));
}

#[test]
fn pin_and_failed_revision_banners_offer_unpin() {
    let mut app = shop("m");
    app.persisted.pin = Some(Pin {
        revision: OLD.into(),
        reason: "rolled back from 0123456 to fedcba9".into(),
        head_at_pin: SHA.into(),
        manual: false,
    });
    app.persisted.failed_revision = Some(SHA.into());
    let html = render_app(&app, NOW, true).into_string();
    assert!(html.contains("Pinned to") && html.contains("rolled back from 0123456"));
    assert!(html.contains("failed") && html.contains("not retried"));
    assert_eq!(html.matches(r#"data-action="unpin""#).count(), 2);
    // Once the branch has moved past the failed commit, it is history, not a banner.
    app.head = Some("a-newer-commit".into());
    let html = render_app(&app, NOW, true).into_string();
    assert!(!html.contains("not retried"));
}

#[test]
fn an_app_that_may_write_beyond_its_namespace_says_so() {
    let mut app = shop("m");
    let html = render_app(&app, NOW, true).into_string();
    assert!(!html.contains("beyond its namespace"));
    app.policy_wider = Some("namespaces *; cluster kinds *".into());
    let html = render_app(&app, NOW, true).into_string();
    assert!(html.contains("May write beyond its namespace"), "{html}");
    assert!(html.contains("namespaces *; cluster kinds *"));
}

#[test]
fn an_unknown_app_page_names_the_known_ones() {
    let html = render_not_found("<nope>", ["shop", "blog"].into_iter()).into_string();
    assert!(html.contains("&lt;nope&gt;") && !html.contains("<nope>"));
    assert!(html.contains(r#"href="/apps/shop""#));
}

#[test]
fn pages_load_only_their_own_hashed_assets() {
    let html = render_index(&[], NOW, true).into_string();
    assert!(html.contains("No apps are configured"));
    // Nothing from another origin: the only URL is the SVG namespace.
    assert_eq!(
        html.matches("http://").count(),
        html.matches("http://www.w3.org/2000/svg").count()
    );
    assert!(!html.contains("https://"));
    let css = html.split("href=\"/assets/ordo.").nth(1).unwrap();
    assert!(css.split('"').next().unwrap().ends_with(".css"));
    assert!(html.contains("src=\"/assets/ordo."));
}

#[tokio::test]
async fn assets_are_served_by_content_hash_and_revalidated_by_etag() {
    use axum::extract::Path;
    use axum::http::{HeaderMap, StatusCode, header};

    use super::assets::{js_url, serve};

    let file = js_url().trim_start_matches("/assets/").to_owned();
    let ok = serve(Path(file.clone()), HeaderMap::new()).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(
        ok.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(
        ok.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let mut again = HeaderMap::new();
    again.insert(header::IF_NONE_MATCH, ok.headers()[header::ETAG].clone());
    assert_eq!(
        serve(Path(file), again).await.status(),
        StatusCode::NOT_MODIFIED
    );
    // Only the current build's hashed names exist.
    let stale = serve(Path("ordo.js".into()), HeaderMap::new()).await;
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
}

// ---- the index at 1,000 apps (issue #14): counts, filters, search, pages, order ----------

mod listing {
    use axum::extract::Query;
    use axum::http::Uri;

    use super::super::listing::{Counts, Facet, Filter, Only, PAGE_SIZE, RawQuery, list};
    use super::super::{MAX_RENDERED, Rendered, render_bad_query, render_index_for};
    use super::NOW;
    use crate::agent::{AppState, Phase};
    use crate::diff::SyncStatus::{self, *};
    use crate::health::HealthStatus::{self, *};

    fn app(name: &str, sync: SyncStatus, health: HealthStatus) -> AppState {
        let repo = format!("https://git.example/{name}.git");
        let mut app = AppState::new(name, &repo, "main", "deploy", name);
        app.sync_status = sync;
        app.health = health;
        app
    }

    /// Six apps, one of each interesting kind.
    fn fleet() -> Vec<AppState> {
        let mut broken = app("billing", Synced, Healthy);
        broken.last_error = Some("git fetch failed".into());
        let mut standby = app("docs", Synced, Healthy);
        standby.phase = Phase::Standby;
        let mut shop = app("shop", OutOfSync, Degraded);
        shop.path = "apps/Storefront".into();
        vec![
            app("api", Synced, Healthy),
            broken,
            standby,
            shop,
            app("web", Synced, Progressing),
            app("zeta", OutOfSync, Healthy),
        ]
    }

    /// What `/?{query}` asks for, read as the handler reads it.
    fn parse(query: &str) -> Result<Filter, String> {
        let uri: Uri = format!("/?{query}").parse().map_err(|e| format!("{e}"))?;
        let Query(raw) = Query::<RawQuery>::try_from_uri(&uri).map_err(|e| e.body_text())?;
        Filter::parse(&raw)
    }

    fn names(apps: &[AppState], query: &str) -> Vec<String> {
        let refs: Vec<&AppState> = apps.iter().collect();
        let filter = parse(query).unwrap();
        list(&refs, &filter)
            .shown
            .iter()
            .map(|a| a.name.clone())
            .collect()
    }

    #[test]
    fn counts_are_of_every_app_by_sync_health_and_condition() {
        let apps = fleet();
        let refs: Vec<&AppState> = apps.iter().collect();
        let counts = Counts::of(&refs);
        assert_eq!(counts.total, 6);
        for (facet, want) in [
            (Facet::Sync(Synced), 4),
            (Facet::Sync(OutOfSync), 2),
            (Facet::Sync(Extraneous), 0),
            (Facet::Health(Healthy), 4),
            (Facet::Health(Degraded), 1),
            (Facet::Health(Progressing), 1),
            (Facet::Health(Unknown), 0),
            (Facet::Only(Only::Attention), 4),
            (Facet::Only(Only::Error), 1),
            (Facet::Only(Only::Standby), 1),
        ] {
            assert_eq!(counts.get(facet), want, "{facet:?}");
        }
        // Counts stay those of the whole fleet whatever the filter.
        let narrowed = list(&refs, &parse("q=shop&health=Degraded").unwrap());
        assert_eq!(narrowed.counts, counts);
        assert_eq!(narrowed.matching, 1);
    }

    #[test]
    fn each_filter_keeps_only_its_apps_and_filters_combine() {
        let apps = fleet();
        for (query, want) in [
            ("", vec!["billing", "shop", "web", "zeta", "api", "docs"]),
            ("sync=OutOfSync", vec!["shop", "zeta"]),
            ("sync=outofsync", vec!["shop", "zeta"]),
            ("health=Degraded", vec!["shop"]),
            ("health=Healthy&sync=Synced", vec!["billing", "api", "docs"]),
            ("only=error", vec!["billing"]),
            ("only=standby", vec!["docs"]),
            ("only=attention", vec!["billing", "shop", "web", "zeta"]),
            ("only=attention&health=Healthy", vec!["billing", "zeta"]),
            ("health=Missing", vec![]),
            ("q=shop&health=Degraded", vec!["shop"]),
            ("q=shop&health=Healthy", vec![]),
            (
                "unrelated=1&health=",
                vec!["billing", "shop", "web", "zeta", "api", "docs"],
            ),
        ] {
            assert_eq!(names(&apps, query), want, "/?{query}");
        }
    }

    #[test]
    fn search_matches_name_repo_path_and_namespace_case_insensitively() {
        let mut apps = fleet();
        apps[0].namespace = "payments".into();
        for (query, want) in [
            ("q=WEB", vec!["web"]),
            ("q=storefront", vec!["shop"]),
            ("q=git.example%2Fzeta", vec!["zeta"]),
            ("q=PayMents", vec!["api"]),
            ("q=+api+", vec!["api"]),
            ("q=deploy", vec!["billing", "web", "zeta", "api", "docs"]),
            ("q=nothing-like-it", vec![]),
        ] {
            assert_eq!(names(&apps, query), want, "/?{query}");
        }
    }

    #[test]
    fn apps_needing_attention_come_first_then_by_name() {
        let apps = fleet();
        let refs: Vec<&AppState> = apps.iter().collect();
        let html = render_index_for(&refs, &Filter::default(), NOW, true).into_string();
        let at = |name: &str| html.find(&format!(r#"data-app="{name}""#)).unwrap();
        let order = ["billing", "shop", "web", "zeta", "api", "docs"];
        assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{order:?}");
        assert!(
            html.contains("need attention (not Healthy, not Synced, or with an error) come first")
        );
    }

    #[test]
    fn a_page_holds_at_most_a_hundred_tiles_and_pages_are_bounded() {
        let apps: Vec<AppState> = (0..1000)
            .map(|i| {
                let health = if i % 10 == 0 { Degraded } else { Healthy };
                app(&format!("app-{i:04}"), Synced, health)
            })
            .collect();
        let refs: Vec<&AppState> = apps.iter().collect();
        for (query, page, shown, first, summary) in [
            ("", 1, PAGE_SIZE, "app-0000", "Showing 1–100 of 1000 apps"),
            (
                "page=2",
                2,
                PAGE_SIZE,
                "app-0001",
                "Showing 101–200 of 1000 apps",
            ),
            (
                "page=10",
                10,
                PAGE_SIZE,
                "app-0889",
                "Showing 901–1000 of 1000 apps",
            ),
            // Past the end: the last page, not an empty one.
            (
                "page=99",
                10,
                PAGE_SIZE,
                "app-0889",
                "Showing 901–1000 of 1000 apps",
            ),
            (
                "health=Degraded",
                1,
                PAGE_SIZE,
                "app-0000",
                "Showing 1–100 of 100 matching",
            ),
            (
                "q=app-09",
                1,
                PAGE_SIZE,
                "app-0900",
                "Showing 1–100 of 100 matching",
            ),
            (
                "q=app-099",
                1,
                10,
                "app-0990",
                "Showing 1–10 of 10 matching",
            ),
        ] {
            let filter = parse(query).unwrap();
            let listing = list(&refs, &filter);
            assert_eq!(
                (listing.page, listing.shown.len()),
                (page, shown),
                "/?{query}"
            );
            assert_eq!(listing.shown[0].name, first, "/?{query}");
            let html = render_index_for(&refs, &filter, NOW, true).into_string();
            assert_eq!(
                html.matches(r#"<article class="tile""#).count(),
                shown,
                "/?{query}"
            );
            assert!(html.contains(summary), "/?{query}: {summary}");
        }
        let html =
            render_index_for(&refs, &parse("q=app&page=2").unwrap(), NOW, true).into_string();
        assert!(
            html.contains(r#"rel="prev" href="/?q=app""#),
            "page 1 drops page="
        );
        assert!(html.contains(r#"rel="next" href="/?q=app&amp;page=3""#));
        assert!(html.contains("Page 2 of 10"));
        let first = render_index_for(&refs, &Filter::default(), NOW, true).into_string();
        assert!(
            !first.contains(r#"rel="prev""#) && first.contains(r#"rel="next" href="/?page=2""#)
        );
        // The island: summaries of the tiles shown, the status of every app for the counts.
        let island = first.split(r#"id="ordo-data""#).nth(1).unwrap();
        assert_eq!(island.matches(r#""lastSync""#).count(), PAGE_SIZE);
        assert_eq!(island.matches(r#"["app-"#).count(), 1000);
    }

    #[test]
    fn count_links_filter_mark_the_active_one_and_clear_it() {
        let apps = fleet();
        let refs: Vec<&AppState> = apps.iter().collect();
        let all = render_index_for(&refs, &Filter::default(), NOW, true).into_string();
        assert!(all.contains(r#"data-count="all" aria-current="true""#));
        assert!(all.contains(r#"href="/?health=Degraded" data-count="health:Degraded""#));
        assert!(all.contains(r#"href="/?only=error" data-count="only:error""#));
        assert!(!all.contains("Clear filters"));
        let html = render_index_for(&refs, &parse("q=s&health=Degraded").unwrap(), NOW, true)
            .into_string();
        // The active count is marked and links to the list without it; others add to it.
        assert!(html.contains(r#"href="/?q=s" data-count="health:Degraded" aria-current="true""#));
        assert!(html.contains(r#"href="/?q=s&amp;sync=Synced&amp;health=Degraded""#));
        assert!(html.contains(r#"href="/?q=s&amp;health=Healthy""#));
        assert!(!html.contains(r#"data-count="all" aria-current"#));
        // The search keeps the status filter; the way out is one link.
        assert!(html.contains(r#"<input type="hidden" name="health" value="Degraded">"#));
        assert!(html.contains(r#"name="q" value="s""#) && html.contains("Clear filters"));
        // Zero counts are there (the script may raise them) but dimmed.
        assert!(html.contains(r#"data-count="health:Unknown" data-zero="true""#));
    }

    #[test]
    fn unknown_values_are_refused_naming_the_accepted_ones() {
        for (query, says) in [
            (
                "health=Sick",
                "health=\"Sick\" is not a known value; use one of Healthy",
            ),
            ("sync=Drifted", "Synced, OutOfSync, Missing, Extraneous"),
            ("only=broken", "attention, error, standby"),
            ("page=0", "pages count from 1"),
            ("page=two", "page=\"two\" is not a page number"),
            ("page=-1", "not a page number"),
            ("health=Healthy&health=Degraded", "duplicate field"),
        ] {
            let err = parse(query).unwrap_err();
            assert!(err.contains(says), "/?{query}: {err}");
        }
        assert!(parse(&format!("q={}", "x".repeat(201))).is_err());
        let html = render_bad_query("health=\"<Sick>\" is not a known value").into_string();
        assert!(html.contains("&lt;Sick&gt;") && html.contains(r#"href="/""#));
    }

    #[test]
    fn the_cache_key_is_the_canonical_query() {
        let key = |q: &str| parse(q).unwrap().href();
        for (a, b) in [
            ("", "page=1"),
            ("health=degraded", "health=Degraded"),
            ("sync=Synced&q=shop", "q=shop&sync=synced&utm=x"),
            ("q=+a+b+", "q=a%20b"),
        ] {
            assert_eq!(key(a), key(b), "{a} vs {b}");
        }
        let distinct = [
            "",
            "page=2",
            "q=shop",
            "q=Shop",
            "health=Degraded",
            "sync=OutOfSync",
            "only=error",
            "q=a%26health%3DDegraded",
        ];
        let keys: std::collections::HashSet<String> = distinct.iter().map(|q| key(q)).collect();
        assert_eq!(keys.len(), distinct.len(), "{keys:?}");
        assert_eq!(key("q=a%26b+c%C3%A9"), "/?q=a%26b%20c%C3%A9");

        let rendered = Rendered::default();
        let mut renders = 0;
        for path in ["/", "/?page=2", "/", "/?page=2"] {
            rendered.get_or_render(path, vec![1], || {
                renders += 1;
                maud::html! { (path) }
            });
        }
        assert_eq!(renders, 2, "one render per distinct query");
    }

    #[test]
    fn the_render_cache_keeps_a_bounded_number_of_pages() {
        let rendered = Rendered::default();
        for i in 0..MAX_RENDERED + 50 {
            let body = rendered.get_or_render(&format!("/?q={i}"), vec![1], || maud::html! { (i) });
            assert_eq!(body, i.to_string());
        }
        assert!(rendered.0.lock().unwrap().len() <= MAX_RENDERED);
    }
}
