//! The black-box harness of the tests, in the manner of zero-to-production's
//! `tests/api/helpers.rs`, split by concern:
//!
//! - [`app`]: [`TestApp`], the service built in-process by `handoff::server::Application`
//!   on a real loopback port, with a fresh data directory, and optionally a manual clock;
//! - [`endpoints`]: a typed helper per endpoint (`submit`, `decide`, `key`, …) and the
//!   [`Cast`] of keys of the example policy;
//! - [`process`]: [`Spawned`], the real `handoff serve` binary, for the tests about what
//!   only a process has (SIGKILL, SIGTERM, exit codes, what `serve` prints);
//! - [`packets`]: packets of the example policy; [`responses`]: status, problem and JSON
//!   checks; [`events`]: the server-sent event reader; [`receiver`]: a scripted HTTP
//!   receiver for notifications.
//!
//! Every test binary includes this module and uses a different part of it, hence the
//! `dead_code` allowance.
#![allow(dead_code, unused_imports)]

pub mod app;
pub mod endpoints;
pub mod events;
pub mod packets;
pub mod process;
pub mod receiver;
pub mod responses;

pub use app::TestApp;
pub use endpoints::{Cast, handoff_cli};
pub use events::{Event, EventStream};
pub use packets::*;
pub use process::Spawned;
pub use responses::*;
