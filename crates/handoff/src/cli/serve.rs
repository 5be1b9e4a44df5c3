//! `handoff serve`: run the service.

use crate::notify::{AllowList, RetrySchedule};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "HANDOFF_ADDR", default_value = "127.0.0.1:8080")]
    addr: String,
    /// Where the database, the admin key and the receipt key live.
    #[arg(long, env = "HANDOFF_DATA_DIR", default_value = "./handoff-data")]
    data_dir: PathBuf,
    /// The policy file (default: the built-in example). Loaded when its text changed
    /// since the last start; otherwise the stored policy (perhaps from PUT) stays.
    #[arg(long, env = "HANDOFF_POLICY")]
    policy: Option<PathBuf>,
    /// `sqlite:PATH`, or `postgres://USER:PASSWORD@HOST:PORT/DB` for several nodes on
    /// one database (docs/DEPLOY.md). Default: SQLite at `<data-dir>/handoff.db`.
    #[arg(long, env = "HANDOFF_DATABASE_URL")]
    database_url: Option<String>,
    /// The address people open, for links in notifications (default: http:// and the
    /// listening address).
    #[arg(long, env = "HANDOFF_PUBLIC_URL")]
    public_url: Option<String>,
    /// Webhook signing secrets, `whsec_…`; the first is current, more may be given during
    /// a rotation (all sign). Default: one generated once and kept in the data dir.
    #[arg(
        long,
        env = "HANDOFF_WEBHOOK_SECRET",
        value_delimiter = ',',
        hide_env_values = true
    )]
    webhook_secret: Vec<String>,
    /// The SMTP server for `email:` targets: `smtp://host:25`, `smtp://host:587?tls=required`,
    /// `smtps://user:pass@host`.
    #[arg(long, env = "HANDOFF_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// The sender of notification e-mails.
    #[arg(
        long,
        env = "HANDOFF_MAIL_FROM",
        default_value = "handoff <handoff@localhost>"
    )]
    mail_from: String,
    /// Networks, addresses or host names agents' `callback_url`s may reach although they
    /// are private or loopback (`10.0.0.0/8`, `127.0.0.1`, `hooks.internal`).
    #[arg(long, env = "HANDOFF_CALLBACK_ALLOW", value_delimiter = ',')]
    callback_allow: Vec<String>,
    /// The delay before each delivery attempt (default: the Standard Webhooks schedule,
    /// `0s,5s,5m,30m,2h,5h,10h,14h,20h,24h`); shorter ones are for tests.
    #[arg(long, env = "HANDOFF_RETRY_SCHEDULE")]
    retry_schedule: Option<String>,
    /// How long one delivery attempt may take.
    #[arg(long, env = "HANDOFF_DELIVERY_TIMEOUT", default_value = "15s")]
    delivery_timeout: String,
    /// The Slack app's signing secret (its Basic Information page): `slack:` messages
    /// then carry approve, reject, escalate and open buttons, and
    /// `POST /v1/integrations/slack` takes their presses. Without it, Slack messages are
    /// one-way and that endpoint answers 401.
    #[arg(long, env = "HANDOFF_SLACK_SIGNING_SECRET", hide_env_values = true)]
    slack_signing_secret: Option<String>,
    /// Failed authentications (unknown or revoked keys) allowed per client address
    /// (IPv6: per /64) before it must wait (`429` with `Retry-After`): `N/minute`,
    /// `N/second`, `N/hour` (N at once, then one more every period/N), or `off`. Behind
    /// a proxy every client shares the proxy's address: raise it or turn it off there.
    #[arg(long, env = "HANDOFF_AUTH_FAILURES", default_value = "10/minute")]
    auth_failures: String,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    let schedule = match &args.retry_schedule {
        Some(text) => {
            RetrySchedule::parse(text).map_err(|e| anyhow::anyhow!("--retry-schedule: {e}"))?
        }
        None => RetrySchedule::default(),
    };
    let timeout = RetrySchedule::parse(&args.delivery_timeout)
        .ok()
        .and_then(|s| s.0.first().copied())
        .filter(|t| !t.is_zero())
        .ok_or_else(|| anyhow::anyhow!("--delivery-timeout: write a duration such as 15s"))?;
    let auth_failures = crate::app::ThrottleRule::parse(&args.auth_failures)
        .map_err(|e| anyhow::anyhow!("--auth-failures: {e}"))?;
    let cfg = crate::server::Config {
        addr: args.addr,
        data_dir: args.data_dir,
        policy_file: args.policy,
        database_url: args.database_url,
        public_url: args.public_url,
        webhook_secrets: args.webhook_secret,
        smtp_url: args.smtp_url,
        mail_from: args.mail_from,
        callback_allow: AllowList::parse(&args.callback_allow)
            .map_err(|e| anyhow::anyhow!("--callback-allow: {e}"))?,
        schedule,
        delivery_timeout: timeout,
        slack_signing_secret: args.slack_signing_secret.filter(|s| !s.is_empty()),
        auth_failures,
    };
    super::runtime()?.block_on(crate::server::run(cfg))?;
    Ok(ExitCode::SUCCESS)
}

/// Logs to stderr; `RUST_LOG` sets the filter (default `info`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
