//! Memtable benchmarks, each beside its floor measured in the same run (docs/PERFORMANCE.md: ratios in one
//! run carry, absolute numbers do not).
//!
//! - `get`: random point gets over 1M keys (24-byte keys, 100-byte values): the memtable, a raw
//!   `SkipMap<Vec<u8>, Vec<u8>>` (the in-memory floor) and a raw `DashMap` (the index's own
//!   floor); one thread, and two threads at once.
//! - `apply_build_1m`: building a 1M-key memtable one single-put commit at a time, with
//!   sequential and with random keys, against raw `SkipMap` inserts of the same keys and values.
//! - `scan`: a 1,000-key prefix of the 1M-key map, against a raw `SkipMap` range iteration.
//!
//! Run: `cargo bench -p in-mem-storage --bench memtable -- --warm-up-time 1 --measurement-time 3`.
//! Memory per entry is measured by `cargo run --release -p in-mem-storage --example memtable_memory`.

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_skiplist::SkipMap;
use dashmap::DashMap;
use in_mem_core_types::{RunId, Timestamp, Version};
use in_mem_storage::{Memtable, Mutation, ReadView};

const KEYS: u64 = 1_000_000;
const KEY_BYTES: usize = 24;
const VALUE_BYTES: usize = 100;
const SCAN_KEYS: u64 = 1_000;
const NOW: Timestamp = Timestamp::from_micros(1);

/// A small, fast, deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Key `i`: an 8-byte namespace, the 1,000-key group `i` belongs to, `i` itself, padding. Keys of
/// one group share a 12-byte prefix, so a group is a prefix scan.
fn key(i: u64) -> [u8; KEY_BYTES] {
    let mut key = [0u8; KEY_BYTES];
    key[..8].copy_from_slice(b"kv:agent");
    key[8..12].copy_from_slice(&((i / SCAN_KEYS) as u32).to_be_bytes());
    key[12..20].copy_from_slice(&i.to_be_bytes());
    key
}

fn group_prefix(group: u64) -> [u8; 12] {
    let mut prefix = [0u8; 12];
    prefix.copy_from_slice(&key(group * SCAN_KEYS)[..12]);
    prefix
}

fn value(i: u64) -> [u8; VALUE_BYTES] {
    let mut value = [0u8; VALUE_BYTES];
    value[..8].copy_from_slice(&i.to_le_bytes());
    value
}

/// 0..n in a random order: the maps are built the way random writes build them.
fn shuffled(n: u64, seed: u64) -> Vec<u64> {
    let mut order: Vec<u64> = (0..n).collect();
    let mut rng = Rng(seed);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    order
}

struct Maps {
    memtable: Memtable,
    skipmap: SkipMap<Vec<u8>, Vec<u8>>,
    dashmap: DashMap<Vec<u8>, Vec<u8>>,
    view: ReadView,
}

fn build() -> Maps {
    let memtable = Memtable::new(Version::ZERO);
    let skipmap = SkipMap::new();
    let dashmap = DashMap::new();
    let run = RunId::new();
    for i in shuffled(KEYS, 7) {
        let version = memtable.versions().allocate();
        memtable.apply(
            version,
            run,
            NOW,
            &[Mutation::put(&key(i)[..], &value(i)[..])],
        );
        memtable.versions().publish(version);
        skipmap.insert(key(i).to_vec(), value(i).to_vec());
        dashmap.insert(key(i).to_vec(), value(i).to_vec());
    }
    let view = ReadView::at(memtable.versions().visible());
    Maps {
        memtable,
        skipmap,
        dashmap,
        view,
    }
}

fn gets(c: &mut Criterion, maps: &Maps) {
    let mut group = c.benchmark_group("get_random_1m");
    let mut rng = Rng(1);
    group.bench_function("memtable", |b| {
        b.iter(|| {
            let found = maps.memtable.get(&key(rng.below(KEYS)), &maps.view, NOW);
            black_box(found.map(|read| read.value[0]))
        });
    });
    group.bench_function("raw_skipmap", |b| {
        b.iter(|| {
            let found = maps.skipmap.get(&key(rng.below(KEYS))[..]);
            black_box(found.map(|entry| entry.value()[0]))
        });
    });
    group.bench_function("raw_dashmap", |b| {
        b.iter(|| {
            let found = maps.dashmap.get(&key(rng.below(KEYS))[..]);
            black_box(found.map(|entry| entry.value()[0]))
        });
    });
    // Two threads reading at once; one iteration is one get on each thread, so the time per
    // iteration is the time per pair of gets.
    group.bench_function("memtable_2t", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |rng| {
                let found = maps.memtable.get(&key(rng.below(KEYS)), &maps.view, NOW);
                black_box(found.map(|read| read.value[0]));
            })
        });
    });
    group.bench_function("raw_skipmap_2t", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |rng| {
                let found = maps.skipmap.get(&key(rng.below(KEYS))[..]);
                black_box(found.map(|entry| entry.value()[0]));
            })
        });
    });
    group.finish();
}

fn two_threads(iters: u64, op: impl Fn(&mut Rng) + Sync) -> Duration {
    let start = Instant::now();
    thread::scope(|scope| {
        for seed in 0..2 {
            let op = &op;
            scope.spawn(move || {
                let mut rng = Rng(100 + seed);
                for _ in 0..iters {
                    op(&mut rng);
                }
            });
        }
    });
    start.elapsed()
}

/// Builds of a 1M-key map, one put per commit, with sequential and with random keys: the
/// per-put cost at the size the read benchmarks use (docs/PERFORMANCE.md's raw `SkipMap` insert anchors are
/// measured the same way). Criterion reports the time of one build and the puts per second.
fn applies(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply_build_1m");
    group.sample_size(10);
    group.throughput(Throughput::Elements(KEYS));
    let run = RunId::new();
    let value = value(0);
    for (name, random) in [("seq", false), ("random", true)] {
        let order: Vec<u64> = if random {
            shuffled(KEYS, 11)
        } else {
            (0..KEYS).collect()
        };
        group.bench_function(format!("memtable_{name}"), |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let memtable = Memtable::new(Version::ZERO);
                    let start = Instant::now();
                    for (n, &i) in order.iter().enumerate() {
                        // Fresh key and value allocations, as the engine hands them over.
                        let mutation = Mutation::put(&key(i)[..], &value[..]);
                        memtable.apply(Version::new(n as u64 + 1), run, NOW, &[mutation]);
                    }
                    elapsed += start.elapsed();
                    drop(memtable);
                }
                elapsed
            });
        });
        group.bench_function(format!("raw_skipmap_{name}"), |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let skipmap = SkipMap::new();
                    let start = Instant::now();
                    for &i in &order {
                        skipmap.insert(key(i).to_vec(), value.to_vec());
                    }
                    elapsed += start.elapsed();
                    drop(skipmap);
                }
                elapsed
            });
        });
    }
    group.finish();
}

fn scans(c: &mut Criterion, maps: &Maps) {
    let mut group = c.benchmark_group("scan_prefix_1000_of_1m");
    let groups = KEYS / SCAN_KEYS;
    let mut rng = Rng(5);
    group.bench_function("memtable", |b| {
        b.iter(|| {
            let prefix = group_prefix(rng.below(groups));
            let mut touched = 0usize;
            for (key, read) in maps.memtable.scan_prefix(&prefix, maps.view.clone(), NOW) {
                touched += key.len() + usize::from(read.value[0]);
            }
            black_box(touched)
        });
    });
    group.bench_function("raw_skipmap", |b| {
        b.iter(|| {
            let g = rng.below(groups);
            let (start, end) = (
                key(g * SCAN_KEYS).to_vec(),
                key((g + 1) * SCAN_KEYS).to_vec(),
            );
            let mut touched = 0usize;
            for entry in maps.skipmap.range(start..end) {
                touched += entry.key().len() + usize::from(entry.value()[0]);
            }
            black_box(touched)
        });
    });
    group.finish();
}

fn read_benches(c: &mut Criterion) {
    let maps = build();
    assert_eq!(maps.memtable.key_count() as u64, KEYS);
    assert_eq!(
        maps.memtable
            .scan_prefix(&group_prefix(3), maps.view.clone(), NOW)
            .count() as u64,
        SCAN_KEYS
    );
    gets(c, &maps);
    scans(c, &maps);
}

criterion_group!(benches, read_benches, applies);
criterion_main!(benches);
