//! The store test suite, written once against `&dyn Store` and run by every backend (the
//! `testsuite` feature; a backend's dev-dependency turns it on).
//!
//! Each test is a public `async fn(&dyn TestDatabase)`: a backend implements
//! [`TestDatabase`] for one fresh, empty database, and [`store_suite!`](crate::store_suite)
//! writes one `#[tokio::test]` per suite test, named as the test, so a failure names it:
//!
//! ```text
//! // tests/store_suite.rs of a backend: `TempDatabase::new` makes an empty database.
//! handoff_store::store_suite!(|| async { TempDatabase::new().await });
//! ```
//!
//! - [`fixture`]: handoffs built as the server builds them, changes through the domain's
//!   state machine, assertions about the audit chain; a backend's own tests use them too.
//! - `submit`, `update`, `durability`, `read`, `outbox`, `learning`, `checkpoints`, `gauges`: the
//!   tests, by what they exercise.
//!
//! What is true of one backend only (two stores on one SQLite file, a single writer's
//! batches, rows edited in the file) stays in that backend's own tests.

pub mod fixture;

mod checkpoints;
mod durability;
mod gauges;
mod learning;
mod outbox;
mod read;
mod submit;
mod update;

pub use checkpoints::*;
pub use durability::*;
pub use gauges::*;
pub use learning::*;
pub use outbox::*;
pub use read::*;
pub use submit::*;
pub use update::*;

use crate::{BoxFuture, Store};
use std::sync::Arc;

/// One empty database, made for one test.
pub trait TestDatabase: Send + Sync {
    /// A store on this database. The first store opened finds it empty; one opened after
    /// another was closed finds everything that one committed (the reopening tests), and
    /// two open at once share it.
    fn open(&self) -> BoxFuture<'_, Arc<dyn Store>>;
}

/// One `#[tokio::test]` per suite test, each on a database of its own made by `$fresh`:
/// something called with no argument whose future gives an `impl TestDatabase` (an
/// `async fn`, or a closure returning an `async` block). The caller depends on `tokio` (with `macros` and
/// `rt-multi-thread`). Every public test of this module is listed here.
#[macro_export]
macro_rules! store_suite {
    ($fresh:expr) => {
        $crate::store_suite!(@tests $fresh;
            // submit
            a_thousand_concurrent_submissions_are_all_stored_in_one_valid_chain,
            the_same_idempotency_key_and_body_replays_the_first_handoff,
            concurrent_submissions_with_one_idempotency_key_store_one_handoff,
            // update
            an_update_its_function_refuses_writes_nothing,
            an_update_with_a_stale_if_match_is_refused_before_its_function_runs,
            an_update_of_an_unknown_handoff_is_not_found,
            of_eight_racing_approvals_exactly_one_is_applied,
            // durability
            a_reopened_store_keeps_everything_and_continues_the_chain,
            a_reopened_store_reads_the_agents_draft_and_an_edited_one,
            // read
            a_reviewer_listing_orders_two_teams_by_due_time_and_pages_without_gaps_or_repeats,
            a_listing_filters_by_status_task_team_and_level,
            next_deadlines_lists_only_handoffs_with_one_ahead_earliest_first,
            a_key_is_found_by_name_until_it_is_revoked,
            revisions_of_lists_the_agents_handoffs_that_supersede_one_oldest_first,
            // outbox
            deliveries_commit_with_their_change_once_per_id_and_record_attempts,
            // checkpoints
            checkpoints_are_kept_beside_the_writer_and_listed_newest_first,
            // gauges
            gauges_count_open_handoffs_by_team_level_and_status_and_the_outbox_backlog,
            // learning
            every_change_adds_its_tally_and_the_sums_survive_reopening,
            a_task_level_changes_only_from_the_epoch_read_and_survives_reopening,
            spot_checks_queue_by_team_and_their_items_count_once,
            the_export_reads_handoffs_no_longer_open_in_id_order,
        );
    };
    (@tests $fresh:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                let db = ($fresh)().await;
                $crate::testsuite::$name(&db).await;
            }
        )*
    };
}
