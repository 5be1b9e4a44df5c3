//! The tools: `request_approval`, `get_handoff`, `wait_for_decision`, `report_outcome`,
//! `explain_policy`. Each answers text for the model (what to do next, in a sentence) and
//! the same facts as structured content; a refusal is a tool error naming what was wrong.

use crate::app::{App, AppError, Outcome, Principal, Role};
use handoff_client::http::{Api, ApiError, render_problem};
use handoff_domain::lifecycle::Status;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The longest a tool waits for a decision.
pub const MAX_TOOL_WAIT: u64 = 3600;
/// What a tool waits when the caller names no timeout.
pub const DEFAULT_TOOL_WAIT: u64 = 60;

/// Where the tools' operations run.
#[derive(Clone)]
pub enum Backend {
    /// In the server: `App` operations, as the principal the request's key names.
    App(Arc<App>),
    /// Beside a server: its HTTP API, with the configured key.
    Remote(Arc<Api>),
}

#[derive(Clone)]
pub struct HandoffMcp {
    backend: Backend,
    tool_router: ToolRouter<HandoffMcp>,
}

/// The handoff packet (SPEC §2), as a model fills it in.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct PacketInput {
    /// The task type, a key of the policy's `[tasks]` (`[a-z0-9_.-]{1,64}`), e.g.
    /// `respond_to_client_inquiry`.
    pub task: String,
    /// One paragraph a person reads first: what you want to do and why.
    pub summary: String,
    /// Your confidence that the draft is right, from 0 to 1. Be honest: below the
    /// policy's threshold a person always looks.
    pub confidence: f64,
    /// Whom or what it concerns (a client, an account).
    pub subject: Option<String>,
    /// The proposed action or content: a text, or a JSON object of the action's arguments.
    pub draft: Option<Value>,
    /// The exact question for the person.
    pub decision_needed: Option<String>,
    /// Anything unusual a reviewer must not miss.
    pub flags: Option<Vec<String>>,
    /// Your self-assessment, each `low`, `medium` or `high`: `impact`, `reversibility`
    /// (high: hard to undo), `uncertainty`, `policy_sensitivity`. It can only raise risk.
    pub rubric: Option<Map<String, Value>>,
    /// Facts the policy's rules read (amount, currency, tier…).
    pub context: Option<Map<String, Value>>,
    /// Your recommended paths with their trade-offs: texts or `{id, label, risk?,
    /// effort?, impact?, note?}`.
    pub options: Option<Vec<Value>>,
    /// What you recommend doing.
    pub recommended_action: Option<String>,
    /// `{label, detail?, url?}` items that support the draft.
    pub evidence: Option<Vec<Value>>,
    pub assumptions: Option<Vec<String>>,
    pub open_questions: Option<Vec<String>>,
}

impl PacketInput {
    fn into_json(self) -> Value {
        let mut m = Map::new();
        m.insert("task".into(), json!(self.task));
        m.insert("summary".into(), json!(self.summary));
        m.insert("confidence".into(), json!(self.confidence));
        let optional = [
            ("subject", self.subject.map(Value::from)),
            ("draft", self.draft),
            ("decision_needed", self.decision_needed.map(Value::from)),
            ("flags", self.flags.map(|f| json!(f))),
            ("rubric", self.rubric.map(Value::Object)),
            ("context", self.context.map(Value::Object)),
            ("options", self.options.map(Value::Array)),
            (
                "recommended_action",
                self.recommended_action.map(Value::from),
            ),
            ("evidence", self.evidence.map(Value::Array)),
            ("assumptions", self.assumptions.map(|a| json!(a))),
            ("open_questions", self.open_questions.map(|a| json!(a))),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        }
        Value::Object(m)
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RequestApprovalInput {
    /// What you want to do, for the policy and the person who may review it.
    pub packet: PacketInput,
    /// How long to wait for a decision, in seconds (default 60, at most 3600). When it
    /// runs out the answer is "still pending" with the id: call `wait_for_decision`.
    pub timeout_seconds: Option<u64>,
    /// Send the same key again after a lost answer: you get the same handoff, not a
    /// second one.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct IdInput {
    /// The handoff id (`hnd_…`).
    pub id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WaitInput {
    /// The handoff id (`hnd_…`).
    pub id: String,
    /// How long to wait, in seconds (default 60, at most 3600).
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct OutcomeInput {
    /// The handoff id (`hnd_…`).
    pub id: String,
    /// `executed`, `failed` or `rolled_back`.
    pub result: String,
    /// What happened, in a sentence.
    pub detail: Option<String>,
    /// For `executed`: the `draft_sha256` of the approved draft you acted on.
    pub draft_sha256: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ExplainInput {
    /// The packet to judge; nothing is stored.
    pub packet: PacketInput,
}

/// Why a tool did not do what was asked, in words for the model.
struct Refusal(String);

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Refusal {
        Refusal(match e {
            AppError::Invalid(fields) => {
                let list: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect();
                format!("invalid input: {}", list.join("; "))
            }
            AppError::Store(_) => "the server failed; try again".to_owned(),
            e => e.to_string(),
        })
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Refusal {
        Refusal(match e {
            ApiError::Problem(p) => render_problem(&p),
            e => e.to_string(),
        })
    }
}

fn failed(r: Refusal) -> CallToolResult {
    CallToolResult::structured_error(json!({"error": r.0}))
}

/// The principal the request's key named (the HTTP layer checked it); over stdio there is
/// none here, the remote server checks the key.
fn principal(ctx: &RequestContext<RoleServer>) -> Result<Principal, Refusal> {
    ctx.extensions
        .get::<axum::http::request::Parts>()
        .and_then(|p| p.extensions.get::<Principal>())
        .cloned()
        .ok_or_else(|| Refusal("no authenticated agent on this request".to_owned()))
}

fn wait_of(timeout: Option<u64>) -> Duration {
    Duration::from_secs(timeout.unwrap_or(DEFAULT_TOOL_WAIT).min(MAX_TOOL_WAIT))
}

impl HandoffMcp {
    pub fn new(backend: Backend) -> HandoffMcp {
        HandoffMcp {
            backend,
            tool_router: Self::tool_router(),
        }
    }

    async fn submit(
        &self,
        ctx: &RequestContext<RoleServer>,
        packet: Value,
        idempotency_key: Option<String>,
    ) -> Result<Value, Refusal> {
        match &self.backend {
            Backend::App(app) => {
                let who = principal(ctx)?;
                let h = match app.submit(&who, packet, idempotency_key.as_deref()).await? {
                    crate::app::Submit::Created(h) | crate::app::Submit::Replayed(h) => h,
                };
                Ok(render(&h))
            }
            Backend::Remote(api) => {
                let headers: Vec<(&str, String)> = idempotency_key
                    .map(|k| ("Idempotency-Key", k))
                    .into_iter()
                    .collect();
                Ok(api.post(&["v1", "handoffs"], &packet, &headers).await?.body)
            }
        }
    }

    /// The handoff once no longer pending, or as it is when `wait` runs out.
    async fn wait(
        &self,
        ctx: &RequestContext<RoleServer>,
        id: &str,
        wait: Duration,
    ) -> Result<Value, Refusal> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = left.min(crate::app::MAX_WAIT);
            let h = match &self.backend {
                Backend::App(app) => {
                    let who = principal(ctx)?;
                    render(&app.wait_for_change(&who, id, chunk).await?)
                }
                Backend::Remote(api) => {
                    let query = [("wait", chunk.as_secs().to_string())];
                    let timeout = chunk + Duration::from_secs(15);
                    api.get(&["v1", "handoffs", id], &query, timeout)
                        .await?
                        .body
                }
            };
            if h["status"] != "pending" || Instant::now() >= deadline || chunk.is_zero() {
                return Ok(h);
            }
        }
    }

    async fn outcome(
        &self,
        ctx: &RequestContext<RoleServer>,
        input: OutcomeInput,
    ) -> Result<Value, Refusal> {
        match &self.backend {
            Backend::App(app) => {
                let who = principal(ctx)?;
                let outcome = Outcome {
                    result: Outcome::parse_result(&input.result)?,
                    detail: input.detail,
                    draft_sha256: input.draft_sha256,
                };
                Ok(render(&app.outcome(&who, &input.id, outcome).await?))
            }
            Backend::Remote(api) => {
                let body = json!({"result": input.result, "detail": input.detail,
                                  "draft_sha256": input.draft_sha256});
                Ok(api
                    .post(&["v1", "handoffs", &input.id, "outcome"], &body, &[])
                    .await?
                    .body)
            }
        }
    }

    async fn explain(
        &self,
        ctx: &RequestContext<RoleServer>,
        packet: Value,
    ) -> Result<Value, Refusal> {
        match &self.backend {
            Backend::App(app) => {
                let who = principal(ctx)?;
                let e = app.explain(&who, packet)?;
                serde_json::to_value(e).map_err(|e| Refusal(e.to_string()))
            }
            Backend::Remote(api) => Ok(api
                .post(&["v1", "policy", "explain"], &packet, &[])
                .await?
                .body),
        }
    }
}

/// The resource of SPEC §3, as JSON.
fn render(h: &handoff_domain::Handoff) -> Value {
    serde_json::to_value(crate::api::resource::resource(h)).unwrap_or(Value::Null)
}

/// What the agent should do now, in words, and the facts it needs, as structured content.
fn verdict(h: &Value) -> CallToolResult {
    let status = h["status"].as_str().unwrap_or("");
    let id = h["id"].as_str().unwrap_or("");
    let decision = &h["decision"];
    let by = decision["by"].as_str().unwrap_or("");
    let rationale = decision["rationale"].as_str().unwrap_or("");
    let because = if rationale.is_empty() {
        String::new()
    } else {
        format!(" Rationale: {rationale}")
    };
    let draft_sha256 = h["draft_versions"]
        .as_array()
        .and_then(|v| v.last())
        .map(|d| d["sha256"].clone())
        .unwrap_or(Value::Null);
    let approved = Status::parse(status) == Some(Status::Approved);
    let text = match Status::parse(status) {
        Some(Status::Approved) => format!(
            "APPROVED by {by} ({id}). Act on approved_draft exactly as given, then call report_outcome with draft_sha256.{because}"
        ),
        Some(Status::Pending) => format!(
            "STILL PENDING ({id}): nobody has decided yet. Do not act. Call wait_for_decision with this id."
        ),
        Some(Status::Rejected) => {
            format!("REJECTED by {by} ({id}). Do not act.{because}")
        }
        Some(Status::HandedOver | Status::Acknowledged | Status::Resolved) => {
            format!("HANDED TO A PERSON ({id}, {status}): a person does this. Do not act.")
        }
        Some(Status::Alerted) => format!("ALERT RAISED ({id}): stop. Do not act."),
        Some(Status::Expired) => format!("EXPIRED ({id}): nobody decided in time. Do not act."),
        Some(Status::Cancelled) => format!("CANCELLED ({id}). Do not act."),
        Some(Status::Executed | Status::Failed | Status::RolledBack) => {
            format!("OUTCOME RECORDED ({id}): {status}.")
        }
        None => format!("UNKNOWN STATUS ({id}): do not act."),
    };
    let structured = json!({
        "id": id,
        "status": status,
        "act": approved,
        "decision": decision,
        "rationale": decision.get("rationale").cloned().unwrap_or(Value::Null),
        "approved_draft": h["approved_draft"],
        "draft_sha256": if approved { draft_sha256 } else { Value::Null },
        "receipt": h["receipt"],
        "handoff": h,
    });
    let mut result = CallToolResult::structured(structured);
    result.content = vec![rmcp::model::ContentBlock::text(text)];
    result
}

#[tool_router]
impl HandoffMcp {
    #[tool(
        description = "Ask for approval before acting: submit what you want to do (the packet), and wait for the decision up to timeout_seconds. Act only when the answer says APPROVED (act: true), on approved_draft exactly; a person may have edited it. Anything else means do not act; STILL PENDING means call wait_for_decision with the id."
    )]
    async fn request_approval(
        &self,
        Parameters(input): Parameters<RequestApprovalInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let wait = wait_of(input.timeout_seconds);
        let packet = input.packet.into_json();
        let h = match self.submit(&ctx, packet, input.idempotency_key).await {
            Ok(h) => h,
            Err(r) => return Ok(failed(r)),
        };
        if h["status"] != "pending" {
            return Ok(verdict(&h));
        }
        let id = h["id"].as_str().unwrap_or("").to_owned();
        Ok(match self.wait(&ctx, &id, wait).await {
            Ok(h) => verdict(&h),
            Err(r) => failed(r),
        })
    }

    #[tool(description = "Read a handoff you submitted, as it is now.")]
    async fn get_handoff(
        &self,
        Parameters(input): Parameters<IdInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(match self.wait(&ctx, &input.id, Duration::ZERO).await {
            Ok(h) => verdict(&h),
            Err(r) => failed(r),
        })
    }

    #[tool(
        description = "Wait for the decision on a handoff you submitted, up to timeout_seconds; answers as soon as it is decided. STILL PENDING when the time runs out: never act on that."
    )]
    async fn wait_for_decision(
        &self,
        Parameters(input): Parameters<WaitInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(
            match self
                .wait(&ctx, &input.id, wait_of(input.timeout_seconds))
                .await
            {
                Ok(h) => verdict(&h),
                Err(r) => failed(r),
            },
        )
    }

    #[tool(
        description = "Report what happened when you acted on an approval: executed (with the approved draft_sha256), failed, or rolled_back. The record of outcomes is what earns a task type more autonomy, or takes it away."
    )]
    async fn report_outcome(
        &self,
        Parameters(input): Parameters<OutcomeInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(match self.outcome(&ctx, input).await {
            Ok(h) => verdict(&h),
            Err(r) => failed(r),
        })
    }

    #[tool(
        description = "How the policy would judge a packet now, without submitting it: the level (1 act alone, 2 wait for a person, 3 a person does it, 4 stop and alert), the risk, the route and every reason."
    )]
    async fn explain_policy(
        &self,
        Parameters(input): Parameters<ExplainInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(match self.explain(&ctx, input.packet.into_json()).await {
            Ok(e) => {
                let level = e["level"].as_u64().unwrap_or(0);
                let route = e["route"].as_str().unwrap_or("");
                let text = format!(
                    "Level {level}, {} risk, routed to {route}. {}",
                    e["risk"].as_str().unwrap_or(""),
                    match level {
                        1 => "You may act alone once submitted (it is approved by policy).",
                        2 => "A person must approve before you act.",
                        3 => "A person does this; do not act.",
                        _ => "Stop: this raises an alert.",
                    }
                );
                let mut r = CallToolResult::structured(e);
                r.content = vec![rmcp::model::ContentBlock::text(text)];
                r
            }
            Err(r) => failed(r),
        })
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for HandoffMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::from_build_env())
            .with_instructions(
                "handoff is the approval gate between you and the people who own the risk. \
                 Before an action that needs approval, call request_approval with a packet; \
                 act only on an APPROVED answer, on the approved draft, then report_outcome."
                    .to_owned(),
            )
    }
}

/// Agents only: a reviewer's or an admin's key has no tools to call here.
pub fn may_use(who: &Principal) -> bool {
    who.role == Role::Agent
}
