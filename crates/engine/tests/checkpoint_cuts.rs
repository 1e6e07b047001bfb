#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! Cut marks survive a checkpoint: a memtable rebuilt from a checkpoint answers every read of
//! every past view exactly as the memtable it was written from, `exact` flag included, so a past
//! read that steps over a version a sweep removed is still refused (`HistoryPruned`) after a
//! reopen instead of answered with an older, wrong value.
//!
//! The memtable tests go through the durability crate's real checkpoint writer and reader, with
//! the same steps as the engine's writer (`src/checkpoint.rs`) and loader
//! (`recovery/checkpoint.rs`); the database tests show that the engine's own writer and loader
//! carry the marks through a reopen, and that a view of a run's past still refuses a reclaimed
//! answer after it.

mod common;

use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::Value;
use in_mem_core_types::{Key, RunId, Timestamp, TypeTag, Version};
use in_mem_durability::checkpoint::{
    CheckpointCuts, CheckpointEntry, CheckpointFile, CheckpointOp, CheckpointWriter,
    list_checkpoints, read_checkpoint,
};
use in_mem_durability::{DataDir, StdFs};
use in_mem_engine::{
    At, Database, DurabilityMode, Error, HistoryRetention, OpenOptions, RetryPolicy,
};
use in_mem_storage::{
    Cuts, KeepNothing, Memtable, Mutation, MutationKind, ReadView, SweepRules, Writer,
};
use proptest::prelude::*;

/// Writes a checkpoint of `memtable` into a fresh directory, as the engine does, and loads it
/// into a new memtable, as recovery does (`Memtable::load`; the cut marks only if `restore`).
fn checkpoint_and_reload(memtable: &Memtable, restore: bool) -> Memtable {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
    let version = memtable.versions().visible();
    let mut writer = CheckpointWriter::create(&dir, version, Version::ZERO).unwrap();
    memtable
        .for_each_version_upto(version, |stored| {
            let value = match &stored.kind {
                MutationKind::Put { value, expires_at } => Some((&value[..], *expires_at)),
                MutationKind::Delete => None,
            };
            let cuts = CheckpointCuts {
                below: stored.cuts.below,
                above: stored.cuts.above,
            };
            writer.push(
                &stored.key,
                stored.version,
                stored.writer,
                stored.timestamp,
                value,
                cuts,
            )
        })
        .unwrap();
    let file = writer.finish().unwrap().file;
    let loaded = Memtable::new(file.version);
    loaded
        .load(|loader| {
            read_checkpoint(&dir, &file, &mut |entry| {
                let kind = match entry.op {
                    CheckpointOp::Put { value, expires_at } => {
                        MutationKind::Put { value, expires_at }
                    }
                    CheckpointOp::Delete => MutationKind::Delete,
                };
                let cuts = if restore {
                    Cuts {
                        below: entry.cuts.below,
                        above: entry.cuts.above,
                    }
                } else {
                    Cuts::NONE
                };
                loader.push(
                    entry.version,
                    entry.writer,
                    entry.timestamp,
                    entry.key,
                    kind,
                    cuts,
                );
                Ok(())
            })
        })
        .unwrap();
    loaded
}

/// Sweep rules: keep the newest writes of some writers (as the engine keeps those of runs that
/// exist), up to a fork point for one, and the newest `min_versions` of each key.
struct Rules {
    kept: Vec<RunId>,
    fork: Option<(RunId, Version)>,
    min_versions: usize,
}

impl SweepRules for Rules {
    fn kept_bounds(&self, writer: RunId, out: &mut Vec<Version>) {
        if self.kept.contains(&writer) {
            out.push(Version::MAX);
        }
        if let Some((run, bound)) = self.fork
            && run == writer
        {
            out.push(bound);
        }
    }

    fn min_versions(&self) -> usize {
        self.min_versions
    }
}

fn writer(n: u8) -> RunId {
    RunId::from_bytes([n + 1; 16])
}

fn key(n: u8) -> Vec<u8> {
    vec![b'k', n]
}

/// Commits one mutation as `run`; its version.
fn commit(memtable: &Memtable, run: RunId, now: Timestamp, mutation: Mutation) -> Version {
    let v = memtable.versions().allocate();
    memtable.apply(v, run, now, &[mutation]);
    memtable.versions().publish(v);
    v
}

/// The scenario of the bug. Run M writes a key twice, run O twice, M once more, O twice more:
///
/// ```text
/// v7 O   kept (the newest)        cut below
/// v6 O   removed
/// v5 M   kept (M's newest write)  cut above, cut below
/// v4 O   removed ... v1 M removed
/// ```
///
/// A view at v6 (time travel to just after it) walks down past v6's place to v5: the sweep took
/// its answer. The memtable says so (`exact == false`); a reload that lost the marks would
/// answer v5 as if it were exact.
#[test]
fn a_past_read_over_a_reclaimed_version_stays_inexact_after_a_reload() {
    let memtable = Memtable::new(Version::ZERO);
    let (m, o) = (writer(0), writer(1));
    let now = Timestamp::from_micros(1_000);
    let k = key(0);
    for (run, value) in [(m, 1), (m, 2), (o, 3), (o, 4), (m, 5), (o, 6), (o, 7)] {
        commit(&memtable, run, now, Mutation::put(&k[..], &[value][..]));
    }
    let rules = Rules {
        kept: vec![m, o],
        fork: None,
        min_versions: 1,
    };
    let stats = memtable.sweep_with(Version::new(7), now, &rules);
    assert_eq!(stats.versions_removed, 5);
    let past = ReadView::at(Version::new(6));

    let before = memtable.read(&k, &past, now);
    assert_eq!(before.found.as_ref().unwrap().version, Version::new(5));
    assert!(!before.exact, "the true answer, v6, was reclaimed");

    let reloaded = checkpoint_and_reload(&memtable, true);
    assert_eq!(reloaded.read(&k, &past, now), before);
    let versions: Vec<_> = reloaded.iter_versions().collect();
    assert_eq!(versions, memtable.iter_versions().collect::<Vec<_>>());
    let cuts: Vec<_> = versions.iter().map(|v| (v.version.get(), v.cuts)).collect();
    let both = Cuts {
        below: true,
        above: true,
    };
    let below = Cuts {
        below: true,
        above: false,
    };
    assert_eq!(cuts, vec![(7, below), (5, both)]);

    // What a reload without the marks (a checkpoint before this format change) would answer:
    // v5, wrongly claimed exact.
    let unmarked = checkpoint_and_reload(&memtable, false);
    let wrong = unmarked.read(&k, &past, now);
    assert_eq!(wrong.found, before.found);
    assert!(wrong.exact, "without the marks the reload cannot know");
}

#[derive(Debug, Clone)]
enum Op {
    Put {
        key: u8,
        writer: u8,
        value: u8,
        /// Expires this many clock ticks after it is written.
        ttl: Option<u8>,
    },
    Delete {
        key: u8,
        writer: u8,
    },
    /// A plain sweep (`KeepNothing`) `back` versions below the newest.
    SweepPlain {
        back: u8,
    },
    /// A sweep with rules.
    Sweep {
        back: u8,
        kept: u8,
        fork: Option<(u8, u8)>,
        min_versions: u8,
    },
    /// Only the clock moves (values expire).
    Tick,
}

const KEYS: u8 = 3;
const WRITERS: u8 = 3;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..KEYS, 0..WRITERS, any::<u8>(), proptest::option::weighted(0.2, 1u8..6))
            .prop_map(|(key, writer, value, ttl)| Op::Put { key, writer, value, ttl }),
        3 => (0..KEYS, 0..WRITERS).prop_map(|(key, writer)| Op::Delete { key, writer }),
        1 => (0u8..6).prop_map(|back| Op::SweepPlain { back }),
        3 => (
            0u8..6,
            0u8..(1 << WRITERS),
            proptest::option::of((0..WRITERS, 0u8..8)),
            1u8..4,
        )
            .prop_map(|(back, kept, fork, min_versions)| Op::Sweep {
                back,
                kept,
                fork,
                min_versions,
            }),
        1 => Just(Op::Tick),
    ]
}

/// Runs `ops` on a fresh memtable, one commit per write and one clock tick per step; returns
/// the memtable and the clock at the end.
fn run(ops: &[Op]) -> (Memtable, Timestamp) {
    let memtable = Memtable::new(Version::ZERO);
    let mut now = 1_000u64;
    let horizon = |back: u8| {
        Version::new(
            memtable
                .versions()
                .visible()
                .get()
                .saturating_sub(u64::from(back)),
        )
    };
    for op in ops {
        now += 1;
        let at = Timestamp::from_micros(now);
        match *op {
            Op::Put {
                key: k,
                writer: w,
                value,
                ttl,
            } => {
                let mutation = match ttl {
                    Some(ticks) => Mutation::put_expiring(
                        &key(k)[..],
                        &[value][..],
                        Timestamp::from_micros(now + u64::from(ticks)),
                    ),
                    None => Mutation::put(&key(k)[..], &[value][..]),
                };
                commit(&memtable, writer(w), at, mutation);
            }
            Op::Delete { key: k, writer: w } => {
                commit(&memtable, writer(w), at, Mutation::delete(&key(k)[..]));
            }
            Op::SweepPlain { back } => {
                memtable.sweep_with(horizon(back), at, &KeepNothing);
            }
            Op::Sweep {
                back,
                kept,
                fork,
                min_versions,
            } => {
                let rules = Rules {
                    kept: (0..WRITERS)
                        .filter(|w| kept & (1 << w) != 0)
                        .map(writer)
                        .collect(),
                    fork: fork.map(|(w, back)| (writer(w), horizon(back))),
                    min_versions: usize::from(min_versions),
                };
                memtable.sweep_with(horizon(back), at, &rules);
            }
            Op::Tick => {}
        }
    }
    (memtable, Timestamp::from_micros(now))
}

/// Every view the comparison reads through at snapshot `s`: the plain snapshot, and each
/// writer's writes up to every version above it, pinned (a run's current view) or not (a view
/// into its past).
fn views(s: Version, newest: Version) -> Vec<ReadView> {
    let mut out = vec![ReadView::at(s)];
    for w in 0..WRITERS {
        for upto in s.get()..=newest.get() {
            for pinned in [false, true] {
                out.push(ReadView::with_writers(
                    s,
                    vec![Writer {
                        run: writer(w),
                        upto: Version::new(upto),
                        pinned,
                    }],
                ));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// After any puts, deletes, expiries and sweeps, a memtable reloaded from its checkpoint
    /// holds the same versions with the same cut marks, and answers every read of every key
    /// through every view, at every moment, exactly as the original did: same version found,
    /// same `exact`.
    #[test]
    fn a_reloaded_memtable_reads_every_view_as_the_original(
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let (memtable, end) = run(&ops);
        let reloaded = checkpoint_and_reload(&memtable, true);
        prop_assert_eq!(
            reloaded.iter_versions().collect::<Vec<_>>(),
            memtable.iter_versions().collect::<Vec<_>>()
        );
        let newest = memtable.versions().visible();
        let moments = [Timestamp::from_micros(1_000), end, Timestamp::MAX];
        for k in 0..=KEYS {
            let k = key(k);
            for s in 0..=newest.get() {
                for view in views(Version::new(s), newest) {
                    for now in moments {
                        prop_assert_eq!(
                            reloaded.read(&k, &view, now),
                            memtable.read(&k, &view, now),
                            "key {:?} view {:?} now {:?}", k, view, now
                        );
                    }
                }
            }
        }
    }
}

/// Options that keep no history beyond what runs and forks need, with a clock that only tests
/// move and no background sweeps or checkpoints.
fn no_history(clock: &Arc<in_mem_engine::ManualClock>) -> OpenOptions {
    common::options(DurabilityMode::Strict)
        .clock(clock.clone())
        .history(HistoryRetention {
            keep_for: Duration::ZERO,
            keep_min_versions: 1,
        })
        .ended_run_retention(Duration::ZERO)
        .checkpoint_every_bytes(0)
        .sweep_interval(Duration::from_secs(3600))
}

/// Sets the run's state cell `n` to `value`; the commit's version.
fn set_cell(db: &Database, run: RunId, value: i64) -> u64 {
    db.transaction_committed(run, RetryPolicy::default(), |tx| {
        if tx.cells().get("n")?.is_some() {
            tx.cells().set("n", Value::I64(value))
        } else {
            tx.cells().init("n", Value::I64(value))
        }
    })
    .unwrap()
    .1
    .unwrap()
}

/// The run's cell `n` as the run had it right after version `at`.
fn cell_at(db: &Database, run: RunId, at: u64) -> Result<Option<Value>, Error> {
    let mut view = db.run_view_at(run, At::Version(at))?;
    Ok(view.cells().get("n")?.map(|cell| cell.value))
}

/// The bug end to end. A run sets its state cell five times; a fork taken after the second
/// keeps that version; once both have ended, a sweep keeps only the fork's version and the
/// newest, and takes the others. Views of the run right after the third and fourth must be
/// refused (their answers are gone), and every view of the run's past must read after a reopen
/// from a checkpoint as it did before; a reopen that lost the cut marks would answer the second
/// version's value for both.
#[test]
fn a_view_of_a_runs_past_refuses_a_reclaimed_answer_after_a_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = common::manual_clock();
    let (run, versions, before) = {
        let db = Database::open_with_options(tmp.path(), no_history(&clock)).unwrap();
        let run = db.begin_run();
        let mut versions = vec![set_cell(&db, run, 1), set_cell(&db, run, 2)];
        let fork = db.fork_run(run, At::Version(versions[1])).unwrap();
        versions.extend([3, 4, 5].map(|value| set_cell(&db, run, value)));
        db.end_run(fork).unwrap();
        db.end_run(run).unwrap();
        clock.advance(Duration::from_secs(1));
        db.sweep();
        for reclaimed in [versions[2], versions[3]] {
            match cell_at(&db, run, reclaimed) {
                Err(Error::HistoryPruned { .. }) => {}
                other => panic!("view at {reclaimed}: {other:?}"),
            }
        }
        assert_eq!(cell_at(&db, run, versions[4]).unwrap(), Some(Value::I64(5)));
        let before = past_views(&db, run, &versions);
        db.checkpoint().unwrap();
        db.close().unwrap();
        (run, versions, before)
    };
    let db = Database::open_with_options(tmp.path(), no_history(&clock)).unwrap();
    assert!(db.recovery_report().checkpoint.is_some());
    assert_eq!(past_views(&db, run, &versions), before);
}

/// What a view of the run's cell says right after every version from before its first write to
/// after its last.
fn past_views(db: &Database, run: RunId, versions: &[u64]) -> Vec<String> {
    (versions[0] - 1..=versions[4] + 1)
        .map(|v| format!("{v}: {:?}", cell_at(db, run, v)))
        .collect()
}

/// The engine's own writer and loader: a database whose sweep cut a key's history writes the
/// cut marks into its checkpoint; reopened from it, it writes the same marks into its next
/// checkpoint (so recovery set them again on the memtable).
#[test]
fn a_reopened_database_keeps_the_cut_marks_of_its_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = common::manual_clock();
    let options = || no_history(&clock);
    let first = {
        let db = Database::open_with_options(tmp.path(), options()).unwrap();
        let (m, o) = (db.begin_run(), db.begin_run());
        for (run, value) in [(m, "1"), (m, "2"), (o, "3"), (o, "4"), (m, "5"), (o, "6")] {
            db.put(run, "k", value).unwrap();
        }
        db.put(o, "k", "7").unwrap();
        db.end_run(m).unwrap();
        db.end_run(o).unwrap();
        clock.advance(Duration::from_secs(1));
        let info = db.checkpoint().unwrap();
        db.close().unwrap();
        info
    };
    let entries = read_entries(tmp.path(), first.version);
    let cut: Vec<CheckpointCuts> = entries
        .iter()
        .filter(|e| Key::decode(&e.key).unwrap().user_key() == b"k")
        .map(|e| e.cuts)
        .collect();
    // "k" kept O's "7" (its newest: cut below) and M's "5" (its newest: cut above and below),
    // as in `a_past_read_over_a_reclaimed_version_stays_inexact_after_a_reload`.
    let both = CheckpointCuts {
        below: true,
        above: true,
    };
    let below = CheckpointCuts {
        below: true,
        above: false,
    };
    assert_eq!(cut, vec![below, both], "{entries:#?}");
    // Run records are read only at their newest version: the sweep took each run's "begun"
    // record under its "ended" one, which is marked too.
    let runs_cut = entries
        .iter()
        .filter(|e| Key::decode_type_tag(&e.key).unwrap() == TypeTag::Run)
        .filter(|e| e.cuts.below)
        .count();
    assert_eq!(runs_cut, 2, "{entries:#?}");

    {
        let db = Database::open_with_options(tmp.path(), options()).unwrap();
        assert_eq!(db.recovery_report().checkpoint, Some(first.version));
        let second = db.checkpoint().unwrap();
        db.close().unwrap();
        assert_eq!(second.version, first.version, "nothing was committed");
    }
    assert_eq!(read_entries(tmp.path(), first.version), entries);
}

/// The entries of the checkpoint at `version` of the closed database at `path`.
fn read_entries(path: &std::path::Path, version: u64) -> Vec<CheckpointEntry> {
    let dir = DataDir::open(Arc::new(StdFs), path).unwrap();
    let file: CheckpointFile = list_checkpoints(&dir)
        .unwrap()
        .into_iter()
        .find(|f| f.version.get() == version)
        .unwrap();
    let mut entries = Vec::new();
    read_checkpoint(&dir, &file, &mut |e| {
        entries.push(e);
        Ok(())
    })
    .unwrap();
    entries
}
