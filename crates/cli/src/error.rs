//! The tool's error type, and the exit code of each failure.

use std::path::PathBuf;

/// Exit code of a failure to do what was asked (a database that cannot be opened, an unknown
/// run, bad input, an I/O error). `verify` reports what it found with its own codes.
pub const EXIT_FAILED: u8 = 1;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The database refused: it cannot be opened, a run does not exist, a read failed.
    #[error(transparent)]
    Db(#[from] in_mem::Error),
    /// A durability-level operation (verify, backup) failed.
    #[error(transparent)]
    Durability(#[from] in_mem_durability::Error),
    /// No run's id starts with what was given.
    #[error("no run's id starts with {prefix:?}; `in-mem runs DIR` lists them")]
    UnknownRun { prefix: String },
    /// More than one run's id starts with what was given.
    #[error("{prefix:?} names {count} runs (one is {example}); give more of the id")]
    AmbiguousRun {
        prefix: String,
        count: usize,
        example: String,
    },
    /// An argument that does not mean anything.
    #[error("{what} {given:?} is not understood: {expected}")]
    BadArgument {
        what: &'static str,
        given: String,
        expected: String,
    },
    /// A line of an import that cannot be imported: nothing was written.
    #[error("line {line}: {reason}; nothing was imported")]
    BadImport { line: usize, reason: String },
    /// The OpenTelemetry collector refused or could not be reached.
    #[error("sending spans to {endpoint} failed: {reason}")]
    Otlp { endpoint: String, reason: String },
    /// Reading or writing a file or a stream failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CliError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True if the output was closed early (`in-mem events DIR RUN | head`): not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;
