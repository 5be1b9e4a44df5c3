//! `POST /v1/integrations/slack`: a reviewer's button press in a Slack message (SPEC §8
//! "Deciding from Slack"). No key: Slack's signature is the authentication, checked by
//! `App::verify_slack` before anything else is read (401 and nothing happens otherwise).
//! The Slack user becomes a reviewer through `App::slack_reviewer`, and the press is
//! `App::decide` on the version the message showed, as `POST …/decisions` with
//! `If-Match`. Whatever is refused after the signature is told to that person alone, in
//! an ephemeral message, with HTTP 200 (Slack shows errors to nobody otherwise).
//!
//! Slack ignores the HTTP body of a `block_actions` answer: what the person sees goes
//! through the payload's `response_url` (replacing the message after a decision, or an
//! ephemeral note). The same JSON is also the HTTP body, for tools and tests.

use crate::api::{ApiError, ApiResult, Problem};
use crate::app::{App, AppError, Decision, Principal, SlackRefusal};
use crate::notify::slack::{RATIONALE, ephemeral};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use handoff_domain::DecisionAction;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::ToSchema;

/// Slack's interactivity request: `application/x-www-form-urlencoded`.
// Only describes the body in the OpenAPI document; the handler reads the raw bytes, which
// the signature covers.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct SlackForm {
    /// The interaction as JSON (`type: block_actions`, `user.id`, `actions`, `state`,
    /// `response_url`).
    payload: String,
}

/// What Slack is answered: the message sent to `response_url` (Slack ignores this body for
/// button presses), or nothing for what needs no answer (the open button).
// Only describes the answer in the OpenAPI document: the answers are built as Block Kit
// JSON by `notify::slack`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct SlackAnswer {
    /// `ephemeral` for a note to the person who pressed.
    response_type: Option<String>,
    /// `true` when the message was replaced with the outcome.
    replace_original: bool,
    text: String,
    /// Block Kit blocks: the handoff as it is now.
    #[schema(value_type = Option<Vec<Object>>)]
    blocks: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: Option<User>,
    #[serde(default)]
    actions: Vec<Action>,
    #[serde(default)]
    state: Option<SlackState>,
    response_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Action {
    action_id: String,
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SlackState {
    #[serde(default)]
    values: HashMap<String, HashMap<String, Value>>,
}

/// What a button's `value` carries: the handoff and the version the message showed.
#[derive(Debug, Deserialize)]
struct Pressed {
    id: String,
    version: u64,
}

impl Payload {
    /// The rationale typed in the message's input, trimmed; `None` when empty.
    fn rationale(&self) -> Option<String> {
        let values = &self.state.as_ref()?.values;
        let input = values.get(RATIONALE)?.get(RATIONALE)?;
        input
            .get("value")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
    }
}

/// A Slack button press (approve, reject, escalate, acknowledge) on a handoff message.
#[utoipa::path(
    post, path = "/v1/integrations/slack", tag = "integrations",
    security(()),
    params(
        ("X-Slack-Request-Timestamp" = String, Header, description = "Unix seconds; within five minutes of the server's clock."),
        ("X-Slack-Signature" = String, Header, description = "`v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` under the Slack signing secret."),
    ),
    request_body(content = SlackForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Handled: the decision made and the message replaced, or a refusal told to the person in an ephemeral message (nothing changed); an empty body for the Open button (a link).", body = SlackAnswer),
        (status = 400, description = "Signed, but without a readable `payload` field.", body = Problem),
        (status = 401, description = "Not Slack's: Slack interactivity is off, the signature does not match, the timestamp is over five minutes off, or the request was received already. Nothing happens.", body = Problem),
    )
)]
pub async fn interact(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    app.verify_slack(
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
    )
    .map_err(refused)?;
    let payload = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "no `payload` field"))?;
    let payload: Payload = serde_json::from_str(&payload).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`payload` is not a Slack interaction: {e}"),
        )
    })?;
    Ok(press(&app, payload).await.into_response())
}

fn refused(r: SlackRefusal) -> ApiError {
    tracing::warn!(reason = %r, "a Slack request was refused");
    ApiError::unauthorized(r.to_string())
}

/// A 200 with `body`, also sent to the `response_url`.
fn answer(app: &App, response_url: Option<String>, body: Value) -> Response {
    app.reply_to_slack(response_url, body.clone());
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn press(app: &App, payload: Payload) -> Response {
    if payload.kind != "block_actions" {
        return StatusCode::OK.into_response();
    }
    let action = payload.actions.first();
    let kind = match action.map(|a| a.action_id.as_str()) {
        Some("approve") => DecisionAction::Approve,
        Some("reject") => DecisionAction::Reject,
        Some("escalate") => DecisionAction::Escalate,
        Some("acknowledge") => DecisionAction::Acknowledge,
        // The open button is a link; other interactions are not ours to answer.
        _ => return StatusCode::OK.into_response(),
    };
    let url = payload.response_url.clone();
    let Some(pressed) = action
        .and_then(|a| a.value.as_deref())
        .and_then(|v| serde_json::from_str::<Pressed>(v).ok())
    else {
        return answer(
            app,
            url,
            ephemeral("Not done: this button is not one of handoff's."),
        );
    };
    let user = payload.user.as_ref().map_or("", |u| u.id.as_str());
    let who = match app.slack_reviewer(user).await {
        Ok(who) => who,
        Err(e) => return answer(app, url, ephemeral(&not_done(&e))),
    };
    let rationale = payload.rationale();
    if matches!(kind, DecisionAction::Reject | DecisionAction::Escalate) && rationale.is_none() {
        return answer(
            app,
            url,
            ephemeral(&format!(
                "Not done: to {} this handoff, write a rationale in the box above the buttons, then press {} again.",
                kind.as_str(),
                if kind == DecisionAction::Reject {
                    "Reject"
                } else {
                    "Escalate"
                },
            )),
        );
    }
    let decision = Decision {
        rationale: rationale.clone(),
        ..Decision::new(kind)
    };
    match app
        .decide(&who, &pressed.id, Some(pressed.version), decision)
        .await
    {
        Ok(h) => {
            let outcome = outcome(&h, kind, &who.name, rationale.as_deref());
            answer(app, url, app.slack_message_after(&h, &outcome))
        }
        Err(e) => {
            let text = refusal(app, &who, &pressed.id, &e).await;
            answer(app, url, ephemeral(&text))
        }
    }
}

/// What was decided and by whom, for everyone in the channel.
fn outcome(
    h: &handoff_domain::Handoff,
    action: DecisionAction,
    by: &str,
    rationale: Option<&str>,
) -> String {
    let s = &h.state;
    let why = rationale.map(|r| format!(": “{r}”")).unwrap_or_default();
    match (action, s.status) {
        (DecisionAction::Approve, handoff_domain::Status::Pending) => format!(
            "Approved by {by} ({} of {} approvals): another reviewer's approval is needed",
            s.approvers().len(),
            s.approvals_required
        ),
        (DecisionAction::Approve, _) => format!("Approved by {by}: the agent may act now"),
        (DecisionAction::Reject, _) => format!("Rejected by {by}{why}"),
        (DecisionAction::Escalate, _) => {
            format!("Escalated by {by} to {}{why}", s.assigned_team)
        }
        (DecisionAction::Acknowledge, _) => format!("Acknowledged by {by}"),
        (_, status) => format!("{by}: now {status}"),
    }
}

/// A refused decision in words for the person who pressed.
async fn refusal(app: &App, who: &Principal, id: &str, e: &AppError) -> String {
    match e {
        AppError::NotFound(_) => format!(
            "Not done: {} cannot decide this handoff: it is not routed to a team of theirs.",
            who.name
        ),
        AppError::Stale { current } => {
            let now = match app.visible(who, id).await {
                Ok(h) => format!("version {current}, {}", h.state.status),
                Err(_) => format!("version {current}"),
            };
            format!(
                "Not done: this handoff changed since this message (it is now {now}). Open it to see what changed."
            )
        }
        AppError::Store(_) => {
            tracing::error!(error = %e, "a Slack decision failed in the store");
            "Not done: the server failed; try again in a moment.".to_owned()
        }
        e => not_done(e),
    }
}

/// "Not done: " and the refusal's reason, as one sentence.
fn not_done(e: &AppError) -> String {
    format!("Not done: {}.", e.to_string().trim_end_matches('.'))
}
