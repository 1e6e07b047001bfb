//! How PostgreSQL's errors become the backend boundary's.

use in_mem_remote::RemoteError;

/// A failed request whose effect is known: nothing was applied (a refused statement rolls back
/// its transaction), or nothing was sent. A broken connection is `Unavailable` here; commits
/// and run changes use [`commit_error`] instead, because they may have landed before the
/// connection broke.
#[allow(clippy::needless_pass_by_value)] // A `map_err` adapter.
pub fn store_error(e: tokio_postgres::Error) -> RemoteError {
    if e.is_closed() || e.as_db_error().is_none() || connection_lost(&e) {
        RemoteError::Unavailable(describe(&e))
    } else {
        RemoteError::Store(describe(&e))
    }
}

/// A failed commit batch: if the server refused it, nothing was applied; if the connection
/// broke, the batch may or may not have committed.
#[allow(clippy::needless_pass_by_value)] // A `map_err` adapter.
pub fn commit_error(e: tokio_postgres::Error) -> RemoteError {
    if e.as_db_error().is_some() && !connection_lost(&e) {
        RemoteError::Store(describe(&e))
    } else {
        RemoteError::OutcomeUnknown(describe(&e))
    }
}

/// Whether the server ended the session (an administrator's `pg_terminate_backend`, a shutdown,
/// a crash of another backend: SQLSTATE class 57) or reported a connection failure (class 08).
/// The server says so in an error message of its own, but the connection is gone all the same,
/// and a commit it was running may have committed just before.
fn connection_lost(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|db| matches!(&db.code().code()[..2], "57" | "08"))
}

/// The error with its cause and, for a server error, its SQLSTATE and detail.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(": ");
                text.push_str(detail);
            }
            text
        }
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}
