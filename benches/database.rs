//! Criterion benchmarks of the `Database` API beside the raw `crossbeam_skiplist::SkipMap`
//! floor, in one run (docs/PERFORMANCE.md: only ratios measured side by side carry over).
//!
//! `cargo bench -p in-mem-benches --bench database`; results and their reading are in
//! `docs/PERFORMANCE.md`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_skiplist::SkipMap;
use in_mem::{Database, DurabilityMode, RunId};
use in_mem_benches::{Rng, VALUE, key};

const READ_KEYS: u64 = 1_000_000;
const SCAN_KEYS: u64 = 1_000;

const MODES: [(&str, DurabilityMode); 3] = [
    ("strict", DurabilityMode::Strict),
    (
        "batched",
        DurabilityMode::Batched {
            interval_ms: 100,
            max_commits: 1000,
        },
    ),
    ("async", DurabilityMode::Async { interval_ms: 1000 }),
];

fn fresh(mode: DurabilityMode) -> (tempfile::TempDir, Database, RunId) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open_with_mode(dir.path(), mode).expect("open");
    let run = db.begin_run();
    (dir, db, run)
}

fn put(c: &mut Criterion) {
    let mut group = c.benchmark_group("put");
    group.throughput(Throughput::Elements(1));
    for (name, mode) in MODES {
        let (_dir, db, run) = fresh(mode);
        let mut i = 0u64;
        group.bench_function(BenchmarkId::new("seq", name), |b| {
            b.iter(|| {
                i += 1;
                db.put(run, key(i), VALUE).expect("put")
            });
        });
        let mut rng = Rng::new(7);
        group.bench_function(BenchmarkId::new("random", name), |b| {
            b.iter(|| {
                db.put(run, key(rng.below(u64::MAX >> 1)), VALUE)
                    .expect("put")
            });
        });
    }
    group.finish();
}

/// Commits per second with 1, 2 and 8 threads writing in Strict mode (group commit).
fn strict_writers(c: &mut Criterion) {
    let mut group = c.benchmark_group("strict_writers");
    group.throughput(Throughput::Elements(1));
    for threads in [1u64, 2, 8] {
        let (_dir, db, run) = fresh(DurabilityMode::Strict);
        let db = Arc::new(db);
        group.bench_function(BenchmarkId::from_parameter(threads), |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(threads);
                let start = Instant::now();
                std::thread::scope(|s| {
                    for t in 0..threads {
                        let db = &db;
                        s.spawn(move || {
                            for i in 0..per_thread {
                                db.put(run, key(t << 40 | i), VALUE).expect("put");
                            }
                        });
                    }
                });
                start.elapsed()
            });
        });
    }
    group.finish();
}

/// A database holding `READ_KEYS` keys plus `SCAN_KEYS` keys under `scan:`.
fn loaded() -> (tempfile::TempDir, Database, RunId) {
    let (dir, db, writer) = fresh(DurabilityMode::Async { interval_ms: 1000 });
    for i in 0..READ_KEYS {
        db.put(writer, key(i), VALUE).expect("load");
    }
    for i in 0..SCAN_KEYS {
        db.put(writer, format!("scan:{i:019}"), VALUE)
            .expect("load");
    }
    let reader = db.begin_run();
    (dir, db, reader)
}

fn loaded_skipmap() -> SkipMap<Vec<u8>, Vec<u8>> {
    let map = SkipMap::new();
    let mut rng = Rng::new(11);
    for _ in 0..READ_KEYS {
        map.insert(key(rng.below(READ_KEYS)).to_vec(), VALUE.to_vec());
    }
    for i in 0..READ_KEYS {
        map.insert(key(i).to_vec(), VALUE.to_vec());
    }
    for i in 0..SCAN_KEYS {
        map.insert(format!("scan:{i:019}").into_bytes(), VALUE.to_vec());
    }
    map
}

fn reads(c: &mut Criterion) {
    let (_dir, db, run) = loaded();
    let map = loaded_skipmap();
    let mut group = c.benchmark_group("get_random_1m");
    group.throughput(Throughput::Elements(1));
    for threads in [1u64, 2] {
        group.bench_function(BenchmarkId::new("in-mem", threads), |b| {
            b.iter_custom(|iters| {
                parallel(threads, iters, |rng| {
                    black_box(db.get(run, key(rng.below(READ_KEYS))).expect("get"));
                })
            });
        });
        group.bench_function(BenchmarkId::new("skipmap-floor", threads), |b| {
            b.iter_custom(|iters| {
                parallel(threads, iters, |rng| {
                    black_box(
                        map.get(&key(rng.below(READ_KEYS))[..])
                            .map(|e| e.value().clone()),
                    );
                })
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("list_1k");
    group.throughput(Throughput::Elements(SCAN_KEYS));
    group.bench_function("in-mem", |b| {
        b.iter(|| {
            let listed = db.list(run, b"scan:").expect("list");
            assert_eq!(listed.len() as u64, SCAN_KEYS);
            listed
        });
    });
    group.bench_function("skipmap-floor", |b| {
        b.iter(|| {
            let start = b"scan:".to_vec();
            let listed: Vec<(Vec<u8>, Vec<u8>)> = map
                .range(start..)
                .take_while(|e| e.key().starts_with(b"scan:"))
                .map(|e| (e.key().clone(), e.value().clone()))
                .collect();
            assert_eq!(listed.len() as u64, SCAN_KEYS);
            listed
        });
    });
    group.finish();
}

/// Runs `op` `iters` times split over `threads` threads; returns the wall time.
fn parallel(threads: u64, iters: u64, op: impl Fn(&mut Rng) + Sync) -> Duration {
    let per_thread = iters.div_ceil(threads);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let op = &op;
            s.spawn(move || {
                let mut rng = Rng::new(0x5eed + t);
                for _ in 0..per_thread {
                    op(&mut rng);
                }
            });
        }
    });
    start.elapsed()
}

fn skipmap_inserts(c: &mut Criterion) {
    let mut group = c.benchmark_group("skipmap_floor_insert");
    group.throughput(Throughput::Elements(1));
    let map = SkipMap::new();
    let mut i = 0u64;
    group.bench_function("seq", |b| {
        b.iter(|| {
            i += 1;
            map.insert(key(i).to_vec(), VALUE.to_vec());
        });
    });
    let map = SkipMap::new();
    let mut rng = Rng::new(3);
    group.bench_function("random", |b| {
        b.iter(|| map.insert(key(rng.below(u64::MAX >> 1)).to_vec(), VALUE.to_vec()));
    });
    group.finish();
}

/// Open time of a database whose log holds 1M commits.
fn recovery(c: &mut Criterion) {
    const COMMITS: u64 = 1_000_000;
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Database::open_with_mode(dir.path(), DurabilityMode::Async { interval_ms: 1000 })
            .expect("open");
        let run = db.begin_run();
        for i in 0..COMMITS {
            db.put(run, key(i), VALUE).expect("load");
        }
        db.close().expect("close");
    }
    let mut group = c.benchmark_group("recovery");
    group.sample_size(10);
    group.throughput(Throughput::Elements(COMMITS));
    group.bench_function("open_1m_commits", |b| {
        b.iter(|| {
            let db = Database::open(dir.path()).expect("open");
            assert!(db.recovery_report().records_replayed > COMMITS);
            db.close().expect("close");
        });
    });
    // The same million keys, opened from a checkpoint: checkpoint twice, so that the log below
    // the first checkpoint is deleted and open reads the checkpoint, not the old log.
    let from_checkpoint = tempfile::tempdir().expect("tempdir");
    {
        let db = Database::open_with_mode(
            from_checkpoint.path(),
            DurabilityMode::Async { interval_ms: 1000 },
        )
        .expect("open");
        let run = db.begin_run();
        for i in 0..COMMITS {
            db.put(run, key(i), VALUE).expect("load");
        }
        db.end_run(run).expect("end");
        db.checkpoint().expect("checkpoint");
        db.checkpoint().expect("checkpoint");
        db.close().expect("close");
    }
    group.bench_function("open_1m_keys_from_checkpoint", |b| {
        b.iter(|| {
            let db = Database::open(from_checkpoint.path()).expect("open");
            assert!(db.recovery_report().checkpoint.is_some());
            assert!(db.stats().keys > COMMITS);
            db.close().expect("close");
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = put, strict_writers, reads, skipmap_inserts, recovery
}
criterion_main!(benches);
