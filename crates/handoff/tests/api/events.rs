//! `GET /v1/events`: Server-Sent Events of what the caller may see, resumable with
//! `Last-Event-ID`.
//!
//! Absence is shown by order: events carry audit seqs in order, so once a later marker
//! event has arrived, an earlier event the caller may not see can no longer come.

use crate::common::*;
use serde_json::json;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(10);

fn ids_of(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| id_of(&e.json())).collect()
}

fn is_about(id: &str) -> impl Fn(&Event) -> bool + '_ {
    move |e: &Event| e.json()["id"] == json!(id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewer_receives_events_of_their_teams_handoffs_only() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let mut stream = app.events(&cast.ana, None).await;

    let sales = app.submitted_id(&cast.agent, &client_reply()).await;
    let data = app.submitted_id(&cast.agent, &data_deletion()).await;
    let marker = app.submitted_id(&cast.agent, &client_reply()).await;

    let events = stream.until(WITHIN, is_about(&marker)).await;
    let seen = ids_of(&events);
    assert!(seen.contains(&sales), "{seen:?}");
    assert!(!seen.contains(&data), "ana is not in data: {seen:?}");

    let first = events
        .iter()
        .find(|e| is_about(&sales)(e))
        .expect("the sales event");
    assert_eq!(first.event.as_deref(), Some("handoff"));
    assert!(first.seq() > 0);
    let data = first.json();
    assert_eq!(data["status"], "pending");
    assert_eq!(data["version"], 1);
    assert_eq!(data["task"], "respond_to_client_inquiry");
    assert_eq!(data["assigned_team"], "sales");
    let mut keys: Vec<&String> = data.as_object().expect("an object").keys().collect();
    keys.sort();
    assert_eq!(keys, ["assigned_team", "id", "status", "task", "version"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_receives_events_of_its_own_handoffs_only_including_decisions() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let mut stream = app.events(&cast.agent, None).await;

    let mine = app.submitted_id(&cast.agent, &client_reply()).await;
    let theirs = app.submitted_id(&cast.other_agent, &client_reply()).await;
    app.decided(&cast.ana, &theirs, &json!({"action": "approve"}))
        .await;
    app.decided(&cast.ana, &mine, &json!({"action": "approve"}))
        .await;

    let events = stream
        .until(WITHIN, |e| {
            e.json()["id"] == json!(mine) && e.json()["status"] == "approved"
        })
        .await;
    assert!(!ids_of(&events).contains(&theirs), "{events:?}");
    let statuses: Vec<String> = events
        .iter()
        .map(|e| e.json()["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(statuses, ["pending", "approved"]);
    let versions: Vec<i64> = events
        .iter()
        .map(|e| e.json()["version"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(versions, [1, 2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_receives_every_handoffs_events() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let mut stream = app.events(&app.admin_key(), None).await;
    let a = app.submitted_id(&cast.agent, &client_reply()).await;
    let b = app.submitted_id(&cast.other_agent, &fraud_report()).await;
    let events = stream.until(WITHIN, is_about(&b)).await;
    assert!(ids_of(&events).contains(&a));
}

#[tokio::test(flavor = "multi_thread")]
async fn event_ids_are_increasing_audit_seqs() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let mut stream = app.events(&app.admin_key(), None).await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    app.decided(&cast.ana, &id, &json!({"action": "approve"}))
        .await;
    let events = stream
        .until(WITHIN, |e| {
            e.json()["id"] == json!(id) && e.json()["status"] == "approved"
        })
        .await;
    let seqs: Vec<i64> = events.iter().map(Event::seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let timeline = expect_json(app.timeline(&app.admin_key(), &id).await, 200).await;
    let audit: Vec<i64> = timeline["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    let mine: Vec<i64> = events
        .iter()
        .filter(|e| is_about(&id)(e))
        .map(Event::seq)
        .collect();
    assert_eq!(
        mine, audit,
        "one event per audit entry of the handoff, with its seq"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn last_event_id_resumes_after_that_seq_with_what_happened_meanwhile() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let mut stream = app.events(&cast.ana, None).await;
    let a = app.submitted_id(&cast.agent, &client_reply()).await;
    let first = stream.until(WITHIN, is_about(&a)).await;
    let resume_from = first.last().expect("an event").seq();
    drop(stream);

    // While ana is away: a new sales handoff, one for data, a decision on the first.
    let b = app.submitted_id(&cast.agent, &client_reply()).await;
    let hidden = app.submitted_id(&cast.agent, &data_deletion()).await;
    app.decided(&cast.ben, &a, &json!({"action": "approve"}))
        .await;
    let c = app.submitted_id(&cast.agent, &client_reply()).await;

    let mut resumed = app.events(&cast.ana, Some(&resume_from.to_string())).await;
    let events = resumed.until(WITHIN, is_about(&c)).await;
    assert!(events.iter().all(|e| e.seq() > resume_from), "{events:?}");
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            let d = e.json();
            (
                id_of(&d),
                d["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (b.clone(), "pending".to_owned()),
            (a.clone(), "approved".to_owned()),
            (c.clone(), "pending".to_owned()),
        ],
        "nothing before seq {resume_from}, nothing of {hidden}"
    );

    // And the stream stays live after the replay.
    let d = app.submitted_id(&cast.agent, &client_reply()).await;
    resumed.until(WITHIN, is_about(&d)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_stream_needs_a_key() {
    let app = TestApp::spawn().await;
    expect_problem(app.get_path(None, "/v1/events").await, 401).await;
    expect_problem(app.get_path(Some("hk_nope"), "/v1/events").await, 401).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewer_hears_that_a_handoff_left_their_team_by_escalation() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let mut stream = app.events(&cast.ana, None).await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    stream.until(WITHIN, is_about(&id)).await;

    // ana (sales) escalates it to sales-leads, where she is not a member.
    app.decided(
        &cast.ana,
        &id,
        &json!({"action": "escalate", "rationale": "needs a lead", "to_team": "sales-leads"}),
    )
    .await;
    let events = stream.until(WITHIN, is_about(&id)).await;
    let moved = events.last().expect("the escalation's event").json();
    assert_eq!(moved["assigned_team"], "sales-leads");
    assert_eq!(moved["status"], "pending");
    assert_eq!(moved["version"], 2);
    // The event's form is the SPEC's, whoever receives it.
    let mut keys: Vec<&String> = moved.as_object().expect("an object").keys().collect();
    keys.sort();
    assert_eq!(keys, ["assigned_team", "id", "status", "task", "version"]);
    // After that she hears nothing more of it: a later change stays with sales-leads.
    let marker = app.submitted_id(&cast.agent, &client_reply()).await;
    let events = stream.until(WITHIN, is_about(&marker)).await;
    assert!(!ids_of(&events).contains(&id), "{:?}", ids_of(&events));
}
