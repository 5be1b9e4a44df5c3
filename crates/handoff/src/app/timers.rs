//! The scheduler's step: fire what is due on one handoff, as one store update, so that the
//! timer, its audit entry and the notifications it causes commit together or not at all.

use super::App;
use handoff_domain::schedule::Timer;
use handoff_domain::{Handoff, TransitionError};
use handoff_store::{Change, Deadline, Refused};
use std::sync::{Arc, Mutex};

impl App {
    /// For the scheduler: handoffs by their next deadline, earliest first.
    pub(crate) async fn next_deadlines(&self, limit: u32) -> super::AppResult<Vec<Deadline>> {
        Ok(self.store.next_deadlines(limit).await?)
    }

    /// Fires the timer due on `id` now, if any; whether one fired. A refusal (decided or
    /// fired meanwhile, by this node or another) is not an error.
    pub async fn fire_due(&self, id: &str) -> bool {
        let now = self.now();
        let policy = self.policy();
        let notifier = self.notifier.clone();
        // The team whose SLA passed, when the timer that fires is the SLA's (for metrics,
        // once the change is committed).
        let breached: Arc<Mutex<Option<String>>> = Arc::default();
        let breach = breached.clone();
        let f = Box::new(move |h: &Handoff| {
            let timer = h.due(now).ok_or_else(|| {
                Refused::Transition(TransitionError::Conflict {
                    from: h.state.status,
                    message: "nothing is due".to_owned(),
                })
            })?;
            let up = policy
                .teams
                .get(&h.state.assigned_team)
                .and_then(|t| t.escalate_to.as_deref());
            let fired = h.fire(timer, now, up)?;
            if timer == Timer::Escalate {
                *breach.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(h.state.assigned_team.clone());
            }
            let next = &fired.handoff;
            // What makes the notice unique on this handoff (with the target, the delivery
            // id): the period, the version or the alert's number.
            let cause = match timer {
                Timer::Remind => format!("reminder-{}", h.timers.escalations),
                Timer::Escalate if next.timers.overdue => "overdue".to_owned(),
                Timer::Realert => format!("alert-{}", next.timers.alerts),
                _ => format!("v{}", next.version()),
            };
            let notice = fired
                .notify
                .as_ref()
                .map(|(team, notice)| (team.as_str(), *notice, cause.as_str()));
            let deliveries = notifier.on_change(&policy, h, next, &fired.entry.action, notice, now);
            Ok(Change {
                handoff: fired.handoff,
                audit: fired.entry,
                deliveries,
            })
        });
        let span = tracing::info_span!("timer", handoff = id);
        let updated =
            tracing::Instrument::instrument(self.store.update(id.to_owned(), None, f), span);
        match updated.await {
            Ok(Ok(h)) => {
                if let Some(team) = breached.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    self.metrics.sla_breached(&team);
                }
                tracing::info!(handoff = id, status = %h.state.status, team = %h.state.assigned_team, "timer fired");
                true
            }
            Ok(Err(_)) => false,
            Err(e) => {
                tracing::warn!(handoff = id, error = %e, "a timer could not fire");
                false
            }
        }
    }
}
