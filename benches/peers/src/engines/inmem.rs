//! in-mem through its public API: byte puts, gets and lists in one run, batches as one
//! `Database::transaction`, and the agent workload through its primitives.

use std::path::Path;
use std::time::{Duration, Instant};

use in_mem::primitives::{EventLog, NewSpan, StateMachine, TraceStore};
use in_mem::{Database, DurabilityMode, OpenOptions, RetryPolicy, RunId, Value};

use super::{AgentTimes, Pairs, Result, Store, Writes};
use crate::workload::{AGENT_OPS, VALUE};

/// in-mem's durability modes, with the defaults of the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InMemMode {
    Strict,
    Batched,
    Async,
}

impl InMemMode {
    fn mode(self) -> DurabilityMode {
        match self {
            InMemMode::Strict => DurabilityMode::Strict,
            InMemMode::Batched => DurabilityMode::Batched {
                interval_ms: 100,
                max_commits: 1000,
            },
            InMemMode::Async => DurabilityMode::Async { interval_ms: 1000 },
        }
    }
}

pub struct InMem {
    db: Database,
    run: RunId,
}

impl InMem {
    pub fn open(dir: &Path, mode: InMemMode) -> Result<Self> {
        let db = Database::open_with_mode(dir, mode.mode())?;
        let run = db.begin_run();
        Ok(InMem { db, run })
    }
}

impl Store for InMem {
    fn put(&self, _t: usize, key: &[u8], value: &[u8]) -> Result<()> {
        self.db.put(self.run, key, value)?;
        Ok(())
    }

    fn put_batch(&self, _t: usize, items: &[(&[u8], &[u8])]) -> Result<()> {
        self.db.transaction(self.run, |tx| {
            for (key, value) in items {
                tx.put(key, value)?;
            }
            Ok::<(), in_mem::Error>(())
        })?;
        Ok(())
    }

    fn get(&self, _t: usize, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(self.run, key)?)
    }

    fn settle(&self) -> Result<()> {
        Ok(self.db.flush()?)
    }

    fn scan(&self, _t: usize, prefix: &[u8]) -> Result<Pairs> {
        Ok(self.db.list(self.run, prefix)?)
    }

    fn delete(&self, _t: usize, key: &[u8]) -> Result<()> {
        self.db.delete(self.run, key)?;
        Ok(())
    }

    /// in-mem lists by prefix only, so a range is listed as a user must list it today: where
    /// `start` and `end` first differ (byte `i`), the prefix `start[..=i]` (keeping the keys
    /// from `start` on), each prefix `start[..i]` + a byte between the two, and the prefix
    /// `end[..=i]` (keeping the keys before `end`). For the 1,000-key ranges of the read set
    /// that lists at most ~2,000 keys. Without `end`, everything from `start` on.
    fn range(&self, _t: usize, start: &[u8], end: Option<&[u8]>) -> Result<Pairs> {
        Ok(match end {
            Some(end) => self.db.range(self.run, start..end)?,
            None => self.db.range(self.run, start..)?,
        })
    }

    /// `Database::transaction_with_retry` (its default policy); a transaction that still
    /// conflicts after the policy's attempts is begun again. Every attempt after the first
    /// counts as a conflict retried.
    fn read_modify_write(
        &self,
        _t: usize,
        key: &[u8],
        f: &dyn Fn(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<u64> {
        let mut attempts = 0u64;
        loop {
            let outcome = self
                .db
                .transaction_with_retry(self.run, RetryPolicy::default(), |tx| {
                    attempts += 1;
                    let current = tx.get(key)?;
                    tx.put(key, f(current.as_deref()))
                });
            match outcome {
                Ok(()) => return Ok(attempts - 1),
                Err(in_mem::Error::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn put_with_ttl(&self, _t: usize, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        self.db.put_with_ttl(self.run, key, value, ttl)?;
        Ok(())
    }

    fn begin_and_end_runs(&self, n: u64) -> Result<()> {
        for _ in 0..n {
            let run = self.db.try_begin_run()?;
            self.db.end_run(run)?;
        }
        Ok(())
    }

    fn update(
        &self,
        _t: usize,
        key: &[u8],
        f: &mut dyn FnMut(Option<&[u8]>) -> Writes,
    ) -> Result<()> {
        self.db.transaction(self.run, |tx| {
            let current = tx.get(key)?;
            for (k, v) in f(current.as_deref()) {
                tx.put(k, v)?;
            }
            Ok::<(), in_mem::Error>(())
        })?;
        Ok(())
    }

    /// A run through the primitives: KV puts, event appends (hash-chained), compare-and-swap of
    /// one state cell, trace spans with a tag, then every part of the run read back.
    fn agent_run(&self, run_no: u64) -> Result<AgentTimes> {
        let db = &self.db;
        let run = db.begin_run();
        let (events, state, trace) = (
            EventLog::new(db),
            StateMachine::new(db),
            TraceStore::new(db),
        );
        let payload = Value::Bytes(VALUE.to_vec());
        let prefix = format!("agent:{run_no:08}:");
        let mut times = AgentTimes::default();

        let start = Instant::now();
        for i in 0..AGENT_OPS {
            db.put(run, format!("{prefix}{i:08}"), VALUE)?;
        }
        times.kv = start.elapsed();

        let start = Instant::now();
        for _ in 0..AGENT_OPS {
            events.append(run, "observation", &payload)?;
        }
        times.events = start.elapsed();

        let mut version = state.init(run, "counter", 0)?;
        let start = Instant::now();
        for i in 0..AGENT_OPS {
            version = state.cas(run, "counter", version, i + 1)?;
        }
        times.cas = start.elapsed();

        let start = Instant::now();
        for _ in 0..AGENT_OPS {
            trace.record(
                run,
                NewSpan::tool_call("search", payload.clone()).tag("bench"),
            )?;
        }
        times.spans = start.elapsed();

        let start = Instant::now();
        let kv = db.list(run, prefix.as_bytes())?;
        let logged = events.read_range(run, 0..AGENT_OPS)?;
        let cell = state.read(run, "counter")?;
        let spans = trace.spans(run)?;
        times.read_back = start.elapsed();
        let expected = AGENT_OPS as usize;
        if kv.len() != expected || logged.len() != expected || spans.len() != expected {
            return Err(format!(
                "in-mem read back {} kv, {} events, {} spans; expected {expected} each",
                kv.len(),
                logged.len(),
                spans.len()
            )
            .into());
        }
        if cell.map(|c| c.version) != Some(version) {
            return Err("in-mem state cell lost a compare-and-swap".into());
        }
        db.end_run(run)?;
        Ok(times)
    }
}

/// Options with background checkpoints off, so that an open replays exactly what was written.
fn no_auto_checkpoints() -> OpenOptions {
    OpenOptions::new()
        .mode(DurabilityMode::Async { interval_ms: 1000 })
        .checkpoint_every_bytes(0)
}

/// Writes `commits` keys into a fresh database in `dir`, then closes it. With `checkpoint`,
/// the keys go 1,000 per commit and a checkpoint is written before closing; without, each key
/// is its own commit and the whole log is left to replay.
pub fn write_log(dir: &Path, commits: u64, checkpoint: bool) -> Result<()> {
    let db = Database::open_with_options(dir, no_auto_checkpoints())?;
    let run = db.begin_run();
    if checkpoint {
        let keys: Vec<[u8; 24]> = (0..commits).map(crate::workload::key).collect();
        for chunk in keys.chunks(1000) {
            db.transaction(run, |tx| {
                for k in chunk {
                    tx.put(k, VALUE)?;
                }
                Ok::<(), in_mem::Error>(())
            })?;
        }
        db.checkpoint()?;
    } else {
        for i in 0..commits {
            db.put(run, crate::workload::key(i), VALUE)?;
        }
    }
    db.close()?;
    Ok(())
}

/// What one timed open found.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Opened {
    pub seconds: f64,
    pub records_replayed: u64,
    pub checkpoint: Option<u64>,
}

/// Opens the database in `dir` and closes it; says how long the open took and what it read.
pub fn time_open(dir: &Path) -> Result<Opened> {
    let start = Instant::now();
    let db = Database::open_with_options(dir, no_auto_checkpoints())?;
    let seconds = start.elapsed().as_secs_f64();
    let report = db.recovery_report();
    let opened = Opened {
        seconds,
        records_replayed: report.records_replayed,
        checkpoint: report.checkpoint,
    };
    db.close()?;
    Ok(opened)
}

/// Loads `entries` keys (1,000 per commit) into a fresh database in `dir` and returns it, for
/// the memory measurement (the caller reads resident memory around this).
pub fn memory_child(dir: &Path, entries: u64, mode: InMemMode) -> Result<Database> {
    let store = InMem::open(dir, mode)?;
    let keys: Vec<[u8; 24]> = (0..entries).map(crate::workload::key).collect();
    for chunk in keys.chunks(1000) {
        let items: Vec<(&[u8], &[u8])> = chunk
            .iter()
            .map(|k| (k.as_slice(), VALUE.as_slice()))
            .collect();
        store.put_batch(0, &items)?;
    }
    store.db.flush()?;
    Ok(store.db)
}
