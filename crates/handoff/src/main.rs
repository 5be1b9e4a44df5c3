//! `handoff`: one binary for the server and its command-line client.
//!
//! - `cli::policy`: `policy check | explain | test`, offline, on a policy file.
//! - `cli::bench`: measurements of this machine (`bench policy`).
#![forbid(unsafe_code)]

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
