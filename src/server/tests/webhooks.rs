//! Push webhooks: signatures per provider, which apps a push triggers, a standby replica,
//! and any signed body answered cleanly.

use super::*;

const GITHUB_PUSH: &str = r#"{"ref": "refs/heads/main", "repository": {"clone_url": "https://github.com/acme/shop.git", "ssh_url": "git@github.com:acme/shop.git", "html_url": "https://github.com/acme/shop", "default_branch": "main"}}"#;

fn webhook(headers: &[(&str, &str)], body: &str) -> Request<Body> {
    request(Method::POST, "/api/v1/webhook", headers, body.to_owned())
}

fn github(body: &str, signature: &str) -> Request<Body> {
    let sig = format!("sha256={signature}");
    webhook(
        &[("x-github-event", "push"), ("x-hub-signature-256", &sig)],
        body,
    )
}

async fn webhook_reply(f: &Fixture, request: Request<Body>) -> (StatusCode, Value) {
    json_of(f.send(request).await).await
}

#[tokio::test]
async fn webhooks_without_a_configured_secret_are_403() {
    let mut f = Fixture::new(None, None).await;
    let (status, body) = webhook_reply(
        &f,
        github(GITHUB_PUSH, &sign(GITHUB_PUSH.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "forbidden");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("webhookSecretFile")
    );
    f.nothing_received();
}

#[tokio::test]
async fn unsigned_or_wrongly_signed_webhooks_are_401_and_trigger_nothing() {
    let mut f = Fixture::new(None, Some(SECRET)).await;
    let good = sign(GITHUB_PUSH.as_bytes(), SECRET);
    let tampered = GITHUB_PUSH.replace("main", "mainx");
    let gitea_sig = sign(GITHUB_PUSH.as_bytes(), "other-secret");
    let requests = [
        webhook(&[("x-github-event", "push")], GITHUB_PUSH),
        webhook(&[], GITHUB_PUSH),
        github(GITHUB_PUSH, &sign(GITHUB_PUSH.as_bytes(), "other-secret")),
        github(&tampered, &good),
        github(GITHUB_PUSH, "not-hex"),
        webhook(
            &[("x-github-event", "push"), ("x-hub-signature-256", &good)],
            GITHUB_PUSH,
        ), // no sha256= prefix
        webhook(
            &[
                ("x-gitlab-event", "Push Hook"),
                ("x-gitlab-token", "webhook-secreT"),
            ],
            GITHUB_PUSH,
        ),
        webhook(
            &[("x-gitea-event", "push"), ("x-gitea-signature", &gitea_sig)],
            GITHUB_PUSH,
        ),
        webhook(
            &[("x-ordo-signature", &format!("sha256={gitea_sig}"))],
            GITHUB_PUSH,
        ),
    ];
    for (i, request) in requests.into_iter().enumerate() {
        let response = f.send(request).await;
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "case {i}: {body}");
        assert_error(&body, "unauthorized");
    }
    f.nothing_received();
}

#[tokio::test]
async fn oversized_webhooks_are_413() {
    let mut f = Fixture::new(None, Some(SECRET)).await;
    let body = format!("{{\"pad\": \"{}\"}}", "x".repeat(webhook::BODY_LIMIT));
    let (status, reply) = webhook_reply(&f, github(&body, &sign(body.as_bytes(), SECRET))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&reply, "payload_too_large");
    f.nothing_received();
}

#[tokio::test]
async fn signed_pushes_trigger_exactly_the_apps_following_that_repository_and_branch() {
    let mut f = Fixture::new(None, Some(SECRET)).await;

    let (status, body) = webhook_reply(
        &f,
        github(GITHUB_PUSH, &sign(GITHUB_PUSH.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"triggered": ["shop"]}))
    );
    assert_eq!(f.received("shop"), [Command::Webhook]);
    f.nothing_received();

    // GitLab: the token itself; billing follows the default branch.
    let gitlab = r#"{"object_kind": "push", "ref": "refs/heads/trunk", "project": {"git_http_url": "https://gitlab.example.com/acme/billing.git", "git_ssh_url": "git@gitlab.example.com:acme/billing.git", "default_branch": "trunk"}}"#;
    let (status, body) = webhook_reply(
        &f,
        webhook(
            &[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", SECRET)],
            gitlab,
        ),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"triggered": ["billing"]}))
    );
    assert_eq!(f.received("billing"), [Command::Webhook]);
    f.nothing_received();

    // Gitea and Forgejo: bare hex HMAC; the repository as a local path.
    let local = r#"{"ref": "refs/heads/release", "repository": {"clone_url": "file:///srv/git/docs.git", "default_branch": "main"}}"#;
    let sig = sign(local.as_bytes(), SECRET);
    for headers in [
        [
            ("x-gitea-event", "push"),
            ("x-gitea-signature", sig.as_str()),
        ],
        [
            ("x-forgejo-event", "push"),
            ("x-forgejo-signature", sig.as_str()),
        ],
    ] {
        let (status, body) = webhook_reply(&f, webhook(&headers, local)).await;
        assert_eq!(
            (status, body),
            (StatusCode::ACCEPTED, json!({"triggered": ["docs"]}))
        );
        assert_eq!(f.received("docs"), [Command::Webhook]);
        f.nothing_received();
    }

    // Generic: {"repo", "ref"} with a short branch name.
    let generic = r#"{"repo": "ssh://git@github.com/acme/shop", "ref": "main"}"#;
    let sig = format!("sha256={}", sign(generic.as_bytes(), SECRET));
    let (status, body) = webhook_reply(&f, webhook(&[("x-ordo-signature", &sig)], generic)).await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"triggered": ["shop"]}))
    );
    assert_eq!(f.received("shop"), [Command::Webhook]);
    f.nothing_received();

    let (_, metrics) = text_of(f.send(get("/metrics")).await).await;
    for line in [
        "ordo_webhook_requests_total{provider=\"github\",result=\"triggered\"} 1",
        "ordo_webhook_requests_total{provider=\"gitlab\",result=\"triggered\"} 1",
        "ordo_webhook_requests_total{provider=\"forgejo\",result=\"triggered\"} 1",
        "ordo_webhook_requests_total{provider=\"generic\",result=\"triggered\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn pushes_elsewhere_pings_and_other_events_trigger_nothing() {
    let mut f = Fixture::new(None, Some(SECRET)).await;
    let other_repo = GITHUB_PUSH.replace("acme/shop", "acme/shop-api");
    let other_branch = GITHUB_PUSH.replace("refs/heads/main", "refs/heads/feature");
    for body in [other_repo, other_branch] {
        let (status, reply) =
            webhook_reply(&f, github(&body, &sign(body.as_bytes(), SECRET))).await;
        assert_eq!(
            (status, reply),
            (StatusCode::ACCEPTED, json!({"triggered": []}))
        );
    }
    let ping = r#"{"zen": "Keep it logically awesome.", "hook_id": 1}"#;
    let sig = format!("sha256={}", sign(ping.as_bytes(), SECRET));
    for event in ["ping", "issues"] {
        let (status, reply) = webhook_reply(
            &f,
            webhook(
                &[("x-github-event", event), ("x-hub-signature-256", &sig)],
                ping,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{event}");
        assert_eq!(reply["triggered"], json!([]));
    }
    // Signed but not JSON: 400, nothing triggered.
    let junk = "ref=main";
    let (status, reply) = webhook_reply(&f, github(junk, &sign(junk.as_bytes(), SECRET))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&reply, "bad_request");
    f.nothing_received();

    let (_, metrics) = text_of(f.send(get("/metrics")).await).await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "ordo_webhook_requests_total{provider=\"github\",result=\"ignored\"} 4"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_standby_replica_refuses_commands_and_pushes_it_would_drop() {
    let mut f = Fixture::new(Some(TOKEN), Some(SECRET)).await;
    for app in ["shop", "billing", "docs"] {
        f.update(app, |s| s.phase = crate::agent::Phase::Standby);
    }
    let (status, body) = webhook_reply(
        &f,
        github(GITHUB_PUSH, &sign(GITHUB_PUSH.as_bytes(), SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("standby"),
        "{body}"
    );
    let response = f
        .send(request(
            Method::POST,
            "/api/v1/apps/shop/sync",
            &[("authorization", &format!("Bearer {TOKEN}"))],
            Body::empty(),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    f.nothing_received();
}

/// Property test (issue #13): correctly signed webhook bodies, generated and mutated, for each
/// provider: every one gets an answer, 2xx or 4xx with a JSON body, never a 5xx or a panic.
#[test]
fn any_signed_webhook_body_gets_a_clean_answer() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, TestRunner};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(Fixture::with_queue(None, Some(SECRET), 100_000));
    let bodies = prop_oneof![
        ".{0,300}",
        (0..GITHUB_PUSH.len(), any::<u8>()).prop_map(|(at, byte)| {
            let mut bytes = GITHUB_PUSH.as_bytes().to_vec();
            bytes[at] ^= byte;
            String::from_utf8_lossy(&bytes).into_owned()
        }),
        (1..2000usize).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d))),
        (".{0,40}", ".{0,40}").prop_map(|(r, url)| {
            json!({"ref": r, "repository": {"clone_url": url, "html_url": url}}).to_string()
        }),
    ];
    let provider = 0..4u8;
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 500,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    runner
        .run(&(bodies, provider), |(body, provider)| {
            let signature = sign(body.as_bytes(), SECRET);
            let sha = format!("sha256={signature}");
            let headers: Vec<(&str, &str)> = match provider {
                0 => vec![("x-github-event", "push"), ("x-hub-signature-256", &sha)],
                1 => vec![("x-gitlab-event", "Push Hook"), ("x-gitlab-token", SECRET)],
                2 => vec![("x-gitea-event", "push"), ("x-gitea-signature", &signature)],
                _ => vec![("x-ordo-signature", &sha)],
            };
            let (status, reply) = rt.block_on(webhook_reply(&f, webhook(&headers, &body)));
            prop_assert!(
                status.is_success() || status.is_client_error(),
                "{status} for {body:?}: {reply}"
            );
            prop_assert!(reply.is_object(), "{reply}");
            Ok(())
        })
        .unwrap();
}
