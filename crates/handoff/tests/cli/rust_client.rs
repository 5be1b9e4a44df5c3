//! The Rust client crate (`handoff_client::Client`) driven against the real server, as an
//! agent and its reviewers use it: a gated action from submission to outcome, refusals as
//! errors carrying the server's problem, the event stream, listings and the export.

use crate::common::*;
use futures_util::StreamExt;
use handoff_client::{
    Client, Decision, Error, ListQuery, OutcomeReport, ReceiptError, SpotVerdict, Status,
};
use serde_json::json;
use std::time::Duration;

fn connect(app: &TestApp, key: &str) -> Client {
    Client::new(&app.address, key).expect("a client")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_acts_only_after_approval_with_the_approved_draft_and_a_verified_receipt() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let agent = connect(&app, &cast.agent);
    let ana = connect(&app, &cast.ana);

    let h = agent
        .submit(&client_reply(), Some("reply-1"))
        .await
        .expect("submitted");
    assert_eq!(h.status, Status::Pending);
    assert_eq!(h.evaluation.level.get(), 2);
    assert_eq!(h.assigned_team, "sales");
    let again = agent.submit(&client_reply(), Some("reply-1")).await;
    assert_eq!(
        again.expect("replayed").id,
        h.id,
        "the same idempotency key"
    );

    // Time runs out while nobody decided: the handoff comes back pending, not approved.
    let waited = agent
        .wait_for_decision(&h.id, Duration::from_secs(1))
        .await
        .expect("waited");
    assert_eq!(waited.status, Status::Pending);
    assert!(!waited.is_approved());
    assert_eq!(waited.receipt, None);
    assert_eq!(waited.approved_draft_sha256(), None);

    // A reviewer edits the draft while the agent waits.
    let edited = json!("Dear client, the invoice copy is attached; sorry for the delay.");
    let decision = Decision::edit(edited.clone()).rationale("warmer");
    let (waited, decided) = tokio::join!(
        agent.wait_for_decision(&h.id, Duration::from_secs(30)),
        ana.decide(&h.id, &decision, Some(h.version)),
    );
    let decided = decided.expect("decided");
    let h = waited.expect("waited");
    assert!(h.is_approved(), "{h:?}");
    assert_eq!(h.version, decided.version);
    assert_eq!(h.approved_draft.as_ref(), Some(&edited));
    assert_eq!(h.rationale(), Some("warmer"));
    assert_eq!(
        h.approved_draft_sha256(),
        Some(handoff_domain::canonical::sha256_hex(&edited))
    );
    assert_eq!(
        h.approved_draft_sha256().as_deref(),
        h.draft_versions.last().and_then(|v| v.sha256.as_deref()),
        "the digest the server recorded for the approved version"
    );

    // The receipt checks out for the edited draft, and not for the agent's own.
    let receipt = h
        .receipt
        .as_deref()
        .expect("an approved handoff has a receipt");
    let payload = agent
        .verify_receipt(receipt, Some(&edited))
        .await
        .expect("verified");
    assert_eq!(payload.handoff, h.id);
    assert_eq!(payload.approvers, vec!["ana".to_owned()]);
    let agents_draft = json!(CLIENT_REPLY_DRAFT);
    let refused = agent.verify_receipt(receipt, Some(&agents_draft)).await;
    assert!(
        matches!(
            refused,
            Err(Error::Receipt(ReceiptError::DraftMismatch { .. }))
        ),
        "{refused:?}"
    );
    assert_eq!(agent.verify_handoff(&h).await.expect("verified"), payload);

    let done = agent
        .outcome(&h.id, &OutcomeReport::executed(h.approved_draft_sha256()))
        .await
        .expect("reported");
    assert_eq!(done.status, Status::Executed);
    let timeline = agent.timeline(&h.id).await.expect("a timeline");
    assert!(timeline.len() >= 3, "{timeline:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_is_an_error_carrying_the_servers_status_and_detail() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let agent = connect(&app, &cast.agent);
    let (id, _) = app.handoff_in(&cast, "approved").await;

    let e = agent
        .cancel(&id)
        .await
        .expect_err("approved cannot be cancelled");
    assert_eq!(e.status(), Some(409), "{e}");
    let detail = e
        .problem()
        .and_then(|p| p.detail.clone())
        .unwrap_or_default();
    assert!(detail.contains("approved"), "names the status: {e}");

    let e = agent
        .submit(
            &json!({"task": "respond_to_client_inquiry", "confidence": 7}),
            None,
        )
        .await
        .expect_err("a bad packet");
    assert_eq!(e.status(), Some(422), "{e}");
    let fields: Vec<&str> = e
        .problem()
        .map(|p| p.errors.iter().map(|f| f.field.as_str()).collect())
        .unwrap_or_default();
    assert!(
        fields.contains(&"confidence") && fields.contains(&"summary"),
        "{e}"
    );

    let e = agent
        .get("hnd_00000000000000000000000000")
        .await
        .expect_err("no such handoff");
    assert_eq!(e.status(), Some(404));
    let stranger = connect(&app, "hk_not_a_key");
    assert_eq!(
        stranger.get(&id).await.err().and_then(|e| e.status()),
        Some(401)
    );

    // The other agent's handoff does not exist for it.
    let ops = connect(&app, &cast.other_agent);
    assert_eq!(ops.get(&id).await.err().and_then(|e| e.status()), Some(404));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_stream_yields_the_submission() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let agent = connect(&app, &cast.agent);
    let ana = connect(&app, &cast.ana);

    let events = ana.events(None).await.expect("a stream");
    let mut events = Box::pin(events);
    let h = agent
        .submit(&client_reply(), None)
        .await
        .expect("submitted");
    let event = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event in time")
        .expect("the stream is open")
        .expect("an event");
    assert_eq!(event.event.as_deref(), Some("handoff"));
    let data = event.json().expect("JSON data");
    assert_eq!(data["id"], json!(h.id));
    assert_eq!(data["status"], "pending");

    // Resuming after that event replays nothing before it: the next is the decision.
    let last = event.id.clone().expect("an id");
    ana.decide(&h.id, &Decision::approve(), None)
        .await
        .expect("approved");
    let mut resumed = Box::pin(ana.events(Some(&last)).await.expect("a stream"));
    let next = tokio::time::timeout(Duration::from_secs(10), resumed.next())
        .await
        .expect("an event in time")
        .expect("the stream is open")
        .expect("an event");
    let data = next.json().expect("JSON data");
    assert_eq!(
        (data["id"].clone(), data["status"].clone()),
        (json!(h.id), json!("approved"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_the_policy_the_learning_loop_and_the_export_read_as_types() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let agent = connect(&app, &cast.agent);
    let ana = connect(&app, &cast.ana);
    let admin = connect(&app, &app.admin_key());

    let explained = agent.explain(&client_reply()).await.expect("explained");
    assert_eq!(
        (explained.level.get(), explained.route.as_str()),
        (2, "sales")
    );

    let first = agent
        .submit(&client_reply(), None)
        .await
        .expect("submitted");
    let second = agent
        .submit(&client_reply(), None)
        .await
        .expect("submitted");
    let page = ana
        .list(&ListQuery {
            status: Some(Status::Pending),
            limit: Some(1),
            ..ListQuery::default()
        })
        .await
        .expect("a page");
    assert_eq!(page.items.len(), 1);
    let cursor = page.next_cursor.clone().expect("a second page");
    let rest = ana
        .list(&ListQuery {
            status: Some(Status::Pending),
            cursor: Some(cursor),
            ..ListQuery::default()
        })
        .await
        .expect("a page");
    let mut ids: Vec<String> = page
        .items
        .into_iter()
        .chain(rest.items)
        .map(|h| h.id)
        .collect();
    ids.sort();
    let mut expected = vec![first.id.clone(), second.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);

    agent.cancel(&second.id).await.expect("cancelled");
    let stats = admin.stats(None, None).await.expect("stats");
    assert!(stats.is_object(), "{stats}");
    admin.recommendations().await.expect("recommendations");
    let change = admin
        .set_task_level("respond_to_client_inquiry", 3, "the tests say so")
        .await
        .expect("demoted");
    assert_eq!((change.previous_level, change.level), (2, 3));
    let checks = ana.spot_checks(None).await.expect("a page");
    assert!(checks.items.is_empty());
    let e = ana
        .spot_check(&first.id, SpotVerdict::Fine, None)
        .await
        .expect_err("not sampled");
    assert_eq!(e.status(), Some(409), "{e}");

    let lines: Vec<_> = admin
        .export_decisions(&[])
        .await
        .expect("an export")
        .collect()
        .await;
    let lines: Vec<String> = lines
        .into_iter()
        .map(|l| l.expect("a JSON line").to_string())
        .collect();
    assert!(lines.iter().any(|l| l.contains(&second.id)), "{lines:?}");
    assert!(
        !lines.iter().any(|l| l.contains(&first.id)),
        "still open: {lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revision_reads_as_a_typed_revision_of_whose_patch_applies() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let agent = connect(&app, &cast.agent);
    let ana = connect(&app, &cast.ana);
    let mut first = client_reply();
    first["draft"] = json!({"to": "ana", "amount": 120});
    let h = agent.submit(&first, None).await.expect("submitted");
    ana.decide(&h.id, &Decision::reject("100 at most"), None)
        .await
        .expect("rejected");
    let mut second = client_reply();
    second["draft"] = json!({"to": "ana", "amount": 100});
    second["supersedes"] = json!(h.id);
    let r = agent.submit(&second, None).await.expect("submitted");
    let of = r.revision_of.expect("a revision");
    assert_eq!(of.id, h.id);
    assert_eq!(of.status, Status::Rejected);
    assert_eq!(of.rationale.as_deref(), Some("100 at most"));
    assert_eq!(
        handoff_domain::revision::apply(&first["draft"], &of.draft_diff),
        Ok(second["draft"].clone())
    );
    let plain = agent
        .submit(&client_reply(), None)
        .await
        .expect("submitted");
    assert!(plain.revision_of.is_none());
}
