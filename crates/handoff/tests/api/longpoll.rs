//! `GET /v1/handoffs/{id}?wait=N`: the agent's long-poll for a decision.

use crate::common::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn a_long_poll_returns_within_100_ms_of_the_decision() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;

    let started = Instant::now();
    let poll = {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/handoffs/{id}?wait=30"));
        let agent = cast.agent.clone();
        tokio::spawn(async move {
            let resp = client
                .get(url)
                .bearer_auth(agent)
                .send()
                .await
                .expect("long-poll failed");
            let etag = header(&resp, "etag");
            let body = expect_json(resp, 200).await;
            (Instant::now(), etag, body)
        })
    };
    // Let the poll park on the server before anyone decides.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!poll.is_finished(), "the poll returned before the decision");

    app.decided(&cast.ana, &id, &json!({"action": "approve"}))
        .await;
    let decided_at = Instant::now();
    let (returned_at, etag, h) = poll.await.expect("the poll task panicked");

    let lag = returned_at.saturating_duration_since(decided_at);
    println!(
        "long-poll returned {} ms after the decision's response",
        lag.as_millis()
    );
    assert!(lag < Duration::from_millis(100), "lag {lag:?}");
    assert!(returned_at.duration_since(started) >= Duration::from_millis(500));
    assert_eq!(h["status"], "approved");
    assert_eq!(h["version"], 2);
    assert_eq!(etag, "\"2\"");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_poll_without_a_change_returns_the_pending_handoff_after_its_wait() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let started = Instant::now();
    let h = expect_json(app.get_waiting(&cast.agent, &id, 1).await, 200).await;
    let took = started.elapsed();
    println!("?wait=1 returned after {} ms", took.as_millis());
    assert!(
        took >= Duration::from_millis(950),
        "returned too early: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "returned too late: {took:?}");
    assert_eq!(h["status"], "pending");
    assert_eq!(h["version"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_poll_on_a_handoff_that_is_not_pending_returns_at_once() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let id = app.submitted_id(&agent, &routine_ticket()).await;
    let started = Instant::now();
    // Over the cap of 60 s: capped, not refused.
    let h = expect_json(app.get_waiting(&agent, &id, 600).await, 200).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(h["status"], "approved");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_poll_wakes_on_a_cancel_too() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let poll = {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/handoffs/{id}?wait=30"));
        let ana = cast.ana.clone();
        tokio::spawn(async move {
            let resp = client
                .get(url)
                .bearer_auth(ana)
                .send()
                .await
                .expect("long-poll failed");
            (Instant::now(), expect_json(resp, 200).await)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    expect_json(app.cancel(&cast.agent, &id).await, 200).await;
    let cancelled_at = Instant::now();
    let (returned_at, h) = poll.await.expect("the poll task panicked");
    assert_eq!(h["status"], "cancelled");
    assert!(returned_at.saturating_duration_since(cancelled_at) < Duration::from_millis(100));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_poll_follows_the_callers_visibility() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let started = Instant::now();
    expect_problem(app.get_waiting(&cast.other_agent, &id, 5).await, 404).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a 404 does not wait"
    );
}

/// HTTP/2 with prior knowledge (h2c): an agent's long-polls share one connection, each
/// waits on its own handoff, and each answers with its decision.
#[tokio::test(flavor = "multi_thread")]
async fn long_polls_sharing_one_http2_connection_each_see_their_decision() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("an HTTP/2 client");
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.submitted_id(&cast.agent, &client_reply()).await);
    }
    let polls: Vec<_> = ids
        .iter()
        .map(|id| {
            let req = h2
                .get(app.url(&format!("/v1/handoffs/{id}?wait=30")))
                .bearer_auth(&cast.agent);
            tokio::spawn(async move {
                let resp = req.send().await.expect("long-poll failed");
                assert_eq!(resp.version(), reqwest::Version::HTTP_2);
                expect_json(resp, 200).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        polls.iter().all(|p| !p.is_finished()),
        "a poll returned before its decision"
    );
    for id in &ids {
        app.decided(&cast.ana, id, &json!({"action": "approve"}))
            .await;
    }
    for (id, poll) in ids.iter().zip(polls) {
        let h = poll.await.expect("the poll task panicked");
        assert_eq!(h["id"], id.as_str());
        assert_eq!(h["status"], "approved");
    }
}
