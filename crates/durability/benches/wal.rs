//! WAL benchmarks, each next to the floor it is judged against, measured in the same run:
//!
//! - `floor/*`: a raw 100-byte pwrite + fdatasync into a preallocated, pre-written file, and
//!   into a growing file (docs/PERFORMANCE.md: Strict with 1 writer must reach 0.9x the preallocated one);
//! - `synced/{1,2,8}`: append + `WaitFor::Synced` from 1, 2 and 8 threads (commits/s; 2 writers
//!   must reach 1.3x, 8 writers 4x the 1-writer rate);
//! - `written/1`, `buffered/1`: append + `Written` / `Buffered`;
//! - `replay/1M`: recovery of a log of 1M small commits (target >= 1M commits/s).
//!
//! Run: `cargo bench -p in-mem-durability --bench wal`.
#![allow(clippy::unwrap_used)] // a benchmark: a failure should stop it loudly

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use in_mem_core_types::{RunId, Timestamp, Version};
use in_mem_durability::{CommitBody, DataDir, OpRef, StdFs, WaitFor, Wal, WalOptions, WriteRef};

/// A commit of one 24-byte key and a 100-byte value (docs/PERFORMANCE.md's workload shape).
fn body(i: u64) -> CommitBody {
    let key = format!("user:{i:019}");
    let value = [0x42u8; 100];
    let writes = [WriteRef {
        key: key.as_bytes(),
        op: OpRef::Put {
            value: &value,
            ttl: None,
        },
    }];
    CommitBody::encode(Timestamp::from_micros(i), RunId::NIL, &writes).unwrap()
}

/// A data directory on the real disk (not tmpfs), removed when dropped.
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

struct Log {
    _tmp: tempfile::TempDir,
    _dir: DataDir,
    wal: Wal,
    next: AtomicU64,
}

impl Log {
    fn new() -> Log {
        let tmp = scratch();
        let dir = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
        let (wal, _) =
            Wal::open(&dir, WalOptions::default(), Version::ZERO, &mut |_| Ok(())).unwrap();
        Log {
            _tmp: tmp,
            _dir: dir,
            wal,
            next: AtomicU64::new(0),
        }
    }

    fn commit(&self, body: &CommitBody, level: WaitFor) {
        // `allocate` runs under the log lock, so the counter advances in log order.
        let ticket = self
            .wal
            .append(body, || {
                Version::new(self.next.fetch_add(1, Ordering::Relaxed) + 1)
            })
            .unwrap();
        self.wal.wait(ticket, level).unwrap();
    }
}

fn floors(c: &mut Criterion) {
    let mut group = c.benchmark_group("floor");
    group.throughput(Throughput::Elements(1));
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    let record = [0x42u8; 100];

    group.bench_function("fdatasync_prealloc", |b| {
        const FILE_BYTES: u64 = 32 << 20;
        let tmp = scratch();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(tmp.path().join("prealloc"))
            .unwrap();
        let zeros = vec![0u8; 1 << 20];
        for i in 0..FILE_BYTES / zeros.len() as u64 {
            file.write_all_at(&zeros, i * zeros.len() as u64).unwrap();
        }
        file.sync_all().unwrap();
        let mut offset = 0;
        b.iter(|| {
            file.write_all_at(&record, offset).unwrap();
            file.sync_data().unwrap();
            offset = (offset + record.len() as u64) % (FILE_BYTES - record.len() as u64);
        });
    });

    group.bench_function("fdatasync_growing", |b| {
        let tmp = scratch();
        let path = tmp.path().join("growing");
        let mut file = File::create(&path).unwrap();
        file.sync_all().unwrap();
        let mut offset = 0;
        b.iter(|| {
            if offset > 64 << 20 {
                file = File::create(&path).unwrap();
                offset = 0;
            }
            file.write_all_at(&record, offset).unwrap();
            file.sync_data().unwrap();
            offset += record.len() as u64;
        });
    });
    group.finish();
}

/// Runs `iters` commits split over `threads` threads, returning the elapsed time.
fn concurrent(
    log: &Log,
    bodies: &[CommitBody],
    threads: u64,
    iters: u64,
    level: WaitFor,
) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let n = iters / threads + u64::from(t < iters % threads);
            s.spawn(move || {
                for i in 0..n {
                    log.commit(&bodies[(i % bodies.len() as u64) as usize], level);
                }
            });
        }
    });
    start.elapsed()
}

fn commits(c: &mut Criterion) {
    let bodies: Vec<CommitBody> = (0..1024).map(body).collect();
    let mut group = c.benchmark_group("synced");
    group.throughput(Throughput::Elements(1));
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    for threads in [1, 2, 8] {
        let log = Log::new();
        group.bench_function(format!("{threads}"), |b| {
            b.iter_custom(|iters| concurrent(&log, &bodies, threads, iters, WaitFor::Synced));
        });
    }
    group.finish();

    for (name, level) in [
        ("written", WaitFor::Written),
        ("buffered", WaitFor::Buffered),
    ] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(1));
        group
            .sample_size(30)
            .measurement_time(Duration::from_secs(3));
        let log = Log::new();
        let mut i = 0;
        group.bench_function("1", |b| {
            b.iter(|| {
                log.commit(&bodies[i % bodies.len()], level);
                i += 1;
            });
        });
        group.finish();
    }
}

fn replay(c: &mut Criterion) {
    const RECORDS: u64 = 1_000_000;
    let tmp = scratch();
    {
        let dir = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
        let (wal, _) =
            Wal::open(&dir, WalOptions::default(), Version::ZERO, &mut |_| Ok(())).unwrap();
        let key = [7u8; 24];
        let value = [9u8; 16];
        for v in 1..=RECORDS {
            let writes = [WriteRef {
                key: &key,
                op: OpRef::Put {
                    value: &value,
                    ttl: None,
                },
            }];
            let body = CommitBody::encode(Timestamp::from_micros(v), RunId::NIL, &writes).unwrap();
            wal.append(&body, || Version::new(v)).unwrap();
        }
        wal.close().unwrap();
    }
    let dir = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(RECORDS));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("1M", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            let (wal, recovery) = Wal::open(&dir, WalOptions::default(), Version::ZERO, &mut |r| {
                bytes += r.writes.len();
                Ok(())
            })
            .unwrap();
            assert_eq!(recovery.records_replayed, RECORDS);
            drop(wal);
            black_box(bytes)
        });
    });
    group.finish();
}

criterion_group!(benches, floors, commits, replay);
criterion_main!(benches);
