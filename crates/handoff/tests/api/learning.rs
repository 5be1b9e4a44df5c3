//! The learning loop through the API (SPEC §4, §7): statistics read from the store's
//! aggregates (identical after a restart), recommendations, promotion and its rubric
//! floor, evidence restarting at every level change, spot checks counted once, automatic
//! demotion from either stream that survives a restart and alerts the route team, the
//! decisions export, and each role's rights.

use crate::common::*;
use serde_json::{Value, json};
use std::time::Duration;

/// Small thresholds, so that a test earns a promotion in five decisions and trips the
/// monitor in two errors; every autonomous handoff is checked.
const LEARNING_POLICY: &str = r#"
[defaults]
level = 2
confidence_threshold = 0.85
sla = "4h"
expire_after = "72h"
route = "ops"

[teams.ops]
members = ["oz"]
notify = ["webhook:https://hooks.example.com/ops"]

[teams.sales]
members = ["ana", "ben"]

[tasks.tag_ticket]
level = 2
route = "ops"

[tasks.reply]
level = 2
route = "sales"
rubric = { impact = "medium" }

[tasks.auto_tag]
level = 1
route = "ops"

[learning]
min_decisions = 5
min_unchanged_rate = 0.8
min_lower_bound = 0.5
spot_check_rate = 1.0
trip_errors = 2
trip_window = 5
"#;

struct Keys {
    agent: String,
    oz: String,
    ana: String,
    admin: String,
}

async fn learning_app() -> (TestApp, Keys) {
    let app = TestApp::spawn_manual(Some(LEARNING_POLICY), &[]).await;
    let keys = Keys {
        agent: app.key("agent", "bot").await,
        oz: app.key("reviewer", "oz").await,
        ana: app.key("reviewer", "ana").await,
        admin: app.admin_key(),
    };
    (app, keys)
}

fn tag(confidence: f64) -> Value {
    json!({
        "task": "tag_ticket",
        "summary": "Tag the ticket",
        "confidence": confidence,
        "draft": {"tag": "billing", "priority": "low"},
    })
}

async fn stats(app: &TestApp, key: &str, query: &str) -> Value {
    expect_json(
        app.get_path(Some(key), &format!("/v1/stats{query}")).await,
        200,
    )
    .await
}

fn task<'a>(stats: &'a Value, name: &str) -> &'a Value {
    stats["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["task"] == name))
        .unwrap_or_else(|| panic!("no {name} in {stats}"))
}

async fn set_level(app: &TestApp, key: &str, task: &str, body: &Value) -> reqwest::Response {
    app.post_json(Some(key), &format!("/v1/tasks/{task}/level"), body)
        .await
}

/// `n` tag_ticket handoffs approved unchanged by oz.
async fn approve_unchanged(app: &TestApp, k: &Keys, n: usize) {
    for _ in 0..n {
        let id = app.submitted_id(&k.agent, &tag(0.95)).await;
        app.decided(&k.oz, &id, &json!({"action": "approve"})).await;
    }
}

async fn promote_tag_ticket(app: &TestApp, k: &Keys) -> Value {
    approve_unchanged(app, k, 5).await;
    let body = json!({"level": 1, "reason": "5 of 5 approved unchanged"});
    expect_json(set_level(app, &k.admin, "tag_ticket", &body).await, 200).await
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_count_each_kind_of_decision_and_are_identical_after_a_restart() {
    let (mut app, k) = learning_app().await;
    let a = app.submitted_id(&k.agent, &tag(0.95)).await;
    let b = app.submitted_id(&k.agent, &tag(0.95)).await;
    let c = app.submitted_id(&k.agent, &tag(0.72)).await;
    let d = app.submitted_id(&k.agent, &tag(0.9)).await;
    app.advance(Duration::from_secs(60));
    app.decided(
        &k.oz,
        &a,
        &json!({"action": "approve", "rationale": "fine"}),
    )
    .await;
    app.decided(&k.oz, &b, &json!({"action": "approve"})).await;
    let edit = json!({"action": "edit", "draft": {"tag": "refund", "priority": "low"}});
    app.decided(&k.oz, &c, &edit).await;
    app.decided(
        &k.oz,
        &d,
        &json!({"action": "reject", "rationale": "wrong"}),
    )
    .await;
    // A policy approval is not a decision.
    app.submitted_id(
        &k.agent,
        &json!({"task": "auto_tag", "summary": "s", "confidence": 0.99}),
    )
    .await;

    let before = stats(&app, &k.oz, "").await;
    let t = task(&before, "tag_ticket");
    assert_eq!(t["submitted"], 4);
    assert_eq!(t["decisions"], 4);
    assert_eq!(t["unchanged"], 2);
    assert_eq!(t["edited"], 1);
    assert_eq!(t["rejected"], 1);
    assert_eq!(t["edit_size"]["json_paths"], 1);
    assert_eq!(t["unchanged_rate"], 0.5);
    let (low, high) = (
        t["wilson_low"].as_f64().expect("low"),
        t["wilson_high"].as_f64().expect("high"),
    );
    // Wilson 95% for 2 of 4: [0.150, 0.850].
    assert!(
        (low - 0.150).abs() < 0.001 && (high - 0.850).abs() < 0.001,
        "{low} {high}"
    );
    let p50 = t["time_to_decision_p50_s"].as_f64().expect("p50");
    assert!((p50 - 60.0).abs() / 60.0 < 0.02, "p50 {p50}");
    assert_eq!(t["sla_compliance"], 1.0);
    assert_eq!(t["level"], 2);
    assert_eq!(t["base_level"], 2);
    assert_eq!(t["monitoring"], Value::Null);
    let buckets = t["confidence_buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 20);
    assert_eq!(buckets[19]["to"], 1.0);
    assert_eq!(buckets[19]["decisions"], 2);
    assert_eq!(buckets[19]["unchanged"], 2);
    assert_eq!(buckets[14]["decisions"], 1);
    let auto = task(&before, "auto_tag");
    assert_eq!(
        (auto["submitted"].clone(), auto["decisions"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(auto["monitoring"]["checked"], 0);
    let kpis = &before["kpis"];
    assert_eq!(kpis["approval_sla_compliance"], 1.0);
    assert_eq!(kpis["audit_readiness"]["chain_ok"], true);
    assert_eq!(kpis["audit_readiness"]["decisions_with_rationale"], 0.5);
    assert_eq!(before["window"], "30d");

    app.restart().await;
    let after = stats(&app, &k.oz, "").await;
    assert_eq!(before, after);
    let one = stats(&app, &k.oz, "?task=tag_ticket&window=7d").await;
    assert_eq!(one["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(one["window"], "7d");
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_and_bad_parameters_are_refused() {
    let (app, k) = learning_app().await;
    expect_problem(app.get_path(Some(&k.agent), "/v1/stats").await, 403).await;
    expect_problem(app.get_path(None, "/v1/stats").await, 401).await;
    let p = expect_problem(
        app.get_path(Some(&k.oz), "/v1/stats?window=soon").await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["window"]);
    expect_problem(
        app.get_path(Some(&k.oz), "/v1/stats?window=400d").await,
        422,
    )
    .await;
    // A task filter that cannot be a task's name is refused, not answered with nothing.
    let p = expect_problem(
        app.get_path(Some(&k.oz), "/v1/stats?task=Tag%20Ticket")
            .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["task"]);
    for key in [&k.agent, &k.oz] {
        expect_problem(app.get_path(Some(key), "/v1/recommendations").await, 403).await;
        expect_problem(app.get_path(Some(key), "/v1/export/decisions").await, 403).await;
        let body = json!({"level": 1, "reason": "r"});
        expect_problem(set_level(&app, key, "tag_ticket", &body).await, 403).await;
    }
    expect_problem(app.get_path(Some(&k.agent), "/v1/spot-checks").await, 403).await;
    let p = expect_problem(
        app.get_path(Some(&k.oz), "/v1/spot-checks?limit=0").await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["limit"]);
    let p = expect_problem(
        app.get_path(Some(&k.admin), "/v1/export/decisions?since=yesterday")
            .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["since"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_earns_a_recommendation_and_its_promotion_restarts_the_evidence() {
    let (mut app, k) = learning_app().await;
    approve_unchanged(&app, &k, 4).await;
    let recs = expect_json(
        app.get_path(Some(&k.admin), "/v1/recommendations").await,
        200,
    )
    .await;
    assert_eq!(recs["items"], json!([]));
    approve_unchanged(&app, &k, 1).await;
    let recs = expect_json(
        app.get_path(Some(&k.admin), "/v1/recommendations").await,
        200,
    )
    .await;
    let item = &recs["items"][0];
    assert_eq!(item["task"], "tag_ticket");
    assert_eq!(item["kind"], "promote");
    assert_eq!(
        (item["from_level"].clone(), item["to_level"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(item["evidence"]["decisions"], 5);
    assert_eq!(item["evidence"]["unchanged"], 5);
    assert_eq!(item["evidence"]["unchanged_rate"], 1.0);
    assert_eq!(item["evidence"]["window"], "30d");
    assert!(
        item["evidence"]["wilson_low"]
            .as_f64()
            .is_some_and(|l| l > 0.5)
    );

    let body = json!({"level": 1, "reason": "5 of 5 approved unchanged"});
    let changed = expect_json(set_level(&app, &k.admin, "tag_ticket", &body).await, 200).await;
    assert_eq!(changed["task"], "tag_ticket");
    assert_eq!(changed["level"], 1);
    assert_eq!(changed["previous_level"], 2);
    assert_eq!(changed["evidence"]["decisions"], 5);

    // The very next submission is judged at the new level, and says why.
    let h = app.submitted(&k.agent, &tag(0.95)).await;
    assert_eq!(h["status"], "approved");
    assert_eq!(h["evaluation"]["level"], 1);
    let rule = h["evaluation"]["reasons"][0]["rule"].as_str().unwrap_or("");
    assert!(rule.starts_with("task level 1 (promoted "), "{rule}");
    assert!(rule.contains("5 of 5 approved unchanged"), "{rule}");
    let explained = expect_json(
        app.post_json(Some(&k.oz), "/v1/policy/explain", &tag(0.95))
            .await,
        200,
    )
    .await;
    assert_eq!(explained["level"], 1);
    // Confidence below the threshold still needs a person.
    let low = app.submitted(&k.agent, &tag(0.8)).await;
    assert_eq!(low["status"], "pending");

    // Evidence restarted: no decisions under level 1 yet.
    let s = stats(&app, &k.admin, "?task=tag_ticket").await;
    let t = task(&s, "tag_ticket");
    assert_eq!(
        (t["level"].clone(), t["base_level"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(t["decisions"], 0);
    assert!(t["level_since"].is_string());
    assert_eq!(t["monitoring"]["checked"], 0);
    let recs = expect_json(
        app.get_path(Some(&k.admin), "/v1/recommendations").await,
        200,
    )
    .await;
    assert_eq!(recs["items"], json!([]));

    // Audited with its evidence, and in force after a restart.
    let audit = app
        .get_path(Some(&k.admin), "/v1/audit?limit=10000")
        .await
        .text()
        .await
        .expect("audit text");
    let entry: Value = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["action"] == "task.level_changed")
        .expect("a task.level_changed entry");
    assert_eq!(entry["data"]["from_level"], 2);
    assert_eq!(entry["data"]["to_level"], 1);
    assert_eq!(entry["data"]["automatic"], false);
    assert_eq!(entry["data"]["evidence"]["decisions"], 5);
    app.restart().await;
    let h = app.submitted(&k.agent, &tag(0.95)).await;
    assert_eq!(h["evaluation"]["level"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_level_below_the_rubric_floor_is_a_409_naming_the_floor() {
    let (app, k) = learning_app().await;
    let body = json!({"level": 1, "reason": "people like it"});
    let p = expect_problem(set_level(&app, &k.admin, "reply", &body).await, 409).await;
    let detail = p["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("task rubric floor: impact medium"),
        "{detail}"
    );
    let same = json!({"level": 2, "reason": "again"});
    expect_problem(set_level(&app, &k.admin, "reply", &same).await, 409).await;
    expect_problem(set_level(&app, &k.admin, "no_such_task", &body).await, 404).await;
    let p = expect_problem(
        set_level(&app, &k.admin, "reply", &json!({"level": 0, "reason": "r"})).await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["level"]);
    let p = expect_problem(
        set_level(&app, &k.admin, "reply", &json!({"level": 3, "reason": " "})).await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["reason"]);
    // A demotion needs no evidence.
    let up = json!({"level": 3, "reason": "a bad week"});
    let changed = expect_json(set_level(&app, &k.admin, "reply", &up).await, 200).await;
    assert_eq!(changed["previous_level"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sampled_handoff_waits_in_its_teams_queue_and_one_verdict_counts_once() {
    let (app, k) = learning_app().await;
    promote_tag_ticket(&app, &k).await;
    let h = app.submitted(&k.agent, &tag(0.95)).await;
    assert_eq!(h["status"], "approved");
    assert_eq!(h["spot_check"]["verdict"], Value::Null);
    let id = id_of(&h);

    let queue = expect_json(app.get_path(Some(&k.oz), "/v1/spot-checks").await, 200).await;
    assert_eq!(queue["items"][0]["id"], id.as_str());
    let admin_queue = expect_json(app.get_path(Some(&k.admin), "/v1/spot-checks").await, 200).await;
    assert_eq!(admin_queue["items"].as_array().map(Vec::len), Some(1));
    let other = expect_json(app.get_path(Some(&k.ana), "/v1/spot-checks").await, 200).await;
    assert_eq!(other["items"], json!([]));

    let path = format!("/v1/handoffs/{id}/spot-check");
    let fine = json!({"verdict": "fine", "note": "looks right"});
    expect_problem(app.post_json(Some(&k.ana), &path, &fine).await, 404).await;
    expect_problem(app.post_json(Some(&k.agent), &path, &fine).await, 403).await;
    let p = expect_problem(
        app.post_json(Some(&k.oz), &path, &json!({"verdict": "meh"}))
            .await,
        422,
    )
    .await;
    assert_eq!(error_fields(&p), ["verdict"]);
    let checked = expect_json(app.post_json(Some(&k.oz), &path, &fine).await, 200).await;
    assert_eq!(checked["spot_check"]["verdict"], "fine");
    assert_eq!(checked["spot_check"]["by"], "oz");
    assert_eq!(checked["spot_check"]["note"], "looks right");
    assert!(checked["spot_check"]["at"].is_string());
    let again = json!({"verdict": "would_reject"});
    expect_problem(app.post_json(Some(&k.oz), &path, &again).await, 409).await;

    let queue = expect_json(app.get_path(Some(&k.oz), "/v1/spot-checks").await, 200).await;
    assert_eq!(queue["items"], json!([]));
    let s = stats(&app, &k.oz, "?task=tag_ticket").await;
    let m = &task(&s, "tag_ticket")["monitoring"];
    assert_eq!(
        (m["checked"].clone(), m["errors"].clone()),
        (json!(1), json!(0))
    );
    assert!(
        app.timeline_actions(&id)
            .await
            .contains(&"handoff.spot_checked".to_owned())
    );

    // A handoff a person decided was never drawn.
    let pending = app.submitted_id(&k.agent, &tag(0.8)).await;
    let p = expect_problem(
        app.post_json(
            Some(&k.oz),
            &format!("/v1/handoffs/{pending}/spot-check"),
            &fine,
        )
        .await,
        409,
    )
    .await;
    assert!(p["detail"].as_str().unwrap_or("").contains("not drawn"));
}

#[tokio::test(flavor = "multi_thread")]
async fn spot_check_errors_demote_at_once_alerting_the_team_and_the_demotion_survives_a_restart() {
    let (mut app, k) = learning_app().await;
    promote_tag_ticket(&app, &k).await;
    let first = app.submitted_id(&k.agent, &tag(0.95)).await;
    let second = app.submitted_id(&k.agent, &tag(0.95)).await;
    let verdict = json!({"verdict": "would_change", "note": "wrong tag"});
    let one = app
        .post_json(
            Some(&k.oz),
            &format!("/v1/handoffs/{first}/spot-check"),
            &verdict,
        )
        .await;
    expect_json(one, 200).await;
    // One error of two allowed: still autonomous.
    assert_eq!(
        app.submitted(&k.agent, &tag(0.95)).await["status"],
        "approved"
    );
    let two = app
        .post_json(
            Some(&k.oz),
            &format!("/v1/handoffs/{second}/spot-check"),
            &verdict,
        )
        .await;
    expect_json(two, 200).await;

    // The very next submission is judged at the old level.
    let h = app.submitted(&k.agent, &tag(0.95)).await;
    assert_eq!(h["status"], "pending");
    let rule = h["evaluation"]["reasons"][0]["rule"].as_str().unwrap_or("");
    assert!(rule.starts_with("task level 2 (demoted "), "{rule}");
    assert!(rule.contains("automatically"), "{rule}");
    assert!(rule.contains("spot checks: 2 errors"), "{rule}");

    let s = stats(&app, &k.admin, "?task=tag_ticket").await;
    let t = task(&s, "tag_ticket");
    assert_eq!(t["level"], 2);
    assert_eq!(t["monitoring"], Value::Null);

    // The route team hears of it through its channels.
    let deliveries = expect_json(app.get_path(Some(&k.admin), "/v1/deliveries").await, 200).await;
    let demoted: Vec<&Value> = deliveries["items"]
        .as_array()
        .map(|d| d.iter().filter(|d| d["event"] == "task.demoted").collect())
        .unwrap_or_default();
    assert_eq!(demoted.len(), 1, "{deliveries}");
    let payload: Value =
        serde_json::from_str(demoted[0]["payload"].as_str().unwrap_or("{}")).expect("payload");
    assert_eq!(
        (
            payload["data"]["from_level"].clone(),
            payload["data"]["to_level"].clone()
        ),
        (json!(1), json!(2))
    );
    assert_eq!(payload["data"]["automatic"], true);
    assert_eq!(payload["data"]["task"], "tag_ticket");

    app.restart().await;
    let h = app.submitted(&k.agent, &tag(0.95)).await;
    assert_eq!(h["status"], "pending");
    let s = stats(&app, &k.admin, "?task=tag_ticket").await;
    assert_eq!(task(&s, "tag_ticket")["level"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_outcomes_demote_a_task_that_is_autonomous_in_the_file() {
    let (app, k) = learning_app().await;
    let auto = json!({"task": "auto_tag", "summary": "s", "confidence": 0.99});
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.submitted_id(&k.agent, &auto).await);
    }
    for id in &ids[..2] {
        let failed = json!({"result": "failed", "detail": "the API said no"});
        expect_json(app.outcome(&k.agent, id, &failed).await, 200).await;
    }
    let h = app.submitted(&k.agent, &auto).await;
    assert_eq!(h["status"], "pending");
    assert_eq!(h["evaluation"]["level"], 2);
    let s = stats(&app, &k.admin, "?task=auto_tag").await;
    let t = task(&s, "auto_tag");
    assert_eq!(
        (t["level"].clone(), t["base_level"].clone()),
        (json!(2), json!(1))
    );
    // The task's own figures count under its current level (evidence restarted); the
    // KPIs keep every level's.
    assert_eq!(t["outcomes"]["failed"], 0);
    let failed: i64 = s["kpis"]["incident_trend"]
        .as_array()
        .map(|w| w.iter().filter_map(|w| w["failed"].as_i64()).sum())
        .unwrap_or(0);
    assert_eq!(failed, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_export_has_each_decision_with_its_rationale_and_both_drafts() {
    let (app, k) = learning_app().await;
    let a = app.submitted_id(&k.agent, &tag(0.9)).await;
    let edit = json!({"action": "edit", "rationale": "it is a refund",
                      "draft": {"tag": "refund", "priority": "low"}});
    app.decided(&k.oz, &a, &edit).await;
    let b = app.submitted_id(&k.agent, &tag(0.9)).await;
    app.decided(&k.oz, &b, &json!({"action": "reject", "rationale": "spam"}))
        .await;
    let open = app.submitted_id(&k.agent, &tag(0.9)).await;

    let resp = app
        .get_path(Some(&k.admin), "/v1/export/decisions?task=tag_ticket")
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), "application/x-ndjson");
    let text = resp.text().await.expect("body");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "open handoffs are not exported: {text}");
    assert!(lines.iter().all(|l| l["id"] != open.as_str()));
    let edited = &lines[0];
    assert_eq!(edited["id"], a.as_str());
    assert_eq!(edited["agent_draft"]["tag"], "billing");
    assert_eq!(edited["approved_draft"]["tag"], "refund");
    assert_eq!(edited["edit"]["json_paths"], 1);
    assert_eq!(edited["decisions"][0]["action"], "edit");
    assert_eq!(edited["decisions"][0]["rationale"], "it is a refund");
    assert_eq!(edited["decisions"][0]["by"], "oz");
    assert_eq!(edited["packet"]["task"], "tag_ticket");
    assert_eq!(edited["evaluation"]["level"], 2);
    assert_eq!(lines[1]["decisions"][0]["rationale"], "spam");
    assert_eq!(lines[1]["edit"], Value::Null);

    let none = app
        .get_path(
            Some(&k.admin),
            "/v1/export/decisions?since=2999-01-01T00:00:00Z",
        )
        .await
        .text()
        .await
        .expect("body");
    assert_eq!(none, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_carry_the_learning_gauges_and_decision_histograms_by_task_and_team() {
    let (app, k) = learning_app().await;
    let id = app.submitted_id(&k.agent, &tag(0.95)).await;
    app.advance(Duration::from_secs(120));
    app.decided(&k.oz, &id, &json!({"action": "approve"})).await;
    let text = app
        .get_path(None, "/metrics")
        .await
        .text()
        .await
        .expect("metrics text");
    for line in [
        "# TYPE handoff_task_level gauge",
        "handoff_task_level{task=\"tag_ticket\",team=\"ops\"} 2",
        "handoff_task_level{task=\"auto_tag\",team=\"ops\"} 1",
        "handoff_task_decisions{task=\"tag_ticket\",team=\"ops\"} 1",
        "handoff_task_unchanged_ratio{task=\"tag_ticket\",team=\"ops\"} 1",
        "handoff_decisions_total{task=\"tag_ticket\",team=\"ops\",kind=\"unchanged\"} 1",
        "# TYPE handoff_time_to_decision_seconds histogram",
        "handoff_time_to_decision_seconds_bucket{task=\"tag_ticket\",team=\"ops\",le=\"60\"} 0",
        "handoff_time_to_decision_seconds_bucket{task=\"tag_ticket\",team=\"ops\",le=\"300\"} 1",
        "handoff_time_to_decision_seconds_count{task=\"tag_ticket\",team=\"ops\"} 1",
        "handoff_approval_sla_compliance_ratio 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
}
