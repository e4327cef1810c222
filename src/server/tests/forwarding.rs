//! Forwarding between replicas (issue #23, item 6): the leader proves the very address a
//! standby dialled, and what a standby forwards carries its own signature, never the caller's
//! token. The standby dials real addresses, so these tests serve the leader (and a relay
//! standing in for a forged Lease address) on loopback sockets.

use std::sync::Mutex;

use axum::extract::Request as AxumRequest;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::*;
use crate::agent::lease::LeaderAddress;
use crate::server::leader::{FORWARDED, Forwarding};
use crate::server::signature;

const LEADER: &str = "ordo-leader";

/// A replica that leads every app, serving at a loopback address it advertises.
async fn serving_leader() -> (Fixture, String) {
    let mut f = Fixture::new(Some(TOKEN), Some(SECRET)).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    f.state.identity = Some(Arc::from(LEADER));
    f.state.forwarding = Arc::new(Forwarding::new(Some(url.clone())));
    let app = router(f.state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (f, url)
}

/// A replica on standby whose Lease names `url` and `identity` as the leader.
async fn standby(url: &str, identity: &str) -> Fixture {
    let mut f = Fixture::new(Some(TOKEN), Some(SECRET)).await;
    for app in ["shop", "billing", "docs"] {
        f.update(app, |s| s.phase = crate::agent::Phase::Standby);
    }
    f.state.leader_url = watch::channel(Some(LeaderAddress {
        url: url.to_owned(),
        identity: identity.to_owned(),
    }))
    .1;
    f.state.identity = Some(Arc::from("ordo-standby"));
    f
}

/// How a relay treats the challenge before passing it to the real leader.
#[derive(Clone, Copy)]
enum Relay {
    AsIs,
    /// Says it dialled the leader's own address.
    ClaimingTheLeadersUrl,
}

/// What a forged Lease address received: every request line and header, as text.
type Seen = Arc<Mutex<Vec<String>>>;

/// A server standing in for a forged Lease address: it relays leader challenges to `leader`
/// and records everything that reaches it.
async fn relay_to(leader: String, mode: Relay) -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback");
    let own = format!("http://{}", listener.local_addr().expect("bound"));
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |request: AxumRequest| {
        let (leader, record) = (leader.clone(), record.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let mut text = format!("{} {}\n", parts.method, parts.uri);
            for (name, value) in &parts.headers {
                text.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
            }
            text.push_str(&String::from_utf8_lossy(&body));
            record.lock().expect("lock").push(text);
            if parts.uri.path() != "/api/v1/leader/proof" {
                return (StatusCode::ACCEPTED, "taken".to_owned());
            }
            let mut challenge: Value = serde_json::from_slice(&body).unwrap_or_default();
            if let Relay::ClaimingTheLeadersUrl = mode {
                challenge["url"] = json!(leader);
            }
            let (status, answer) =
                post_json(&format!("{leader}/api/v1/leader/proof"), &challenge).await;
            (status, answer)
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    (own, seen)
}

async fn post_json(url: &str, body: &Value) -> (StatusCode, String) {
    let request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header("content-type", "application/json")
        .header(FORWARDED, "1")
        .body(Full::new(axum::body::Bytes::from(body.to_string())))
        .expect("request");
    let client: Client<_, Full<axum::body::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let answer = client.request(request).await.expect("the leader answers");
    let status = answer.status();
    let bytes = answer.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn sync_with_token() -> Request<Body> {
    post("/api/v1/apps/shop/sync", Some(TOKEN), "")
}

#[tokio::test]
async fn a_standby_forwards_a_command_the_leader_takes_without_the_callers_token() {
    let (mut leader, url) = serving_leader().await;
    let standby = standby(&url, LEADER).await;
    let (status, body) = json_of(standby.send(sync_with_token()).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(leader.received("shop"), vec![Command::Sync]);
}

#[tokio::test]
async fn a_forged_address_relaying_the_challenge_to_the_leader_gets_no_proof_and_no_token() {
    let (mut leader, url) = serving_leader().await;
    for mode in [Relay::AsIs, Relay::ClaimingTheLeadersUrl] {
        // The forged Lease names the real leader as holder, and the relay as its address.
        let (relay, seen) = relay_to(url.clone(), mode).await;
        let standby = standby(&relay, LEADER).await;
        let (status, body) = json_of(standby.send(sync_with_token()).await).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("did not prove"),
            "{body}"
        );
        let seen = seen.lock().expect("lock").join("\n---\n");
        assert!(seen.contains("POST /api/v1/leader/proof"), "{seen}");
        assert!(!seen.contains("/sync"), "nothing was forwarded: {seen}");
        assert!(
            !seen.contains(TOKEN) && !seen.to_ascii_lowercase().contains("authorization"),
            "no credential reached the relay: {seen}"
        );
    }
    leader.nothing_received();
}

#[tokio::test]
async fn the_leader_proves_only_the_address_it_advertises() {
    let (_leader, url) = serving_leader().await;
    let nonce = "c".repeat(32);
    let (status, answer) = post_json(
        &format!("{url}/api/v1/leader/proof"),
        &json!({"nonce": nonce, "url": "http://127.0.0.1:1"}),
    )
    .await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{answer}");
    assert!(!answer.contains("proof\""), "{answer}");
    let (status, answer) = post_json(
        &format!("{url}/api/v1/leader/proof"),
        &json!({"nonce": nonce, "url": url}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(
        answer["proof"],
        signature::proof(TOKEN.as_bytes(), &nonce, LEADER, &url)
    );
}

#[tokio::test]
async fn the_leader_proof_is_open_with_read_auth_token() {
    let mut f = Fixture::new(Some(TOKEN), None).await;
    f.state.read_needs_token = true;
    f.state.identity = Some(Arc::from(LEADER));
    f.state.forwarding = Arc::new(Forwarding::new(Some("http://10.0.0.7:8080".into())));
    let nonce = "d".repeat(32);
    let body = json!({"nonce": nonce, "url": "http://10.0.0.7:8080"}).to_string();
    let (status, answer) = json_of(
        f.send(request(
            Method::POST,
            "/api/v1/leader/proof",
            &[("content-type", "application/json")],
            body,
        ))
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["proof"],
        signature::proof(TOKEN.as_bytes(), &nonce, LEADER, "http://10.0.0.7:8080")
    );
}

/// A request as a standby forwards it to `target`, signed now.
fn signed(path: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let nonce = format!("{:032x}", rand_like(path, body));
    let value = signature::sign(
        TOKEN.as_bytes(),
        "POST",
        target,
        path,
        body.as_bytes(),
        now,
        &nonce,
    );
    let mut all = vec![(FORWARDED, "1"), (signature::HEADER, value.as_str())];
    all.extend_from_slice(headers);
    request(Method::POST, path, &all, body.to_owned())
}

/// A nonce that differs per call.
fn rand_like(path: &str, body: &str) -> u128 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    u128::from(n) << 64 | (path.len() + body.len()) as u128
}

async fn leader_at(url: &str, read_auth: bool) -> Fixture {
    let mut f = Fixture::new(Some(TOKEN), Some(SECRET)).await;
    f.state.read_needs_token = read_auth;
    f.state.forwarding = Arc::new(Forwarding::new(Some(url.into())));
    f
}

#[tokio::test]
async fn a_signed_forward_is_acted_on_once_even_with_read_auth_token() {
    const AT: &str = "http://10.0.0.7:8080";
    let mut f = leader_at(AT, true).await;
    let (parts, body) = signed("/api/v1/apps/shop/sync", AT, &[], "").into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.expect("body");
    let copy = || {
        let mut r = Request::builder()
            .method(Method::POST)
            .uri(parts.uri.clone());
        for (name, value) in &parts.headers {
            r = r.header(name, value);
        }
        r.body(Body::from(body.clone())).expect("request")
    };
    let (status, answer) = json_of(f.send(copy()).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    // The same bytes again: a replay.
    let (status, answer) = json_of(f.send(copy()).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or("")
            .contains("already received"),
        "{answer}"
    );
    assert_eq!(
        f.received("shop"),
        vec![Command::Sync],
        "the first copy only"
    );
}

#[tokio::test]
async fn a_forward_signed_for_another_address_or_request_is_refused() {
    const AT: &str = "http://10.0.0.7:8080";
    let mut f = leader_at(AT, false).await;
    let elsewhere = signed("/api/v1/apps/shop/sync", "http://10.0.0.8:8080", &[], "");
    let (status, body) = json_of(f.send(elsewhere).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Signed for one app, sent for another.
    let mut swapped = signed("/api/v1/apps/shop/sync", AT, &[], "");
    *swapped.uri_mut() = "/api/v1/apps/docs/sync".parse().expect("uri");
    assert_eq!(f.send(swapped).await.status(), StatusCode::UNAUTHORIZED);
    // A read is never forwarded, so never signed.
    let read = signed("/api/v1/apps/shop", AT, &[], "");
    assert_eq!(f.send(read).await.status(), StatusCode::UNAUTHORIZED);
    f.nothing_received();
}

#[tokio::test]
async fn a_forwarded_webhook_needs_no_secret_of_the_git_host() {
    const AT: &str = "http://10.0.0.7:8080";
    let mut f = leader_at(AT, false).await;
    let push = json!({
        "ref": "refs/heads/main",
        "project": {"git_ssh_url": "git@gitlab.example.com:acme/billing.git", "default_branch": "main"}
    })
    .to_string();
    let request = signed(
        "/api/v1/webhook",
        AT,
        &[
            ("x-gitlab-event", "Push Hook"),
            ("content-type", "application/json"),
        ],
        &push,
    );
    let (status, body) = json_of(f.send(request).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["triggered"], json!(["billing"]));
    assert_eq!(f.received("billing"), vec![Command::Webhook]);
}
