//! The SQLite database the tests open: a file in a temporary directory of its own,
//! removed with it.

use handoff_store::testsuite::TestDatabase;
use handoff_store::{BoxFuture, Store};
use handoff_store_sqlite::SqliteStore;
use std::path::PathBuf;
use std::sync::Arc;

pub struct TempFile {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TempFile {
    pub fn new() -> TempFile {
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        let path = dir.path().join("handoff.db");
        TempFile { _dir: dir, path }
    }
}

impl TestDatabase for TempFile {
    fn open(&self) -> BoxFuture<'_, Arc<dyn Store>> {
        Box::pin(async move {
            let store = SqliteStore::open(&self.path)
                .await
                .expect("the store opens");
            Arc::new(store) as Arc<dyn Store>
        })
    }
}
