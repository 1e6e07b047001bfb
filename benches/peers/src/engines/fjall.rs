//! fjall 3.1: one keyspace, with a 1 GiB block cache (above the read set; the default is
//! 32 MiB), in one of four modes (see [`FjallMode`]). fjall's plain insert writes its journal
//! buffer to the OS and returns: it never syncs, and fjall 3.1 has no background sync of its
//! own (its journal reaches the disk when it is rotated, at a memtable flush, or at `persist`).
//! So the two modes that stand beside in-mem's Batched and Async run a sync thread of the
//! harness's that calls `Database::persist(PersistMode::SyncData)` on in-mem's schedule.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{Pairs, Result, Store, Writes};

/// Block cache: 1 GiB, above the 1M-key read set's tables (~150 MB).
const CACHE_BYTES: u64 = 1 << 30;

/// How fjall is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FjallMode {
    /// Insert, then `persist(PersistMode::SyncData)` (an fdatasync) before returning; batches
    /// with `.durability(Some(SyncData))`. Power-safe per commit.
    Durable,
    /// The plain insert: one write(2) of the journal buffer, no sync. Survives a process kill;
    /// on power loss, what the OS had not written back is lost (unbounded in time).
    Plain,
    /// The plain insert, and a sync thread that calls `persist(SyncData)` every 100 ms, or
    /// sooner once 1,000 inserts are unsynced: in-mem's `Batched { 100, 1000 }` promise.
    SyncLikeBatched,
    /// `manual_journal_persist(true)` (inserts stay in fjall's 8 KiB journal buffer, written
    /// when it fills), and a sync thread that calls `persist(SyncData)` every 1,000 ms: in-mem's
    /// `Async { 1000 }` promise.
    ManualLikeAsync,
}

impl FjallMode {
    /// The background sync schedule: interval, and unsynced inserts that force a sync early.
    fn schedule(self) -> Option<(Duration, u64)> {
        match self {
            FjallMode::Durable | FjallMode::Plain => None,
            FjallMode::SyncLikeBatched => Some((Duration::from_millis(100), 1000)),
            FjallMode::ManualLikeAsync => Some((Duration::from_secs(1), 0)),
        }
    }
}

/// The harness's sync thread: `persist(SyncData)` every `interval`, or as soon as `max_unsynced`
/// inserts (when non-zero) have been counted since the last one.
struct Syncer {
    shared: Arc<SyncShared>,
    max_unsynced: u64,
    thread: Option<JoinHandle<()>>,
}

struct SyncShared {
    unsynced: AtomicU64,
    stop: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Syncer {
    fn start(db: Database, interval: Duration, max_unsynced: u64) -> Self {
        let shared = Arc::new(SyncShared {
            unsynced: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            let full = |s: &SyncShared| {
                s.stop.load(Ordering::Acquire)
                    || (max_unsynced > 0 && s.unsynced.load(Ordering::Acquire) >= max_unsynced)
            };
            loop {
                {
                    let Ok(guard) = s.lock.lock() else { return };
                    if !full(&s) {
                        // A poisoned lock only ends the thread; the timeout bounds every wait.
                        let _ = s.wake.wait_timeout_while(guard, interval, |()| !full(&s));
                    }
                }
                if s.stop.load(Ordering::Acquire) {
                    return;
                }
                let seen = s.unsynced.load(Ordering::Acquire);
                if seen > 0 {
                    if let Err(e) = db.persist(PersistMode::SyncData) {
                        eprintln!("fjall sync thread: {e}");
                        return;
                    }
                    s.unsynced.fetch_sub(seen, Ordering::AcqRel);
                }
            }
        });
        Syncer {
            shared,
            max_unsynced,
            thread: Some(thread),
        }
    }

    /// Counts `n` inserts; wakes the thread when they make `max_unsynced`.
    fn count(&self, n: u64) {
        let before = self.shared.unsynced.fetch_add(n, Ordering::AcqRel);
        if self.max_unsynced > 0 && before < self.max_unsynced && before + n >= self.max_unsynced {
            // Taking the lock orders this wake-up after the thread's check (no lost wake-up).
            drop(self.shared.lock.lock());
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        drop(self.shared.lock.lock());
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub struct Fjall {
    // Declared first so that it stops before the database drops.
    syncer: Option<Syncer>,
    db: Database,
    keyspace: Keyspace,
    mode: FjallMode,
    /// Held across a read-modify-write (see [`Store::read_modify_write`]).
    rmw_lock: Mutex<()>,
}

impl Fjall {
    pub fn open(dir: &Path, mode: FjallMode) -> Result<Self> {
        let manual = mode == FjallMode::ManualLikeAsync;
        let db = Database::builder(dir.join("fjall"))
            .cache_size(CACHE_BYTES)
            .manual_journal_persist(manual)
            .open()?;
        let keyspace = db.keyspace("kv", || {
            KeyspaceCreateOptions::default().manual_journal_persist(manual)
        })?;
        let syncer = mode
            .schedule()
            .map(|(interval, max)| Syncer::start(db.clone(), interval, max));
        Ok(Fjall {
            syncer,
            db,
            keyspace,
            mode,
            rmw_lock: Mutex::new(()),
        })
    }

    fn commit(&self, items: &[(&[u8], &[u8])]) -> Result<()> {
        let mut batch = self.db.batch();
        if self.mode == FjallMode::Durable {
            batch = batch.durability(Some(PersistMode::SyncData));
        }
        for (key, value) in items {
            batch.insert(&self.keyspace, *key, *value);
        }
        batch.commit()?;
        self.committed();
        Ok(())
    }

    fn committed(&self) {
        if let Some(syncer) = &self.syncer {
            syncer.count(1);
        }
    }
}

impl Store for Fjall {
    fn put(&self, _t: usize, key: &[u8], value: &[u8]) -> Result<()> {
        self.keyspace.insert(key, value)?;
        if self.mode == FjallMode::Durable {
            self.db.persist(PersistMode::SyncData)?;
        }
        self.committed();
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

    fn delete(&self, _t: usize, key: &[u8]) -> Result<()> {
        self.keyspace.remove(key)?;
        if self.mode == FjallMode::Durable {
            self.db.persist(PersistMode::SyncData)?;
        }
        self.committed();
        Ok(())
    }

    fn range(&self, _t: usize, start: &[u8], end: Option<&[u8]>) -> Result<Pairs> {
        let mut out = Vec::new();
        let mut push = |guard: fjall::Guard| -> Result<()> {
            let (k, v) = guard.into_inner()?;
            out.push((k.to_vec(), v.to_vec()));
            Ok(())
        };
        match end {
            Some(end) => self.keyspace.range(start..end).try_for_each(&mut push)?,
            None => self.keyspace.range(start..).try_for_each(&mut push)?,
        }
        Ok(out)
    }

    /// fjall's plain database has no read-write transaction: the read and the write happen
    /// under a lock of the harness's, one writer at a time, as fjall's own
    /// `SingleWriterTxDatabase` does with its write lock (nothing conflicts).
    fn read_modify_write(
        &self,
        _t: usize,
        key: &[u8],
        f: &dyn Fn(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<u64> {
        let _one_writer = self
            .rmw_lock
            .lock()
            .map_err(|_| "fjall rmw lock poisoned")?;
        let current = self.keyspace.get(key)?;
        let value = f(current.as_deref());
        self.commit(&[(key, value.as_slice())])?;
        Ok(0)
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
