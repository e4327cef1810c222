//! Everything else the router serves: unknown paths, the OpenAPI document, metrics and
//! the health probes.

use super::*;

#[tokio::test]
async fn unknown_api_paths_and_methods_are_json_errors() {
    let f = Fixture::new(None, None).await;
    let (status, body) = f.get("/api/v2/apps").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    let (status, body) = f.get("/api/v1/apps/shop/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");

    let response = f.send(get("/api/v1/apps/shop/sync")).await;
    assert_eq!(
        response
            .headers()
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&body, "method_not_allowed");
    let (status, body) = json_of(
        f.send(request(Method::DELETE, "/api/v1/apps", &[], Body::empty()))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&body, "method_not_allowed");

    // Outside /api/ nobody expects JSON.
    let (status, text) = text_of(f.send(get("/no/such/page")).await).await;
    assert_eq!((status, text.trim()), (StatusCode::NOT_FOUND, "not found"));
}

/// `{name}` filled with a real app, so a route is reached whatever it checks first.
fn concrete(path: &str) -> String {
    path.replace("{name}", "shop")
}

#[tokio::test]
async fn the_openapi_document_describes_exactly_the_routes_served() {
    let f = Fixture::new(None, None).await;
    let (status, doc) = f.get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let served: Vec<&str> = routes().into_iter().map(|(p, _)| p).collect();
    for path in &served {
        assert!(
            paths.contains_key(*path),
            "{path} is served but not in openapi.json"
        );
    }
    for path in paths.keys() {
        assert!(
            served.contains(&path.as_str()),
            "{path} is in openapi.json but not served"
        );
    }
    // Each documented method is routed, and every other method is 405: nothing undocumented.
    for (path, operations) in paths {
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ] {
            let documented = operations.get(method.as_str().to_lowercase()).is_some();
            let response = f
                .send(request(method.clone(), &concrete(path), &[], Body::empty()))
                .await;
            let status = response.status();
            assert_eq!(
                status == StatusCode::METHOD_NOT_ALLOWED,
                !documented,
                "{method} {path}: {status}"
            );
            if status == StatusCode::NOT_FOUND {
                let (_, body) = json_of(response).await;
                assert!(
                    !body["detail"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("no API endpoint"),
                    "{path}"
                );
            }
        }
    }
    // Every $ref resolves.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap_or_default();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref {name}"
        );
    }
}

#[tokio::test]
async fn metrics_are_openmetrics_with_the_derived_families() {
    let f = Fixture::new(None, None).await;
    let response = f.send(get("/metrics")).await;
    assert_eq!(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let (status, text) = text_of(response).await;
    assert_eq!(status, StatusCode::OK);
    for family in [
        "ordo_app_info",
        "ordo_app_health_status",
        "ordo_app_sync_status",
        "ordo_app_last_sync_timestamp_seconds",
        "ordo_resources",
        "ordo_build_info",
        "ordo_app_sync",
        "process_cpu_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} in\n{text}"
        );
    }
    assert!(
        text.contains("ordo_app_health_status{app=\"shop\",status=\"Healthy\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("ordo_app_health_status{app=\"docs\",status=\"Unknown\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("ordo_app_last_sync_timestamp_seconds{app=\"shop\"} 20.0"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test]
async fn healthz_is_ok_and_readyz_says_which_check_fails() {
    let f = Fixture::new(None, None).await;
    let (status, text) = text_of(f.send(get("/healthz")).await).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "ok"));

    let (status, body) = f.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "not_ready");
    assert_eq!(body["ready"], false);
    assert!(
        body["checks"]["apiServer"]
            .as_str()
            .unwrap_or_default()
            .contains("not reachable"),
        "{body}"
    );
    let apps = body["checks"]["apps"].as_str().unwrap_or_default();
    assert!(apps.contains("billing, docs, shop"), "{body}");

    for app in ["billing", "docs", "shop"] {
        f.update(app, |s| s.reconciled_at = Some(1.0));
    }
    let (status, body) = f.get("/readyz").await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the API server is still down"
    );
    assert_eq!(body["checks"]["apps"], "ok");

    f.update("docs", |s| {
        s.task_down = Some("the app's task panicked: boom; restarting in 2 s".into())
    });
    let (_, body) = f.get("/readyz").await;
    assert_eq!(
        body["checks"]["apps"],
        "app task down or state not saved: docs (the app's task panicked: boom; restarting in 2 s)"
    );
}
