//! The versions of one key of the agent's memory that a run can see: everything up to its
//! snapshot, its own writes (a fork's: its ancestors' up to the fork points).

use in_mem_core_types::{Key, RunId, Timestamp, Value, concat_shared};
use in_mem_storage::MutationKind;

use crate::error::Result;
use crate::instance::{Instance, damaged};
use crate::runs::RunState;

/// One version of a key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyVersion {
    /// The commit that wrote it.
    pub version: u64,
    /// The commit's timestamp.
    pub timestamp: Timestamp,
    /// The run that wrote it.
    pub writer: RunId,
    /// The value, or `None` for a deletion.
    pub value: Option<Value>,
    /// When the value stops being readable, if it has a time to live.
    pub expires_at: Option<Timestamp>,
}

/// A key's versions that a run can see, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyHistory {
    /// The versions, newest first.
    pub versions: Vec<KeyVersion>,
    /// Whether retention reclaimed older versions of the key: the list then ends early.
    pub older_pruned: bool,
}

/// The versions of `user_key` that `run` can see now, newest first.
pub(crate) fn key_history(
    instance: &Instance,
    run: &RunState,
    user_key: &[u8],
) -> Result<KeyHistory> {
    Key::validate_user_key(user_key)?;
    let full = concat_shared(&[&run.kv_prefix, user_key]);
    let view = instance.view_of(run);
    let mut history = KeyHistory::default();
    for stored in instance.versions_under(&full) {
        if stored.key[..] != full[..] {
            continue;
        }
        // A cut anywhere in the key's versions may have taken one this run could see.
        history.older_pruned |= stored.cuts.any();
        if !view.sees(stored.version, stored.writer) {
            continue;
        }
        let (value, expires_at) = match stored.kind {
            MutationKind::Put { value, expires_at } => {
                let value = Value::decode(&value).map_err(|e| damaged(user_key, &e))?;
                (Some(value), expires_at)
            }
            MutationKind::Delete => (None, None),
        };
        history.versions.push(KeyVersion {
            version: stored.version.get(),
            timestamp: stored.timestamp,
            writer: stored.writer,
            value,
            expires_at,
        });
    }
    // The oldest version seen may have had older ones removed under it (a sweep marks the
    // survivor); below the newest sweep's horizon a shared key may also be gone entirely.
    if history.versions.is_empty() && run.snapshot < instance.swept_horizon() {
        history.older_pruned = true;
    }
    Ok(history)
}
