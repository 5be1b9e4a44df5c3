//! The HTTP layer is the client crate's (`handoff_client::http`): one client in the tree for
//! the CLI, its MCP stdio tools and every Rust agent. Only what the flags add lives here.

pub use handoff_client::http::*;

/// [`Api::new`] with the flags and variables to fix named in its refusals.
pub fn connect(server: &str, key: &str) -> anyhow::Result<Api> {
    Api::new(server, key).map_err(|e| match e {
        ConnectError::NoKey => anyhow::anyhow!("no API key: pass --key KEY or set HANDOFF_KEY"),
        ConnectError::BadKey => {
            anyhow::anyhow!("the API key (--key / HANDOFF_KEY) holds characters a key cannot have")
        }
        e @ (ConnectError::NotAUrl { .. }
        | ConnectError::NotHttp { .. }
        | ConnectError::NoHost { .. }) => anyhow::anyhow!("--server / HANDOFF_URL: {e}"),
        e => e.into(),
    })
}
