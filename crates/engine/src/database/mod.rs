//! `Database`: the handle users hold, with the getting-started API.
//!
//! This file holds opening, durability and lifetime; `runs.rs` the run lifecycle, `kv.rs` the
//! agent's memory, `transactions.rs` transactions, `history.rs` views of the past, forks, diffs
//! and replays, `transfer.rs` dumps and restores.

mod connect;
mod history;
mod kv;
mod runs;
mod transactions;
mod transfer;

pub use runs::RunOptions;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::{AgentId, Key, Namespace, RunId, Value, Version, VersionedValue};
use in_mem_durability::{SyncPolicy, SyncPolicyGuard, WaitFor};
use in_mem_storage::StoredValue;

use crate::checkpoint::CheckpointInfo;
use crate::error::{Error, Result};
use crate::instance::{Instance, bytes_of, versioned};
use crate::open_registry;
use crate::options::{DurabilityMode, OpenOptions};
use crate::recovery::RecoveryReport;
use crate::runs::{Lifecycle, RunInfo, RunState, RunStatus};
use crate::transaction::{RetryPolicy, Transaction};
use crate::write::{PendingOp, PendingWrite};

/// A handle to an open database. Cheap to clone; `Send + Sync`; every method takes `&self`.
///
/// Opening a path that is already open in this process returns another handle to the same
/// database; each handle commits with its own durability mode. The database closes (flushing
/// everything) when its last handle is closed or dropped.
#[derive(Debug, Clone)]
pub struct Database {
    instance: Arc<Instance>,
    handle: Arc<Handle>,
}

/// What is particular to one handle: its durability mode and the log cadence it asked for.
#[derive(Debug)]
struct Handle {
    mode: DurabilityMode,
    wait: WaitFor,
    _policy: Option<SyncPolicyGuard>,
}

impl Database {
    /// Opens the database at `path`, creating it if missing and recovering it after a crash,
    /// in the default mode (`Batched { interval_ms: 100, max_commits: 1000 }`).
    pub fn open(path: impl AsRef<Path>) -> Result<Database> {
        Self::open_with_options(path, OpenOptions::new())
    }

    /// Opens the database at `path` with the given durability mode.
    pub fn open_with_mode(path: impl AsRef<Path>, mode: DurabilityMode) -> Result<Database> {
        Self::open_with_options(path, OpenOptions::new().mode(mode))
    }

    /// Opens the database at `path` with every option spelled out.
    // Taken by value so that a builder chain reads naturally at the call site.
    #[allow(clippy::needless_pass_by_value)]
    pub fn open_with_options(path: impl AsRef<Path>, options: OpenOptions) -> Result<Database> {
        let (wait, policy) = match options.mode {
            DurabilityMode::Strict => (WaitFor::Synced, None),
            DurabilityMode::Batched {
                interval_ms,
                max_commits,
            } => {
                check_positive("Batched interval_ms", interval_ms)?;
                check_positive("Batched max_commits", max_commits)?;
                let policy = SyncPolicy {
                    interval: Duration::from_millis(interval_ms),
                    max_commits: Some(max_commits),
                };
                (WaitFor::Written, Some(policy))
            }
            DurabilityMode::Async { interval_ms } => {
                check_positive("Async interval_ms", interval_ms)?;
                let policy = SyncPolicy {
                    interval: Duration::from_millis(interval_ms),
                    max_commits: None,
                };
                (WaitFor::Buffered, Some(policy))
            }
        };
        if options.segment_bytes < 4096 {
            return Err(Error::InvalidOptions {
                reason: format!(
                    "segment_bytes is {}, below the minimum of 4096",
                    options.segment_bytes
                ),
            });
        }
        let path = path.as_ref();
        let instance = open_registry::open(path, |registration| {
            Instance::open(path, registration, &options)
        })?;
        let policy = policy.and_then(|p| instance.add_sync_policy(p));
        Ok(Database {
            instance,
            handle: Arc::new(Handle {
                mode: options.mode,
                wait,
                _policy: policy,
            }),
        })
    }

    /// Opens the database at `path` for reading only, beside the process that writes it (or
    /// with nobody writing it): no lock is taken, so a writer opening later is not disturbed,
    /// and nothing in the directory is written, created, removed or cut, whatever it holds.
    ///
    /// The handle sees a consistent prefix of the database: the newest checkpoint plus the
    /// log up to its last complete record (`RecoveryReport::unread_tail` says where it stopped
    /// if bytes that are not yet a record follow). Runs whose record says active stay active
    /// (their writer may be running them). [`Database::refresh`] reads on as the writer
    /// appends. Every change through the handle (a write, a run's beginning or end, a
    /// checkpoint) fails with [`Error::ReadOnly`].
    ///
    /// Read-only handles are not shared: each call loads the database anew, even where this
    /// process has it open for writing.
    ///
    /// ```
    /// # fn main() -> in_mem_engine::Result<()> {
    /// use in_mem_engine::{Database, Error};
    /// let dir = tempfile::tempdir().unwrap();
    /// let writer = Database::open(dir.path())?;
    /// let run = writer.begin_run();
    /// writer.put(run, b"k", b"1")?;
    ///
    /// let reader = Database::open_read_only(dir.path())?;
    /// assert_eq!(reader.get(run, b"k")?, Some(b"1".to_vec()));
    /// assert!(matches!(reader.put(run, b"k", b"2"), Err(Error::ReadOnly { .. })));
    ///
    /// writer.put(run, b"k", b"3")?;
    /// reader.refresh()?;
    /// assert_eq!(reader.get(run, b"k")?, Some(b"3".to_vec()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Database> {
        Self::open_read_only_with_options(path, OpenOptions::new())
    }

    /// [`Database::open_read_only`] with options: its file system, clock and history
    /// retention apply; durability and checkpoint options do not (a reader writes nothing).
    #[allow(clippy::needless_pass_by_value)] // As `open_with_options`.
    pub fn open_read_only_with_options(
        path: impl AsRef<Path>,
        options: OpenOptions,
    ) -> Result<Database> {
        let instance = Instance::open_read_only(path.as_ref(), &options)?;
        Ok(Database {
            instance,
            handle: Arc::new(Handle {
                mode: options.mode,
                wait: WaitFor::Buffered,
                _policy: None,
            }),
        })
    }

    /// A handle on `instance` committing in `mode`, with no log cadence of its own (a
    /// connected database: the store decides when commits are durable).
    pub(crate) fn from_instance(instance: Arc<Instance>, mode: DurabilityMode) -> Database {
        Database {
            instance,
            handle: Arc::new(Handle {
                mode,
                wait: WaitFor::Synced,
                _policy: None,
            }),
        }
    }

    /// True for a handle from [`Database::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.instance.is_read_only()
    }

    /// Reads what the writer committed since this read-only handle was opened or last
    /// refreshed, and makes it visible to the handle's reads (a handle opened for writing is
    /// always current: nothing to read). Fails with a durability error that
    /// [`Error::is_reader_behind`] recognizes if the writer removed log segments before this
    /// handle read them (it checkpointed meanwhile): open the database again.
    pub fn refresh(&self) -> Result<crate::instance::Refreshed> {
        self.instance.refresh()
    }

    /// The directory this database lives in.
    pub fn path(&self) -> &Path {
        self.instance.path()
    }

    /// This handle's durability mode.
    pub fn durability_mode(&self) -> DurabilityMode {
        self.handle.mode
    }

    /// What recovery found when the database was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        self.instance.recovery_report()
    }

    // ----- durability and lifetime ------------------------------------------------------------

    /// Makes every commit acknowledged so far durable (written and fdatasynced), in any mode.
    pub fn flush(&self) -> Result<()> {
        self.instance.flush()
    }

    /// Writes a checkpoint now: a snapshot of every version the database keeps up to the newest
    /// commit, written beside the log (temp file, fsync, rename, directory fsync) without
    /// stopping writers. Like [`Database::flush`], everything acknowledged before the call is
    /// durable when it returns, whatever the handle's mode. Recovery then starts from it; the checkpoints and log segments that
    /// the previous checkpoint made unnecessary are deleted. Background checkpoints also run
    /// once the log has grown by `OpenOptions::checkpoint_every_bytes` and by a quarter of
    /// the newest checkpoint's size.
    pub fn checkpoint(&self) -> Result<CheckpointInfo> {
        self.instance.checkpoint()
    }

    /// Reclaims expired values and versions no run can see any more, now rather than at the
    /// next background sweep. Returns what was reclaimed.
    pub fn sweep(&self) -> in_mem_storage::SweepStats {
        self.instance.sweep()
    }

    /// Counts that describe the database's memory use.
    pub fn stats(&self) -> DatabaseStats {
        let (keys, versions, visible) = self.instance.memory_counts();
        DatabaseStats {
            keys: keys as u64,
            versions: versions as u64,
            visible_version: visible.get(),
            runs: self.instance.runs().len() as u64,
        }
    }

    /// Closes this handle, making everything acknowledged durable first. When it is the last
    /// handle, the database shuts down (background threads stop, waiting for a background
    /// checkpoint in progress to finish; the directory lock is released) and any failure of the
    /// final flush is returned. (A history view or replay still alive counts as a handle.)
    pub fn close(self) -> Result<()> {
        // Not `Arc::strong_count`: the background thread holds a reference during each round,
        // and a close during a long checkpoint then only flushed, leaving the directory locked
        // until the checkpoint ended.
        if self.instance.user_references() == 1 {
            self.instance.shutdown()
        } else {
            self.flush()
        }
    }
}

/// Counts that describe a database's memory use (see [`Database::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseStats {
    /// Keys held in memory, including deleted and expired ones not yet swept.
    pub keys: u64,
    /// Versions held in memory (values and tombstones of every key); the sweeper reclaims those
    /// no run can see any more.
    pub versions: u64,
    /// The newest commit version every reader can see (on a connected database, where versions
    /// are per agent, the highest over the agents this host has cached).
    pub visible_version: u64,
    /// Runs the database knows (active, interrupted and ended).
    pub runs: u64,
}

/// The full key of `user_key` in `state`'s agent memory, in one exact-size allocation.
fn kv_key(state: &RunState, user_key: &[u8]) -> Arc<[u8]> {
    in_mem_core_types::concat_shared(&[&state.kv_prefix, user_key])
}

thread_local! {
    /// Reused buffer for the full key of a point read, so a get allocates only its answer.
    static LOOKUP_KEY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Calls `f` with `prefix + rest`, built in a per-thread buffer.
fn with_joined<T>(prefix: &[u8], rest: &[u8], f: impl FnOnce(&[u8]) -> T) -> T {
    LOOKUP_KEY.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            buf.extend_from_slice(prefix);
            buf.extend_from_slice(rest);
            f(&buf)
        }
        Err(_) => f(&[prefix, rest].concat()),
    })
}

fn check_positive(what: &str, n: u64) -> Result<()> {
    if n == 0 {
        return Err(Error::InvalidOptions {
            reason: format!("{what} must be at least 1"),
        });
    }
    Ok(())
}

/// A per-thread number that spreads the retry delays of contending threads apart.
fn retry_salt() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::thread::current().id())
}
