//! `KVStore`: the agent's memory with typed values, through serde.

use std::time::Duration;

use in_mem_core_types::{RunId, VersionedValue};
use in_mem_engine::{Database, Error, Result, RetryPolicy};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::convert::{from_stored, to_stored};

/// Typed key-value access to an agent's memory. Shares one key space with the byte API of
/// [`Database`]: a key written here reads through `Database::get_value`, and bytes written with
/// `Database::put` read here as `Vec<u8>`.
///
/// ```
/// use in_mem_engine::{Database, RetryPolicy};
/// use in_mem_primitives::KVStore;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let db = Database::open(dir.path())?;
/// let kv = KVStore::new(&db);
/// let run_id = db.begin_run();
/// kv.put(run_id, "config:max_retries", 3)?;
/// let retries: i64 = kv.get(run_id, "config:max_retries")?.unwrap();
/// assert_eq!(retries, 3);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct KVStore {
    db: Database,
}

impl KVStore {
    /// A typed view of `db` (holds its own handle, so it can outlive the borrow).
    pub fn new(db: &Database) -> Self {
        KVStore { db: db.clone() }
    }

    /// Stores `value` under `key` in `run`'s agent memory. Returns the commit version.
    pub fn put<T: Serialize>(&self, run: RunId, key: impl AsRef<[u8]>, value: T) -> Result<u64> {
        let value = to_stored(&value)?;
        self.db.put_value(run, key, &value)
    }

    /// Like [`KVStore::put`], but the value reads as absent once `ttl` has passed.
    pub fn put_with_ttl<T: Serialize>(
        &self,
        run: RunId,
        key: impl AsRef<[u8]>,
        value: T,
        ttl: Duration,
    ) -> Result<u64> {
        let value = to_stored(&value)?;
        self.db.put_value_with_ttl(run, key, &value, ttl)
    }

    /// The value under `key` in `run`'s view, as a `T`; `None` if absent. A value that cannot
    /// become a `T` is [`Error::TypeMismatch`], naming the stored and requested types.
    pub fn get<T: DeserializeOwned>(&self, run: RunId, key: impl AsRef<[u8]>) -> Result<Option<T>> {
        let key = key.as_ref();
        match self.db.get_value(run, key)? {
            None => Ok(None),
            Some(value) => from_stored(key, value).map(Some),
        }
    }

    /// The stored [`Value`](in_mem_core_types::Value) under `key`, with its version, timestamp and TTL.
    pub fn get_versioned(
        &self,
        run: RunId,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<VersionedValue>> {
        self.db.get_versioned(run, key)
    }

    /// Whether `key` holds a live value in `run`'s view.
    pub fn exists(&self, run: RunId, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref();
        self.db.transaction(run, |tx| tx.exists(key))
    }

    /// Stores `value` under `key` only if the key's current version is `expected` (`None`: only
    /// if the key does not exist). Returns the new commit version. A mismatch is
    /// [`Error::StaleVersion`] and writes nothing.
    pub fn compare_and_swap<T: Serialize>(
        &self,
        run: RunId,
        key: impl AsRef<[u8]>,
        expected: Option<u64>,
        value: T,
    ) -> Result<u64> {
        let key = key.as_ref();
        let value = to_stored(&value)?;
        let ((), version) = self
            .db
            .transaction_committed(run, RetryPolicy::default(), |tx| {
                let actual = tx.get_versioned(key)?.map(|v| v.version);
                if actual != expected {
                    return Err(Error::StaleVersion {
                        what: "key",
                        name: String::from_utf8_lossy(key).into_owned(),
                        expected,
                        actual,
                    });
                }
                tx.put_value(key, &value)?;
                Ok(())
            })?;
        // A transaction that wrote a value always has a commit version.
        Ok(version.unwrap_or_default())
    }

    /// Deletes `key`; returns whether it existed in the run's view.
    pub fn delete(&self, run: RunId, key: impl AsRef<[u8]>) -> Result<bool> {
        self.db.delete(run, key)
    }

    /// Every key under `prefix` in `run`'s view, in key order, without values.
    pub fn list_keys(&self, run: RunId, prefix: impl AsRef<[u8]>) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .db
            .list_values(run, prefix)?
            .into_iter()
            .map(|(key, _)| key)
            .collect())
    }

    /// Every (key, value, version) under `prefix` in `run`'s view, in key order.
    pub fn list_versioned(
        &self,
        run: RunId,
        prefix: impl AsRef<[u8]>,
    ) -> Result<Vec<(Vec<u8>, VersionedValue)>> {
        let prefix = prefix.as_ref();
        self.db.transaction(run, |tx| tx.list_versioned(prefix))
    }

    /// Every (key, value) under `prefix` in `run`'s view, in key order, each as a `T`.
    pub fn list<T: DeserializeOwned>(
        &self,
        run: RunId,
        prefix: impl AsRef<[u8]>,
    ) -> Result<Vec<(Vec<u8>, T)>> {
        self.db
            .list_values(run, prefix)?
            .into_iter()
            .map(|(key, value)| {
                let typed = from_stored(&key, value)?;
                Ok((key, typed))
            })
            .collect()
    }
}
