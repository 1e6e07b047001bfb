//! fjall: one keyspace; durable means `persist(SyncData)` after each write (batches carry the
//! same durability), no-sync a plain insert.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{Pairs, Result, Store, Writes};

pub struct Fjall {
    db: Database,
    keyspace: Keyspace,
    durable: bool,
}

impl Fjall {
    pub fn open(dir: &Path, durable: bool) -> Result<Self> {
        let db = Database::builder(dir.join("fjall")).open()?;
        let keyspace = db.keyspace("kv", KeyspaceCreateOptions::default)?;
        Ok(Fjall {
            db,
            keyspace,
            durable,
        })
    }

    fn commit(&self, items: &[(&[u8], &[u8])]) -> Result<()> {
        let mut batch = self.db.batch();
        if self.durable {
            batch = batch.durability(Some(PersistMode::SyncData));
        }
        for (key, value) in items {
            batch.insert(&self.keyspace, *key, *value);
        }
        batch.commit()?;
        Ok(())
    }
}

impl Store for Fjall {
    fn put(&self, _t: usize, key: &[u8], value: &[u8]) -> Result<()> {
        self.keyspace.insert(key, value)?;
        if self.durable {
            self.db.persist(PersistMode::SyncData)?;
        }
        Ok(())
    }

    fn put_batch(&self, _t: usize, items: &[(&[u8], &[u8])]) -> Result<()> {
        self.commit(items)
    }

    fn settle(&self) -> Result<()> {
        Ok(self.db.persist(PersistMode::SyncData)?)
    }

    fn get(&self, _t: usize, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.keyspace.get(key)?.map(|v| v.to_vec()))
    }

    fn scan(&self, _t: usize, prefix: &[u8]) -> Result<Pairs> {
        let mut out = Vec::new();
        for guard in self.keyspace.prefix(prefix) {
            let (k, v) = guard.into_inner()?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// fjall's plain database has no read-write transaction: a read, then one atomic batch.
    fn update(
        &self,
        _t: usize,
        key: &[u8],
        f: &mut dyn FnMut(Option<&[u8]>) -> Writes,
    ) -> Result<()> {
        let current = self.keyspace.get(key)?;
        let writes = f(current.as_deref());
        let items: Vec<(&[u8], &[u8])> = writes
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        self.commit(&items)
    }
}
