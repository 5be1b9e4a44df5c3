//! The PostgreSQL database the tests open: a fresh, empty one per test
//! (`handoff_testpg::fresh_database`), on which any number of stores may be opened.

use handoff_store::testsuite::TestDatabase;
use handoff_store::{BoxFuture, Store};
use handoff_store_postgres::PgStore;
use std::sync::Arc;

pub struct TempDatabase {
    pub url: String,
}

impl TempDatabase {
    pub async fn new() -> TempDatabase {
        TempDatabase {
            url: handoff_testpg::fresh_database().await,
        }
    }

    /// A store of its own type, for what only PostgreSQL does.
    #[allow(dead_code)]
    pub async fn store(&self) -> Arc<PgStore> {
        Arc::new(PgStore::connect(&self.url).await.expect("the store opens"))
    }
}

impl TestDatabase for TempDatabase {
    fn open(&self) -> BoxFuture<'_, Arc<dyn Store>> {
        Box::pin(async move {
            let store = PgStore::connect(&self.url).await.expect("the store opens");
            Arc::new(store) as Arc<dyn Store>
        })
    }
}
