//! What only a process has, so these tests run the real `handoff serve` binary
//! ([`Spawned`]): SIGKILL and SIGTERM (one, and a storm of them: `storm`), the exit
//! status, what `serve` prints, and a data dir whose disk is full (`diskfull`). Every
//! other black-box test builds the service in-process (`tests/api`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../api/notify/support.rs"]
#[allow(dead_code)]
mod support;

mod crash;
mod diskfull;
mod load;
mod longpolls;
mod nodes;
mod notify;
mod serve;
mod storm;
