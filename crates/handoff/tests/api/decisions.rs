//! `POST /v1/handoffs/{id}/decisions`: each accepted row of the SPEC §3 table, four eyes,
//! and edits.

use crate::common::*;
use serde_json::{Value, json};

fn approvers(h: &Value) -> Vec<String> {
    let mut by: Vec<String> = h["approvals"]
        .as_array()
        .expect("approvals")
        .iter()
        .map(|a| a["by"].as_str().unwrap_or_default().to_owned())
        .collect();
    by.sort();
    by
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewer_approves_a_pending_handoff_of_their_team() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;

    let h = app
        .decided(
            &cast.ana,
            &id,
            &json!({"action": "approve", "rationale": "reads well", "option": "send"}),
        )
        .await;
    assert_eq!(h["status"], "approved");
    assert_eq!(h["version"], 2);
    assert_eq!(h["decision"]["action"], "approve");
    assert_eq!(h["decision"]["by"], "ana");
    assert_eq!(h["decision"]["rationale"], "reads well");
    assert_eq!(h["decision"]["option"], "send");
    assert_eq!(approvers(&h), ["ana"]);
    assert_eq!(h["approved_draft"], CLIENT_REPLY_DRAFT);
    assert!(
        h["receipt"].is_string(),
        "an approved handoff carries a receipt: {h}"
    );
    assert_eq!(app.fetch(&cast.agent, &id).await["status"], "approved");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewer_rejects_a_pending_handoff_with_a_rationale() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let h = app
        .decided(
            &cast.ben,
            &id,
            &json!({"action": "reject", "rationale": "wrong client"}),
        )
        .await;
    assert_eq!(h["status"], "rejected");
    assert_eq!(h["decision"]["by"], "ben");
    assert_eq!(h["decision"]["rationale"], "wrong client");
    assert!(
        h.get("receipt").is_none_or(Value::is_null),
        "no receipt: {h}"
    );
    assert!(h.get("approved_draft").is_none_or(Value::is_null), "{h}");
}

#[tokio::test(flavor = "multi_thread")]
async fn escalating_without_a_team_routes_to_the_teams_escalate_to() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let h = app
        .decided(
            &cast.ana,
            &id,
            &json!({"action": "escalate", "rationale": "pricing question"}),
        )
        .await;
    assert_eq!(h["status"], "pending");
    assert_eq!(h["assigned_team"], "sales-leads");
    assert_eq!(h["decision"]["action"], "escalate");

    // Now sales-leads owns it: lea decides, ana no longer sees it.
    let h = app
        .decided(&cast.lea, &id, &json!({"action": "approve"}))
        .await;
    assert_eq!(h["status"], "approved");
    expect_problem(app.get(&cast.ana, &id).await, 404).await;

    let timeline = expect_json(app.timeline(&app.admin_key(), &id).await, 200).await;
    let escalation = &timeline["items"][1];
    assert_eq!(escalation["action"], "handoff.decision");
    assert_eq!(escalation["data"]["action"], "escalate");
    assert_eq!(escalation["data"]["to_team"], "sales-leads");
    assert_eq!(escalation["data"]["from_status"], "pending");
    assert_eq!(escalation["data"]["to_status"], "pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn escalating_to_a_named_team_routes_there() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let h = app
        .decided(
            &cast.ana,
            &id,
            &json!({"action": "escalate", "rationale": "contract terms", "to_team": "legal"}),
        )
        .await;
    assert_eq!(h["status"], "pending");
    assert_eq!(h["assigned_team"], "legal");
}

#[tokio::test(flavor = "multi_thread")]
async fn escalating_to_an_unknown_team_is_a_422() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let resp = app
        .decide(
            &cast.ana,
            &id,
            &json!({"action": "escalate", "rationale": "x", "to_team": "narnia"}),
        )
        .await;
    let problem = expect_problem(resp, 422).await;
    assert!(
        error_fields(&problem).contains(&"to_team".to_owned()),
        "{problem}"
    );
    assert_eq!(app.fetch(&cast.ana, &id).await["assigned_team"], "sales");
}

#[tokio::test(flavor = "multi_thread")]
async fn taking_over_a_pending_handoff_hands_it_over_and_resolving_closes_it() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let h = app
        .decided(&cast.ana, &id, &json!({"action": "take_over"}))
        .await;
    assert_eq!(h["status"], "handed_over");
    let h = app
        .decided(
            &cast.ana,
            &id,
            &json!({"action": "resolve", "rationale": "called the client"}),
        )
        .await;
    assert_eq!(h["status"], "resolved");
    assert_eq!(h["version"], 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handed_over_handoff_is_resolved_by_its_team() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &data_deletion()).await;
    let h = app
        .decided(&cast.dan, &id, &json!({"action": "resolve"}))
        .await;
    assert_eq!(h["status"], "resolved");
    assert_eq!(h["decision"]["by"], "dan");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_is_acknowledged_then_resolved() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &fraud_report()).await;
    let h = app
        .decided(&cast.sam, &id, &json!({"action": "acknowledge"}))
        .await;
    assert_eq!(h["status"], "acknowledged");
    let h = app
        .decided(&cast.sam, &id, &json!({"action": "resolve"}))
        .await;
    assert_eq!(h["status"], "resolved");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_may_decide_any_handoff() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let h = app
        .decided(&app.admin_key(), &id, &json!({"action": "approve"}))
        .await;
    assert_eq!(h["status"], "approved");
}

#[tokio::test(flavor = "multi_thread")]
async fn four_eyes_needs_two_distinct_reviewers() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let h = app.submitted(&cast.agent, &big_purchase()).await;
    assert_eq!(h["evaluation"]["approvals_required"], 2);
    assert_eq!(h["assigned_team"], "finance");
    let id = id_of(&h);

    let h = app
        .decided(&cast.fay, &id, &json!({"action": "approve"}))
        .await;
    assert_eq!(h["status"], "pending", "one approval of two");
    assert_eq!(approvers(&h), ["fay"]);
    assert!(h.get("receipt").is_none_or(Value::is_null));

    let again = app
        .decide(&cast.fay, &id, &json!({"action": "approve"}))
        .await;
    expect_problem(again, 409).await;
    assert_eq!(
        app.fetch(&cast.fay, &id).await["version"],
        2,
        "a refused decision changes nothing"
    );

    let h = app
        .decided(&cast.finn, &id, &json!({"action": "approve"}))
        .await;
    assert_eq!(h["status"], "approved");
    assert_eq!(approvers(&h), ["fay", "finn"]);
    assert!(h["receipt"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn four_eyes_approvals_of_different_options_do_not_add_up() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let mut p = big_purchase();
    p["options"] = json!([
        {"id": "a", "label": "Order from the usual supplier"},
        {"id": "b", "label": "Ask for a second quote first"},
    ]);
    let id = app.submitted_id(&cast.agent, &p).await;

    let h = app
        .decided(&cast.fay, &id, &json!({"action": "approve", "option": "b"}))
        .await;
    assert_eq!(h["approvals"][0]["by"], "fay");
    assert_eq!(
        h["approvals"][0]["option"], "b",
        "each approval shows its option"
    );

    // finn chose another course: fay's approval is dismissed, as an edit would.
    let h = app
        .decided(
            &cast.finn,
            &id,
            &json!({"action": "approve", "option": "a"}),
        )
        .await;
    assert_eq!(h["status"], "pending", "they approved different things");
    assert_eq!(approvers(&h), ["finn"]);
    assert_eq!(h["approvals"].as_array().map(Vec::len), Some(1));
    assert_eq!(h["approvals"][0]["option"], "a");

    // fay agrees with a: now two approvals of one course approve it, with that option.
    let h = app
        .decided(&cast.fay, &id, &json!({"action": "approve", "option": "a"}))
        .await;
    assert_eq!(h["status"], "approved");
    assert_eq!(approvers(&h), ["fay", "finn"]);
    assert_eq!(h["decision"]["option"], "a");
    let options: Vec<&Value> = h["approvals"]
        .as_array()
        .map(|a| a.iter().map(|x| &x["option"]).collect())
        .unwrap_or_default();
    assert_eq!(options, [&json!("a"), &json!("a")]);

    // The timeline says who chose what.
    let timeline = expect_json(app.timeline(&cast.fay, &id).await, 200).await;
    let chosen: Vec<(String, String)> = timeline["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|e| e["action"] == "handoff.decision")
                .map(|e| {
                    (
                        e["actor"].as_str().unwrap_or_default().to_owned(),
                        e["data"]["option"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        chosen,
        [
            ("fay".to_owned(), "b".to_owned()),
            ("finn".to_owned(), "a".to_owned()),
            ("fay".to_owned(), "a".to_owned()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_stores_a_new_draft_version_by_the_editor_and_counts_as_approval() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let edited = "Dear client, the invoice copy is attached. Kind regards, Ana";
    let h = app
        .decided(
            &cast.ana,
            &id,
            &json!({"action": "edit", "draft": edited, "rationale": "signature"}),
        )
        .await;
    assert_eq!(
        h["status"], "approved",
        "one approval required, the editor's counts"
    );
    assert_eq!(h["decision"]["action"], "edit");
    assert_eq!(
        h["draft_versions"],
        json!([
            {"version": 1, "by": "agent", "sha256": text_draft_sha256(CLIENT_REPLY_DRAFT)},
            {"version": 2, "by": "ana", "sha256": text_draft_sha256(edited)},
        ])
    );
    assert_eq!(h["approved_draft"], edited);
    assert_eq!(approvers(&h), ["ana"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_dismisses_approvals_of_the_earlier_draft() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &big_purchase()).await;
    app.decided(&cast.fay, &id, &json!({"action": "approve"}))
        .await;

    let edited = "Order 40 laptops from the cheaper supplier for 44000 EUR.";
    let h = app
        .decided(&cast.finn, &id, &json!({"action": "edit", "draft": edited}))
        .await;
    assert_eq!(h["status"], "pending", "fay approved other content");
    assert_eq!(approvers(&h), ["finn"]);
    assert_eq!(h["draft_versions"][1]["by"], "finn");

    // finn's edit is his approval: approving again is the second approve of one reviewer.
    expect_problem(
        app.decide(&cast.finn, &id, &json!({"action": "approve"}))
            .await,
        409,
    )
    .await;

    let h = app
        .decided(&cast.fay, &id, &json!({"action": "approve"}))
        .await;
    assert_eq!(h["status"], "approved");
    assert_eq!(approvers(&h), ["fay", "finn"]);
    assert_eq!(h["approved_draft"], edited);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_accepted_decision_is_exactly_one_audit_entry() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &big_purchase()).await;
    app.decided(&cast.fay, &id, &json!({"action": "approve"}))
        .await;
    let _ = app
        .decide(&cast.fay, &id, &json!({"action": "approve"}))
        .await;
    let _ = app
        .decide(&cast.fay, &id, &json!({"action": "reject"}))
        .await;
    app.decided(&cast.finn, &id, &json!({"action": "approve"}))
        .await;
    assert_eq!(
        app.timeline_actions(&id).await,
        ["handoff.submitted", "handoff.decision", "handoff.decision"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn if_match_with_the_current_version_is_accepted_quoted_or_not() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let a = app.submitted_id(&cast.agent, &client_reply()).await;
    let b = app.submitted_id(&cast.agent, &client_reply()).await;
    let approve = json!({"action": "approve"});
    expect_json(
        app.decide_if_match(&cast.ana, &a, &approve, "\"1\"").await,
        200,
    )
    .await;
    expect_json(app.decide_if_match(&cast.ana, &b, &approve, "1").await, 200).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn if_match_with_another_version_is_a_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let approve = json!({"action": "approve"});
    expect_problem(
        app.decide_if_match(&cast.ana, &id, &approve, "3").await,
        412,
    )
    .await;
    expect_problem(
        app.decide_if_match(&cast.ana, &id, &approve, "\"3\"").await,
        412,
    )
    .await;
    // Not a version at all: malformed (400 naming the header), not a mismatch.
    for garbage in ["null", "+1", "\"1", "W/x", "12345678901234567890", "**"] {
        let p = expect_problem(
            app.decide_if_match(&cast.ana, &id, &approve, garbage).await,
            400,
        )
        .await;
        assert!(
            p["detail"].as_str().is_some_and(|d| d.contains("If-Match")),
            "{garbage}: {p}"
        );
    }
    let h = app.fetch(&cast.ana, &id).await;
    assert_eq!(
        (h["status"].as_str(), h["version"].as_u64()),
        (Some("pending"), Some(1))
    );
    assert_eq!(app.timeline_actions(&id).await, ["handoff.submitted"]);
}
