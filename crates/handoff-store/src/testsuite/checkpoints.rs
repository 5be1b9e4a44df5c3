//! Audit checkpoints (SPEC §9): kept beside the chain while the writer commits, listed
//! newest first by cursor without gaps or repeats, and still there after reopening.

use super::TestDatabase;
use super::fixture::*;
use crate::Checkpoint;
use chrono::Duration;

fn checkpoint(seq: i64, hash: &str, n: i64) -> Checkpoint {
    Checkpoint {
        id: 0,
        seq,
        hash: hash.to_owned(),
        at: t0() + Duration::milliseconds(1000 * n + 123),
        jws: format!("header.payload{n}.signature"),
    }
}

pub async fn checkpoints_are_kept_beside_the_writer_and_listed_newest_first(db: &dyn TestDatabase) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
    assert!(store.checkpoints(None, 10).await.expect("list").is_empty());

    // Checkpoints written while the writer commits submissions: both go through.
    let mut submitting = tokio::task::JoinSet::new();
    for n in 0..20u32 {
        let store = store.clone();
        let h = fx.handoff(
            n,
            "respond_to_client_inquiry",
            "sales-bot",
            t0() + minutes(n.into()),
        );
        submitting.spawn(async move { created(&store, submission(h)).await });
    }
    let mut kept = Vec::new();
    for n in 0..12i64 {
        // The same seq may be signed twice (on demand, then at shutdown).
        let seq = 1 + n / 2;
        let cp = store
            .add_checkpoint(checkpoint(seq, &format!("{seq:064x}"), n))
            .await
            .expect("a checkpoint is kept");
        kept.push(cp);
    }
    let handoffs = submitting.join_all().await;
    assert_eq!(handoffs.len(), 20);
    assert_one_valid_chain(&store, 20).await;

    let ids: Vec<i64> = kept.iter().map(|c| c.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    assert_eq!(kept[3].seq, 2);
    assert_eq!(kept[3].at, t0() + Duration::milliseconds(3123));

    // Pages of five, newest first, by the last id seen.
    let mut listed = Vec::new();
    let mut before = None;
    loop {
        let page = store.checkpoints(before, 5).await.expect("list");
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        listed.extend(page);
    }
    let mut newest_first = kept.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);

    store.close().await;
    let store = fx.open().await;
    assert_eq!(
        store
            .checkpoints(None, 100)
            .await
            .expect("list after reopening"),
        newest_first
    );
    store.close().await;
}
