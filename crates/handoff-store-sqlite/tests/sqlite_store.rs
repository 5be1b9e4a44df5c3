//! What only the SQLite store does or must withstand, through the [`Store`] trait on a
//! temporary file: the single writer's batches (an update queued right behind its
//! submission sees it; the callers of a failed batch hear its failure, and the writer
//! goes on), two stores on one file writing at once, and rows edited in the
//! file behind the store's back (the audit chain names the first edited entry; a role or
//! a channel this build does not know is an error that names it).
//!
//! Everything every backend must do is in the store test suite (`store_suite.rs`).

mod common;

use common::TempFile;
use handoff_domain::lifecycle::Status;
use handoff_store::testsuite::fixture::*;
use handoff_store::{StoreError, Submitted, UpdateFn};

/// The writer's contract: operations in one batch apply in arrival order and see each
/// other's effects. The server cannot hit this today (an id is learned only after its
/// commit), but any caller that makes its own ids can.
#[tokio::test(flavor = "current_thread")]
async fn an_update_queued_right_behind_its_submission_sees_it() {
    let db = TempFile::new();
    let fx = Fixture::new(&db);
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

#[tokio::test(flavor = "multi_thread")]
async fn two_stores_on_one_file_writing_at_once_keep_one_valid_chain() {
    let db = TempFile::new();
    let fx = Fixture::new(&db);
    // As `handoff keys create` beside a running server: two writers, one file.
    let server = fx.open().await;
    let beside = fx.open().await;

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
    let db = TempFile::new();
    let fx = Fixture::new(&db);
    let store = fx.open().await;
    for n in 0..5 {
        let h = fx.handoff(n, "respond_to_client_inquiry", "sales-bot", t0());
        created(&store, submission(h)).await;
    }
    let url = format!("sqlite:{}", db.path.display());
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
    let db = TempFile::new();
    let fx = Fixture::new(&db);
    let store = fx.open().await;
    let (key, audit) = key_record("ana");
    assert!(
        store
            .create_key(key.clone(), audit)
            .await
            .expect("the key is stored")
    );
    let url = format!("sqlite:{}", db.path.display());
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

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_whose_channel_this_build_does_not_know_is_an_error_that_names_it() {
    use sqlx::Connection;
    let db = TempFile::new();
    let fx = Fixture::new(&db);
    let store = fx.open().await;
    let h = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    let mut sub = submission(h.clone());
    sub.deliveries = vec![delivery("msg_a", &h, t0())];
    created(&store, sub).await;
    let url = format!("sqlite:{}", db.path.display());
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

/// The raw `doc` and `state` columns of one handoff, read behind the store's back.
async fn raw_row(db: &TempFile, id: &str) -> (String, Option<String>) {
    use sqlx::{Connection, Row};
    let url = format!("sqlite:{}", db.path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("a second connection");
    let row = sqlx::query("SELECT doc, state FROM handoff_records WHERE id = ?")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .expect("the row");
    let out = (row.get(0), row.get(1));
    conn.close().await.expect("the connection closes");
    out
}

/// `h` submitted and approved by ana in a store on `fx`'s database, closed after.
async fn stored_approved(fx: &Fixture<'_>, h: &handoff_domain::Handoff) -> handoff_domain::Handoff {
    let store = fx.open().await;
    created(&store, submission(h.clone())).await;
    let approved = store
        .update(h.id.clone(), None, approve("ana"))
        .await
        .expect("the store answers")
        .expect("the approval applies");
    store.close().await;
    approved
}

/// Handoff `id` as a store opened afresh on `fx`'s database reads it (nothing in memory),
/// closed after.
async fn read_afresh(fx: &Fixture<'_>, id: &str) -> Option<handoff_domain::Handoff> {
    let store = fx.open().await;
    let read = store.get(id).await.expect("the store reads");
    store.close().await;
    read
}

/// The lean write path: the record is written whole once, at creation; a change writes
/// only the state row, and reading lays it over the record. A store opened afresh (nothing
/// in memory) reads the changed handoff exactly as the writer answered it.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_writes_only_the_state_and_reads_back_whole() {
    let db = TempFile::new();
    let fx = Fixture::new(&db);
    let store = fx.open().await;
    let h = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    created(&store, submission(h.clone())).await;
    let (doc, state) = raw_row(&db, &h.id).await;
    assert!(state.is_none(), "a new row has no state row yet");

    let approved = store
        .update(h.id.clone(), None, approve("ana"))
        .await
        .expect("the store answers")
        .expect("the approval applies");
    let (doc_after, state_after) = raw_row(&db, &h.id).await;
    assert_eq!(
        doc_after, doc,
        "the record written at creation is not rewritten"
    );
    let state_after = state_after.expect("the change wrote the state row");
    assert!(
        !state_after.contains("current_draft") && !state_after.contains("Draft 1"),
        "a state without edits leaves the agent's draft to the record: {state_after}"
    );
    assert!(
        state_after.len() < doc.len(),
        "the state row ({} bytes) is smaller than the record ({} bytes)",
        state_after.len(),
        doc.len()
    );
    store.close().await;

    assert_eq!(read_afresh(&fx, &h.id).await, Some(approved));
}

/// The record keeps the agent's draft once, in the packet (the lifecycle's version 1 is
/// the same draft); a store opened afresh reads the handoff with its draft whole, and an
/// edit, which is a draft of its own, is kept in the state.
#[tokio::test(flavor = "multi_thread")]
async fn the_record_keeps_the_agents_draft_once_and_reads_it_back_whole() {
    let db = TempFile::new();
    let fx = Fixture::new(&db);
    let store = fx.open().await;
    let h = fx.handoff(7, "respond_to_client_inquiry", "sales-bot", t0());
    assert!(h.state.current_draft.is_some(), "the fixture has a draft");
    created(&store, submission(h.clone())).await;
    let (doc, _) = raw_row(&db, &h.id).await;
    assert_eq!(doc.matches("Draft 7").count(), 1, "the draft once: {doc}");
    store.close().await;

    assert_eq!(read_afresh(&fx, &h.id).await, Some(h));
}

/// An approved handoff's two receipts sign one payload under two algorithm names: the
/// state row keeps that payload once (the second receipt detached from it), and a store
/// opened afresh reads both receipts whole, as the writer answered them.
#[tokio::test(flavor = "multi_thread")]
async fn the_receipts_payload_is_stored_once_and_both_read_back_whole() {
    let db = TempFile::new();
    let fx = Fixture::new(&db);
    let store = fx.open().await;
    let h = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    created(&store, submission(h.clone())).await;
    let payload = "eyJoYW5kb2ZmIjoiaG5kXzEiLCJhcHByb3ZlcnMiOlsiYW5hIl19";
    let eddsa = format!("eyJhbGciOiJFZERTQSJ9.{payload}.c2lnLWVkZHNh");
    let ed25519 = format!("eyJhbGciOiJFZDI1NTE5In0.{payload}.c2lnLWVkMjU1MTk");
    let approve = approve("ana");
    let (r1, r2) = (eddsa.clone(), ed25519.clone());
    let with_receipts: UpdateFn = Box::new(move |h| {
        let mut change = approve(h)?;
        change.handoff.receipt = Some(r1);
        change.handoff.receipt_ed25519 = Some(r2);
        Ok(change)
    });
    let approved = store
        .update(h.id.clone(), None, with_receipts)
        .await
        .expect("the store answers")
        .expect("the approval applies");
    assert_eq!(approved.receipt_ed25519.as_deref(), Some(ed25519.as_str()));
    let (_, state) = raw_row(&db, &h.id).await;
    let state = state.expect("the change wrote the state row");
    assert_eq!(
        state.matches(payload).count(),
        1,
        "the payload once in the state: {state}"
    );
    store.close().await;

    let read = read_afresh(&fx, &h.id).await.expect("the handoff");
    assert_eq!(read.receipt.as_deref(), Some(eddsa.as_str()));
    assert_eq!(read.receipt_ed25519.as_deref(), Some(ed25519.as_str()));
    assert_eq!(read, approved);
}

/// A row written before the lean schema (the whole record in `doc`, no `state`) reads as
/// it was, and its next change is laid over it.
#[tokio::test(flavor = "multi_thread")]
async fn a_row_written_before_the_state_column_reads_and_changes_as_before() {
    use sqlx::Connection;
    let db = TempFile::new();
    let fx = Fixture::new(&db);
    let h = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    let approved = stored_approved(&fx, &h).await;
    // As the previous schema stored it: the whole approved record in `doc`.
    let url = format!("sqlite:{}", db.path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("a second connection");
    sqlx::query(
        "UPDATE handoff_docs SET doc = ? WHERE n = (SELECT doc_n FROM handoffs WHERE id = ?)",
    )
    .bind(serde_json::to_string(&approved).expect("a record serialises"))
    .bind(&h.id)
    .execute(&mut conn)
    .await
    .expect("the legacy record");
    sqlx::query("UPDATE handoffs SET state = NULL WHERE id = ?")
        .bind(&h.id)
        .execute(&mut conn)
        .await
        .expect("the legacy row");
    conn.close().await.expect("the connection closes");

    let store = fx.open().await;
    assert_eq!(
        store.get(&h.id).await.expect("the store reads"),
        Some(approved.clone())
    );
    let executed = store
        .update(
            h.id.clone(),
            None,
            change_by(
                handoff_domain::Command::Outcome {
                    by: "sales-bot".into(),
                    result: handoff_domain::lifecycle::OutcomeResult::Executed,
                    detail: Some("sent".into()),
                    draft_sha256: None,
                },
                "sales-bot",
                "handoff.outcome",
            ),
        )
        .await
        .expect("the store answers")
        .expect("the outcome applies");
    assert_eq!(executed.state.status, Status::Executed);
    store.close().await;
    let store = fx.open().await;
    assert_eq!(
        store.get(&h.id).await.expect("the store reads"),
        Some(executed)
    );
    store.close().await;
}

/// A database made before the records moved to a table of their own (migration 8): its
/// rows, one never changed and one changed since, read back whole after the migration,
/// and change as any other.
#[tokio::test(flavor = "multi_thread")]
async fn rows_written_before_the_records_table_move_into_it() {
    use sqlx::Connection;
    let db = TempFile::new();
    let fx = Fixture::new(&db);
    handoff_store_sqlite::migrate_until(&db.path, 7)
        .await
        .expect("the schema of migration 7");
    let fresh = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    let decided = fx.handoff(2, "respond_to_client_inquiry", "sales-bot", t0());
    // The second as approved, its state written over its record as migration 7 did.
    let scratch = TempFile::new();
    let approved = stored_approved(&Fixture::new(&scratch), &decided).await;
    let url = format!("sqlite:{}", db.path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("a connection");
    for (h, state) in [
        (&fresh, None),
        (
            &decided,
            Some(handoff_store::record::encode_state(&approved)),
        ),
    ] {
        sqlx::query(
            "INSERT INTO handoffs (id, agent, task, status, level, assigned_team, version, \
             sla_due_ms, expires_ms, created_ms, updated_ms, doc, state) \
             VALUES (?, ?, ?, ?, ?, ?, 1, 0, 0, 0, 0, ?, ?)",
        )
        .bind(&h.id)
        .bind(h.agent())
        .bind(&h.task)
        .bind(h.state.status.as_str())
        .bind(i64::from(h.evaluation.level.get()))
        .bind(&h.state.assigned_team)
        // The whole handoff, the agent's draft twice (in the packet and the lifecycle),
        // as records were written then.
        .bind(serde_json::to_string(h).expect("a handoff serialises"))
        .bind(state)
        .execute(&mut conn)
        .await
        .expect("a row as migration 7 stored it");
    }
    conn.close().await.expect("the connection closes");

    let store = fx.open().await;
    assert_eq!(
        store.get(&fresh.id).await.expect("the store reads"),
        Some(fresh.clone())
    );
    assert_eq!(
        store.get(&decided.id).await.expect("the store reads"),
        Some(approved)
    );
    let now_approved = store
        .update(fresh.id.clone(), None, approve("ana"))
        .await
        .expect("the store answers")
        .expect("the approval applies");
    store.close().await;
    assert_eq!(read_afresh(&fx, &fresh.id).await, Some(now_approved));
}

/// A stored record that no longer decodes fails the change that reads it, with the reason
/// (the change is computed on the record read from the file, in the handoff's turn), and
/// the writer goes on: the next write commits after the chain's tail as the file has it.
/// (A batch that fails inside the writer answers each of its callers with the failure:
/// `process::diskfull` fills the disk under it.)
#[tokio::test(flavor = "multi_thread")]
async fn a_record_that_no_longer_decodes_fails_its_change_and_the_writer_goes_on() {
    use sqlx::Connection;
    let db = TempFile::new();
    let fx = Fixture::new(&db);
    let store = fx.open().await;
    let h = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    created(&store, submission(h.clone())).await;
    store.close().await;
    // A stored record that no longer decodes.
    let url = format!("sqlite:{}", db.path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("a second connection");
    sqlx::query(
        "UPDATE handoff_docs SET doc = 'not a record' \
         WHERE n = (SELECT doc_n FROM handoffs WHERE id = ?)",
    )
    .bind(&h.id)
    .execute(&mut conn)
    .await
    .expect("the edit");
    conn.close().await.expect("the connection closes");

    let store = fx.open().await;
    let err = store
        .update(h.id.clone(), None, approve("ana"))
        .await
        .expect_err("the change failed");
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    assert!(err.to_string().contains("decoding"), "{err}");
    created(
        &store,
        submission(fx.handoff(2, "respond_to_client_inquiry", "sales-bot", t0())),
    )
    .await;
    assert_one_valid_chain(&store, 2).await;
    store.close().await;
}
