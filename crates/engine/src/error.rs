//! The one error type users meet: everything a `Database` call, a transaction or a primitive
//! can fail with (the umbrella re-exports it as `in_mem::Error`). Causes from lower layers are
//! kept whole as typed sources, never flattened into text.

use in_mem_core_types::RunId;

/// Result alias for the engine (and `in_mem::Result`).
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a call failed. One variant per failure; lower layers' errors are kept as sources.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- bad input ----------------------------------------------------------------------------
    /// Bad input caught by the core types: an empty or oversized key, an oversized or too deeply
    /// nested value, a bad namespace name, a malformed run id.
    #[error(transparent)]
    Invalid(#[from] in_mem_core_types::Error),
    /// An option that cannot work (a zero interval, a tiny segment size, a bad run tag).
    #[error("invalid options: {reason}")]
    InvalidOptions { reason: String },
    /// A name (event type, cell, machine, span kind or tag) that cannot be used.
    #[error("{what} {name:?} is invalid: {problem}")]
    InvalidName {
        what: &'static str,
        name: String,
        problem: &'static str,
    },
    /// A value with no canonical encoding where one is needed (a hash or a comparison).
    #[error("value cannot be stored here: {reason}")]
    NotCanonical { reason: &'static str },
    /// A state machine definition that contradicts itself.
    #[error("invalid state machine: {reason}")]
    InvalidMachine { reason: String },
    /// A span that cannot be stored or changed as asked.
    #[error("invalid span: {reason}")]
    InvalidSpan { reason: String },
    /// A Rust value that has no stored form (a map with non-text keys, an integer out of range).
    #[error("cannot store a {type_name}: {source}")]
    Unrepresentable {
        type_name: &'static str,
        #[source]
        source: in_mem_core_types::ConvertError,
    },
    /// A stored value read as a type it cannot become.
    #[error("key {key:?} holds a {stored} value that cannot be read as {requested}: {source}")]
    TypeMismatch {
        key: String,
        stored: &'static str,
        requested: &'static str,
        #[source]
        source: in_mem_core_types::ConvertError,
    },
    /// The byte API read a key that holds a typed value written through `KVStore`.
    #[error("key {key:?} holds a {found} value, not bytes; read it with KVStore")]
    NotBytes { key: String, found: &'static str },
    /// A commit with more writes than `limits::COMMIT_WRITES_MAX`.
    #[error("commit has {writes} writes, more than the limit of {max}")]
    CommitTooLarge { writes: usize, max: usize },

    // ----- runs ---------------------------------------------------------------------------------
    /// No run with this id exists in this database (never begun, or deleted).
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
    /// The run is not in a state that allows this call.
    #[error("run {run} is {status} and cannot be {action}")]
    RunState {
        run: RunId,
        status: &'static str,
        action: &'static str,
    },
    /// The read needs versions that the retention policy has already reclaimed: a view of the
    /// agent's shared memory as of a run's start after the run ended (or was interrupted)
    /// longer ago than the retention allows, or a view into a run's past further back than the
    /// history kept. Nothing wrong was returned; a run's own current data stays readable.
    #[error(
        "run {run} reads as of version {at}, but history before version {oldest_kept} was \
         reclaimed by the retention policy; the run's own current events, state, spans and \
         keys stay readable (raise OpenOptions::history or ended_run_retention to keep more)"
    )]
    HistoryPruned {
        run: RunId,
        at: u64,
        oldest_kept: u64,
    },
    /// A point in a run's history (`At`) that the run does not have: an event it never
    /// appended, a version not yet committed, an event it inherited from the run it was forked
    /// from (name that run instead).
    #[error("run {run} has no point {at}: {reason}")]
    UnknownPoint {
        run: RunId,
        at: String,
        reason: String,
    },
    /// A run that other runs were forked from: their views read its data, so it can be deleted
    /// only with them (`Database::delete_run_tree`).
    #[error(
        "run {run} has {forks} fork(s) (one is {example}) that read its data; delete them first, \
         or delete the whole tree with delete_run_tree"
    )]
    HasForks {
        run: RunId,
        forks: usize,
        example: RunId,
    },
    /// A write through a read-only view of a run's past.
    #[error(
        "a view of run {run} at a past point is read-only; fork the run at that point \
         (Database::fork_run) to write from there"
    )]
    ReadOnlyView { run: RunId },

    // ----- concurrency and compare-and-swap -------------------------------------------------------
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
    /// A compare-and-swap (of a key or a state cell) whose expected version is not the current
    /// one (`None`: absent). Nothing was written; read it again.
    #[error(
        "{what} {name:?} is at version {}, not the expected {}; nothing was written, read it again",
        version_text(*.actual),
        version_text(*.expected)
    )]
    StaleVersion {
        what: &'static str,
        name: String,
        expected: Option<u64>,
        actual: Option<u64>,
    },

    // ----- the primitives' records --------------------------------------------------------------
    /// An attempt to change or delete a record that is append-only (an event).
    #[error("{key} is an event: events cannot be changed or deleted")]
    Immutable { key: String },
    /// A state cell or machine that must not exist does.
    #[error("state cell or machine {name:?} already exists")]
    CellExists { name: String },
    /// A state cell that must exist does not.
    #[error("state cell {name:?} does not exist; init it first")]
    CellMissing { name: String },
    /// A machine that was never defined in this run.
    #[error("state machine {name:?} is not defined in this run")]
    UnknownMachine { name: String },
    /// An event that the machine's current state does not allow.
    #[error(
        "state machine {machine:?} cannot take event {event:?} in state {state:?}{}",
        if *terminal { " (a terminal state)" } else { "" }
    )]
    ForbiddenTransition {
        machine: String,
        state: String,
        event: String,
        terminal: bool,
    },
    /// The event log of a run does not verify: the first bad event and why.
    #[error("event chain of run {run} is broken at event {sequence}: {reason}")]
    ChainBroken {
        run: RunId,
        sequence: u64,
        reason: String,
    },
    /// A span's parent does not exist in the run.
    #[error("parent span {parent} does not exist in this run")]
    ParentSpanMissing { parent: u64 },
    /// A span that does not exist in the run.
    #[error("span {id} does not exist in this run")]
    UnknownSpan { id: u64 },
    /// A span that has already been finished.
    #[error("span {id} is already finished")]
    SpanFinished { id: u64 },

    // ----- storage ------------------------------------------------------------------------------
    /// A dump that cannot be restored: the index of the first bad entry in `Dump::entries`
    /// (the number of entries, for something about the dump as a whole) and what is wrong.
    #[error("entry {entry} of the dump cannot be restored: {reason}")]
    BadDump { entry: usize, reason: String },
    /// A restore into a directory that holds something.
    #[error(
        "cannot create a database in {}: it is not empty; choose a new or empty directory",
        path.display()
    )]
    TargetNotEmpty { path: std::path::PathBuf },
    /// A change through a handle opened with `Database::open_read_only`. Nothing was written.
    #[error(
        "database {} is open read-only and takes no writes; open it with Database::open to \
         change it",
        path.display()
    )]
    ReadOnly { path: std::path::PathBuf },
    /// A call to the shared store of a connected database failed (see `Database::connect`):
    /// unreachable, an outcome lost with a connection, a run taken over by another host.
    #[error(transparent)]
    Remote(#[from] in_mem_remote::RemoteError),
    /// An operation that a connected database (shared mode) does not offer yet. Nothing was
    /// changed.
    #[error(
        "{operation} is not available on a connected (shared mode) database yet; docs/REMOTE.md \
         lists what is"
    )]
    SharedModeUnsupported { operation: &'static str },
    /// A write to a run that another host owns. Nothing was written.
    #[error(
        "run {run} is owned by host {owner:?}, not by this one; take it over with \
         Database::take_over_run to write to it"
    )]
    NotOwner { run: RunId, owner: String },
    /// The write-ahead log, a checkpoint or the data directory failed (I/O, lock, corruption,
    /// poisoning).
    #[error(transparent)]
    Durability(#[from] in_mem_durability::Error),
    /// A stored value or record that does not decode: a bug or damaged memory, never input.
    #[error("stored data for {what} is damaged: {damage}")]
    Damaged {
        what: String,
        #[source]
        damage: Damage,
    },
}

/// What is wrong with damaged stored data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Damage {
    /// The bytes do not decode as a value.
    #[error(transparent)]
    Decode(#[from] in_mem_core_types::Error),
    /// The value decodes but is not the record it should be (a field missing or mistyped).
    #[error("{0}")]
    Record(String),
}

impl Error {
    /// True if a read-only open fell behind the writer (it removed log segments the reader had
    /// not read yet): open the database again to read on.
    pub fn is_reader_behind(&self) -> bool {
        matches!(
            self,
            Error::Durability(in_mem_durability::Error::ReaderBehind { .. })
        )
    }

    /// True if the data directory is locked by another process.
    pub fn is_locked(&self) -> bool {
        matches!(
            self,
            Error::Durability(in_mem_durability::Error::Locked { .. })
        )
    }
}

/// "3" or "absent", for version mismatch messages.
fn version_text(version: Option<u64>) -> String {
    version.map_or_else(|| "absent".to_owned(), |v| v.to_string())
}
