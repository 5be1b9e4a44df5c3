//! The handoff domain: plain types and functions, no I/O, no clock, no runtime.
//!
//! - [`packet`]: what an agent sends (SPEC §2), parsed so that what crossed the boundary is
//!   valid by construction; every bad field is reported at once as a [`FieldError`].
//! - [`policy`]: the TOML policy (SPEC §5), compiled once (CEL included) and evaluated per
//!   packet into an [`Evaluation`]: level, risk, route, approvals, SLA and the reasons.
//! - [`level`]: levels 1–4, risks and the four-dimension rubric.
//! - [`duration`]: the policy's `4h` / `1h30m` / `30d` notation.
//! - [`lifecycle`]: the handoff state machine (SPEC §3): a state and a command give the
//!   next state or a [`TransitionError`].
//! - [`handoff`]: the stored handoff: packet, evaluation, lifecycle state, receipt.
//! - [`schedule`]: the clock's part: SLA reminders, escalation, expiry, level-4 re-alerts.
//! - [`canonical`]: RFC 8785 canonical JSON and its SHA-256, the digest of drafts.
//! - [`diff`]: a word-level diff of two texts (an edit against the agent's draft, a
//!   revision against the draft it supersedes), folded and counted in words.
//! - [`ijson`]: I-JSON's rule that a member name appears once per object, checked on the
//!   text before anything reads it.
//! - [`audit`]: the hash-chained audit log (SPEC §9): sealing entries, verifying chains.
//! - [`checkpoint`]: the chain's signed head and a chain judged against it (a cut tail,
//!   a rewritten one).
//! - [`revision`]: a handoff that supersedes an earlier one (SPEC §2): what is refused,
//!   and the JSON Patch from the old draft to the new.
//! - [`role`]: what a key may do: agent, reviewer or admin.
//! - [`shared_json`]: a JSON value that never changes (a handoff's packet, its current
//!   draft), shared by the handoff's copies.
//! - [`learning`]: the statistics of the learning loop (SPEC §7): Wilson intervals,
//!   promotion recommendations, the monitor that demotes, confidence buckets, percentiles.
//!
//! The HTTP server, the store and the CLI build on these; nothing here knows about them.
#![forbid(unsafe_code)]

pub mod audit;
pub mod canonical;
pub mod checkpoint;
pub mod diff;
pub mod duration;
pub mod field_error;
pub mod handoff;
pub mod ijson;
pub mod learning;
pub mod level;
pub mod lifecycle;
pub mod packet;
pub mod policy;
pub mod revision;
pub mod role;
pub mod schedule;
pub mod shared_json;

pub use audit::{AuditEntry, ChainVerifier, NewEntry, Verification};
pub use duration::Span;
pub use field_error::FieldError;
pub use handoff::Handoff;
pub use learning::{Demotion, Monitor, Recommendation, Stream, StreamKind};
pub use level::{Dimension, Level, Risk, Rubric};
pub use lifecycle::{Command, DecisionAction, Lifecycle, Status, TransitionError};
pub use packet::{Packet, TaskName};
pub use policy::{Evaluation, Policy, PolicyError, PolicyErrors, Reason};
pub use role::Role;
pub use shared_json::SharedJson;
