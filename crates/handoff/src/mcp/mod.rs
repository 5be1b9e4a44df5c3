//! The Model Context Protocol front door (SPEC §4 `POST /mcp`, §6 `handoff mcp`): an agent
//! gates an action with one tool call. Built on the official Rust SDK (`rmcp`).
//!
//! - Over streamable HTTP at `/mcp` under the main server (`http.rs`): the agent's bearer
//!   key names the principal (checked before `rmcp` sees the request), and every tool calls
//!   one `App` operation, as the API does.
//! - Over stdio (`handoff mcp --server URL --key KEY`): the same tools, each one request to
//!   the server's HTTP API with the configured key (`Backend::Remote`).
//!
//! The identity is the key, never a tool argument. A timeout answers "still pending" with
//! the id, never an approval; only `approved` says "act".

pub mod http;
mod tools;

pub use tools::{Backend, HandoffMcp};
