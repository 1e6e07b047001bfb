//! Durability of in-mem: the segmented write-ahead log, group commit, recovery, and the
//! file-system trait every file access goes through.
//!
//! - [`DataDir`] opens and locks a data directory (`<dir>/LOCK`, `<dir>/wal/`) and loads the
//!   database's identity (`<dir>/IDENTITY`: its id and the generations of its log), creating
//!   a new database only in a missing or empty directory. Every segment and checkpoint header
//!   names the id and generation, and recovery refuses a file that does not belong (or, in
//!   [`RecoveryMode::Salvage`], sets it aside into `quarantine/` unread).
//! - [`Wal`] appends one record per commit to preallocated segments, makes records durable
//!   at the level a commit asks for ([`WaitFor`]: buffered, written to the OS, or fdatasynced,
//!   with concurrent committers sharing one fdatasync), and recovers the log at open: torn
//!   and unsynced tails are cut and reported, any other damage is refused with the file,
//!   offset and reason, or, with [`RecoveryMode::Salvage`], cut to the longest valid prefix.
//! - [`Vfs`] is the file-system trait; [`StdFs`] is the real one, [`SimFs`] a simulated one
//!   for tests that models power loss and injects I/O errors.
//!
//! This crate is *not* the database: it never interprets keys or values (they are bytes,
//! encoded by the engine) and knows nothing of the memtable; recovery hands records back
//! through a callback. The on-disk format is documented in `docs/FORMAT.md`.
//!
//! ```
//! use std::sync::Arc;
//! use in_mem_core_types::{RunId, Timestamp, Version};
//! use in_mem_durability::{
//!     CommitBody, DataDir, OpRef, StdFs, WaitFor, Wal, WalOptions, WriteRef,
//! };
//!
//! let tmp = tempfile::tempdir().unwrap();
//! let dir = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
//! let (wal, _) = Wal::open(&dir, WalOptions::default(), Version::ZERO, &mut |_| Ok(())).unwrap();
//! let put = WriteRef { key: b"k", op: OpRef::Put { value: b"v", ttl: None } };
//! let body = CommitBody::encode(Timestamp::now(), RunId::new(), &[put]).unwrap();
//! let ticket = wal.append(&body, || Version::new(1)).unwrap();
//! wal.wait(ticket, WaitFor::Synced).unwrap();
//! wal.close().unwrap();
//! drop(wal);
//!
//! let mut replayed = Vec::new();
//! let (_wal, recovery) = Wal::open(&dir, WalOptions::default(), Version::ZERO, &mut |r| {
//!     replayed.push(r);
//!     Ok(())
//! })
//! .unwrap();
//! assert_eq!(recovery.last_version, Version::new(1));
//! assert_eq!(replayed[0].writes[0].key, b"k");
//! ```

mod backup;
pub mod checkpoint;
mod codec;
mod copy;
mod database_id;
mod dir;
mod error;
mod identity;
mod quarantine;
mod sync;
mod verify;
mod vfs;
mod wal;

/// Looking inside log files, for tools and tests: the record frames of a segment, found by
/// the same parser recovery uses, and a check of every file of a data directory.
pub mod inspect {
    pub use crate::verify::{
        CheckpointCheck, Finding, LogCheck, data_bytes, verify_checkpoints, verify_log,
    };
    pub use crate::wal::frame::{FrameInfo, segment_frames};
}

pub use backup::{Backup, backup_database};
pub use copy::{CopyIdentity, copy_database};
pub use dir::{CHECKPOINT_DIR_NAME, DataDir, LOCK_FILE_NAME, WAL_DIR_NAME};
pub use error::{CorruptionKind, Error, FileKind, Mismatch, Result};
pub use identity::{DatabaseId, IDENTITY_FILE_NAME};
pub use quarantine::{QUARANTINE_DIR_NAME, Quarantined};
pub use vfs::{LockGuard, Metadata, OpenMode, SimFaults, SimFs, StdFs, Timeline, Vfs, VfsFile};
/// What `tests/loom.rs` drives; only under `--cfg inmem_loom`.
#[cfg(inmem_loom)]
#[doc(hidden)]
pub use wal::loom_hooks;
pub use wal::{
    CommitBody, CommitRecord, FollowStop, Followed, LogFollower, LogOp, LogWrite, OpRef,
    RecoveryMode, ReplayRejected, SEGMENT_BYTES_MAX, SEGMENT_BYTES_MIN, Salvaged, SegmentRead,
    SyncPolicy, SyncPolicyGuard, TailState, Ticket, WaitFor, Wal, WalOptions, WalRecovery,
    WriteRef,
};
