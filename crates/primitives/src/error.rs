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
    /// A Rust value that has no stored form (a map with non-text keys, an integer beyond i64).
    #[error("cannot store a {type_name}: {detail}")]
    Unrepresentable {
        type_name: &'static str,
        detail: String,
    },
}
