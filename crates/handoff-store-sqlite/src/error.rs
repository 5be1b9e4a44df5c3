//! sqlx's and rusqlite's errors as the store's. [`StoreError`] names no database, and the
//! orphan rule keeps `impl From<sqlx::Error> for StoreError` out of this crate, so
//! conversions go through [`db`] and [`SqlxResultExt::db`]; a failed migration becomes
//! [`StoreError::Migrate`] where the store opens.
//!
//! Inside the crate, reads and the writer work in `sqlx::Error` and `rusqlite::Error` and
//! convert once, where a result crosses the [`Store`](handoff_store::Store) trait. A full
//! disk is told apart ([`StoreError::Full`]): the caller answers 503 and the write can be
//! tried again once there is space, where any other failure is a 500.

use handoff_store::StoreError;

/// SQLite's primary result code for "database or disk is full".
const SQLITE_FULL: i32 = 13;

/// `sqlx::Error` as [`StoreError::Database`], or [`StoreError::Full`].
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    if sqlx_is_full(&e) {
        StoreError::Full(e.to_string())
    } else {
        StoreError::database(e)
    }
}

pub(crate) trait SqlxResultExt<T> {
    /// The error as [`StoreError::Database`] (or [`StoreError::Full`]).
    fn db(self) -> Result<T, StoreError>;
}

impl<T> SqlxResultExt<T> for Result<T, sqlx::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(db)
    }
}

/// Whether SQLite (through sqlx) failed for want of space: `SQLITE_FULL` (sqlx gives the
/// extended code; the primary code is its low byte) or an I/O error saying so.
fn sqlx_is_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| c & 0xff == SQLITE_FULL),
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
        _ => false,
    }
}

/// Whether the writer's statement failed for want of space. SQLite's unix VFS answers a
/// `write` that found no space (`ENOSPC`) with `SQLITE_FULL`, which is what a batch sees
/// when the WAL cannot grow.
pub(crate) fn rusqlite_is_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn the_writer_tells_a_full_disk_from_other_failures() {
        assert!(rusqlite_is_full(&sqlite_failure(SQLITE_FULL)));
        // SQLITE_IOERR_WRITE, SQLITE_CORRUPT, SQLITE_BUSY: not a full disk.
        for other in [778, 11, 5] {
            assert!(!rusqlite_is_full(&sqlite_failure(other)), "{other}");
        }
        assert!(!rusqlite_is_full(&rusqlite::Error::QueryReturnedNoRows));
    }

    #[test]
    fn a_read_that_found_no_space_is_full_and_other_errors_are_database_errors() {
        let full = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert!(matches!(db(full), StoreError::Full(_)));
        let other = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(matches!(db(other), StoreError::Database(_)));
        assert!(matches!(
            db(sqlx::Error::RowNotFound),
            StoreError::Database(_)
        ));
    }
}
