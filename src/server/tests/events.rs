//! `/api/v1/events`: every app first, then each change; a slow client holds up nobody.

use super::*;

/// Reads SSE frames until one `event: app` arrives; returns its data.
async fn next_app_event(stream: &mut axum::body::BodyDataStream, buffer: &mut String) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if frame.lines().any(|l| l == "event: app") {
                let data: String = frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                return serde_json::from_str(&data)
                    .unwrap_or_else(|_| panic!("bad data {frame:?}"));
            }
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(Ok(chunk))) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(other) => panic!("the event stream ended: {other:?}"),
            Err(_) => panic!("no event within {WAIT:?}; have {buffer:?}"),
        }
    }
}

async fn open_events(f: &Fixture, uri: &str) -> axum::body::BodyDataStream {
    let response = f.send(get(uri)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    response.into_body().into_data_stream()
}

#[tokio::test]
async fn events_start_with_every_app_then_follow_changes() {
    let f = Fixture::new(None, None).await;
    let mut stream = open_events(&f, "/api/v1/events").await;
    let mut buffer = String::new();
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(next_app_event(&mut stream, &mut buffer).await);
    }
    let names: Vec<&str> = first.iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(names, ["billing", "docs", "shop"]);
    assert_eq!(
        first[2]["tiers"].as_array().map(Vec::len),
        Some(5),
        "same JSON as the app endpoint"
    );

    f.update("docs", |s| s.current_step = Some("applying".into()));
    let change = next_app_event(&mut stream, &mut buffer).await;
    assert_eq!(change["name"], "docs");
    assert_eq!(change["currentStep"], "applying");

    let mut only_shop = open_events(&f, "/api/v1/events?app=shop").await;
    let mut buffer = String::new();
    assert_eq!(
        next_app_event(&mut only_shop, &mut buffer).await["name"],
        "shop"
    );
    f.update("billing", |s| s.drift_count = 1);
    f.update("shop", |s| s.drift_count = 7);
    let change = next_app_event(&mut only_shop, &mut buffer).await;
    assert_eq!(
        (change["name"].as_str(), change["driftCount"].as_u64()),
        (Some("shop"), Some(7))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_blocks_neither_the_agent_nor_other_clients() {
    let f = Fixture::new(None, None).await;
    // Connected, and never read while the state changes.
    let mut idle = open_events(&f, "/api/v1/events?app=shop").await;
    let mut reader = open_events(&f, "/api/v1/events?app=shop").await;
    let reading = tokio::spawn(async move {
        let mut buffer = String::new();
        let mut seen = Vec::new();
        loop {
            let event = next_app_event(&mut reader, &mut buffer).await;
            let drift = event["driftCount"].as_u64().unwrap_or(0);
            seen.push(drift);
            if drift == 999 {
                return seen;
            }
        }
    });
    let started = Instant::now();
    for i in 1..=999 {
        f.update("shop", |s| s.drift_count = i);
        tokio::task::yield_now().await;
    }
    let publishing = started.elapsed();
    assert!(
        publishing < Duration::from_secs(2),
        "publishing 999 states took {publishing:?}"
    );
    let seen = tokio::time::timeout(WAIT, reading)
        .await
        .expect("the reading client got the last state")
        .expect("reader task");
    // Coalesced: at most 4 per second after the first, never one per change.
    let allowed = 2 + (started.elapsed().as_secs_f64() * 4.0).ceil() as usize;
    assert!(
        seen.len() <= allowed,
        "{} events for 999 changes: {seen:?}",
        seen.len()
    );

    // The idle client has no backlog: the state it connected with, then only the latest.
    let mut buffer = String::new();
    assert_eq!(
        next_app_event(&mut idle, &mut buffer).await["driftCount"],
        0
    );
    assert_eq!(
        next_app_event(&mut idle, &mut buffer).await["driftCount"],
        999
    );
}

fn events_from(client: &str) -> Request<Body> {
    let mut r = request(
        Method::GET,
        "/api/v1/events",
        &[("x-forwarded-for", client)],
        Body::empty(),
    );
    let peer = std::net::SocketAddr::from(([10, 0, 0, 9], 40000));
    r.extensions_mut().insert(axum::extract::ConnectInfo(peer));
    r
}

#[tokio::test]
async fn event_streams_beyond_a_clients_cap_get_429_and_a_closed_one_frees_its_slot() {
    let f = Fixture::new(None, None).await;
    let mut open = Vec::new();
    for _ in 0..crate::server::events::PER_CLIENT {
        let response = f.send(events_from("203.0.113.5")).await;
        assert_eq!(response.status(), StatusCode::OK);
        open.push(response);
    }
    let refused = f.send(events_from("203.0.113.5")).await;
    assert_eq!(
        refused
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("30")
    );
    let (status, body) = json_of(refused).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_error(&body, "too_many_requests");
    // Another client behind the same proxy is not held up.
    assert_eq!(
        f.send(events_from("203.0.113.6")).await.status(),
        StatusCode::OK
    );
    // The other one's response was dropped at once: its slot is back already.
    assert_eq!(f.state.streams.total(), crate::server::events::PER_CLIENT);

    drop(open.pop());
    assert_eq!(
        f.send(events_from("203.0.113.5")).await.status(),
        StatusCode::OK
    );
}
