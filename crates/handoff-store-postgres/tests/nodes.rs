//! Several nodes on one database: two `PgStore`s (two writers, two listeners) on one fresh
//! PostgreSQL database, as two `handoff serve` processes behind a load balancer. Their
//! concurrent writes make one gapless chain that verifies; of racing approvals over both
//! exactly one is applied; a delivery claimed on one is not given to the other while the
//! claim holds; and a commit, a key, the policy or a task level changed on one is heard
//! on the other.

mod common;

use common::TempDatabase;
use handoff_domain::Level;
use handoff_domain::audit::NewEntry;
use handoff_domain::lifecycle::{Status, TransitionError};
use handoff_store::testsuite::fixture::*;
use handoff_store::{Attempted, DeliveryState, Notice, Refused, Store, TaskLevel};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Long enough for anything that works, short enough for a test that hangs to fail.
const WAIT: Duration = Duration::from_secs(20);

async fn two_nodes(db: &TempDatabase) -> (Arc<dyn Store>, Arc<dyn Store>) {
    let fx = Fixture::new(db);
    (fx.open().await, fx.open().await)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_writing_at_once_keep_one_gapless_chain_that_verifies() {
    let db = TempDatabase::new().await;
    let fx = Fixture::new(&db);
    let (a, b) = two_nodes(&db).await;
    let nodes = [a.clone(), b.clone()];

    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..400u32 {
        let store = nodes[n as usize % 2].clone();
        let sub = submission(fx.handoff(n, "respond_to_client_inquiry", "sales-bot", t0()));
        tasks.push(tokio::spawn(async move { created(&store, sub).await }));
    }
    let mut handoffs = Vec::new();
    for t in tasks {
        handoffs.push(t.await.expect("a submitting task panicked"));
    }
    let elapsed = started.elapsed();
    let batches: u64 = nodes
        .iter()
        .filter_map(|s| s.writer_stats())
        .map(|w| w.batches.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    eprintln!(
        "400 submissions over two nodes: {:.0}/s, in {batches} batches",
        400.0 / elapsed.as_secs_f64()
    );
    assert!(
        batches < 400,
        "the writers group commits: {batches} batches"
    );

    // Each handoff approved on the node that did not store it.
    let mut tasks = Vec::new();
    for (n, h) in handoffs.iter().enumerate() {
        let store = nodes[(n + 1) % 2].clone();
        let id = h.id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .update(id, None, approve("ana"))
                .await
                .expect("the store answers")
                .expect("ana approves")
        }));
    }
    for t in tasks {
        assert_eq!(
            t.await.expect("an updating task panicked").state.status,
            Status::Approved
        );
    }
    assert_one_valid_chain(&a, 800).await;
    assert_one_valid_chain(&b, 800).await;
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn of_eight_racing_approvals_over_two_nodes_exactly_one_is_applied() {
    let db = TempDatabase::new().await;
    let fx = Fixture::new(&db);
    let (a, b) = two_nodes(&db).await;
    let handoffs: Vec<_> = (0..5)
        .map(|n| fx.handoff(n, "respond_to_client_inquiry", "sales-bot", t0()))
        .collect();
    for h in &handoffs {
        created(&a, submission(h.clone())).await;
    }
    let mut tasks = Vec::new();
    for h in &handoffs {
        for r in 0..8 {
            let store = if r % 2 == 0 { a.clone() } else { b.clone() };
            let id = h.id.clone();
            tasks.push(tokio::spawn(async move {
                let answer = store
                    .update(id.clone(), None, approve(&format!("reviewer-{r}")))
                    .await;
                (id, answer.expect("the store answers"))
            }));
        }
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.expect("an updating task panicked") {
            (id, Ok(h)) => winners.push((id, h)),
            (_, Err(Refused::Transition(TransitionError::Conflict { from, .. }))) => {
                assert_eq!(from, Status::Approved);
            }
            (_, Err(other)) => panic!("an unexpected refusal: {other:?}"),
        }
    }
    assert_eq!(winners.len(), handoffs.len(), "one winner per handoff");
    let ids: HashSet<&str> = winners.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), handoffs.len());
    for (id, won) in &winners {
        assert_eq!(b.get(id).await.expect("reads").as_ref(), Some(won));
        assert_eq!(won.state.approvals.len(), 1);
    }
    assert_one_valid_chain(&b, 10).await;
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_claimed_on_one_node_is_not_given_to_the_other_while_the_claim_holds() {
    let db = TempDatabase::new().await;
    let fx = Fixture::new(&db);
    let (a, b) = two_nodes(&db).await;
    let h = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    let mut sub = submission(h.clone());
    sub.deliveries = vec![delivery("msg_a", &h, t0())];
    created(&a, sub).await;

    let now = t0() + minutes(1);
    let lease = now + minutes(5);
    let on_a = a
        .claim_deliveries(now, lease, 10, Vec::new())
        .await
        .expect("claims");
    assert_eq!(on_a.due.len(), 1);
    assert_eq!(on_a.due[0].id, "msg_a");
    let on_b = b
        .claim_deliveries(now, lease, 10, Vec::new())
        .await
        .expect("claims");
    assert!(on_b.due.is_empty(), "claimed by a");
    assert_eq!(
        on_b.next_at,
        Some(lease),
        "free again when the lease lapses"
    );
    // Still not while the lease holds, then given once it has lapsed (a died mid-send).
    let during = b
        .claim_deliveries(lease - minutes(1), lease, 10, Vec::new())
        .await
        .expect("claims");
    assert!(during.due.is_empty());
    let after = lease + minutes(1);
    let on_b = b
        .claim_deliveries(after, after + minutes(5), 10, Vec::new())
        .await
        .expect("claims");
    assert_eq!(on_b.due.len(), 1, "the lapsed claim is taken over");

    // b records a failed attempt to retry later: its claim ends with it.
    let retry_at = after + minutes(2);
    let entry = NewEntry {
        at: after,
        actor: "system".into(),
        action: "notification.failed".into(),
        handoff_id: Some(h.id.clone()),
        data: serde_json::json!({}),
    };
    b.record_attempt(
        Attempted {
            id: "msg_a".into(),
            state: DeliveryState::Pending,
            attempts: 1,
            next_at: retry_at,
            at: after,
            last_error: Some("HTTP 500".into()),
        },
        Some(entry),
    )
    .await
    .expect("records");
    let on_a = a
        .claim_deliveries(retry_at, retry_at + minutes(5), 10, Vec::new())
        .await
        .expect("claims");
    assert_eq!(
        on_a.due.len(),
        1,
        "given again once its attempt is recorded"
    );
    assert_eq!(on_a.due[0].attempts, 1);
    a.record_attempt(
        Attempted {
            id: "msg_a".into(),
            state: DeliveryState::Delivered,
            attempts: 2,
            next_at: retry_at,
            at: retry_at,
            last_error: None,
        },
        None,
    )
    .await
    .expect("records");

    // Many due at once, claimed by both nodes concurrently: each is given to one.
    let h2 = fx.handoff(2, "respond_to_client_inquiry", "sales-bot", t0());
    let mut sub = submission(h2.clone());
    sub.deliveries = (0..100)
        .map(|i| delivery(&format!("msg_{i:03}"), &h2, t0()))
        .collect();
    created(&a, sub).await;
    let later = retry_at + minutes(10);
    let mut claims = Vec::new();
    for i in 0..8 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        claims.push(tokio::spawn(async move {
            store
                .claim_deliveries(later, later + minutes(5), 20, Vec::new())
                .await
                .expect("claims")
                .due
        }));
    }
    let mut given = Vec::new();
    for c in claims {
        given.extend(
            c.await
                .expect("a claiming task panicked")
                .into_iter()
                .map(|d| d.id),
        );
    }
    let distinct: HashSet<&String> = given.iter().collect();
    assert_eq!(distinct.len(), given.len(), "no delivery given twice");
    assert_eq!(
        given.len(),
        100,
        "every due one given, msg_a (delivered) not"
    );
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_committed_on_one_node_wakes_a_waiter_and_a_stream_on_the_other() {
    let db = TempDatabase::new().await;
    let fx = Fixture::new(&db);
    let (a, b) = two_nodes(&db).await;
    let h = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    created(&a, submission(h.clone())).await;

    let mut stream = b.hub().subscribe();
    let watch = b.hub().watch(&h.id);
    let woken = watch.notify().notified();
    tokio::pin!(woken);
    woken.as_mut().enable();

    let started = Instant::now();
    a.update(h.id.clone(), None, approve("ana"))
        .await
        .expect("the store answers")
        .expect("ana approves");
    tokio::time::timeout(WAIT, woken)
        .await
        .expect("b's waiter wakes for a's decision");
    eprintln!(
        "a decision on node a woke a waiter on node b after {:?}",
        started.elapsed()
    );
    // The stream may first hear the submission (if b's listener was not yet past it).
    loop {
        let e = tokio::time::timeout(WAIT, stream.recv())
            .await
            .expect("b's stream hears a's decision")
            .expect("the stream is open");
        if e.seq == 2 {
            assert_eq!((e.id.as_str(), e.status), (h.id.as_str(), Status::Approved));
            break;
        }
    }

    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_the_policy_and_task_levels_changed_on_one_node_are_notices_on_the_other() {
    let db = TempDatabase::new().await;
    let fx = Fixture::new(&db);
    let (a, b) = two_nodes(&db).await;
    let mut on_b = b.hub().notices();
    let mut on_a = a.hub().notices();

    let (key, audit) = key_record("ana");
    assert!(a.create_key(key, audit).await.expect("stored"));
    let heard = tokio::time::timeout(WAIT, on_b.recv())
        .await
        .expect("b hears of the key")
        .expect("open");
    assert_eq!(heard, Notice::Keys);

    let policy = fx.policy.text().to_owned();
    a.set_policy(policy, None, None).await.expect("stored");
    let heard = tokio::time::timeout(WAIT, on_b.recv())
        .await
        .expect("b hears of the policy")
        .expect("open");
    assert_eq!(heard, Notice::Policy);

    let level = TaskLevel {
        task: "tag".to_owned(),
        level: Level::AUTONOMOUS,
        epoch: 1,
        previous_level: Level::REVIEW,
        restore_level: Some(Level::REVIEW),
        changed_at: t0(),
        by: "root".to_owned(),
        reason: "earned".to_owned(),
        automatic: false,
    };
    let entry = NewEntry {
        at: t0(),
        actor: "root".to_owned(),
        action: "task.level_changed".to_owned(),
        handoff_id: None,
        data: serde_json::json!({"task": "tag"}),
    };
    assert!(
        a.set_task_level(level, 0, entry, Vec::new())
            .await
            .expect("stored")
    );
    let heard = tokio::time::timeout(WAIT, on_b.recv())
        .await
        .expect("b hears of the level")
        .expect("open");
    assert_eq!(heard, Notice::TaskLevels);

    // A node changes its own caches itself: it is not sent its own notices. Its listener
    // has heard all three by the time b's has (one server, commit order) or soon after.
    let (key, audit) = key_record("ben");
    assert!(b.create_key(key, audit).await.expect("stored"));
    let heard = tokio::time::timeout(WAIT, on_a.recv())
        .await
        .expect("a hears of b's key")
        .expect("open");
    assert_eq!(
        heard,
        Notice::Keys,
        "a heard nothing of its own changes first"
    );
    assert_one_valid_chain(&a, 3).await;
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listener_whose_connection_is_cut_catches_up_on_what_it_missed() {
    let db = TempDatabase::new().await;
    let fx = Fixture::new(&db);
    let (a, b) = two_nodes(&db).await;
    let h = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    created(&a, submission(h.clone())).await;
    let mut notices = b.hub().notices();
    let watch = b.hub().watch(&h.id);
    let woken = watch.notify().notified();
    tokio::pin!(woken);
    woken.as_mut().enable();

    // Every listening connection of this database is cut (a failover, a proxy's idle
    // timeout); the decision is committed while they are gone or coming back.
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .expect("connects");
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE '%LISTEN%' \
         AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .expect("terminates");
    assert_eq!(cut.len(), 2, "each node's listener: {cut:?}");
    a.update(h.id.clone(), None, approve("ana"))
        .await
        .expect("the store answers")
        .expect("ana approves");

    tokio::time::timeout(WAIT, woken)
        .await
        .expect("b's waiter wakes once its listener is back");
    // What b may have missed of keys, the policy and levels is reloaded.
    let heard = tokio::time::timeout(WAIT, notices.recv())
        .await
        .expect("b is told to reload")
        .expect("open");
    assert_eq!(heard, Notice::Keys);
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handoff_moved_to_another_team_on_one_node_names_its_previous_team_on_the_other() {
    let db = TempDatabase::new().await;
    let fx = Fixture::new(&db);
    let (a, b) = two_nodes(&db).await;
    let h = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    let h = created(&a, submission(h)).await;
    assert_eq!(h.state.assigned_team, "sales");
    let mut stream = b.hub().subscribe();

    let escalate: handoff_store::UpdateFn = Box::new(|cur| {
        let mut next = cur.clone();
        next.state.assigned_team = "marketing".to_owned();
        next.state.version += 1;
        Ok(handoff_store::Change {
            audit: NewEntry {
                at: t0(),
                actor: "system".to_owned(),
                action: "handoff.escalated".to_owned(),
                handoff_id: Some(cur.id.clone()),
                data: serde_json::json!({"from_team": "sales", "to_team": "marketing"}),
            },
            handoff: next,
            deliveries: Vec::new(),
        })
    });
    a.update(h.id.clone(), None, escalate)
        .await
        .expect("the store answers")
        .expect("moved");
    loop {
        let e = tokio::time::timeout(WAIT, stream.recv())
            .await
            .expect("b's stream hears the move")
            .expect("the stream is open");
        if e.seq == 2 {
            assert_eq!(e.assigned_team, "marketing");
            assert_eq!(e.previous_team.as_deref(), Some("sales"));
            break;
        }
    }
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_whose_connections_were_cut_while_idle_keeps_answering() {
    let db = TempDatabase::new().await;
    let fx = Fixture::new(&db);
    let store = fx.open().await;
    created(
        &store,
        submission(fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0())),
    )
    .await;
    // A restarted server or a proxy's idle timeout: every connection of the store but
    // its listener's is gone.
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .expect("connects");
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'handoff' \
         AND query NOT ILIKE '%LISTEN%' AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .expect("terminates");
    assert!(cut.len() >= 2, "the writer's and the readers': {cut:?}");

    let h = created(
        &store,
        submission(fx.handoff(2, "respond_to_client_inquiry", "sales-bot", t0())),
    )
    .await;
    assert_eq!(store.get(&h.id).await.expect("reads"), Some(h));
    assert_one_valid_chain(&store, 2).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn while_its_database_refuses_connections_each_caller_hears_the_failure_then_writes_resume() {
    let db = TempDatabase::new().await;
    let fx = Fixture::new(&db);
    let store = fx.open().await;
    let name = db
        .url
        .rsplit('/')
        .next()
        .expect("a database name")
        .to_owned();
    let server = db.url.replace(&format!("/{name}"), "/postgres");
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&server)
        .await
        .expect("connects");
    let refuse = |allow: bool| format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(refuse(false)))
        .execute(&mut admin)
        .await
        .expect("refuses");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&name)
    .execute(&mut admin)
    .await
    .expect("terminates");

    let handoffs: Vec<_> = (1..=3)
        .map(|n| fx.handoff(n, "respond_to_client_inquiry", "sales-bot", t0()))
        .collect();
    let answers = futures_util::future::join_all(
        handoffs.iter().map(|h| store.submit(submission(h.clone()))),
    )
    .await;
    for a in answers {
        match a {
            Err(handoff_store::StoreError::Write(_)) => {}
            other => panic!("expected the batch's failure, got {other:?}"),
        }
    }

    sqlx::raw_sql(sqlx::AssertSqlSafe(refuse(true)))
        .execute(&mut admin)
        .await
        .expect("allows");
    for h in handoffs {
        created(&store, submission(h)).await;
    }
    assert_one_valid_chain(&store, 3).await;
    store.close().await;
}
