//! `GET /v1/handoffs`: filters, order by role, limits and cursors (SPEC §4).

use crate::common::*;
use std::collections::HashSet;

/// One team, one reviewer, tasks whose SLAs differ, so that SLA order and submission
/// order disagree.
const DESK_POLICY: &str = r#"
[defaults]
level = 2
route = "desk"

[teams.desk]
members = ["rita"]

[teams.other]
members = ["otto"]

[tasks.slow]
route = "desk"
sla = "8h"

[tasks.fast]
route = "desk"
sla = "1h"

[tasks.middle]
route = "desk"
sla = "4h"

[tasks.elsewhere]
route = "other"
sla = "10m"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn reviewers_see_their_teams_handoffs_by_sla_due_time_and_admins_newest_first() {
    let app = TestApp::spawn_with_policy(DESK_POLICY).await;
    let agent = app.key("agent", "bot").await;
    let rita = app.key("reviewer", "rita").await;
    let slow = app.submitted_id(&agent, &packet("slow", 0.99)).await;
    let fast = app.submitted_id(&agent, &packet("fast", 0.99)).await;
    let elsewhere = app.submitted_id(&agent, &packet("elsewhere", 0.99)).await;
    let middle = app.submitted_id(&agent, &packet("middle", 0.99)).await;

    let (ids, _) = app.list_ids(&rita, &[]).await;
    assert_eq!(ids, [fast.clone(), middle.clone(), slow.clone()]);

    let (ids, _) = app.list_ids(&app.admin_key(), &[]).await;
    assert_eq!(
        ids,
        [
            middle.clone(),
            elsewhere.clone(),
            fast.clone(),
            slow.clone()
        ]
    );

    let (ids, _) = app.list_ids(&agent, &[]).await;
    assert_eq!(ids, [middle, elsewhere, fast, slow]);
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_list_only_their_own_handoffs() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let mine = app.submitted_id(&cast.agent, &client_reply()).await;
    let theirs = app.submitted_id(&cast.other_agent, &routine_ticket()).await;
    let (ids, _) = app.list_ids(&cast.agent, &[]).await;
    assert_eq!(ids, vec![mine.clone()]);
    let (ids, _) = app.list_ids(&cast.other_agent, &[]).await;
    assert_eq!(ids, vec![theirs.clone()]);
    let (ids, _) = app.list_ids(&app.admin_key(), &[]).await;
    assert_eq!(ids, [theirs, mine]);
}

#[tokio::test(flavor = "multi_thread")]
async fn reviewers_list_only_their_teams_handoffs() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let sales = app.submitted_id(&cast.agent, &client_reply()).await;
    let data = app.submitted_id(&cast.agent, &data_deletion()).await;
    let (ids, _) = app.list_ids(&cast.ana, &[]).await;
    assert_eq!(ids, [sales]);
    let (ids, _) = app.list_ids(&cast.dan, &[]).await;
    assert_eq!(ids, [data]);
    let (ids, _) = app.list_ids(&cast.sam, &[]).await;
    assert!(ids.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_filters_by_status_task_team_and_level() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let admin = app.admin_key();
    let l1 = app.submitted_id(&cast.agent, &routine_ticket()).await;
    let l2 = app.submitted_id(&cast.agent, &client_reply()).await;
    let l3 = app.submitted_id(&cast.agent, &data_deletion()).await;
    let l4 = app.submitted_id(&cast.agent, &fraud_report()).await;

    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a String>);
    let cases: Vec<Case> = vec![
        (vec![("status", "approved")], vec![&l1]),
        (vec![("status", "pending")], vec![&l2]),
        (vec![("status", "handed_over")], vec![&l3]),
        (vec![("status", "alerted")], vec![&l4]),
        (vec![("status", "rejected")], vec![]),
        (vec![("task", "delete_data")], vec![&l3]),
        (vec![("team", "sales")], vec![&l2]),
        (vec![("team", "security")], vec![&l4]),
        (vec![("level", "1")], vec![&l1]),
        (vec![("level", "4")], vec![&l4]),
        (vec![("team", "sales"), ("status", "approved")], vec![]),
        (
            vec![("task", "respond_to_client_inquiry"), ("level", "2")],
            vec![&l2],
        ),
    ];
    for (query, expected) in cases {
        let (ids, _) = app.list_ids(&admin, &query).await;
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(ids, expected, "filter {query:?}");
    }
    // The agent's view filters the same way.
    let (ids, _) = app.list_ids(&cast.agent, &[("status", "pending")]).await;
    assert_eq!(ids, [l2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_items_are_full_resources() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let h = app.submitted(&cast.agent, &client_reply()).await;
    let page = expect_json(app.list(&cast.ana, &[]).await, 200).await;
    let item = &page["items"][0];
    assert_eq!(item["id"], h["id"]);
    assert_eq!(item["status"], "pending");
    assert_eq!(item["evaluation"]["route"], "sales");
    assert!(page.as_object().expect("page").contains_key("next_cursor"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_limit_is_50() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    for _ in 0..51 {
        app.submitted(&agent, &routine_ticket()).await;
    }
    let (ids, cursor) = app.list_ids(&agent, &[]).await;
    assert_eq!(ids.len(), 50);
    assert!(cursor.is_some(), "a 51st item waits behind the cursor");
    let (rest, cursor) = app
        .list_ids(&agent, &[("cursor", cursor.as_deref().unwrap_or_default())])
        .await;
    assert_eq!(rest.len(), 1);
    assert_eq!(cursor, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_limit_over_500_is_a_422_and_500_is_fine() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key();
    let problem = expect_problem(app.list(&admin, &[("limit", "501")]).await, 422).await;
    assert!(
        error_fields(&problem).contains(&"limit".to_owned()),
        "{problem}"
    );
    expect_json(app.list(&admin, &[("limit", "500")]).await, 200).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_status_filter_is_a_422() {
    let app = TestApp::spawn().await;
    let problem = expect_problem(
        app.list(&app.admin_key(), &[("status", "approved-ish")])
            .await,
        422,
    )
    .await;
    assert!(
        error_fields(&problem).contains(&"status".to_owned()),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cursors_walk_every_item_once_newest_first() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let mut submitted = Vec::new();
    for _ in 0..7 {
        submitted.push(app.submitted_id(&agent, &routine_ticket()).await);
    }
    submitted.reverse();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut query = vec![("limit", "3")];
        if let Some(c) = &cursor {
            query.push(("cursor", c.as_str()));
        }
        let (ids, next) = app.list_ids(&agent, &query).await;
        assert!(ids.len() <= 3);
        seen.extend(ids);
        cursor = next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, submitted, "no duplicates, no gaps, newest first");
}

#[tokio::test(flavor = "multi_thread")]
async fn new_handoffs_between_pages_neither_repeat_nor_hide_older_items() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let mut older = Vec::new();
    for _ in 0..6 {
        older.push(app.submitted_id(&agent, &routine_ticket()).await);
    }
    older.reverse();
    let (first, cursor) = app.list_ids(&agent, &[("limit", "3")]).await;
    assert_eq!(first, older[..3]);
    let cursor = cursor.expect("a second page");

    let newer = app.submitted_id(&agent, &routine_ticket()).await;
    let (second, cursor) = app
        .list_ids(&agent, &[("limit", "3"), ("cursor", &cursor)])
        .await;
    assert_eq!(second, older[3..]);
    assert!(!second.contains(&newer));
    if let Some(c) = cursor {
        let (third, _) = app
            .list_ids(&agent, &[("limit", "3"), ("cursor", &c)])
            .await;
        assert!(third.is_empty(), "{third:?}");
    }
    let all: HashSet<&String> = first.iter().chain(second.iter()).collect();
    assert_eq!(all.len(), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn cursors_work_in_sla_order_for_reviewers_too() {
    let app = TestApp::spawn_with_policy(DESK_POLICY).await;
    let agent = app.key("agent", "bot").await;
    let rita = app.key("reviewer", "rita").await;
    for task in ["slow", "fast", "middle", "slow", "fast", "middle", "fast"] {
        app.submitted(&agent, &packet(task, 0.99)).await;
    }
    let (all, _) = app.list_ids(&rita, &[("limit", "500")]).await;
    assert_eq!(all.len(), 7);
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut query = vec![("limit", "2")];
        if let Some(c) = &cursor {
            query.push(("cursor", c.as_str()));
        }
        let (ids, next) = app.list_ids(&rita, &query).await;
        walked.extend(ids);
        cursor = next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(walked, all);
    let page = expect_json(app.list(&rita, &[("limit", "500")]).await, 200).await;
    let due: Vec<chrono::DateTime<chrono::FixedOffset>> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| {
            chrono::DateTime::parse_from_rfc3339(
                h["evaluation"]["sla_due_at"].as_str().unwrap_or_default(),
            )
            .expect("sla_due_at is RFC 3339")
        })
        .collect();
    assert!(
        due.windows(2).all(|w| w[0] <= w[1]),
        "ascending SLA due time: {due:?}"
    );
}
