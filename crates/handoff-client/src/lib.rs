//! A Rust client for handoff, the approval gate between AI agents and the people who own
//! the risk: typed requests and answers for the API (SPEC §3, §4), the long-poll loop, the
//! event stream, and offline receipt verification.
//!
//! An agent gates an action: submit, wait, act only on approval and only with the approved
//! draft, check the receipt, report the outcome.
//!
//! ```no_run
//! # async fn send_email(_draft: &serde_json::Value) -> Result<(), String> { Ok(()) }
//! # async fn gate() -> Result<(), handoff_client::Error> {
//! use handoff_client::{Client, OutcomeReport};
//! use std::time::Duration;
//!
//! let handoff = Client::new("http://127.0.0.1:8080", &std::env::var("HANDOFF_KEY").unwrap_or_default())?;
//! let packet = serde_json::json!({"task": "respond_to_client_inquiry", "confidence": 0.8,
//!     "summary": "Reply to ACME about the invoice", "draft": "Dear ACME, …"});
//! let h = handoff.submit(&packet, Some("acme-invoice-reply")).await?;
//! let h = handoff.wait_for_decision(&h.id, Duration::from_secs(3600)).await?;
//! if h.is_approved() {                                  // pending, rejected, expired: do nothing
//!     handoff.verify_handoff(&h).await?;                // signed by the server, for this draft
//!     let draft = h.approved_draft.clone().unwrap_or_default(); // the reviewer may have edited it
//!     let report = match send_email(&draft).await {
//!         Ok(()) => OutcomeReport::executed(h.approved_draft_sha256()),
//!         Err(e) => OutcomeReport::failed(e),
//!     };
//!     handoff.outcome(&h.id, &report).await?;
//! }
//! # Ok(()) }
//! ```
//!
//! Layout:
//!
//! - [`client`]: [`Client`], one method per operation, and its [`Error`];
//! - [`types`]: the resource ([`Handoff`]), pages, decisions, outcome reports, events;
//!   the state machine's words come from `handoff-domain`, shared with the server;
//! - [`http`]: the raw layer the typed client, the `handoff` CLI and its MCP stdio tools
//!   all send through: bearer auth, JSON, RFC 9457 problems;
//! - [`poll`]: the long-poll loop, which `handoff wait` shares;
//! - [`events`]: the Server-Sent Events parser; [`receipt`]: JWS receipt checks, the very
//!   functions the server uses; [`checkpoint`]: the audit log's signed checkpoints, by the
//!   same JWS code; [`text`]: server text made inert for a terminal.

#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod client;
pub mod events;
pub mod http;
pub mod poll;
pub mod receipt;
pub mod text;
pub mod types;

pub use client::{Client, Error};
pub use http::{ApiError, Problem};
pub use receipt::{ReceiptError, ReceiptPayload};
pub use types::{
    Decision, DecisionAction, Evaluation, Event, Handoff, LevelChange, ListQuery, OutcomeReport,
    OutcomeResult, Page, SpotVerdict, Status,
};

/// Installs rustls's ring provider as the process default, once: the workspace builds
/// reqwest with rustls and no provider of its own. Installing twice is harmless.
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
