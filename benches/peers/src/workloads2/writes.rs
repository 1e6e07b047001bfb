//! The write rows, each on a fresh store per round: 4-thread puts, puts then deletes (and a
//! scan of what they left), overwrites, TTL puts, contended read-modify-writes, runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::{
    CAS_KEYS, Child, EMPTY_SCANS, OVERWRITTEN_KEYS, THREADS, TTL, fresh, increment, seed, settled,
};
use crate::bench::{rate, timed_threads};
use crate::engines::Result;
use crate::workload::{Rng, key, shuffled, value_for};

/// The prefix every key of the write rows has.
const KEY_PREFIX: &[u8] = b"key:";

impl Child {
    /// Fresh keys in a random order, split over [`THREADS`] threads, one commit each; a sample
    /// of each thread's is read back after the timer.
    pub(super) fn write_4t(&self, round: usize) -> Result<f64> {
        let (o, opened_at) = self.open()?;
        let n = self.plan.second.writes_4t;
        let per = n / THREADS as u64;
        let all = fresh(per * THREADS as u64, seed(0x4e1, round));
        let data: Vec<_> = all.chunks(per as usize).collect();
        let o = settled(o, opened_at);
        let store = &*o.store;
        let elapsed = timed_threads(THREADS, |t| {
            for (k, v) in data[t] {
                store.put(t, k, v)?;
            }
            Ok(())
        })?;
        store.settle()?;
        for (k, v) in all.iter().step_by(all.len().div_ceil(64).max(1)) {
            if store.get(0, k)?.as_deref() != Some(v.as_slice()) {
                return Err("a put value read back different".into());
            }
        }
        Ok(rate(per * THREADS as u64, elapsed))
    }

    /// Fresh keys in a random order, one commit each; the store is kept for the deletes, with
    /// the keys in another random order.
    pub(super) fn put_fresh(&mut self, round: usize) -> Result<f64> {
        self.kept = None;
        let (o, opened_at) = self.open()?;
        let n = self.plan.second.deletes;
        let data = fresh(n, seed(0xde1, round));
        let o = settled(o, opened_at);
        let start = Instant::now();
        for (k, v) in &data {
            o.store.put(0, k, v)?;
        }
        let elapsed = start.elapsed();
        o.store.settle()?;
        for (k, v) in data.iter().step_by(data.len().div_ceil(64).max(1)) {
            if o.store.get(0, k)?.as_deref() != Some(v.as_slice()) {
                return Err("a put value read back different".into());
            }
        }
        let order = shuffled(n, seed(0xde2, round))
            .into_iter()
            .map(key)
            .collect();
        self.kept = Some((o, order));
        Ok(rate(n, elapsed))
    }

    /// Deletes every key [`Child::put_fresh`] put, one commit each; a sample must then be
    /// absent.
    pub(super) fn deletes(&self) -> Result<f64> {
        let (o, keys) = self.kept.as_ref().ok_or("deletes before their puts")?;
        let start = Instant::now();
        for k in keys {
            o.store.delete(0, k)?;
        }
        let elapsed = start.elapsed();
        o.store.settle()?;
        for k in keys.iter().step_by(keys.len().div_ceil(64).max(1)) {
            if o.store.get(0, k)?.is_some() {
                return Err("a deleted key was still there".into());
            }
        }
        Ok(rate(keys.len() as u64, elapsed))
    }

    /// Scans of the deleted keys' prefix, each of which must list nothing; then the store is
    /// dropped.
    pub(super) fn scan_deleted(&mut self) -> Result<f64> {
        let (o, _) = self.kept.take().ok_or("a scan of deletes before them")?;
        let start = Instant::now();
        for _ in 0..EMPTY_SCANS {
            if !std::hint::black_box(o.store.scan(0, KEY_PREFIX)?).is_empty() {
                return Err("a scan listed deleted keys".into());
            }
        }
        Ok(rate(EMPTY_SCANS, start.elapsed()))
    }

    /// [`OVERWRITTEN_KEYS`] keys put first (untimed, one commit), then overwritten at random,
    /// one commit each, every put with a value of its own; every key must then hold its last.
    pub(super) fn overwrites(&self, round: usize) -> Result<f64> {
        let (o, opened_at) = self.open()?;
        let first = fresh(OVERWRITTEN_KEYS, seed(0x0e1, round));
        let items: Vec<(&[u8], &[u8])> = first.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        o.store.put_batch(0, &items)?;
        let n = self.plan.second.overwrites;
        let mut rng = Rng::new(seed(0x0e2, round));
        let mut last = vec![usize::MAX; OVERWRITTEN_KEYS as usize];
        let ops: Vec<([u8; 24], [u8; 100])> = (0..n)
            .map(|i| {
                let which = rng.below(OVERWRITTEN_KEYS);
                last[which as usize] = i as usize;
                // A value of its own: seeded by a key no put uses.
                (key(which), value_for(&key(u64::MAX - i)))
            })
            .collect();
        o.store.settle()?;
        let o = settled(o, opened_at);
        let start = Instant::now();
        for (k, v) in &ops {
            o.store.put(0, k, v)?;
        }
        let elapsed = start.elapsed();
        o.store.settle()?;
        for (which, at) in last.iter().enumerate() {
            let k = key(which as u64);
            // A key no overwrite picked still holds its first value.
            let want = ops.get(*at).map_or_else(|| value_for(&k), |(_, v)| *v);
            if o.store.get(0, &k)?.as_deref() != Some(want.as_slice()) {
                return Err("an overwritten key did not hold its last value".into());
            }
        }
        Ok(rate(n, elapsed))
    }

    /// Fresh keys put with a [`TTL`] (in-mem only), one commit each. After the timer: the last
    /// key must still be there if its TTL has not passed, and once it has, a sample of the
    /// keys and a scan of their prefix must find nothing.
    pub(super) fn ttl_puts(&self, round: usize) -> Result<f64> {
        let (o, opened_at) = self.open()?;
        let n = self.plan.second.deletes;
        let data = fresh(n, seed(0x771, round));
        let o = settled(o, opened_at);
        let start = Instant::now();
        for (k, v) in &data {
            o.store.put_with_ttl(0, k, v, TTL)?;
        }
        let elapsed = start.elapsed();
        let last_put = Instant::now();
        if let Some((k, v)) = data.last() {
            let got = o.store.get(0, k)?;
            if got.is_none() && last_put.elapsed() < TTL / 2 {
                return Err("a TTL put was absent before its TTL passed".into());
            }
            if got.is_some_and(|g| g != v) {
                return Err("a TTL put read back different".into());
            }
        }
        o.store.settle()?;
        std::thread::sleep((TTL + TTL / 2).saturating_sub(last_put.elapsed()));
        for (k, _) in data.iter().step_by(data.len().div_ceil(64).max(1)) {
            if o.store.get(0, k)?.is_some() {
                return Err("a key was there after its TTL".into());
            }
        }
        if !o.store.scan(0, KEY_PREFIX)?.is_empty() {
            return Err("a scan listed keys after their TTL".into());
        }
        Ok(rate(n, elapsed))
    }

    /// [`THREADS`] threads, each incrementing an 8-byte counter under one of [`CAS_KEYS`]
    /// keys (its own random sequence, built before the timer) by an atomic read-modify-write.
    /// Every key's counter must then equal the increments aimed at it. Returns the rate of
    /// committed increments and the conflicts retried.
    pub(super) fn cas(&self, round: usize) -> Result<(f64, u64)> {
        let (o, opened_at) = self.open()?;
        let zero = 0u64.to_le_bytes();
        let keys: Vec<[u8; 24]> = (0..CAS_KEYS).map(key).collect();
        let items: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (&k[..], &zero[..])).collect();
        o.store.put_batch(0, &items)?;
        let per = self.plan.second.cas / THREADS as u64;
        let mut aimed = [0u64; CAS_KEYS as usize];
        let ops: Vec<Vec<usize>> = (0..THREADS)
            .map(|t| {
                let mut rng = Rng::new(seed(0xca5, round) ^ t as u64);
                (0..per)
                    .map(|_| {
                        let which = rng.below(CAS_KEYS) as usize;
                        aimed[which] += 1;
                        which
                    })
                    .collect()
            })
            .collect();
        o.store.settle()?;
        let o = settled(o, opened_at);
        let store = &*o.store;
        let retried = AtomicU64::new(0);
        let elapsed = timed_threads(THREADS, |t| {
            let mut mine = 0;
            for &which in &ops[t] {
                mine += store.read_modify_write(t, &keys[which], &increment)?;
            }
            retried.fetch_add(mine, Ordering::Relaxed);
            Ok(())
        })?;
        store.settle()?;
        for (k, want) in keys.iter().zip(aimed) {
            if store.get(0, k)?.as_deref() != Some(want.to_le_bytes().as_slice()) {
                return Err("a counter lost an update".into());
            }
        }
        Ok((rate(per * THREADS as u64, elapsed), retried.into_inner()))
    }

    /// Runs begun and ended one after another (in-mem only).
    pub(super) fn runs(&self) -> Result<f64> {
        let (o, opened_at) = self.open()?;
        let o = settled(o, opened_at);
        let n = self.plan.second.runs;
        let start = Instant::now();
        o.store.begin_and_end_runs(n)?;
        let elapsed = start.elapsed();
        o.store.settle()?;
        Ok(rate(n, elapsed))
    }
}
