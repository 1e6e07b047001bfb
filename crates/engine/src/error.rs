//! The engine's error type: everything a `Database` call can fail with.

use in_mem_core_types::RunId;

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a `Database` call failed. Lower layers' errors are kept whole as sources.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input: an empty or oversized key, an oversized value, a bad namespace name.
    #[error(transparent)]
    Invalid(#[from] in_mem_core_types::Error),
    /// The write-ahead log or the data directory failed (I/O, lock, corruption, poisoning).
    #[error(transparent)]
    Durability(#[from] in_mem_durability::Error),
    /// No run with this id was ever begun in this database.
    #[error("unknown run {run}; begin it with begin_run first")]
    UnknownRun { run: RunId },
    /// The run has ended: it stays readable but takes no more writes.
    #[error("run {run} has ended; begin a new run to write")]
    RunEnded { run: RunId },
    /// The run was active when the process stopped without ending it.
    #[error("run {run} was interrupted (the process stopped before it ended); resume or end it")]
    RunInterrupted { run: RunId },
    /// A run named as a parent does not exist.
    #[error("unknown parent run {parent}; a parent must be a run of this database")]
    UnknownParent { parent: RunId },
    /// The run is not in a state that allows this transition.
    #[error("run {run} is {status} and cannot be {action}")]
    RunState {
        run: RunId,
        status: &'static str,
        action: &'static str,
    },
    /// The run ended long enough ago that the retention policy released the history its view
    /// needs; reading it now could return values it never saw.
    #[error(
        "run {run} ended and its view was released by the retention policy; \
         raise OpenOptions::ended_run_retention to read ended runs for longer"
    )]
    RunViewReleased { run: RunId },
    /// The byte API read a key that holds a typed value written through `KVStore`.
    #[error("key {key:?} holds a {found} value, not bytes; read it with KVStore")]
    NotBytes { key: String, found: &'static str },
    /// Another commit of the same run changed a key this transaction read, after it read it.
    /// Nothing was written; run the transaction again (`Database::transaction_with_retry` does).
    #[error(
        "transaction conflict in run {run}: key {key} was read at version {read:?} but is now \
         at {found:?}; retry the transaction"
    )]
    Conflict {
        run: RunId,
        key: String,
        read: Option<u64>,
        found: Option<u64>,
    },
    /// A commit with more writes than `limits::COMMIT_WRITES_MAX`.
    #[error("commit has {writes} writes, more than the limit of {max}")]
    CommitTooLarge { writes: usize, max: usize },
    /// An attempt to change or delete a record that is append-only (an event).
    #[error("{key} is an event: events cannot be changed or deleted")]
    Immutable { key: String },
    /// A type tag that this call cannot use (agent memory and run records have their own calls).
    #[error("type tag {tag} cannot be used here: {reason}")]
    ReservedTypeTag {
        tag: in_mem_core_types::TypeTag,
        reason: &'static str,
    },
    /// An option that cannot work (a zero interval, a tiny segment size).
    #[error("invalid options: {reason}")]
    InvalidOptions { reason: String },
    /// A stored value or run record that does not decode: a bug or damaged memory, never input.
    #[error("stored data for {what} is damaged: {reason}")]
    Damaged { what: String, reason: String },
}

impl Error {
    /// True if the data directory is locked by another process.
    pub fn is_locked(&self) -> bool {
        matches!(
            self,
            Error::Durability(in_mem_durability::Error::Locked { .. })
        )
    }
}
