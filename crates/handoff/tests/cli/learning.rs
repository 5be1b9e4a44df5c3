//! The learning loop's commands (SPEC §6, §7) run as a user runs them, against a real
//! server: `stats` as a table and as the JSON of `GET /v1/stats`, `tasks promote|demote`
//! (the level read from the server, the evidence printed, the 409 of a rubric floor), and
//! `export decisions` streaming the NDJSON export; `simulate` in a tiny run.

use super::client::{client, failed, printed_json, run, succeeded};
use crate::common::*;
use serde_json::{Value, json};

/// A level-2 task of the example policy without a rubric floor, routed to `data` (dan).
const ANOMALY: &str = "report_data_anomaly";
/// A level-2 task whose rubric floor (medium impact) keeps it at level 2 or above.
const REPLY: &str = "respond_to_client_inquiry";

async fn decided_reply(app: &TestApp, cast: &Cast) -> String {
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    app.decided(
        &cast.ana,
        &id,
        &json!({"action": "approve", "rationale": "fine"}),
    )
    .await;
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_prints_each_task_and_the_kpis_and_its_json_is_the_api_s() {
    let app = TestApp::spawn_manual(None, &[]).await;
    let cast = app.cast().await;
    decided_reply(&app, &cast).await;
    let admin = app.admin_key();

    let text = succeeded(&client(&app, &admin, &["stats"]).await);
    assert!(text.starts_with("window 30d\n"), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with(REPLY))
        .unwrap_or_else(|| panic!("no {REPLY} row in\n{text}"));
    assert!(line.contains("100.0%"), "{line}");
    assert!(
        text.contains("promotion: 1 decision, fewer than the 30 required"),
        "{text}"
    );
    assert!(text.contains("KPIs"), "{text}");
    assert!(text.contains("chain verified"), "{text}");

    let printed = printed_json(&client(&app, &cast.ana, &["stats", "--json"]).await);
    let api = expect_json(app.get_path(Some(&cast.ana), "/v1/stats").await, 200).await;
    assert_eq!(printed, api);

    let one = printed_json(
        &client(
            &app,
            &admin,
            &["stats", "--json", "--task", REPLY, "--window", "7d"],
        )
        .await,
    );
    assert_eq!(one["window"], "7d");
    assert_eq!(one["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(one["tasks"][0]["decisions"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_is_refused_to_an_agent_and_a_bad_window_names_the_field() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let err = failed(&client(&app, &cast.agent, &["stats"]).await);
    assert!(err.starts_with("error: 403"), "{err}");
    let err = failed(&client(&app, &app.admin_key(), &["stats", "--window", "soon"]).await);
    assert!(err.contains("422") && err.contains("window"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_promote_and_demote_step_from_the_level_in_force_and_print_the_evidence() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let admin = app.admin_key();
    let id = app.submitted_id(&cast.agent, &packet(ANOMALY, 0.9)).await;
    app.decided(&cast.dan, &id, &json!({"action": "approve"}))
        .await;

    let text = succeeded(
        &client(
            &app,
            &admin,
            &["tasks", "promote", ANOMALY, "--reason", "earned it"],
        )
        .await,
    );
    assert_eq!(
        text,
        format!(
            "{ANOMALY}: level 1 (was 2)\nevidence over 30d: 1 decision, 1 approved unchanged \
             (100.0%), Wilson 95% lower bound 0.207\n"
        )
    );
    let h = app.submitted(&cast.agent, &packet(ANOMALY, 0.9)).await;
    assert_eq!(h["status"], "approved", "{h}");

    let back = printed_json(
        &client(
            &app,
            &admin,
            &["tasks", "demote", ANOMALY, "--reason", "too soon", "--json"],
        )
        .await,
    );
    assert_eq!(back["level"], 2);
    assert_eq!(back["previous_level"], 1);
    assert!(back["evidence"]["decisions"].is_number(), "{back}");

    let text = succeeded(
        &client(
            &app,
            &admin,
            &[
                "tasks",
                "demote",
                ANOMALY,
                "--level",
                "3",
                "--reason",
                "hand it over",
            ],
        )
        .await,
    );
    assert!(
        text.starts_with(&format!("{ANOMALY}: level 3 (was 2)\n")),
        "{text}"
    );
    let timeline = app.audit_verify().await;
    assert_eq!(timeline["ok"], true, "{timeline}");
}

#[tokio::test(flavor = "multi_thread")]
async fn promoting_below_a_rubric_floor_exits_1_naming_the_floor() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key();
    let err = failed(&client(&app, &admin, &["tasks", "promote", REPLY, "--reason", "x"]).await);
    assert!(err.starts_with("error: 409"), "{err}");
    assert!(err.contains("cannot go below level 2"), "{err}");

    let err = failed(
        &client(
            &app,
            &admin,
            &["tasks", "promote", "no_such_task", "--reason", "x"],
        )
        .await,
    );
    assert!(err.contains("404"), "{err}");
    let cast = app.cast().await;
    let err = failed(
        &client(
            &app,
            &cast.ana,
            &["tasks", "demote", REPLY, "--level", "3", "--reason", "x"],
        )
        .await,
    );
    assert!(err.starts_with("error: 403"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn export_decisions_streams_one_json_line_per_closed_handoff() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let admin = app.admin_key();
    let first = decided_reply(&app, &cast).await;
    let second = decided_reply(&app, &cast).await;
    app.submitted_id(&cast.agent, &client_reply()).await; // still pending: not exported

    let out = succeeded(&client(&app, &admin, &["export", "decisions", "--task", REPLY]).await);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let ids: Vec<&str> = lines.iter().filter_map(|l| l["id"].as_str()).collect();
    assert_eq!(ids, [first.as_str(), second.as_str()]);
    assert_eq!(
        lines[0]["decisions"][0]["rationale"], "fine",
        "{}",
        lines[0]
    );
    assert_eq!(lines[0]["agent_draft"], CLIENT_REPLY_DRAFT);

    let later = succeeded(
        &client(
            &app,
            &admin,
            &["export", "decisions", "--since", "2999-01-01T00:00:00Z"],
        )
        .await,
    );
    assert_eq!(later, "");
    let err = failed(
        &client(
            &app,
            &admin,
            &["export", "decisions", "--until", "tomorrow"],
        )
        .await,
    );
    assert!(err.contains("422") && err.contains("until"), "{err}");
    let err = failed(&client(&app, &cast.ana, &["export", "decisions"]).await);
    assert!(err.starts_with("error: 403"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn simulate_drives_a_tiny_population_and_prints_its_figures() {
    let out = run(
        &[
            "simulate",
            "--runs",
            "2",
            "--seed",
            "7",
            "--json",
            "--no-tradeoffs",
        ],
        &[],
    )
    .await;
    let report: Value = serde_json::from_str(&succeeded(&out)).expect("the report is JSON");
    assert_eq!(report["runs"], 2);
    assert_eq!(report["promotion_98"]["runs"], 4);
    assert_eq!(report["promotion_98"]["rule_mismatches"], 0);
    assert!(
        report["promotion_98"]["earliest"]
            .as_u64()
            .is_some_and(|d| d >= 35),
        "{report}"
    );
    assert_eq!(report["jump"]["runs"], 2);
    assert_eq!(report["threshold"]["runs"], 2);
}
