//! What a commit is made of: the writes a transaction or a call buffered, and the reads it
//! must find unchanged (optimistic concurrency control).

use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::{Key, Version};

/// One write waiting to be committed.
#[derive(Debug, Clone)]
pub(crate) struct PendingWrite {
    pub key: Arc<[u8]>,
    pub op: PendingOp,
}

/// What a pending write does.
#[derive(Debug, Clone)]
pub(crate) enum PendingOp {
    Put {
        value: Arc<[u8]>,
        ttl: Option<Duration>,
    },
    Delete,
    /// Deletes every key under the write's key (a run's namespace, when it is deleted).
    DeletePrefix,
}

/// A key a transaction read, and the version it saw (`None`: no version at all).
#[derive(Debug, Clone)]
pub(crate) struct ReadCheck {
    pub key: Arc<[u8]>,
    pub observed: Option<Version>,
}

/// A readable name for an encoded key: its type and user key, e.g. `kv:user:1`.
pub(crate) fn describe_key(encoded: &[u8]) -> String {
    match Key::decode(encoded) {
        Ok(key) => format!(
            "{}:{}",
            key.type_tag(),
            String::from_utf8_lossy(key.user_key())
        ),
        Err(_) => String::from_utf8_lossy(encoded).into_owned(),
    }
}
