//! Notifications (SPEC §8, issue 5) seen from outside: real receivers on loopback (an HTTP
//! listener scripted per path, a tiny SMTP listener), the in-process server with a fast
//! retry schedule, and the admin's view of the outbox (`/v1/deliveries`, the timeline).
//! Where time matters (retries, Retry-After, SLA reminders and escalations, expiry) the
//! server runs on a manual clock that the test advances; the receiver times requests on
//! the same clock. The crash tests (SIGKILL or SIGTERM mid-send) are in `tests/process`.

mod callbacks;
mod channels;
mod deliveries;
mod signatures;
mod sla;
mod smtp;
pub mod support;
mod webhooks;
