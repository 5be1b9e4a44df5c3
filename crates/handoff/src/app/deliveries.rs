//! The outbox through `App`: admins list deliveries and send a failed one again; the
//! outbox job reads what is due and makes one attempt, recorded with its audit entry.

use super::{App, AppError, AppResult, Page, Principal};
use handoff_domain::audit::NewEntry;
use handoff_store::{Attempted, Delivery, DeliveryState};
use serde_json::json;

/// Deliveries per page unless asked (at most [`MAX_PAGE`]).
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;
/// How long a node's claim on a delivery it is sending lasts beyond twice the attempt's
/// timeout (`--delivery-timeout`): a live sender records its attempt well before, a dead
/// one's claims lapse and another node sends again, under the same `webhook-id`.
pub const DELIVERY_LEASE_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

impl App {
    /// Deliveries, newest first, optionally in one state; admins only.
    pub async fn deliveries(
        &self,
        who: &Principal,
        state: Option<DeliveryState>,
        cursor: Option<String>,
        limit: Option<u32>,
    ) -> AppResult<Page<Delivery>> {
        who.require_admin("read deliveries")?;
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(AppError::field("limit", "must be 1 to 500"));
        }
        let items = self.store.deliveries(state, cursor, limit + 1).await?;
        Ok(Page::cut(items, limit, |d| d.id.clone()))
    }

    /// One delivery; admins only.
    pub async fn delivery(&self, who: &Principal, id: &str) -> AppResult<Delivery> {
        who.require_admin("read deliveries")?;
        self.store
            .delivery(id)
            .await?
            .ok_or(AppError::NotFound("such delivery"))
    }

    /// Starts a delivery's attempts over, at once; audited as `notification.redelivered`.
    /// One still pending is refused: it is being tried.
    pub async fn redeliver(&self, who: &Principal, id: &str) -> AppResult<Delivery> {
        who.require_admin("redeliver notifications")?;
        let Some(d) = self.store.delivery(id).await? else {
            return Err(AppError::NotFound("such delivery"));
        };
        if d.state == DeliveryState::Pending {
            return Err(AppError::conflict(format!(
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
                "target": crate::notify::outbox::redact(d.channel, &d.target),
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

    /// For the outbox job: the deliveries due now, leaving out `skip`, claimed for this
    /// node for twice the delivery timeout and [`DELIVERY_LEASE_MARGIN`] (see
    /// `Store::claim_deliveries`).
    pub(crate) async fn claim_deliveries(
        &self,
        limit: u32,
        skip: Vec<String>,
    ) -> AppResult<handoff_store::Claimed> {
        let now = self.now();
        let timeout = chrono::TimeDelta::from_std(self.notifier.settings.timeout * 2)
            .unwrap_or(chrono::TimeDelta::minutes(2));
        let lease_until = now + timeout + DELIVERY_LEASE_MARGIN;
        Ok(self
            .store
            .claim_deliveries(now, lease_until, limit, skip)
            .await?)
    }

    /// For the outbox job: one attempt at `d`, recorded with its audit entry
    /// (`notification.sent` or `notification.failed`); whether the record was stored.
    pub(crate) async fn attempt_delivery(&self, d: Delivery, jitter: f64) -> bool {
        let sent = self.notifier.send(&d, self.now()).await;
        let now = self.now();
        self.metrics.delivery(d.channel.as_str(), sent.is_ok());
        let schedule = &self.notifier.settings.schedule;
        let (attempted, entry) = crate::notify::outbox::settle(&d, &sent, schedule, now, jitter);
        // Every attempt is in the audit log; the log shows only what needs a person.
        match &sent {
            Ok(_) => tracing::debug!(delivery = %d.id, channel = %d.channel, "delivered"),
            Err(f) if attempted.state == DeliveryState::Failed => tracing::warn!(
                delivery = %d.id, channel = %d.channel, attempts = attempted.attempts,
                error = %f.message, "delivery failed for good; an admin can redeliver it"
            ),
            Err(f) => tracing::debug!(
                delivery = %d.id, channel = %d.channel, error = %f.message,
                "delivery attempt failed"
            ),
        }
        match self.store.record_attempt(attempted, Some(entry)).await {
            Ok(()) => true,
            Err(e) => {
                // The delivery stays pending: it is tried again (same id) later.
                tracing::warn!(delivery = %d.id, error = %e, "cannot record a delivery attempt");
                false
            }
        }
    }
}
