//! The stored handoff: what the agent sent, what the policy said, where it is in its life.
//! The store keeps it whole; the API renders it as the resource of SPEC §3.

use crate::audit::NewEntry;
use crate::lifecycle::Lifecycle;
use crate::packet::Packet;
use crate::policy::Evaluation;
use crate::schedule::Timers;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    /// `hnd_` + a ULID: sorts by creation time.
    pub id: String,
    pub task: String,
    /// The packet as submitted, with canonical field names.
    pub packet: Value,
    pub evaluation: Evaluation,
    pub state: Lifecycle,
    /// The signed approval receipt (a compact JWS), once approved.
    pub receipt: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What the clock has done: reminders, escalations, alerts (see `schedule`). Left
    /// out of the stored JSON while nothing has happened (most records, ever).
    #[serde(default, skip_serializing_if = "Timers::is_untouched")]
    pub timers: Timers,
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
            packet: serde_json::to_value(packet)?,
            evaluation,
            state,
            receipt: None,
            created_at: now,
            updated_at: now,
            timers,
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
}
