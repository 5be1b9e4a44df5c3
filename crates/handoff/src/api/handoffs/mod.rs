//! `/v1/handoffs`: submit, read, list, decide, cancel, report, timeline.

pub mod cancel;
pub mod decide;
pub mod get;
pub mod list;
pub mod outcome;
pub mod submit;
pub mod timeline;
