//! LMDB through heed 0.11 (the last heed whose `EnvOpenOptions::open` is a safe function): default
//! flags, so every commit is synced (fdatasync on Linux 3.6 and later). A get opens a read
//! transaction; `get_each` reuses one for many gets.

use std::ops::Bound;
use std::path::Path;

use heed::types::ByteSlice;
use heed::{Database, Env, EnvOpenOptions};

use super::{Pairs, Result, Store, Writes};

/// The memory map's size: room for the 1M-key read set many times over.
const MAP_BYTES: usize = 8 << 30;

/// heed 0.11's error holds a `Box<dyn Error>` that is not `Send`: keep its text.
// Taken by value to fit `map_err`.
#[allow(clippy::needless_pass_by_value)]
fn text(e: heed::Error) -> super::Error {
    e.to_string().into()
}

pub struct Lmdb {
    env: Env,
    db: Database<ByteSlice, ByteSlice>,
}

impl Lmdb {
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join("lmdb");
        std::fs::create_dir_all(&path)?;
        let env = EnvOpenOptions::new()
            .map_size(MAP_BYTES)
            .max_readers(126)
            .open(&path)
            .map_err(text)?;
        let db = env.create_database(None).map_err(text)?;
        Ok(Lmdb { env, db })
    }
}

impl Store for Lmdb {
    fn put(&self, _t: usize, key: &[u8], value: &[u8]) -> Result<()> {
        let mut tx = self.env.write_txn().map_err(text)?;
        self.db.put(&mut tx, key, value).map_err(text)?;
        tx.commit().map_err(text)?;
        Ok(())
    }

    fn put_batch(&self, _t: usize, items: &[(&[u8], &[u8])]) -> Result<()> {
        let mut tx = self.env.write_txn().map_err(text)?;
        for (key, value) in items {
            self.db.put(&mut tx, key, value).map_err(text)?;
        }
        tx.commit().map_err(text)?;
        Ok(())
    }

    fn get(&self, _t: usize, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let tx = self.env.read_txn().map_err(text)?;
        Ok(self.db.get(&tx, key).map_err(text)?.map(<[u8]>::to_vec))
    }

    /// One read transaction for every key.
    fn get_each(
        &self,
        _t: usize,
        keys: &[[u8; 24]],
        each: &mut dyn FnMut(usize, Option<Vec<u8>>) -> Result<()>,
    ) -> Result<()> {
        let tx = self.env.read_txn().map_err(text)?;
        for (i, key) in keys.iter().enumerate() {
            each(i, self.db.get(&tx, key).map_err(text)?.map(<[u8]>::to_vec))?;
        }
        Ok(())
    }

    fn scan(&self, _t: usize, prefix: &[u8]) -> Result<Pairs> {
        let tx = self.env.read_txn().map_err(text)?;
        let mut out = Vec::new();
        for entry in self.db.prefix_iter(&tx, prefix).map_err(text)? {
            let (k, v) = entry.map_err(text)?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn delete(&self, _t: usize, key: &[u8]) -> Result<()> {
        let mut tx = self.env.write_txn().map_err(text)?;
        self.db.delete(&mut tx, key).map_err(text)?;
        tx.commit().map_err(text)?;
        Ok(())
    }

    fn range(&self, _t: usize, start: &[u8], end: Option<&[u8]>) -> Result<Pairs> {
        let tx = self.env.read_txn().map_err(text)?;
        // LMDB refuses an empty key, even as a bound.
        let from = if start.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Included(start)
        };
        let bounds = (from, end.map_or(Bound::Unbounded, Bound::Excluded));
        let mut out = Vec::new();
        for entry in self.db.range(&tx, &bounds).map_err(text)? {
            let (k, v) = entry.map_err(text)?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// One write transaction (LMDB admits one writer at a time: nothing conflicts).
    fn read_modify_write(
        &self,
        _t: usize,
        key: &[u8],
        f: &dyn Fn(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<u64> {
        let mut tx = self.env.write_txn().map_err(text)?;
        let current = self.db.get(&tx, key).map_err(text)?.map(<[u8]>::to_vec);
        self.db
            .put(&mut tx, key, &f(current.as_deref()))
            .map_err(text)?;
        tx.commit().map_err(text)?;
        Ok(0)
    }

    fn update(
        &self,
        _t: usize,
        key: &[u8],
        f: &mut dyn FnMut(Option<&[u8]>) -> Writes,
    ) -> Result<()> {
        let mut tx = self.env.write_txn().map_err(text)?;
        let current = self.db.get(&tx, key).map_err(text)?.map(<[u8]>::to_vec);
        for (k, v) in f(current.as_deref()) {
            self.db.put(&mut tx, &k, &v).map_err(text)?;
        }
        tx.commit().map_err(text)?;
        Ok(())
    }
}
