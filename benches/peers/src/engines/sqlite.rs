//! `SQLite` (bundled, WAL mode): a `WITHOUT ROWID` table of blobs. Every write goes through one
//! shared write connection (behind a mutex, as an application that writes from several threads
//! would hold it: `SQLite` admits one writer at a time, and writers on separate connections wait
//! for each other in the busy handler, which sleeps); each reading thread has a connection of
//! its own. Durable means `synchronous=FULL` (the WAL synced at every commit), with the page
//! cache of every reading connection sized above the read set.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Pairs, Result, Store, Writes};

/// Reading connections: one per thread index, up to the largest reader thread count used.
const READERS: usize = 8;

/// Page cache of each reading connection, in KiB (`PRAGMA cache_size` takes a negative number
/// as KiB): 1 GiB, above the read set's ~200 MB database file. The write connection keeps
/// `SQLite`'s default (2 MiB): with 1 GiB it took 3.4x as long for 800,000 random no-sync
/// inserts (17k/s against 59k/s, `--profile put-random-batched --engine sqlite`).
const READ_CACHE_KIB: i64 = 1 << 20;

/// How the bundled `SQLite` syncs, from the build's `LIBSQLITE3_FLAGS` (set in the repository's
/// `.cargo/config.toml`): `SQLite` calls fdatasync only when built with `HAVE_FDATASYNC`, and
/// fsync otherwise.
pub const SYNC_CALL: &str = match option_env!("LIBSQLITE3_FLAGS") {
    Some(flags) if const_contains(flags.as_bytes(), b"HAVE_FDATASYNC") => "fdatasync",
    _ => "fsync",
};

/// Whether `needle` occurs in `hay` (a `const fn`, for [`SYNC_CALL`]).
const fn const_contains(hay: &[u8], needle: &[u8]) -> bool {
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        let mut j = 0;
        while j < needle.len() && hay[i + j] == needle[j] {
            j += 1;
        }
        if j == needle.len() {
            return true;
        }
        i += 1;
    }
    false
}

pub struct Sqlite {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
}

fn connect(path: &Path, sync: &str, cache_kib: Option<i64>) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", sync)?;
    if let Some(kib) = cache_kib {
        conn.pragma_update(None, "cache_size", -kib)?;
    }
    Ok(conn)
}

impl Sqlite {
    pub fn open(dir: &Path, durable: bool) -> Result<Self> {
        let path = dir.join("sqlite.db");
        let sync = if durable { "FULL" } else { "OFF" };
        let writer = connect(&path, sync, None)?;
        writer.execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID",
        )?;
        let readers = (0..READERS)
            .map(|_| connect(&path, sync, Some(READ_CACHE_KIB)).map(Mutex::new))
            .collect::<Result<Vec<_>>>()?;
        Ok(Sqlite {
            writer: Mutex::new(writer),
            readers,
        })
    }

    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| "sqlite write connection lock poisoned")?;
        f(&mut conn)
    }

    fn read<T>(&self, t: usize, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.readers[t % READERS]
            .lock()
            .map_err(|_| "sqlite connection lock poisoned")?;
        f(&mut conn)
    }
}

const INSERT: &str = "INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)";
const SELECT: &str = "SELECT v FROM kv WHERE k = ?1";

impl Store for Sqlite {
    fn put(&self, _t: usize, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(|conn| {
            conn.prepare_cached(INSERT)?.execute(params![key, value])?;
            Ok(())
        })
    }

    fn put_batch(&self, _t: usize, items: &[(&[u8], &[u8])]) -> Result<()> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(INSERT)?;
                for (key, value) in items {
                    insert.execute(params![key, value])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn get(&self, t: usize, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.read(t, |conn| {
            Ok(conn
                .prepare_cached(SELECT)?
                .query_row(params![key], |row| row.get(0))
                .optional()?)
        })
    }

    fn scan(&self, t: usize, prefix: &[u8]) -> Result<Pairs> {
        let mut end = prefix.to_vec();
        // The first key after every key with this prefix (prefixes here never end in 0xff).
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        self.read(t, |conn| {
            let mut select =
                conn.prepare_cached("SELECT k, v FROM kv WHERE k >= ?1 AND k < ?2 ORDER BY k")?;
            let rows =
                select.query_map(params![prefix, end], |row| Ok((row.get(0)?, row.get(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row?);
            }
            Ok(out)
        })
    }

    fn delete(&self, _t: usize, key: &[u8]) -> Result<()> {
        self.write(|conn| {
            conn.prepare_cached("DELETE FROM kv WHERE k = ?1")?
                .execute(params![key])?;
            Ok(())
        })
    }

    fn range(&self, t: usize, start: &[u8], end: Option<&[u8]>) -> Result<Pairs> {
        self.read(t, |conn| {
            let mut out = Vec::new();
            let mut push = |row: &rusqlite::Row<'_>| -> rusqlite::Result<()> {
                out.push((row.get(0)?, row.get(1)?));
                Ok(())
            };
            if let Some(end) = end {
                let mut select =
                    conn.prepare_cached("SELECT k, v FROM kv WHERE k >= ?1 AND k < ?2 ORDER BY k")?;
                let mut rows = select.query(params![start, end])?;
                while let Some(row) = rows.next()? {
                    push(row)?;
                }
            } else {
                let mut select =
                    conn.prepare_cached("SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k")?;
                let mut rows = select.query(params![start])?;
                while let Some(row) = rows.next()? {
                    push(row)?;
                }
            }
            Ok(out)
        })
    }

    /// One `BEGIN IMMEDIATE` transaction on the shared write connection (one writer at a
    /// time: nothing conflicts).
    fn read_modify_write(
        &self,
        _t: usize,
        key: &[u8],
        f: &dyn Fn(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<u64> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let current: Option<Vec<u8>> = tx
                    .prepare_cached(SELECT)?
                    .query_row(params![key], |row| row.get(0))
                    .optional()?;
                tx.prepare_cached(INSERT)?
                    .execute(params![key, f(current.as_deref())])?;
            }
            tx.commit()?;
            Ok(0)
        })
    }

    fn update(
        &self,
        _t: usize,
        key: &[u8],
        f: &mut dyn FnMut(Option<&[u8]>) -> Writes,
    ) -> Result<()> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let current: Option<Vec<u8>> = tx
                    .prepare_cached(SELECT)?
                    .query_row(params![key], |row| row.get(0))
                    .optional()?;
                let mut insert = tx.prepare_cached(INSERT)?;
                for (k, v) in f(current.as_deref()) {
                    insert.execute(params![k, v])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }
}
