//! Revisions (SPEC §2 `supersedes`): an agent answers a rejection, an expiry or its own
//! cancel with a revised handoff; the resource carries `revision_of` with the rationale
//! that ended the old one and an RFC 6902 patch from its draft to the new one. Any other id
//! (unknown, another agent's, one still open or approved, not an id at all) is a 422 that
//! names `supersedes`, and nothing is stored.

use crate::common::*;
use serde_json::{Value, json};
use std::time::Duration;

/// `client_reply` revising `old`, with `draft`.
fn revision(old: &str, draft: Value) -> Value {
    let mut p = client_reply();
    p["draft"] = draft;
    p["supersedes"] = json!(old);
    p
}

/// Applies an RFC 6902 patch of `add` / `remove` / `replace` operations, the way any JSON
/// Patch library would: the test's own reading of the standard, not the server's code.
fn apply(doc: &Value, patch: &Value) -> Value {
    let mut doc = doc.clone();
    for op in patch.as_array().expect("a patch is an array") {
        let path = op["path"].as_str().expect("a path");
        if path.is_empty() {
            doc = op["value"].clone();
            continue;
        }
        let (parent, last) = path.rsplit_once('/').expect("a pointer");
        let last = last.replace("~1", "/").replace("~0", "~");
        let target = if parent.is_empty() {
            &mut doc
        } else {
            doc.pointer_mut(parent).expect("the parent exists")
        };
        match (op["op"].as_str(), target) {
            (Some("remove"), Value::Object(m)) => {
                m.remove(&last);
            }
            (Some("add" | "replace"), Value::Object(m)) => {
                m.insert(last, op["value"].clone());
            }
            (Some("remove"), Value::Array(a)) => {
                a.remove(last.parse::<usize>().expect("an index"));
            }
            (Some("add"), Value::Array(a)) => {
                a.insert(last.parse().expect("an index"), op["value"].clone());
            }
            (Some("replace"), Value::Array(a)) => {
                a[last.parse::<usize>().expect("an index")] = op["value"].clone();
            }
            other => panic!("unexpected operation {other:?}"),
        }
    }
    doc
}

async fn count(app: &TestApp, key: &str) -> usize {
    app.list_ids(key, &[]).await.0.len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revision_of_a_rejected_handoff_carries_the_rationale_and_the_draft_patch() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let mut old = client_reply();
    old["draft"] = json!({"to": "ana@acme.test", "body": "We can refund 120 EUR.", "cc": ["ben"]});
    let old_id = app.submitted_id(&cast.agent, &old).await;
    app.decided(
        &cast.ana,
        &old_id,
        &json!({"action": "reject", "rationale": "Refunds above 100 EUR need a manager."}),
    )
    .await;

    let new_draft =
        json!({"to": "ana@acme.test", "body": "We can refund 100 EUR.", "sign": "Sales"});
    let h = app
        .submitted(&cast.agent, &revision(&old_id, new_draft.clone()))
        .await;
    let r = &h["revision_of"];
    assert_eq!(r["id"], old_id.as_str());
    assert_eq!(r["status"], "rejected");
    assert_eq!(r["rationale"], "Refunds above 100 EUR need a manager.");
    assert_eq!(
        r["draft_diff"],
        json!([
            {"op": "replace", "path": "/body", "value": "We can refund 100 EUR."},
            {"op": "remove", "path": "/cc"},
            {"op": "add", "path": "/sign", "value": "Sales"},
        ])
    );
    assert_eq!(apply(&old["draft"], &r["draft_diff"]), new_draft);
    // The field is the packet's own, not one of the "other fields the agent sent".
    assert_eq!(h["packet"]["supersedes"], old_id.as_str());
    assert!(
        h["packet"]
            .get("extra")
            .is_none_or(|e| e.get("supersedes").is_none())
    );
    // The reviewer reads the same; a handoff that revises nothing says so with null.
    let seen = app.fetch(&cast.ana, &id_of(&h)).await;
    assert_eq!(seen["revision_of"], h["revision_of"]);
    assert!(app.fetch(&cast.ana, &old_id).await["revision_of"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revision_of_a_cancelled_handoff_has_no_rationale_and_a_text_patch() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let (old_id, _) = app.handoff_in(&cast, "cancelled").await;
    let h = app
        .submitted(
            &cast.agent,
            &revision(&old_id, json!("Dear client, the invoice is attached.")),
        )
        .await;
    let r = &h["revision_of"];
    assert_eq!(r["status"], "cancelled");
    assert!(r["rationale"].is_null(), "{r}");
    assert_eq!(
        r["draft_diff"],
        json!([{"op": "replace", "path": "", "value": "Dear client, the invoice is attached."}])
    );
    assert_eq!(
        apply(&json!(CLIENT_REPLY_DRAFT), &r["draft_diff"]),
        json!("Dear client, the invoice is attached.")
    );
}

const QUICK_POLICY: &str = r#"
[defaults]
level = 2
route = "ops"

[teams.ops]
members = ["oz"]
escalate_to = "ops-leads"

[teams.ops-leads]
members = ["olga"]

[tasks.quick]
route = "ops"
expire_after = "1m"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_revision_of_an_expired_handoff_has_no_rationale_even_after_an_escalation() {
    let app = TestApp::spawn_manual(Some(QUICK_POLICY), &[]).await;
    let agent = app.key("agent", "bot").await;
    let oz = app.key("reviewer", "oz").await;
    let mut p = packet("quick", 0.99);
    p["draft"] = json!({"amount": 10, "items": ["a", "b", "c"]});
    let old_id = app.submitted_id(&agent, &p).await;
    // An escalation's rationale is not what ended it.
    app.decided(
        &oz,
        &old_id,
        &json!({"action": "escalate", "rationale": "ask the leads"}),
    )
    .await;
    app.advance(Duration::from_secs(61));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut h = app.fetch(&agent, &old_id).await;
    while h["status"] == "pending" && std::time::Instant::now() < deadline {
        h = expect_json(app.get_waiting(&agent, &old_id, 5).await, 200).await;
    }
    assert_eq!(h["status"], "expired", "{h}");

    p["supersedes"] = json!(old_id);
    p["draft"] = json!({"amount": 12, "items": ["a"]});
    let new = app.submitted(&agent, &p).await;
    let r = &new["revision_of"];
    assert_eq!(r["status"], "expired");
    assert!(r["rationale"].is_null());
    assert_eq!(
        apply(
            &json!({"amount": 10, "items": ["a", "b", "c"]}),
            &r["draft_diff"]
        ),
        json!({"amount": 12, "items": ["a"]})
    );
    // The revision starts at its route again (ops), not where the old one ended.
    assert_eq!(new["assigned_team"], "ops");
    assert_eq!(app.fetch(&oz, &id_of(&new)).await["revision_of"], *r);
}

#[tokio::test(flavor = "multi_thread")]
async fn supersedes_naming_anything_but_the_agents_own_ended_handoff_is_422_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let (pending, _) = app.handoff_in(&cast, "pending").await;
    let (approved, _) = app.handoff_in(&cast, "approved").await;
    // Rejected, but ops-bot's: for sales-bot it does not exist.
    let theirs = app.submitted_id(&cast.other_agent, &client_reply()).await;
    app.decided(
        &cast.ana,
        &theirs,
        &json!({"action": "reject", "rationale": "no"}),
    )
    .await;
    let unknown = "hnd_01JD0000000000000000000000";
    let before = count(&app, &cast.agent).await;
    for (what, id) in [
        ("pending", json!(pending)),
        ("approved", json!(approved)),
        ("another agent's", json!(theirs)),
        ("unknown", json!(unknown)),
        ("malformed", json!("hnd_nope")),
        ("not a string", json!(42)),
    ] {
        let mut p = client_reply();
        p["supersedes"] = id;
        let problem = expect_problem(app.submit(&cast.agent, &p).await, 422).await;
        assert_eq!(error_fields(&problem), ["supersedes"], "{what}: {problem}");
    }
    assert_eq!(count(&app, &cast.agent).await, before, "nothing was stored");
    // Another agent's handoff reads exactly like an unknown one: nothing leaks.
    let msg = |id: &str| {
        let mut p = client_reply();
        p["supersedes"] = json!(id);
        p
    };
    let a = expect_problem(app.submit(&cast.agent, &msg(&theirs)).await, 422).await;
    let b = expect_problem(app.submit(&cast.agent, &msg(unknown)).await, 422).await;
    assert_eq!(a["errors"], b["errors"]);
    // And the pending one's message says what would do.
    let c = expect_problem(app.submit(&cast.agent, &msg(&pending)).await, 422).await;
    assert!(
        c["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("pending") && m.contains("rejected, expired or cancelled")),
        "{c}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn approving_a_revision_counts_in_the_tasks_statistics() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let (first, _) = app.handoff_in(&cast, "rejected").await;
    let second = app
        .submitted_id(&cast.agent, &revision(&first, json!("Second try.")))
        .await;
    app.decided(
        &cast.ana,
        &second,
        &json!({"action": "reject", "rationale": "still off-tone"}),
    )
    .await;
    let third = app
        .submitted_id(&cast.agent, &revision(&second, json!("Third try.")))
        .await;
    let h = app.fetch(&cast.ana, &third).await;
    assert_eq!(h["revision_of"]["rationale"], "still off-tone");
    app.decided(&cast.ana, &third, &json!({"action": "approve"}))
        .await;
    let once = app.submitted_id(&cast.agent, &client_reply()).await;
    app.decided(&cast.ana, &once, &json!({"action": "approve"}))
        .await;

    let admin = app.admin_key();
    let stats = expect_json(
        app.get_path(Some(&admin), "/v1/stats?task=respond_to_client_inquiry")
            .await,
        200,
    )
    .await;
    let t = &stats["tasks"][0];
    assert_eq!(t["revisions"], 2, "{t}");
    assert_eq!(t["revisions_approved"], 1, "{t}");
    assert_eq!(
        t["approved_after_revisions"],
        json!([{"revisions": 0, "approved": 1}, {"revisions": 2, "approved": 1}])
    );
}
