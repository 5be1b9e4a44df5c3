//! The SQLite store through the [`Store`] trait, on a temporary file: group commit under
//! concurrency, the audit chain, updates by function (refusals, `If-Match`, races),
//! idempotency, reopening, two stores on one file, listings and expiry.
//!
//! Handoffs are built with the domain's own constructors (`Packet::parse`,
//! `Policy::evaluate`, `Lifecycle::submitted`), as the server builds them.

use chrono::{DateTime, Duration, Utc};
use handoff_domain::audit::{AuditEntry, NewEntry};
use handoff_domain::lifecycle::{Command, DecisionAction, Status, TransitionError};
use handoff_domain::{Handoff, Packet, Policy, Role};
use handoff_store::{
    Attempted, Change, Channel, Cursor, Delivery, DeliveryState, Idempotency, KeyRecord, ListQuery,
    Refused, Scope, Store, StoreError, Submission, Submitted, UpdateFn,
};
use handoff_store_sqlite::SqliteStore;
use serde_json::json;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

// ---- building handoffs --------------------------------------------------------------------

/// A temporary database file and the example policy that judges the handoffs put in it.
struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    policy: Policy,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        let path = dir.path().join("handoff.db");
        Fixture {
            _dir: dir,
            path,
            policy: Policy::example(),
        }
    }

    async fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.path)
            .await
            .expect("the store opens")
    }

    /// Handoff number `n` of `task` by `agent`, submitted at `at` and judged by the policy.
    fn handoff(&self, n: u32, task: &str, agent: &str, at: DateTime<Utc>) -> Handoff {
        self.handoff_with_confidence(n, task, agent, at, 0.95)
    }

    fn handoff_with_confidence(
        &self,
        n: u32,
        task: &str,
        agent: &str,
        at: DateTime<Utc>,
        confidence: f64,
    ) -> Handoff {
        let packet = Packet::parse(json!({
            "task": task,
            "summary": format!("Handoff {n} of the store tests"),
            "confidence": confidence,
            "draft": format!("Draft {n}"),
        }))
        .unwrap_or_else(|e| panic!("a test packet is valid: {e:?}"));
        let evaluation = self.policy.evaluate(&packet, at);
        // `hnd_` and 26 digits: the time, then the number, so ids sort by creation.
        let id = format!("hnd_{:013}{n:013}", at.timestamp_millis());
        Handoff::submitted(id, agent, &packet, evaluation, at).expect("a packet serialises")
    }
}

/// A fixed moment, so that due and expiry times are known to the millisecond.
fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T09:00:00Z")
        .expect("a valid time")
        .with_timezone(&Utc)
}

fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

/// `h` and the `handoff.submitted` entry that records it.
fn submission(h: Handoff) -> Submission {
    let audit = h.submitted_entry();
    Submission {
        handoff: h,
        audit,
        idempotency: None,
        deliveries: Vec::new(),
    }
}

fn idempotent(h: Handoff, key: &str, body_sha256: &str) -> Submission {
    Submission {
        idempotency: Some(Idempotency {
            key: key.to_owned(),
            body_sha256: body_sha256.to_owned(),
        }),
        ..submission(h)
    }
}

/// Submits and insists that a new handoff was stored.
async fn created(store: &SqliteStore, sub: Submission) -> Handoff {
    match store.submit(sub).await.expect("the store answers") {
        Submitted::Created(h) => *h,
        other => panic!("expected a new handoff, got {other:?}"),
    }
}

/// A change made by applying `cmd` with the domain's state machine, recorded as `action`.
fn change_by(cmd: Command, actor: &str, action: &str) -> UpdateFn {
    let (actor, action) = (actor.to_owned(), action.to_owned());
    Box::new(move |h: &Handoff| {
        let now = h.updated_at + Duration::seconds(1);
        let applied = h.state.apply(cmd, now)?;
        let audit = NewEntry {
            at: now,
            actor,
            action,
            handoff_id: Some(h.id.clone()),
            data: json!({"from_status": applied.from, "to_status": applied.to}),
        };
        let handoff = Handoff {
            state: applied.state,
            updated_at: now,
            ..h.clone()
        };
        Ok(Change {
            handoff,
            audit,
            deliveries: Vec::new(),
        })
    })
}

/// `by` approves, through the state machine: refused once the handoff is not pending.
fn approve(by: &str) -> UpdateFn {
    let cmd = Command::Decide {
        by: by.to_owned(),
        action: DecisionAction::Approve,
        rationale: None,
        draft: None,
        option: None,
        to_team: None,
    };
    change_by(cmd, by, "handoff.decision")
}

async fn whole_log(store: &SqliteStore) -> Vec<AuditEntry> {
    store.audit(0, 100_000).await.expect("the log reads")
}

fn seqs(log: &[AuditEntry]) -> Vec<i64> {
    log.iter().map(|e| e.seq).collect()
}

/// Insists that the chain verifies, with `entries` entries numbered 1 to `entries`.
async fn assert_one_valid_chain(store: &SqliteStore, entries: usize) {
    let v = store.verify_audit().await.expect("the chain reads");
    assert!(v.ok, "the chain breaks at {:?}", v.first_bad_seq);
    assert_eq!(v.entries, entries as u64);
    let expected: Vec<i64> = (1..=entries as i64).collect();
    assert_eq!(seqs(&whole_log(store).await), expected);
}

fn key_record(name: &str) -> (KeyRecord, NewEntry) {
    let record = KeyRecord {
        name: name.to_owned(),
        role: Role::Reviewer,
        key_sha256: handoff_domain::canonical::sha256_hex(&json!(name)),
        created_at: t0(),
    };
    let audit = NewEntry {
        at: t0(),
        actor: "test".to_owned(),
        action: "key.created".to_owned(),
        handoff_id: None,
        data: json!({"name": name, "role": "reviewer"}),
    };
    (record, audit)
}

// ---- submitting -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_concurrent_submissions_are_all_stored_in_one_valid_chain() {
    let fx = Fixture::new();
    let store = Arc::new(fx.open().await);
    let handoffs: Vec<Handoff> = (0..1000)
        .map(|n| fx.handoff(n, "respond_to_client_inquiry", "sales-bot", t0()))
        .collect();

    let tasks: Vec<_> = handoffs
        .iter()
        .map(|h| {
            let (store, sub) = (store.clone(), submission(h.clone()));
            tokio::spawn(async move { created(&store, sub).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("a submitting task panicked");
    }

    for h in &handoffs {
        let stored = store.get(&h.id).await.expect("the store reads");
        assert_eq!(stored.as_ref(), Some(h), "{} as submitted", h.id);
    }
    assert_one_valid_chain(&store, 1000).await;
    let log = whole_log(&store).await;
    let recorded: HashSet<&str> = log.iter().filter_map(|e| e.handoff_id.as_deref()).collect();
    assert_eq!(recorded.len(), 1000, "one entry per handoff");
    assert!(log.iter().all(|e| e.action == "handoff.submitted"));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_idempotency_key_and_body_replays_the_first_handoff() {
    let fx = Fixture::new();
    let store = fx.open().await;
    let task = "respond_to_client_inquiry";
    let first = created(
        &store,
        idempotent(fx.handoff(1, task, "sales-bot", t0()), "k-1", "body-a"),
    )
    .await;

    let again = idempotent(
        fx.handoff(2, task, "sales-bot", t0() + minutes(1)),
        "k-1",
        "body-a",
    );
    match store.submit(again).await.expect("the store answers") {
        Submitted::Replayed(h) => assert_eq!(*h, first),
        other => panic!("expected a replay, got {other:?}"),
    }

    let other_body = idempotent(
        fx.handoff(3, task, "sales-bot", t0() + minutes(2)),
        "k-1",
        "body-b",
    );
    match store.submit(other_body).await.expect("the store answers") {
        Submitted::KeyReused => {}
        other => panic!("expected the key to be refused, got {other:?}"),
    }

    // Keys are the agent's own: another agent may use the same one.
    let other_agent = fx.handoff(4, task, "ops-bot", t0() + minutes(3));
    let other_id = other_agent.id.clone();
    let h = created(&store, idempotent(other_agent, "k-1", "body-a")).await;
    assert_eq!(h.id, other_id);

    // Replays and refusals wrote nothing.
    for n in [2, 3] {
        let id = fx
            .handoff(n, task, "sales-bot", t0() + minutes(i64::from(n) - 1))
            .id;
        assert_eq!(store.get(&id).await.expect("the store reads"), None);
    }
    assert_one_valid_chain(&store, 2).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_submissions_with_one_idempotency_key_store_one_handoff() {
    let fx = Fixture::new();
    let store = Arc::new(fx.open().await);
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let h = fx.handoff(n, "respond_to_client_inquiry", "sales-bot", t0());
            let (store, sub) = (store.clone(), idempotent(h, "once", "same-body"));
            tokio::spawn(async move { store.submit(sub).await.expect("the store answers") })
        })
        .collect();

    let (mut made, mut replayed) = (Vec::new(), Vec::new());
    for task in tasks {
        match task.await.expect("a submitting task panicked") {
            Submitted::Created(h) => made.push(h.id),
            Submitted::Replayed(h) => replayed.push(h.id),
            Submitted::KeyReused => panic!("the same body is no reuse"),
        }
    }
    assert_eq!(made.len(), 1, "exactly one is created");
    assert_eq!(replayed.len(), 15);
    assert!(replayed.iter().all(|id| *id == made[0]), "all replay it");
    assert_one_valid_chain(&store, 1).await;
    store.close().await;
}

// ---- updating -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn an_update_its_function_refuses_writes_nothing() {
    let fx = Fixture::new();
    let store = fx.open().await;
    let h = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    created(&store, submission(h.clone())).await;
    let mut events = store.hub().subscribe();

    // Only the submitting agent may cancel: the state machine refuses another.
    let cancel = Command::Cancel {
        by: "ops-bot".to_owned(),
    };
    let answer = store
        .update(
            h.id.clone(),
            None,
            change_by(cancel, "ops-bot", "handoff.cancelled"),
        )
        .await
        .expect("the store answers");
    assert!(
        matches!(
            answer,
            Err(Refused::Transition(TransitionError::Forbidden { .. }))
        ),
        "{answer:?}"
    );

    assert_eq!(
        store.get(&h.id).await.expect("the store reads"),
        Some(h.clone())
    );
    assert_eq!(
        store
            .timeline(&h.id)
            .await
            .expect("the timeline reads")
            .len(),
        1
    );
    assert_one_valid_chain(&store, 1).await;

    // The store still takes the next change.
    let answer = store.update(h.id.clone(), None, approve("ana")).await;
    let approved = answer.expect("the store answers").expect("ana approves");
    assert_eq!(approved.state.status, Status::Approved);
    assert_eq!(approved.version(), 2);
    assert_one_valid_chain(&store, 2).await;

    // The writer answers a batch's callers just before it publishes the batch, so the
    // submission's event may come after the subscription; the approval's may not have come
    // yet. Whatever the refusal published would have come before the approval's answer.
    while let Ok(event) = events.try_recv() {
        let seen = (event.seq, event.version, event.status);
        assert!(
            seen == (1, 1, Status::Pending) || seen == (2, 2, Status::Approved),
            "only the two changes were published: {event:?}"
        );
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_with_a_stale_if_match_is_refused_before_its_function_runs() {
    let fx = Fixture::new();
    let store = fx.open().await;
    let h = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    created(&store, submission(h.clone())).await;

    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let f: UpdateFn = Box::new(move |h: &Handoff| {
        flag.store(true, Ordering::SeqCst);
        approve("ana")(h)
    });
    let answer = store.update(h.id.clone(), Some(7), f).await;
    assert_eq!(
        answer.expect("the store answers"),
        Err(Refused::VersionMismatch { current: 1 })
    );
    assert!(!ran.load(Ordering::SeqCst), "the function never ran");
    assert_eq!(
        store.get(&h.id).await.expect("the store reads"),
        Some(h.clone())
    );

    let answer = store.update(h.id.clone(), Some(1), approve("ana")).await;
    let approved = answer
        .expect("the store answers")
        .expect("version 1 matches");
    assert_eq!(approved.version(), 2);
    assert_one_valid_chain(&store, 2).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_of_an_unknown_handoff_is_not_found() {
    let fx = Fixture::new();
    let store = fx.open().await;
    let answer = store
        .update("hnd_nobody".to_owned(), None, approve("ana"))
        .await;
    assert_eq!(answer.expect("the store answers"), Err(Refused::NotFound));
    assert_one_valid_chain(&store, 0).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn of_eight_racing_approvals_exactly_one_is_applied() {
    let fx = Fixture::new();
    let store = Arc::new(fx.open().await);
    let handoffs: Vec<Handoff> = (0..10)
        .map(|n| fx.handoff(n, "respond_to_client_inquiry", "sales-bot", t0()))
        .collect();
    for h in &handoffs {
        created(&store, submission(h.clone())).await;
    }

    // Eight reviewers at once on each of ten handoffs, all eighty in flight together.
    let tasks: Vec<_> = handoffs
        .iter()
        .flat_map(|h| (0..8).map(move |r| (h.id.clone(), format!("reviewer-{r}"))))
        .map(|(id, by)| {
            let store = store.clone();
            tokio::spawn(async move {
                let answer = store.update(id.clone(), None, approve(&by)).await;
                (id, answer.expect("the store answers"))
            })
        })
        .collect();
    let mut applied = Vec::new();
    for task in tasks {
        let (id, answer) = task.await.expect("an updating task panicked");
        match answer {
            Ok(h) => applied.push((id, h)),
            Err(Refused::Transition(TransitionError::Conflict { from, .. })) => {
                assert_eq!(from, Status::Approved, "refused as already approved");
            }
            Err(other) => panic!("an unexpected refusal: {other:?}"),
        }
    }

    assert_eq!(applied.len(), handoffs.len(), "one winner per handoff");
    let winners: HashSet<&str> = applied.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(winners.len(), handoffs.len());
    for (id, won) in &applied {
        let stored = store.get(id).await.expect("the store reads");
        assert_eq!(stored.as_ref(), Some(won), "the winner is what is stored");
        assert_eq!(won.version(), 2);
        assert_eq!(won.state.approvals.len(), 1);
        let actions: Vec<String> = store
            .timeline(id)
            .await
            .expect("the timeline reads")
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, ["handoff.submitted", "handoff.decision"]);
    }
    assert_one_valid_chain(&store, 20).await;
    store.close().await;
}

/// The writer's contract: operations in one batch apply in arrival order and see each
/// other's effects. The server cannot hit this today (an id is learned only after its
/// commit), but any caller that makes its own ids can.
#[tokio::test(flavor = "current_thread")]
async fn an_update_queued_right_behind_its_submission_sees_it() {
    let fx = Fixture::new();
    let store = fx.open().await;
    let h = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    // On one thread the writer runs only once both are queued: they share one batch.
    let (submitted, updated) = tokio::join!(
        store.submit(submission(h.clone())),
        store.update(h.id.clone(), None, approve("ana"))
    );
    assert!(matches!(
        submitted.expect("the store answers"),
        Submitted::Created(_)
    ));
    let approved = updated
        .expect("the store answers")
        .expect("the update sees the submission");
    assert_eq!(approved.state.status, Status::Approved);
    assert_eq!(
        store.get(&h.id).await.expect("the store reads"),
        Some(approved)
    );
    assert_one_valid_chain(&store, 2).await;
    store.close().await;
}

// ---- durability and sharing -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_reopened_store_keeps_everything_and_continues_the_chain() {
    let fx = Fixture::new();
    let store = fx.open().await;
    let mut handoffs = Vec::new();
    for n in 0..5 {
        let h = fx.handoff(
            n,
            "respond_to_client_inquiry",
            "sales-bot",
            t0() + minutes(n.into()),
        );
        handoffs.push(created(&store, submission(h)).await);
    }
    let approved = store
        .update(handoffs[0].id.clone(), None, approve("ana"))
        .await
        .expect("the store answers")
        .expect("ana approves");
    handoffs[0] = approved;
    let (key, audit) = key_record("ana");
    assert!(
        store
            .create_key(key.clone(), audit)
            .await
            .expect("the key is stored")
    );
    let policy = fx.policy.text().to_owned();
    store
        .set_policy(policy.clone(), Some(policy.clone()), None)
        .await
        .expect("the policy is stored");
    let before = whole_log(&store).await;
    assert_eq!(before.len(), 7);
    store.close().await;
    drop(store);

    let store = fx.open().await;
    for h in &handoffs {
        assert_eq!(
            store.get(&h.id).await.expect("the store reads").as_ref(),
            Some(h)
        );
    }
    assert_eq!(whole_log(&store).await, before, "the log as it was");
    assert_eq!(
        store
            .find_key(&key.key_sha256)
            .await
            .expect("the key reads"),
        Some(key)
    );
    let stored = store.policy().await.expect("the policy reads");
    assert_eq!(stored.active.as_deref(), Some(policy.as_str()));
    assert_eq!(stored.file_text.as_deref(), Some(policy.as_str()));

    let next = fx.handoff(9, "publish_content", "sales-bot", t0() + minutes(10));
    let next = created(&store, submission(next)).await;
    let entry = store.timeline(&next.id).await.expect("the timeline reads");
    let tail = before.last().expect("a log before");
    assert_eq!(entry.len(), 1);
    assert_eq!(entry[0].seq, tail.seq + 1, "the chain continues");
    assert_eq!(entry[0].prev_hash, tail.hash, "from the old tail");
    assert_one_valid_chain(&store, 8).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_stores_on_one_file_writing_at_once_keep_one_valid_chain() {
    let fx = Fixture::new();
    // As `handoff keys create` beside a running server: two writers, one file.
    let server = Arc::new(fx.open().await);
    let beside = Arc::new(fx.open().await);

    let mut tasks = Vec::new();
    for n in 0..200u32 {
        let store = if n % 2 == 0 { &server } else { &beside };
        let store = store.clone();
        let sub = submission(fx.handoff(n, "respond_to_client_inquiry", "sales-bot", t0()));
        tasks.push(tokio::spawn(async move {
            created(&store, sub).await;
        }));
        if n % 20 == 0 {
            let beside = beside.clone();
            let (key, audit) = key_record(&format!("reviewer-{n}"));
            tasks.push(tokio::spawn(async move {
                assert!(
                    beside
                        .create_key(key, audit)
                        .await
                        .expect("the key is stored")
                );
            }));
        }
    }
    for task in tasks {
        task.await.expect("a writing task panicked");
    }

    // Each sees everything, in one chain without a fork or a gap.
    assert_one_valid_chain(&server, 210).await;
    assert_one_valid_chain(&beside, 210).await;
    let h = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    assert!(server.get(&h.id).await.expect("the store reads").is_some());
    let (key, _) = key_record("reviewer-20");
    assert!(
        server
            .find_key(&key.key_sha256)
            .await
            .expect("the key reads")
            .is_some()
    );
    beside.close().await;
    server.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_audit_names_the_first_entry_edited_in_the_file() {
    use sqlx::Connection;
    let fx = Fixture::new();
    let store = fx.open().await;
    for n in 0..5 {
        let h = fx.handoff(n, "respond_to_client_inquiry", "sales-bot", t0());
        created(&store, submission(h)).await;
    }
    let url = format!("sqlite:{}", fx.path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("a second connection");
    sqlx::query("UPDATE audit SET actor = 'mallory' WHERE seq = 3")
        .execute(&mut conn)
        .await
        .expect("the edit");
    conn.close().await.expect("the connection closes");

    let v = store.verify_audit().await.expect("the chain reads");
    assert!(!v.ok);
    assert_eq!(v.first_bad_seq, Some(3));
    assert_eq!(v.entries, 5);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_whose_role_this_build_does_not_know_is_an_error_that_names_it() {
    use sqlx::Connection;
    let fx = Fixture::new();
    let store = fx.open().await;
    let (key, audit) = key_record("ana");
    assert!(
        store
            .create_key(key.clone(), audit)
            .await
            .expect("the key is stored")
    );
    let url = format!("sqlite:{}", fx.path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("a second connection");
    sqlx::query("UPDATE api_keys SET role = 'superuser' WHERE name = 'ana'")
        .execute(&mut conn)
        .await
        .expect("the edit");
    conn.close().await.expect("the connection closes");

    let err = store
        .find_key(&key.key_sha256)
        .await
        .expect_err("an unknown role is refused");
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    assert!(err.to_string().contains("\"superuser\""), "{err}");
    store.close().await;
}

// ---- reading ----------------------------------------------------------------------------------

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

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewer_listing_orders_two_teams_by_due_time_and_pages_without_gaps_or_repeats() {
    let fx = Fixture::new();
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

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_filters_by_status_task_team_and_level() {
    let fx = Fixture::new();
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

#[tokio::test(flavor = "multi_thread")]
async fn next_deadlines_lists_only_handoffs_with_one_ahead_earliest_first() {
    let fx = Fixture::new();
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

// ---- the outbox ---------------------------------------------------------------------------

fn delivery(id: &str, handoff: &Handoff, at: DateTime<Utc>) -> Delivery {
    Delivery::new(
        id.to_owned(),
        Some(handoff.id.clone()),
        "handoff.routed",
        Channel::Webhook,
        "http://127.0.0.1:9/hook",
        format!(
            r#"{{"type":"handoff.routed","data":{{"id":"{}"}}}}"#,
            handoff.id
        ),
        at,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_commit_with_their_change_once_per_id_and_record_attempts() {
    let fx = Fixture::new();
    let store = fx.open().await;
    let h = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    let mut sub = submission(h.clone());
    sub.deliveries = vec![
        delivery("msg_a", &h, t0()),
        delivery("msg_b", &h, t0() + minutes(1)),
    ];
    created(&store, sub).await;

    // A change that enqueues msg_a again (the same cause) and a new msg_c.
    let again = delivery("msg_a", &h, t0() + minutes(5));
    let new = delivery("msg_c", &h, t0() + minutes(2));
    let f: UpdateFn = Box::new(move |cur: &Handoff| {
        let audit = NewEntry {
            at: t0() + minutes(2),
            actor: "system".into(),
            action: "handoff.reminded".into(),
            handoff_id: Some(cur.id.clone()),
            data: json!({}),
        };
        Ok(Change {
            handoff: cur.clone(),
            audit,
            deliveries: vec![again, new],
        })
    });
    store
        .update(h.id.clone(), None, f)
        .await
        .expect("answers")
        .expect("applies");

    let due = store.due_deliveries(10, Vec::new()).await.expect("reads");
    let ids: Vec<&str> = due.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        ["msg_a", "msg_b", "msg_c"],
        "by next attempt, msg_a once"
    );
    assert_eq!(due[0].next_at, t0(), "the first msg_a stands");
    let skipping = store
        .due_deliveries(10, vec!["msg_a".to_owned()])
        .await
        .expect("reads");
    assert_eq!(skipping.len(), 2, "in-flight ones are left out");

    // Attempts: msg_a delivered, msg_b retried later, msg_c failed for good.
    let attempt = |id: &str, state, next_at| Attempted {
        id: id.to_owned(),
        state,
        attempts: 1,
        next_at,
        at: t0() + minutes(3),
        last_error: (state != DeliveryState::Delivered).then(|| "HTTP 500".to_owned()),
    };
    let entry = |action: &str| NewEntry {
        at: t0() + minutes(3),
        actor: "system".into(),
        action: action.into(),
        handoff_id: Some(h.id.clone()),
        data: json!({}),
    };
    for (a, action) in [
        (
            attempt("msg_a", DeliveryState::Delivered, t0()),
            "notification.sent",
        ),
        (
            attempt("msg_b", DeliveryState::Pending, t0() + minutes(30)),
            "notification.failed",
        ),
        (
            attempt("msg_c", DeliveryState::Failed, t0()),
            "notification.failed",
        ),
    ] {
        store
            .record_attempt(a, Some(entry(action)))
            .await
            .expect("records");
    }
    let due = store.due_deliveries(10, Vec::new()).await.expect("reads");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].next_at, t0() + minutes(30));
    let b = store
        .delivery("msg_b")
        .await
        .expect("reads")
        .expect("msg_b is there");
    assert_eq!((b.state, b.attempts), (DeliveryState::Pending, 1));
    assert_eq!(b.last_error.as_deref(), Some("HTTP 500"));

    let failed = store
        .deliveries(Some(DeliveryState::Failed), None, 10)
        .await
        .expect("reads");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, "msg_c");
    // Newest first, paged by the last id seen.
    let all = store.deliveries(None, None, 2).await.expect("reads");
    let ids: Vec<&str> = all.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["msg_c", "msg_b"]);
    let rest = store
        .deliveries(None, Some("msg_b".to_owned()), 2)
        .await
        .expect("reads");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, "msg_a");
    assert_eq!(
        store
            .delivery("msg_a")
            .await
            .expect("reads")
            .map(|d| d.state),
        Some(DeliveryState::Delivered)
    );

    // Every attempt is on the handoff's timeline, and the chain holds.
    let actions: Vec<String> = store
        .timeline(&h.id)
        .await
        .expect("reads")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "handoff.submitted",
            "handoff.reminded",
            "notification.sent",
            "notification.failed",
            "notification.failed"
        ]
    );
    assert_one_valid_chain(&store, 5).await;
    // Entries about deliveries are not handoff events (SSE replay).
    let events = store.events_after(0, 100).await.expect("reads");
    assert_eq!(events.len(), 2);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_whose_channel_this_build_does_not_know_is_an_error_that_names_it() {
    use sqlx::Connection;
    let fx = Fixture::new();
    let store = fx.open().await;
    let h = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    let mut sub = submission(h.clone());
    sub.deliveries = vec![delivery("msg_a", &h, t0())];
    created(&store, sub).await;
    let url = format!("sqlite:{}", fx.path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("a second connection");
    sqlx::query("UPDATE outbox SET channel = 'sms' WHERE id = 'msg_a'")
        .execute(&mut conn)
        .await
        .expect("the edit");
    conn.close().await.expect("the connection closes");

    let err = store
        .delivery("msg_a")
        .await
        .expect_err("an unknown channel is refused");
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    assert!(err.to_string().contains("\"sms\""), "{err}");
    store.close().await;
}
