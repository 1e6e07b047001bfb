//! Checkpoints: writing one (on demand, and in the background once the log has grown by
//! `OpenOptions::checkpoint_every_bytes` or by a quarter of the newest checkpoint's size,
//! whichever is more: see [`is_due`]), from the parts it needs: the memtable, the log and the
//! directory. Loading the newest good one is part of recovery (`recovery/checkpoint.rs`).
//!
//! A checkpoint at version V holds every version the memtable keeps at or below V, which is
//! exactly the history that runs' views and the retention policy still need (the sweeper has
//! removed the rest), so time-travel reads of active runs survive a restart; each version keeps
//! its cut marks (where sweeps removed versions next to it), so a past read that needs a removed
//! version is still refused after the restart instead of answered wrongly. Two checkpoints
//! are kept, and the log back to the older of them: if the newest is damaged, recovery falls
//! back to the previous one plus the log after it. Older checkpoints and the log segments below
//! the previous checkpoint are deleted, so disk use and recovery time stay bounded however long
//! a database lives.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use in_mem_core_types::Version;
use in_mem_durability::checkpoint::{CheckpointCuts, CheckpointWriter, remove_checkpoints_below};
use in_mem_durability::{DataDir, Wal};
use in_mem_storage::{Memtable, MutationKind};

use crate::error::Result;

/// What a checkpoint wrote and removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// Every commit up to this version is in the checkpoint.
    pub version: u64,
    /// Stored versions written.
    pub entries: u64,
    /// Size of the checkpoint file.
    pub bytes: u64,
    /// The file.
    pub path: PathBuf,
    /// Log segments deleted (those below the previous checkpoint).
    pub segments_removed: usize,
    /// Older checkpoints deleted.
    pub checkpoints_removed: usize,
}

/// The engine's checkpoint bookkeeping, and the writer.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    /// Held while a checkpoint is written (one at a time); the newest checkpoint's version.
    newest: Mutex<Option<Version>>,
    /// Log bytes appended (since open) when the newest checkpoint was taken.
    bytes_at_newest: AtomicU64,
    /// The size of the newest checkpoint's file (0 if there is none).
    newest_bytes: AtomicU64,
    /// Log growth that makes a background checkpoint due, at the least (0: never).
    every_bytes: u64,
}

impl Checkpoints {
    /// `newest` is the version of the checkpoint recovery started from, `newest_bytes` the size
    /// of its file.
    pub fn new(newest: Option<Version>, newest_bytes: u64, every_bytes: u64) -> Self {
        Checkpoints {
            newest: Mutex::new(newest),
            bytes_at_newest: AtomicU64::new(0),
            newest_bytes: AtomicU64::new(newest_bytes),
            every_bytes,
        }
    }
}

/// Whether a background checkpoint is due after the log grew by `grown` bytes since the newest
/// checkpoint, whose file holds `newest_bytes`: once the log has grown by `every_bytes`
/// (0: never) and by a quarter of the newest checkpoint's size.
///
/// A checkpoint writes every version the memtable keeps, so on a fixed schedule of log bytes
/// its cost grows with the data set: a store growing to 10M keys wrote its whole memtable
/// (up to 1.8 GB) every 64 MiB of log. Waiting for a quarter of the checkpoint's size bounds
/// what checkpoints write to about four times what the log writes. Not more than a quarter:
/// an open replays the log after the checkpoint, and a replayed version costs several times
/// a checkpoint's (an open of 8.8M keys from a checkpoint plus 1.2M replayed took 8.5-9.4 s,
/// of 10M from a checkpoint alone 5.2-5.6 s), so the replay stays under about as long again
/// as the checkpoint's load.
pub(crate) fn is_due(grown: u64, every_bytes: u64, newest_bytes: u64) -> bool {
    every_bytes > 0 && grown >= every_bytes.max(newest_bytes / 4)
}

impl Checkpoints {
    /// Writes a checkpoint of everything visible in `memtable` now, without stopping writers;
    /// then deletes the checkpoints and log segments that the previous checkpoint made
    /// unnecessary. The caller sweeps first: whatever no view can see any more need not be
    /// written (nor read back at recovery).
    /// `history_from` reads the horizon of the newest sweep: the checkpoint keeps it, so that
    /// after a reopen reads of older views still know what may be missing. It is read with
    /// sweeps held off, so it is the horizon of what the checkpoint copies.
    pub fn write(
        &self,
        memtable: &Memtable,
        wal: &Wal,
        dir: &DataDir,
        history_from: impl FnOnce() -> Version,
    ) -> Result<CheckpointInfo> {
        let mut newest = self.newest.lock().unwrap_or_else(PoisonError::into_inner);
        let bytes_before = wal.appended_bytes();
        let version = memtable.versions().visible();
        // Every record at or below `version` is appended (a commit is visible only after its
        // append); flushing makes them durable in the log too, so that the log stays complete
        // up to this checkpoint and a fall back from it to the previous one never meets a hole
        // (in Async mode they could still be only in the process's buffer).
        wal.flush()?;
        let paused = memtable.pause_sweeps();
        let mut writer = CheckpointWriter::create(dir, version, history_from())?;
        paused.for_each_version_upto(version, |stored| {
            let value = match &stored.kind {
                MutationKind::Put { value, expires_at } => Some((&value[..], *expires_at)),
                MutationKind::Delete => None,
            };
            let cuts = CheckpointCuts {
                below: stored.cuts.below,
                above: stored.cuts.above,
            };
            writer.push(
                &stored.key,
                stored.version,
                stored.writer,
                stored.timestamp,
                value,
                cuts,
            )
        })?;
        drop(paused);
        let written = writer.finish()?;
        let previous = newest.replace(version);
        let (segments_removed, checkpoints_removed) = match previous {
            // Keep the previous checkpoint and the log from it, for a fall back.
            Some(previous) => (
                wal.remove_segments_below(previous)?,
                remove_checkpoints_below(dir, previous)?,
            ),
            None => (0, 0),
        };
        self.bytes_at_newest.store(bytes_before, Ordering::Relaxed);
        self.newest_bytes.store(written.bytes, Ordering::Relaxed);
        tracing::info!(
            version = version.get(),
            entries = written.entries,
            bytes = written.bytes,
            segments_removed,
            "checkpoint written"
        );
        Ok(CheckpointInfo {
            version: version.get(),
            entries: written.entries,
            bytes: written.bytes,
            path: written.file.path,
            segments_removed,
            checkpoints_removed,
        })
    }

    /// Whether the log (`appended_bytes` since open) has grown enough since the last
    /// checkpoint for a background one (see [`is_due`]).
    pub fn is_due(&self, appended_bytes: u64) -> bool {
        let grown = appended_bytes.saturating_sub(self.bytes_at_newest.load(Ordering::Relaxed));
        is_due(
            grown,
            self.every_bytes,
            self.newest_bytes.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::is_due;

    #[test]
    fn due_after_the_fixed_growth_or_a_quarter_of_the_newest_checkpoint_whichever_is_more() {
        const MIB: u64 = 1 << 20;
        // Small checkpoints: the fixed growth decides.
        assert!(!is_due(63 * MIB, 64 * MIB, 0));
        assert!(is_due(64 * MIB, 64 * MIB, 0));
        assert!(is_due(64 * MIB, 64 * MIB, 10 * MIB));
        // Under four times that: still the fixed growth.
        assert!(is_due(64 * MIB, 64 * MIB, 256 * MIB));
        // A checkpoint bigger than that: the log must grow by a quarter of its size first.
        assert!(!is_due(64 * MIB, 64 * MIB, 1_200 * MIB));
        assert!(!is_due(299 * MIB, 64 * MIB, 1_200 * MIB));
        assert!(is_due(300 * MIB, 64 * MIB, 1_200 * MIB));
        // 0 turns background checkpoints off, whatever the sizes.
        assert!(!is_due(u64::MAX, 0, 0));
        assert!(!is_due(u64::MAX, 0, MIB));
    }
}
