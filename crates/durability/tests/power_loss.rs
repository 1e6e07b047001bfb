//! Simulated power loss under the log itself: concurrent committers (some waiting for an
//! fdatasync, some only for the write) run over a recording `SimFs`; then the crash point is
//! stepped through every I/O call of the run, and at each one the disk a power loss could
//! leave (several seeds, plus exactly the durable bytes) is recovered and checked:
//! - recovery succeeds (out-of-order unsynced loss is cut, never refused);
//! - what it returns is versions `1..=n` with the bodies that were appended under them;
//! - every commit whose `Synced` wait returned before the crash point is kept, and so is
//!   everything the durable bytes alone hold;
//! - a second recovery finds the same records and a clean log.
//!
//! `IN_MEM_POWER_LOSS_SEEDS=n` raises the seeds per crash point (default 3).
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::{SEGMENT, body, check_record};
use in_mem_core_types::Version;
use in_mem_durability::{CommitRecord, DataDir, SimFs, TailState, Vfs, WaitFor, Wal, WalOptions};

const ROOT: &str = "/power-loss-wal";

fn seeds() -> u64 {
    std::env::var("IN_MEM_POWER_LOSS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

fn options() -> WalOptions {
    WalOptions {
        segment_bytes: SEGMENT,
        ..WalOptions::default()
    }
}

/// Recovers the log on `fs`; the records and the report.
fn recover(fs: &SimFs) -> (Vec<CommitRecord>, in_mem_durability::WalRecovery) {
    let dir = DataDir::open(Arc::new(fs.clone()) as Arc<dyn Vfs>, Path::new(ROOT)).unwrap();
    let mut records = Vec::new();
    let (wal, report) = Wal::open(&dir, options(), Version::ZERO, &mut |r| {
        records.push(r);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("recovery failed: {e}"));
    wal.close().unwrap();
    (records, report)
}

/// One committer thread: appends `n` commits whose bodies are `body(first + i)`, waiting as
/// `level` asks; returns (version, body number, io position when acknowledged) per commit.
fn committer(
    wal: &Wal,
    fs: &SimFs,
    next: &AtomicU64,
    first: u64,
    n: u64,
    level: WaitFor,
) -> Vec<(u64, u64, Option<u64>)> {
    let mut out = Vec::new();
    for i in 0..n {
        let ticket = wal
            .append(&body(first + i), || {
                Version::new(next.fetch_add(1, Ordering::SeqCst) + 1)
            })
            .unwrap();
        wal.wait(ticket, level).unwrap();
        let acked = (level == WaitFor::Synced).then(|| fs.io_count());
        out.push((ticket.version.get(), first + i, acked));
    }
    out
}

#[test]
fn every_crash_point_of_concurrent_commits_recovers_a_prefix_keeping_every_synced_commit() {
    let fs = SimFs::new(7);
    fs.record();
    let dir = DataDir::open(Arc::new(fs.clone()) as Arc<dyn Vfs>, Path::new(ROOT)).unwrap();
    let (wal, _) = Wal::open(&dir, options(), Version::ZERO, &mut |_| Ok(())).unwrap();
    let next = AtomicU64::new(0);
    let log = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for (t, level) in [WaitFor::Synced, WaitFor::Synced, WaitFor::Written]
            .into_iter()
            .enumerate()
        {
            let (wal, fs, next, log) = (&wal, &fs, &next, &log);
            s.spawn(move || {
                let first = 1000 * (t as u64 + 1);
                let done = committer(wal, fs, next, first, 25, level);
                log.lock().unwrap().extend(done);
            });
        }
    });
    wal.close().unwrap();
    drop(wal);
    drop(dir);
    let mut log = log.into_inner().unwrap();
    log.sort_unstable();
    let total = log.len() as u64;
    assert_eq!(log.last().unwrap().0, total, "versions are contiguous");

    let mut timeline = fs.timeline();
    let seeds = seeds();
    let (mut points, mut images, mut cut_with_later_records) = (0u64, 0u64, 0u64);
    loop {
        let k = timeline.position() as u64;
        let floor = recover(&timeline.crash_durable_only()).0.len() as u64;
        for seed in 0..=seeds {
            let image = if seed == 0 {
                timeline.crash_durable_only()
            } else {
                timeline.crash(k * 1000 + seed)
            };
            let context = format!(
                "crash after {k} calls, seed {seed}, next {}",
                timeline.next_call()
            );
            let (records, report) = recover(&image);
            let n = records.len() as u64;
            for (i, record) in records.iter().enumerate() {
                let (version, number, _) = log[i];
                assert_eq!(record.version.get(), version, "{context}");
                check_record_numbered(record, number);
            }
            assert!(n >= floor, "{context}: {n} recovered, {floor} durable");
            for &(version, _, acked) in &log {
                if acked.is_some_and(|at| at <= k) {
                    assert!(version <= n, "{context}: synced commit v{version} lost");
                }
            }
            cut_with_later_records += u64::from(report.records_dropped > 0);
            let (again, report) = recover(&image);
            assert_eq!(again, records, "{context}: second recovery");
            assert_eq!(report.tail, TailState::Clean, "{context}: second recovery");
            images += 1;
        }
        points += 1;
        if !timeline.step() {
            break;
        }
    }
    eprintln!(
        "power loss (log): {points} crash points, {images} images, {total} commits, \
         {cut_with_later_records} cuts dropped records that reached the disk out of order"
    );
    // Concurrent committers share writes and fdatasyncs (group commit), so how many I/O calls
    // the run makes depends on scheduling; it is at least one write and one sync per group, and
    // a group holds at most the three committers.
    assert!(
        points > 2 * total / 3,
        "{points} crash points for {total} commits: too few to mean much"
    );
    assert!(
        cut_with_later_records > 0,
        "the run never produced out-of-order persistence; the test would not see the rule"
    );
}

/// `check_record` for a body numbered `number` (which is not its version here).
fn check_record_numbered(record: &CommitRecord, number: u64) {
    let mut renumbered = record.clone();
    renumbered.version = Version::new(number);
    check_record(&renumbered, number);
}
