//! The workloads users will run themselves (the performance issue's item 7), a second batch:
//! scans beyond the 1,000-key prefix (100,000 keys under one prefix, the whole 1M-key read set,
//! 1,000-key ranges that are not a prefix); fresh-key puts on 4 threads; puts then deletes of
//! every key, and a scan over what the deletes left; overwrites of 1,000 keys; puts with a
//! time to live (in-mem only: no peer here has one); contended read-modify-writes of 16 keys
//! on 4 threads; runs begun and ended (in-mem only: the peers have no runs).
//!
//! Run as the first batch is (`workloads.rs`): each engine in a child process of its own,
//! answering one workload and round per request, the engines interleaved round by round after
//! a warm-up round; the write rows in a first set of children (a fresh store per row and
//! round), the scan rows in a second, which loads the read set as `reads.rs` does. Keys and
//! values are built before each timer; values are checked after it. in-mem runs in Batched, and
//! once more in Async for the 4-thread puts; the peers without a sync per commit, fjall once
//! more with a sync every 100 ms; LMDB (which syncs every commit) only in the scan rows.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::bench::{Results, Scratch, round_name};
use crate::engines::{Engine, FjallMode, InMemMode, Pairs, Result};
use crate::reads::{Answer, CHECK_EVERY, Reader, load};
use crate::workload::{Plan, key, shuffled, value_for};
use crate::workloads::{Opened, SETTLE_AFTER_OPEN, count, load_in_turn, serve};

mod scans;
mod writes;

/// The engines, each in a child process of its own.
pub const ENGINES: [Engine; 9] = [
    Engine::InMem(InMemMode::Batched),
    Engine::InMem(InMemMode::Async),
    Engine::SkipMap,
    Engine::Redb { durable: false },
    Engine::Fjall(FjallMode::Plain),
    Engine::Fjall(FjallMode::SyncLikeBatched),
    Engine::Sled { durable: false },
    Engine::Lmdb,
    Engine::Sqlite { durable: false },
];

const BATCHED: Engine = Engine::InMem(InMemMode::Batched);
const ASYNC: Engine = Engine::InMem(InMemMode::Async);

/// Threads of the 4-thread puts and of the contended read-modify-writes.
const THREADS: usize = 4;
/// Keys the contended read-modify-writes share.
const CAS_KEYS: u64 = 16;
/// Keys the overwrites share.
const OVERWRITTEN_KEYS: u64 = 1_000;
/// The time to live of the TTL puts.
const TTL: Duration = Duration::from_millis(100);
/// Scans of the emptied key space after the deletes.
const EMPTY_SCANS: u64 = 10;
/// Keys in each range scan.
const RANGE_KEYS: u64 = 1_000;
/// Keys under the big scan's prefix.
const BIG_SCAN_KEYS: u64 = 100_000;

/// Whether `engine` runs the write rows (LMDB syncs every commit: not like for like). in-mem
/// Async runs only the 4-thread puts.
fn writes(engine: Engine) -> bool {
    engine != Engine::Lmdb
}

/// Whether `engine` runs the scan rows (in-mem Async and fjall with a sync thread read as
/// in-mem Batched and plain fjall do).
fn reads(engine: Engine) -> bool {
    engine != ASYNC && engine != Engine::Fjall(FjallMode::SyncLikeBatched)
}
/// Engines with an atomic read-modify-write (the raw `SkipMap` has no transactions).
fn transactional(engine: Engine) -> bool {
    writes(engine) && engine != ASYNC && engine != Engine::SkipMap
}

/// The rows of the report's table, with what each measures (sizes from `plan`).
pub fn rows(plan: &Plan) -> Vec<(String, String)> {
    let p = plan.second;
    let read_set = format!("the {}-key read set", count(plan.read_keys));
    let deletes = count(p.deletes);
    [
        (
            "scan_100k",
            format!(
                "{} scans of the 100,000 keys under one prefix of {read_set}; keys/s",
                p.scans_100k
            ),
        ),
        (
            "iterate_all",
            format!("one pass over all of {read_set} (and its 1,000 scan keys); keys/s"),
        ),
        (
            "range_1k",
            format!(
                "{} scans of 1,000 keys from a random start (not a prefix: in-mem's \
                 `Database::range`); keys/s",
                count(p.ranges)
            ),
        ),
        (
            "write_4t",
            format!(
                "{} puts of fresh keys (random order, one commit each) on {THREADS} threads into \
                 an empty store; in-mem Batched",
                count(p.writes_4t)
            ),
        ),
        (
            "write_4t_async",
            "the same, in-mem Async (the peers' figures repeat the row above)".to_string(),
        ),
        (
            "fresh_put_1t",
            format!(
                "{deletes} puts of fresh keys, random order, one commit each, 1 thread, into an \
                 empty store"
            ),
        ),
        (
            "delete_all_1t",
            format!("then {deletes} deletes of those keys, another random order, one commit each"),
        ),
        (
            "scan_deleted",
            format!("then {EMPTY_SCANS} scans of their (now empty) prefix; scans/s"),
        ),
        (
            "overwrite_1k",
            format!(
                "{} puts over {} keys (overwrites), uniformly random, one commit each, 1 thread",
                count(p.overwrites),
                count(OVERWRITTEN_KEYS)
            ),
        ),
        (
            "ttl_put_1t",
            format!(
                "{deletes} puts of fresh keys with a {} ms time to live, one commit each (in-mem \
                 only: no peer has a TTL)",
                TTL.as_millis()
            ),
        ),
        (
            "cas_16_keys_4t",
            format!(
                "{} read-modify-writes (an 8-byte counter + 1) of {CAS_KEYS} keys on {THREADS} \
                 threads, committed/s (in-mem: a transaction with retry; not the SkipMap, which \
                 has no transactions)",
                count(p.cas)
            ),
        ),
        (
            "cas_retries",
            "conflicts retried per second in the row above (in-mem only)".to_string(),
        ),
        (
            "runs_begin_end",
            format!(
                "{} runs begun and ended, one after another (in-mem only: the peers have no runs)",
                count(p.runs)
            ),
        ),
    ]
    .into_iter()
    .map(|(row, what)| (row.to_string(), what))
    .collect()
}

/// What the parent asks a child to do.
#[derive(Debug, Serialize, Deserialize)]
enum Ask {
    Load,
    Scan100k {
        round: usize,
    },
    IterateAll {
        round: usize,
    },
    Ranges {
        round: usize,
    },
    Write4t {
        round: usize,
    },
    /// Fresh puts into a new store, kept for the deletes.
    PutFresh {
        round: usize,
    },
    Deletes {
        round: usize,
    },
    /// Scans of the deleted keys' prefix; then the store is dropped.
    ScanDeleted {
        round: usize,
    },
    Overwrites {
        round: usize,
    },
    Ttl {
        round: usize,
    },
    Cas {
        round: usize,
    },
    Runs {
        round: usize,
    },
}

/// Runs the second batch, one child process per engine of [`ENGINES`].
pub fn workloads(plan: &Plan, scratch: &Scratch, results: &mut Results) -> Result<()> {
    let mut children = spawn(plan, scratch.root(), writes)?;
    let outcome = write_rows(plan, &mut children, results);
    children.into_iter().for_each(Reader::finish);
    outcome?;
    let mut children = spawn(plan, scratch.root(), reads)?;
    let outcome = load_in_turn(&mut children, &Ask::Load);
    let outcome = outcome.and_then(|()| scan_rows(plan, &mut children, results));
    children.into_iter().for_each(Reader::finish);
    results.warming = false;
    outcome
}

fn spawn(plan: &Plan, scratch: &Path, which: fn(Engine) -> bool) -> Result<Vec<Reader>> {
    ENGINES
        .into_iter()
        .filter(|e| which(*e))
        .map(|e| Reader::spawn_as("--workload2-child", e, plan, scratch))
        .collect()
}

fn rate_of(c: &mut Reader, ask: &Ask) -> Result<f64> {
    c.ask(ask)?.rate.ok_or_else(|| "no rate".into())
}

fn write_rows(plan: &Plan, children: &mut [Reader], results: &mut Results) -> Result<()> {
    for round in 0..=plan.rounds {
        results.warming = round == 0;
        for c in children.iter_mut() {
            let r = rate_of(c, &Ask::Write4t { round })?;
            if c.engine == ASYNC {
                results.add("write_4t_async", c.engine, r);
            } else {
                results.add("write_4t", c.engine, r);
                if !c.engine.is_in_mem() {
                    results.add("write_4t_async", c.engine, r);
                }
            }
        }
        for c in children.iter_mut().filter(|c| c.engine != ASYNC) {
            results.add(
                "fresh_put_1t",
                c.engine,
                rate_of(c, &Ask::PutFresh { round })?,
            );
            results.add(
                "delete_all_1t",
                c.engine,
                rate_of(c, &Ask::Deletes { round })?,
            );
            results.add(
                "scan_deleted",
                c.engine,
                rate_of(c, &Ask::ScanDeleted { round })?,
            );
        }
        for c in children.iter_mut().filter(|c| c.engine != ASYNC) {
            results.add(
                "overwrite_1k",
                c.engine,
                rate_of(c, &Ask::Overwrites { round })?,
            );
        }
        for c in children.iter_mut().filter(|c| transactional(c.engine)) {
            let answer = c.ask(&Ask::Cas { round })?;
            let r = answer.rate.ok_or("no rate")?;
            results.add("cas_16_keys_4t", c.engine, r);
            if c.engine.is_in_mem() {
                let retried = answer.retried.unwrap_or(0);
                // Counts stay far below 2^52: the conversion is exact.
                #[allow(clippy::cast_precision_loss)]
                let per_second = retried as f64 * r / plan.second.cas as f64;
                results.add("cas_retries", c.engine, per_second);
                eprintln!(
                    "  in-mem: {retried} conflicts retried for {} updates",
                    plan.second.cas
                );
            }
        }
        for c in children.iter_mut().filter(|c| c.engine == BATCHED) {
            results.add("ttl_put_1t", c.engine, rate_of(c, &Ask::Ttl { round })?);
            results.add(
                "runs_begin_end",
                c.engine,
                rate_of(c, &Ask::Runs { round })?,
            );
        }
        eprintln!("  write rows: {} done", round_name(round, plan.rounds));
    }
    Ok(())
}

fn scan_rows(plan: &Plan, children: &mut [Reader], results: &mut Results) -> Result<()> {
    for round in 0..=plan.rounds {
        results.warming = round == 0;
        for (row, ask) in [
            ("scan_100k", Ask::Scan100k { round }),
            ("iterate_all", Ask::IterateAll { round }),
            ("range_1k", Ask::Ranges { round }),
        ] {
            for c in children.iter_mut() {
                results.add(row, c.engine, rate_of(c, &ask)?);
            }
        }
        eprintln!("  scan rows: {} done", round_name(round, plan.rounds));
    }
    Ok(())
}

/// A child's state between requests.
struct Child {
    engine: Engine,
    plan: Plan,
    scratch: PathBuf,
    read_set: Option<Opened>,
    /// The store of the fresh puts, with the keys in the order the deletes take them.
    kept: Option<(Opened, Vec<[u8; 24]>)>,
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
        kept: None,
    };
    serve(|ask: Ask| me.run(&ask))
}

/// The seed of one workload's round.
fn seed(workload: u64, round: usize) -> u64 {
    (workload << 24) ^ ((round as u64) << 8)
}

/// Fresh keys `0..n` in a random order, with their values.
fn fresh(n: u64, seed: u64) -> Vec<([u8; 24], [u8; 100])> {
    shuffled(n, seed)
        .into_iter()
        .map(|i| {
            let k = key(i);
            (k, value_for(&k))
        })
        .collect()
}

/// A store opened for one round, once [`SETTLE_AFTER_OPEN`] has passed since `opened_at`.
fn settled(o: Opened, opened_at: Instant) -> Opened {
    std::thread::sleep(SETTLE_AFTER_OPEN.saturating_sub(opened_at.elapsed()));
    o
}

/// The counter in a read-modify-write's value, plus one.
fn increment(current: Option<&[u8]>) -> Vec<u8> {
    let n = current
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes);
    (n + 1).to_le_bytes().to_vec()
}

/// Checks a scan's rows: `len` keys, those of `expected` in order, one value in
/// [`CHECK_EVERY`] as loaded.
fn check_rows(rows: &Pairs, len: u64, expected: impl Iterator<Item = [u8; 24]>) -> Result<()> {
    if rows.len() as u64 != len {
        return Err(format!("a scan listed {} keys, not {len}", rows.len()).into());
    }
    for (i, ((k, v), e)) in rows.iter().zip(expected).enumerate() {
        if k.as_slice() != e {
            return Err("a scan listed the wrong keys".into());
        }
        if i.is_multiple_of(CHECK_EVERY) && v.as_slice() != value_for(&e) {
            return Err("a scan listed a value that was not loaded under its key".into());
        }
    }
    Ok(())
}

impl Child {
    fn run(&mut self, ask: &Ask) -> Result<Answer> {
        let (rate, retried) = match *ask {
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
            Ask::Scan100k { .. } => (self.scan_100k()?, None),
            Ask::IterateAll { .. } => (self.iterate_all()?, None),
            Ask::Ranges { round } => (self.ranges(round)?, None),
            Ask::Write4t { round } => (self.write_4t(round)?, None),
            Ask::PutFresh { round } => (self.put_fresh(round)?, None),
            Ask::Deletes { .. } => (self.deletes()?, None),
            Ask::ScanDeleted { .. } => (self.scan_deleted()?, None),
            Ask::Overwrites { round } => (self.overwrites(round)?, None),
            Ask::Ttl { round } => (self.ttl_puts(round)?, None),
            Ask::Cas { round } => {
                let (rate, retried) = self.cas(round)?;
                (rate, Some(retried))
            }
            Ask::Runs { .. } => (self.runs()?, None),
        };
        Ok(Answer {
            rate: Some(rate),
            retried,
            ..Answer::default()
        })
    }

    fn read_set(&self) -> Result<&Opened> {
        self.read_set
            .as_ref()
            .ok_or_else(|| "the read set is not loaded".into())
    }

    fn open(&self) -> Result<(Opened, Instant)> {
        let opened_at = Instant::now();
        Ok((Opened::new(self.engine, &self.scratch)?, opened_at))
    }
}
