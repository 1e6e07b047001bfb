//! sled 0.34: durable means `flush()` after each write; on Linux sled makes its log stable with
//! `sync_file_range`, which flushes neither the device's write cache nor the file's metadata, so
//! this mode is **not power-safe** (the report labels it wherever durable rates are compared).
//! No-sync leaves it to sled's background flush (every 500 ms). The cache is sled's default
//! 1 GB, above the read set.

use std::path::Path;

use super::{Pairs, Result, Store, Writes};

pub struct Sled {
    db: sled::Db,
    durable: bool,
}

impl Sled {
    pub fn open(dir: &Path, durable: bool) -> Result<Self> {
        let db = sled::Config::new().path(dir.join("sled")).open()?;
        Ok(Sled { db, durable })
    }

    fn synced(&self) -> Result<()> {
        if self.durable {
            self.db.flush()?;
        }
        Ok(())
    }
}

impl Store for Sled {
    fn put(&self, _t: usize, key: &[u8], value: &[u8]) -> Result<()> {
        self.db.insert(key, value)?;
        self.synced()
    }

    fn put_batch(&self, _t: usize, items: &[(&[u8], &[u8])]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (key, value) in items {
            batch.insert(*key, *value);
        }
        self.db.apply_batch(batch)?;
        self.synced()
    }

    fn settle(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    fn get(&self, _t: usize, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(key)?.map(|v| v.to_vec()))
    }

    fn scan(&self, _t: usize, prefix: &[u8]) -> Result<Pairs> {
        let mut out = Vec::new();
        for entry in self.db.scan_prefix(prefix) {
            let (k, v) = entry?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn delete(&self, _t: usize, key: &[u8]) -> Result<()> {
        self.db.remove(key)?;
        self.synced()
    }

    fn range(&self, _t: usize, start: &[u8], end: Option<&[u8]>) -> Result<Pairs> {
        let entries = match end {
            Some(end) => self.db.range(start..end),
            None => self.db.range(start..),
        };
        let mut out = Vec::new();
        for entry in entries {
            let (k, v) = entry?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// sled's transaction, which runs its closure again on a conflict (sled does not say how
    /// often: the count returned is 0).
    fn read_modify_write(
        &self,
        _t: usize,
        key: &[u8],
        f: &dyn Fn(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<u64> {
        let outcome: sled::transaction::TransactionResult<(), ()> = self.db.transaction(|tx| {
            let current = tx.get(key)?;
            tx.insert(key, f(current.as_deref()))?;
            Ok(())
        });
        outcome.map_err(|e| format!("sled transaction: {e:?}"))?;
        self.synced()?;
        Ok(0)
    }

    /// A read, then one atomic batch (sled's transactions retry closures; a batch is closer to
    /// what the other engines do).
    fn update(
        &self,
        _t: usize,
        key: &[u8],
        f: &mut dyn FnMut(Option<&[u8]>) -> Writes,
    ) -> Result<()> {
        let current = self.db.get(key)?;
        let mut batch = sled::Batch::default();
        for (k, v) in f(current.as_deref()) {
            batch.insert(k, v);
        }
        self.db.apply_batch(batch)?;
        self.synced()
    }
}
