//! Background maintenance of an open database: sweeps (reclaiming versions no view can see any
//! more, and expired values) and checkpoints, on demand and when due.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use in_mem_core_types::{Key, RunId, Timestamp, TypeTag, Version};
use in_mem_storage::{SweepRules, SweepStats};

use super::Instance;
use crate::checkpoint::CheckpointInfo;
use crate::error::Result;
use crate::runs::RunRegistry;

/// What sweeps keep and take beyond the horizon.
struct Rules<'a> {
    runs: &'a RunRegistry,
    /// For each run live forks include, the versions up to which its newest writes stay.
    fork_bounds: HashMap<RunId, Vec<Version>>,
    min_versions: usize,
}

impl SweepRules for Rules<'_> {
    /// A run's own newest writes stay readable for as long as the run exists; what a fork sees
    /// of its ancestors stays for as long as the fork exists.
    fn kept_bounds(&self, writer: RunId, out: &mut Vec<Version>) {
        if self.runs.contains(writer) {
            out.push(Version::MAX);
        }
        if let Some(bounds) = self.fork_bounds.get(&writer) {
            out.extend_from_slice(bounds);
        }
    }

    fn min_versions(&self) -> usize {
        self.min_versions
    }

    /// Run records are read only at their newest version (a run's lifecycle has no history to
    /// travel back through).
    fn newest_only(&self, key: &[u8]) -> bool {
        Key::decode_type_tag(key).is_ok_and(|tag| tag == TypeTag::Run)
    }
}

impl Instance {
    /// One sweep now: reclaims versions below the oldest snapshot any run may still read at.
    pub fn sweep(&self) -> SweepStats {
        if let Some(shared) = self.shared() {
            // A connected host's memtable mixes the version spaces of many agents, which one
            // horizon cannot cover: the store collects every cached agent now instead, at the
            // horizon it computes from every host's runs (this host's cache keeps what it
            // holds; hosts filled after the collection know what they lack).
            let collected = shared.collector.collect(0);
            return SweepStats {
                versions_removed: collected.removed,
                keys_removed: 0,
            };
        }
        let now = self.clock.now();
        self.sweep_at(self.horizon(now), now)
    }

    /// A sweep if one is due (see [`SweepDue`]); what the background thread calls.
    pub fn sweep_if_due(&self) -> Option<SweepStats> {
        self.shared().is_none().then_some(())?;
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

    /// Writes a checkpoint now (after a sweep, so that nothing no view can see is written).
    pub fn checkpoint(&self) -> Result<CheckpointInfo> {
        let wal = self.wal()?;
        self.sweep();
        let history_from = || Version::new(self.swept_horizon.load(Ordering::SeqCst));
        self.checkpoints
            .write(&self.memtable, wal, self.data_dir()?, history_from)
    }

    /// A checkpoint if the log has grown by `checkpoint_every_bytes` since the last one.
    pub fn checkpoint_if_due(&self) -> Option<Result<CheckpointInfo>> {
        let wal = self.wal().ok()?;
        self.checkpoints
            .is_due(wal.appended_bytes())
            .then(|| self.checkpoint())
    }

    /// The oldest version a view may still need: the oldest snapshot runs pin, and what the
    /// history retention keeps.
    fn horizon(&self, now: Timestamp) -> Version {
        let visible = || self.memtable.versions().visible();
        let newest = visible();
        let pinned = self.runs.horizon(now, visible);
        if self.history.keep_for.is_zero() {
            // No history asked for: the samples' bucket width must not hold any back.
            return pinned.min(newest);
        }
        let kept_since = now
            .as_micros()
            .saturating_sub(u64::try_from(self.history.keep_for.as_micros()).unwrap_or(u64::MAX));
        let history = self
            .version_times
            .horizon_at(Timestamp::from_micros(kept_since), newest);
        pinned.min(history)
    }

    fn sweep_at(&self, horizon: Version, now: Timestamp) -> SweepStats {
        // Published before anything is removed, so that readers of older views notice; and
        // together with reading the forks' bounds, so that a fork registering now is either
        // counted here or refused (`RunRegistry::begin`).
        let fork_bounds = self.runs.fork_bounds_publishing(|| {
            self.swept_horizon
                .fetch_max(horizon.get(), Ordering::SeqCst);
        });
        let rules = Rules {
            runs: &self.runs,
            fork_bounds,
            min_versions: self.history.keep_min_versions,
        };
        let stats = self.memtable.sweep_with(horizon, now, &rules);
        self.sweep_due.swept(horizon, self.garbage_versions());
        stats
    }

    /// Stored versions that are not the newest of their key: overwritten values and tombstones.
    fn garbage_versions(&self) -> usize {
        self.memtable
            .version_count()
            .saturating_sub(self.memtable.key_count())
    }
}

/// Decides when a background sweep is worth walking every stored version.
///
/// A sweep can reclaim most overwritten versions only once the horizon (the oldest snapshot a
/// run still reads at) has moved past their successors, so one is due when the horizon has
/// advanced since the last sweep and at least `GARBAGE_VERSIONS_MIN` (or a quarter of the live
/// keys) versions are not the newest of their key. Some need no horizon move (superseded run
/// records, see `SweepRules::newest_only`), so a sweep is also due when that much garbage has
/// grown again since the last one, whatever the horizon. Expiry needs no horizon move either, so
/// once values with a time to live have been written, a sweep is also due every
/// `TTL_SWEEP_INTERVALS` intervals. A long-running run that pins the horizon therefore costs at
/// most one sweep per `GARBAGE_VERSIONS_MIN` new versions.
#[derive(Debug)]
pub(super) struct SweepDue {
    last_horizon: AtomicU64,
    /// Garbage versions left by the last sweep.
    last_garbage: AtomicU64,
    ttl_written: AtomicBool,
    last: Mutex<Instant>,
    ttl_period: Duration,
}

const GARBAGE_VERSIONS_MIN: usize = 4096;
const TTL_SWEEP_INTERVALS: u32 = 10;

impl SweepDue {
    pub(super) fn new(interval: Duration) -> Self {
        SweepDue {
            last_horizon: AtomicU64::new(0),
            last_garbage: AtomicU64::new(0),
            ttl_written: AtomicBool::new(false),
            last: Mutex::new(Instant::now()),
            ttl_period: interval.saturating_mul(TTL_SWEEP_INTERVALS),
        }
    }

    fn is_due(&self, horizon: Version, garbage: usize, keys: usize) -> bool {
        let threshold = GARBAGE_VERSIONS_MIN.max(keys / 4);
        let advanced = horizon.get() > self.last_horizon.load(Ordering::Relaxed);
        if advanced && garbage >= threshold {
            return true;
        }
        let grown = (garbage as u64).saturating_sub(self.last_garbage.load(Ordering::Relaxed));
        if grown >= threshold as u64 {
            return true;
        }
        let last = *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.ttl_written.load(Ordering::Relaxed) && last.elapsed() >= self.ttl_period
    }

    fn swept(&self, horizon: Version, garbage_left: usize) {
        self.last_horizon
            .fetch_max(horizon.get(), Ordering::Relaxed);
        self.last_garbage
            .store(garbage_left as u64, Ordering::Relaxed);
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }
}
