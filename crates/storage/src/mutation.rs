//! `Mutation` and `MutationKind`: the writes of one commit, as handed to `Memtable::apply`.

use std::sync::Arc;

use in_mem_core_types::Timestamp;

/// One write of a commit.
///
/// Keys and values are shared allocations: the memtable keeps the `Arc`s it is given (and shares
/// one key allocation among all versions of a key), so applying a mutation copies no bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// The key, as an opaque byte string (the engine passes memcomparable encodings).
    pub key: Arc<[u8]>,
    /// What the write does.
    pub kind: MutationKind,
}

/// What a mutation does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MutationKind {
    /// Stores `value`; with `expires_at`, the value reads as absent from that moment on.
    ///
    /// `Some(Timestamp::MAX)` is "an expiry that never comes", the same as `None`; the memtable
    /// stores both as `None`.
    Put {
        /// The value bytes.
        value: Arc<[u8]>,
        /// When the value stops being readable, if ever.
        expires_at: Option<Timestamp>,
    },
    /// Deletes the key: a tombstone that hides every older version.
    Delete,
}

impl Mutation {
    /// A put of `value` under `key` that never expires.
    pub fn put(key: impl Into<Arc<[u8]>>, value: impl Into<Arc<[u8]>>) -> Self {
        Mutation {
            key: key.into(),
            kind: MutationKind::Put {
                value: value.into(),
                expires_at: None,
            },
        }
    }

    /// A put of `value` under `key` that reads as absent from `expires_at` on.
    pub fn put_expiring(
        key: impl Into<Arc<[u8]>>,
        value: impl Into<Arc<[u8]>>,
        expires_at: Timestamp,
    ) -> Self {
        Mutation {
            key: key.into(),
            kind: MutationKind::Put {
                value: value.into(),
                expires_at: Some(expires_at),
            },
        }
    }

    /// A delete of `key`.
    pub fn delete(key: impl Into<Arc<[u8]>>) -> Self {
        Mutation {
            key: key.into(),
            kind: MutationKind::Delete,
        }
    }
}
