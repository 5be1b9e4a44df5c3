//! `handoff`: one binary for the server and its command-line client.
//!
//! - `cli`: argument parsing; one module per command (`serve`, `policy`, the API client
//!   commands in `cli/client/`, `keys`, `audit`, `receipt`, `bench`).
//! - `server`: startup (store, policy, admin key, receipt key), listening, graceful drain.
//! - `api`: the HTTP API, one file per resource and action, RFC 9457 errors, OpenAPI.
//! - `app`: the service's state and operations between the handlers and the store.
//! - `receipt`: approval receipts, Ed25519-signed JWS (sign, verify, the key file).
//! - `expiry`: the task that expires pending handoffs at `expires_at`.
//! - `web`: the reviewer's web inbox: pages, login and session cookie, CSRF, CSP.
//! - `ids`: handoff ids (ULIDs) and API keys; `metrics`: Prometheus counters.
#![forbid(unsafe_code)]

mod api;
mod app;
mod cli;
mod ids;
mod metrics;
mod notify;
mod receipt;
mod scheduler;
mod server;
mod web;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc: the server allocates many short-lived buffers (bodies, JSON, SQL arguments)
/// across threads; glibc's allocator spent ~20% of the server's CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    notify::install_tls();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
