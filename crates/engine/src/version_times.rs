//! Which commit version was current at which time: samples of (time, version) that the history
//! retention turns into a sweep horizon ("keep what a view of ten minutes ago needs").
//!
//! A sample is taken at the first commit seen in each `BUCKET_MICROS` of commit time (one atomic
//! load per commit decides), so the horizon it gives keeps at most one bucket more than asked.
//! Recovery rebuilds them from the versions the checkpoint and the log still hold
//! ([`RecoveredTimes`]), lowered where sweeps may have taken a bucket's first versions.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use in_mem_core_types::{Timestamp, Version};

/// Width of a sample bucket, in microseconds.
const BUCKET_MICROS: u64 = 100_000;

/// The samples.
#[derive(Debug, Default)]
pub(crate) struct VersionTimes {
    /// The newest bucket sampled, so that most commits decide with one load.
    last_bucket: AtomicU64,
    /// (bucket start in microseconds, first version seen in that bucket), oldest first.
    samples: Mutex<VecDeque<(u64, Version)>>,
}

impl VersionTimes {
    /// Notes that commit `version` was made at `at`.
    pub fn note(&self, at: Timestamp, version: Version) {
        let bucket = at.as_micros() / BUCKET_MICROS;
        if bucket <= self.last_bucket.load(Ordering::Relaxed) {
            return;
        }
        let mut samples = self.lock();
        if self.last_bucket.fetch_max(bucket, Ordering::Relaxed) >= bucket {
            return;
        }
        let start = bucket * BUCKET_MICROS;
        // Keep the list sorted by time even if notes arrive out of order (recovery feeds a
        // checkpoint's versions in key order).
        let at = samples.partition_point(|(t, _)| *t < start);
        samples.insert(at, (start, version));
    }

    /// A version that was already committed at `at` (every version up to it was): a view of
    /// the database as it was at `at` sees nothing older than it needs. `newest` is the newest
    /// visible version, read before this call (commits note their sample before they become
    /// visible, so every version up to `newest` has been noted). Forgets samples no later
    /// call needs (`at` only grows).
    pub fn horizon_at(&self, at: Timestamp, newest: Version) -> Version {
        let mut samples = self.lock();
        // Versions noted in buckets before the one holding `at` were committed before `at`;
        // the first version of any later bucket (or of `at`'s own) may not have been.
        let bucket_start = at.as_micros() / BUCKET_MICROS * BUCKET_MICROS;
        let position = samples.partition_point(|(t, _)| *t < bucket_start);
        samples.drain(..position);
        match samples.front() {
            Some((_, first_since)) => Version::new(first_since.get().saturating_sub(1)).min(newest),
            None => newest,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, Version)>> {
        self.samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Samples rebuilt at recovery from the versions a checkpoint and the log still hold. Sweeps
/// took some versions (superseded run records go at once), so a bucket's smallest surviving
/// version may be above the first committed in it, and a sample taken from it would let the
/// history horizon pass versions the retention keeps. [`RecoveredTimes::finish`] lowers each
/// bucket's sample to one past the largest version that survives from earlier buckets: never
/// above the true first version of the bucket (versions grow with commit time).
#[derive(Debug)]
pub(crate) struct RecoveredTimes {
    /// Buckets before this one are older than any horizon the retention will ask for: only
    /// their largest version matters.
    window_start: u64,
    state: Mutex<Recovering>,
}

#[derive(Debug, Default)]
struct Recovering {
    largest_before_window: Version,
    /// bucket -> (smallest, largest) version found in it
    buckets: BTreeMap<u64, (Version, Version)>,
}

impl RecoveredTimes {
    /// Samples for horizons asked at or after `keep_from` (now minus the retention).
    pub fn new(keep_from: Timestamp) -> Self {
        RecoveredTimes {
            window_start: (keep_from.as_micros() / BUCKET_MICROS).saturating_sub(1),
            state: Mutex::new(Recovering::default()),
        }
    }

    /// Notes a version found in the checkpoint or the log, in any order.
    pub fn note(&self, at: Timestamp, version: Version) {
        self.note_bucket(at.as_micros() / BUCKET_MICROS, version, version);
    }

    /// A note-taker for one reader of many versions: it keeps the bucket it is in and its
    /// smallest and largest version itself, and notes them here only when the bucket changes
    /// and when it is dropped (a checkpoint's entries, in key order, mostly come bucket after
    /// bucket; a lock and a tree step per entry were ~4 % of opening one).
    pub fn batch(&self) -> TimesBatch<'_> {
        TimesBatch {
            times: self,
            open: None,
        }
    }

    /// Notes that `bucket` holds versions `smallest..=largest` (among others).
    fn note_bucket(&self, bucket: u64, smallest: Version, largest: Version) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if bucket < self.window_start {
            state.largest_before_window = state.largest_before_window.max(largest);
            return;
        }
        let entry = state.buckets.entry(bucket).or_insert((smallest, largest));
        entry.0 = entry.0.min(smallest);
        entry.1 = entry.1.max(largest);
    }

    /// The samples, each lowered as the type's doc says.
    pub fn finish(self) -> VersionTimes {
        let state = self
            .state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut largest = state.largest_before_window;
        let mut samples = VecDeque::with_capacity(state.buckets.len());
        let mut last_bucket = 0;
        for (bucket, (smallest, biggest)) in state.buckets {
            let lowest_possible = Version::new(largest.get() + 1);
            samples.push_back((bucket * BUCKET_MICROS, smallest.min(lowest_possible)));
            largest = largest.max(biggest);
            last_bucket = bucket;
        }
        VersionTimes {
            last_bucket: AtomicU64::new(last_bucket),
            samples: Mutex::new(samples),
        }
    }
}

/// See [`RecoveredTimes::batch`].
pub(crate) struct TimesBatch<'t> {
    times: &'t RecoveredTimes,
    /// The bucket being noted, and its smallest and largest version so far.
    open: Option<(u64, Version, Version)>,
}

impl TimesBatch<'_> {
    /// Notes a version, as [`RecoveredTimes::note`] does.
    pub fn note(&mut self, at: Timestamp, version: Version) {
        let bucket = at.as_micros() / BUCKET_MICROS;
        match &mut self.open {
            Some((open, smallest, largest)) if *open == bucket => {
                *smallest = (*smallest).min(version);
                *largest = (*largest).max(version);
            }
            _ => {
                self.flush();
                self.open = Some((bucket, version, version));
            }
        }
    }

    fn flush(&mut self) {
        if let Some((bucket, smallest, largest)) = self.open.take() {
            self.times.note_bucket(bucket, smallest, largest);
        }
    }
}

impl Drop for TimesBatch<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_horizon_keeps_everything_from_the_bucket_of_the_time_asked() {
        let times = VersionTimes::default();
        let t = |ms: u64| Timestamp::from_micros(ms * 1000);
        let newest = Version::new(35);
        assert_eq!(
            times.horizon_at(t(10_000), newest),
            newest,
            "nothing committed since: everything was"
        );
        times.note(t(1_000), Version::new(10));
        times.note(t(1_050), Version::new(11)); // same bucket: not sampled
        times.note(t(1_250), Version::new(20));
        times.note(t(2_000), Version::new(30));
        assert_eq!(times.horizon_at(t(900), newest), Version::new(9));
        assert_eq!(times.horizon_at(t(1_260), newest), Version::new(19));
        assert_eq!(times.horizon_at(t(1_999), newest), Version::new(29));
        assert_eq!(times.horizon_at(t(5_000), newest), newest);
    }

    #[test]
    fn recovered_samples_never_pass_a_version_sweeps_took() {
        let t = |ms: u64| Timestamp::from_micros(ms * 1000);
        let recovered = RecoveredTimes::new(t(0));
        // Notes in any order; versions 1 to 9 (bucket 1000) and 13 to 29 were swept.
        recovered.note(t(2_000), Version::new(30));
        recovered.note(t(1_000), Version::new(12));
        recovered.note(t(1_010), Version::new(10));
        let times = recovered.finish();
        // Bucket 1000's first surviving version is 10, but 1 to 9 may have been committed in
        // it: nothing before the first bucket is known, so its sample is 1.
        assert_eq!(times.horizon_at(t(1_005), Version::new(40)), Version::ZERO);
        // Bucket 2000's first survivor is 30; 13 to 29 may have been committed in it.
        assert_eq!(
            times.horizon_at(t(1_500), Version::new(40)),
            Version::new(12)
        );
    }

    #[test]
    fn versions_before_the_window_only_bound_the_first_sample() {
        let t = |ms: u64| Timestamp::from_micros(ms * 1000);
        let recovered = RecoveredTimes::new(t(10_000));
        recovered.note(t(1_000), Version::new(5));
        recovered.note(t(20_000), Version::new(50));
        let times = recovered.finish();
        assert_eq!(
            times.horizon_at(t(15_000), Version::new(60)),
            Version::new(5)
        );
    }

    #[test]
    fn a_batch_notes_what_one_note_per_version_would() {
        let t = |ms: u64| Timestamp::from_micros(ms * 1000);
        // Versions in buckets that come and go and come back, some before the window.
        let notes: Vec<(Timestamp, Version)> = (1..=300u64)
            .map(|v| (t(5_000 + (v * 7919 % 23) * 60), Version::new(v)))
            .chain([(t(100), Version::new(301)), (t(6_000), Version::new(302))])
            .collect();
        let one_by_one = RecoveredTimes::new(t(5_500));
        let batched = RecoveredTimes::new(t(5_500));
        {
            let mut batch = batched.batch();
            for &(at, version) in &notes {
                one_by_one.note(at, version);
                batch.note(at, version);
            }
        }
        let (one_by_one, batched) = (one_by_one.finish(), batched.finish());
        for at in (0..8_000).step_by(25) {
            assert_eq!(
                batched.horizon_at(t(at), Version::new(400)),
                one_by_one.horizon_at(t(at), Version::new(400)),
                "horizon at {at} ms"
            );
        }
    }
}
