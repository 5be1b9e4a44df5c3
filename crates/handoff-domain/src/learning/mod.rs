//! The statistics of the learning loop (SPEC §7), as plain functions of counts: no store,
//! no clock. The caller counts what happened in the window under the task's current level
//! and passes the numbers (and the `[learning]` settings of the policy) in.
//!
//! - [`wilson`](mod@wilson): the Wilson 95% score interval every decision here rests on.
//! - [`promotion`]: whether a level-2 task is a promotion candidate, and why.
//! - [`monitoring`]: the two streams of an autonomous task, judged after every item.
//! - [`buckets`]: confidence buckets 0.05 wide and the threshold they suggest.
//! - [`percentile`](mod@percentile): nearest-rank percentiles of time to decision.
//! - [`tally`]: what one change of a handoff adds to the per-task aggregates.
//!
//! The result types serialize with the field names of `GET /v1/stats`; rates are in 0–1
//! and `None` (`null`) where nothing was measured.

pub mod buckets;
pub mod monitoring;
pub mod percentile;
pub mod promotion;
pub mod tally;
pub mod wilson;

pub use buckets::{
    BUCKETS, ConfidenceBucket, ConfidenceBuckets, boundary, bucket_index, suggested_threshold,
};
pub use monitoring::{Demotion, DemotionRule, MIN_MONITORED_ITEMS, Monitor, Stream, StreamKind};
pub use percentile::{TimeToDecision, percentile};
pub use promotion::{Recommendation, UnchangedRate, Verdict, first_possible_candidate, recommend};
pub use tally::{Counts, Histogram, HistogramHit, MonitorItem, Tally};
pub use wilson::{Z_95, wilson};
