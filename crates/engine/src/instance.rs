//! One open database directory: the memtable, the log, the runs and the sweeper. Every
//! `Database` handle on the same path in this process shares one `Instance`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use in_mem_core_types::{Timestamp, Version};
use in_mem_durability::{DataDir, Wal, WalOptions};
use in_mem_storage::{Memtable, ReadView, SweepStats};

use crate::checkpoint::{self, Checkpoints, Loaded};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::options::OpenOptions;
use crate::recovery::{RecoveryReport, replay_record};
use crate::runs::{RunRegistry, RunState};
use crate::sweeper::Sweeper;

pub(crate) struct Instance {
    /// The key of this instance in the process-wide registry of open databases.
    pub registry_key: PathBuf,
    pub path: PathBuf,
    pub memtable: Memtable,
    pub runs: RunRegistry,
    pub clock: Arc<dyn Clock>,
    pub ended_run_retention: Duration,
    /// The horizon of the newest sweep: views below it may have lost versions.
    pub swept_horizon: AtomicU64,
    /// When a background sweep is worth its cost (a sweep walks every stored version).
    sweep_due: SweepDue,
    pub recovery: RecoveryReport,
    sweeper: Mutex<Option<Sweeper>>,
    pub checkpoints: Checkpoints,
    // Field order is drop order: the log flushes and stops before the directory lock goes.
    pub wal: Wal,
    pub dir: DataDir,
}

impl Instance {
    /// Opens the directory: takes its lock, replays the log, starts the sweeper.
    pub fn open(path: &Path, registry_key: PathBuf, options: &OpenOptions) -> Result<Arc<Self>> {
        let dir = DataDir::open(Arc::clone(&options.vfs), path)?;
        // Checkpoints of another database, of an older copy or of a newer format are refused
        // (or set aside when salvaging) before the newest one is loaded; the log screens its
        // own files when it opens.
        let set_aside = in_mem_durability::checkpoint::screen(&dir, options.recovery_mode)?;
        let Loaded {
            memtable,
            runs,
            checkpoint,
            skipped,
        } = checkpoint::load_newest(&dir)?;
        let after = checkpoint.as_ref().map_or(Version::ZERO, |c| c.version);
        let mut replay = |record| replay_record(&memtable, &runs, record);
        let wal_options = WalOptions {
            segment_bytes: options.segment_bytes,
            recovery_mode: options.recovery_mode,
        };
        let (wal, found) = Wal::open(&dir, wal_options, after, &mut replay)?;
        let interrupted_runs = runs.finish_recovery();
        let last_version = memtable.versions().visible().get();
        let mut recovery = RecoveryReport::new(&found, last_version, interrupted_runs);
        recovery.checkpoint = checkpoint.as_ref().map(|c| c.version.get());
        recovery.checkpoints_skipped = skipped;
        recovery.database_id = Some(dir.database_id());
        recovery.quarantined.splice(0..0, set_aside);
        recovery.log(path);
        let instance = Arc::new(Instance {
            registry_key,
            path: path.to_path_buf(),
            memtable,
            runs,
            clock: Arc::clone(&options.clock),
            ended_run_retention: options.ended_run_retention,
            swept_horizon: AtomicU64::new(0),
            sweep_due: SweepDue::new(options.sweep_interval),
            recovery,
            checkpoints: Checkpoints::new(
                checkpoint.map(|c| c.version),
                options.checkpoint_every_bytes,
            ),
            sweeper: Mutex::new(None),
            wal,
            dir,
        });
        let sweeper = Sweeper::start(Arc::downgrade(&instance), options.sweep_interval).map_err(
            |source| in_mem_durability::Error::Io {
                op: "start the sweeper thread for",
                path: path.to_path_buf(),
                source,
            },
        )?;
        *instance
            .sweeper
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sweeper);
        Ok(instance)
    }

    /// The view of `run`: the agent's memory at its start snapshot plus its own writes.
    pub fn view_of(&self, run: &RunState) -> ReadView {
        ReadView {
            snapshot: run.snapshot,
            own: Some((run.id, self.memtable.versions().visible())),
        }
    }

    /// Errors if a sweep may have reclaimed versions `run`'s view needs. Called after a read,
    /// so that a sweep that started during the read is noticed (the sweeper publishes its
    /// horizon before it removes anything).
    pub fn check_view_retained(&self, run: &RunState) -> Result<()> {
        if run.snapshot.get() < self.swept_horizon.load(Ordering::SeqCst) {
            return Err(Error::RunViewReleased { run: run.id });
        }
        Ok(())
    }

    /// One sweep: reclaims versions below the oldest snapshot any run may still read at.
    pub fn sweep(&self) -> SweepStats {
        let now = self.clock.now();
        self.sweep_at(self.horizon(now), now)
    }

    /// A sweep if one is due (see [`SweepDue`]); what the background sweeper calls.
    pub fn sweep_if_due(&self) -> Option<SweepStats> {
        let now = self.clock.now();
        let horizon = self.horizon(now);
        let due =
            self.sweep_due
                .is_due(horizon, self.garbage_versions(), self.memtable.key_count());
        due.then(|| self.sweep_at(horizon, now))
    }

    /// Notes that a value with a time to live was written, so sweeps come to reclaim it.
    pub fn note_ttl_write(&self) {
        self.sweep_due.ttl_written.store(true, Ordering::Relaxed);
    }

    fn horizon(&self, now: Timestamp) -> Version {
        let visible = || self.memtable.versions().visible();
        self.runs
            .pins
            .horizon(now, self.ended_run_retention, visible)
    }

    fn sweep_at(&self, horizon: Version, now: Timestamp) -> SweepStats {
        // Published before anything is removed, so that readers of older views notice.
        self.swept_horizon
            .fetch_max(horizon.get(), Ordering::SeqCst);
        let stats = self.memtable.sweep(horizon, now);
        self.sweep_due.swept(horizon);
        stats
    }

    /// Stored versions that are not the newest of their key: overwritten values and tombstones.
    fn garbage_versions(&self) -> usize {
        self.memtable
            .version_count()
            .saturating_sub(self.memtable.key_count())
    }

    /// Stops background work and closes the log, reporting any failure of the final flush.
    pub fn shutdown(&self) -> Result<()> {
        self.stop_sweeper();
        self.wal.close()?;
        Ok(())
    }

    fn stop_sweeper(&self) {
        let sweeper = self
            .sweeper
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(mut sweeper) = sweeper {
            sweeper.stop();
        }
    }
}

/// Decides when a background sweep is worth walking every stored version.
///
/// A sweep can only reclaim an overwritten version once the horizon (the oldest snapshot a run
/// still reads at) has moved past its successor, so one is due when the horizon has advanced
/// since the last sweep and at least `GARBAGE_VERSIONS_MIN` (or a quarter of the live keys)
/// versions are not the newest of their key. Expiry needs no horizon move, so once values with a
/// time to live have been written, a sweep is also due every `TTL_SWEEP_INTERVALS` intervals.
/// A long-running run that pins the horizon therefore causes no futile sweeps.
#[derive(Debug)]
struct SweepDue {
    last_horizon: AtomicU64,
    ttl_written: AtomicBool,
    last: Mutex<Instant>,
    ttl_period: Duration,
}

const GARBAGE_VERSIONS_MIN: usize = 4096;
const TTL_SWEEP_INTERVALS: u32 = 10;

impl SweepDue {
    fn new(interval: Duration) -> Self {
        SweepDue {
            last_horizon: AtomicU64::new(0),
            ttl_written: AtomicBool::new(false),
            last: Mutex::new(Instant::now()),
            ttl_period: interval.saturating_mul(TTL_SWEEP_INTERVALS),
        }
    }

    fn is_due(&self, horizon: Version, garbage: usize, keys: usize) -> bool {
        let advanced = horizon.get() > self.last_horizon.load(Ordering::Relaxed);
        if advanced && garbage >= GARBAGE_VERSIONS_MIN.max(keys / 4) {
            return true;
        }
        let last = *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.ttl_written.load(Ordering::Relaxed) && last.elapsed() >= self.ttl_period
    }

    fn swept(&self, horizon: Version) {
        self.last_horizon
            .fetch_max(horizon.get(), Ordering::Relaxed);
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
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
        self.stop_sweeper();
        crate::open_registry::forget(&self.registry_key);
        // The log's own drop flushes what is buffered; the lock goes after it.
    }
}
