//! The learning loop's storage: every change adds its tally in its own transaction (a
//! refused change adds nothing, and the sums survive reopening), monitor items are one per
//! handoff and stream, task levels change only from the epoch the caller read, and the
//! spot-check queue and the export read what they should.

use super::TestDatabase;
use super::fixture::*;
use crate::{ExportQuery, TaskLevel};
use handoff_domain::audit::NewEntry;
use handoff_domain::handoff::{SpotCheck, SpotVerdict};
use handoff_domain::learning::{Histogram, StreamKind, Tally};
use handoff_domain::lifecycle::Command;
use handoff_domain::{Handoff, Level};
use serde_json::json;

fn level_entry(task: &str) -> NewEntry {
    NewEntry {
        at: t0(),
        actor: "root".to_owned(),
        action: "task.level_changed".to_owned(),
        handoff_id: None,
        data: json!({"task": task}),
    }
}

fn level(task: &str, level: Level, epoch: u64) -> TaskLevel {
    TaskLevel {
        task: task.to_owned(),
        level,
        epoch,
        previous_level: Level::REVIEW,
        restore_level: Some(Level::REVIEW),
        changed_at: t0(),
        by: "root".to_owned(),
        reason: "earned".to_owned(),
        automatic: false,
    }
}

fn checked(h: &Handoff, verdict: SpotVerdict) -> crate::UpdateFn {
    let mut next = h.clone();
    next.spot_check = Some(SpotCheck {
        verdict: Some(verdict),
        by: Some("oz".to_owned()),
        at: Some(t0()),
        note: None,
    });
    next.state.version += 1;
    Box::new(move |_| {
        Ok(crate::Change {
            audit: NewEntry {
                at: t0(),
                actor: "oz".to_owned(),
                action: "handoff.spot_checked".to_owned(),
                handoff_id: Some(next.id.clone()),
                data: json!({}),
            },
            handoff: next,
            deliveries: Vec::new(),
        })
    })
}

pub async fn every_change_adds_its_tally_and_the_sums_survive_reopening(db: &dyn TestDatabase) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
    let since = Tally::hour_of(t0()) - 1;
    let a = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    let b = fx.handoff(2, "respond_to_client_inquiry", "sales-bot", t0());
    created(&store, submission(a.clone())).await;
    created(&store, submission(b.clone())).await;
    store
        .update(a.id.clone(), None, approve("ana"))
        .await
        .expect("the store answers")
        .expect("ana approves");
    // A refused change adds nothing.
    let cancel = Command::Cancel {
        by: "ops-bot".to_owned(),
    };
    let refused = store
        .update(
            b.id.clone(),
            None,
            change_by(cancel, "ops-bot", "handoff.cancelled"),
        )
        .await
        .expect("the store answers");
    assert!(refused.is_err());

    let sums = |rows: Vec<crate::DayTally>| {
        let mut c = handoff_domain::learning::Counts::default();
        for r in rows
            .iter()
            .filter(|r| r.task == "respond_to_client_inquiry")
        {
            c.add(&r.counts);
        }
        c
    };
    let c = sums(store.tallies(since, None).await.expect("tallies read"));
    assert_eq!((c.submitted, c.decisions, c.unchanged), (2, 1, 1));
    let hist = store
        .histograms(since, "respond_to_client_inquiry".to_owned())
        .await
        .expect("histograms read");
    let decided: u64 = hist
        .iter()
        .filter(|h| h.histogram == Histogram::TimeToDecision)
        .map(|h| h.n)
        .sum();
    assert_eq!(decided, 1);
    // Hours before the window are left out.
    let later = store
        .tallies(Tally::hour_of(t0()) + 1, None)
        .await
        .expect("tallies read");
    assert!(later.is_empty(), "{later:?}");

    store.close().await;
    let store = fx.open().await;
    let c = sums(
        store
            .tallies(since, Some("respond_to_client_inquiry".to_owned()))
            .await
            .expect("tallies read"),
    );
    assert_eq!((c.submitted, c.decisions, c.unchanged), (2, 1, 1));
}

pub async fn a_task_level_changes_only_from_the_epoch_read_and_survives_reopening(
    db: &dyn TestDatabase,
) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
    let one = level("tag", Level::AUTONOMOUS, 1);
    assert!(
        store
            .set_task_level(one.clone(), 0, level_entry("tag"), Vec::new())
            .await
            .expect("the store answers")
    );
    // A second change from epoch 0 lost the race: nothing written.
    assert!(
        !store
            .set_task_level(
                level("tag", Level::STOP, 1),
                0,
                level_entry("tag"),
                Vec::new()
            )
            .await
            .expect("the store answers")
    );
    assert_eq!(
        store.task_levels().await.expect("levels read"),
        vec![one.clone()]
    );
    assert_one_valid_chain(&store, 1).await;
    store.close().await;
    let store = fx.open().await;
    assert_eq!(store.task_levels().await.expect("levels read"), vec![one]);
}

pub async fn spot_checks_queue_by_team_and_their_items_count_once(db: &dyn TestDatabase) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
    let mut h = fx.handoff(1, "categorize_support_ticket", "ops-bot", t0());
    assert!(h.is_autonomous());
    h.spot_check = Some(SpotCheck::default());
    created(&store, submission(h.clone())).await;
    let ops = Some(vec!["ops".to_owned()]);
    let queue = store
        .spot_checks(ops.clone(), None, 10)
        .await
        .expect("queue reads");
    assert_eq!(
        queue.iter().map(|h| h.id.clone()).collect::<Vec<_>>(),
        [h.id.clone()]
    );
    let sales = store
        .spot_checks(Some(vec!["sales".to_owned()]), None, 10)
        .await
        .expect("queue reads");
    assert!(sales.is_empty());

    store
        .update(h.id.clone(), None, checked(&h, SpotVerdict::WouldChange))
        .await
        .expect("the store answers")
        .expect("checked");
    assert!(
        store
            .spot_checks(ops, None, 10)
            .await
            .expect("queue reads")
            .is_empty()
    );
    let items = store
        .recent_items(
            "categorize_support_ticket".to_owned(),
            0,
            StreamKind::SpotChecks,
            10,
        )
        .await
        .expect("items read");
    assert_eq!(items, [true]);
    let none = store
        .recent_items(
            "categorize_support_ticket".to_owned(),
            1,
            StreamKind::SpotChecks,
            10,
        )
        .await
        .expect("items read");
    assert!(none.is_empty());
}

pub async fn the_export_reads_handoffs_no_longer_open_in_id_order(db: &dyn TestDatabase) {
    let fx = Fixture::new(db);
    let store = fx.open().await;
    let open = fx.handoff(1, "respond_to_client_inquiry", "sales-bot", t0());
    let done = fx.handoff(2, "respond_to_client_inquiry", "sales-bot", t0());
    let auto = fx.handoff(3, "categorize_support_ticket", "ops-bot", t0());
    for h in [&open, &done, &auto] {
        created(&store, submission(h.clone())).await;
    }
    store
        .update(done.id.clone(), None, approve("ana"))
        .await
        .expect("the store answers")
        .expect("ana approves");
    let q = ExportQuery {
        limit: 10,
        ..ExportQuery::default()
    };
    let all: Vec<String> = store
        .export(q.clone())
        .await
        .expect("export reads")
        .into_iter()
        .map(|h| h.id)
        .collect();
    let mut want = vec![done.id.clone(), auto.id.clone()];
    want.sort();
    assert_eq!(all, want);
    let one = store
        .export(ExportQuery {
            task: Some("categorize_support_ticket".to_owned()),
            ..q.clone()
        })
        .await
        .expect("export reads");
    assert_eq!(one.len(), 1);
    let after = store
        .export(ExportQuery {
            after: Some(want[0].clone()),
            ..q
        })
        .await
        .expect("export reads");
    assert_eq!(after.len(), 1);
}
