//! Reading: the app list, one app, diffs and live resources.

use super::*;

#[tokio::test]
async fn apps_are_listed_in_name_order_as_summaries() {
    let f = Fixture::new(None, None).await;
    let (status, body) = f.get("/api/v1/apps").await;
    assert_eq!(status, StatusCode::OK);
    let apps = body["apps"].as_array().expect("apps array");
    let names: Vec<&str> = apps.iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(names, ["billing", "docs", "shop"]);
    let shop = &apps[2];
    assert!(
        shop.get("resources").is_none() && shop.get("history").is_none(),
        "{shop}"
    );
    assert_eq!(shop["lastSync"]["revision"], REV_A);
    assert!(shop["lastSync"].get("objects").is_none());
    assert_eq!(shop["tiers"].as_array().map(Vec::len), Some(5));
    assert_eq!(apps[0]["lastSync"], Value::Null);
    summary_is_the_full_document_less_resources_and_history(&f).await;

    // Every field that is left out when empty, present.
    f.update("shop", |s| {
        s.prune_held = Some(crate::agent::PruneHeld {
            revision: REV_B.to_owned(),
            objects: vec!["ConfigMap/shop/a".into()],
        });
        s.prune_withheld = vec![crate::agent::state::Withheld {
            id: "ConfigMap/shop/b".into(),
            reason: "owned by a controller".into(),
        }];
        s.store_error = Some("forbidden".into());
        s.task_down = Some("the app's task panicked".into());
        s.persisted.last_healthy = Some(REV_B.into());
        s.persisted.failed_revision = Some(REV_A.into());
        s.persisted.history[0].error = Some("Deployment/shop/api: Degraded".into());
    });
    summary_is_the_full_document_less_resources_and_history(&f).await;
}

/// The shop's summary is its full document, key for key and in its order, without resources
/// and history but with `lastSync`: the newest history entry without its per-object timings.
async fn summary_is_the_full_document_less_resources_and_history(f: &Fixture) {
    let (_, list) = f.get("/api/v1/apps").await;
    let (_, full) = f.get("/api/v1/apps/shop").await;
    let mut want = full.as_object().expect("an object").clone();
    want.shift_remove("resources");
    let mut last = want.shift_remove("history").expect("history")[0].clone();
    last.as_object_mut()
        .expect("an entry")
        .shift_remove("objects");
    want.insert("lastSync".into(), last);
    let got = list["apps"][2].as_object().expect("an object");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    assert_eq!(got, &want);
}

#[tokio::test]
async fn one_app_is_the_full_snapshot_and_an_unknown_one_is_404() {
    let f = Fixture::new(None, None).await;
    let (status, body) = f.get("/api/v1/apps/shop").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "shop");
    assert_eq!(body["history"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        body["resources"][1]["dependsOn"][0]["id"],
        "ConfigMap/shop/settings"
    );
    assert_eq!(body["tiers"][0]["tier"], "config");

    for uri in [
        "/api/v1/apps/nope",
        "/api/v1/apps/nope/diff",
        "/api/v1/apps/nope/resource?id=x",
        "/api/v1/events?app=nope",
    ] {
        let (status, body) = f.get(uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_error(&body, "not_found");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("billing, docs, shop"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_diff_before_the_first_plan_is_empty() {
    let f = Fixture::new(None, None).await;
    for uri in [
        "/api/v1/apps/shop/diff",
        "/api/v1/apps/shop/diff?object=Namespace/shop",
    ] {
        let (status, body) = f.get(uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(body, json!({"revision": null, "objects": []}));
    }
}

#[tokio::test]
async fn a_resource_needs_a_known_id_and_a_reachable_cluster() {
    let f = Fixture::new(None, None).await;
    let (status, body) = f.get("/api/v1/apps/shop/resource").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "bad_request");

    let (status, body) = f
        .get("/api/v1/apps/shop/resource?id=Deployment/shop/nope")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("Deployment/shop/nope")
    );

    // Known object, API server down: retry later, said in JSON.
    let response = f
        .send(get("/api/v1/apps/shop/resource?id=ConfigMap/shop/settings"))
        .await;
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(&body, "unavailable");
}
