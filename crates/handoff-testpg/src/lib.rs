//! For tests only: [`fresh_database`] gives the URL of a new, empty PostgreSQL database,
//! one per test.
//!
//! - With `HANDOFF_TEST_POSTGRES_URL` set (a server where the user may `CREATE
//!   DATABASE`; `scripts/postgres` starts one and prints the line to set), every database
//!   is made there: many test binaries share one cluster.
//! - Without it, the first call in a test process starts a throwaway cluster of its own
//!   (`cluster`): `initdb` in a temporary directory, as an unprivileged user when the
//!   tests run as root (initdb refuses root), on a free loopback port, durability off. A
//!   detached sidecar stops it and removes the directory once the test process has exited.
//!
//! Without PostgreSQL's binaries on the machine this panics with the command that installs
//! them: a PostgreSQL test is never skipped silently.
#![forbid(unsafe_code)]

mod cluster;

use sqlx::Connection;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::OnceCell;

/// The variable naming a server to make the test databases on.
pub const URL_VAR: &str = "HANDOFF_TEST_POSTGRES_URL";

/// The server's URL (to its `postgres` database), once per process.
static SERVER: OnceCell<String> = OnceCell::const_new();

async fn server() -> &'static str {
    SERVER
        .get_or_init(|| async {
            if let Ok(url) = std::env::var(URL_VAR)
                && !url.is_empty()
            {
                return url;
            }
            // initdb and the wait for the server block: off the async threads.
            match tokio::task::spawn_blocking(cluster::start).await {
                Ok(Ok(url)) => url,
                Ok(Err(why)) => panic!("cannot start a PostgreSQL for the tests: {why}"),
                Err(e) => panic!("starting PostgreSQL panicked: {e}"),
            }
        })
        .await
}

/// A name no other database of this server has: the process, a counter, the time.
fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("h_{}_{n}_{nanos:08x}", std::process::id())
}

/// The URL of a new, empty database for one test (see the crate's doc). Panics when no
/// PostgreSQL can be had: a test that needs one must not pass without it.
pub async fn fresh_database() -> String {
    let server = server().await;
    let name = unique_name();
    let mut conn = connect(server).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
    let _ = conn.close().await;
    let mut url = url::Url::parse(server)
        .unwrap_or_else(|e| panic!("{URL_VAR} is not a URL ({server:?}): {e}"));
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A connection to the server, waiting out a cluster that is still starting.
async fn connect(url: &str) -> sqlx::PgConnection {
    let mut tries = 0;
    loop {
        match sqlx::PgConnection::connect(url).await {
            Ok(c) => return c,
            Err(e) if tries < 100 => {
                tries += 1;
                let _ = e;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot connect to the test PostgreSQL at {url}: {e}"),
        }
    }
}
