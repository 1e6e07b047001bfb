//! Limits enforced by every layer. Breaking one is a typed error, never a panic or a truncation.
//!
//! They are constants, not settings, because they are part of the on-disk contract: a log written
//! under one limit must be readable by every later version.

/// Largest user key, in bytes. Keys are held twice in memory (ordered index and hash index share
/// one allocation, but scans copy them), so they are meant to be names, not documents.
pub const USER_KEY_BYTES_MAX: usize = 1024;

/// Largest encoded value, in bytes (4 MiB). Large blobs belong in a file with the path stored here.
pub const VALUE_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Deepest nesting of arrays and maps inside one value a caller stores: the same for a KV
/// value, an event payload, a state cell and a span's data. Bounded so that decoding can recurse
/// without any risk of exhausting the stack, whatever bytes it is fed.
pub const VALUE_DEPTH_MAX: usize = 64;

/// Levels of nesting the engine's own records add around a caller's value (a span record wraps
/// a tool call's arguments three deep: record, kind, variant). Stored bytes may therefore nest
/// up to [`STORED_DEPTH_MAX`], while every caller's value is held to [`VALUE_DEPTH_MAX`].
pub const RECORD_NESTING_MAX: usize = 4;

/// Deepest nesting the decoder accepts: a caller's value inside one of the engine's records.
pub const STORED_DEPTH_MAX: usize = VALUE_DEPTH_MAX + RECORD_NESTING_MAX;

/// Longest tenant, app or agent name, in bytes.
pub const NAMESPACE_PART_BYTES_MAX: usize = 128;

/// Largest number of writes in one commit.
pub const COMMIT_WRITES_MAX: usize = 100_000;

/// Largest encoded commit, in bytes (64 MiB). A commit is one log record, written at once.
pub const COMMIT_BYTES_MAX: usize = 64 * 1024 * 1024;

const _: () = assert!(VALUE_BYTES_MAX < COMMIT_BYTES_MAX);
const _: () = assert!(USER_KEY_BYTES_MAX < VALUE_BYTES_MAX);
