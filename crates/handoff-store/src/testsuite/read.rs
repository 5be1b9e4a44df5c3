//! Reading: a reviewer's listing by due time across teams, paged by cursor; every
//! listing filter, alone and together; the next deadlines.

use super::TestDatabase;
use super::fixture::*;
use crate::{Cursor, ListQuery, Scope};
use chrono::{DateTime, Duration, Utc};
use handoff_domain::Handoff;
use handoff_domain::lifecycle::Status;

fn teams_query(teams: &[&str], limit: u32, after: Option<Cursor>) -> ListQuery {
    ListQuery {
        scope: Scope::Teams(teams.iter().map(|t| (*t).to_owned()).collect()),
        status: None,
        task: None,
        team: None,
        level: None,
        limit,
        after,
    }
}

pub async fn a_reviewer_listing_orders_two_teams_by_due_time_and_pages_without_gaps_or_repeats(
    db: &dyn TestDatabase,
) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
    // Sales answers in 2h, marketing in 8h: created at scattered times, their due times
    // interleave; a few are due at the very same moment across the teams.
    let mut in_scope = Vec::new();
    for n in 0..30u32 {
        let (task, offset) = if n % 2 == 0 {
            ("respond_to_client_inquiry", i64::from(n * 37 % 600))
        } else {
            ("publish_content", i64::from(n * 53 % 300))
        };
        let h = fx.handoff(n, task, "sales-bot", t0() + minutes(offset));
        in_scope.push(created(&store, submission(h)).await);
    }
    for k in 0..3u32 {
        let sales = fx.handoff(
            100 + k,
            "respond_to_client_inquiry",
            "sales-bot",
            t0() + minutes(360 + 5 * i64::from(k)),
        );
        let marketing = fx.handoff(
            200 + k,
            "publish_content",
            "sales-bot",
            t0() + minutes(5 * i64::from(k)),
        );
        assert_eq!(sales.evaluation.sla_due_at, marketing.evaluation.sla_due_at);
        in_scope.push(created(&store, submission(sales)).await);
        in_scope.push(created(&store, submission(marketing)).await);
    }
    // Another team's handoffs are not in the reviewer's scope.
    for n in 300..305u32 {
        let h = fx.handoff(n, "make_purchase", "sales-bot", t0() + minutes(n.into()));
        created(&store, submission(h)).await;
    }
    in_scope.sort_by_key(|h| (h.evaluation.sla_due_at, h.id.clone()));
    let expected: Vec<&str> = in_scope.iter().map(|h| h.id.as_str()).collect();

    let teams = ["sales", "marketing"];
    let all = store
        .list(teams_query(&teams, 500, None))
        .await
        .expect("the list reads");
    let ids: Vec<&str> = all.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, expected, "by due time, then id");

    let mut paged: Vec<String> = Vec::new();
    let mut after = None;
    for _ in 0..100 {
        let page = store
            .list(teams_query(&teams, 4, after.clone()))
            .await
            .expect("the list reads");
        assert!(page.len() <= 4);
        let Some(last) = page.last() else { break };
        after = Some(Cursor::After {
            sla_due_ms: last.evaluation.sla_due_at.timestamp_millis(),
            id: last.id.clone(),
        });
        paged.extend(page.iter().map(|h| h.id.clone()));
    }
    assert_eq!(paged, expected, "the pages, end to end, are the whole list");

    let sales_only = ListQuery {
        team: Some("sales".to_owned()),
        ..teams_query(&teams, 500, None)
    };
    let sales = store.list(sales_only).await.expect("the list reads");
    assert_eq!(sales.len(), 18);
    assert!(sales.iter().all(|h| h.state.assigned_team == "sales"));
    store.close().await;
}

/// Whether `h` is in the listing `q` asks for, by the query's meaning.
fn wanted(q: &ListQuery, h: &Handoff) -> bool {
    let in_scope = match &q.scope {
        Scope::All => true,
        Scope::Agent(agent) => h.agent() == agent,
        Scope::Teams(teams) => teams.contains(&h.state.assigned_team),
    };
    in_scope
        && q.status.is_none_or(|s| h.state.status == s)
        && q.task.as_ref().is_none_or(|t| &h.task == t)
        && q.team.as_ref().is_none_or(|t| &h.state.assigned_team == t)
        && q.level.is_none_or(|l| h.evaluation.level == l)
}

pub async fn a_listing_filters_by_status_task_team_and_level(db: &dyn TestDatabase) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
    // Pending (level 2), approved by policy (level 1), handed over (level 3), by two agents.
    let kinds = [
        ("respond_to_client_inquiry", 0.95),
        ("categorize_support_ticket", 0.97),
        ("delete_data", 0.95),
        ("publish_content", 0.95),
    ];
    let mut all = Vec::new();
    for n in 0..12u32 {
        let (task, confidence) = kinds[n as usize % kinds.len()];
        let agent = if n % 3 == 0 { "ops-bot" } else { "sales-bot" };
        let at = t0() + minutes(n.into());
        let h = fx.handoff_with_confidence(n, task, agent, at, confidence);
        all.push(created(&store, submission(h)).await);
    }
    // And one approved by a reviewer: level 2, like the pending ones.
    all[0] = store
        .update(all[0].id.clone(), None, approve("ana"))
        .await
        .expect("the store answers")
        .expect("ana approves");

    let query = |scope: Scope| ListQuery {
        scope,
        status: None,
        task: None,
        team: None,
        level: None,
        limit: 100,
        after: None,
    };
    let all_of = || query(Scope::All);
    let reviewer = Scope::Teams(vec!["sales".to_owned(), "marketing".to_owned()]);
    let queries = [
        ListQuery {
            status: Some(Status::Pending),
            ..all_of()
        },
        ListQuery {
            status: Some(Status::Approved),
            ..all_of()
        },
        ListQuery {
            status: Some(Status::Approved),
            level: Some(handoff_domain::Level::REVIEW),
            ..all_of()
        },
        ListQuery {
            status: Some(Status::HandedOver),
            ..all_of()
        },
        ListQuery {
            level: Some(handoff_domain::Level::AUTONOMOUS),
            ..all_of()
        },
        ListQuery {
            level: Some(handoff_domain::Level::STOP),
            ..all_of()
        },
        ListQuery {
            task: Some("publish_content".to_owned()),
            ..all_of()
        },
        ListQuery {
            team: Some("sales".to_owned()),
            ..all_of()
        },
        ListQuery {
            status: Some(Status::Pending),
            ..query(Scope::Agent("ops-bot".to_owned()))
        },
        ListQuery {
            status: Some(Status::Pending),
            level: Some(handoff_domain::Level::REVIEW),
            ..query(reviewer.clone())
        },
        ListQuery {
            status: Some(Status::Approved),
            ..query(reviewer)
        },
    ];
    for q in queries {
        let mut expected: Vec<&Handoff> = all.iter().filter(|h| wanted(&q, h)).collect();
        if matches!(q.scope, Scope::Teams(_)) {
            expected.sort_by_key(|h| (h.evaluation.sla_due_at, h.id.clone()));
        } else {
            expected.sort_by(|a, b| b.id.cmp(&a.id));
        }
        let expected: Vec<&str> = expected.iter().map(|h| h.id.as_str()).collect();
        assert!(
            !expected.is_empty() && expected.len() < all.len(),
            "{q:?} picks some, not all"
        );
        let listed = store.list(q.clone()).await.expect("the list reads");
        let ids: Vec<&str> = listed.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, expected, "{q:?}");
    }
    store.close().await;
}

pub async fn next_deadlines_lists_only_handoffs_with_one_ahead_earliest_first(
    db: &dyn TestDatabase,
) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
    let mut pending = Vec::new();
    for (n, offset) in [(1u32, 50i64), (2, 10), (3, 40), (4, 20), (5, 30)] {
        let h = fx.handoff(
            n,
            "respond_to_client_inquiry",
            "sales-bot",
            t0() + minutes(offset),
        );
        pending.push(created(&store, submission(h)).await);
    }
    // Not pending: approved by policy, handed over, and one approved by a reviewer.
    let autonomous =
        fx.handoff_with_confidence(6, "categorize_support_ticket", "ops-bot", t0(), 0.97);
    assert_eq!(
        created(&store, submission(autonomous)).await.state.status,
        Status::Approved
    );
    let handed_over = fx.handoff(7, "delete_data", "ops-bot", t0());
    assert_eq!(
        created(&store, submission(handed_over)).await.state.status,
        Status::HandedOver
    );
    let decided = pending.remove(1);
    store
        .update(decided.id.clone(), None, approve("ana"))
        .await
        .expect("the store answers")
        .expect("ana approves");

    pending.sort_by_key(|h| h.next_deadline());
    let expected: Vec<(String, DateTime<Utc>)> = pending
        .iter()
        .filter_map(|h| Some((h.id.clone(), h.next_deadline()?)))
        .collect();
    assert_eq!(
        store.next_deadlines(100).await.expect("the store reads"),
        expected
    );
    assert_eq!(
        store.next_deadlines(2).await.expect("the store reads"),
        expected[..2].to_vec()
    );
    // The first is the reminder, half the task's 2h SLA after submission.
    assert_eq!(expected[0].1, t0() + minutes(20) + Duration::hours(1));
    store.close().await;
}

/// A key is found by its name as by its digest, and by neither once revoked (how a
/// Slack user's person is checked to still hold a key).
pub async fn a_key_is_found_by_name_until_it_is_revoked(db: &dyn TestDatabase) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
    let (key, audit) = key_record("ana");
    assert!(store.create_key(key.clone(), audit).await.expect("stored"));
    assert_eq!(
        store.find_key_by_name("ana").await.expect("reads"),
        Some(key.clone())
    );
    assert_eq!(store.find_key_by_name("ben").await.expect("reads"), None);
    let (_, mut revoked) = key_record("ana");
    revoked.action = "key.revoked".to_owned();
    assert!(
        store
            .revoke_key("ana".to_owned(), revoked)
            .await
            .expect("revoked")
    );
    assert_eq!(store.find_key_by_name("ana").await.expect("reads"), None);
}

pub async fn revisions_of_lists_the_agents_handoffs_that_supersede_one_oldest_first(
    db: &dyn TestDatabase,
) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
    let task = "respond_to_client_inquiry";
    let first = created(&store, submission(fx.handoff(0, task, "sales-bot", t0()))).await;
    let revise = |n: u32, agent: &str, of: &str| {
        let mut h = fx.handoff(n, task, agent, t0() + minutes(n.into()));
        h.packet.make_mut()["supersedes"] = serde_json::json!(of);
        h
    };
    let second = created(&store, submission(revise(1, "sales-bot", &first.id))).await;
    // Unrelated: another handoff, and another agent's packet naming the same id.
    created(&store, submission(fx.handoff(2, task, "sales-bot", t0()))).await;
    created(&store, submission(revise(3, "ops-bot", &first.id))).await;
    let third = created(&store, submission(revise(4, "sales-bot", &second.id))).await;
    let fourth = created(&store, submission(revise(5, "sales-bot", &first.id))).await;

    // A revision that changed since it was stored is read as it is now.
    store
        .update(fourth.id.clone(), None, approve("ana"))
        .await
        .expect("the store answers")
        .expect("ana approves");
    let now = store
        .revisions_of("sales-bot", &first.id)
        .await
        .expect("the store reads");
    assert_eq!(now.last().map(|h| h.state.status), Some(Status::Approved));

    let ids = |hs: Vec<Handoff>| hs.into_iter().map(|h| h.id).collect::<Vec<_>>();
    let of_first = store
        .revisions_of("sales-bot", &first.id)
        .await
        .expect("the store reads");
    assert_eq!(ids(of_first), [second.id.clone(), fourth.id]);
    let of_second = store
        .revisions_of("sales-bot", &second.id)
        .await
        .expect("the store reads");
    assert_eq!(ids(of_second), std::slice::from_ref(&third.id));
    let of_third = store
        .revisions_of("sales-bot", &third.id)
        .await
        .expect("the store reads");
    assert!(of_third.is_empty());
    store.close().await;
}
