//! How a database is opened: durability mode, log segment size, clock, retention.

use std::sync::Arc;
use std::time::Duration;

use in_mem_durability::{RecoveryMode, StdFs, Vfs};

use crate::clock::{Clock, SystemClock};

/// When a commit returns, and so what a crash can take. See the contract table in the README.
///
/// | mode | a commit returns once its record is | process killed | machine loses power |
/// | --- | --- | --- | --- |
/// | `Strict` | covered by a completed fdatasync | nothing lost | nothing lost |
/// | `Batched` | written to the OS | nothing lost | at most the last `interval_ms` or `max_commits` commits |
/// | `Async` | in the in-process log buffer | at most the last `interval_ms` | at most the last `interval_ms` |
///
/// Whatever the mode, what survives a crash is a prefix of the commit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurabilityMode {
    /// Every commit waits for an fdatasync that covers it; concurrent commits share one.
    Strict,
    /// Every commit is written to the OS before it returns; a background fdatasync runs every
    /// `interval_ms`, or sooner once `max_commits` commits are unsynced.
    Batched { interval_ms: u64, max_commits: u64 },
    /// Commits return once buffered in the process; a background thread writes and syncs every
    /// `interval_ms`.
    Async { interval_ms: u64 },
}

impl Default for DurabilityMode {
    /// `Batched { interval_ms: 100, max_commits: 1000 }`.
    fn default() -> Self {
        DurabilityMode::Batched {
            interval_ms: 100,
            max_commits: 1000,
        }
    }
}

/// How long superseded versions stay readable: for views into the past (`run_view_at`,
/// `key_history`, `diff_run`, `replay`) and for ended runs' views of the agent's memory. A run's
/// own current data lives as long as the run, and forks keep what they read, whatever this says.
///
/// A version replaced by a newer one is kept while it is younger than `keep_for` (what a view of
/// any moment in the last `keep_for` needs is there), and the newest `keep_min_versions` versions
/// of every key that holds a value are kept whatever their age. Past that, a read that needs a
/// reclaimed version is `Error::HistoryPruned`, never a wrong answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryRetention {
    /// How long a superseded version stays. Default 10 minutes.
    pub keep_for: Duration,
    /// How many of each key's newest versions stay whatever their age. Default 1 (just the
    /// current one).
    pub keep_min_versions: usize,
}

impl Default for HistoryRetention {
    fn default() -> Self {
        HistoryRetention {
            keep_for: Duration::from_secs(600),
            keep_min_versions: 1,
        }
    }
}

/// Everything `Database::open_with_options` can be told. Start from `OpenOptions::new()`.
///
/// When a path is already open in this process, only `mode` applies to the new handle; the
/// rest was fixed by the first open.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub(crate) mode: DurabilityMode,
    pub(crate) segment_bytes: u64,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) vfs: Arc<dyn Vfs>,
    pub(crate) ended_run_retention: Duration,
    pub(crate) interrupted_run_grace: Duration,
    pub(crate) history: HistoryRetention,
    pub(crate) sweep_interval: Duration,
    pub(crate) recovery_mode: RecoveryMode,
    pub(crate) checkpoint_every_bytes: u64,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            mode: DurabilityMode::default(),
            segment_bytes: 16 << 20,
            clock: Arc::new(SystemClock),
            vfs: Arc::new(StdFs),
            ended_run_retention: Duration::from_secs(600),
            interrupted_run_grace: Duration::from_secs(600),
            history: HistoryRetention::default(),
            sweep_interval: Duration::from_secs(1),
            checkpoint_every_bytes: 64 << 20,
            recovery_mode: RecoveryMode::Refuse,
        }
    }
}

impl OpenOptions {
    /// The defaults: `Batched { 100 ms, 1000 }`, 16 MiB log segments, the system clock, the real
    /// file system, ended runs readable for 10 minutes, a sweep every second, and recovery that
    /// refuses damage a crash cannot explain.
    pub fn new() -> Self {
        Self::default()
    }

    /// The durability mode of this handle.
    #[must_use]
    pub fn mode(mut self, mode: DurabilityMode) -> Self {
        self.mode = mode;
        self
    }

    /// Size of each write-ahead-log segment file (preallocated in full).
    #[must_use]
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// The clock for commit timestamps and TTL expiry.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The file system every file access goes through.
    #[must_use]
    pub fn vfs(mut self, vfs: Arc<dyn Vfs>) -> Self {
        self.vfs = vfs;
        self
    }

    /// How long after a run ends its view of the agent's shared memory (as of its start) stays
    /// readable; until then, overwritten versions it could see are kept. Its own data (the keys
    /// it wrote, its events, state cells and spans) stays readable for as long as the run
    /// exists, whatever this says. Default 10 minutes.
    #[must_use]
    pub fn ended_run_retention(mut self, d: Duration) -> Self {
        self.ended_run_retention = d;
        self
    }

    /// How long superseded versions stay readable (see [`HistoryRetention`]).
    #[must_use]
    pub fn history(mut self, retention: HistoryRetention) -> Self {
        self.history = retention;
        self
    }

    /// How long after an open that found a run interrupted (the process stopped while it was
    /// active) its view of shared memory stays pinned, so that it can be resumed as it was.
    /// After that it no longer holds back memory reclaim for everyone: its view is treated like
    /// an ended run's: it can still be resumed or ended and its own data stays readable, but a
    /// read of shared memory its view lost is `Error::HistoryPruned`. Default 10 minutes.
    #[must_use]
    pub fn interrupted_run_grace(mut self, d: Duration) -> Self {
        self.interrupted_run_grace = d;
        self
    }

    /// Log growth (bytes appended since the last checkpoint) after which the background thread
    /// writes a checkpoint, at the least: it also waits until the log has grown by a quarter of
    /// the newest checkpoint's size, so that checkpoints of a big data set write at most about
    /// four times what the log does rather than the whole data set every few megabytes. 0 turns background
    /// checkpoints off (`Database::checkpoint` still works). Default 64 MiB.
    #[must_use]
    pub fn checkpoint_every_bytes(mut self, bytes: u64) -> Self {
        self.checkpoint_every_bytes = bytes;
        self
    }

    /// How often the background sweeper reclaims expired and overwritten versions.
    #[must_use]
    pub fn sweep_interval(mut self, d: Duration) -> Self {
        self.sweep_interval = d;
        self
    }

    /// What recovery does with damage before the end of the log that no crash can explain (a
    /// bad checksum before records that were durable, a missing segment, a version gap); the
    /// type is `in_mem_durability::RecoveryMode`.
    /// `RecoveryMode::Refuse` (the default) fails the open with an error naming file, offset and
    /// reason; `RecoveryMode::Salvage` keeps the longest valid prefix, **destroys everything
    /// after the damage** (copy the directory first if it may matter), and says what it dropped
    /// in [`RecoveryReport::salvaged`](crate::RecoveryReport::salvaged). A torn or unsynced tail
    /// is cut in both modes. Applies only when this open recovers the directory (not to another
    /// handle of a database already open in this process).
    #[must_use]
    pub fn recovery_mode(mut self, mode: RecoveryMode) -> Self {
        self.recovery_mode = mode;
        self
    }
}
