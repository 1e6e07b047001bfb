//! Which commit version was current at which time: samples of (time, version) that the history
//! retention turns into a sweep horizon ("keep what a view of ten minutes ago needs").
//!
//! A sample is taken at the first commit seen in each `BUCKET_MICROS` of commit time (one atomic
//! load per commit decides), so the horizon it gives keeps at most one bucket more than asked.
//! Recovery feeds the same samples from the log and the checkpoint it replays.

use std::collections::VecDeque;
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

    /// Notes a version found at recovery, whose time may be older than what was noted already.
    pub fn note_recovered(&self, at: Timestamp, version: Version) {
        let start = at.as_micros() / BUCKET_MICROS * BUCKET_MICROS;
        let mut samples = self.lock();
        let position = samples.partition_point(|(t, _)| *t < start);
        match samples.get_mut(position) {
            Some((t, v)) if *t == start => *v = (*v).min(version),
            _ => samples.insert(position, (start, version)),
        }
        self.last_bucket
            .fetch_max(start / BUCKET_MICROS, Ordering::Relaxed);
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
    fn recovered_notes_arrive_in_any_order() {
        let times = VersionTimes::default();
        let t = |ms: u64| Timestamp::from_micros(ms * 1000);
        times.note_recovered(t(2_000), Version::new(30));
        times.note_recovered(t(1_000), Version::new(12));
        times.note_recovered(t(1_010), Version::new(10));
        assert_eq!(
            times.horizon_at(t(1_005), Version::new(40)),
            Version::new(9)
        );
        assert_eq!(
            times.horizon_at(t(1_500), Version::new(40)),
            Version::new(29)
        );
    }
}
