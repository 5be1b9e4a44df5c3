//! What the suite's tests are built from: a [`Fixture`] (a database to open and the
//! example policy that judges the handoffs put in it), handoffs built with the domain's
//! own constructors (`Packet::parse`, `Policy::evaluate`, `Handoff::submitted`) as the
//! server builds them, changes made through the domain's state machine, and assertions
//! about the audit chain. Backends' own tests use them too.

use super::TestDatabase;
use crate::{
    Change, Channel, Delivery, Idempotency, KeyRecord, Store, Submission, Submitted, UpdateFn,
};
use chrono::{DateTime, Duration, Utc};
use handoff_domain::audit::{AuditEntry, NewEntry};
use handoff_domain::lifecycle::{Command, DecisionAction};
use handoff_domain::{Handoff, Packet, Policy, Role};
use serde_json::json;
use std::sync::Arc;

/// A database to open and the example policy that judges the handoffs put in it.
pub struct Fixture<'a> {
    db: &'a dyn TestDatabase,
    pub policy: Policy,
}

impl<'a> Fixture<'a> {
    pub fn new(db: &'a dyn TestDatabase) -> Fixture<'a> {
        Fixture {
            db,
            policy: Policy::example(),
        }
    }

    /// A store on the fixture's database (see [`TestDatabase::open`]).
    pub async fn open(&self) -> Arc<dyn Store> {
        self.db.open().await
    }

    /// Handoff number `n` of `task` by `agent`, submitted at `at` and judged by the policy.
    pub fn handoff(&self, n: u32, task: &str, agent: &str, at: DateTime<Utc>) -> Handoff {
        self.handoff_with_confidence(n, task, agent, at, 0.95)
    }

    pub fn handoff_with_confidence(
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
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T09:00:00Z")
        .expect("a valid time")
        .with_timezone(&Utc)
}

/// `n` minutes.
pub fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

/// `h` and the `handoff.submitted` entry that records it.
pub fn submission(h: Handoff) -> Submission {
    let audit = h.submitted_entry();
    Submission {
        handoff: h,
        audit,
        idempotency: None,
        deliveries: Vec::new(),
    }
}

/// `h` submitted with the idempotency key `key` and a body whose digest is `body_sha256`.
pub fn idempotent(h: Handoff, key: &str, body_sha256: &str) -> Submission {
    Submission {
        idempotency: Some(Idempotency {
            key: key.to_owned(),
            body_sha256: body_sha256.to_owned(),
        }),
        ..submission(h)
    }
}

/// Submits and insists that a new handoff was stored.
pub async fn created(store: &Arc<dyn Store>, sub: Submission) -> Handoff {
    match store.submit(sub).await.expect("the store answers") {
        Submitted::Created(h) => *h,
        other => panic!("expected a new handoff, got {other:?}"),
    }
}

/// A change made by applying `cmd` with the domain's state machine, recorded as `action`.
pub fn change_by(cmd: Command, actor: &str, action: &str) -> UpdateFn {
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
pub fn approve(by: &str) -> UpdateFn {
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

/// Every audit entry, oldest first.
pub async fn whole_log(store: &Arc<dyn Store>) -> Vec<AuditEntry> {
    store.audit(0, 100_000).await.expect("the log reads")
}

/// The seqs of `log`, in its order.
pub fn seqs(log: &[AuditEntry]) -> Vec<i64> {
    log.iter().map(|e| e.seq).collect()
}

/// Insists that the chain verifies, with `entries` entries numbered 1 to `entries`.
pub async fn assert_one_valid_chain(store: &Arc<dyn Store>, entries: usize) {
    let v = store.verify_audit().await.expect("the chain reads");
    assert!(v.ok, "the chain breaks at {:?}", v.first_bad_seq);
    assert_eq!(v.entries, entries as u64);
    let expected: Vec<i64> = (1..=entries as i64).collect();
    assert_eq!(seqs(&whole_log(store).await), expected);
}

/// A reviewer's key named `name` (its digest made from the name), and its `key.created`
/// entry.
pub fn key_record(name: &str) -> (KeyRecord, NewEntry) {
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

/// A webhook delivery `id` of `handoff.routed` for `handoff`, due at `at`.
pub fn delivery(id: &str, handoff: &Handoff, at: DateTime<Utc>) -> Delivery {
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
