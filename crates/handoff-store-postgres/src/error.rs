//! sqlx's errors as the store's: [`StoreError`] names no database, and the orphan rule
//! keeps `impl From<sqlx::Error> for StoreError` out of this crate, so conversions go
//! through [`db`] and [`SqlxResultExt::db`], once, where a result crosses the trait.

use handoff_store::StoreError;

/// `sqlx::Error` as [`StoreError::Database`].
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    StoreError::database(e)
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
