//! The outbox as admins see it: deliveries by state, and sending a failed one again.

use super::{App, Principal};
use crate::api::ApiError;
use handoff_domain::audit::NewEntry;
use handoff_store::{Attempted, Delivery, DeliveryState};
use serde_json::json;

impl App {
    /// Starts a delivery's attempts over, at once; audited as `notification.redelivered`.
    /// One still pending is refused (409): it is being tried.
    pub async fn redeliver(&self, who: &Principal, id: &str) -> Result<Delivery, ApiError> {
        who.require_admin("redeliver notifications")?;
        let Some(d) = self.store.delivery(id).await? else {
            return Err(ApiError::not_found("such delivery"));
        };
        if d.state == DeliveryState::Pending {
            return Err(ApiError::conflict(format!(
                "delivery {id} is pending: attempt {} is due at {}",
                d.attempts + 1,
                d.next_at.to_rfc3339()
            )));
        }
        let now = self.now();
        let attempt = Attempted {
            id: d.id.clone(),
            state: DeliveryState::Pending,
            attempts: 0,
            next_at: now,
            at: now,
            last_error: d.last_error.clone(),
        };
        let entry = NewEntry {
            at: now,
            actor: who.name.clone(),
            action: "notification.redelivered".to_owned(),
            handoff_id: d.handoff_id.clone(),
            data: json!({
                "delivery": d.id,
                "event": d.event,
                "channel": d.channel,
                "target": crate::notify::outbox::redact(&d.channel, &d.target),
                "previous_state": d.state,
                "previous_attempts": d.attempts,
            }),
        };
        self.store.record_attempt(attempt, Some(entry)).await?;
        Ok(Delivery {
            state: DeliveryState::Pending,
            attempts: 0,
            next_at: now,
            updated_at: now,
            ..d
        })
    }
}
