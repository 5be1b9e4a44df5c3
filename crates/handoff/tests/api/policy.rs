//! `GET | PUT /v1/policy` and `POST /v1/policy/explain` (SPEC §4, §5).

use crate::common::*;
use serde_json::json;

fn version_of(text: &str) -> String {
    format!("sha256:{}", sha256_hex(text.as_bytes()))
}

/// The example policy with routine tickets no longer autonomous.
fn stricter_policy() -> String {
    let stricter = EXAMPLE_POLICY.replacen(
        "[tasks.categorize_support_ticket]\ndescription = \"Tag and file an incoming support ticket\"\nlevel = 1",
        "[tasks.categorize_support_ticket]\ndescription = \"Tag and file an incoming support ticket\"\nlevel = 2",
        1,
    );
    assert_ne!(stricter, EXAMPLE_POLICY, "the example policy changed shape");
    stricter
}

async fn get_policy(app: &TestApp) -> String {
    let resp = app.get_path(Some(&app.admin_key()), "/v1/policy").await;
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = header(&resp, "content-type");
    assert!(
        content_type.starts_with("application/toml"),
        "{content_type}"
    );
    resp.text().await.expect("the policy text")
}

async fn put_policy(app: &TestApp, key: &str, text: &str) -> reqwest::Response {
    app.client
        .put(app.url("/v1/policy"))
        .bearer_auth(key)
        .header("Content-Type", "application/toml")
        .body(text.to_owned())
        .send()
        .await
        .expect("PUT /v1/policy failed")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_policy_is_the_built_in_example() {
    let app = TestApp::spawn().await;
    assert_eq!(get_policy(&app).await, EXAMPLE_POLICY);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_policy_given_with_dash_dash_policy_is_active() {
    let app = TestApp::spawn_with_policy(&stricter_policy()).await;
    assert_eq!(get_policy(&app).await, stricter_policy());
    let agent = app.key("agent", "ops-bot").await;
    let h = app.submitted(&agent, &routine_ticket()).await;
    assert_eq!(h["status"], "pending");
    assert_eq!(
        h["evaluation"]["policy_version"],
        version_of(&stricter_policy())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_admin_reads_or_replaces_the_policy() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let ana = app.key("reviewer", "ana").await;
    for key in [&agent, &ana] {
        expect_problem(app.get_path(Some(key), "/v1/policy").await, 403).await;
        expect_problem(put_policy(&app, key, &stricter_policy()).await, 403).await;
    }
    expect_problem(app.get_path(None, "/v1/policy").await, 401).await;
    assert_eq!(get_policy(&app).await, EXAMPLE_POLICY);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_policy_judges_new_handoffs_and_leaves_old_ones_alone() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let before = app.submitted(&agent, &routine_ticket()).await;
    assert_eq!(before["status"], "approved");

    let text = stricter_policy();
    let body = expect_json(put_policy(&app, &app.admin_key(), &text).await, 200).await;
    assert_eq!(body["policy_version"], version_of(&text));
    assert_eq!(get_policy(&app).await, text);

    let after = app.submitted(&agent, &routine_ticket()).await;
    assert_eq!(after["status"], "pending");
    assert_eq!(after["evaluation"]["policy_version"], version_of(&text));

    let old = app.fetch(&agent, &id_of(&before)).await;
    assert_eq!(old["status"], "approved");
    assert_eq!(
        old["evaluation"]["policy_version"],
        version_of(EXAMPLE_POLICY)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_update_is_audited() {
    let app = TestApp::spawn().await;
    expect_json(
        put_policy(&app, &app.admin_key(), &stricter_policy()).await,
        200,
    )
    .await;
    let resp = app.get_path(Some(&app.admin_key()), "/v1/audit").await;
    let text = resp.text().await.expect("the audit log");
    assert!(text.contains("\"policy.updated\""), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_toml_is_a_422_with_line_and_column_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let bad = "[defaults]\nlevel = = 2\n";
    let problem = expect_problem(put_policy(&app, &app.admin_key(), bad).await, 422).await;
    let fields = error_fields(&problem);
    assert!(fields.iter().any(|f| f.starts_with("2:")), "{fields:?}");
    assert!(fields.iter().all(|f| is_line_column(f)), "{fields:?}");
    assert_eq!(get_policy(&app).await, EXAMPLE_POLICY);
}

fn is_line_column(field: &str) -> bool {
    field
        .split_once(':')
        .is_some_and(|(l, c)| l.parse::<u32>().is_ok() && c.parse::<u32>().is_ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_cel_is_a_422_with_line_and_column_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let bad = "[defaults]\nlevel = 2\nroute = \"ops\"\n\n[teams.ops]\nmembers = [\"oz\"]\n\n[[rules]]\nname = \"broken\"\nwhen = \"handoff.flags.((\"\nlevel = 3\n";
    let problem = expect_problem(put_policy(&app, &app.admin_key(), bad).await, 422).await;
    let fields = error_fields(&problem);
    assert!(fields.iter().any(|f| f.starts_with("10:")), "{fields:?}");
    assert!(fields.iter().all(|f| is_line_column(f)), "{fields:?}");

    let agent = app.key("agent", "ops-bot").await;
    let h = app.submitted(&agent, &routine_ticket()).await;
    assert_eq!(
        h["evaluation"]["policy_version"],
        version_of(EXAMPLE_POLICY)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_put_policy_survives_a_restart_without_dash_dash_policy() {
    let mut app = TestApp::spawn().await;
    expect_json(
        put_policy(&app, &app.admin_key(), &stricter_policy()).await,
        200,
    )
    .await;
    app.restart().await;
    assert_eq!(get_policy(&app).await, stricter_policy());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_put_policy_survives_a_restart_with_the_same_unchanged_policy_file() {
    let mut app = TestApp::spawn_with_policy(EXAMPLE_POLICY).await;
    expect_json(
        put_policy(&app, &app.admin_key(), &stricter_policy()).await,
        200,
    )
    .await;
    app.restart().await;
    assert_eq!(get_policy(&app).await, stricter_policy());
    let agent = app.key("agent", "ops-bot").await;
    assert_eq!(
        app.submitted(&agent, &routine_ticket()).await["status"],
        "pending"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_policy_file_wins_at_the_next_start() {
    let mut app = TestApp::spawn_with_policy(EXAMPLE_POLICY).await;
    expect_json(
        put_policy(&app, &app.admin_key(), &stricter_policy()).await,
        200,
    )
    .await;
    let edited = format!("{EXAMPLE_POLICY}\n# edited on disk\n");
    let file = app.policy_file().expect("a policy file").to_path_buf();
    std::fs::write(&file, &edited).expect("cannot rewrite the policy file");
    app.restart().await;
    assert_eq!(get_policy(&app).await, edited);
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_evaluates_the_seed_packet_for_any_role_without_storing_it() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    for key in [&cast.agent, &cast.ana, &app.admin_key()] {
        let resp = app
            .post_json(Some(key), "/v1/policy/explain", &seed_packet())
            .await;
        let ev = expect_json(resp, 200).await;
        assert_eq!(ev["level"], 2);
        assert_eq!(ev["risk"], "medium");
        assert_eq!(ev["route"], "sales-leads");
        assert_eq!(ev["approvals_required"], 2);
        assert_eq!(ev["flags"], json!(["four-eyes"]));
        assert_eq!(ev["policy_version"], version_of(EXAMPLE_POLICY));
        assert!(
            ev["reasons"].as_array().is_some_and(|r| r.len() >= 2),
            "{ev}"
        );
    }
    let (ids, _) = app.list_ids(&app.admin_key(), &[]).await;
    assert!(ids.is_empty(), "explain stores nothing: {ids:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_of_a_bad_packet_is_a_422_naming_the_fields() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let resp = app
        .post_json(
            Some(&agent),
            "/v1/policy/explain",
            &json!({"task": "x", "confidence": 3}),
        )
        .await;
    let problem = expect_problem(resp, 422).await;
    let fields = error_fields(&problem);
    assert!(
        fields.contains(&"confidence".to_owned()) && fields.contains(&"summary".to_owned()),
        "{fields:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_needs_a_key() {
    let app = TestApp::spawn().await;
    let resp = app
        .post_json(None, "/v1/policy/explain", &seed_packet())
        .await;
    expect_problem(resp, 401).await;
}
