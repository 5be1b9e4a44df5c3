//! `handoff mcp`: the MCP tools on stdio, for an editor or a desktop agent that starts
//! its servers as processes. Each tool is one request to the server's HTTP API with the
//! configured key (the same tools as `POST /mcp`). Logs go to stderr: stdout carries the
//! protocol.

use crate::cli::client::http::connect;
use crate::mcp::{Backend, HandoffMcp};
use clap::Args;
use rmcp::ServiceExt;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct McpArgs {
    /// The server's base URL.
    #[arg(
        long,
        env = "HANDOFF_URL",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    server: String,
    /// The agent's API key; prefer HANDOFF_KEY, as arguments show in the process list.
    #[arg(long, env = "HANDOFF_KEY", hide_env_values = true, value_name = "KEY")]
    key: Option<String>,
}

pub fn run(args: McpArgs) -> anyhow::Result<ExitCode> {
    let api = connect(&args.server, args.key.as_deref().unwrap_or(""))?;
    let rt = crate::cli::runtime()?;
    rt.block_on(async move {
        let service = HandoffMcp::new(Backend::Remote(Arc::new(api)))
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| anyhow::anyhow!("the MCP session did not start: {e}"))?;
        service
            .waiting()
            .await
            .map_err(|e| anyhow::anyhow!("the MCP session failed: {e}"))?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
