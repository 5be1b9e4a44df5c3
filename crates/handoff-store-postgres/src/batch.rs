//! What one batch has done so far ([`Batch`]): the chain's tail and the entries sealed
//! after it, the rows to write (one per handoff, in first-touched order), the idempotency
//! keys taken, the events to publish, the deliveries, attempts and tallies; and an update
//! applied by its function to the handoff as the batch has it.

use crate::writer::Done;
use handoff_domain::Handoff;
use handoff_domain::audit::Prepared;
use handoff_domain::learning::Tally;
use handoff_store::{Attempted, Delivery, Event, Idempotency, Refused, UpdateFn};
use std::collections::HashMap;

/// A handoff to write: new (the whole record), or changed (its state row).
pub(crate) struct HandoffRow {
    pub(crate) handoff: Handoff,
    /// The whole record's JSON when it was made off the writer's path (a new row).
    pub(crate) doc: Option<String>,
    pub(crate) idem: Option<Idempotency>,
    pub(crate) new: bool,
}

/// What one transaction has done so far.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) tail: Option<(i64, String)>,
    /// Handoffs read for the batch's updates, as they were before it.
    pub(crate) current: HashMap<String, Handoff>,
    /// Stored idempotency keys the batch's submissions name: `(agent, key)` → (body
    /// digest, created ms, id).
    pub(crate) stored_idem: HashMap<(String, String), (String, i64, String)>,
    /// The rows to write, one per handoff, in first-touched order.
    pub(crate) rows: Vec<HandoffRow>,
    pub(crate) row_index: HashMap<String, usize>,
    /// Keys taken in this batch: `(agent, key)` → (body digest, id).
    pub(crate) idem: HashMap<(String, String), (String, String)>,
    /// Sealed entries: seq, prev_hash, hash and the entry.
    pub(crate) audits: Vec<(i64, String, String, Prepared)>,
    pub(crate) events: Vec<Event>,
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) attempts: Vec<Attempted>,
    pub(crate) tallies: Vec<Tally>,
    /// What other nodes must reload (`keys`, `policy`, `task_levels`), once each.
    pub(crate) notices: Vec<&'static str>,
    pub(crate) done: Vec<Done>,
}

impl Batch {
    pub(crate) fn notice(&mut self, what: &'static str) {
        if !self.notices.contains(&what) {
            self.notices.push(what);
        }
    }

    pub(crate) fn seal(&mut self, p: Prepared) -> i64 {
        let (seq, prev_hash) = match self.tail.take() {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, handoff_domain::audit::GENESIS.to_owned()),
        };
        let hash = p.hash_after(&prev_hash, seq);
        self.tail = Some((seq, hash.clone()));
        self.audits.push((seq, prev_hash, hash, p));
        seq
    }

    pub(crate) fn update(
        &mut self,
        id: &str,
        if_match: Option<u64>,
        f: UpdateFn,
    ) -> Result<Handoff, Refused> {
        let index = self.row_index.get(id).copied();
        let current = match index {
            Some(i) => &self.rows[i].handoff,
            None => self.current.get(id).ok_or(Refused::NotFound)?,
        };
        let handoff_store::record::Applied {
            handoff,
            audit,
            deliveries,
            tally,
            previous_team,
        } = handoff_store::record::apply_change(current, if_match, f)?;
        if !tally.is_empty() {
            self.tallies.push(tally);
        }
        let seq = self.seal(Prepared::new(audit));
        let mut event = Event::of(seq, &handoff);
        event.previous_team = previous_team;
        self.events.push(event);
        match index {
            Some(i) => {
                // Created or changed earlier in this batch: its row takes the new state
                // (a created row's whole record is encoded again).
                let row = &mut self.rows[i];
                row.handoff = handoff.clone();
                row.doc = None;
            }
            None => {
                self.row_index.insert(id.to_owned(), self.rows.len());
                self.rows.push(HandoffRow {
                    handoff: handoff.clone(),
                    doc: None,
                    idem: None,
                    new: false,
                });
            }
        }
        self.deliveries.extend(deliveries);
        Ok(handoff)
    }
}
