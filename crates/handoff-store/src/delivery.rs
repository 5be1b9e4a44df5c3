//! The outbox's rows: one message to one target (a team's channel or an agent's
//! `callback_url`), written with the change that causes it and then tried until it is
//! delivered or has failed for good.

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    /// The `webhook-id`: the same on every attempt.
    pub id: String,
    pub handoff_id: Option<String>,
    /// The event type (`handoff.routed`, `handoff.decision`, …).
    pub event: String,
    /// `webhook`, `slack`, `email` or `callback`.
    pub channel: String,
    /// The URL or the mail address.
    pub target: String,
    /// The event as JSON `{type, timestamp, data}`: a webhook's body, verbatim.
    pub payload: String,
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (pending deliveries).
    pub next_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

impl Delivery {
    /// A delivery to try at `now`.
    pub fn new(
        id: String,
        handoff_id: Option<String>,
        event: &str,
        channel: &str,
        target: &str,
        payload: String,
        now: DateTime<Utc>,
    ) -> Delivery {
        Delivery {
            id,
            handoff_id,
            event: event.to_owned(),
            channel: channel.to_owned(),
            target: target.to_owned(),
            payload,
            state: DeliveryState::Pending,
            attempts: 0,
            next_at: now,
            created_at: now,
            updated_at: now,
            last_error: None,
        }
    }
}

/// What an attempt (or an admin's redelivery) leaves a delivery as.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempted {
    pub id: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub last_error: Option<String>,
}
