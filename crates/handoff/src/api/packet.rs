//! The packet's schema for the OpenAPI document (SPEC §2). The packet itself is parsed
//! by the domain (`Packet::parse`, aliases and all); this type only describes it, so that
//! a model or a generated client fills it well.

use serde_json::{Map, Value};
use utoipa::ToSchema;

/// What an agent sends: the task, what it wants to do, and how sure it is. Unknown
/// top-level fields are kept in `packet.extra` and affect nothing.
#[derive(ToSchema)]
#[schema(as = Packet)]
#[allow(dead_code)]
pub struct PacketSchema {
    /// The task type, a key of the policy's `[tasks]`.
    #[schema(pattern = "^[a-z0-9_.-]{1,64}$")]
    task: String,
    /// One-paragraph human summary (1–2000 characters).
    #[schema(min_length = 1, max_length = 2000)]
    summary: String,
    /// The agent's confidence.
    #[schema(minimum = 0.0, maximum = 1.0)]
    confidence: f64,
    /// Whom or what it concerns (alias `client`).
    #[schema(max_length = 200)]
    subject: Option<String>,
    /// The proposed action or content, any JSON up to 256 KiB (alias `draft_response`).
    #[schema(value_type = Option<Value>)]
    draft: Option<Value>,
    /// At most 32, each at most 100 characters.
    flags: Option<Vec<String>>,
    recommended_action: Option<String>,
    /// At most 8: the agent's recommended paths with their trade-offs.
    options: Option<Vec<PathOptionSchema>>,
    /// The exact question for the human.
    decision_needed: Option<String>,
    evidence: Option<Vec<EvidenceSchema>>,
    assumptions: Option<Vec<String>>,
    open_questions: Option<Vec<String>>,
    /// The agent's self-assessment; it can only raise risk.
    rubric: Option<RubricSchema>,
    /// Facts for policy conditions (amount, currency, tier…), up to 64 KiB.
    #[schema(value_type = Option<Object>)]
    context: Option<Map<String, Value>>,
    /// Decisions are POSTed there, signed (http or https).
    #[schema(format = "uri")]
    callback_url: Option<String>,
    /// The id of an earlier handoff of the same agent, `rejected`, `expired` or
    /// `cancelled`, that this one revises after the human's answer; the resource then
    /// carries `revision_of`. Any other id is `422`.
    #[schema(pattern = "^hnd_[0-9A-HJKMNP-TV-Z]{26}$")]
    supersedes: Option<String>,
}

/// A bare label, or a label with its trade-offs.
#[derive(serde::Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = PacketOption)]
#[allow(dead_code)]
pub enum PathOptionSchema {
    Label(String),
    Detailed(DetailedOptionSchema),
}

#[derive(serde::Deserialize, ToSchema)]
#[schema(as = PacketOptionDetail)]
#[allow(dead_code)]
pub struct DetailedOptionSchema {
    /// What a decision names in `option`.
    id: String,
    label: String,
    risk: Option<String>,
    effort: Option<String>,
    impact: Option<String>,
    note: Option<String>,
}

/// Only these three: any other member is refused (422).
#[derive(ToSchema, serde::Deserialize)]
#[schema(as = PacketEvidence)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct EvidenceSchema {
    label: String,
    detail: Option<String>,
    #[schema(format = "uri")]
    url: Option<String>,
}

/// Each dimension `low`, `medium` or `high`.
#[derive(ToSchema, serde::Deserialize)]
#[schema(as = PacketRubric)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RubricSchema {
    #[schema(nullable = false)]
    impact: Option<handoff_domain::Risk>,
    #[schema(nullable = false)]
    reversibility: Option<handoff_domain::Risk>,
    #[schema(nullable = false)]
    uncertainty: Option<handoff_domain::Risk>,
    #[schema(nullable = false)]
    policy_sensitivity: Option<handoff_domain::Risk>,
}
