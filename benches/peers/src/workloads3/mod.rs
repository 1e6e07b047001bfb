//! The workloads users will run themselves (the performance issue's item 7), a third batch:
//! commit latency percentiles with 1 and 8 writers (Strict beside the peers' durable commits,
//! Batched and Async beside their commits without a sync); get latency on the 1M-key read set
//! while Strict writers commit; a sustained write run long enough to cross in-mem's log segment
//! rotations and background checkpoints; and data sets of 1M one-put commits and of 10M keys:
//! their load, disk bytes and resident memory per entry, the cold open (a fresh process: open
//! and the first get) and random gets after it.
//!
//! Each engine runs in child processes of this binary, as in the other batches: one child per
//! engine for the latency rows (its commit store and its read set live there, the engines
//! interleaved round by round after a warm-up round), one per engine for the sustained run,
//! and two per engine and data set (one loads the data set and exits; a fresh one opens it).
//! The data sets are made once (no rounds): they take minutes each.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bench::{Results, Scratch, round_name};
use crate::engines::{DURABLE, Engine, FjallMode, InMemMode, Result};
use crate::reads::{Answer, Reader};
use crate::workload::Plan;

mod child;
mod table;

pub use child::child;
pub use table::markdown;

/// Writer counts of the commit latency rows.
pub const WRITERS: [usize; 2] = [1, 8];
/// Strict writers beside the timed gets.
pub const WRITERS_BESIDE_GETS: usize = 2;

/// The engines whose commits without a sync per commit are timed, and that run the sustained
/// writes: in-mem Batched and Async beside each peer's write path without a sync (fjall also
/// on Batched's sync schedule). LMDB syncs every commit (its no-sync flag needs `unsafe` in
/// heed 0.11).
pub const NOSYNC: [Engine; 7] = [
    Engine::InMem(InMemMode::Batched),
    Engine::InMem(InMemMode::Async),
    Engine::Redb { durable: false },
    Engine::Fjall(FjallMode::Plain),
    Engine::Fjall(FjallMode::SyncLikeBatched),
    Engine::Sled { durable: false },
    Engine::Sqlite { durable: false },
];

/// The engines of the data sets: each peer without a sync per commit (LMDB with one: see
/// [`per_commit`]) and in-mem in its default mode.
pub const DATA_SET: [Engine; 6] = [
    Engine::InMem(InMemMode::Batched),
    Engine::Redb { durable: false },
    Engine::Fjall(FjallMode::Plain),
    Engine::Sled { durable: false },
    Engine::Lmdb,
    Engine::Sqlite { durable: false },
];

/// Puts per commit in the one-put data set for LMDB: its every commit syncs (~130 us here), so
/// 1M one-put commits would take minutes; it gets commits of 100 puts instead.
const LMDB_PUTS_PER_COMMIT: u64 = 100;
/// Puts per commit of the big data set.
const BIG_PUTS_PER_COMMIT: u64 = 1_000;

/// How a child of this batch is named: the group and the engine (`redb` names two modes).
fn child_name(group: Group, engine: Engine) -> String {
    format!("{}:{}", group.prefix(), engine.name())
}

/// The three kinds of child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    Durable,
    NoSync,
    DataSet,
}

impl Group {
    fn prefix(self) -> &'static str {
        match self {
            Group::Durable => "durable",
            Group::NoSync => "nosync",
            Group::DataSet => "data",
        }
    }

    fn engines(self) -> &'static [Engine] {
        match self {
            Group::Durable => &DURABLE,
            Group::NoSync => &NOSYNC,
            Group::DataSet => &DATA_SET,
        }
    }

    /// The engine a child's name stands for.
    pub(crate) fn parse(name: &str) -> Result<(Group, Engine)> {
        [Group::Durable, Group::NoSync, Group::DataSet]
            .into_iter()
            .find_map(|g| {
                let engine = name.strip_prefix(g.prefix())?.strip_prefix(':')?;
                let e = g.engines().iter().find(|e| e.name() == engine)?;
                Some((g, *e))
            })
            .ok_or_else(|| format!("no third-batch engine {name}").into())
    }
}

/// What the parent asks a child to do.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Ask {
    /// `commits` one-put commits of fresh keys split over `writers` threads, each timed.
    Commits {
        writers: usize,
        commits: u64,
        round: usize,
    },
    /// Load the read set (as `reads.rs` does).
    Load,
    /// Individually timed random gets on one thread, with `writers` threads committing
    /// (one put each) as fast as they can meanwhile.
    Gets {
        writers: usize,
        gets: u64,
        round: usize,
    },
    /// One writer putting fresh keys for `seconds`.
    Sustained { seconds: u64 },
    /// Put `keys` fresh keys in a random order into a new store in `dir`, `per_commit` a commit,
    /// then close it.
    LoadDataSet {
        dir: std::path::PathBuf,
        keys: u64,
        per_commit: u64,
    },
    /// Open the store in `dir` (its `keys` keys loaded by `LoadDataSet`), get one key, then make
    /// `gets` random gets.
    OpenDataSet {
        dir: std::path::PathBuf,
        keys: u64,
        gets: u64,
    },
}

/// What the third batch measured (report.json keeps it whole).
#[derive(Debug, Default, Serialize)]
pub struct Third {
    /// row -> engine -> commit (or get) latencies in nanoseconds, pooled over rounds.
    #[serde(skip)]
    pub latency_ns: BTreeMap<String, BTreeMap<String, Vec<u32>>>,
    /// row -> engine -> per-round rates (commits or gets a second).
    pub rates: BTreeMap<String, BTreeMap<String, Vec<f64>>>,
    /// Writers' commits a second beside the timed gets, per engine, per round.
    pub writers_beside_gets: BTreeMap<String, Vec<f64>>,
    pub sustained: Vec<Sustained>,
    pub data_sets: Vec<DataSet>,
}

impl Third {
    fn add(&mut self, row: &str, engine: Engine, warming: bool, answer: Answer) {
        if warming {
            return;
        }
        let name = engine.name().to_string();
        if let Some(rate) = answer.rate {
            let rates = self.rates.entry(row.to_string()).or_default();
            rates.entry(name.clone()).or_default().push(rate);
        }
        let pooled = self.latency_ns.entry(row.to_string()).or_default();
        pooled.entry(name).or_default().extend(answer.samples);
    }
}

/// One engine's sustained write run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sustained {
    pub engine: String,
    pub puts: u64,
    pub seconds: f64,
    /// Puts in each whole second of the run.
    pub per_second: Vec<u64>,
    /// Commit latency percentiles (p50, p99, p99.9, p99.99) and the maximum, in microseconds.
    pub latency_us: [f64; 5],
    /// What making each put's key and value cost the loop, in nanoseconds (measured apart).
    pub making_ns: f64,
    /// Bytes on disk after the run.
    pub disk_bytes: u64,
}

/// One engine's data set: its load, its size, and its cold open.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DataSet {
    pub name: String,
    pub engine: String,
    pub keys: u64,
    pub puts_per_commit: u64,
    pub load_seconds: f64,
    /// Resident memory the load added to the loading process, per entry.
    pub resident_per_entry: f64,
    /// Disk bytes (allocated blocks) after the store was closed, per entry.
    pub disk_per_entry: f64,
    /// A fresh process: the open and the first get.
    pub open_seconds: f64,
    /// Resident memory of the fresh process after the open, per entry.
    pub open_resident_per_entry: f64,
    /// Random gets a second right after the open.
    pub gets_per_second: f64,
}

/// Runs the third batch.
pub fn workloads(plan: &Plan, scratch: &Scratch, results: &mut Results) -> Result<()> {
    let third = &mut results.third;
    latency_rows(plan, scratch.root(), third)?;
    sustained_rows(plan, scratch.root(), third)?;
    data_set_rows(plan, scratch.root(), third)
}

fn spawn(plan: &Plan, scratch: &Path, group: Group) -> Result<Vec<Reader>> {
    group
        .engines()
        .iter()
        .map(|&e| {
            let name = child_name(group, e);
            Reader::spawn_named("--workload3-child", &name, e, plan, scratch)
        })
        .collect()
}

/// The commit latency rows, and the gets beside Strict writers.
fn latency_rows(plan: &Plan, scratch: &Path, third: &mut Third) -> Result<()> {
    let sizes = plan.third;
    for (group, commits, prefix) in [
        (Group::Durable, sizes.strict_commits, "strict"),
        (Group::NoSync, sizes.nosync_commits, "nosync"),
    ] {
        let mut children = spawn(plan, scratch, group)?;
        let outcome = (0..=plan.rounds).try_for_each(|round| {
            for writers in WRITERS {
                let row = format!("{prefix}_commit_{writers}w");
                for c in &mut children {
                    let answer = c.ask(&Ask::Commits {
                        writers,
                        commits,
                        round,
                    })?;
                    third.add(&row, c.engine, round == 0, answer);
                }
            }
            eprintln!(
                "  {prefix} commits: {} done",
                round_name(round, plan.rounds)
            );
            Ok::<(), crate::engines::Error>(())
        });
        let outcome = outcome.and_then(|()| {
            if group == Group::Durable {
                gets_beside_writers(plan, &mut children, third)
            } else {
                Ok(())
            }
        });
        children.into_iter().for_each(Reader::finish);
        outcome?;
    }
    Ok(())
}

fn gets_beside_writers(plan: &Plan, children: &mut [Reader], third: &mut Third) -> Result<()> {
    crate::workloads::load_in_turn(children, &Ask::Load)?;
    let gets = plan.third.gets_beside_writers;
    for round in 0..=plan.rounds {
        for c in children.iter_mut() {
            let idle = c.ask(&Ask::Gets {
                writers: 0,
                gets,
                round,
            })?;
            third.add("get_idle", c.engine, round == 0, idle);
            let beside = c.ask(&Ask::Gets {
                writers: WRITERS_BESIDE_GETS,
                gets,
                round,
            })?;
            if round > 0 {
                let commits = beside
                    .detail
                    .as_ref()
                    .and_then(|d| d["writer_rate"].as_f64());
                let rates = third
                    .writers_beside_gets
                    .entry(c.engine.name().to_string())
                    .or_default();
                rates.push(commits.ok_or("no writer rate")?);
            }
            third.add("get_beside_strict", c.engine, round == 0, beside);
        }
        eprintln!(
            "  gets beside writers: {} done",
            round_name(round, plan.rounds)
        );
    }
    Ok(())
}

fn sustained_rows(plan: &Plan, scratch: &Path, third: &mut Third) -> Result<()> {
    for &engine in &NOSYNC {
        let mut c = Reader::spawn_named(
            "--workload3-child",
            &child_name(Group::NoSync, engine),
            engine,
            plan,
            scratch,
        )?;
        let answer = c.ask(&Ask::Sustained {
            seconds: plan.third.sustained_seconds,
        });
        c.finish();
        let detail = answer?.detail.ok_or("no sustained summary")?;
        let run: Sustained = serde_json::from_value(detail)?;
        eprintln!(
            "  sustained {}: {} puts in {:.1} s",
            run.engine, run.puts, run.seconds
        );
        third.sustained.push(run);
    }
    Ok(())
}

/// Puts per commit of data set `set` (0: one-put commits; 1: the big set) for `engine`.
fn per_commit(set: usize, engine: Engine) -> u64 {
    match (set, engine) {
        (0, Engine::Lmdb) => LMDB_PUTS_PER_COMMIT,
        (0, _) => 1,
        _ => BIG_PUTS_PER_COMMIT,
    }
}

/// The data set's name in the report.
pub fn data_set_name(set: usize, keys: u64) -> String {
    let keys = crate::workloads::count(keys);
    if set == 0 {
        format!("{keys} one-put commits")
    } else {
        format!("{keys} keys")
    }
}

fn data_set_rows(plan: &Plan, scratch: &Path, third: &mut Third) -> Result<()> {
    for (set, keys) in plan.third.data_set_keys.into_iter().enumerate() {
        for &engine in &DATA_SET {
            let name = child_name(Group::DataSet, engine);
            let dir = scratch.join(format!("data-set-{}", engine.name().replace(' ', "-")));
            let _ = std::fs::remove_dir_all(&dir);
            let ask_child = |ask: &Ask| {
                let mut c = Reader::spawn_named("--workload3-child", &name, engine, plan, scratch)?;
                let answer = c.ask(ask);
                c.finish();
                answer?.detail.ok_or_else(|| "no data set summary".into())
            };
            let puts_per_commit = per_commit(set, engine);
            let loaded = ask_child(&Ask::LoadDataSet {
                dir: dir.clone(),
                keys,
                per_commit: puts_per_commit,
            });
            let opened = loaded.and_then(|loaded| {
                let opened = ask_child(&Ask::OpenDataSet {
                    dir: dir.clone(),
                    keys,
                    gets: plan.third.open_gets,
                })?;
                Ok::<_, crate::engines::Error>((loaded, opened))
            });
            let _ = std::fs::remove_dir_all(&dir);
            let (loaded, opened) = opened?;
            let field = |v: &serde_json::Value, f: &str| {
                v[f].as_f64()
                    .ok_or_else(|| format!("the data set child gave no {f}"))
            };
            let entry = DataSet {
                name: data_set_name(set, keys),
                engine: engine.name().to_string(),
                keys,
                puts_per_commit,
                load_seconds: field(&loaded, "load_seconds")?,
                resident_per_entry: field(&loaded, "resident_per_entry")?,
                disk_per_entry: field(&loaded, "disk_per_entry")?,
                open_seconds: field(&opened, "open_seconds")?,
                open_resident_per_entry: field(&opened, "resident_per_entry")?,
                gets_per_second: field(&opened, "gets_per_second")?,
            };
            eprintln!(
                "  {}, {}: loaded in {:.1} s, opened in {:.3} s",
                entry.name, entry.engine, entry.load_seconds, entry.open_seconds
            );
            third.data_sets.push(entry);
        }
    }
    Ok(())
}
