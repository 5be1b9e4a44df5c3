//! Starting and stopping the service: the data dir, the store, the active policy, the
//! admin key (saved before the first connection is accepted), the receipt key, the
//! listener, and a graceful drain on SIGTERM or Ctrl-C.

use crate::app::App;
use crate::notify::{AllowList, Notifier, RetrySchedule, Secret, Settings};
use crate::receipt::ReceiptKey;
use anyhow::{Context, bail};
use handoff_domain::Policy;
use handoff_domain::audit::NewEntry;
use handoff_domain::policy::EXAMPLE_POLICY;
use handoff_store::{SqliteStore, Store};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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
                bail!("PostgreSQL is not supported by this build yet; use SQLite (the default)")
            }
            _ => bail!("--database-url must start with sqlite: (got {url:?})"),
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

pub async fn run(cfg: Config) -> anyhow::Result<()> {
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
    let secrets = webhook_secrets(&cfg.webhook_secrets, &cfg.data_dir)?;
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
    };
    let notifier = Notifier::new(settings)?;
    let app = Arc::new(App::new(store.clone(), policy, receipts, notifier));
    let (router, _) = crate::api::router(app.clone());
    let router = router.merge(crate::web::router(app.clone(), web_key));
    let scheduler = tokio::spawn(crate::scheduler::run(app.clone()));
    let outbox = tokio::spawn(crate::notify::outbox::run(app.clone()));
    {
        let mut out = std::io::stdout().lock();
        if let Some(key) = new_admin_key {
            writeln!(out, "admin key: {key}")?;
            writeln!(
                out,
                "(saved in {}; create more with POST /v1/keys)",
                cfg.data_dir.join("admin.key").display()
            )?;
        } else {
            writeln!(
                out,
                "admin key in {}",
                cfg.data_dir.join("admin.key").display()
            )?;
        }
        writeln!(out, "handoff listening on http://{addr}")?;
        out.flush()?;
    }
    let drain_app = app.clone();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown_signal().await;
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
    store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
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
            write_secret(&path, &key)?;
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

/// The webhook signing secrets: the flag's, else the one kept in the data dir (made at
/// the first start).
fn webhook_secrets(given: &[String], data_dir: &Path) -> anyhow::Result<Vec<Secret>> {
    if !given.is_empty() {
        return given
            .iter()
            .map(|s| Secret::parse(s).map_err(|e| anyhow::anyhow!("--webhook-secret: {e}")))
            .collect();
    }
    let path = data_dir.join("webhook.secret");
    let secret = match std::fs::read_to_string(&path) {
        Ok(text) => Secret::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let s = Secret::generate().map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            write_secret(&path, &s.encode())?;
            s
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    tracing::info!(path = %path.display(), "webhooks are signed with the secret kept here");
    Ok(vec![secret])
}

/// Writes a secret readable by its owner only, atomically (temp file, fsync, rename).
pub fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    writeln!(f, "{secret}")?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
