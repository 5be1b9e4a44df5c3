//! The stored handoff: what the agent sent, what the policy said, where it is in its life.
//! The store keeps it whole; the API renders it as the resource of SPEC §3.

use crate::audit::NewEntry;
use crate::lifecycle::Lifecycle;
use crate::packet::Packet;
use crate::policy::Evaluation;
use crate::schedule::Timers;
use crate::shared_json::SharedJson;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    /// `hnd_` + a ULID: sorts by creation time.
    pub id: String,
    pub task: String,
    /// The packet as submitted, with canonical field names (shared by the handoff's
    /// copies: it never changes).
    pub packet: SharedJson,
    pub evaluation: Evaluation,
    pub state: Lifecycle,
    /// The signed approval receipt (a compact JWS, header `alg: "EdDSA"`), once approved.
    pub receipt: Option<String>,
    /// The same receipt under RFC 9864's fully specified algorithm name (`alg:
    /// "Ed25519"`): the same payload and key. Stored with the record; for one stored
    /// before it existed, the server derives it from `receipt` (re-signing its payload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_ed25519: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What the clock has done: reminders, escalations, alerts (see `schedule`). Left
    /// out of the stored JSON while nothing has happened (most records, ever).
    #[serde(default, skip_serializing_if = "Timers::is_untouched")]
    pub timers: Timers,
    /// The task's evidence epoch when this handoff was judged: it grows by one at every
    /// change of the task's level, and the learning loop counts only the current one's.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u64,
    /// Set when this autonomous handoff was drawn for a spot check (SPEC §7), once, at
    /// submission; the verdict is filled in by one reviewer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_check: Option<SpotCheck>,
    /// Set when this handoff supersedes an earlier one (SPEC §2), at submission: the
    /// superseded one is final, so what is said of it never changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_of: Option<crate::revision::RevisionOf>,
    /// How many handoffs this one revises in a chain (0: not a revision; 2: it supersedes
    /// a revision of a first handoff). The learning loop counts "approved after N
    /// revisions" by it.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub revisions: u32,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A reviewer's verdict on an autonomous handoff drawn for a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SpotVerdict {
    Fine,
    WouldChange,
    WouldReject,
}

impl SpotVerdict {
    pub const ALL: [SpotVerdict; 3] = [
        SpotVerdict::Fine,
        SpotVerdict::WouldChange,
        SpotVerdict::WouldReject,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SpotVerdict::Fine => "fine",
            SpotVerdict::WouldChange => "would_change",
            SpotVerdict::WouldReject => "would_reject",
        }
    }

    pub fn parse(s: &str) -> Option<SpotVerdict> {
        SpotVerdict::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the monitor counts this verdict as the agent's error.
    pub fn is_error(self) -> bool {
        self != SpotVerdict::Fine
    }
}

/// A sampled handoff's check: `verdict` is `None` until a reviewer gives one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpotCheck {
    pub verdict: Option<SpotVerdict>,
    pub by: Option<String>,
    pub at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

/// Whether the handoff with this id is drawn for a spot check at `rate`: a pure function
/// of the id (a ULID with 80 random bits), so the draw is made once and a restart or a
/// replay cannot redraw it. `rate` ≤ 0 never draws, ≥ 1 always does.
pub fn drawn_for_spot_check(id: &str, rate: f64) -> bool {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // 53 bits: an exact f64 in [0, 1).
    let u = (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64;
    u < rate
}

impl Handoff {
    /// A handoff `agent` just submitted at `now`, judged `evaluation`: its first status by
    /// level (SPEC §3) and the agent's draft as version 1.
    pub fn submitted(
        id: String,
        agent: &str,
        packet: &Packet,
        evaluation: Evaluation,
        now: DateTime<Utc>,
    ) -> Result<Handoff, serde_json::Error> {
        let state = Lifecycle::submitted(
            agent,
            evaluation.route.clone(),
            evaluation.level,
            evaluation.approvals_required,
            packet.draft.clone(),
            now,
        );
        let timers = Timers {
            alerts: u32::from(state.status == crate::lifecycle::Status::Alerted),
            last_alert_at: (state.status == crate::lifecycle::Status::Alerted).then_some(now),
            ..Timers::default()
        };
        Ok(Handoff {
            id,
            task: packet.task.as_str().to_owned(),
            packet: SharedJson::new(serde_json::to_value(packet)?),
            evaluation,
            state,
            receipt: None,
            receipt_ed25519: None,
            created_at: now,
            updated_at: now,
            timers,
            epoch: 0,
            spot_check: None,
            revision_of: None,
            revisions: 0,
        })
    }

    /// The `handoff.submitted` audit entry that records this handoff's arrival.
    pub fn submitted_entry(&self) -> NewEntry {
        let e = &self.evaluation;
        NewEntry {
            at: self.created_at,
            actor: self.state.agent.clone(),
            action: "handoff.submitted".to_owned(),
            handoff_id: Some(self.id.clone()),
            data: json!({
                "task": self.task,
                "level": e.level.get(),
                "risk": e.risk,
                "route": e.route,
                "approvals_required": e.approvals_required,
                "status": self.state.status,
                "policy_version": e.policy_version,
                "draft_sha256": self.state.current_draft_sha256(),
            }),
        }
    }

    pub fn agent(&self) -> &str {
        &self.state.agent
    }

    pub fn version(&self) -> u64 {
        self.state.version
    }

    /// Judged autonomous (level 1): approved by the policy, acted on without a person.
    pub fn is_autonomous(&self) -> bool {
        self.evaluation.level == crate::Level::AUTONOMOUS
    }

    /// Drawn for a spot check and still waiting for its verdict.
    pub fn spot_check_due(&self) -> bool {
        self.spot_check
            .as_ref()
            .is_some_and(|c| c.verdict.is_none())
    }

    /// The draft the agent sent (version 1), `None` when it sent none.
    pub fn agent_draft(&self) -> Option<&Value> {
        self.packet.get("draft").filter(|d| !d.is_null())
    }

    /// The confidence the agent claimed.
    pub fn confidence(&self) -> Option<f64> {
        self.packet.get("confidence").and_then(Value::as_f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spot_check_draw_is_a_function_of_the_id_and_near_its_rate() {
        assert!(!drawn_for_spot_check("hnd_x", 0.0));
        assert!(drawn_for_spot_check("hnd_x", 1.0));
        assert_eq!(
            drawn_for_spot_check("hnd_01J", 0.5),
            drawn_for_spot_check("hnd_01J", 0.5)
        );
        let drawn = (0..20_000)
            .filter(|i| drawn_for_spot_check(&format!("hnd_{i}"), 0.1))
            .count();
        assert!((1_800..2_200).contains(&drawn), "{drawn} of 20000 at 10%");
    }

    #[test]
    fn verdicts_use_the_specs_words_and_only_fine_is_not_an_error() {
        for v in SpotVerdict::ALL {
            assert_eq!(SpotVerdict::parse(v.as_str()), Some(v));
            assert_eq!(serde_json::to_value(v).ok(), Some(json!(v.as_str())));
        }
        assert!(!SpotVerdict::Fine.is_error());
        assert!(SpotVerdict::WouldChange.is_error() && SpotVerdict::WouldReject.is_error());
    }
}
