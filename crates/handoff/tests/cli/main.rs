//! The `handoff` command line run as a user runs it: the real binary as a client (exit
//! codes, stdout, stderr) against an in-process server (`client`, `learning`), and the offline
//! commands (`policy`, `receipt verify`); and the Rust client crate the CLI is built on,
//! driven directly against the same in-process server (`rust_client`).

#[path = "../common/mod.rs"]
mod common;

mod client;
mod learning;
mod policy;
mod receipt;
mod rust_client;
