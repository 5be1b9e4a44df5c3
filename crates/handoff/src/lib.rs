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
//!   clock and a shutdown future, and serves until stopped (`listen`: the accept loop).
//! - `cli`: argument parsing; one module per command (`serve`, `policy`, the API client
//!   commands, `keys`, `audit`, `receipt`, `bench`).
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod cli;
pub mod ids;
pub mod jobs;
pub mod listen;
pub mod mcp;
pub mod metrics;
pub mod notify;
pub mod peer;
pub mod receipt;
pub mod secrets;
pub mod server;
pub mod web;

/// The layers point one way: these imports would make a front door's rules leak into the
/// application layer, or the application layer into what it uses.
#[cfg(test)]
mod layers {
    use std::path::Path;

    /// Every `.rs` file under `src/<dir>`, with its text.
    fn sources(dir: &str) -> Vec<(String, String)> {
        fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let text = std::fs::read_to_string(&p).unwrap_or_default();
                    out.push((p.display().to_string(), text));
                }
            }
        }
        let mut out = Vec::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir),
            &mut out,
        );
        assert!(!out.is_empty(), "no sources under src/{dir}");
        out
    }

    fn refuse(dir: &str, forbidden: &[&str]) {
        for (file, text) in sources(dir) {
            for f in forbidden {
                assert!(!text.contains(f), "{file} uses {f}: {dir}/ must not");
            }
        }
    }

    #[test]
    fn the_application_layer_knows_no_front_door() {
        refuse(
            "app",
            &["crate::api", "crate::web", "crate::jobs", "axum::"],
        );
    }

    #[test]
    fn notifications_know_nothing_of_the_application_layer() {
        refuse("notify", &["crate::app", "crate::api", "crate::web"]);
    }

    #[test]
    fn the_pages_do_not_reach_into_startup_or_the_store() {
        refuse("web", &["crate::server", ".store."]);
        refuse("api", &["crate::server", ".store."]);
    }
}
