//! The audit chain against someone with write access to the database file: a row edited,
//! deleted or reordered behind the running server's back is found by `/v1/audit/verify`
//! and by `handoff audit verify`, which name the first bad seq.
//!
//! The break is reported as the seq the chain expected where it broke (the domain's
//! `ChainVerifier`): for an edited entry its own seq, for a deleted one the missing seq,
//! for a reordering the first position holding the wrong entry.

use crate::common::*;
use serde_json::json;
use sqlx::{Connection, PgConnection, SqliteConnection};

/// The entry the tests tamper with; [`activity`] makes sure there are more after it.
pub(crate) const SEQ: i64 = 5;

/// Enough changes for a chain of a dozen entries or more.
pub(crate) async fn activity(app: &TestApp) {
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    app.decided(&cast.ana, &id, &json!({"action": "approve"}))
        .await;
    app.submitted(&cast.agent, &data_deletion()).await;
    let verdict = app.audit_verify().await;
    assert_eq!(
        verdict["ok"], true,
        "the chain is intact before tampering: {verdict}"
    );
    assert!(
        verdict["entries"].as_i64().unwrap_or(0) > SEQ + 2,
        "{verdict}"
    );
}

/// A second connection to the server's database, as an intruder with write access has:
/// to the SQLite file, or to the PostgreSQL database when the tests run on one.
pub(crate) enum Intruder {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// A value bound to a tampering statement.
pub(crate) enum Arg<'a> {
    Int(i64),
    Text(&'a str),
}

impl Intruder {
    /// Runs `sql`, written with `?` placeholders, binding `args` in order; the rows it
    /// changed.
    pub(crate) async fn run(&mut self, sql: &str, args: &[Arg<'_>]) -> u64 {
        // The same binding for either driver's query.
        macro_rules! bound {
            ($sql:expr) => {{
                let mut q = sqlx::query(sqlx::AssertSqlSafe($sql));
                for a in args {
                    q = match a {
                        Arg::Int(i) => q.bind(*i),
                        Arg::Text(t) => q.bind((*t).to_owned()),
                    };
                }
                q
            }};
        }
        let changed = match self {
            Intruder::Sqlite(conn) => bound!(sql.to_owned())
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected()),
            Intruder::Postgres(conn) => bound!(numbered(sql))
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected()),
        };
        changed.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The audit entry `seq`'s `data` column, as text.
    pub(crate) async fn data_of(&mut self, seq: i64) -> String {
        let sql = "SELECT CAST(data AS TEXT) FROM audit WHERE seq = ?";
        let row: (String,) = match self {
            Intruder::Sqlite(conn) => sqlx::query_as(sql).bind(seq).fetch_one(conn).await,
            Intruder::Postgres(conn) => {
                sqlx::query_as(sqlx::AssertSqlSafe(numbered(sql)))
                    .bind(seq)
                    .fetch_one(conn)
                    .await
            }
        }
        .expect("cannot read the entry");
        row.0
    }
}

/// `?` placeholders as PostgreSQL's `$1`, `$2`, …
fn numbered(sql: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) async fn intrude(app: &TestApp) -> Intruder {
    if let Some(url) = app.database_url().filter(|u| u.starts_with("postgres")) {
        let conn = PgConnection::connect(url)
            .await
            .expect("cannot open the server's database");
        return Intruder::Postgres(conn);
    }
    let url = format!("sqlite://{}", app.db_path().display());
    let mut conn = SqliteConnection::connect(&url)
        .await
        .expect("cannot open the server's database");
    sqlx::query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .await
        .expect("busy_timeout");
    let triggers: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("cannot list triggers");
    for (name,) in triggers {
        // The name comes from the database itself, quoted as an identifier.
        let sql = format!("DROP TRIGGER \"{}\"", name.replace('"', "\"\""));
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .expect("cannot drop a trigger");
    }
    Intruder::Sqlite(conn)
}

/// Runs one tampering statement, binding `seqs` in order; it must change a row.
pub(crate) async fn exec(conn: &mut Intruder, sql: &'static str, seqs: &[i64]) {
    let args: Vec<Arg<'_>> = seqs.iter().map(|s| Arg::Int(*s)).collect();
    let changed = conn.run(sql, &args).await;
    assert!(changed > 0, "{sql} {seqs:?} changed nothing");
}

/// Both verifiers report `first_bad_seq`; the API says `ok: false`, the CLI exits 1 naming it.
async fn assert_broken_at(app: &TestApp, seq: i64) {
    let verdict = app.audit_verify().await;
    assert_eq!(verdict["ok"], false, "{verdict}");
    assert_eq!(verdict["first_bad_seq"], seq, "{verdict}");

    let out = app
        .cli(&["audit", "verify", "--data-dir", &app.data_dir_arg()])
        .await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(names_seq(&text, seq), "`seq {seq}` not named in: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_entry_is_the_first_bad_seq() {
    let app = TestApp::spawn().await;
    activity(&app).await;
    let mut conn = intrude(&app).await;
    exec(
        &mut conn,
        "UPDATE audit SET actor = 'mallory' WHERE seq = ?",
        &[SEQ],
    )
    .await;
    assert_broken_at(&app, SEQ).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn edited_data_is_found_even_when_the_hash_column_is_left_alone() {
    let app = TestApp::spawn().await;
    activity(&app).await;
    let mut conn = intrude(&app).await;
    let data = conn.data_of(SEQ).await;
    let forged = if data.contains('1') {
        data.replacen('1', "2", 1)
    } else {
        format!("{{\"forged\":true,\"was\":{data}}}")
    };
    conn.run(
        "UPDATE audit SET data = ? WHERE seq = ?",
        &[Arg::Text(&forged), Arg::Int(SEQ)],
    )
    .await;
    assert_broken_at(&app, SEQ).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_entry_breaks_the_chain_at_its_seq() {
    let app = TestApp::spawn().await;
    activity(&app).await;
    let mut conn = intrude(&app).await;
    exec(&mut conn, "DELETE FROM audit WHERE seq = ?", &[SEQ]).await;
    assert_broken_at(&app, SEQ).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reordered_entries_break_the_chain_at_the_first_moved_one() {
    let app = TestApp::spawn().await;
    activity(&app).await;
    let mut conn = intrude(&app).await;
    let next = SEQ + 1;
    exec(
        &mut conn,
        "UPDATE audit SET seq = -1 WHERE seq = ?",
        &[next],
    )
    .await;
    exec(
        &mut conn,
        "UPDATE audit SET seq = ? WHERE seq = ?",
        &[next, SEQ],
    )
    .await;
    exec(&mut conn, "UPDATE audit SET seq = ? WHERE seq = -1", &[SEQ]).await;
    assert_broken_at(&app, SEQ).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forger_who_rehashes_the_edited_entry_breaks_the_link_of_the_next_one() {
    let app = TestApp::spawn().await;
    activity(&app).await;
    // The forger knows the algorithm (SPEC §9): edit the entry and give it the hash its new
    // content deserves. Only the next entry's `prev_hash` still remembers the original.
    let resp = app
        .get_path(
            Some(&app.admin_key()),
            &format!("/v1/audit?after={}&limit=1", SEQ - 1),
        )
        .await;
    let line = resp.text().await.expect("the audit entry");
    let mut entry: handoff_domain::AuditEntry =
        serde_json::from_str(line.trim()).expect("an audit entry as JSON");
    assert_eq!(entry.seq, SEQ);
    entry.actor = "mallory".to_owned();
    let forged_hash = entry.expected_hash();

    let mut conn = intrude(&app).await;
    conn.run(
        "UPDATE audit SET actor = 'mallory', hash = ? WHERE seq = ?",
        &[Arg::Text(&forged_hash), Arg::Int(SEQ)],
    )
    .await;
    assert_broken_at(&app, SEQ + 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_keeps_working_and_auditing_after_a_failed_verification() {
    let app = TestApp::spawn().await;
    activity(&app).await;
    let mut conn = intrude(&app).await;
    exec(
        &mut conn,
        "UPDATE audit SET actor = 'mallory' WHERE seq = ?",
        &[SEQ],
    )
    .await;
    drop(conn);
    assert_broken_at(&app, SEQ).await;
    let agent = app.key("agent", "late-bot").await;
    app.submitted(&agent, &routine_ticket()).await;
    assert_broken_at(&app, SEQ).await;
}
