//! The error type of core-types: malformed identifiers, keys and values, and broken limits.

use std::fmt;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What was wrong with one part of a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceProblem {
    /// The part is the empty string.
    Empty,
    /// The part is longer than [`crate::limits::NAMESPACE_PART_BYTES_MAX`].
    TooLong,
    /// The part contains a control character (bytes 0x00-0x1f or 0x7f); 0x00 would break the
    /// key encoding and the others make names unprintable.
    ControlCharacter,
}

impl fmt::Display for NamespaceProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "it is empty",
            Self::TooLong => "it is longer than the limit of 128 bytes",
            Self::ControlCharacter => "it contains a control character (0x00-0x1f or 0x7f)",
        })
    }
}

/// Errors of the core types: every one names what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A user key of zero bytes.
    #[error("key is empty; keys need at least one byte")]
    EmptyKey,
    /// A user key over [`crate::limits::USER_KEY_BYTES_MAX`].
    #[error("key is {len} bytes, more than the limit of {max} bytes")]
    KeyTooLong { len: usize, max: usize },
    /// A value whose encoding is over [`crate::limits::VALUE_BYTES_MAX`].
    #[error("value is {len} bytes, more than the limit of {max} bytes")]
    ValueTooLarge { len: usize, max: usize },
    /// A value nested deeper than [`crate::limits::VALUE_DEPTH_MAX`].
    #[error("value nests {depth} levels deep, more than the limit of {max}")]
    ValueTooDeep { depth: usize, max: usize },
    /// A namespace part (tenant, app or agent) that cannot be used.
    #[error("namespace {part} {value:?} is invalid: {problem}")]
    InvalidNamespace {
        part: &'static str,
        value: String,
        problem: NamespaceProblem,
    },
    /// Text that does not parse as a run id.
    #[error("{input:?} is not a run id: {reason}")]
    InvalidRunId { input: String, reason: String },
    /// The nil run id is reserved for an agent's shared memory and never names a run.
    #[error("the nil run id is reserved for agent memory and cannot name a run")]
    NilRunId,
    /// A type tag byte that this version does not know.
    #[error("unknown type tag {0:#04x}")]
    UnknownTypeTag(u8),
    /// Bytes that do not decode as the named structure.
    #[error("malformed {what} at byte {offset}: {reason}")]
    Malformed {
        what: &'static str,
        offset: usize,
        reason: &'static str,
    },
}
