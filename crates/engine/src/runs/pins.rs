//! Which snapshots are still in use, so that the sweeper never reclaims a version a run can see.
//!
//! A run pins its start snapshot while it is active or interrupted, and for the retention window
//! after it ends. The sweeper's horizon is the oldest pinned snapshot (or the visible version if
//! nothing is pinned). Pinning and computing the horizon happen under one mutex, together with
//! reading the visible version, so a run that begins while a sweep starts is either seen by the
//! sweep or begins at a snapshot at or above its horizon.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use in_mem_core_types::{Timestamp, Version};

#[derive(Debug, Default)]
struct Inner {
    /// Snapshots of active and interrupted runs, with how many runs hold each.
    live: BTreeMap<Version, usize>,
    /// Snapshots of ended runs still inside the retention window, oldest end first.
    ended: VecDeque<(Timestamp, Version)>,
    /// The same snapshots as `ended`, counted, for a quick minimum.
    ended_counts: BTreeMap<Version, usize>,
}

/// The pinned snapshots of every run.
#[derive(Debug, Default)]
pub(crate) struct Pins {
    inner: Mutex<Inner>,
}

impl Pins {
    /// Pins the snapshot returned by `take_snapshot`, read under the pin lock.
    pub fn pin_new(&self, take_snapshot: impl FnOnce() -> Version) -> Version {
        let mut inner = self.lock();
        let snapshot = take_snapshot();
        *inner.live.entry(snapshot).or_default() += 1;
        snapshot
    }

    /// Pins an existing snapshot (a recovered or resumed run).
    pub fn pin(&self, snapshot: Version) {
        *self.lock().live.entry(snapshot).or_default() += 1;
    }

    /// Moves a run's pin from live to ended-at-`ended_at`.
    pub fn end(&self, snapshot: Version, ended_at: Timestamp) {
        let mut inner = self.lock();
        remove_one(&mut inner.live, snapshot);
        Self::push_ended(&mut inner, snapshot, ended_at);
    }

    /// Pins the snapshot of a run that ended at `ended_at` (found at recovery).
    pub fn pin_ended(&self, snapshot: Version, ended_at: Timestamp) {
        Self::push_ended(&mut self.lock(), snapshot, ended_at);
    }

    /// The oldest snapshot anyone may still read at, after dropping ended runs whose retention
    /// has passed. `visible` is the newest visible version, read under the pin lock.
    pub fn horizon(
        &self,
        now: Timestamp,
        retention: Duration,
        visible: impl FnOnce() -> Version,
    ) -> Version {
        let mut inner = self.lock();
        while let Some(&(ended_at, snapshot)) = inner.ended.front() {
            if ended_at.saturating_add(retention) > now {
                break;
            }
            inner.ended.pop_front();
            remove_one(&mut inner.ended_counts, snapshot);
        }
        let oldest_live = inner.live.keys().next().copied();
        let oldest_ended = inner.ended_counts.keys().next().copied();
        let visible = visible();
        [oldest_live, oldest_ended]
            .into_iter()
            .flatten()
            .fold(visible, Version::min)
    }

    fn push_ended(inner: &mut Inner, snapshot: Version, ended_at: Timestamp) {
        // Ends arrive in time order in practice; keep the queue sorted even if a clock jumps.
        let at = inner.ended.partition_point(|&(t, _)| t <= ended_at);
        inner.ended.insert(at, (ended_at, snapshot));
        *inner.ended_counts.entry(snapshot).or_default() += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves the maps consistent (each update is one
        // statement), so a poisoned lock is still safe to use.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn remove_one(counts: &mut BTreeMap<Version, usize>, snapshot: Version) {
    if let Some(n) = counts.get_mut(&snapshot) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&snapshot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizon_is_the_oldest_pin_and_ended_pins_expire() {
        let pins = Pins::default();
        let v = Version::new;
        let t = Timestamp::from_micros;
        let window = Duration::from_micros(100);
        assert_eq!(
            pins.horizon(t(0), window, || v(50)),
            v(50),
            "nothing pinned"
        );
        assert_eq!(pins.pin_new(|| v(10)), v(10));
        pins.pin(v(20));
        assert_eq!(pins.horizon(t(0), window, || v(50)), v(10));
        pins.end(v(10), t(1_000));
        assert_eq!(
            pins.horizon(t(1_050), window, || v(50)),
            v(10),
            "inside retention"
        );
        assert_eq!(
            pins.horizon(t(1_100), window, || v(50)),
            v(20),
            "retention over"
        );
    }
}
