//! Starting and stopping the service (`Application::build`, `run_until_stopped`): the data
//! dir, the store, the active policy, the admin key (saved before the first connection is
//! accepted), the receipt key, the listener, the jobs, and a graceful drain when the
//! shutdown future given resolves (SIGTERM or Ctrl-C for `handoff serve`).

use crate::app::{App, Clock};
use crate::notify::{AllowList, Notifier, RetrySchedule, Settings};
use crate::receipt::ReceiptKey;
use anyhow::{Context, bail};
use handoff_domain::Policy;
use handoff_domain::audit::NewEntry;
use handoff_domain::policy::EXAMPLE_POLICY;
use handoff_store::Store;
use handoff_store_postgres::PgStore;
use handoff_store_sqlite::SqliteStore;
use serde_json::json;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub addr: String,
    pub data_dir: PathBuf,
    pub policy_file: Option<PathBuf>,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub webhook_secrets: Vec<String>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub callback_allow: AllowList,
    pub schedule: RetrySchedule,
    pub delivery_timeout: Duration,
    /// `--slack-signing-secret`: Slack interactivity on (SPEC §8).
    pub slack_signing_secret: Option<String>,
    /// `--auth-failures`: failed authentications allowed per source (`None`: no limit).
    pub auth_failures: Option<crate::app::ThrottleRule>,
}

impl Config {
    /// What `handoff serve` does without flags, but on a free loopback port and `data_dir`.
    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            addr: "127.0.0.1:0".to_owned(),
            data_dir,
            policy_file: None,
            database_url: None,
            public_url: None,
            webhook_secrets: Vec::new(),
            smtp_url: None,
            mail_from: "handoff <handoff@localhost>".to_owned(),
            callback_allow: AllowList::default(),
            schedule: RetrySchedule::default(),
            delivery_timeout: Duration::from_secs(15),
            slack_signing_secret: None,
            auth_failures: Some(crate::app::ThrottleRule::default()),
        }
    }
}

/// How long in-flight requests get to finish after the signal.
const DRAIN: Duration = Duration::from_secs(30);

/// The store the flags name: SQLite in the data dir unless `--database-url` says otherwise.
pub async fn open_store(
    data_dir: &Path,
    database_url: Option<&str>,
) -> anyhow::Result<Arc<dyn Store>> {
    let path = match database_url {
        None => data_dir.join("handoff.db"),
        Some(url) => match url.split_once(':') {
            Some(("sqlite", rest)) => PathBuf::from(rest.trim_start_matches("//")),
            Some(("postgres" | "postgresql", _)) => {
                // Shared by every node on the database; the data dir keeps only this
                // node's secrets.
                let store = PgStore::connect(url)
                    .await
                    .with_context(|| format!("cannot open the database {}", redact(url)))?;
                return Ok(Arc::new(store));
            }
            _ => bail!(
                "--database-url must start with sqlite:, postgres: or postgresql: (got {:?})",
                redact(url)
            ),
        },
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the data dir {}", dir.display()))?;
    }
    let store = SqliteStore::open(&path)
        .await
        .with_context(|| format!("cannot open the database {}", path.display()))?;
    Ok(Arc::new(store))
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The service, built and listening, not yet serving: its address is known (port 0 picks
/// a free one), so the binary prints it and tests connect to it.
pub struct Application {
    listener: tokio::net::TcpListener,
    router: axum::Router,
    app: Arc<App>,
    store: Arc<dyn Store>,
    new_admin_key: Option<String>,
    data_dir: PathBuf,
    shutdown: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Application {
    /// Opens the store, loads the policy and the secrets, binds the listener. `clock` is
    /// what every operation and timer reads; `shutdown` resolving starts a graceful drain.
    pub async fn build(
        cfg: Config,
        clock: Clock,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Application> {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("cannot create the data dir {}", cfg.data_dir.display()))?;
        let store = open_store(&cfg.data_dir, cfg.database_url.as_deref()).await?;
        let policy = active_policy(store.as_ref(), cfg.policy_file.as_deref()).await?;
        let receipts = ReceiptKey::load_or_create(&cfg.data_dir)?;
        tracing::info!(
            kid = receipts.kid(),
            "approval receipts are signed with this key"
        );
        let new_admin_key = ensure_admin_key(store.as_ref(), &cfg.data_dir).await?;
        let secrets = crate::secrets::webhook_secrets(&cfg.webhook_secrets, &cfg.data_dir)?;
        let web_key = crate::web::SessionKey::load_or_create(&cfg.data_dir)?;
        let listener = tokio::net::TcpListener::bind(&cfg.addr)
            .await
            .with_context(|| format!("cannot listen on {}", cfg.addr))?;
        let addr = listener.local_addr()?;
        let settings = Settings {
            public_url: cfg
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{addr}")),
            secrets,
            smtp_url: cfg.smtp_url.clone(),
            mail_from: cfg.mail_from.clone(),
            callback_allow: cfg.callback_allow.clone(),
            schedule: cfg.schedule.clone(),
            timeout: cfg.delivery_timeout,
            slack_signing_secret: cfg.slack_signing_secret.clone(),
        };
        let notifier = Notifier::new(settings)?;
        let app = Arc::new(
            App::new(store.clone(), policy, receipts, notifier)
                .with_clock(clock)
                .with_auth_throttle(cfg.auth_failures),
        );
        app.load_task_levels().await?;
        let (router, _) = crate::api::router(app.clone());
        let router = router
            .merge(crate::web::router(app.clone(), web_key))
            .merge(crate::mcp::http::router(app.clone()));
        Ok(Application {
            listener,
            router,
            app,
            store,
            new_admin_key,
            data_dir: cfg.data_dir,
            shutdown: Box::pin(shutdown),
        })
    }

    pub fn addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// The service's operations, for tests that look beside the API.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The admin key, when this start made it (a new data dir).
    pub fn new_admin_key(&self) -> Option<&str> {
        self.new_admin_key.as_deref()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Serves until `shutdown` resolves, then drains: long-polls and streams end, requests
    /// in flight get [`DRAIN`] to finish, the jobs stop, the audit chain's head is signed
    /// (a checkpoint), the store finishes its queue.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application {
            listener,
            router,
            app,
            store,
            shutdown,
            ..
        } = self;
        let scheduler = tokio::spawn(crate::jobs::scheduler::run(app.clone()));
        // The statistics' audit readiness: the whole chain read once, off the requests.
        let checker = app.clone();
        tokio::spawn(async move { checker.check_audit_chain().await });
        let outbox = tokio::spawn(crate::jobs::outbox::run(app.clone()));
        let checkpoints = tokio::spawn(crate::jobs::checkpoints::run(app.clone()));
        tokio::spawn(crate::jobs::notices::run(app.clone()));
        let drain_app = app.clone();
        let server = crate::listen::serve(listener, router, async move {
            shutdown.await;
            tracing::info!("draining in-flight requests");
            drain_app.begin_shutdown();
        });
        let closing = app.closing();
        tokio::select! {
            r = server => r.context("the server failed")?,
            () = async { closing.await; tokio::time::sleep(DRAIN).await } => {
                tracing::warn!("requests still open after {DRAIN:?}; stopping anyway");
            }
        }
        let _ = scheduler.await;
        let _ = outbox.await;
        let _ = checkpoints.await;
        // The head as the drain left it, signed before the store closes (SPEC §9).
        if let Err(e) = app.sign_checkpoint().await {
            tracing::warn!(error = %e, "no audit checkpoint at shutdown");
        }
        store.close().await;
        Ok(())
    }
}

/// `handoff serve`: the service on the system clock until SIGTERM or Ctrl-C.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let application = Application::build(cfg, Clock::System, shutdown_signal()).await?;
    let addr = application.addr()?;
    {
        let admin_key = application.data_dir().join("admin.key");
        let mut out = std::io::stdout().lock();
        if let Some(key) = application.new_admin_key() {
            writeln!(out, "admin key: {key}")?;
            writeln!(
                out,
                "(saved in {}; create more with POST /v1/keys)",
                admin_key.display()
            )?;
        } else {
            writeln!(out, "admin key in {}", admin_key.display())?;
        }
        writeln!(out, "handoff listening on http://{addr}")?;
        out.flush()?;
    }
    application.run_until_stopped().await
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed at the call, before the
/// listening line is printed: a signal sent as soon as it is read is not lost.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(term) => {}
            () = wait(interrupt) => {}
        }
    }
}

/// The policy to serve: the `--policy` file (or the built-in example) when its text
/// changed since the last start, else the one kept in the store (a `PUT` survives).
async fn active_policy(store: &dyn Store, file: Option<&Path>) -> anyhow::Result<Policy> {
    let (source, text) = match file {
        Some(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the policy {}", path.display()))?,
        ),
        None => ("built-in example".to_owned(), EXAMPLE_POLICY.to_owned()),
    };
    let stored = store.policy().await?;
    if stored.file_text.as_deref() == Some(text.as_str())
        && let Some(active) = stored.active
    {
        return Policy::load(&active)
            .map_err(|e| anyhow::anyhow!("the stored policy no longer loads:\n{e}"));
    }
    let policy = Policy::load(&text).map_err(|errs| {
        let lines: Vec<String> = errs
            .0
            .iter()
            .map(|e| format!("{source}:{}:{}: {}", e.line, e.column, e.message))
            .collect();
        anyhow::anyhow!("the policy does not load:\n{}", lines.join("\n"))
    })?;
    let audit = NewEntry {
        at: chrono::Utc::now(),
        actor: "system".to_owned(),
        action: "policy.updated".to_owned(),
        handoff_id: None,
        data: json!({"policy_version": policy.version(), "source": source}),
    };
    store
        .set_policy(text.clone(), Some(text), Some(audit))
        .await?;
    Ok(policy)
}

/// Makes sure `<data-dir>/admin.key` holds a live admin key; returns it when it is new.
async fn ensure_admin_key(store: &dyn Store, data_dir: &Path) -> anyhow::Result<Option<String>> {
    let path = data_dir.join("admin.key");
    let (key, new) = match std::fs::read_to_string(&path) {
        Ok(text) => (text.trim().to_owned(), false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = crate::ids::api_key();
            crate::secrets::write_secret(&path, &key)?;
            (key, true)
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let digest = crate::ids::key_sha256(&key);
    if store.find_key(&digest).await?.is_some() {
        return Ok(new.then_some(key));
    }
    // The file's key is not in this database (a new database): register it.
    for n in 1.. {
        let name = if n == 1 {
            "admin".to_owned()
        } else {
            format!("admin-{n}")
        };
        if crate::app::register_key(store, &key, &name, crate::app::Role::Admin, "system").await? {
            break;
        }
    }
    Ok(Some(key))
}
