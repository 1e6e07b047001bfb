//! The workloads, run round by round with the engines interleaved (engine A round 1, engine B
//! round 1, ..., then round 2), so that machine drift hits every engine alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engines::{AGENT, AgentTimes, DURABLE, Engine, NOSYNC, Result, Store};
use crate::workload::{AGENT_OPS, Plan, Rng, VALUE_BYTES, key, pairs};

/// Writer and reader thread counts of the durable and read workloads.
pub const WRITERS: [usize; 4] = [1, 2, 4, 8];
pub const READER_THREADS: [usize; 2] = [1, 2];

/// Keys with their values, built before a timer starts.
type Pairs = Vec<([u8; 24], [u8; VALUE_BYTES])>;

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
    /// The third batch of the workloads users will run themselves (`workloads3/`).
    pub third: crate::workloads3::Third,
    /// Set during a phase's warm-up round: its figures are dropped.
    #[serde(skip)]
    pub warming: bool,
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
    pub fn add(&mut self, workload: &str, engine: Engine, rate: f64) {
        if self.warming {
            return;
        }
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
    /// The directory every store's directory goes under.
    pub fn root(&self) -> &Path {
        &self.root
    }

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

/// Gets a sample of `data` back from `o` (untimed), and fails if any value differs from the one
/// put. The fdatasync floor keeps nothing to read.
fn check_sample(o: &Opened, data: &[Pairs]) -> Result<()> {
    if o.engine == Engine::FsyncFloor {
        return Ok(());
    }
    for (t, pairs) in data.iter().enumerate() {
        for (k, v) in pairs.iter().step_by((pairs.len() / 16).max(1)) {
            if o.store.get(t, k)?.as_deref() != Some(v.as_slice()) {
                return Err(format!(
                    "{}: a sampled key read back a different value",
                    o.engine.name()
                )
                .into());
            }
        }
    }
    Ok(())
}

/// Runs `work(t)` on `threads` threads released together; returns the wall time from the first
/// thread's start to the last thread's end, as the threads themselves saw them. (Timed from the
/// release in the spawning thread, a spawner scheduled late on two cores started its clock after
/// a short run had finished: a 2 ms run once read as 812M puts/s.)
pub fn timed_threads(
    threads: usize,
    work: impl Fn(usize) -> Result<()> + Sync,
) -> Result<Duration> {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, work) = (&barrier, &work);
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let outcome = work(t);
                    (start, Instant::now(), outcome)
                })
            })
            .collect();
        let mut first_error = None;
        let mut span: Option<(Instant, Instant)> = None;
        for h in handles {
            let (start, end, outcome) = h.join().map_err(|_| "a benchmark thread panicked")?;
            if let Err(e) = outcome {
                first_error.get_or_insert(e);
            }
            span = Some(span.map_or((start, end), |(s, e)| (s.min(start), e.max(end))));
        }
        let (start, end) = span.ok_or("no benchmark thread ran")?;
        first_error.map_or(Ok(end - start), Err)
    })
}

/// A distinct key space per workload, round and thread, so no put overwrites another.
fn key_base(workload: u64, round: usize, thread: usize) -> u64 {
    (workload << 56) | ((round as u64) << 48) | ((thread as u64) << 40)
}

/// Durable puts with 1, 2, 4 and 8 writers, and commits of 1,000 puts. Keys and values are
/// built before each timer starts; a sample is read back after it stops.
pub fn durable(plan: &Plan, scratch: &Scratch, results: &mut Results) -> Result<()> {
    let mut engines = vec![Engine::FsyncFloor];
    engines.extend(DURABLE);
    let stores = scratch.open_all(&engines)?;
    for round in 0..=plan.rounds {
        results.warming = round == 0;
        for threads in WRITERS {
            for o in &stores {
                if o.engine == Engine::FsyncFloor && threads > 1 {
                    continue;
                }
                let per_thread = plan.durable_commits.div_ceil(threads as u64);
                let data: Vec<Pairs> = (0..threads)
                    .map(|t| {
                        let base = key_base(1 + threads as u64, round, t);
                        let keys: Vec<[u8; 24]> = (0..per_thread).map(|i| key(base + i)).collect();
                        pairs(&keys)
                    })
                    .collect();
                let elapsed = timed_threads(threads, |t| {
                    for (k, v) in &data[t] {
                        o.store.put(t, k, v)?;
                    }
                    Ok(())
                })?;
                results.add(
                    &format!("durable_put_{threads}t"),
                    o.engine,
                    rate(per_thread * threads as u64, elapsed),
                );
                check_sample(o, &data)?;
            }
        }
        for o in stores.iter().filter(|o| o.engine != Engine::FsyncFloor) {
            let base = key_base(10, round, 0);
            let keys: Vec<[u8; 24]> = (0..plan.batches * 1000).map(|i| key(base + i)).collect();
            let data = pairs(&keys);
            let batches: Vec<Vec<(&[u8], &[u8])>> = data
                .chunks(1000)
                .map(|chunk| {
                    chunk
                        .iter()
                        .map(|(k, v)| (k.as_slice(), v.as_slice()))
                        .collect()
                })
                .collect();
            let start = Instant::now();
            for items in &batches {
                o.store.put_batch(0, items)?;
            }
            results.add(
                "batch_1000_durable",
                o.engine,
                rate(plan.batches * 1000, start.elapsed()),
            );
            check_sample(o, std::slice::from_ref(&data))?;
        }
        eprintln!("  durable: {} done", round_name(round, plan.rounds));
    }
    results.warming = false;
    Ok(())
}

/// "warm-up round" or "round N of M", for progress lines.
pub fn round_name(round: usize, rounds: usize) -> String {
    if round == 0 {
        "warm-up round".into()
    } else {
        format!("round {round} of {rounds}")
    }
}

/// Puts without a sync per commit (in-mem Batched and Async, fjall in three modes), ascending
/// and random keys.
pub fn nosync(plan: &Plan, scratch: &Scratch, results: &mut Results) -> Result<()> {
    let stores = scratch.open_all(&NOSYNC)?;
    for round in 0..=plan.rounds {
        results.warming = round == 0;
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
                let data = pairs(&keys);
                drop(keys);
                let start = Instant::now();
                for (k, v) in &data {
                    o.store.put(0, k, v)?;
                }
                results.add(workload, o.engine, rate(plan.nosync_puts, start.elapsed()));
                // Background writes of this engine end before the next engine's turn.
                o.store.settle()?;
                check_sample(o, std::slice::from_ref(&data))?;
            }
        }
        eprintln!("  no-sync: {} done", round_name(round, plan.rounds));
    }
    results.warming = false;
    Ok(())
}

/// The mixed agent workload: whole runs per second, and each phase's operations per second.
pub fn agent(plan: &Plan, scratch: &Scratch, results: &mut Results) -> Result<()> {
    let stores = scratch.open_all(&AGENT)?;
    let mut run_no = 0;
    for round in 0..=plan.rounds {
        results.warming = round == 0;
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
        eprintln!("  agent: {} done", round_name(round, plan.rounds));
    }
    results.warming = false;
    Ok(())
}
