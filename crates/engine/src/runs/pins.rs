//! Which snapshots are still in use, so that the sweeper never reclaims a version a run can see.
//!
//! An active or paused run pins its start snapshot for as long as it lives. An ended run pins it
//! until its retention passes, and an interrupted run (found at recovery) until its grace period
//! passes: after that its view of shared memory may be reclaimed (its own data never is), which
//! is what keeps one run nobody ends from holding back reclaim for the whole database. The
//! sweeper's horizon is the oldest pinned snapshot (or the visible version if nothing is
//! pinned). Pinning and computing the horizon happen under one mutex, together with reading the
//! visible version, so a run that begins while a sweep starts is either seen by the sweep or
//! begins at a snapshot at or above its horizon.
//!
//! Ended runs are many (100,000 of them are an ordinary day) and their pins are never released
//! early, so they are kept per bucket of expiry time rather than per run: the oldest snapshot of
//! the runs whose retention ends in that bucket. A bucket is 1/64 of the retention (at most a
//! second, at least a microsecond), so a pin outlives its retention by at most that, and there
//! are at most about 64 buckets. A deleted run's pin lasts until its retention would have ended,
//! which only delays reclaim, never hurts it.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use in_mem_core_types::{Timestamp, Version};

/// The longest expiry bucket of ended runs' pins, in microseconds.
const BUCKET_MICROS_MAX: u64 = 1_000_000;
/// Buckets per retention period.
const BUCKETS_PER_RETENTION: u64 = 64;

#[derive(Debug, Default)]
struct Inner {
    /// Snapshots of active and paused runs, with how many runs hold each.
    live: BTreeMap<Version, usize>,
    /// Ended runs: the oldest snapshot pinned until the end of each expiry bucket (1/64 of the
    /// retention, at most a second; keyed by the bucket's end, in microseconds since the epoch).
    ended: BTreeMap<u64, Version>,
    /// Interrupted runs, by (expiry, snapshot), with how many runs hold each.
    until: BTreeMap<(Timestamp, Version), usize>,
    /// The same snapshots as `until`, counted, for a quick minimum.
    until_counts: BTreeMap<Version, usize>,
}

/// The pinned snapshots of every run.
#[derive(Debug)]
pub(crate) struct Pins {
    inner: Mutex<Inner>,
    /// Width of the ended runs' expiry buckets, in microseconds.
    bucket_micros: u64,
}

impl Pins {
    /// Pins for ended runs kept for `ended_retention` (which sets the bucket width).
    pub fn new(ended_retention: std::time::Duration) -> Self {
        let retention = u64::try_from(ended_retention.as_micros()).unwrap_or(u64::MAX);
        Pins {
            inner: Mutex::default(),
            bucket_micros: (retention / BUCKETS_PER_RETENTION).clamp(1, BUCKET_MICROS_MAX),
        }
    }

    /// Pins the snapshot returned by `take_snapshot`, read under the pin lock, for a new run.
    pub fn pin_new(&self, take_snapshot: impl FnOnce() -> Version) -> Version {
        let mut inner = self.lock();
        let snapshot = take_snapshot();
        *inner.live.entry(snapshot).or_default() += 1;
        snapshot
    }

    /// Pins a live run's snapshot (a recovered paused run, a resumed one).
    pub fn pin(&self, snapshot: Version) {
        *self.lock().live.entry(snapshot).or_default() += 1;
    }

    /// Releases a live run's pin (it ended, or its beginning failed).
    pub fn unpin(&self, snapshot: Version) {
        remove_one(&mut self.lock().live, &snapshot);
    }

    /// Pins an ended run's snapshot until `expires_at` (rounded up to its bucket's end).
    pub fn pin_ended(&self, snapshot: Version, expires_at: Timestamp) {
        let bucket = expires_at
            .as_micros()
            .div_ceil(self.bucket_micros)
            .saturating_mul(self.bucket_micros);
        let mut inner = self.lock();
        let oldest = inner.ended.entry(bucket).or_insert(snapshot);
        *oldest = (*oldest).min(snapshot);
    }

    /// Pins an interrupted run's snapshot until `expires_at` (its grace).
    pub fn pin_until(&self, snapshot: Version, expires_at: Timestamp) {
        let mut inner = self.lock();
        *inner.until.entry((expires_at, snapshot)).or_default() += 1;
        *inner.until_counts.entry(snapshot).or_default() += 1;
    }

    /// Releases a pin taken with [`Pins::pin_until`] before it expires (a run resumed within its
    /// grace, or ended, or deleted). Returns whether it was still held.
    pub fn unpin_until(&self, snapshot: Version, expires_at: Timestamp) -> bool {
        let mut inner = self.lock();
        let held = remove_one(&mut inner.until, &(expires_at, snapshot));
        if held {
            remove_one(&mut inner.until_counts, &snapshot);
        }
        held
    }

    /// The oldest snapshot anyone may still read at, after dropping the pins that have expired
    /// by `now`. `visible` is the newest visible version, read under the pin lock.
    pub fn horizon(&self, now: Timestamp, visible: impl FnOnce() -> Version) -> Version {
        let mut inner = self.lock();
        let now_micros = now.as_micros();
        while let Some((&bucket, _)) = inner.ended.first_key_value() {
            if bucket > now_micros {
                break;
            }
            inner.ended.remove(&bucket);
        }
        while let Some((&(expires_at, snapshot), &count)) = inner.until.first_key_value() {
            if expires_at > now {
                break;
            }
            inner.until.remove(&(expires_at, snapshot));
            for _ in 0..count {
                remove_one(&mut inner.until_counts, &snapshot);
            }
        }
        let oldest_live = inner.live.keys().next().copied();
        let oldest_ended = inner.ended.values().min().copied();
        let oldest_until = inner.until_counts.keys().next().copied();
        let visible = visible();
        [oldest_live, oldest_ended, oldest_until]
            .into_iter()
            .flatten()
            .fold(visible, Version::min)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves the maps consistent (each update is one
        // statement), so a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Takes one count of `key` away; false if it had none.
fn remove_one<K: Ord>(counts: &mut BTreeMap<K, usize>, key: &K) -> bool {
    let Some(n) = counts.get_mut(key) else {
        return false;
    };
    *n -= 1;
    if *n == 0 {
        counts.remove(key);
    }
    true
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_zero_retention_pins_no_longer_than_a_microsecond() {
        let pins = Pins::new(Duration::ZERO);
        let v = Version::new;
        let t = Timestamp::from_micros;
        pins.pin_ended(v(3), t(1_000));
        assert_eq!(pins.horizon(t(999), || v(9)), v(3));
        assert_eq!(pins.horizon(t(1_000), || v(9)), v(9));
    }

    #[test]
    fn horizon_is_the_oldest_pin_and_timed_pins_expire() {
        let pins = Pins::new(Duration::from_secs(600));
        let v = Version::new;
        let t = Timestamp::from_micros;
        assert_eq!(pins.horizon(t(0), || v(50)), v(50), "nothing pinned");
        assert_eq!(pins.pin_new(|| v(10)), v(10));
        pins.pin(v(20));
        assert_eq!(pins.horizon(t(0), || v(50)), v(10));
        pins.unpin(v(10));
        pins.pin_until(v(10), t(1_100));
        assert_eq!(pins.horizon(t(1_050), || v(50)), v(10), "inside the grace");
        assert_eq!(pins.horizon(t(1_100), || v(50)), v(20), "grace over");
        assert!(!pins.unpin_until(v(10), t(1_100)), "already expired");
    }

    #[test]
    fn an_ended_pin_lasts_at_least_its_retention_and_at_most_a_bucket_more() {
        let pins = Pins::new(Duration::from_secs(600));
        let v = Version::new;
        let t = Timestamp::from_micros;
        pins.pin_ended(v(7), t(2_500_000));
        pins.pin_ended(v(3), t(2_100_000));
        assert_eq!(
            pins.horizon(t(2_499_999), || v(9)),
            v(3),
            "one bucket, its oldest"
        );
        assert_eq!(
            pins.horizon(t(2_999_999), || v(9)),
            v(3),
            "rounded up, never down"
        );
        assert_eq!(
            pins.horizon(t(3_000_000), || v(9)),
            v(9),
            "expired together"
        );
    }

    #[test]
    fn a_timed_pin_released_early_no_longer_holds_the_horizon() {
        let pins = Pins::new(Duration::from_secs(600));
        let v = Version::new;
        let t = Timestamp::from_micros;
        pins.pin_until(v(5), t(100));
        pins.pin_until(v(5), t(200));
        assert!(pins.unpin_until(v(5), t(100)));
        assert_eq!(pins.horizon(t(150), || v(9)), v(5), "the other pin holds");
        assert!(pins.unpin_until(v(5), t(200)));
        assert_eq!(pins.horizon(t(150), || v(9)), v(9));
    }
}
