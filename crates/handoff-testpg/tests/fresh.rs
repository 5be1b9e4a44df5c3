//! `fresh_database` gives each caller a database of its own, empty, on one server per
//! test process (or on `HANDOFF_TEST_POSTGRES_URL`).

use sqlx::Connection;

#[tokio::test(flavor = "multi_thread")]
async fn each_fresh_database_is_a_new_empty_one_on_the_same_server() {
    let (one, two) = tokio::join!(
        handoff_testpg::fresh_database(),
        handoff_testpg::fresh_database()
    );
    assert_ne!(one, two);
    let server = |url: &str| url.rsplit_once('/').map(|(s, _)| s.to_owned());
    assert_eq!(server(&one), server(&two), "one server per process");

    let mut a = sqlx::PgConnection::connect(&one).await.expect("connects");
    sqlx::raw_sql("CREATE TABLE mine (x int)")
        .execute(&mut a)
        .await
        .expect("creates");
    let mut b = sqlx::PgConnection::connect(&two).await.expect("connects");
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut b)
    .await
    .expect("reads");
    assert_eq!(tables, 0, "the other database is empty");
}
