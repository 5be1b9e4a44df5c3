//! [`Client`]: one method per API operation, typed requests and answers, the long-poll
//! loop, the event stream and receipt verification, on top of the raw [`Api`].

use crate::events::event_stream;
use crate::http::{Api, ApiError, ConnectError, Problem, REQUEST_TIMEOUT};
use crate::poll::wait_while_pending;
use crate::receipt::{self, ReceiptError, ReceiptPayload};
use crate::types::{
    Decision, Evaluation, Event, Handoff, LevelChange, ListQuery, OutcomeReport, Page, SpotVerdict,
};
use futures_util::Stream;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

/// Why a call failed, by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server URL or the key cannot work; nothing was sent.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The server refused (a problem document, see [`Error::problem`]) or did not answer.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The server answered JSON of another shape than this client expects (a server of
    /// another version).
    #[error("{server} answered {what} this client cannot read: {reason}")]
    Decode {
        server: String,
        what: &'static str,
        reason: String,
    },
    /// The receipt did not check out; do not act.
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    /// The handoff carries no receipt (it was not approved).
    #[error("handoff {0} carries no receipt")]
    NoReceipt(String),
}

impl Error {
    /// The server's problem document, when it refused.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Error::Api(ApiError::Problem(p)) => Some(p),
            _ => None,
        }
    }

    /// The HTTP status of a refusal (404, 409, 422…).
    pub fn status(&self) -> Option<u16> {
        self.problem().map(|p| p.status)
    }
}

/// A client of one handoff server, acting as the holder of one API key. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    api: Api,
}

impl Client {
    /// A client of the server at `server` (`http://…` or `https://…`, a path prefix kept)
    /// with the API key `key`. Nothing is sent yet.
    pub fn new(server: &str, key: &str) -> Result<Client, Error> {
        Ok(Client {
            api: Api::new(server, key)?,
        })
    }

    /// The raw layer, for requests this client has no method for.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Submits a packet (SPEC §2). With an idempotency key, submitting the same packet again
    /// answers the handoff the first submission made.
    pub async fn submit(
        &self,
        packet: &Value,
        idempotency_key: Option<&str>,
    ) -> Result<Handoff, Error> {
        let headers: Vec<(&str, String)> = idempotency_key
            .map(|k| ("idempotency-key", k.to_owned()))
            .into_iter()
            .collect();
        let reply = self.api.post(&["v1", "handoffs"], packet, &headers).await?;
        self.decode(reply.body, "a handoff")
    }

    /// The handoff as it is now.
    pub async fn get(&self, id: &str) -> Result<Handoff, Error> {
        let reply = self
            .api
            .get(&["v1", "handoffs", id], &[], REQUEST_TIMEOUT)
            .await?;
        self.decode(reply.body, "a handoff")
    }

    /// Waits until the handoff is no longer pending, or `timeout` has passed, chaining
    /// long polls of at most a minute; answers the handoff as it is then. **Pending when time
    /// runs out is not approval**: act only if [`Handoff::is_approved`]. A server that goes
    /// away for a moment (a restart) is waited for until the timeout.
    pub async fn wait_for_decision(&self, id: &str, timeout: Duration) -> Result<Handoff, Error> {
        let deadline = Instant::now() + timeout;
        let body = wait_while_pending(&self.api, id, Some(deadline)).await?;
        self.decode(body, "a handoff")
    }

    /// One page of the handoffs you may see.
    pub async fn list(&self, query: &ListQuery) -> Result<Page<Handoff>, Error> {
        let reply = self
            .api
            .get(&["v1", "handoffs"], &query.pairs(), REQUEST_TIMEOUT)
            .await?;
        self.decode(reply.body, "a page of handoffs")
    }

    /// A reviewer's decision. With `if_match`, refused (412) unless the handoff is still at
    /// that version.
    pub async fn decide(
        &self,
        id: &str,
        decision: &Decision,
        if_match: Option<u64>,
    ) -> Result<Handoff, Error> {
        let headers: Vec<(&str, String)> = if_match
            .map(|v| ("if-match", format!("\"{v}\"")))
            .into_iter()
            .collect();
        let body = self.encode(decision)?;
        let reply = self
            .api
            .post(&["v1", "handoffs", id, "decisions"], &body, &headers)
            .await?;
        self.decode(reply.body, "a handoff")
    }

    /// Withdraws a pending handoff (its agent only).
    pub async fn cancel(&self, id: &str) -> Result<Handoff, Error> {
        let reply = self
            .api
            .post(&["v1", "handoffs", id, "cancel"], &json!({}), &[])
            .await?;
        self.decode(reply.body, "a handoff")
    }

    /// Reports what happened when the agent acted.
    pub async fn outcome(&self, id: &str, report: &OutcomeReport) -> Result<Handoff, Error> {
        let body = self.encode(report)?;
        let reply = self
            .api
            .post(&["v1", "handoffs", id, "outcome"], &body, &[])
            .await?;
        self.decode(reply.body, "a handoff")
    }

    /// The handoff's audit entries, oldest first.
    pub async fn timeline(&self, id: &str) -> Result<Vec<Value>, Error> {
        let reply = self
            .api
            .get(&["v1", "handoffs", id, "timeline"], &[], REQUEST_TIMEOUT)
            .await?;
        self.items(reply.body, "a timeline")
    }

    /// What the policy would decide for this packet, without storing it.
    pub async fn explain(&self, packet: &Value) -> Result<Evaluation, Error> {
        let reply = self
            .api
            .post(&["v1", "policy", "explain"], packet, &[])
            .await?;
        self.decode(reply.body, "an evaluation")
    }

    /// Per-task statistics and the KPIs (SPEC §7), as the server's JSON; `window` as the
    /// policy writes durations (`30d`).
    pub async fn stats(&self, task: Option<&str>, window: Option<&str>) -> Result<Value, Error> {
        let mut query = Vec::new();
        query.extend(task.map(|t| ("task", t.to_owned())));
        query.extend(window.map(|w| ("window", w.to_owned())));
        Ok(self
            .api
            .get(&["v1", "stats"], &query, REQUEST_TIMEOUT)
            .await?
            .body)
    }

    /// Task types the evidence says to promote or demote (admins).
    pub async fn recommendations(&self) -> Result<Vec<Value>, Error> {
        let reply = self
            .api
            .get(&["v1", "recommendations"], &[], REQUEST_TIMEOUT)
            .await?;
        self.items(reply.body, "recommendations")
    }

    /// Promotes or demotes a task type (admins); `reason` goes to the audit log.
    pub async fn set_task_level(
        &self,
        task: &str,
        level: u8,
        reason: &str,
    ) -> Result<LevelChange, Error> {
        let body = json!({ "level": level, "reason": reason });
        let reply = self
            .api
            .post(&["v1", "tasks", task, "level"], &body, &[])
            .await?;
        self.decode(reply.body, "a level change")
    }

    /// One page of the autonomous handoffs waiting for your spot check.
    pub async fn spot_checks(&self, cursor: Option<&str>) -> Result<Page<Handoff>, Error> {
        let query: Vec<(&str, String)> = cursor
            .map(|c| ("cursor", c.to_owned()))
            .into_iter()
            .collect();
        let reply = self
            .api
            .get(&["v1", "spot-checks"], &query, REQUEST_TIMEOUT)
            .await?;
        self.decode(reply.body, "a page of handoffs")
    }

    /// Your verdict on a sampled autonomous handoff.
    pub async fn spot_check(
        &self,
        id: &str,
        verdict: SpotVerdict,
        note: Option<&str>,
    ) -> Result<Handoff, Error> {
        let mut body = json!({ "verdict": verdict });
        if let Some(note) = note {
            body["note"] = note.into();
        }
        let reply = self
            .api
            .post(&["v1", "handoffs", id, "spot-check"], &body, &[])
            .await?;
        self.decode(reply.body, "a handoff")
    }

    /// `GET /v1/export/decisions` (admins): one JSON value per decided handoff, read as
    /// the lines arrive. `query` holds `task`, `since`, `until` pairs.
    pub async fn export_decisions(
        &self,
        query: &[(&str, String)],
    ) -> Result<impl Stream<Item = Result<Value, Error>> + Send + 'static, Error> {
        let res = self
            .api
            .get_stream(&["v1", "export", "decisions"], query, &[])
            .await?;
        Ok(json_lines(res, self.api.server().to_owned()))
    }

    /// `GET /v1/events`: what you may see change, as it happens. Give the id of the last
    /// event you handled to resume after it. The stream ends when the connection does;
    /// reconnect with the last id.
    pub async fn events(
        &self,
        last_event_id: Option<&str>,
    ) -> Result<impl Stream<Item = Result<Event, ApiError>> + Send + 'static, Error> {
        let mut headers = vec![("accept", "text/event-stream".to_owned())];
        headers.extend(last_event_id.map(|id| ("last-event-id", id.to_owned())));
        let res = self
            .api
            .get_stream(&["v1", "events"], &[], &headers)
            .await?;
        Ok(event_stream(res, self.api.server().to_owned()))
    }

    /// The receipt public keys, a JWK Set.
    pub async fn receipt_jwks(&self) -> Result<Value, Error> {
        Ok(self
            .api
            .get(&["v1", "receipt-key"], &[], REQUEST_TIMEOUT)
            .await?
            .body)
    }

    /// Checks `receipt` against the server's key now, and, given the draft about to be
    /// acted on, that it is exactly the approved one. Act only on `Ok`.
    pub async fn verify_receipt(
        &self,
        receipt: &str,
        draft: Option<&Value>,
    ) -> Result<ReceiptPayload, Error> {
        let jwks = self.receipt_jwks().await?;
        let now = chrono::Utc::now().timestamp();
        let payload = receipt::verify(receipt, &jwks, now)?;
        if let Some(draft) = draft {
            receipt::check_draft(&payload, draft)?;
        }
        Ok(payload)
    }

    /// [`Client::verify_receipt`] on an approved handoff's own receipt and approved draft,
    /// checking also that the receipt names this handoff.
    pub async fn verify_handoff(&self, h: &Handoff) -> Result<ReceiptPayload, Error> {
        let receipt = h
            .receipt
            .as_deref()
            .ok_or_else(|| Error::NoReceipt(h.id.clone()))?;
        let payload = self
            .verify_receipt(receipt, h.approved_draft.as_ref())
            .await?;
        if payload.handoff != h.id {
            return Err(ReceiptError::Malformed(format!(
                "the receipt is for {}, not {}",
                payload.handoff, h.id
            ))
            .into());
        }
        Ok(payload)
    }

    fn decode<T: DeserializeOwned>(&self, body: Value, what: &'static str) -> Result<T, Error> {
        serde_json::from_value(body).map_err(|e| Error::Decode {
            server: self.api.server().to_owned(),
            what,
            reason: e.to_string(),
        })
    }

    fn items(&self, mut body: Value, what: &'static str) -> Result<Vec<Value>, Error> {
        match body.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => Ok(items),
            _ => Err(Error::Decode {
                server: self.api.server().to_owned(),
                what,
                reason: "no `items` array".to_owned(),
            }),
        }
    }

    fn encode<T: serde::Serialize>(&self, body: &T) -> Result<Value, Error> {
        // Our request types are strings, numbers and JSON values: always serializable.
        serde_json::to_value(body).map_err(|e| Error::Decode {
            server: self.api.server().to_owned(),
            what: "a request",
            reason: e.to_string(),
        })
    }
}

/// Newline-delimited JSON, one value per line, read as the chunks arrive.
fn json_lines(
    res: reqwest::Response,
    server: String,
) -> impl Stream<Item = Result<Value, Error>> + Send + 'static {
    let state = Some((res, Vec::<u8>::new(), server));
    futures_util::stream::unfold(state, |state| async move {
        let (mut res, mut buf, server) = state?;
        loop {
            if let Some(end) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let item = serde_json::from_slice(&line).map_err(|e| Error::Decode {
                    server: server.clone(),
                    what: "an export line",
                    reason: e.to_string(),
                });
                return Some((item, Some((res, buf, server))));
            }
            match res.chunk().await {
                Ok(Some(bytes)) => buf.extend_from_slice(&bytes),
                // The last line may lack its newline.
                Ok(None) if buf.iter().any(|b| !b.is_ascii_whitespace()) => buf.push(b'\n'),
                Ok(None) => return None,
                Err(e) => {
                    let err = ApiError::Transport {
                        message: format!("the export from {server} stopped midway: {e}"),
                        transient: true,
                        connected: true,
                    };
                    return Some((Err(err.into()), None));
                }
            }
        }
    })
}
