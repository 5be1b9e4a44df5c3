//! The clock's part in a handoff's life (SPEC §8, §3): a reminder at half the SLA,
//! escalation up the chain when the SLA passes (the SLA then moves one period later),
//! expiry at `expires_at` (never approval), and level-4 re-alerts every 15 minutes until
//! someone acknowledges.
//!
//! Everything here is a function of the stored handoff and a time: [`Handoff::next_deadline`]
//! is what the scheduler waits for (the store indexes it), [`Handoff::due`] is what is due
//! at a moment, and [`Handoff::fire`] is the change it makes. A timer that fired is
//! recorded in the handoff itself ([`Timers`]), inside the same transaction as its audit
//! entry, so it cannot fire twice.

use crate::audit::NewEntry;
use crate::handoff::Handoff;
use crate::lifecycle::{Command, Status, TransitionError};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Level-4 alerts ring again this often until acknowledged.
pub const REALERT_EVERY: Duration = Duration::minutes(15);

/// The actor of audit entries the clock makes.
pub const BY_SCHEDULER: &str = "system";

/// What the clock has done to one handoff so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timers {
    /// The reminder of the current SLA period has gone out.
    #[serde(default)]
    pub reminded: bool,
    /// Escalations made by the clock (a reviewer's escalation is a decision).
    #[serde(default)]
    pub escalations: u32,
    /// The SLA passed with no team above: the owners were told, no further SLA timers.
    #[serde(default)]
    pub overdue: bool,
    /// Level-4 alerts sent, the first at submission.
    #[serde(default)]
    pub alerts: u32,
    #[serde(default)]
    pub last_alert_at: Option<DateTime<Utc>>,
}

impl Timers {
    /// Nothing has fired: the state every handoff starts in below level 4.
    pub fn is_untouched(&self) -> bool {
        *self == Timers::default()
    }
}

/// One kind of deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    Remind,
    Escalate,
    Expire,
    Realert,
}

/// Why a team hears about a handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// Routed to the team: at submission or by an escalation.
    Routed,
    /// Half the SLA has gone, or all of it with nobody above.
    Reminder,
    /// A level-4 alert, first or repeated.
    Alert,
}

impl Notice {
    /// The webhook event type.
    pub fn event_type(self) -> &'static str {
        match self {
            Notice::Routed => "handoff.routed",
            Notice::Reminder => "handoff.reminder",
            Notice::Alert => "handoff.alert",
        }
    }
}

/// A timer that fired: the new record, its audit entry, and who to tell.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub handoff: Handoff,
    pub entry: NewEntry,
    /// The team to notify and why; expiry tells only the agent.
    pub notify: Option<(String, Notice)>,
}

impl Handoff {
    /// Half the current SLA period before it ends.
    pub fn reminder_at(&self) -> DateTime<Utc> {
        let half = Duration::seconds(i64::try_from(self.evaluation.sla.as_secs() / 2).unwrap_or(0));
        self.evaluation.sla_due_at - half
    }

    /// When the next alert of a level-4 handoff rings.
    fn realert_at(&self) -> DateTime<Utc> {
        self.timers.last_alert_at.unwrap_or(self.created_at) + REALERT_EVERY
    }

    /// Every deadline still ahead of this handoff in its current state, with its time.
    fn deadlines(&self) -> Vec<(DateTime<Utc>, Timer)> {
        let t = &self.timers;
        let mut out = Vec::with_capacity(3);
        match self.state.status {
            Status::Pending => {
                if !t.overdue {
                    if !t.reminded {
                        out.push((self.reminder_at(), Timer::Remind));
                    }
                    out.push((self.evaluation.sla_due_at, Timer::Escalate));
                }
                out.push((self.evaluation.expires_at, Timer::Expire));
            }
            Status::Alerted => out.push((self.realert_at(), Timer::Realert)),
            _ => {}
        }
        out
    }

    /// The earliest moment something is due: what the scheduler sleeps until.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.deadlines().into_iter().map(|(at, _)| at).min()
    }

    /// The one timer to fire at `now`, if any. When several have passed (the server was
    /// down), the furthest along wins: expiry over escalation over the reminder, so a
    /// stale reminder is not sent for an SLA that has already passed.
    pub fn due(&self, now: DateTime<Utc>) -> Option<Timer> {
        let passed: Vec<Timer> = self
            .deadlines()
            .into_iter()
            .filter(|(at, _)| *at <= now)
            .map(|(_, t)| t)
            .collect();
        [
            Timer::Expire,
            Timer::Escalate,
            Timer::Remind,
            Timer::Realert,
        ]
        .into_iter()
        .find(|t| passed.contains(t))
    }

    /// Fires `timer` at `now`. `escalate_to` is the assigned team's `escalate_to` in the
    /// active policy (only read for [`Timer::Escalate`]). Refused (409) when the timer is
    /// not due: the handoff was decided or the timer fired meanwhile.
    pub fn fire(
        &self,
        timer: Timer,
        now: DateTime<Utc>,
        escalate_to: Option<&str>,
    ) -> Result<Fired, TransitionError> {
        if self.due(now) != Some(timer) {
            return Err(TransitionError::Conflict {
                from: self.state.status,
                message: format!("{timer:?} is not due"),
            });
        }
        let mut next = self.clone();
        let team = self.state.assigned_team.clone();
        let (action, data, notify) = match timer {
            Timer::Remind => {
                next.timers.reminded = true;
                let data =
                    json!({"kind": "sla", "team": team, "sla_due_at": self.evaluation.sla_due_at});
                ("handoff.reminded", data, Some((team, Notice::Reminder)))
            }
            Timer::Escalate => match escalate_to {
                Some(to) if to != team && self.evaluation.sla.as_secs() > 0 => {
                    let applied = self.state.apply(
                        Command::SlaEscalate {
                            to_team: to.to_owned(),
                        },
                        now,
                    )?;
                    next.state = applied.state;
                    next.updated_at = now;
                    // One SLA later; when that has passed too (the server was down),
                    // one SLA from now, so each team up the chain gets a whole period.
                    let sla = self.evaluation.sla.to_chrono();
                    let one_later = self.evaluation.sla_due_at + sla;
                    next.evaluation.sla_due_at = if one_later > now {
                        one_later
                    } else {
                        now + sla
                    };
                    next.timers.reminded = false;
                    next.timers.escalations += 1;
                    let data = json!({
                        "from_team": team,
                        "to_team": to,
                        "sla_due_at": next.evaluation.sla_due_at,
                        "reason": "sla passed",
                    });
                    (
                        "handoff.escalated",
                        data,
                        Some((to.to_owned(), Notice::Routed)),
                    )
                }
                _ => {
                    next.timers.overdue = true;
                    let data = json!({"kind": "overdue", "team": team, "sla_due_at": self.evaluation.sla_due_at});
                    ("handoff.reminded", data, Some((team, Notice::Reminder)))
                }
            },
            Timer::Expire => {
                let applied = self.state.apply(Command::Expire, now)?;
                next.state = applied.state;
                next.updated_at = now;
                let data = json!({
                    "expires_at": self.evaluation.expires_at,
                    "from_status": applied.from,
                    "to_status": applied.to,
                });
                ("handoff.expired", data, None)
            }
            Timer::Realert => {
                next.timers.alerts = self.timers.alerts.max(1) + 1;
                next.timers.last_alert_at = Some(now);
                let data = json!({"kind": "alert", "team": team, "alert": next.timers.alerts});
                ("handoff.reminded", data, Some((team, Notice::Alert)))
            }
        };
        Ok(Fired {
            entry: NewEntry {
                at: now,
                actor: BY_SCHEDULER.to_owned(),
                action: action.to_owned(),
                handoff_id: Some(self.id.clone()),
                data,
            },
            handoff: next,
            notify,
        })
    }
}

#[cfg(test)]
mod tests;
