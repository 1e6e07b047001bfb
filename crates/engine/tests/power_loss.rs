//! Simulated power loss under a whole `Database`, in each durability mode.
//!
//! A seeded workload (puts, deletes, TTL puts, two agents, runs begun and ended, flushes) runs
//! over a recording `SimFs`; every operation's commit version and the I/O call count when it
//! returned (its acknowledgement) are noted. Then the crash point is stepped through every I/O
//! call of the run (every write, fdatasync, `set_len`, create, rename, remove, directory sync),
//! and at each one the disk a power loss could leave (exactly the durable bytes, plus
//! `IN_MEM_POWER_LOSS_SEEDS` random images, default 1) is opened and checked against the
//! oracles of docs/TESTING.md:
//! - `open` succeeds (it never panics, and out-of-order loss of unsynced writes is cut);
//! - the state is exactly the workload's state at the recovered version `v`: every agent's
//!   keys, values, versions and TTLs, every run's status, the interrupted runs reported, and
//!   nothing the workload did not write (a prefix of the commit order: no holes);
//! - nothing a completed fdatasync covered is lost: `v` is at least what the durable bytes
//!   alone give; in `Strict` mode every acknowledged commit is kept;
//! - recovery is idempotent: recovering again gives the same records and a clean log, and so
//!   does recovering after a crash at any I/O call of the first recovery.
//!
//! `Batched` and `Async` lose acknowledged commits only from the end (the prefix check); how
//! many is timing (their intervals), so it is reported, not asserted.
//! `IN_MEM_POWER_LOSS_STEPS` lengthens the workload (default 100 operations).

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::{AgentId, RunId, Version};
use in_mem_durability::{CommitRecord, DataDir, SimFs, TailState, Wal, WalOptions, WalRecovery};
use in_mem_engine::{Database, DurabilityMode, RunStatus};

const TTL: Duration = Duration::from_secs(3600);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A small seeded generator (xorshift), so that the workload is the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn agents() -> [AgentId; 2] {
    [
        AgentId::default_agent(),
        AgentId::new("tenant", "app", "other"),
    ]
}

/// What one acknowledged operation committed.
#[derive(Debug, Clone)]
enum Kind {
    Begin {
        run: RunId,
    },
    End {
        run: RunId,
    },
    Put {
        agent: usize,
        key: String,
        value: Vec<u8>,
        ttl: bool,
    },
    Delete {
        agent: usize,
        key: String,
    },
}

#[derive(Debug, Clone)]
struct Op {
    version: u64,
    /// I/O calls made when the operation returned.
    acked_at: u64,
    kind: Kind,
}

/// Runs the workload; returns its operations in commit order.
fn workload(db: &Database, fs: &SimFs, mode: DurabilityMode, steps: u64, seed: u64) -> Vec<Op> {
    let agents = agents();
    let mut rng = Rng(seed | 1);
    let mut ops = Vec::new();
    let visible = |db: &Database| db.stats().visible_version;
    let note = |ops: &mut Vec<Op>, version: u64, kind: Kind| {
        ops.push(Op {
            version,
            acked_at: fs.io_count(),
            kind,
        });
    };
    let mut active: Vec<(RunId, usize)> = Vec::new();
    for (agent, id) in agents.iter().enumerate() {
        let run = db.begin_run_in(id).unwrap();
        note(&mut ops, visible(db), Kind::Begin { run });
        active.push((run, agent));
    }
    let mut live: [BTreeSet<String>; 2] = Default::default();
    for step in 0..steps {
        let (run, agent) = active[rng.below(active.len() as u64) as usize];
        let key = format!("k{}", rng.below(10));
        match rng.below(100) {
            0..=64 => {
                let ttl = rng.below(4) == 0;
                let len = 1 + rng.below(250) as usize;
                let value: Vec<u8> = format!("{step}:{}", "v".repeat(len)).into_bytes();
                let version = if ttl {
                    db.put_with_ttl(run, &key, &value, TTL).unwrap()
                } else {
                    db.put(run, &key, &value).unwrap()
                };
                live[agent].insert(key.clone());
                note(
                    &mut ops,
                    version,
                    Kind::Put {
                        agent,
                        key,
                        value,
                        ttl,
                    },
                );
            }
            65..=79 => {
                let key = live[agent].iter().next().cloned().unwrap_or(key);
                if db.delete(run, &key).unwrap() {
                    live[agent].remove(&key);
                    note(&mut ops, visible(db), Kind::Delete { agent, key });
                }
            }
            80..=89 => {
                db.end_run(run).unwrap();
                note(&mut ops, visible(db), Kind::End { run });
                active.retain(|(r, _)| *r != run);
                let agent = rng.below(2) as usize;
                let run = db.begin_run_in(&agents[agent]).unwrap();
                note(&mut ops, visible(db), Kind::Begin { run });
                active.push((run, agent));
            }
            _ => {
                if mode != DurabilityMode::Strict {
                    db.flush().unwrap();
                }
            }
        }
    }
    for (i, op) in ops.iter().enumerate() {
        assert_eq!(
            op.version,
            i as u64 + 1,
            "one committer: versions are its own"
        );
    }
    ops
}

/// A key's value, the version that wrote it, and whether it has a time to live.
type Entry = (Vec<u8>, u64, bool);

/// What the workload's state was at version `v`.
#[derive(Default)]
struct Model {
    keys: [BTreeMap<Vec<u8>, Entry>; 2],
    /// Runs begun, and whether they ended.
    runs: BTreeMap<RunId, bool>,
}

fn model_at(ops: &[Op], v: u64) -> Model {
    let mut m = Model::default();
    for op in ops.iter().filter(|op| op.version <= v) {
        match &op.kind {
            Kind::Begin { run } => {
                m.runs.insert(*run, false);
            }
            Kind::End { run } => {
                m.runs.insert(*run, true);
            }
            Kind::Put {
                agent,
                key,
                value,
                ttl,
            } => {
                m.keys[*agent].insert(key.clone().into_bytes(), (value.clone(), op.version, *ttl));
            }
            Kind::Delete { agent, key } => {
                m.keys[*agent].remove(key.as_bytes());
            }
        }
    }
    m
}

/// Opens `image` and checks it holds exactly the workload's state at the version it recovered;
/// returns that version and the report.
fn check_image(image: &SimFs, path: &Path, ops: &[Op], context: &str) -> (u64, u64) {
    let db = Database::open_with_options(path, common::sim_options(image, DurabilityMode::Strict))
        .unwrap_or_else(|e| panic!("{context}: open failed: {e}"));
    let report = db.recovery_report().clone();
    let v = report.last_version;
    assert!(v <= ops.len() as u64, "{context}: v{v} was never written");
    let model = model_at(ops, v);
    let agents = agents();
    for (agent, keys) in model.keys.iter().enumerate() {
        let reader = db.begin_run_in(&agents[agent]).unwrap();
        let listed = db.list(reader, b"").unwrap();
        let expected: Vec<(Vec<u8>, Vec<u8>)> = keys
            .iter()
            .map(|(k, (value, _, _))| (k.clone(), value.clone()))
            .collect();
        assert_eq!(listed, expected, "{context}: agent {agent} at v{v}");
        for (key, (_, version, ttl)) in keys {
            let got = db.get_versioned(reader, key).unwrap().unwrap();
            assert_eq!(got.version, *version, "{context}: version of {key:?}");
            assert_eq!(got.ttl, ttl.then_some(TTL), "{context}: ttl of {key:?}");
        }
    }
    let mut interrupted = Vec::new();
    for op in ops {
        if let Kind::Begin { run } = &op.kind {
            match model.runs.get(run) {
                Some(ended) => {
                    let status = db.run_info(*run).unwrap().status;
                    let expected = if *ended {
                        RunStatus::Completed
                    } else {
                        interrupted.push(*run);
                        RunStatus::Interrupted
                    };
                    assert_eq!(status, expected, "{context}: run begun at v{}", op.version);
                }
                None => assert!(db.run_info(*run).is_err(), "{context}: run from the future"),
            }
        }
    }
    let mut reported = report.interrupted_runs.clone();
    reported.sort_unstable();
    interrupted.sort_unstable();
    assert_eq!(reported, interrupted, "{context}: interrupted runs");
    db.close().unwrap();
    (v, report.records_dropped)
}

fn wal_records(fs: &SimFs, path: &Path) -> (Vec<CommitRecord>, WalRecovery) {
    let dir = DataDir::open(Arc::new(fs.clone()), path).unwrap();
    let mut records = Vec::new();
    let options = WalOptions {
        segment_bytes: 4096,
        ..WalOptions::default()
    };
    let (wal, report) = Wal::open(&dir, options, Version::ZERO, &mut |r| {
        records.push(r);
        Ok(())
    })
    .unwrap();
    wal.close().unwrap();
    (records, report)
}

/// Recovers `image` (a copy) with every I/O call recorded, then crashes at each of them and
/// recovers again: always the same records. Returns the crash points explored.
fn check_idempotent(image: &SimFs, path: &Path, seed: u64, context: &str) -> u64 {
    let copy = image.snapshot();
    copy.record();
    let (first, _) = wal_records(&copy, path);
    let mut timeline = copy.timeline();
    let mut points = 0;
    loop {
        let crashed = timeline.crash(seed ^ (timeline.position() as u64) << 20);
        let (again, _) = wal_records(&crashed, path);
        assert!(
            again == first,
            "{context}: recovery crashed after {} of its I/O calls recovers {} records, not {}",
            timeline.position(),
            again.len(),
            first.len()
        );
        points += 1;
        if !timeline.step() {
            break;
        }
    }
    let (again, report) = wal_records(&copy, path);
    assert!(again == first, "{context}: second recovery differs");
    assert_eq!(report.tail, TailState::Clean, "{context}: second recovery");
    points
}

/// Totals of one mode's exploration.
#[derive(Debug, Default)]
struct Figures {
    crash_points: u64,
    images: u64,
    recovery_crash_points: u64,
    acked_lost_max: u64,
    acked_lost_images: u64,
    cuts_with_out_of_order_records: u64,
}

fn explore(name: &str, mode: DurabilityMode) -> Figures {
    let seeds = env_or("IN_MEM_POWER_LOSS_SEEDS", 1);
    let steps = env_or("IN_MEM_POWER_LOSS_STEPS", 100);
    let path = format!("/in-mem-power-loss/{name}/db");
    let path = Path::new(&path);
    let fs = SimFs::new(11);
    fs.record();
    let db = Database::open_with_options(path, common::sim_options(&fs, mode)).unwrap();
    let ops = workload(&db, &fs, mode, steps, 0x5EED_0000 + steps);
    db.close().unwrap();

    let mut figures = Figures::default();
    let mut timeline = fs.timeline();
    loop {
        let k = timeline.position() as u64;
        let at = format!(
            "{name}: crash after {k} I/O calls (next: {})",
            timeline.next_call()
        );
        let (floor, _) = check_image(&timeline.crash_durable_only(), path, &ops, &at);
        figures.images += 1;
        for seed in 1..=seeds {
            let seed = k * 7919 + seed;
            let context = format!("{at}, seed {seed}");
            let image = timeline.crash(seed);
            if seed % 7919 == 1 {
                figures.recovery_crash_points += check_idempotent(&image, path, seed, &context);
            }
            let (v, dropped) = check_image(&image, path, &ops, &context);
            figures.images += 1;
            figures.cuts_with_out_of_order_records += u64::from(dropped > 0);
            assert!(
                v >= floor,
                "{context}: v{v} recovered, v{floor} was durable"
            );
            let lost = ops
                .iter()
                .filter(|op| op.acked_at <= k && op.version > v)
                .count() as u64;
            match mode {
                DurabilityMode::Strict => {
                    assert_eq!(lost, 0, "{context}: acknowledged commits after v{v} lost");
                }
                DurabilityMode::Batched { max_commits, .. } => assert!(
                    lost <= max_commits,
                    "{context}: {lost} acknowledged commits lost, more than max_commits \
                     ({max_commits})"
                ),
                DurabilityMode::Async { .. } => {}
            }
            figures.acked_lost_max = figures.acked_lost_max.max(lost);
            figures.acked_lost_images += u64::from(lost > 0);
        }
        figures.crash_points += 1;
        if !timeline.step() {
            break;
        }
    }
    eprintln!(
        "power loss ({name}): {} operations, {} crash points, {} images, {} crash points \
         inside recovery; acknowledged commits lost: at most {} (in {} images); {} cuts \
         dropped commits that reached the disk out of order",
        ops.len(),
        figures.crash_points,
        figures.images,
        figures.recovery_crash_points,
        figures.acked_lost_max,
        figures.acked_lost_images,
        figures.cuts_with_out_of_order_records
    );
    if mode == DurabilityMode::Strict {
        let least = 2 * ops.len() as u64;
        assert!(
            figures.crash_points > least,
            "a Strict commit is a write and an fdatasync"
        );
    }
    figures
}

#[test]
fn strict_power_loss_at_every_io_call_keeps_every_acknowledged_commit() {
    let figures = explore("strict", DurabilityMode::Strict);
    assert_eq!(figures.acked_lost_max, 0);
}

#[test]
fn batched_power_loss_at_every_io_call_keeps_a_prefix_and_everything_synced() {
    let figures = explore(
        "batched",
        // Synced every 8 commits: between syncs several written records are pending, so
        // crash images where a later one landed and an earlier one did not are certain.
        DurabilityMode::Batched {
            interval_ms: 60_000,
            max_commits: 8,
        },
    );
    assert!(
        figures.cuts_with_out_of_order_records > 0,
        "no crash left a later write without an earlier one: the run does not exercise the \
         out-of-order rule"
    );
}

#[test]
fn async_power_loss_at_every_io_call_keeps_a_prefix_and_everything_synced() {
    explore("async", DurabilityMode::Async { interval_ms: 1 });
}
