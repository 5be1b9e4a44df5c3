//! Updating by function: a refusal writes (and publishes) nothing, a stale `If-Match` is
//! refused before the function runs, an unknown id is not found, and of racing
//! approvals exactly one is applied.

use super::TestDatabase;
use super::fixture::*;
use crate::{Refused, UpdateFn};
use handoff_domain::Handoff;
use handoff_domain::lifecycle::{Command, Status, TransitionError};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub async fn an_update_its_function_refuses_writes_nothing(db: &dyn TestDatabase) {
    let fx = Fixture::new(db);
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

    // A store may answer a commit's callers just before it publishes the commit (SQLite's
    // writer does), so the submission's event may come after the subscription; the
    // approval's may not have come yet. Whatever the refusal published would have come
    // before the approval's answer.
    while let Ok(event) = events.try_recv() {
        let seen = (event.seq, event.version, event.status);
        assert!(
            seen == (1, 1, Status::Pending) || seen == (2, 2, Status::Approved),
            "only the two changes were published: {event:?}"
        );
    }
    store.close().await;
}

pub async fn an_update_with_a_stale_if_match_is_refused_before_its_function_runs(
    db: &dyn TestDatabase,
) {
    let fx = Fixture::new(db);
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

pub async fn an_update_of_an_unknown_handoff_is_not_found(db: &dyn TestDatabase) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
    let answer = store
        .update("hnd_nobody".to_owned(), None, approve("ana"))
        .await;
    assert_eq!(answer.expect("the store answers"), Err(Refused::NotFound));
    assert_one_valid_chain(&store, 0).await;
    store.close().await;
}

pub async fn of_eight_racing_approvals_exactly_one_is_applied(db: &dyn TestDatabase) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
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
