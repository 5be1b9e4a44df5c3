//! What an `App` operation tells its caller when it does not do what was asked. One
//! variant per outcome a caller can act on; every front door says it in its own terms
//! (`api/error.rs`: a problem document; the web pages: a page; MCP: a tool error), by
//! matching on the variant, never on a status code.

use handoff_domain::{FieldError, TransitionError};
use handoff_store::{Refused, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Nothing by that name exists for this caller (what it may not see does not exist).
    #[error("no {0} here")]
    NotFound(&'static str),
    /// The caller's role or relation to the thing does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// Not allowed from the current state (a decided handoff, a name taken, …).
    #[error("{0}")]
    Conflict(String),
    /// The caller decided on a version that is no longer the current one.
    #[error("If-Match does not match the current version {current}")]
    Stale { current: u64 },
    /// Fields at fault, each named.
    #[error("{}", invalid_detail(.0))]
    Invalid(Vec<FieldError>),
    /// The service cannot do it now (shutting down, the store's disk full); trying again
    /// later may work.
    #[error("{0}")]
    Unavailable(String),
    /// The caller's source failed to authenticate too often: try again in `retry_after`
    /// seconds.
    #[error("too many failed authentications from here; try again in {retry_after} s")]
    Throttled { retry_after: u64 },
    /// The store failed: logged with its cause, told as an internal error.
    #[error("store failure: {0}")]
    Store(StoreError),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn forbidden(detail: impl Into<String>) -> AppError {
        AppError::Forbidden(detail.into())
    }

    pub fn conflict(detail: impl Into<String>) -> AppError {
        AppError::Conflict(detail.into())
    }

    /// One field at fault.
    pub fn field(field: &str, message: impl Into<String>) -> AppError {
        AppError::Invalid(vec![FieldError::new(field, message)])
    }
}

/// `field: message` for one field, else how many.
fn invalid_detail(errors: &[FieldError]) -> String {
    match errors {
        [one] => format!("{}: {}", one.field, one.message),
        many => format!("{} fields are invalid", many.len()),
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::Closed => AppError::Unavailable("the server is shutting down".to_owned()),
            // Nothing was stored; the same request can succeed once there is space again.
            StoreError::Full(_) => AppError::Unavailable(
                "the store's disk is full: nothing was written; try again later".to_owned(),
            ),
            e => AppError::Store(e),
        }
    }
}

impl From<TransitionError> for AppError {
    fn from(e: TransitionError) -> AppError {
        match e {
            TransitionError::Conflict { message, .. } => AppError::Conflict(message),
            TransitionError::Invalid { field, message } => AppError::field(field, message),
            TransitionError::Forbidden { message } => AppError::Forbidden(message),
        }
    }
}

impl From<Refused> for AppError {
    fn from(r: Refused) -> AppError {
        match r {
            Refused::NotFound => AppError::NotFound("such handoff"),
            Refused::VersionMismatch { current } => AppError::Stale { current },
            Refused::Transition(t) => t.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_and_a_closing_store_are_unavailable_and_other_store_failures_are_not() {
        let full = AppError::from(StoreError::Full("database or disk is full".into()));
        assert!(
            matches!(&full, AppError::Unavailable(m) if m.contains("disk is full")),
            "{full:?}"
        );
        assert!(matches!(
            AppError::from(StoreError::Closed),
            AppError::Unavailable(_)
        ));
        let write = AppError::from(StoreError::Write("rolled back".into()));
        assert!(matches!(write, AppError::Store(_)), "{write:?}");
    }
}
