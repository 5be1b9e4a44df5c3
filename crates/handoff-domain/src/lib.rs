//! The handoff domain: plain types and functions, no I/O, no clock, no runtime.
//!
//! - [`packet`]: what an agent sends (SPEC §2), parsed so that what crossed the boundary is
//!   valid by construction; every bad field is reported at once as a [`FieldError`].
//! - [`policy`]: the TOML policy (SPEC §5), compiled once (CEL included) and evaluated per
//!   packet into an [`Evaluation`]: level, risk, route, approvals, SLA and the reasons.
//! - [`level`]: levels 1–4, risks and the four-dimension rubric.
//! - [`duration`]: the policy's `4h` / `1h30m` / `30d` notation.
//!
//! The HTTP server, the store and the CLI build on these; nothing here knows about them.
#![forbid(unsafe_code)]

pub mod duration;
pub mod field_error;
pub mod level;
pub mod packet;
pub mod policy;

pub use duration::Span;
pub use field_error::FieldError;
pub use level::{Dimension, Level, Risk, Rubric};
pub use packet::{Packet, TaskName};
pub use policy::{Evaluation, Policy, PolicyError, PolicyErrors, Reason};
