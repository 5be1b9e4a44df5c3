//! The API seen from outside: the service built in-process (`handoff::server::Application`)
//! on a real loopback port with a fresh data directory per test, a manual clock where time
//! matters, and real HTTP requests. One test binary, one module per concern, in the manner
//! of zero-to-production's `tests/api/`.

#[path = "../common/mod.rs"]
mod common;

mod abuse;
mod audit_tamper;
mod checkpoints;
mod decision_rules;
mod decisions;
mod durability;
mod events;
mod keys_audit;
mod learning;
mod list;
mod longpoll;
mod misc;
mod notify;
mod openapi;
mod outcome;
mod policy;
mod race;
mod read;
mod receipt;
mod revisions;
mod slack;
mod submit;
mod transitions;
