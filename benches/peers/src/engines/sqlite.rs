//! `SQLite` (bundled, WAL mode): a `WITHOUT ROWID` table of blobs, one connection per thread
//! (`SQLite` connections are not shared between threads); durable means `synchronous=FULL`.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Pairs, Result, Store, Writes};

/// Connections opened: one per thread index, up to the largest thread count used.
const CONNECTIONS: usize = 8;

pub struct Sqlite {
    connections: Vec<Mutex<Connection>>,
}

impl Sqlite {
    pub fn open(dir: &Path, durable: bool) -> Result<Self> {
        let path = dir.join("sqlite.db");
        let sync = if durable { "FULL" } else { "OFF" };
        let mut connections = Vec::with_capacity(CONNECTIONS);
        for i in 0..CONNECTIONS {
            let conn = Connection::open(&path)?;
            conn.busy_timeout(Duration::from_secs(30))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", sync)?;
            if i == 0 {
                conn.execute_batch(
                    "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID",
                )?;
            }
            connections.push(Mutex::new(conn));
        }
        Ok(Sqlite { connections })
    }

    fn with<T>(&self, t: usize, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.connections[t % CONNECTIONS]
            .lock()
            .map_err(|_| "sqlite connection lock poisoned")?;
        f(&mut conn)
    }
}

const INSERT: &str = "INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)";
const SELECT: &str = "SELECT v FROM kv WHERE k = ?1";

impl Store for Sqlite {
    fn put(&self, t: usize, key: &[u8], value: &[u8]) -> Result<()> {
        self.with(t, |conn| {
            conn.prepare_cached(INSERT)?.execute(params![key, value])?;
            Ok(())
        })
    }

    fn put_batch(&self, t: usize, items: &[(&[u8], &[u8])]) -> Result<()> {
        self.with(t, |conn| {
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
        self.with(t, |conn| {
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
        self.with(t, |conn| {
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

    fn update(
        &self,
        t: usize,
        key: &[u8],
        f: &mut dyn FnMut(Option<&[u8]>) -> Writes,
    ) -> Result<()> {
        self.with(t, |conn| {
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
