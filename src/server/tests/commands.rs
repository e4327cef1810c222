//! Commands (sync, rollback, confirm-prune, …): the token, the bodies, the queue.

use super::*;

#[tokio::test]
async fn commands_need_a_configured_token() {
    let mut f = Fixture::new(None, None).await;
    for action in ["sync", "rollback", "unpin"] {
        let uri = format!("/api/v1/apps/shop/{action}");
        let (status, body) = json_of(f.send(post(&uri, Some(TOKEN), "{}")).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{action}");
        assert_eq!(
            body,
            json!({"error": "forbidden", "detail": "mutating calls are disabled: set apiTokenFile in the config"})
        );
    }
    f.nothing_received();
}

#[tokio::test]
async fn commands_without_the_right_token_are_refused_and_do_nothing() {
    let mut f = Fixture::new(Some(TOKEN), None).await;
    let wrong = [None, Some("wrong"), Some("t0ken-for-test"), Some("")];
    for token in wrong {
        for action in ["sync", "rollback", "unpin"] {
            let uri = format!("/api/v1/apps/shop/{action}");
            let body = format!("{{\"revision\": \"{REV_B}\"}}");
            let response = f.send(post(&uri, token, &body)).await;
            assert_eq!(
                response
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer realm=\"ordo\"")
            );
            let (status, body) = json_of(response).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{action} with {token:?}");
            assert_error(&body, "unauthorized");
        }
    }
    // Another scheme is not a bearer token; an unknown app is not revealed before auth.
    let basic = request(
        Method::POST,
        "/api/v1/apps/nope/sync",
        &[("authorization", "Basic dDB rZW4=")],
        Body::empty(),
    );
    assert_eq!(f.send(basic).await.status(), StatusCode::UNAUTHORIZED);
    f.nothing_received();
}

#[tokio::test]
async fn commands_with_the_token_are_queued_for_the_app() {
    let mut f = Fixture::new(Some(TOKEN), None).await;
    let (status, body) = json_of(
        f.send(post("/api/v1/apps/shop/sync", Some(TOKEN), ""))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        body,
        json!({"app": "shop", "action": "sync", "accepted": true})
    );
    assert_eq!(f.received("shop"), [Command::Sync]);

    let lower_case_scheme = request(
        Method::POST,
        "/api/v1/apps/shop/unpin",
        &[("authorization", &format!("bearer {TOKEN}"))],
        Body::empty(),
    );
    assert_eq!(
        f.send(lower_case_scheme).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(f.received("shop"), [Command::Unpin]);

    // A short SHA, pasted in upper case.
    let short = REV_B[..7].to_uppercase();
    let (status, body) = json_of(
        f.send(post(
            "/api/v1/apps/shop/rollback",
            Some(TOKEN),
            &format!("{{\"revision\": \"{short}\"}}"),
        ))
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["action"], "rollback");
    assert_eq!(f.received("shop"), [Command::Rollback(REV_B.to_owned())]);
    f.nothing_received();
}

#[tokio::test]
async fn a_prune_is_confirmed_only_while_one_is_held_and_for_its_revision() {
    let mut f = Fixture::new(Some(TOKEN), None).await;
    let confirm = |body: &str| post("/api/v1/apps/shop/confirm-prune", Some(TOKEN), body);
    let (status, body) = json_of(f.send(confirm("")).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("no prune waiting")
    );

    f.update("shop", |s| {
        s.prune_held = Some(crate::agent::PruneHeld {
            revision: REV_B.to_owned(),
            objects: vec!["ConfigMap/shop/a".into()],
        })
    });
    let other = format!("{{\"revision\": \"{}\"}}", &REV_A[..7]);
    assert_eq!(f.send(confirm(&other)).await.status(), StatusCode::CONFLICT);
    f.nothing_received();
    let seen = format!("{{\"revision\": \"{}\"}}", &REV_B[..7]);
    assert_eq!(f.send(confirm(&seen)).await.status(), StatusCode::ACCEPTED);
    assert_eq!(
        f.received("shop"),
        [Command::ConfirmPrune(REV_B.to_owned())]
    );
}

#[tokio::test]
async fn a_rollback_must_name_a_revision_of_the_history() {
    let mut f = Fixture::new(Some(TOKEN), None).await;
    let cases = [
        ("{\"revision\": \"ccccccc\"}", "ccccccc"),
        ("{\"revision\": \"aaaaaa\"}", "aaaaaa"), // 6 characters: too short
        ("{}", "revision"),
        ("{\"revision\": 7}", "revision"),
    ];
    for (body, named) in cases {
        let (status, reply) = json_of(
            f.send(post("/api/v1/apps/shop/rollback", Some(TOKEN), body))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_error(&reply, "bad_request");
        let detail = reply["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(named) && detail.contains("history"),
            "{detail}"
        );
    }
    f.nothing_received();
}

#[tokio::test]
async fn malformed_bodies_are_400_and_oversized_ones_413() {
    let mut f = Fixture::new(Some(TOKEN), None).await;
    for body in ["{", "{\"revision\": }", "[1, 2]", "\"x\""] {
        for action in ["sync", "rollback", "unpin"] {
            let uri = format!("/api/v1/apps/shop/{action}");
            let (status, reply) = json_of(f.send(post(&uri, Some(TOKEN), body)).await).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{action} {body}");
            assert!(
                ["invalid_json", "bad_request"]
                    .contains(&reply["error"].as_str().unwrap_or_default())
            );
        }
    }
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024));
    let (status, reply) = json_of(
        f.send(post("/api/v1/apps/shop/sync", Some(TOKEN), &huge))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&reply, "payload_too_large");
    let (status, _) = json_of(
        f.send(post("/api/v1/apps/nope/sync", Some(TOKEN), ""))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    f.nothing_received();
}

#[tokio::test]
async fn a_full_command_queue_is_503_with_retry_after() {
    let mut f = Fixture::with_queue(Some(TOKEN), None, 1).await;
    assert_eq!(
        f.send(post("/api/v1/apps/shop/sync", Some(TOKEN), ""))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let response = f
        .send(post("/api/v1/apps/shop/sync", Some(TOKEN), ""))
        .await;
    assert_eq!(
        response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(&body, "unavailable");
    assert_eq!(f.received("shop"), [Command::Sync]);
}
