//! `handoff`: the service and its command-line client, as a library that the binary
//! (`main.rs`) and the tests share. Layers import downwards only:
//!
//! - front doors: `api` (the HTTP API, RFC 9457 errors, OpenAPI), `web` (the reviewer's
//!   inbox: pages, login, CSRF, CSP), `jobs` (the SLA scheduler and the outbox worker,
//!   driven by the clock). Each parses, calls one `App` operation, renders.
//! - `app`: the only way in: every operation, the rights of each role, [`app::AppError`].
//! - below it: `notify` (channels, signatures, the outbox's rules), `receipt` (approval
//!   receipts), `secrets` (the data dir's keys), `ids`, `metrics`; the domain and store
//!   crates.
//! - `server`: [`server::Application`]: builds all of it from a [`server::Config`], a
//!   clock and a shutdown future, and serves until stopped.
//! - `cli`: argument parsing; one module per command (`serve`, `policy`, the API client
//!   commands, `keys`, `audit`, `receipt`, `bench`).
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod cli;
pub mod ids;
pub mod jobs;
pub mod metrics;
pub mod notify;
pub mod receipt;
pub mod secrets;
pub mod server;
pub mod web;
