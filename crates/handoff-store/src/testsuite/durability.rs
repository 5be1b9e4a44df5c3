//! Durability: a store opened again on the same database has everything the first one
//! committed (handoffs, the log, keys, the policy) and continues the audit chain.

use super::TestDatabase;
use super::fixture::*;
use handoff_domain::lifecycle::{Command, DecisionAction};

pub async fn a_reopened_store_keeps_everything_and_continues_the_chain(db: &dyn TestDatabase) {
    let fx = Fixture::new(db);
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

/// The current draft survives reopening both ways: the agent's own, which a state without
/// edits leaves to the record written at submission, and a reviewer's edit, which the
/// state carries.
pub async fn a_reopened_store_reads_the_agents_draft_and_an_edited_one(db: &dyn TestDatabase) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
    let agents = created(
        &store,
        submission(fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0())),
    )
    .await;
    let edited = created(
        &store,
        submission(fx.handoff(2, "respond_to_client_inquiry", "sales-bot", t0())),
    )
    .await;
    let approved = store
        .update(agents.id.clone(), None, approve("ana"))
        .await
        .expect("the store answers")
        .expect("ana approves");
    let edit = Command::Decide {
        by: "ana".to_owned(),
        action: DecisionAction::Edit,
        rationale: None,
        draft: Some(serde_json::json!("Draft 2, as ana wrote it")),
        option: None,
        to_team: None,
    };
    let edited = store
        .update(
            edited.id.clone(),
            None,
            change_by(edit, "ana", "handoff.decision"),
        )
        .await
        .expect("the store answers")
        .expect("ana edits");
    assert_eq!(
        approved.state.current_draft.as_deref(),
        Some(&"Draft 1".into())
    );
    assert_eq!(
        edited.state.current_draft.as_deref(),
        Some(&"Draft 2, as ana wrote it".into())
    );
    store.close().await;
    drop(store);

    let store = fx.open().await;
    for h in [&approved, &edited] {
        assert_eq!(
            store.get(&h.id).await.expect("the store reads").as_ref(),
            Some(h)
        );
    }
    store.close().await;
}
