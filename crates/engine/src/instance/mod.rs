//! One open database directory: the memtable, the log, the runs and the background thread.
//! Every `Database` handle on the same path in this process shares one `Instance`.
//!
//! Its fields are private; the rest of the engine goes through the narrow interface below and
//! in the submodules: `commit.rs` (the commit pipeline), `read.rs` (the one read path, for
//! `Database` and `Transaction` alike), `lineage.rs` (records read through a fork's ancestors),
//! `maintenance.rs` (sweeps and checkpoints); for a connected database (shared mode),
//! `shared.rs` (opening on a store, beginning runs there), `shared_commit.rs` (commits through
//! the shipper), `catch_up.rs` (other hosts' commits and runs) and `eviction.rs` (the cache's
//! byte budget).

mod catch_up;
mod commit;
mod eviction;
mod group_apply;
mod lineage;
mod maintenance;
mod read;
mod runs;
mod shared;
mod shared_commit;
mod shared_dump;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use in_mem_core_types::{Key, Timestamp, TypeTag, Version};
use in_mem_durability::{DataDir, FollowStop, LogOp, SyncPolicy, SyncPolicyGuard, Wal};
use in_mem_storage::{Memtable, VersionCounter};

pub(crate) use eviction::RunRef;
pub(crate) use read::{Upper, bytes_of, damaged, versioned, view_at};
pub(crate) use runs::OnLogFailure;

use crate::background::{Next, Periodic};
use crate::checkpoint::Checkpoints;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::open_registry::Registration;
use crate::options::{HistoryRetention, OpenOptions};
use crate::recovery::{self, Log, Recovered, RecoveryReport};
use crate::runs::RunRegistry;
use crate::version_times::VersionTimes;
use group_apply::GroupApply;
use maintenance::SweepDue;

pub(crate) struct Instance {
    path: PathBuf,
    memtable: Arc<Memtable>,
    runs: RunRegistry,
    clock: Arc<dyn Clock>,
    history: HistoryRetention,
    /// Which version was current when, for the history retention and views at a time.
    version_times: VersionTimes,
    /// The horizon of the newest sweep: views below it may have lost versions.
    swept_horizon: AtomicU64,
    /// When a background sweep is worth its cost (a sweep walks every stored version).
    sweep_due: SweepDue,
    /// `Strict` commits logged and not yet applied, for whoever their sync releases first.
    group_apply: Arc<GroupApply>,
    recovery: RecoveryReport,
    checkpoints: Checkpoints,
    /// The sweeps and background checkpoints; stopped before anything below goes.
    background: Mutex<Option<Periodic>>,
    /// References the background thread holds now (one during each of its rounds), which
    /// [`Instance::user_references`] leaves out.
    background_holds: AtomicUsize,
    // Field order is drop order: the log flushes and stops before the directory lock goes,
    // and the registry entry goes last, once the lock is free for a new open.
    log: Log,
    /// `None` when connected to a shared store: there is no local directory.
    dir: Option<DataDir>,
    /// `None` for a read-only open: those are not shared through the registry.
    _registration: Option<Registration>,
}

/// What a read-only open's refresh ([`Database::refresh`](crate::Database::refresh)) read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refreshed {
    /// Commits read and applied by this refresh.
    pub commits: u64,
    /// The newest commit version now visible.
    pub last_version: u64,
    /// Where reading the log stopped before bytes that are not (yet) a complete record; `None`
    /// at the clean end of the log.
    pub unread_tail: Option<FollowStop>,
}

impl Instance {
    /// Opens the directory: takes its lock, recovers, starts the background thread.
    pub fn open(
        path: &Path,
        registration: Registration,
        options: &OpenOptions,
    ) -> Result<Arc<Self>> {
        let dir = DataDir::open(Arc::clone(&options.vfs), path)?;
        let recovered = recovery::recover(&dir, path, options)?;
        let instance = Self::assemble(path, Some(dir), recovered, Some(registration), options);
        let weak = Arc::downgrade(&instance);
        if let Log::Writer(wal) = &instance.log {
            let group_apply = Arc::clone(&instance.group_apply);
            wal.set_after_sync(Box::new(move |synced| group_apply.apply_synced(synced)));
        }
        let periodic = Periodic::start("in-mem-sweeper", options.sweep_interval, move || {
            background_round(&weak)
        })
        .map_err(|source| in_mem_durability::Error::Io {
            op: "start the background thread for",
            path: path.to_path_buf(),
            source,
        })?;
        *instance
            .background
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(periodic);
        Ok(instance)
    }

    /// Opens the directory read-only beside whoever writes it: no lock, nothing written, no
    /// background work (a reader neither sweeps nor checkpoints); [`Instance::refresh`] reads
    /// what the writer appended since.
    pub fn open_read_only(path: &Path, options: &OpenOptions) -> Result<Arc<Self>> {
        let dir = DataDir::open_read_only(Arc::clone(&options.vfs), path)?;
        let recovered = recovery::recover_read_only(&dir, path, options)?;
        Ok(Self::assemble(path, Some(dir), recovered, None, options))
    }

    fn assemble(
        path: &Path,
        dir: Option<DataDir>,
        recovered: Recovered,
        registration: Option<Registration>,
        options: &OpenOptions,
    ) -> Arc<Self> {
        let Recovered {
            memtable,
            runs,
            log,
            report,
            checkpoint,
            checkpoint_bytes,
            history_from,
            version_times,
        } = recovered;
        let memtable = Arc::new(memtable);
        Arc::new(Instance {
            path: path.to_path_buf(),
            group_apply: Arc::new(GroupApply::new(Arc::clone(&memtable))),
            memtable,
            runs,
            clock: Arc::clone(&options.clock),
            history: options.history,
            version_times,
            // What the checkpoint's sweeps had reclaimed is as missing now as it was then.
            swept_horizon: AtomicU64::new(history_from.get()),
            sweep_due: SweepDue::new(options.sweep_interval),
            recovery: report,
            checkpoints: Checkpoints::new(
                checkpoint,
                checkpoint_bytes,
                options.checkpoint_every_bytes,
            ),
            background: Mutex::new(None),
            background_holds: AtomicUsize::new(0),
            log,
            dir,
            _registration: registration,
        })
    }

    /// The log, for a change; [`Error::ReadOnly`] for a read-only open.
    pub(crate) fn wal(&self) -> Result<&Wal> {
        match &self.log {
            Log::Writer(wal) => Ok(wal),
            Log::Reader(_) => Err(Error::ReadOnly {
                path: self.path.clone(),
            }),
            Log::Shared(_) => Err(Error::SharedModeUnsupported {
                operation: "an operation on the local log (a checkpoint)",
            }),
        }
    }

    /// True for a read-only open.
    pub fn is_read_only(&self) -> bool {
        matches!(self.log, Log::Reader(_))
    }

    /// A read-only open reads what the writer appended to the log since the last read and
    /// applies it, as recovery replays a log; a writer's instance has nothing to read.
    pub fn refresh(&self) -> Result<Refreshed> {
        if let Log::Shared(shared) = &self.log {
            return self.refresh_shared(shared);
        }
        let Log::Reader(follower) = &self.log else {
            return Ok(Refreshed {
                commits: 0,
                last_version: self.memtable.versions().visible().get(),
                unread_tail: None,
            });
        };
        let mut follower = follower.lock().unwrap_or_else(PoisonError::into_inner);
        let mut touched = Vec::new();
        let found = follower.read_new(&mut |record| {
            for write in &record.writes {
                let rejected = |e| in_mem_durability::ReplayRejected::new("refreshed key", e);
                if write.op == LogOp::DeletePrefix {
                    touched.push(Key::decode_namespace(&write.key).map_err(rejected)?.run());
                } else if Key::decode_type_tag(&write.key).is_ok_and(|t| t == TypeTag::Run) {
                    touched.push(Key::decode_owner(&write.key).map_err(rejected)?.1);
                }
            }
            recovery::apply_record(
                &self.memtable,
                &self.runs,
                &|at, version| self.version_times.note(at, version),
                record,
            )
        })?;
        touched.sort_unstable();
        touched.dedup();
        for run in touched {
            self.runs.refreshed(run, &|key| self.read_newest(key))?;
        }
        Ok(Refreshed {
            commits: found.records_replayed,
            last_version: self.memtable.versions().visible().get(),
            unread_tail: found.stop,
        })
    }

    /// The newest visible stored bytes of `key`.
    fn read_newest(&self, key: &[u8]) -> Option<Arc<[u8]>> {
        let view = in_mem_storage::ReadView::at(self.visible_for_key(key));
        self.memtable
            .get(key, &view, self.clock_now())
            .map(|stored| stored.value)
    }

    /// The directory this database lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every run of the database.
    pub fn runs(&self) -> &RunRegistry {
        &self.runs
    }

    /// The database clock's time now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The database clock, read only when a read asks it (see `in_mem_storage::Now`).
    pub fn clock_now(&self) -> ClockNow<'_> {
        ClockNow(&*self.clock)
    }

    /// The memtable, for dumps of everything it holds.
    pub(crate) fn memtable(&self) -> &Memtable {
        &self.memtable
    }

    /// The counter that orders commits and says which of them readers may see.
    pub fn versions(&self) -> &VersionCounter {
        self.memtable.versions()
    }

    /// What recovery found when the database was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Makes every commit appended so far durable (a read-only open appends nothing).
    pub fn flush(&self) -> Result<()> {
        if let Log::Writer(wal) = &self.log {
            wal.flush()?;
        }
        Ok(())
    }

    /// Registers a handle's sync cadence with the log; dropping the guard removes it. `None`
    /// for a read-only open, which has no log to sync.
    pub fn add_sync_policy(&self, policy: SyncPolicy) -> Option<SyncPolicyGuard> {
        match &self.log {
            Log::Writer(wal) => Some(wal.add_sync_policy(policy)),
            Log::Reader(_) | Log::Shared(_) => None,
        }
    }

    /// Counts that describe the memory in use: (keys, versions, visible version).
    pub fn memory_counts(&self) -> (usize, usize, Version) {
        (
            self.memtable.key_count(),
            self.memtable.version_count(),
            match &self.log {
                // Versions are per agent there: the highest every agent's readers can see.
                Log::Shared(shared) => shared
                    .agents()
                    .iter()
                    .map(|cache| cache.visible())
                    .max()
                    .unwrap_or(Version::ZERO),
                _ => self.memtable.versions().visible(),
            },
        )
    }

    /// Stops background work and closes the log, reporting any failure of the final flush.
    pub fn shutdown(&self) -> Result<()> {
        self.stop_background();
        match &self.log {
            Log::Writer(wal) => wal.close()?,
            Log::Shared(shared) => shared.stop(),
            Log::Reader(_) => {}
        }
        Ok(())
    }

    fn stop_background(&self) {
        let periodic = self
            .background
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut periodic) = periodic {
            periodic.stop();
        }
    }
}

/// One round of the background thread: a sweep if one is due, a checkpoint if the log has
/// grown enough. Stops the thread once the instance is gone.
fn background_round(instance: &Weak<Instance>) -> Next {
    let Some(instance) = instance.upgrade() else {
        return Next::Stop;
    };
    let instance = BackgroundHold::new(instance);
    instance.sweep_if_due();
    if let Some(Err(e)) = instance.checkpoint_if_due() {
        tracing::error!(error = %e, "background checkpoint failed; the log keeps growing until one succeeds");
    }
    Next::Continue
}

/// The background thread's reference during one round, counted in `background_holds` from
/// just after it is taken to just before it is given back (so the count never exceeds the
/// references the thread holds).
struct BackgroundHold(Arc<Instance>);

impl BackgroundHold {
    fn new(instance: Arc<Instance>) -> Self {
        instance
            .background_holds
            .fetch_add(1, AtomicOrdering::SeqCst);
        BackgroundHold(instance)
    }
}

impl std::ops::Deref for BackgroundHold {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        &self.0
    }
}

impl Drop for BackgroundHold {
    fn drop(&mut self) {
        self.0.background_holds.fetch_sub(1, AtomicOrdering::SeqCst);
    }
}

impl Instance {
    /// References to this instance other than the background thread's: handles, views and
    /// replays. Never fewer than there are (the background's count trails its references), so
    /// 1 means the caller's is the only one.
    pub(crate) fn user_references(self: &Arc<Self>) -> usize {
        let holds = self.background_holds.load(AtomicOrdering::SeqCst);
        Arc::strong_count(self).saturating_sub(holds)
    }
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("path", &self.path)
            .field("visible", &self.memtable.versions().visible())
            .field("recovery", &self.recovery)
            .finish_non_exhaustive()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop_background();
        // The log's own drop flushes what is buffered; the lock goes after it, then the
        // registry entry.
    }
}

/// The database clock as a [`Now`](in_mem_storage::Now): read at the moment a read asks.
#[derive(Clone, Copy)]
pub struct ClockNow<'c>(&'c dyn Clock);

impl in_mem_storage::Now for ClockNow<'_> {
    fn now(self) -> Timestamp {
        self.0.now()
    }
}
