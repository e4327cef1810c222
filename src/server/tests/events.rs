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
