//! The scan rows, on the read set: 100,000 keys under one prefix, every key, and 1,000-key
//! ranges that are not a prefix. Each reports keys listed (copied out) per second.

use std::time::Instant;

use super::{BIG_SCAN_KEYS, Child, RANGE_KEYS, check_rows, seed};
use crate::bench::rate;
use crate::engines::Result;
use crate::workload::{Rng, key, scan_key};

impl Child {
    /// Scans of the keys `key(0..100_000)`: `key:` and 15 zeros is their prefix (and no other
    /// key's). The last scan's rows are checked after the timer.
    pub(super) fn scan_100k(&self) -> Result<f64> {
        let store = &*self.read_set()?.store;
        let expected = BIG_SCAN_KEYS.min(self.plan.read_keys);
        let prefix = &key(0)[..24 - 5];
        let mut last = Vec::new();
        let start = Instant::now();
        for _ in 0..self.plan.second.scans_100k {
            last = std::hint::black_box(store.scan(0, prefix)?);
        }
        let elapsed = start.elapsed();
        check_rows(&last, expected, (0..expected).map(key))?;
        Ok(rate(self.plan.second.scans_100k * expected, elapsed))
    }

    /// One pass over every key, from the first (`range` from the empty key, no end). Checked
    /// after the timer: every key in order, one value in [`CHECK_EVERY`].
    pub(super) fn iterate_all(&self) -> Result<f64> {
        let store = &*self.read_set()?.store;
        let start = Instant::now();
        let rows = std::hint::black_box(store.range(0, b"", None)?);
        let elapsed = start.elapsed();
        let n = self.plan.read_keys;
        // `key:` sorts before `scan:`.
        check_rows(
            &rows,
            n + 1000,
            (0..n).map(key).chain((0..1000).map(scan_key)),
        )?;
        Ok(rate(n + 1000, elapsed))
    }

    /// Ranges `key(s)..key(s + 1,000)` from uniformly random starts, none of them a multiple
    /// of 1,000 (so that no range is all of one prefix). Every range's length and one in 16
    /// ranges' rows are checked after the timer.
    pub(super) fn ranges(&self, round: usize) -> Result<f64> {
        let store = &*self.read_set()?.store;
        let n = self.plan.second.ranges;
        let last_start = self.plan.read_keys.saturating_sub(RANGE_KEYS).max(1);
        let mut rng = Rng::new(seed(0x4a6e, round));
        let bounds: Vec<(u64, [u8; 24], [u8; 24])> = (0..n)
            .map(|_| {
                let mut s = rng.below(last_start);
                if s.is_multiple_of(RANGE_KEYS) {
                    s += 1;
                }
                (s, key(s), key(s + RANGE_KEYS))
            })
            .collect();
        let mut kept = Vec::new();
        let start = Instant::now();
        for (i, (_, from, to)) in bounds.iter().enumerate() {
            let rows = std::hint::black_box(store.range(0, from, Some(to))?);
            if rows.len() as u64 != RANGE_KEYS {
                return Err(format!("a range listed {} keys, not {RANGE_KEYS}", rows.len()).into());
            }
            if i.is_multiple_of(16) {
                kept.push((i, rows));
            }
        }
        let elapsed = start.elapsed();
        for (i, rows) in &kept {
            let s = bounds[*i].0;
            check_rows(rows, RANGE_KEYS, (s..s + RANGE_KEYS).map(key))?;
        }
        Ok(rate(n * RANGE_KEYS, elapsed))
    }
}
