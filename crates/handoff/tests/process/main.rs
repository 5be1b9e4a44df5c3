//! What only a process has, so these tests run the real `handoff serve` binary
//! ([`Spawned`]): SIGKILL and SIGTERM, the exit status, and what `serve` prints. Every
//! other black-box test builds the service in-process (`tests/api`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../api/notify/support.rs"]
#[allow(dead_code)]
mod support;

mod crash;
mod longpolls;
mod nodes;
mod notify;
mod serve;
