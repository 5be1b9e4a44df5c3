//! The outbox: deliveries committed with the change that causes them, once per id;
//! attempts recorded with their audit entries; the due, per-state and paged readings.

use super::TestDatabase;
use super::fixture::*;
use crate::{Attempted, Change, DeliveryState, UpdateFn};
use handoff_domain::Handoff;
use handoff_domain::audit::NewEntry;
use serde_json::json;

pub async fn deliveries_commit_with_their_change_once_per_id_and_record_attempts(
    db: &dyn TestDatabase,
) {
    let fx = Fixture::new(db);
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
