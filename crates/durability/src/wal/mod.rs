//! The segmented write-ahead log: append, wait for durability, recover.
//!
//! One record per commit, appended under the log lock in version order (the engine allocates
//! the version inside [`Wal::append`]). Waiting for a record is a separate step, so that a
//! committer can release its own locks before it waits; see [`WaitFor`] for the levels and
//! `group_commit.rs` for the group-commit protocol (`writer/waits.rs` carries it out).

mod buffer;
mod cadence;
mod follow;
pub(crate) mod format;
pub(crate) mod frame;
mod generation;
mod group_commit;
#[cfg(inmem_loom)]
pub mod loom_hooks;
mod marks;
mod prune;
pub(crate) mod reader;
pub(crate) mod record;
mod recovery;
mod rotation;
mod screen;
pub(crate) mod segment;
mod sync_thread;
mod writer;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use in_mem_core_types::Version;

pub use follow::{FollowStop, Followed, LogFollower, SegmentRead};
pub use record::{CommitBody, CommitRecord, LogOp, LogWrite, OpRef, WriteRef};

use crate::dir::{DataDir, DirInner};
use crate::error::{Error, Result};
use crate::quarantine::Quarantined;
use writer::Shared;

/// Smallest accepted `WalOptions::segment_bytes`.
pub const SEGMENT_BYTES_MIN: u64 = 4096;
/// Largest accepted `WalOptions::segment_bytes` (1 GiB). A single record larger than a segment
/// still fits: it gets a segment of its own, sized to fit.
pub const SEGMENT_BYTES_MAX: u64 = 1 << 30;

/// Options of a log.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Size of a segment file, preallocated in full (default 32 MiB).
    pub segment_bytes: u64,
    /// What recovery does with damage that is not a torn or unsynced tail (default: refuse).
    pub recovery_mode: RecoveryMode,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: 32 << 20,
            recovery_mode: RecoveryMode::Refuse,
        }
    }
}

/// What recovery does with damage that a crash cannot explain (a bad checksum before records
/// that were durable, a missing segment, a version gap ...). A torn or unsynced tail is cut in
/// every mode; see `docs/RECOVERY.md` for each on-disk state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RecoveryMode {
    /// Refuse to open with [`Error::Corruption`] naming file, offset and reason. The default:
    /// nothing acknowledged is ever dropped silently.
    #[default]
    Refuse,
    /// Keep the longest valid prefix of the log and cut everything after the damage (the
    /// damaged segment is overwritten with zeros from the damage on, later segments deleted),
    /// reporting it in [`WalRecovery::salvaged`]. Commits after the damage are lost, including
    /// acknowledged ones: copy the data directory first if they may matter.
    Salvage,
}

/// Where an appended record is, for [`Wal::wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// The version allocated for the record.
    pub version: Version,
    /// The logical end offset of the record in this open of the log (not persistent).
    pub lsn: u64,
}

/// How durable a record must be before [`Wal::wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// In the in-process buffer: returns at once (`Async` mode).
    Buffered,
    /// Written to the OS with pwrite, so it survives the process being killed (`Batched` mode).
    Written,
    /// Covered by a completed fdatasync, so it survives power loss (`Strict` mode).
    Synced,
}

/// A background sync cadence: sync at least every `interval` while there is unsynced data, and
/// as soon as `max_commits` commits are unsynced. The smallest registered values apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPolicy {
    pub interval: Duration,
    pub max_commits: Option<u64>,
}

/// Removes its policy from the log when dropped.
pub struct SyncPolicyGuard {
    shared: Weak<Shared>,
    id: u64,
}

impl fmt::Debug for SyncPolicyGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncPolicyGuard")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Drop for SyncPolicyGuard {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.remove_policy(self.id);
        }
    }
}

/// The end of the log as recovery found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailState {
    /// The log ended cleanly.
    Clean,
    /// A torn tail was cut: `bytes` bytes from `offset` of `file` (and any garbage in unused
    /// segments after it) were overwritten with zeros.
    Cut {
        file: PathBuf,
        offset: u64,
        bytes: u64,
        reason: String,
    },
}

/// What recovery did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalRecovery {
    /// Records handed to the replay callback (those above `after`).
    pub records_replayed: u64,
    /// The last version in the log, or `after` if that is later (or the log is empty).
    pub last_version: Version,
    /// Whether the log ended cleanly or was cut, where, and how many bytes went.
    pub tail: TailState,
    /// Valid records found after the cut and dropped with it: unsynced records that reached
    /// the disk out of order, or, when salvaging, records after the damage.
    pub records_dropped: u64,
    /// The newest version among the dropped records.
    pub newest_dropped: Option<Version>,
    /// Set when [`RecoveryMode::Salvage`] cut damage that [`RecoveryMode::Refuse`] refuses.
    pub salvaged: Option<Salvaged>,
    /// Files of the log directory that [`RecoveryMode::Salvage`] set aside into
    /// `quarantine/` unread (another database's, an older copy's, a newer format's, unknown),
    /// and checkpoints set aside because the new generation of the log replaces the versions
    /// they hold.
    pub quarantined: Vec<Quarantined>,
    /// The generation of the log after recovery (a new one begins whenever recovery removes
    /// anything from the log).
    pub generation: u64,
}

/// Damage that [`RecoveryMode::Salvage`] cut instead of refusing: what the default mode's
/// [`Error::Corruption`] would have named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salvaged {
    pub file: PathBuf,
    pub offset: u64,
    pub kind: crate::CorruptionKind,
    /// The first version recovery could not keep: every commit from it on is gone.
    pub first_lost: Version,
}

/// Rejection of a replayed record (or checkpoint entry) by the caller: what it was reading, and
/// why, kept as a typed source. Recovery reports it as corruption at the record's file and
/// offset. Two rejections are equal when they say the same thing (the cause's type is the
/// caller's).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}: {cause}")]
pub struct ReplayRejected {
    /// What the caller was reading (a key, a run record, the commit order ...).
    pub what: &'static str,
    /// Why it refused it.
    #[source]
    pub cause: Arc<dyn std::error::Error + Send + Sync>,
}

impl ReplayRejected {
    /// A rejection of `what`, caused by `cause` (an error, or a text).
    pub fn new(
        what: &'static str,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        ReplayRejected {
            what,
            cause: Arc::from(cause.into()),
        }
    }
}

impl PartialEq for ReplayRejected {
    fn eq(&self, other: &Self) -> bool {
        self.what == other.what && self.cause.to_string() == other.cause.to_string()
    }
}

impl Eq for ReplayRejected {}

/// An open write-ahead log. `Send + Sync`: share it by reference or `Arc`.
pub struct Wal {
    shared: Arc<Shared>,
    dir: Arc<DirInner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// True while this handle holds the directory's one-log claim.
    claimed: AtomicBool,
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir.wal_path)
            .finish_non_exhaustive()
    }
}

impl Wal {
    /// Opens the log of `dir`: screens its files against the database's identity (see
    /// [`WalOptions::recovery_mode`] for what happens to one that does not belong), recovers
    /// it, calling `replay` for every record with a version above `after` in order, then
    /// starts the background threads.
    ///
    /// Records are replayed as they are read. If recovery then fails (corruption further on),
    /// the error is returned and whatever the callback built must be discarded.
    #[allow(clippy::needless_pass_by_value)] // The signature the engine is written against.
    pub fn open(
        dir: &DataDir,
        options: WalOptions,
        after: Version,
        replay: &mut dyn FnMut(CommitRecord) -> std::result::Result<(), ReplayRejected>,
    ) -> Result<(Wal, WalRecovery)> {
        if !(SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX).contains(&options.segment_bytes) {
            return Err(Error::InvalidOption {
                option: "segment_bytes",
                reason: format!(
                    "{} is outside {SEGMENT_BYTES_MIN}..={SEGMENT_BYTES_MAX}",
                    options.segment_bytes
                ),
            });
        }
        let inner = Arc::clone(dir.inner());
        if inner.read_only {
            return Err(Error::ReadOnly {
                op: "open its log for writing",
                path: inner.path.clone(),
            });
        }
        if !inner.claim_wal() {
            return Err(Error::WalAlreadyOpen {
                path: inner.path.clone(),
            });
        }
        Self::open_claimed(&inner, &options, after, replay, reader::READ_CHUNK_BYTES)
            .inspect_err(|_| inner.release_wal())
    }

    fn open_claimed(
        inner: &Arc<DirInner>,
        options: &WalOptions,
        after: Version,
        replay: &mut dyn FnMut(CommitRecord) -> std::result::Result<(), ReplayRejected>,
        chunk: usize,
    ) -> Result<(Wal, WalRecovery)> {
        let vfs = Arc::clone(&inner.vfs);
        let (recovered, quarantined) =
            generation::recover_dir(inner, after, replay, chunk, options.recovery_mode)?;
        let report = WalRecovery {
            quarantined,
            generation: recovered.stamp.generation,
            records_replayed: recovered.records_replayed,
            last_version: recovered.last_version,
            tail: recovered.tail.clone(),
            records_dropped: recovered.records_dropped,
            newest_dropped: recovered.newest_dropped,
            salvaged: recovered.salvaged.clone(),
        };
        let shared = Arc::new(Shared::new(
            vfs,
            inner.wal_path.clone(),
            options.segment_bytes,
            recovered,
            crate::sync::Clock::new(),
        ));
        let wal = Wal {
            shared,
            dir: Arc::clone(inner),
            threads: Mutex::new(Vec::new()),
            claimed: AtomicBool::new(true),
        };
        // On a spawn failure, dropping `wal` stops the thread already started.
        wal.spawn("in-mem-wal-sync", sync_thread::run_sync_thread)?;
        wal.spawn("in-mem-wal-prealloc", sync_thread::run_prealloc_thread)?;
        Ok((wal, report))
    }

    fn spawn(&self, name: &str, body: fn(&Arc<Shared>)) -> Result<()> {
        let shared = Arc::clone(&self.shared);
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || body(&shared))
            .map_err(|e| Error::io("start the log thread for", self.dir.wal_path.clone(), e))?;
        self.threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(handle);
        Ok(())
    }

    /// Appends one commit. Rotates to the next segment if the record does not fit, then calls
    /// `allocate` for the record's version (it is called only once the append cannot fail, so
    /// log order is version order) and buffers the record. Wait for it with [`Wal::wait`].
    ///
    /// # Panics
    /// If `allocate` does not return the version after the previous one (see
    /// [`Wal::last_version`]): a log with a gap could not be recovered.
    pub fn append(&self, body: &CommitBody, allocate: impl FnOnce() -> Version) -> Result<Ticket> {
        self.shared.append(body, allocate)
    }

    /// Returns once the record of `ticket` is as durable as `level` asks. A record already
    /// covered before a failure still succeeds; otherwise a poisoned log gives
    /// [`Error::Poisoned`].
    ///
    /// `Written` writes everything buffered if nobody has yet (one system call for all of it).
    /// `Synced` joins a group commit: concurrent callers share one fdatasync (see
    /// `wal/group_commit.rs` for the protocol, including its short gathering window).
    ///
    /// # Panics
    /// If `ticket` did not come from this log.
    pub fn wait(&self, ticket: Ticket, level: WaitFor) -> Result<()> {
        match level {
            WaitFor::Buffered => self.shared.wait_buffered(ticket.lsn),
            WaitFor::Written => self.shared.wait_written(ticket.lsn, ticket.version),
            WaitFor::Synced => self.shared.sync_through(ticket.lsn, true),
        }
    }

    /// Writes and fdatasyncs everything appended so far.
    pub fn flush(&self) -> Result<()> {
        self.shared.flush()
    }

    /// Registers a background sync cadence until the guard is dropped.
    pub fn add_sync_policy(&self, policy: SyncPolicy) -> SyncPolicyGuard {
        SyncPolicyGuard {
            id: self.shared.add_policy(policy),
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Flushes, stops the background threads, and refuses later appends with
    /// [`Error::Closed`]. Closing twice is harmless.
    pub fn close(&self) -> Result<()> {
        let result = if self.shared.begin_close() {
            self.shared.flush()
        } else {
            Ok(())
        };
        self.stop();
        result
    }

    /// The version of the last record appended (or recovered; or `after` if later).
    pub fn last_version(&self) -> Version {
        self.shared.last_version()
    }

    /// Every record at or below this version is durable (an fdatasync that completed before
    /// any failure covered it), so every commit at or below it is acknowledged, whatever its
    /// [`WaitFor`]: what lets one committer apply the commits its sync covered for all of
    /// them. Never goes down.
    pub fn synced_version(&self) -> Version {
        self.shared.synced_version()
    }

    /// Installs what the leader of every sync calls once its fdatasync completed, before it
    /// wakes the threads that sync covered (at most once per log; a second call is ignored).
    pub fn set_after_sync(&self, after_sync: writer::AfterSync) {
        let _ = self.shared.after_sync.set(after_sync);
    }

    /// Bytes appended to the log since it was opened (frames and segment headers): what the
    /// engine measures to decide when a checkpoint is due.
    pub fn appended_bytes(&self) -> u64 {
        self.shared.lock().marks.appended.lsn
    }

    /// Deletes the oldest segments whose records are all at or below `version` (covered by a
    /// durable checkpoint), oldest first; the segment being appended to always stays. Returns
    /// how many were deleted.
    pub fn remove_segments_below(&self, version: Version) -> Result<usize> {
        prune::remove_segments_below(&*self.shared.vfs, &self.shared.dir, version)
    }

    /// Stops the threads and gives up the directory's claim.
    fn stop(&self) {
        self.shared.request_shutdown();
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for handle in threads {
            if handle.join().is_err() {
                tracing::error!("a write-ahead log thread panicked");
            }
        }
        if self.claimed.swap(false, Ordering::AcqRel) {
            self.dir.release_wal();
        }
    }

    #[cfg(test)]
    fn open_with_chunk(
        dir: &DataDir,
        options: &WalOptions,
        after: Version,
        replay: &mut dyn FnMut(CommitRecord) -> std::result::Result<(), ReplayRejected>,
        chunk: usize,
    ) -> Result<(Wal, WalRecovery)> {
        let inner = Arc::clone(dir.inner());
        assert!(inner.claim_wal());
        Self::open_claimed(&inner, options, after, replay, chunk)
            .inspect_err(|_| inner.release_wal())
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if self.shared.begin_close()
            && let Err(e) = self.shared.flush()
        {
            tracing::warn!(error = %e, "write-ahead log dropped without a successful flush");
        }
        self.stop();
    }
}

#[cfg(test)]
mod tests;
