//! The store test suite (`handoff_store::testsuite`) on SQLite: every suite test, each on
//! a new database file of its own.

mod common;

handoff_store::store_suite!(|| async { common::TempFile::new() });
