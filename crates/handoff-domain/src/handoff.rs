//! The stored handoff: what the agent sent, what the policy said, where it is in its life.
//! The store keeps it whole; the API renders it as the resource of SPEC §3.

use crate::lifecycle::Lifecycle;
use crate::policy::Evaluation;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
}

impl Handoff {
    pub fn agent(&self) -> &str {
        &self.state.agent
    }

    pub fn version(&self) -> u64 {
        self.state.version
    }
}
