//! Checkpoints: writing one (on demand, and in the background once the log has grown by
//! `OpenOptions::checkpoint_every_bytes`), and starting recovery from the newest good one.
//!
//! A checkpoint at version V holds every version the memtable keeps at or below V, which is
//! exactly the history that runs' views and the retention policy still need (the sweeper has
//! removed the rest), so time-travel reads of active runs survive a restart. Two checkpoints
//! are kept, and the log back to the older of them: if the newest is damaged, recovery falls
//! back to the previous one plus the log after it. Older checkpoints and the log segments below
//! the previous checkpoint are deleted, so disk use and recovery time stay bounded however long
//! a database lives.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use in_mem_core_types::{Key, TypeTag, Version};
use in_mem_durability::checkpoint::{
    CheckpointEntry, CheckpointFile, CheckpointOp, CheckpointWriter, list_checkpoints,
    read_checkpoint, remove_checkpoints_below,
};
use in_mem_durability::{DataDir, ReplayRejected};
use in_mem_storage::{Memtable, Mutation, MutationKind};

use crate::error::Result;
use crate::instance::Instance;
use crate::recovery::recover_run_record;
use crate::runs::RunRegistry;

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

/// The engine's checkpoint bookkeeping.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    /// Held while a checkpoint is written (one at a time); the newest checkpoint's version.
    newest: Mutex<Option<Version>>,
    /// Log bytes appended (since open) when the newest checkpoint was taken.
    bytes_at_newest: AtomicU64,
    /// Log growth that makes a background checkpoint due (0: never).
    every_bytes: u64,
}

impl Checkpoints {
    pub fn new(newest: Option<Version>, every_bytes: u64) -> Self {
        Checkpoints {
            newest: Mutex::new(newest),
            bytes_at_newest: AtomicU64::new(0),
            every_bytes,
        }
    }
}

impl Instance {
    /// Writes a checkpoint of everything visible now, without stopping writers; then deletes
    /// the checkpoints and log segments that the previous checkpoint made unnecessary.
    pub fn checkpoint(&self) -> Result<CheckpointInfo> {
        let state = &self.checkpoints;
        let mut newest = state
            .newest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bytes_before = self.wal.appended_bytes();
        // Whatever no view can see any more need not be written (nor read back at recovery).
        self.sweep();
        let version = self.memtable.versions().visible();
        // Every record at or below `version` is appended (a commit is visible only after its
        // append); flushing makes them durable in the log too, so that the log stays complete
        // up to this checkpoint and a fall back from it to the previous one never meets a hole
        // (in Async mode they could still be only in the process's buffer).
        self.wal.flush()?;
        let mut writer = CheckpointWriter::create(&self.dir, version)?;
        self.memtable.for_each_version_upto(version, |stored| {
            let value = match &stored.kind {
                MutationKind::Put { value, expires_at } => Some((&value[..], *expires_at)),
                MutationKind::Delete => None,
            };
            writer.push(
                &stored.key,
                stored.version,
                stored.writer,
                stored.timestamp,
                value,
            )
        })?;
        let written = writer.finish()?;
        let previous = newest.replace(version);
        let (segments_removed, checkpoints_removed) = match previous {
            // Keep the previous checkpoint and the log from it, for a fall back.
            Some(previous) => (
                self.wal.remove_segments_below(previous)?,
                remove_checkpoints_below(&self.dir, previous)?,
            ),
            None => (0, 0),
        };
        state.bytes_at_newest.store(bytes_before, Ordering::Relaxed);
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

    /// A checkpoint if the log has grown by `checkpoint_every_bytes` since the last one.
    pub fn checkpoint_if_due(&self) -> Option<Result<CheckpointInfo>> {
        let state = &self.checkpoints;
        let grown = self
            .wal
            .appended_bytes()
            .saturating_sub(state.bytes_at_newest.load(Ordering::Relaxed));
        (state.every_bytes > 0 && grown >= state.every_bytes).then(|| self.checkpoint())
    }
}

/// Where recovery starts from: a memtable and run registry loaded from the newest good
/// checkpoint (or empty), and what happened on the way.
pub(crate) struct Loaded {
    pub memtable: Memtable,
    pub runs: RunRegistry,
    /// The checkpoint used, if any; the log is replayed after its version.
    pub checkpoint: Option<CheckpointFile>,
    /// Damaged checkpoints that were skipped, with why.
    pub skipped: Vec<String>,
}

/// Loads the newest checkpoint that verifies; falls back to older ones, then to none.
pub(crate) fn load_newest(dir: &DataDir) -> Result<Loaded> {
    let mut skipped = Vec::new();
    for file in list_checkpoints(dir)? {
        let memtable = Memtable::new(file.version);
        let runs = RunRegistry::default();
        let mut last_run_key: Option<Vec<u8>> = None;
        let mut apply =
            |entry: CheckpointEntry| load_entry(&memtable, &runs, &mut last_run_key, entry);
        match read_checkpoint(dir, &file, &mut apply) {
            Ok(_) => {
                return Ok(Loaded {
                    memtable,
                    runs,
                    checkpoint: Some(file),
                    skipped,
                });
            }
            Err(e) => {
                tracing::error!(file = %file.path.display(), error = %e, "checkpoint is damaged; trying an older one");
                skipped.push(e.to_string());
            }
        }
    }
    Ok(Loaded {
        memtable: Memtable::new(Version::ZERO),
        runs: RunRegistry::default(),
        checkpoint: None,
        skipped,
    })
}

/// Applies one checkpoint entry. Entries come key by key, newest version first, so the first
/// entry of a run record's key is that run's current record.
fn load_entry(
    memtable: &Memtable,
    runs: &RunRegistry,
    last_run_key: &mut Option<Vec<u8>>,
    entry: CheckpointEntry,
) -> std::result::Result<(), ReplayRejected> {
    let tag = Key::decode_type_tag(&entry.key)
        .map_err(|e| ReplayRejected(format!("key does not decode: {e}")))?;
    if tag == TypeTag::Run && last_run_key.as_deref() != Some(&entry.key[..]) {
        if let CheckpointOp::Put { value, .. } = &entry.op {
            recover_run_record(runs, &entry.key, value)?;
        }
        *last_run_key = Some(entry.key.clone());
    }
    let kind = match entry.op {
        CheckpointOp::Put { value, expires_at } => MutationKind::Put {
            value: value.into(),
            expires_at,
        },
        CheckpointOp::Delete => MutationKind::Delete,
    };
    let mutation = Mutation {
        key: entry.key.into(),
        kind,
    };
    memtable.apply(entry.version, entry.writer, entry.timestamp, &[mutation]);
    Ok(())
}
