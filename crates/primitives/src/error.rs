//! The primitives' error type, which is also the umbrella crate's `in_mem::Error`.

/// Result alias for the primitives (and `in_mem::Result`).
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a primitive's call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database call underneath failed.
    #[error(transparent)]
    Engine(#[from] in_mem_engine::Error),
    /// Bad input caught before reaching the database (a value too deep or too large).
    #[error(transparent)]
    Invalid(#[from] in_mem_core_types::Error),
    /// A stored value read as a type it cannot become.
    #[error("key {key:?} holds a {stored} value that cannot be read as {requested}: {detail}")]
    TypeMismatch {
        key: String,
        stored: &'static str,
        requested: &'static str,
        detail: String,
    },
    /// A key's version was not the one a compare-and-swap expected.
    #[error(
        "key {key:?} is at version {actual:?}, not the expected {expected:?}; nothing was written"
    )]
    VersionMismatch {
        key: String,
        expected: Option<u64>,
        actual: Option<u64>,
    },
    /// A state cell that must not exist does.
    #[error("state cell or machine {name:?} already exists")]
    CellExists { name: String },
    /// A state cell that must exist does not.
    #[error("state cell {name:?} does not exist; init it first")]
    CellMissing { name: String },
    /// A compare-and-swap on a state cell with a version that is not its current one.
    #[error(
        "state cell {name:?} is at version {actual}, not the expected {expected}; read it again"
    )]
    StaleVersion {
        name: String,
        expected: u64,
        actual: u64,
    },
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
    /// A machine definition that contradicts itself.
    #[error("invalid state machine: {reason}")]
    InvalidMachine { reason: String },
    /// The event log of a run does not verify: the first bad event and why.
    #[error("event chain of run {run} is broken at event {sequence}: {reason}")]
    ChainBroken {
        run: in_mem_core_types::RunId,
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
    /// A span that cannot be stored as described.
    #[error("invalid span: {reason}")]
    InvalidSpan { reason: String },
    /// A name (event type, cell, machine, tag) that cannot be used.
    #[error("{what} {name:?} is invalid: {problem}")]
    InvalidName {
        what: &'static str,
        name: String,
        problem: &'static str,
    },
    /// A value with no canonical encoding where one is needed (a hash or a comparison).
    #[error("value cannot be stored here: {reason}")]
    NotCanonical { reason: &'static str },
    /// A stored record that does not decode: damaged data or a bug, never input.
    #[error("stored {what} is damaged: {reason}")]
    Damaged { what: String, reason: String },
    /// A Rust value that has no stored form (a map with non-text keys, an integer beyond i64).
    #[error("cannot store a {type_name}: {detail}")]
    Unrepresentable {
        type_name: &'static str,
        detail: String,
    },
}
