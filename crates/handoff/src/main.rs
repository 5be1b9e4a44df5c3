//! `handoff`: one binary for the server and its command-line client; everything it does
//! is in the library (`lib.rs`).
#![forbid(unsafe_code)]

use clap::Parser;
use handoff::{cli, notify};
use std::process::ExitCode;

/// mimalloc: the server allocates many short-lived buffers (bodies, JSON, SQL arguments)
/// across threads; glibc's allocator spent ~20% of the server's CPU under load. Built
/// without transparent huge pages (`no_thp`, see Cargo.toml).
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
