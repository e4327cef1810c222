//! Rendering, checked on the HTML text: what a person (or the script) relies on being there.

use super::{render_app, render_index, render_not_found};
use crate::agent::state::{Action, Outcome};
use crate::agent::state::{Dependency, ObjectTiming, ResourceState};
use crate::agent::{AppState, HistoryEntry, Pin, SyncResult, Trigger};
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

fn entry(revision: &str, message: &str, started: f64, result: SyncResult) -> HistoryEntry {
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
        entry(SHA, message, 1_700_000_050.0, SyncResult::Succeeded),
        entry(OLD, "older", 1_699_999_000.0, SyncResult::Succeeded),
        entry(OLD, "broken", 1_699_998_000.0, SyncResult::Failed),
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
