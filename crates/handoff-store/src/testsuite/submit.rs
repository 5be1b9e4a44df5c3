//! Submitting: a thousand concurrent submissions in one valid chain, and idempotency keys
//! (replayed, refused with another body, the agent's own, one winner under concurrency).

use super::TestDatabase;
use super::fixture::*;
use crate::Submitted;
use handoff_domain::Handoff;
use std::collections::HashSet;

pub async fn a_thousand_concurrent_submissions_are_all_stored_in_one_valid_chain(
    db: &dyn TestDatabase,
) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
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

pub async fn the_same_idempotency_key_and_body_replays_the_first_handoff(db: &dyn TestDatabase) {
    let fx = Fixture::new(db);
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

pub async fn concurrent_submissions_with_one_idempotency_key_store_one_handoff(
    db: &dyn TestDatabase,
) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
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
