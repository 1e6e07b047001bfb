//! The agent's memory through the byte API: put, get, delete, list.

use super::{
    Arc, Database, Duration, Key, PendingOp, PendingWrite, Result, RetryPolicy, RunId, StoredValue,
    Value, VersionedValue, bytes_of, kv_key, versioned, with_joined,
};
use crate::instance::{Upper, damaged};
use in_mem_storage::StoredRef;
use std::ops::{Bound, RangeBounds};

impl Database {
    /// Stores `value` (bytes) under `key` in `run`'s agent memory. Returns the commit version.
    pub fn put(&self, run: RunId, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<u64> {
        let value = Value::encode_bytes_shared(value.as_ref())?;
        self.put_encoded(run, key.as_ref(), value, None)
    }

    /// Like [`Database::put`], but the value reads as absent once `ttl` has passed.
    pub fn put_with_ttl(
        &self,
        run: RunId,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<u64> {
        let value = Value::encode_bytes_shared(value.as_ref())?;
        self.put_encoded(run, key.as_ref(), value, Some(ttl))
    }

    /// Stores a typed [`Value`] under `key` (what `KVStore` builds on).
    pub fn put_value(&self, run: RunId, key: impl AsRef<[u8]>, value: &Value) -> Result<u64> {
        self.put_encoded(run, key.as_ref(), value.encode_shared()?, None)
    }

    /// Stores a typed [`Value`] under `key` with a time to live.
    pub fn put_value_with_ttl(
        &self,
        run: RunId,
        key: impl AsRef<[u8]>,
        value: &Value,
        ttl: Duration,
    ) -> Result<u64> {
        self.put_encoded(run, key.as_ref(), value.encode_shared()?, Some(ttl))
    }

    fn put_encoded(
        &self,
        run: RunId,
        key: &[u8],
        value: Arc<[u8]>,
        ttl: Option<Duration>,
    ) -> Result<u64> {
        Key::validate_user_key(key)?;
        let version = self.instance.with_run(run, |state| {
            let _writable = state.writable()?;
            let write = PendingWrite {
                key: kv_key(state, key),
                op: PendingOp::Put { value, ttl },
            };
            self.instance.commit(state, &[write], &[], self.handle.wait)
        })?;
        if ttl.is_some() {
            self.instance.note_ttl_write();
        }
        Ok(version.get())
    }

    /// The bytes stored under `key` in `run`'s view, or `None`.
    pub fn get(&self, run: RunId, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let key = key.as_ref();
        match self.read(run, key)? {
            None => Ok(None),
            Some(stored) => bytes_of(key, &stored.value).map(|b| Some(b.to_vec())),
        }
    }

    /// The typed value under `key` in `run`'s view, with its version, timestamp and TTL.
    pub fn get_versioned(
        &self,
        run: RunId,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<VersionedValue>> {
        let key = key.as_ref();
        let Some(stored) = self.read(run, key)? else {
            return Ok(None);
        };
        versioned(key, &stored).map(Some)
    }

    /// The typed value under `key` in `run`'s view.
    pub fn get_value(&self, run: RunId, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        Ok(self.get_versioned(run, key)?.map(|v| v.value))
    }

    fn read(&self, run: RunId, key: &[u8]) -> Result<Option<StoredValue>> {
        Key::validate_user_key(key)?;
        let instance = &self.instance;
        instance.with_run(run, |state| {
            let view = instance.view_of(state);
            with_joined(&state.kv_prefix, key, |full| {
                instance.get(state, &view, full, instance.clock_now())
            })
        })
    }

    /// Deletes `key` from `run`'s agent memory. Returns whether it existed in the run's view;
    /// an absent key writes nothing to the log. Of two concurrent deletes of one key in one run,
    /// exactly one returns `true`.
    pub fn delete(&self, run: RunId, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref();
        // A write call, whether or not the key is there: an ended run refuses it either way
        // (the transaction alone would commit nothing for an absent key, and say `false`).
        self.instance.check_writable(run)?;
        self.transaction_with_retry(run, RetryPolicy::default(), |tx| tx.delete(key))
    }

    /// Every (key, bytes) pair in `run`'s view whose key starts with `prefix`, in key order.
    pub fn list(&self, run: RunId, prefix: impl AsRef<[u8]>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let prefix = prefix.as_ref();
        self.scan(run, prefix, KvEnd::Prefix(prefix), |key, stored| {
            bytes_of(key, stored.value).map(<[u8]>::to_vec)
        })
    }

    /// Every (key, bytes) pair in `run`'s view whose key is in `keys`, a range of keys
    /// (`"a".."m"`, `"a"..="m"`, `"m"..`), in key order. A range that is not a prefix (`list`
    /// is the prefix's) is read as one walk, not prefix by prefix.
    ///
    /// ```
    /// # fn main() -> Result<(), in_mem_engine::Error> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = in_mem_engine::Database::open(dir.path())?;
    /// let run = db.begin_run();
    /// for day in ["2026-12-01", "2026-12-05", "2026-12-09"] {
    ///     db.put(run, format!("log:{day}"), b"...")?;
    /// }
    /// let first_week = db.range(run, "log:2026-12-01".."log:2026-12-08")?;
    /// assert_eq!(first_week.len(), 2);
    /// assert_eq!(db.range(run, "log:2026-12-05"..)?.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn range<K: AsRef<[u8]>>(
        &self,
        run: RunId,
        keys: impl RangeBounds<K>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        // Every bound as an inclusive start and an exclusive end: the key right after `k` in
        // byte order is `k` followed by a zero byte.
        let after = |k: &K| [k.as_ref(), &[0]].concat();
        let start = match keys.start_bound() {
            Bound::Included(k) => k.as_ref().to_vec(),
            Bound::Excluded(k) => after(k),
            Bound::Unbounded => Vec::new(),
        };
        let end = match keys.end_bound() {
            Bound::Included(k) => Some(after(k)),
            Bound::Excluded(k) => Some(k.as_ref().to_vec()),
            Bound::Unbounded => None,
        };
        if end.as_ref().is_some_and(|end| *end <= start) {
            crate::transaction::check_prefix(&start)?;
            return Ok(Vec::new());
        }
        self.scan(run, &start, KvEnd::Before(end.as_deref()), |key, stored| {
            bytes_of(key, stored.value).map(<[u8]>::to_vec)
        })
    }

    /// Every (key, typed value) pair in `run`'s view whose key starts with `prefix`, in key order.
    pub fn list_values(
        &self,
        run: RunId,
        prefix: impl AsRef<[u8]>,
    ) -> Result<Vec<(Vec<u8>, Value)>> {
        let prefix = prefix.as_ref();
        self.scan(run, prefix, KvEnd::Prefix(prefix), |key, stored| {
            Value::decode(stored.value).map_err(|e| damaged(key, &e))
        })
    }

    /// The pairs of `run`'s agent memory from user key `from` on, to `to`, each value turned
    /// by `convert`.
    fn scan<T>(
        &self,
        run: RunId,
        from: &[u8],
        to: KvEnd<'_>,
        mut convert: impl FnMut(&[u8], StoredRef<'_>) -> Result<T>,
    ) -> Result<Vec<(Vec<u8>, T)>> {
        crate::transaction::check_prefix(from)?;
        if let KvEnd::Before(Some(end)) = to {
            crate::transaction::check_prefix(end)?;
        }
        let instance = &self.instance;
        instance.with_run(run, |state| {
            let view = instance.view_of(state);
            let lo = [&*state.kv_prefix, from].concat();
            let hi = match to {
                KvEnd::Prefix(prefix) => [&*state.kv_prefix, prefix].concat(),
                KvEnd::Before(Some(end)) => [&*state.kv_prefix, end].concat(),
                KvEnd::Before(None) => state.kv_prefix.to_vec(),
            };
            let upper = match to {
                KvEnd::Before(Some(_)) => Upper::Before(&hi),
                KvEnd::Prefix(_) | KvEnd::Before(None) => Upper::WithinPrefix(&hi),
            };
            let strip = state.kv_prefix.len();
            let now = instance.now();
            instance.scan_with(state, &view, &lo, upper, now, |key, stored| {
                let user_key = key.get(strip..).unwrap_or_default();
                Ok((user_key.to_vec(), convert(user_key, stored)?))
            })
        })
    }
}

/// Where a scan of agent memory ends.
#[derive(Clone, Copy)]
enum KvEnd<'k> {
    /// At the first key without this prefix.
    Prefix(&'k [u8]),
    /// Before this key (`None`: at the end of the agent's memory).
    Before(Option<&'k [u8]>),
}
