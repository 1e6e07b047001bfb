//! Runs at scale: 100,000 runs begun and ended, then what they cost: resident memory, reopen
//! time per run from the log and from a checkpoint (beside the same for 100,000 KV records with
//! random keys, the yardstick), and `query_runs` with a limit. Prints one table;
//! `cargo bench -p in-mem-benches --bench runs`.
//!
//! A plain program rather than a criterion group: memory and reopen time are measured once per
//! process (a second reopen in the same process would find pages already warm), and each phase
//! runs in a child process of its own so that one phase's allocations do not inflate the next.
#![allow(clippy::cast_precision_loss, clippy::cast_lossless)] // figures printed for people

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use in_mem::{Database, DurabilityMode, OpenOptions, RunOptions, RunQuery, RunStatus};

const RUNS: u32 = 100_000;

fn options() -> OpenOptions {
    OpenOptions::new().mode(DurabilityMode::Async { interval_ms: 100 })
}

/// Resident set size of this process, in bytes (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn populate_runs(dir: &Path) {
    let db = Database::open_with_options(dir, options()).expect("open");
    let base = rss_bytes();
    let started = Instant::now();
    for i in 0..RUNS {
        let mut run = RunOptions::new();
        if i % 10 == 0 {
            run = run.tag("nightly");
        }
        let id = db.begin_run_with(run).expect("begin");
        if i % 100 != 0 {
            db.end_run(id).expect("end");
        }
    }
    let took = started.elapsed();
    db.flush().expect("flush");
    let grown = rss_bytes().saturating_sub(base);
    println!(
        "begin+end {RUNS} runs: {:.2} s ({:.1} us per run); resident memory grew {:.1} MiB ({} B per run)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / f64::from(RUNS),
        grown as f64 / (1 << 20) as f64,
        grown / u64::from(RUNS)
    );
}

fn populate_keys(dir: &Path) {
    let db = Database::open_with_options(dir, options()).expect("open");
    let run = db.begin_run();
    // Random keys, as run records' keys are (a run id is random): the yardstick must pay the
    // same random inserts into the ordered index.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..RUNS {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        db.put(run, format!("key:{state:016x}"), [7u8; 64])
            .expect("put");
    }
    db.end_run(run).expect("end");
    db.flush().expect("flush");
}

fn checkpoint(dir: &Path) {
    let db = Database::open_with_options(dir, options()).expect("open");
    let info = db.checkpoint().expect("checkpoint");
    println!(
        "checkpoint of {}: {} entries, {:.1} MiB",
        dir.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        info.entries,
        info.bytes as f64 / (1 << 20) as f64
    );
}

fn reopen(dir: &Path, what: &str) {
    let base = rss_bytes();
    let started = Instant::now();
    let db = Database::open_with_options(dir, options()).expect("reopen");
    let took = started.elapsed();
    println!(
        "reopen with {RUNS} {what}: {:.3} s ({:.2} us each), resident memory {:.1} MiB",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / f64::from(RUNS),
        rss_bytes().saturating_sub(base) as f64 / (1 << 20) as f64
    );
    drop(db);
}

fn query(dir: &Path) {
    let db = Database::open_with_options(dir, options()).expect("open");
    let queries = [
        ("limit 10", RunQuery::new().limit(10)),
        (
            "status interrupted, limit 10",
            RunQuery::new().status(RunStatus::Interrupted).limit(10),
        ),
        (
            "tag nightly, limit 10",
            RunQuery::new().tag("nightly").limit(10),
        ),
        (
            "agent default, completed, limit 10",
            RunQuery::new()
                .agent("default")
                .status(RunStatus::Completed)
                .limit(10),
        ),
    ];
    for (name, q) in queries {
        let mut times: Vec<Duration> = (0..21)
            .map(|_| {
                let started = Instant::now();
                let found = db.query_runs(&q);
                let took = started.elapsed();
                assert!(!found.is_empty());
                took
            })
            .collect();
        times.sort();
        println!(
            "query_runs({name}) at {RUNS} runs: median {:.1} us",
            times[times.len() / 2].as_secs_f64() * 1e6
        );
    }
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    if let (Some(phase), Some(dir)) = (args.next(), args.next()) {
        let dir = Path::new(&dir);
        match phase.as_str() {
            "populate-runs" => populate_runs(dir),
            "populate-keys" => populate_keys(dir),
            "reopen-runs" => reopen(dir, "runs, from the log"),
            "reopen-keys" => reopen(dir, "random KV records, from the log"),
            "checkpoint" => checkpoint(dir),
            "reopen-runs-checkpoint" => reopen(dir, "runs, from a checkpoint"),
            "reopen-keys-checkpoint" => reopen(dir, "random KV records, from a checkpoint"),
            "query" => query(dir),
            _ => {}
        }
        return;
    }
    let runs_dir = tempfile::tempdir().expect("temp dir");
    let keys_dir = tempfile::tempdir().expect("temp dir");
    let me = std::env::current_exe().expect("own path");
    for (phase, dir) in [
        ("populate-runs", runs_dir.path()),
        ("populate-keys", keys_dir.path()),
        ("reopen-runs", runs_dir.path()),
        ("reopen-keys", keys_dir.path()),
        ("checkpoint", runs_dir.path()),
        ("checkpoint", keys_dir.path()),
        ("reopen-runs-checkpoint", runs_dir.path()),
        ("reopen-keys-checkpoint", keys_dir.path()),
        ("query", runs_dir.path()),
    ] {
        let status = Command::new(&me)
            .arg(phase)
            .arg(dir)
            .status()
            .expect("child");
        assert!(status.success(), "{phase} failed");
    }
}
