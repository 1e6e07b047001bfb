//! The read workloads, each engine's in a child process of its own: random gets over 1M keys
//! with 1 and 2 threads (each get its own read transaction, and again with one read
//! transaction reused per thread where the engine has them), the get-latency distribution,
//! and prefix scans of 1,000 keys.
//!
//! Why children: loading seven engines into one process leaves the allocator's state (glibc
//! malloc's arenas and free lists after ~7M inserts) to whoever reads last, and it dominated
//! scans (up to ~75 % of scan time in malloc/free). Each child loads its engine and then
//! waits for commands on its standard input, one workload and round per line, answering with
//! one JSON line; the parent sends them round by round with the engines interleaved, as the
//! other phases do, and the children stay alive, idle, between their turns.
//!
//! Keys are built before each timer starts. Every get must find its key; about one in 1,024
//! values, and the last scan's rows, are checked against what was loaded, after the timer.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::bench::{READER_THREADS, Results, Scratch, label, rate, round_name, timed_threads};
use crate::engines::{Engine, READERS, Result, Store, TXN_READERS};
use crate::workload::{Plan, Rng, SCAN_PREFIX, key, scan_key, shuffled, value_for};

/// Puts per commit when loading the read set (fewer, larger commits keep the B-tree peers'
/// load time within the quick run's budget).
const LOAD_BATCH: usize = 10_000;

/// One in this many gets has its value checked (a power of two).
pub(crate) const CHECK_EVERY: usize = 1024;

/// Values a thread kept for checking, by the index of the key it asked for.
pub(crate) type Sampled = Vec<(usize, Vec<u8>)>;

/// What the parent asks a child to do.
#[derive(Debug, Serialize, Deserialize)]
enum Ask {
    /// Random gets on `threads` threads, one read transaction each (`reuse: false`) or one per
    /// thread for all of its gets (`reuse: true`).
    Gets {
        threads: usize,
        round: usize,
        reuse: bool,
    },
    /// Individually timed gets, one thread.
    Latency { round: usize },
    /// Prefix scans of the 1,000 `scan:` keys.
    Scans { round: usize },
}

/// A child's answer: a rate, or latency samples, or what went wrong (also the answer of the
/// children of `workloads.rs`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Answer {
    pub(crate) rate: Option<f64>,
    pub(crate) samples: Vec<u32>,
    pub(crate) loaded_seconds: Option<f64>,
    /// Conflicts retried (the contended read-modify-writes of `workloads2/`).
    #[serde(default)]
    pub(crate) retried: Option<u64>,
    /// Anything else a child reports (the third batch's summaries, `workloads3/`).
    #[serde(default)]
    pub(crate) detail: Option<serde_json::Value>,
    pub(crate) error: Option<String>,
}

/// The parent's handle on one child (of this module, or of `workloads.rs`).
pub(crate) struct Reader {
    pub(crate) engine: Engine,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Reader {
    fn spawn(engine: Engine, plan: &Plan, scratch: &Path) -> Result<Self> {
        Self::spawn_as("--read-child", engine, plan, scratch)
    }

    /// Starts this binary as a child with `flag` (`--read-child`, `--workload-child`) for
    /// `engine`.
    pub(crate) fn spawn_as(
        flag: &str,
        engine: Engine,
        plan: &Plan,
        scratch: &Path,
    ) -> Result<Self> {
        Self::spawn_named(flag, engine.name(), engine, plan, scratch)
    }

    /// [`Reader::spawn_as`], naming the engine to the child as `name` (where one name, such
    /// as `redb`, stands for more than one mode).
    pub(crate) fn spawn_named(
        flag: &str,
        name: &str,
        engine: Engine,
        plan: &Plan,
        scratch: &Path,
    ) -> Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg(flag)
            .arg(name)
            .arg("--plan")
            .arg(serde_json::to_string(plan)?)
            .arg("--scratch")
            .arg(scratch)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().ok_or("no stdin for a read child")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout for a read child")?);
        Ok(Reader {
            engine,
            child,
            stdin,
            stdout,
        })
    }

    /// Reads the child's next answer.
    pub(crate) fn answer(&mut self) -> Result<Answer> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(format!("the read child for {} ended early", self.engine.name()).into());
        }
        let answer: Answer = serde_json::from_str(line.trim())?;
        match answer.error {
            Some(e) => Err(format!("read child for {}: {e}", self.engine.name()).into()),
            None => Ok(answer),
        }
    }

    pub(crate) fn ask(&mut self, ask: &impl Serialize) -> Result<Answer> {
        writeln!(self.stdin, "{}", serde_json::to_string(ask)?)?;
        self.stdin.flush()?;
        self.answer()
    }

    /// Ends the child: closing its standard input ends its loop.
    pub(crate) fn finish(self) {
        drop(self.stdin);
        let mut child = self.child;
        let _ = child.wait();
    }
}

/// Runs the read workloads, one child process per engine of [`READERS`].
pub fn reads(plan: &Plan, scratch: &Scratch, results: &mut Results) -> Result<()> {
    let mut readers = Vec::new();
    // Children load one after another, so that no load runs beside another.
    for engine in READERS {
        let mut reader = Reader::spawn(engine, plan, scratch.root())?;
        let loaded = reader.answer()?;
        let seconds = loaded.loaded_seconds.unwrap_or(f64::NAN);
        eprintln!("  loaded {} in {seconds:.1} s (own process)", engine.name());
        results
            .load_seconds
            .insert(label("load", engine).to_string(), seconds);
        readers.push(reader);
    }
    let outcome = interleave(plan, &mut readers, results);
    for r in readers {
        r.finish();
    }
    results.warming = false;
    outcome
}

fn interleave(plan: &Plan, readers: &mut [Reader], results: &mut Results) -> Result<()> {
    for round in 0..=plan.rounds {
        results.warming = round == 0;
        for reuse in [false, true] {
            for threads in READER_THREADS {
                for r in readers.iter_mut() {
                    if reuse && !TXN_READERS.contains(&r.engine) {
                        continue;
                    }
                    let ask = Ask::Gets {
                        threads,
                        round,
                        reuse,
                    };
                    let got = r.ask(&ask)?.rate.ok_or("no rate")?;
                    let workload = if reuse {
                        format!("get_random_{threads}t_txn")
                    } else {
                        format!("get_random_{threads}t")
                    };
                    results.add(&workload, r.engine, got);
                }
            }
        }
        for r in readers.iter_mut() {
            let samples = r.ask(&Ask::Latency { round })?.samples;
            if !results.warming {
                results
                    .get_latency_ns
                    .entry(label("get", r.engine).to_string())
                    .or_default()
                    .extend(samples);
            }
        }
        for r in readers.iter_mut() {
            let got = r.ask(&Ask::Scans { round })?.rate.ok_or("no rate")?;
            results.add("scan_1k", r.engine, got);
        }
        eprintln!("  reads: {} done", round_name(round, plan.rounds));
    }
    Ok(())
}

/// The child: loads `engine` (named as [`Engine::name`] names it), says so, then answers asks
/// until its standard input closes.
pub fn child(engine: &str, plan: &str, scratch: &Path) -> Result<()> {
    let plan: Plan = serde_json::from_str(plan)?;
    let engine = READERS
        .into_iter()
        .find(|e| e.name() == engine)
        .ok_or_else(|| format!("no read engine {engine}"))?;
    std::fs::create_dir_all(scratch)?;
    let dir = tempfile::tempdir_in(scratch)?;
    let mut out = std::io::stdout().lock();
    let reply = |out: &mut std::io::StdoutLock, answer: &Answer| -> Result<()> {
        writeln!(out, "{}", serde_json::to_string(answer)?)?;
        Ok(out.flush()?)
    };
    let store = match engine.open(dir.path()).and_then(|s| {
        let seconds = load(&*s, &plan)?;
        Ok((s, seconds))
    }) {
        Ok((store, seconds)) => {
            // Let compactions and flushes that loading started finish.
            std::thread::sleep(Duration::from_secs(2));
            reply(
                &mut out,
                &Answer {
                    loaded_seconds: Some(seconds),
                    ..Answer::default()
                },
            )?;
            store
        }
        Err(e) => {
            let error = Some(e.to_string());
            return reply(
                &mut out,
                &Answer {
                    error,
                    ..Answer::default()
                },
            );
        }
    };
    for line in std::io::stdin().lock().lines() {
        let ask: Ask = serde_json::from_str(&line?)?;
        let answer = match run(&*store, &plan, &ask) {
            Ok(answer) => answer,
            Err(e) => Answer {
                error: Some(e.to_string()),
                ..Answer::default()
            },
        };
        reply(&mut out, &answer)?;
    }
    drop(store);
    Ok(())
}

/// Loads the read set: 1M keys and the 1,000 scan keys in one shuffled order (the same for
/// every engine), [`LOAD_BATCH`] per commit, each with its own value. Returns the seconds taken.
pub(crate) fn load(store: &dyn Store, plan: &Plan) -> Result<f64> {
    let order = shuffled(plan.read_keys + 1000, 0x10ad);
    let entries: Vec<([u8; 24], [u8; 100])> = order
        .iter()
        .map(|&i| {
            let k = if i < plan.read_keys {
                key(i)
            } else {
                scan_key(i - plan.read_keys)
            };
            (k, value_for(&k))
        })
        .collect();
    drop(order);
    let start = Instant::now();
    for chunk in entries.chunks(LOAD_BATCH) {
        let items: Vec<(&[u8], &[u8])> = chunk
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        store.put_batch(0, &items)?;
    }
    store.settle()?;
    Ok(start.elapsed().as_secs_f64())
}

/// The keys one thread gets in one round, built before the timer.
fn get_keys(plan: &Plan, round: usize, thread: usize, n: u64, seed: u64) -> Vec<[u8; 24]> {
    let mut rng = Rng::new(seed ^ ((round as u64) << 16) ^ thread as u64);
    (0..n).map(|_| key(rng.below(plan.read_keys))).collect()
}

/// Checks sampled `(key, value)` pairs a workload read against what was loaded.
pub(crate) fn check(samples: &[(&[u8; 24], Vec<u8>)]) -> Result<()> {
    match samples.iter().find(|(k, v)| v.as_slice() != value_for(*k)) {
        Some(_) => Err("a get returned a value that was not loaded under its key".into()),
        None => Ok(()),
    }
}

fn run(store: &dyn Store, plan: &Plan, ask: &Ask) -> Result<Answer> {
    match *ask {
        Ask::Gets {
            threads,
            round,
            reuse,
        } => {
            let per_thread = plan.gets / threads as u64;
            let keys: Vec<Vec<[u8; 24]>> = (0..threads)
                .map(|t| get_keys(plan, round, t, per_thread, 0x9e7))
                .collect();
            let kept: Vec<Mutex<Sampled>> = (0..threads).map(|_| Mutex::default()).collect();
            let elapsed = timed_threads(threads, |t| {
                let mut sampled = Vec::with_capacity(keys[t].len() / CHECK_EVERY + 1);
                let mut each = |i: usize, got: Option<Vec<u8>>| -> Result<()> {
                    let got = std::hint::black_box(got).ok_or("a loaded key was missing")?;
                    if i.is_multiple_of(CHECK_EVERY) {
                        sampled.push((i, got));
                    }
                    Ok(())
                };
                if reuse {
                    store.get_each(t, &keys[t], &mut each)?;
                } else {
                    for (i, k) in keys[t].iter().enumerate() {
                        each(i, store.get(t, k)?)?;
                    }
                }
                *kept[t].lock().map_err(|_| "poisoned")? = sampled;
                Ok(())
            })?;
            for (t, sampled) in kept.into_iter().enumerate() {
                let sampled = sampled.into_inner().map_err(|_| "poisoned")?;
                let pairs: Vec<_> = sampled.into_iter().map(|(i, v)| (&keys[t][i], v)).collect();
                check(&pairs)?;
            }
            Ok(Answer {
                rate: Some(rate(per_thread * threads as u64, elapsed)),
                ..Answer::default()
            })
        }
        Ask::Latency { round } => {
            let keys = get_keys(plan, round, 0, plan.latency_gets, 0x1a7);
            let mut samples = Vec::with_capacity(keys.len());
            let mut checked = Vec::new();
            for (i, k) in keys.iter().enumerate() {
                let start = Instant::now();
                let got = store.get(0, k)?;
                let ns = start.elapsed().as_nanos();
                let got = std::hint::black_box(got).ok_or("a loaded key was missing")?;
                samples.push(u32::try_from(ns).unwrap_or(u32::MAX));
                if i.is_multiple_of(CHECK_EVERY) {
                    checked.push((k, got));
                }
            }
            check(&checked)?;
            Ok(Answer {
                samples,
                ..Answer::default()
            })
        }
        Ask::Scans { .. } => {
            let mut last = Vec::new();
            let start = Instant::now();
            for _ in 0..plan.scans {
                last = std::hint::black_box(store.scan(0, SCAN_PREFIX)?);
            }
            let elapsed = start.elapsed();
            let expected = (0..1000).map(scan_key);
            if last.len() != 1000
                || !last
                    .iter()
                    .zip(expected)
                    .all(|((k, v), e)| k.as_slice() == e && v.as_slice() == value_for(&e))
            {
                return Err("a scan listed the wrong keys or values".into());
            }
            Ok(Answer {
                rate: Some(rate(plan.scans, elapsed)),
                ..Answer::default()
            })
        }
    }
}
