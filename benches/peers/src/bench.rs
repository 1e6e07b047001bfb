//! The workloads, run round by round with the engines interleaved (engine A round 1, engine B
//! round 1, ..., then round 2), so that machine drift hits every engine alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engines::{AGENT, AgentTimes, DURABLE, Engine, NOSYNC, READERS, Result, Store};
use crate::workload::{AGENT_OPS, Plan, Rng, SCAN_PREFIX, VALUE, key, scan_key, shuffled};

/// Writer and reader thread counts of the durable and read workloads.
pub const WRITERS: [usize; 4] = [1, 2, 4, 8];
pub const READER_THREADS: [usize; 2] = [1, 2];

/// Everything measured: per workload, per engine, one figure per round.
#[derive(Debug, Default, Serialize)]
pub struct Results {
    /// workload -> engine -> per-round rates (operations per second).
    pub rates: BTreeMap<String, BTreeMap<String, Vec<f64>>>,
    /// engine -> individually timed random gets (nanoseconds), pooled over rounds.
    #[serde(skip)]
    pub get_latency_ns: BTreeMap<String, Vec<u32>>,
    /// engine -> seconds to load the read set.
    pub load_seconds: BTreeMap<String, f64>,
    /// in-mem recovery: commits in the log, and per-round open times in seconds.
    pub recovery: Option<Recovery>,
}

#[derive(Debug, Serialize)]
pub struct Recovery {
    /// Commits in the log, and per-round seconds to open it (whole-log replay).
    pub commits: u64,
    pub records_replayed: u64,
    pub open_seconds: Vec<f64>,
    /// Keys in the checkpoint, and per-round seconds to open it (checkpoint, empty log tail).
    pub checkpoint_keys: u64,
    pub checkpoint_records_replayed: u64,
    pub checkpoint_open_seconds: Vec<f64>,
}

impl Results {
    fn add(&mut self, workload: &str, engine: Engine, rate: f64) {
        self.rates
            .entry(workload.to_string())
            .or_default()
            .entry(label(workload, engine).to_string())
            .or_default()
            .push(rate);
    }

    /// The median rate of `engine` in `workload`.
    pub fn median(&self, workload: &str, engine: &str) -> Option<f64> {
        median(self.rates.get(workload)?.get(engine)?)
    }
}

/// The engine's name in `workload`: in-mem's mode is named only where workloads compare modes
/// (the no-sync puts), elsewhere it is just `in-mem`.
pub fn label(workload: &str, engine: Engine) -> &'static str {
    if engine.is_in_mem() && !workload.starts_with("put_") {
        "in-mem"
    } else {
        engine.name()
    }
}

/// The median of `xs` (the mean of the middle two for an even count).
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        f64::midpoint(v[mid - 1], v[mid])
    } else {
        v[mid]
    })
}

/// `n / elapsed` as a rate per second.
pub fn rate(n: u64, elapsed: Duration) -> f64 {
    // Counts here stay far below 2^52: the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    let n = n as f64;
    n / elapsed.as_secs_f64().max(1e-9)
}

/// Where the engines' files go: a fresh directory per store, removed when dropped.
pub struct Scratch {
    root: PathBuf,
}

impl Scratch {
    pub fn new(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root)?;
        Ok(Scratch {
            root: root.to_path_buf(),
        })
    }

    fn open(&self, engine: Engine) -> Result<Opened> {
        let dir = tempfile::tempdir_in(&self.root)?;
        let store = engine.open(dir.path())?;
        Ok(Opened {
            engine,
            store,
            _dir: dir,
        })
    }

    fn open_all(&self, engines: &[Engine]) -> Result<Vec<Opened>> {
        let opened = engines
            .iter()
            .map(|e| self.open(*e))
            .collect::<Result<Vec<_>>>()?;
        // Let background work that opening started (segment preallocation, first flushes) end.
        std::thread::sleep(Duration::from_millis(300));
        Ok(opened)
    }
}

/// An open store; the directory goes when the store has been dropped (fields drop in order).
struct Opened {
    engine: Engine,
    store: Box<dyn Store>,
    _dir: tempfile::TempDir,
}

/// Runs `per_thread(t, barrier)`-style work on `threads` threads released together; returns the
/// wall time from the release to the last thread's end.
fn timed_threads(threads: usize, work: impl Fn(usize) -> Result<()> + Sync) -> Result<Duration> {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, work) = (&barrier, &work);
                s.spawn(move || {
                    barrier.wait();
                    work(t)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let mut first_error = None;
        for h in handles {
            let outcome = h.join().map_err(|_| "a benchmark thread panicked")?;
            if let Err(e) = outcome {
                first_error.get_or_insert(e);
            }
        }
        let elapsed = start.elapsed();
        first_error.map_or(Ok(elapsed), Err)
    })
}

/// A distinct key space per workload, round and thread, so no put overwrites another.
fn key_base(workload: u64, round: usize, thread: usize) -> u64 {
    (workload << 56) | ((round as u64) << 48) | ((thread as u64) << 40)
}

/// Durable puts with 1, 2, 4 and 8 writers, and commits of 1,000 puts.
pub fn durable(plan: &Plan, scratch: &Scratch, results: &mut Results) -> Result<()> {
    let mut engines = vec![Engine::FsyncFloor];
    engines.extend(DURABLE);
    let stores = scratch.open_all(&engines)?;
    for round in 0..plan.rounds {
        for threads in WRITERS {
            for o in &stores {
                if o.engine == Engine::FsyncFloor && threads > 1 {
                    continue;
                }
                let per_thread = plan.durable_commits.div_ceil(threads as u64);
                let elapsed = timed_threads(threads, |t| {
                    let base = key_base(1 + threads as u64, round, t);
                    for i in 0..per_thread {
                        o.store.put(t, &key(base + i), &VALUE)?;
                    }
                    Ok(())
                })?;
                results.add(
                    &format!("durable_put_{threads}t"),
                    o.engine,
                    rate(per_thread * threads as u64, elapsed),
                );
            }
        }
        for o in stores.iter().filter(|o| o.engine != Engine::FsyncFloor) {
            let base = key_base(10, round, 0);
            let keys: Vec<[u8; 24]> = (0..plan.batches * 1000).map(|i| key(base + i)).collect();
            let start = Instant::now();
            for chunk in keys.chunks(1000) {
                let items: Vec<(&[u8], &[u8])> = chunk
                    .iter()
                    .map(|k| (k.as_slice(), VALUE.as_slice()))
                    .collect();
                o.store.put_batch(0, &items)?;
            }
            results.add(
                "batch_1000_durable",
                o.engine,
                rate(plan.batches * 1000, start.elapsed()),
            );
        }
        eprintln!("  durable: round {} of {} done", round + 1, plan.rounds);
    }
    Ok(())
}

/// Puts without a sync per commit (in-mem Batched and Async), ascending and random keys.
pub fn nosync(plan: &Plan, scratch: &Scratch, results: &mut Results) -> Result<()> {
    let stores = scratch.open_all(&NOSYNC)?;
    for round in 0..plan.rounds {
        for (workload, random) in [("put_seq", false), ("put_random", true)] {
            for o in &stores {
                let base = key_base(20, round, 0);
                let mut rng = Rng::new(0x5eed ^ (round as u64) << 8);
                let keys: Vec<[u8; 24]> = (0..plan.nosync_puts)
                    .map(|i| {
                        if random {
                            key(rng.below(u64::MAX >> 1))
                        } else {
                            key(base + i)
                        }
                    })
                    .collect();
                let start = Instant::now();
                for k in &keys {
                    o.store.put(0, k, &VALUE)?;
                }
                results.add(workload, o.engine, rate(plan.nosync_puts, start.elapsed()));
                // Background writes of this engine end before the next engine's turn.
                o.store.settle()?;
            }
        }
        eprintln!("  no-sync: round {} of {} done", round + 1, plan.rounds);
    }
    Ok(())
}

/// Puts per commit when loading the read set (fewer, larger commits keep the B-tree peers'
/// load time within the quick run's budget).
const LOAD_BATCH: usize = 10_000;

/// Random gets over 1M keys with 1 and 2 threads, the get-latency distribution, and prefix
/// scans of 1,000 keys. Every engine is loaded with the same keys in the same random order,
/// [`LOAD_BATCH`] per commit.
pub fn reads(plan: &Plan, scratch: &Scratch, results: &mut Results) -> Result<()> {
    let stores = scratch.open_all(&READERS)?;
    let order = shuffled(plan.read_keys + 1000, 0x10ad);
    let entries: Vec<[u8; 24]> = order
        .iter()
        .map(|&i| {
            if i < plan.read_keys {
                key(i)
            } else {
                scan_key(i - plan.read_keys)
            }
        })
        .collect();
    for o in &stores {
        let start = Instant::now();
        for chunk in entries.chunks(LOAD_BATCH) {
            let items: Vec<(&[u8], &[u8])> = chunk
                .iter()
                .map(|k| (k.as_slice(), VALUE.as_slice()))
                .collect();
            o.store.put_batch(0, &items)?;
        }
        o.store.settle()?;
        let seconds = start.elapsed().as_secs_f64();
        eprintln!("  loaded {} in {seconds:.1} s", o.engine.name());
        results
            .load_seconds
            .insert(label("load", o.engine).to_string(), seconds);
    }
    drop(entries);
    // Let compactions and flushes that loading started finish.
    std::thread::sleep(Duration::from_secs(2));

    for round in 0..plan.rounds {
        for threads in READER_THREADS {
            for o in &stores {
                let per_thread = plan.gets / threads as u64;
                let elapsed = timed_threads(threads, |t| {
                    let mut rng = Rng::new(0x9e7 ^ ((round as u64) << 16) ^ t as u64);
                    for _ in 0..per_thread {
                        let got = o.store.get(t, &key(rng.below(plan.read_keys)))?;
                        if std::hint::black_box(got).is_none() {
                            return Err("a loaded key was missing".into());
                        }
                    }
                    Ok(())
                })?;
                results.add(
                    &format!("get_random_{threads}t"),
                    o.engine,
                    rate(per_thread * threads as u64, elapsed),
                );
            }
        }
        for o in &stores {
            let mut rng = Rng::new(0x1a7 ^ ((round as u64) << 16));
            let samples = results
                .get_latency_ns
                .entry(label("get", o.engine).to_string())
                .or_default();
            for _ in 0..plan.latency_gets {
                let k = key(rng.below(plan.read_keys));
                let start = Instant::now();
                let got = o.store.get(0, &k)?;
                let ns = start.elapsed().as_nanos();
                std::hint::black_box(got);
                samples.push(u32::try_from(ns).unwrap_or(u32::MAX));
            }
        }
        for o in &stores {
            let start = Instant::now();
            for _ in 0..plan.scans {
                let rows = o.store.scan(0, SCAN_PREFIX)?;
                if std::hint::black_box(rows).len() != 1000 {
                    return Err(format!(
                        "{} listed the wrong number of scan keys",
                        o.engine.name()
                    )
                    .into());
                }
            }
            results.add("scan_1k", o.engine, rate(plan.scans, start.elapsed()));
        }
        eprintln!("  reads: round {} of {} done", round + 1, plan.rounds);
    }
    Ok(())
}

/// The mixed agent workload: whole runs per second, and each phase's operations per second.
pub fn agent(plan: &Plan, scratch: &Scratch, results: &mut Results) -> Result<()> {
    let stores = scratch.open_all(&AGENT)?;
    let mut run_no = 0;
    for round in 0..plan.rounds {
        for o in &stores {
            let mut total = AgentTimes::default();
            for _ in 0..plan.agent_runs {
                run_no += 1;
                let t = o.store.agent_run(run_no)?;
                total.kv += t.kv;
                total.events += t.events;
                total.cas += t.cas;
                total.spans += t.spans;
                total.read_back += t.read_back;
            }
            let all = total.kv + total.events + total.cas + total.spans + total.read_back;
            let ops = plan.agent_runs * AGENT_OPS;
            results.add("agent_runs", o.engine, rate(plan.agent_runs, all));
            results.add("agent_kv_put", o.engine, rate(ops, total.kv));
            results.add("agent_event_append", o.engine, rate(ops, total.events));
            results.add("agent_state_cas", o.engine, rate(ops, total.cas));
            results.add("agent_trace_span", o.engine, rate(ops, total.spans));
            results.add(
                "agent_read_back",
                o.engine,
                rate(plan.agent_runs, total.read_back),
            );
            o.store.settle()?;
        }
        eprintln!("  agent: round {} of {} done", round + 1, plan.rounds);
    }
    Ok(())
}

/// in-mem's recovery: the open time of a database whose log holds `recovery_commits` one-put
/// commits (replay), and of one whose `recovery_commits` keys are in a checkpoint. Background
/// checkpoints are off for both, so each open reads exactly what it is meant to.
pub fn recovery(plan: &Plan, scratch: &Scratch, results: &mut Results) -> Result<()> {
    let log = tempfile::tempdir_in(&scratch.root)?;
    crate::engines::write_log(log.path(), plan.recovery_commits, false)?;
    let checkpointed = tempfile::tempdir_in(&scratch.root)?;
    crate::engines::write_log(checkpointed.path(), plan.recovery_commits, true)?;
    let mut rec = Recovery {
        commits: plan.recovery_commits,
        records_replayed: 0,
        open_seconds: Vec::new(),
        checkpoint_keys: plan.recovery_commits,
        checkpoint_records_replayed: 0,
        checkpoint_open_seconds: Vec::new(),
    };
    for _ in 0..plan.rounds {
        let opened = crate::engines::time_open(log.path())?;
        rec.open_seconds.push(opened.seconds);
        rec.records_replayed = opened.records_replayed;
        let opened = crate::engines::time_open(checkpointed.path())?;
        if opened.checkpoint.is_none() {
            return Err("the checkpointed database opened without its checkpoint".into());
        }
        rec.checkpoint_open_seconds.push(opened.seconds);
        rec.checkpoint_records_replayed = opened.records_replayed;
    }
    results.recovery = Some(rec);
    Ok(())
}
