//! redb: one table of byte keys and values; a put is one write transaction, a get one read
//! transaction (or, in `get_each`, one read transaction for many gets). The page cache is
//! redb's default 1 GiB, above the read set.

use std::path::Path;

use redb::{Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::{Pairs, Result, Store, Writes};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");

pub struct Redb {
    db: redb::Database,
    durability: Durability,
}

impl Redb {
    pub fn open(dir: &Path, durable: bool) -> Result<Self> {
        let db = redb::Database::create(dir.join("redb"))?;
        let tx = db.begin_write()?;
        tx.open_table(TABLE)?;
        tx.commit()?;
        let durability = if durable {
            Durability::Immediate
        } else {
            Durability::None
        };
        Ok(Redb { db, durability })
    }

    fn write(&self, f: impl FnOnce(&mut redb::Table<&[u8], &[u8]>) -> Result<()>) -> Result<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(self.durability)?;
        {
            let mut table = tx.open_table(TABLE)?;
            f(&mut table)?;
        }
        tx.commit()?;
        Ok(())
    }
}

impl Store for Redb {
    fn put(&self, _t: usize, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(|table| {
            table.insert(key, value)?;
            Ok(())
        })
    }

    fn put_batch(&self, _t: usize, items: &[(&[u8], &[u8])]) -> Result<()> {
        self.write(|table| {
            for (key, value) in items {
                table.insert(*key, *value)?;
            }
            Ok(())
        })
    }

    fn get(&self, _t: usize, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(TABLE)?;
        Ok(table.get(key)?.map(|v| v.value().to_vec()))
    }

    /// One read transaction and one open table for every key.
    fn get_each(
        &self,
        _t: usize,
        keys: &[[u8; 24]],
        each: &mut dyn FnMut(usize, Option<Vec<u8>>) -> Result<()>,
    ) -> Result<()> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(TABLE)?;
        for (i, key) in keys.iter().enumerate() {
            each(i, table.get(key.as_slice())?.map(|v| v.value().to_vec()))?;
        }
        Ok(())
    }

    fn scan(&self, _t: usize, prefix: &[u8]) -> Result<Pairs> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(TABLE)?;
        let mut out = Vec::new();
        for entry in table.range(prefix..)? {
            let (k, v) = entry?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn delete(&self, _t: usize, key: &[u8]) -> Result<()> {
        self.write(|table| {
            table.remove(key)?;
            Ok(())
        })
    }

    fn range(&self, _t: usize, start: &[u8], end: Option<&[u8]>) -> Result<Pairs> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(TABLE)?;
        let mut out = Vec::new();
        let entries = match end {
            Some(end) => table.range(start..end)?,
            None => table.range(start..)?,
        };
        for entry in entries {
            let (k, v) = entry?;
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// One write transaction (redb admits one writer at a time: nothing conflicts).
    fn read_modify_write(
        &self,
        _t: usize,
        key: &[u8],
        f: &dyn Fn(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<u64> {
        self.write(|table| {
            let current = table.get(key)?.map(|v| v.value().to_vec());
            table.insert(key, f(current.as_deref()).as_slice())?;
            Ok(())
        })?;
        Ok(0)
    }

    fn update(
        &self,
        _t: usize,
        key: &[u8],
        f: &mut dyn FnMut(Option<&[u8]>) -> Writes,
    ) -> Result<()> {
        self.write(|table| {
            let current = table.get(key)?.map(|v| v.value().to_vec());
            for (k, v) in f(current.as_deref()) {
                table.insert(k.as_slice(), v.as_slice())?;
            }
            Ok(())
        })
    }
}
