//! The outbox's rows: one message to one target (a team's channel or an agent's
//! `callback_url`), written with the change that causes it and then tried until it is
//! delivered or has failed for good. [`Channel`] says how it travels, [`DeliveryState`]
//! where it is, [`Attempted`] what an attempt left it as.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a delivery travels: a team's webhook, Slack or e-mail channel, or an agent's
/// `callback_url`. Stored and shown as the snake_case word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Channel {
    Webhook,
    Slack,
    Email,
    Callback,
}

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::Webhook,
        Channel::Slack,
        Channel::Email,
        Channel::Callback,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Slack => "slack",
            Channel::Email => "email",
            Channel::Callback => "callback",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    pub channel: Channel,
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
        channel: Channel,
        target: &str,
        payload: String,
        now: DateTime<Utc>,
    ) -> Delivery {
        Delivery {
            id,
            handoff_id,
            event: event.to_owned(),
            channel,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_states_are_their_snake_case_words_in_json_text_and_parse() {
        for channel in Channel::ALL {
            let json = serde_json::to_value(channel).expect("a channel serialises");
            assert_eq!(json, serde_json::json!(channel.as_str()));
            assert_eq!(channel.to_string(), channel.as_str());
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
            let back: Channel = serde_json::from_value(json).expect("a channel deserialises");
            assert_eq!(back, channel);
        }
        let words: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(words, ["webhook", "slack", "email", "callback"]);
        assert_eq!(Channel::parse("sms"), None);
        for state in [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ] {
            let json = serde_json::to_value(state).expect("a state serialises");
            assert_eq!(json, serde_json::json!(state.as_str()));
            assert_eq!(DeliveryState::parse(state.as_str()), Some(state));
        }
    }

    #[test]
    fn a_delivery_serialises_its_channel_as_the_word() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap_or_default();
        let d = Delivery::new(
            "msg_1".to_owned(),
            Some("hnd_1".to_owned()),
            "handoff.routed",
            Channel::Slack,
            "https://hooks.example/x",
            "{}".to_owned(),
            at,
        );
        let json = serde_json::to_value(&d).expect("a delivery serialises");
        assert_eq!(json["channel"], "slack");
        assert_eq!(json["state"], "pending");
    }
}
