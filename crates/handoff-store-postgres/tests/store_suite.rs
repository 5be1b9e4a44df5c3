//! The store test suite (`handoff_store::testsuite`) on PostgreSQL: every suite test, each
//! on a new database of its own (`handoff_testpg::fresh_database`).

mod common;

handoff_store::store_suite!(|| async { common::TempDatabase::new().await });
