//! The background jobs, a front door driven by the clock instead of a request: they call
//! `App` operations like the API does.
//!
//! - [`scheduler`]: SLA reminders, escalation, expiry, level-4 re-alerts;
//! - [`outbox`]: sends the queued notifications and records each attempt;
//! - [`checkpoints`]: signs the audit chain's head every 1,000 entries;
//! - [`notices`]: reloads what another node on the same database changed (keys, the
//!   policy, task levels).

pub mod checkpoints;
pub mod notices;
pub mod outbox;
pub mod scheduler;
