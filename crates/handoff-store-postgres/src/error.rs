//! sqlx's errors as the store's: [`StoreError`] names no database, and the orphan rule
//! keeps `impl From<sqlx::Error> for StoreError` out of this crate, so conversions go
//! through [`db`] and [`SqlxResultExt::db`], once, where a result crosses the trait.

use handoff_store::StoreError;

/// `sqlx::Error` as [`StoreError::Database`], or [`StoreError::Full`] for `disk_full`.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    if is_full(&e) {
        StoreError::Full(e.to_string())
    } else {
        StoreError::database(e)
    }
}

/// Whether PostgreSQL refused for want of space: SQLSTATE `53100` (`disk_full`).
pub(crate) fn is_full(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "53100")
}

pub(crate) trait SqlxResultExt<T> {
    /// The error as [`StoreError::Database`].
    fn db(self) -> Result<T, StoreError>;
}

impl<T> SqlxResultExt<T> for Result<T, sqlx::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(db)
    }
}
