//! The engines under test behind one small trait, each opened in the mode a workload asks for.
//!
//! Every call is one independent operation in the engine's own terms: a put is one commit, a get
//! opens its own read transaction where the engine has them, a scan materializes owned
//! `(key, value)` pairs, as `in_mem::Database::list` does.

mod design;
mod fjall;
mod floor;
mod inmem;
mod lmdb;
mod redb;
mod skipmap;
mod sled;
mod sqlite;

use std::path::Path;
use std::time::Duration;

pub use fjall::FjallMode;
pub use inmem::{InMemMode, Opened, memory_child as in_mem_memory, time_open, write_log};
pub use sqlite::SYNC_CALL as SQLITE_SYNC_CALL;

/// Errors from any engine, boxed: the runner only reports them.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Owned `(key, value)` pairs.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// What the read-modify-write closure of [`Store::update`] returns: the writes of one commit.
pub type Writes = Vec<(Vec<u8>, Vec<u8>)>;

/// How each phase of the agent workload went: wall time per phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct AgentTimes {
    pub kv: Duration,
    pub events: Duration,
    pub cas: Duration,
    pub spans: Duration,
    pub read_back: Duration,
}

/// One engine, opened. `t` is the calling thread's index (`SQLite` keeps a connection per thread).
pub trait Store: Send + Sync {
    /// Stores one pair as one commit.
    fn put(&self, t: usize, key: &[u8], value: &[u8]) -> Result<()>;
    /// Stores every pair as one commit.
    fn put_batch(&self, t: usize, items: &[(&[u8], &[u8])]) -> Result<()>;
    /// The value under `key`, copied out.
    fn get(&self, t: usize, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Whether a get racing a put that overwrites its key always finds the old or the new
    /// value. The raw `SkipMap`'s overwrite removes the old entry and then inserts the new one,
    /// so a get in between finds nothing.
    fn overwrite_is_atomic(&self) -> bool {
        true
    }
    /// Gets every key of `keys` in order, as [`Store::get`] does, handing each value to `each`
    /// with its index; an engine with read transactions reuses one for all of them (one read
    /// transaction per thread). The default is one `get` each.
    fn get_each(
        &self,
        t: usize,
        keys: &[[u8; 24]],
        each: &mut dyn FnMut(usize, Option<Vec<u8>>) -> Result<()>,
    ) -> Result<()> {
        for (i, key) in keys.iter().enumerate() {
            each(i, self.get(t, key)?)?;
        }
        Ok(())
    }
    /// Every pair whose key starts with `prefix`, in key order, copied out.
    fn scan(&self, t: usize, prefix: &[u8]) -> Result<Pairs>;
    /// Reads `key`, and commits what `f` returns as one commit (in one write transaction where
    /// the engine has them).
    fn update(
        &self,
        t: usize,
        key: &[u8],
        f: &mut dyn FnMut(Option<&[u8]>) -> Writes,
    ) -> Result<()>;
    /// Deletes `key` as one commit (the second batch of `workloads2`).
    fn delete(&self, _t: usize, _key: &[u8]) -> Result<()> {
        Err("this engine has no delete here".into())
    }
    /// Every pair with `start <= key < end` (`end: None`: to the last key), in key order, copied
    /// out.
    fn range(&self, _t: usize, _start: &[u8], _end: Option<&[u8]>) -> Result<Pairs> {
        Err("this engine has no range scan here".into())
    }
    /// Replaces the value under `key` with `f(current)`, atomically: in one read-write
    /// transaction, or where the engine has none, under a lock of the harness's. Returns how
    /// many times a conflict made the engine (or the harness) run `f` again.
    fn read_modify_write(
        &self,
        _t: usize,
        _key: &[u8],
        _f: &dyn Fn(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<u64> {
        Err("this engine has no atomic read-modify-write here".into())
    }
    /// Stores one pair as one commit that reads as absent after `ttl` (in-mem only: no peer
    /// here has a time to live).
    fn put_with_ttl(&self, _t: usize, _key: &[u8], _value: &[u8], _ttl: Duration) -> Result<()> {
        Err("this engine has no time to live".into())
    }
    /// Begins and ends `n` runs, one after another (in-mem only: the peers have no runs).
    fn begin_and_end_runs(&self, _n: u64) -> Result<()> {
        Err("this engine has no runs".into())
    }
    /// Waits for background writes this store started (so they do not run during the next
    /// engine's turn); untimed.
    fn settle(&self) -> Result<()> {
        Ok(())
    }
    /// One agent run (see `agent.rs`); `run` numbers the run.
    fn agent_run(&self, run: u64) -> Result<AgentTimes> {
        crate::agent::kv_run(self, run)
    }
}

/// The engines, and the mode each is opened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    InMem(InMemMode),
    /// A preallocated, pre-written file: append ~128 B, fdatasync (the Strict floor).
    FsyncFloor,
    /// The raw `crossbeam_skiplist::SkipMap` (the in-memory floor).
    SkipMap,
    /// What in-mem's design does per put and nothing else (`design.rs`): a skiplist insert, a
    /// hash index insert and, with `log`, one write(2) per put (beside Batched; without, beside
    /// Async).
    DesignFloor {
        log: bool,
    },
    Redb {
        durable: bool,
    },
    Fjall(FjallMode),
    Sled {
        durable: bool,
    },
    Lmdb,
    Sqlite {
        durable: bool,
    },
}

impl Engine {
    /// The name in tables and plots.
    pub fn name(self) -> &'static str {
        match self {
            Engine::InMem(InMemMode::Strict) => "in-mem strict",
            Engine::InMem(InMemMode::Batched) => "in-mem batched",
            Engine::InMem(InMemMode::Async) => "in-mem async",
            Engine::FsyncFloor => "fdatasync floor",
            Engine::SkipMap => "skipmap floor",
            Engine::DesignFloor { log: true } => "design floor",
            Engine::DesignFloor { log: false } => "design floor, no log",
            Engine::Redb { .. } => "redb",
            Engine::Fjall(FjallMode::Durable | FjallMode::Plain) => "fjall",
            Engine::Fjall(FjallMode::SyncLikeBatched) => "fjall sync 100 ms",
            Engine::Fjall(FjallMode::ManualLikeAsync) => "fjall manual, sync 1 s",
            Engine::Sled { .. } => "sled",
            Engine::Lmdb => "lmdb",
            Engine::Sqlite { .. } => "sqlite",
        }
    }

    /// Whether this is in-mem (the numerator of every ratio).
    pub fn is_in_mem(self) -> bool {
        matches!(self, Engine::InMem(_))
    }

    /// Opens a fresh store in `dir` (an empty directory).
    pub fn open(self, dir: &Path) -> Result<Box<dyn Store>> {
        Ok(match self {
            Engine::InMem(mode) => Box::new(inmem::InMem::open(dir, mode)?),
            Engine::FsyncFloor => Box::new(floor::Floor::open(dir)?),
            Engine::SkipMap => Box::new(skipmap::Floor::default()),
            Engine::DesignFloor { log } => Box::new(design::DesignFloor::open(log.then_some(dir))?),
            Engine::Redb { durable } => Box::new(redb::Redb::open(dir, durable)?),
            Engine::Fjall(mode) => Box::new(fjall::Fjall::open(dir, mode)?),
            Engine::Sled { durable } => Box::new(sled::Sled::open(dir, durable)?),
            Engine::Lmdb => Box::new(lmdb::Lmdb::open(dir)?),
            Engine::Sqlite { durable } => Box::new(sqlite::Sqlite::open(dir, durable)?),
        })
    }
}

/// The peers in their most durable per-commit mode, in-mem in Strict first.
pub const DURABLE: [Engine; 6] = [
    Engine::InMem(InMemMode::Strict),
    Engine::Redb { durable: true },
    Engine::Fjall(FjallMode::Durable),
    Engine::Sled { durable: true },
    Engine::Lmdb,
    Engine::Sqlite { durable: true },
];

/// In-mem's Batched and Async modes beside each peer's write path without a sync per commit,
/// fjall twice more with in-mem's two sync schedules (like for like), and the design floor
/// with and without its write per put. LMDB is absent: its no-sync mode needs heed's `unsafe`
/// flag setter.
pub const NOSYNC: [Engine; 11] = [
    Engine::InMem(InMemMode::Batched),
    Engine::InMem(InMemMode::Async),
    Engine::SkipMap,
    Engine::DesignFloor { log: true },
    Engine::DesignFloor { log: false },
    Engine::Redb { durable: false },
    Engine::Fjall(FjallMode::Plain),
    Engine::Fjall(FjallMode::SyncLikeBatched),
    Engine::Fjall(FjallMode::ManualLikeAsync),
    Engine::Sled { durable: false },
    Engine::Sqlite { durable: false },
];

/// The read workloads' engines (all loaded with the same keys in the same order, each in a
/// child process of its own).
pub const READERS: [Engine; 7] = [
    Engine::InMem(InMemMode::Async),
    Engine::SkipMap,
    Engine::Redb { durable: true },
    Engine::Fjall(FjallMode::Durable),
    Engine::Sled { durable: true },
    Engine::Lmdb,
    Engine::Sqlite { durable: true },
];

/// The engines whose gets are also measured with one read transaction reused per thread
/// (in-mem has no read transaction: its row repeats its plain get, for the ratio).
pub const TXN_READERS: [Engine; 3] = [
    Engine::InMem(InMemMode::Async),
    Engine::Redb { durable: true },
    Engine::Lmdb,
];

/// The agent workload's engines: in-mem Batched (the default) beside each peer without a sync
/// per commit (LMDB is absent, as in [`NOSYNC`]: its only mode here syncs every commit).
pub const AGENT: [Engine; 5] = [
    Engine::InMem(InMemMode::Batched),
    Engine::Redb { durable: false },
    Engine::Fjall(FjallMode::Plain),
    Engine::Sled { durable: false },
    Engine::Sqlite { durable: false },
];

/// Peers whose durable (per-commit) mode is not power-safe, with the reason.
pub const NOT_POWER_SAFE: [(&str, &str); 1] = [(
    "sled",
    "`flush` is `sync_file_range`: no device-cache flush, no metadata",
)];

/// What each peer was opened with, for the report.
pub fn modes_doc() -> String {
    format!(
        "\
| engine | durable (per-commit) mode | power-safe per commit | without a sync per commit |
| --- | --- | --- | --- |
| in-mem | `DurabilityMode::Strict` (fdatasync, shared by concurrent committers) | yes | `Batched {{ 100 ms, 1000 }}`: write(2) per commit, fdatasync every 100 ms or 1,000 commits; `Async {{ 1000 ms }}`: buffered in the process, written and synced every second |
| redb 4.6 | `Durability::Immediate` (default; fdatasync per commit) | yes | `Durability::None` |
| fjall 3.1 | insert, then `Database::persist(PersistMode::SyncData)` (fdatasync); batches with `.durability(Some(SyncData))` | yes | plain insert: one write(2) per insert and **no sync at all** (fjall 3.1 has no background sync); like for like: `fjall sync 100 ms` (plain insert, and a harness thread calling `persist(SyncData)` every 100 ms or 1,000 inserts, as Batched) and `fjall manual, sync 1 s` (`manual_journal_persist(true)`: an 8 KiB journal buffer in the process, and `persist(SyncData)` every second, as Async) |
| sled 0.34 | insert, then `Db::flush()`: on Linux `sync_file_range(WAIT_BEFORE, WRITE, WAIT_AFTER)` | **no**: no device-cache flush, no metadata | plain insert (background flush every 500 ms) |
| LMDB (heed 0.11) | default flags (fdatasync at every commit) | yes | not measured: `MDB_NOSYNC` needs heed's `unsafe` flag setter |
| SQLite (rusqlite 0.37, bundled) | `journal_mode=WAL`, `synchronous=FULL`: the WAL synced with {sqlite_sync} at every commit; one shared write connection | yes | `journal_mode=WAL`, `synchronous=OFF` |
| fdatasync floor | append 128 B to a preallocated, pre-written file, then `fdatasync` | yes | |
| SkipMap floor | | | `SkipMap<Vec<u8>, Vec<u8>>::insert` |
| design floor | | | what every in-mem put does at the least: the key and value in one `Arc` each, a `SkipMap` insert, a `DashMap` insert, one write(2) of 160 B appended to a file (`, no log`: without the write) |

Caches: fjall's block cache 1 GiB (default 32 MiB), SQLite's page cache 1 GiB per reading
connection (default 2 MiB, kept on the write connection, where 1 GiB slowed random inserts
3.4x), redb's 1 GiB and sled's 1 GB (their defaults); LMDB reads through the OS page cache;
in-mem and the SkipMap hold everything in memory.
",
        sqlite_sync = sqlite::SYNC_CALL
    )
}
