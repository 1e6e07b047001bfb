//! The workloads users will run themselves (the performance issue's item 7), a first batch:
//! puts and point gets of 4 KiB, 64 KiB and 1 MiB values; on the 1M-key read set, gets of
//! missing keys, Zipfian gets, and 8 threads mixing gets and puts 90/10 and 50/50.
//!
//! Each engine runs in a child process of its own, for the reason `reads.rs` gives (the
//! allocator state one engine leaves must not be another's), answering one workload and round
//! per request; the parent interleaves the engines round by round after a warm-up round, as the
//! other phases do. The value-size rounds run in a first set of children (nothing else loaded),
//! the read-set workloads in a second, which loads the read set as `reads.rs` does.
//!
//! Writes are compared without a sync per commit: in-mem in its default mode (Batched) beside
//! each peer's no-sync write path, and fjall once more on Batched's sync schedule (like for
//! like; see `engines/fjall.rs`). LMDB syncs every commit (its no-sync flag needs `unsafe` in
//! heed 0.11), so it has no put rows: it takes its big values in batched commits, untimed, and
//! runs the rows without puts. fjall on Batched's sync schedule reads as plain fjall does, so it
//! runs only the rows with puts.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::bench::{Results, Scratch, rate, round_name, timed_threads};
use crate::engines::{Engine, FjallMode, InMemMode, Result, Store};
use crate::reads::{Answer, CHECK_EVERY, Reader, Sampled, check, load};
use crate::workload::{Plan, Rng, VALUE_BYTES, fill_value, key, shuffled, value_for};
use crate::zipf::Zipf;

/// The engines, each in a child process of its own.
pub const ENGINES: [Engine; 8] = [
    Engine::InMem(InMemMode::Batched),
    Engine::SkipMap,
    Engine::Redb { durable: false },
    Engine::Fjall(FjallMode::Plain),
    Engine::Fjall(FjallMode::SyncLikeBatched),
    Engine::Sled { durable: false },
    Engine::Lmdb,
    Engine::Sqlite { durable: false },
];

/// Whether `engine` runs the rows with puts (LMDB syncs every commit: not like for like).
fn puts(engine: Engine) -> bool {
    engine != Engine::Lmdb
}

/// Whether `engine` runs the rows without puts (fjall with a sync thread reads as fjall does).
fn reads(engine: Engine) -> bool {
    engine != Engine::Fjall(FjallMode::SyncLikeBatched)
}

/// The value sizes: a name for the workload's row, and bytes.
pub const VALUE_SIZES: [(&str, usize); 3] = [("4k", 4 << 10), ("64k", 64 << 10), ("1m", 1 << 20)];

/// Gets per put entry in the value-size workloads (so a round of 1 MiB gets copies ~2 GiB).
const GETS_PER_ENTRY: u64 = 10;

/// LMDB's untimed load of big values: bytes per commit at most.
const LOAD_COMMIT_BYTES: usize = 32 << 20;

/// Background work that opening a store starts (segment preallocation, first flushes) gets
/// this long to end before a timer starts, as `bench.rs` gives it.
pub(crate) const SETTLE_AFTER_OPEN: Duration = Duration::from_millis(300);

/// The skew of the Zipfian gets (YCSB's default).
pub const ZIPF_THETA: f64 = 0.99;

/// Threads of the mixed workloads.
const MIXED_THREADS: usize = 8;

/// The mixed workloads: row name, and the share of puts in percent.
const MIXES: [(&str, u64); 2] = [("mixed_90_10_8t", 10), ("mixed_50_50_8t", 50)];

/// `n` with thousands separated by commas, or as `1M` for whole millions.
pub(crate) fn count(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        return format!("{}M", n / 1_000_000);
    }
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The rows of the report's table, with what each measures (sizes from `plan`).
pub fn rows(plan: &Plan) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let read_set = format!("the {}-key read set", count(plan.read_keys));
    for ((name, bytes), entries) in VALUE_SIZES.into_iter().zip(plan.value_entries) {
        let size = if bytes >= 1 << 20 {
            format!("{} MiB", bytes >> 20)
        } else {
            format!("{} KiB", bytes >> 10)
        };
        rows.push((
            format!("value_{name}_put"),
            format!(
                "{} puts of {size} values (random bytes, fresh keys in random order, one commit \
                 each) into an empty store",
                count(entries)
            ),
        ));
        rows.push((
            format!("value_{name}_get"),
            format!(
                "{} point gets of those {} keys, uniformly random, value copied out",
                count(entries * GETS_PER_ENTRY),
                count(entries)
            ),
        ));
    }
    rows.push((
        "get_missing_1t".into(),
        format!(
            "{} gets of keys absent from {read_set} (each sorts between two present keys), 1 \
             thread",
            count(plan.gets)
        ),
    ));
    rows.push((
        "get_zipf_1t".into(),
        format!(
            "{} gets of {read_set}, Zipfian (theta {ZIPF_THETA}; hot keys scattered over the \
             key space), 1 thread",
            count(plan.gets)
        ),
    ));
    for (name, put_percent) in MIXES {
        rows.push((
            name.into(),
            format!(
                "{} operations on {MIXED_THREADS} threads over {read_set}, uniformly random keys, \
                 {}% gets and {put_percent}% puts (overwrites, one commit each); total ops/s",
                count(plan.mixed_ops),
                100 - put_percent
            ),
        ));
    }
    rows
}

/// What the parent asks a child to do.
#[derive(Debug, Serialize, Deserialize)]
enum Ask {
    /// Load the read set (`reads::load`); answers with the seconds it took.
    Load,
    /// Open a fresh store and put `value_entries[size]` values of `VALUE_SIZES[size]` into it
    /// (timed, unless the engine has no put rows); keep it for the gets when `keep`.
    ValuePuts {
        size: usize,
        round: usize,
        keep: bool,
    },
    /// Gets of the values just put; then the store is dropped.
    ValueGets { size: usize, round: usize },
    /// Gets of keys the read set lacks.
    Missing { round: usize },
    /// Zipfian gets of the read set.
    Zipf { round: usize },
    /// Gets and puts on [`MIXED_THREADS`] threads, `put_percent` % of them puts.
    Mixed { put_percent: u64, round: usize },
}

/// Runs the workloads, one child process per engine of [`ENGINES`].
pub fn workloads(plan: &Plan, scratch: &Scratch, results: &mut Results) -> Result<()> {
    let mut children = spawn(plan, scratch.root())?;
    let outcome = value_sizes(plan, &mut children, results);
    children.into_iter().for_each(Reader::finish);
    outcome?;
    let mut children = spawn(plan, scratch.root())?;
    let outcome = load_in_turn(&mut children, &Ask::Load);
    let outcome = outcome.and_then(|()| on_read_set(plan, &mut children, results));
    children.into_iter().for_each(Reader::finish);
    results.warming = false;
    outcome
}

/// Has each child load its data set with `load`, one after another, so that no load runs
/// beside another.
pub(crate) fn load_in_turn(children: &mut [Reader], load: &impl Serialize) -> Result<()> {
    children.iter_mut().try_for_each(|c| {
        let seconds = c.ask(load)?.loaded_seconds.unwrap_or(f64::NAN);
        eprintln!(
            "  loaded {} in {seconds:.1} s (own process)",
            c.engine.name()
        );
        Ok(())
    })
}

fn spawn(plan: &Plan, scratch: &Path) -> Result<Vec<Reader>> {
    ENGINES
        .into_iter()
        .map(|e| Reader::spawn_as("--workload-child", e, plan, scratch))
        .collect()
}

fn value_sizes(plan: &Plan, children: &mut [Reader], results: &mut Results) -> Result<()> {
    for round in 0..=plan.rounds {
        results.warming = round == 0;
        for (size, (name, _)) in VALUE_SIZES.into_iter().enumerate() {
            // One engine's puts and then its gets, so that one big store at a time is alive.
            for c in children.iter_mut() {
                let keep = reads(c.engine);
                if let Some(r) = c.ask(&Ask::ValuePuts { size, round, keep })?.rate {
                    results.add(&format!("value_{name}_put"), c.engine, r);
                }
                if keep {
                    let r = c.ask(&Ask::ValueGets { size, round })?.rate;
                    results.add(&format!("value_{name}_get"), c.engine, r.ok_or("no rate")?);
                }
            }
        }
        eprintln!("  value sizes: {} done", round_name(round, plan.rounds));
    }
    Ok(())
}

fn on_read_set(plan: &Plan, children: &mut [Reader], results: &mut Results) -> Result<()> {
    for round in 0..=plan.rounds {
        results.warming = round == 0;
        for (row, ask) in [
            ("get_missing_1t", Ask::Missing { round }),
            ("get_zipf_1t", Ask::Zipf { round }),
        ] {
            for c in children.iter_mut().filter(|c| reads(c.engine)) {
                results.add(row, c.engine, c.ask(&ask)?.rate.ok_or("no rate")?);
            }
        }
        for (row, put_percent) in MIXES {
            for c in children.iter_mut().filter(|c| puts(c.engine)) {
                let ask = Ask::Mixed { put_percent, round };
                results.add(row, c.engine, c.ask(&ask)?.rate.ok_or("no rate")?);
            }
        }
        eprintln!(
            "  read-set workloads: {} done",
            round_name(round, plan.rounds)
        );
    }
    Ok(())
}

/// A store in a directory of its own; the directory goes when the store has been dropped
/// (fields drop in order).
pub(crate) struct Opened {
    pub(crate) store: Box<dyn Store>,
    dir: tempfile::TempDir,
}

impl Opened {
    pub(crate) fn new(engine: Engine, scratch: &Path) -> Result<Self> {
        let dir = tempfile::tempdir_in(scratch)?;
        Ok(Opened {
            store: engine.open(dir.path())?,
            dir,
        })
    }

    /// The store's directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A child's state between requests.
struct Child {
    engine: Engine,
    plan: Plan,
    scratch: PathBuf,
    read_set: Option<Opened>,
    /// The value-size store between its puts and its gets, with the size's index.
    values: Option<(Opened, usize)>,
    /// The Zipfian sampler and the order that scatters its ranks over the keys, built once.
    zipf: Option<(Zipf, Vec<u64>)>,
}

/// A child's loop: answers each request line on standard input with one answer line (an
/// error as the answer's `error`), until standard input closes.
pub(crate) fn serve<A: serde::de::DeserializeOwned>(
    mut answer: impl FnMut(A) -> Result<Answer>,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let ask: A = serde_json::from_str(&line?)?;
        let answer = answer(ask).unwrap_or_else(|e| Answer {
            error: Some(e.to_string()),
            ..Answer::default()
        });
        writeln!(out, "{}", serde_json::to_string(&answer)?)?;
        out.flush()?;
    }
    Ok(())
}

/// The child: answers requests until its standard input closes.
pub fn child(engine: &str, plan: &str, scratch: &Path) -> Result<()> {
    let engine = ENGINES
        .into_iter()
        .find(|e| e.name() == engine)
        .ok_or_else(|| format!("no workload engine {engine}"))?;
    std::fs::create_dir_all(scratch)?;
    let mut me = Child {
        engine,
        plan: serde_json::from_str(plan)?,
        scratch: scratch.to_path_buf(),
        read_set: None,
        values: None,
        zipf: None,
    };
    serve(|ask: Ask| me.run(&ask))
}

/// Key `i` of the read set with its last digit replaced by `:` (which sorts after `9`): absent,
/// and between `key(i - i % 10 + 9)` and the next present key, so that lookups spread over the
/// whole key space as the present keys do.
fn missing_key(i: u64) -> [u8; 24] {
    let mut k = key(i);
    k[23] = b':';
    k
}

/// The value of `len` bytes stored under `key` by the value-size workloads.
fn big_value(key: &[u8], len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    fill_value(key, &mut v);
    v
}

/// One operation of a mixed workload: a put of `value`, or a get.
struct Op {
    key: [u8; 24],
    value: Option<[u8; VALUE_BYTES]>,
}

impl Child {
    fn run(&mut self, ask: &Ask) -> Result<Answer> {
        let rate = match *ask {
            Ask::Load => {
                let opened = Opened::new(self.engine, &self.scratch)?;
                let seconds = load(&*opened.store, &self.plan)?;
                self.read_set = Some(opened);
                // Let compactions and flushes that loading started finish (as `reads.rs` does).
                std::thread::sleep(Duration::from_secs(2));
                return Ok(Answer {
                    loaded_seconds: Some(seconds),
                    ..Answer::default()
                });
            }
            Ask::ValuePuts { size, round, keep } => self.value_puts(size, round, keep)?,
            Ask::ValueGets { size, round } => Some(self.value_gets(size, round)?),
            Ask::Missing { round } => Some(self.missing(round)?),
            Ask::Zipf { round } => Some(self.zipf(round)?),
            Ask::Mixed { put_percent, round } => Some(self.mixed(put_percent, round)?),
        };
        Ok(Answer {
            rate,
            ..Answer::default()
        })
    }

    fn read_set(&self) -> Result<&dyn Store> {
        Ok(&*self
            .read_set
            .as_ref()
            .ok_or("the read set is not loaded")?
            .store)
    }

    /// Puts into a fresh store; the rate is `None` for an engine without put rows, which takes
    /// the values in untimed batched commits instead. A sample is read back after the timer.
    fn value_puts(&mut self, size: usize, round: usize, keep: bool) -> Result<Option<f64>> {
        // The last round's store goes first, should its gets not have been asked for.
        self.values = None;
        let (len, n) = (VALUE_SIZES[size].1, self.plan.value_entries[size]);
        let opened_at = Instant::now();
        let o = Opened::new(self.engine, &self.scratch)?;
        let data: Vec<([u8; 24], Vec<u8>)> = shuffled(n, 0xb16 ^ (round as u64) << 8)
            .into_iter()
            .map(|i| (key(i), big_value(&key(i), len)))
            .collect();
        std::thread::sleep(SETTLE_AFTER_OPEN.saturating_sub(opened_at.elapsed()));
        let rate = if puts(self.engine) {
            let start = Instant::now();
            for (k, v) in &data {
                o.store.put(0, k, v)?;
            }
            Some(rate(n, start.elapsed()))
        } else {
            for chunk in data.chunks((LOAD_COMMIT_BYTES / len).max(1)) {
                let items: Vec<(&[u8], &[u8])> = chunk
                    .iter()
                    .map(|(k, v)| (k.as_slice(), v.as_slice()))
                    .collect();
                o.store.put_batch(0, &items)?;
            }
            None
        };
        // Background writes of this engine end before the next engine's turn (untimed).
        o.store.settle()?;
        for (k, v) in data.iter().step_by(data.len().div_ceil(16).max(1)) {
            if o.store.get(0, k)?.as_deref() != Some(v.as_slice()) {
                return Err("a put value read back different".into());
            }
        }
        if keep {
            self.values = Some((o, size));
        }
        Ok(rate)
    }

    /// Uniformly random gets of the values [`Child::value_puts`] put; about 16 of them are
    /// checked after the timer. The store is dropped after.
    fn value_gets(&mut self, size: usize, round: usize) -> Result<f64> {
        let (o, put_size) = self.values.take().ok_or("value gets before their puts")?;
        if put_size != size {
            return Err("value gets of another size than the puts".into());
        }
        let (len, n) = (VALUE_SIZES[size].1, self.plan.value_entries[size]);
        let gets = n * GETS_PER_ENTRY;
        let mut rng = Rng::new(0x6e7 ^ ((round as u64) << 16));
        let keys: Vec<[u8; 24]> = (0..gets).map(|_| key(rng.below(n))).collect();
        let every = keys.len().div_ceil(16).max(1);
        let mut kept = Vec::new();
        let start = Instant::now();
        for (i, k) in keys.iter().enumerate() {
            let got = std::hint::black_box(o.store.get(0, k)?).ok_or("a put key was missing")?;
            if i.is_multiple_of(every) {
                kept.push((i, got));
            }
        }
        let elapsed = start.elapsed();
        if kept.iter().any(|(i, v)| *v != big_value(&keys[*i], len)) {
            return Err("a get returned a value that was not put under its key".into());
        }
        Ok(rate(gets, elapsed))
    }

    /// Gets of [`missing_key`]s, uniformly random; each must find nothing.
    fn missing(&self, round: usize) -> Result<f64> {
        let store = self.read_set()?;
        let mut rng = Rng::new(0x1155 ^ ((round as u64) << 16));
        let keys: Vec<[u8; 24]> = (0..self.plan.gets)
            .map(|_| missing_key(rng.below(self.plan.read_keys)))
            .collect();
        let start = Instant::now();
        for k in &keys {
            if std::hint::black_box(store.get(0, k)?).is_some() {
                return Err("a get of a missing key found a value".into());
            }
        }
        Ok(rate(self.plan.gets, start.elapsed()))
    }

    /// Zipfian gets: rank `r` is key `order[r]` of a fixed shuffle, so that the hot keys are
    /// scattered over the key space (YCSB's "scrambled" Zipfian) rather than neighbours in one
    /// page. Every get must find its key; one in [`CHECK_EVERY`] is checked after the timer.
    fn zipf(&mut self, round: usize) -> Result<f64> {
        let n = self.plan.read_keys;
        let (zipf, order) = self
            .zipf
            .get_or_insert_with(|| (Zipf::new(n, ZIPF_THETA), shuffled(n, 0x21bf)));
        // A seed of its own: the shuffle's would draw the shuffle's own numbers in round 0.
        let mut rng = Rng::new(0x2f1a ^ ((round as u64) << 16));
        let keys: Vec<[u8; 24]> = (0..self.plan.gets)
            .map(|_| key(order[zipf.sample(&mut rng) as usize]))
            .collect();
        let store = self.read_set()?;
        let mut kept = Vec::new();
        let start = Instant::now();
        for (i, k) in keys.iter().enumerate() {
            let got = std::hint::black_box(store.get(0, k)?).ok_or("a loaded key was missing")?;
            if i.is_multiple_of(CHECK_EVERY) {
                kept.push((k, got));
            }
        }
        let elapsed = start.elapsed();
        check(&kept)?;
        Ok(rate(self.plan.gets, elapsed))
    }

    /// [`MIXED_THREADS`] threads, each running its own list of gets and puts (built before the
    /// timer) over uniformly random keys of the read set. A put overwrites its key with the
    /// value it was loaded with, so that every sampled get can still be checked.
    fn mixed(&self, put_percent: u64, round: usize) -> Result<f64> {
        let store = self.read_set()?;
        let per_thread = self.plan.mixed_ops / MIXED_THREADS as u64;
        let ops: Vec<Vec<Op>> = (0..MIXED_THREADS)
            .map(|t| {
                let mut rng = Rng::new(0x313 ^ ((round as u64) << 16) ^ ((t as u64) << 8));
                (0..per_thread)
                    .map(|_| {
                        let key = key(rng.below(self.plan.read_keys));
                        let put = rng.below(100) < put_percent;
                        let value = put.then(|| value_for(&key));
                        Op { key, value }
                    })
                    .collect()
            })
            .collect();
        let kept: Vec<Mutex<Sampled>> = (0..MIXED_THREADS).map(|_| Mutex::default()).collect();
        let elapsed = timed_threads(MIXED_THREADS, |t| {
            let mut sampled = Vec::new();
            for (i, op) in ops[t].iter().enumerate() {
                if let Some(value) = &op.value {
                    store.put(t, &op.key, value)?;
                } else {
                    let Some(got) = std::hint::black_box(store.get(t, &op.key)?) else {
                        // Only where another thread's overwrite of the key was in flight.
                        if store.overwrite_is_atomic() {
                            return Err("a loaded key was missing".into());
                        }
                        continue;
                    };
                    if i.is_multiple_of(CHECK_EVERY) {
                        sampled.push((i, got));
                    }
                }
            }
            *kept[t].lock().map_err(|_| "poisoned")? = sampled;
            Ok(())
        })?;
        // Background writes of this engine end before the next engine's turn (untimed).
        store.settle()?;
        for (t, sampled) in kept.into_iter().enumerate() {
            let sampled = sampled.into_inner().map_err(|_| "poisoned")?;
            let pairs: Vec<_> = sampled
                .into_iter()
                .map(|(i, v)| (&ops[t][i].key, v))
                .collect();
            check(&pairs)?;
        }
        Ok(rate(per_thread * MIXED_THREADS as u64, elapsed))
    }
}
