//! What the metrics read at a scrape: open handoffs by team, level and status, and the
//! outbox's backlog with its earliest due attempt.

use super::TestDatabase;
use super::fixture::*;
use crate::{OPEN_STATUSES, OpenCount, StoreGauges};
use std::collections::BTreeMap;

pub async fn gauges_count_open_handoffs_by_team_level_and_status_and_the_outbox_backlog(
    db: &dyn TestDatabase,
) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
    assert_eq!(
        store.gauges().await.expect("gauges"),
        StoreGauges::default()
    );
    let tasks = [
        "respond_to_client_inquiry",
        "categorize_support_ticket",
        "publish_content",
        "make_purchase",
    ];
    let mut stored = Vec::new();
    for n in 0..12u32 {
        let task = tasks[n as usize % tasks.len()];
        let h = fx.handoff(n, task, "sales-bot", t0() + minutes(n.into()));
        let mut sub = submission(h.clone());
        if n < 3 {
            sub.deliveries = vec![delivery(
                &format!("msg_{n}"),
                &h,
                t0() + minutes(10 - i64::from(n)),
            )];
        }
        stored.push(created(&store, sub).await);
    }
    let mut want: BTreeMap<(String, u8, &str), u64> = BTreeMap::new();
    for h in &stored {
        if OPEN_STATUSES.contains(&h.state.status) {
            *want
                .entry((
                    h.state.assigned_team.clone(),
                    h.evaluation.level.get(),
                    h.state.status.as_str(),
                ))
                .or_default() += 1;
        }
    }
    assert!(!want.is_empty(), "the example policy leaves some open");
    let g = store.gauges().await.expect("gauges");
    let got: BTreeMap<(String, u8, &str), u64> = g
        .open
        .iter()
        .map(
            |OpenCount {
                 team,
                 level,
                 status,
                 count,
             }| { ((team.clone(), *level, status.as_str()), *count) },
        )
        .collect();
    assert_eq!(got, want);
    assert_eq!(g.outbox_pending, 3);
    assert_eq!(g.outbox_oldest_due, Some(t0() + minutes(8)));
    store.close().await;
}
