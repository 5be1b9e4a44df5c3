//! How a backend lays a handoff out in its rows, the same for every database: the whole
//! record as JSON written once at creation (`doc`, the agent's draft in it once), the part
//! that changes written at every change (`state`, laid over `doc` when read), and the
//! plain columns beside them (timestamps as milliseconds or RFC 3339 text, the version,
//! what a revision supersedes).
//! The SQL that stores them is each backend's own.

use chrono::{DateTime, SecondsFormat, Utc};
use handoff_domain::Handoff;
use handoff_domain::handoff::SpotCheck;
use handoff_domain::lifecycle::Lifecycle;
use handoff_domain::schedule::Timers;
use handoff_domain::shared_json::SharedJson;
use serde::{Deserialize, Serialize};

/// The `settings` names of the active policy and of the `--policy` file's text.
pub const POLICY_ACTIVE: &str = "policy.active";
pub const POLICY_FILE: &str = "policy.file";

/// The outbox's columns, in the order the backends decode them.
pub const OUTBOX_COLUMNS: &str = "id, handoff_id, event, channel, target, payload, state, \
     attempts, next_ms, created_ms, updated_ms, last_error";

/// The audit log's columns, in the order the backends decode them.
pub const AUDIT_COLUMNS: &str = "seq, at, actor, action, handoff_id, data, prev_hash, hash";

/// The whole record: written once, when the handoff is created. The agent's draft is in
/// its packet; the lifecycle's copy of it (draft version 1, unedited) is left out and
/// [`decode`] takes it from the packet again: over a quarter of the record, and what made
/// two records too big to share a 4 KiB page.
pub fn encode_doc(h: &Handoff) -> String {
    let lean;
    let h = if h.state.current_draft_version() == 1
        && h.state.current_draft.is_some()
        && h.state.current_draft.as_deref() == h.agent_draft()
    {
        let mut copy = h.clone();
        copy.state.current_draft = None;
        lean = copy;
        &lean
    } else {
        h
    };
    // A record of plain data always serialises.
    serde_json::to_string(h).unwrap_or_else(|_| "{}".to_owned())
}

/// The part of a record that changes after submission; the rest (the packet, the
/// evaluation, the task, the epoch, the creation time) is stored once, in `doc`.
#[derive(Serialize)]
struct StateOut<'a> {
    state: LifecycleOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt_ed25519: Option<std::borrow::Cow<'a, str>>,
    updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Timers::is_untouched")]
    timers: &'a Timers,
    #[serde(skip_serializing_if = "Option::is_none")]
    spot_check: &'a Option<SpotCheck>,
    sla_due_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct StateIn {
    state: Lifecycle,
    #[serde(default)]
    receipt: Option<String>,
    #[serde(default)]
    receipt_ed25519: Option<String>,
    updated_at: DateTime<Utc>,
    #[serde(default)]
    timers: Timers,
    #[serde(default)]
    spot_check: Option<SpotCheck>,
    sla_due_at: DateTime<Utc>,
}

/// The `state` column of a changed handoff.
pub fn encode_state(h: &Handoff) -> String {
    let s = StateOut {
        state: LifecycleOut(&h.state),
        receipt: &h.receipt,
        receipt_ed25519: h
            .receipt_ed25519
            .as_deref()
            .map(|ed| detach(ed, h.receipt.as_deref())),
        updated_at: h.updated_at,
        timers: &h.timers,
        spot_check: &h.spot_check,
        sla_due_at: h.evaluation.sla_due_at,
    };
    serde_json::to_string(&s).unwrap_or_else(|_| "{}".to_owned())
}

/// A compact JWS's three parts, when it has exactly three.
fn jws_parts(jws: &str) -> Option<(&str, &str, &str)> {
    let mut it = jws.split('.');
    let parts = (it.next()?, it.next()?, it.next()?);
    it.next().is_none().then_some(parts)
}

/// `receipt_ed25519` as the state keeps it. It signs `receipt`'s payload under the other
/// name of the algorithm, so the state leaves that payload out of it, `HEADER..SIGNATURE`
/// (a JWS with a detached payload, RFC 7515 Appendix F), and [`attach`] puts it back: about
/// a fifth less of the state of an approved handoff, which every later change rewrites.
/// A receipt whose payload differs is kept whole.
fn detach<'a>(ed: &'a str, receipt: Option<&str>) -> std::borrow::Cow<'a, str> {
    match (jws_parts(ed), receipt.and_then(jws_parts)) {
        (Some((header, payload, signature)), Some((_, same, _)))
            if !payload.is_empty() && payload == same =>
        {
            std::borrow::Cow::Owned(format!("{header}..{signature}"))
        }
        _ => std::borrow::Cow::Borrowed(ed),
    }
}

/// `receipt_ed25519` made whole again from the state (see [`detach`]); a whole one (as
/// every state written before) is read as it is.
fn attach(ed: String, receipt: Option<&str>) -> String {
    match (jws_parts(&ed), receipt.and_then(jws_parts)) {
        (Some((header, "", signature)), Some((_, payload, _))) => {
            format!("{header}.{payload}.{signature}")
        }
        _ => ed,
    }
}

/// The lifecycle as the `state` column holds it: the current draft is left out while it
/// is still the agent's own (draft version 1, which the packet holds), since it is most of the
/// state's size and the state is rewritten at every change.
struct LifecycleOut<'a>(&'a Lifecycle);

impl Serialize for LifecycleOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        // Every field named: a field added to `Lifecycle` fails to compile here rather than
        // go unsaved.
        let Lifecycle {
            status,
            version,
            agent,
            assigned_team,
            approvals_required,
            approvals,
            draft_versions,
            current_draft,
            decision,
            outcome,
        } = self.0;
        let edited = self.0.current_draft_version() > 1;
        let mut m = s.serialize_struct("Lifecycle", 9 + usize::from(edited))?;
        m.serialize_field("status", status)?;
        m.serialize_field("version", version)?;
        m.serialize_field("agent", agent)?;
        m.serialize_field("assigned_team", assigned_team)?;
        m.serialize_field("approvals_required", approvals_required)?;
        m.serialize_field("approvals", approvals)?;
        m.serialize_field("draft_versions", draft_versions)?;
        if edited {
            m.serialize_field("current_draft", current_draft)?;
        } else {
            m.skip_field("current_draft")?;
        }
        m.serialize_field("decision", decision)?;
        m.serialize_field("outcome", outcome)?;
        m.end()
    }
}

/// A record from its row: `doc` as written at creation, with `state` (when the handoff
/// changed since) laid over it.
pub fn decode(doc: &str, state: Option<&str>) -> Result<Handoff, serde_json::Error> {
    let mut h: Handoff = serde_json::from_str(doc)?;
    if let Some(state) = state {
        let s: StateIn = serde_json::from_str(state)?;
        h.state = s.state;
        h.receipt_ed25519 = s.receipt_ed25519.map(|ed| attach(ed, s.receipt.as_deref()));
        h.receipt = s.receipt;
        h.updated_at = s.updated_at;
        h.timers = s.timers;
        h.spot_check = s.spot_check;
        h.evaluation.sla_due_at = s.sla_due_at;
    }
    // The agent's draft (version 1, unedited), which the record and the state leave to the
    // packet; rows written before carry it, and keep theirs.
    if h.state.current_draft.is_none() && h.state.current_draft_version() == 1 {
        h.state.current_draft = h.agent_draft().cloned().map(SharedJson::new);
    }
    Ok(h)
}

/// Whether `a` and `b` agree on everything [`encode_state`] leaves out.
pub fn same_immutable(a: &Handoff, b: &Handoff) -> bool {
    let mut eval = b.evaluation.clone();
    eval.sla_due_at = a.evaluation.sla_due_at;
    a.id == b.id
        && a.task == b.task
        && a.packet == b.packet
        && a.evaluation == eval
        && a.created_at == b.created_at
        && a.epoch == b.epoch
}

/// The handoff a revision's packet `supersedes`, for its indexed column.
pub fn supersedes(h: &Handoff) -> Option<String> {
    h.packet
        .get("supersedes")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// The version as a database integer.
pub fn version(h: &Handoff) -> i64 {
    i64::try_from(h.state.version).unwrap_or(i64::MAX)
}

/// A stored millisecond timestamp (the epoch when it is out of range).
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Timestamps as text: RFC 3339 in UTC with milliseconds, the precision the audit hashes.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A timestamp written by [`ts`]; the error names the text.
pub fn parse_ts(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("bad timestamp {s:?}: {e}"))
}

/// A change computed inside a writer's transaction, and what the writer must record of it.
pub struct Applied {
    pub handoff: Handoff,
    pub audit: handoff_domain::NewEntry,
    pub deliveries: Vec<crate::Delivery>,
    /// What it adds to the learning aggregates (`Tally::of_change`).
    pub tally: handoff_domain::learning::Tally,
    /// The team it was routed to before, when the change moved it (for its event).
    pub previous_team: Option<String>,
}

/// Applies `f` to `current` as every backend's writer does for `Store::update`: the
/// `If-Match` version first (nothing runs on a stale one), then the change, checked not to
/// touch what is stored once, with its tally and the team it left.
pub fn apply_change(
    current: &Handoff,
    if_match: Option<u64>,
    f: crate::UpdateFn,
) -> Result<Applied, crate::Refused> {
    if let Some(v) = if_match
        && v != current.version()
    {
        return Err(crate::Refused::VersionMismatch {
            current: current.version(),
        });
    }
    let crate::Change {
        handoff,
        audit,
        deliveries,
    } = f(current)?;
    debug_assert!(
        same_immutable(current, &handoff),
        "a change altered what is stored once: {}",
        current.id
    );
    let tally = handoff_domain::learning::Tally::of_change(current, &handoff);
    let previous_team = (handoff.state.assigned_team != current.state.assigned_team)
        .then(|| current.state.assigned_team.clone());
    Ok(Applied {
        handoff,
        audit,
        deliveries,
        tally,
        previous_team,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EDDSA: &str = "eyJhbGciOiJFZERTQSJ9.eyJoYW5kb2ZmIjoiaG5kXzEifQ.c2lnLWVkZHNh";
    const ED25519: &str = "eyJhbGciOiJFZDI1NTE5In0.eyJoYW5kb2ZmIjoiaG5kXzEifQ.c2lnLWVkMjU1MTk";

    #[test]
    fn the_second_receipt_is_kept_without_the_payload_it_shares_and_read_whole() {
        let stored = detach(ED25519, Some(EDDSA));
        assert_eq!(stored, "eyJhbGciOiJFZDI1NTE5In0..c2lnLWVkMjU1MTk");
        assert_eq!(attach(stored.into_owned(), Some(EDDSA)), ED25519);
    }

    #[test]
    fn a_receipt_with_a_payload_of_its_own_or_none_beside_it_is_kept_whole() {
        let other = "eyJhbGciOiJFZDI1NTE5In0.eyJvdGhlciI6MX0.c2ln";
        assert_eq!(detach(other, Some(EDDSA)), other);
        assert_eq!(detach(ED25519, None), ED25519);
        assert_eq!(detach("not a jws", Some(EDDSA)), "not a jws");
        assert_eq!(detach("a.b.c.d", Some(EDDSA)), "a.b.c.d");
    }

    #[test]
    fn states_written_before_read_as_they_were() {
        // A whole receipt (every state before the detached form) is not touched, and a
        // detached one without the receipt it shares is left as stored.
        assert_eq!(attach(ED25519.to_owned(), Some(EDDSA)), ED25519);
        assert_eq!(attach("h..s".to_owned(), None), "h..s");
    }
}
