//! History at scale: what `fork_run` costs against the size of the run it forks, what the first
//! reads through a fork (and a fork of a fork of a fork) cost, and whether memory and disk stay
//! bounded under endless overwrites once history retention has passed. Prints markdown tables;
//! `cargo bench -p in-mem-benches --bench history`.
//!
//! A plain program rather than a criterion group, as `runs.rs` is: resident memory is measured
//! once per process, and every case runs in a child process of its own so that one case's
//! allocations do not inflate the next.
//!
//! Forks are timed beside `begin_run` in the same process (a fork is a `begin_run` that names a
//! parent, so the plain begin is its floor), rounds interleaved, so that machine drift hits both
//! alike; reads through a fork beside the same reads through the parent.
//!
//! The overwrite cases cross three retentions (the default; `keep_for` 5 s; `keep_for` and
//! `ended_run_retention` both 5 s) with ended runs deleted or kept. Each case overwrites 1M
//! times, settles (the manual clock past every retention, a sweep, checkpoints), overwrites 1M
//! times again to see whether the freed memory is reused, settles again, and is reopened in a
//! fresh process, whose resident memory is what the kept data costs without the allocator's
//! leftovers.
#![allow(clippy::cast_precision_loss, clippy::cast_lossless)] // figures printed for people

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use in_mem::limits::COMMIT_WRITES_MAX;
use in_mem::{
    Clock, Database, HistoryRetention, ManualClock, OpenOptions, RunId, Timestamp, Value,
};
use in_mem_benches::{Rng, VALUE, key};
use in_mem_engine::At;

/// Parent sizes (KV keys; the parent also appends a tenth as many events).
const FORK_SIZES: [u64; 3] = [10_000, 100_000, 1_000_000];
/// Timed rounds per size (each: one `begin_run`, one fork, one fork of a fork of a fork, and
/// the reads through them), after `WARMUP_ROUNDS` untimed ones.
const ROUNDS: usize = 200;
const WARMUP_ROUNDS: usize = 20;
/// KV writes per commit while building a parent: half the commit limit.
const KEYS_PER_COMMIT: u64 = (COMMIT_WRITES_MAX / 2) as u64;
/// Events per commit while building a parent: an append writes the event, a by-type index entry
/// and the log head, so a quarter of the limit keeps a commit under it.
const EVENTS_PER_COMMIT: u64 = (COMMIT_WRITES_MAX / 4) as u64;

/// The overwrite workload: `OVERWRITE_RUNS` runs one after another, each putting
/// `PUTS_PER_RUN` times (ten overwrites of each of `KEYS_PER_RUN` keys, a window that moves by
/// `KEYS_PER_RUN` from one run to the next over `OVERWRITE_KEYS` keys): 1M overwrites of 1k keys.
const OVERWRITE_KEYS: u64 = 1_000;
const OVERWRITE_RUNS: u64 = 1_000;
const KEYS_PER_RUN: u64 = 100;
const PUTS_PER_RUN: u64 = 1_000;
/// Simulated time per run (the manual clock moves by this after each run): 1,000 runs span
/// ~17 minutes, longer than the default 10-minute retention.
const RUN_TICK: Duration = Duration::from_secs(1);
/// The short retention.
const SHORT_KEEP: Duration = Duration::from_secs(5);
/// How far the clock moves after the workload, before the sweep: past the default retention
/// and past the default time an ended run's view stays readable (both 10 minutes).
const SETTLE: Duration = Duration::from_mins(11);

const _: () = assert!(3 * EVENTS_PER_COMMIT as usize <= COMMIT_WRITES_MAX);
const _: () = assert!(OVERWRITE_RUNS * PUTS_PER_RUN == 1_000_000);
const _: () = assert!(
    PUTS_PER_RUN.is_multiple_of(KEYS_PER_RUN) && OVERWRITE_KEYS.is_multiple_of(KEYS_PER_RUN)
);

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

/// Bytes of every file under `dir` (their lengths; log segments are preallocated in full).
fn disk_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => disk_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn micros(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}

/// Median and 99th percentile of `samples`.
fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: usize| samples[(samples.len() * q / 100).min(samples.len() - 1)];
    (at(50), at(99))
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let out = f();
    (out, started.elapsed())
}

fn event_count(db: &Database, run: RunId) -> u64 {
    db.transaction(run, |tx| tx.events().len()).expect("events")
}

// ----- fork cost ------------------------------------------------------------------------------

/// A parent run with `keys` KV keys and `keys / 10` events, built in large commits.
fn build_parent(db: &Database, keys: u64) -> RunId {
    let parent = db.begin_run();
    let mut next = 0;
    while next < keys {
        let end = (next + KEYS_PER_COMMIT).min(keys);
        db.transaction(parent, |tx| {
            (next..end).try_for_each(|i| tx.put(key(i), VALUE))
        })
        .expect("put batch");
        next = end;
    }
    let events = keys / 10;
    let mut next = 0;
    while next < events {
        let end = (next + EVENTS_PER_COMMIT).min(events);
        db.transaction(parent, |tx| {
            (next..end).try_for_each(|i| {
                tx.events()
                    .append("observation", &Value::from(i))
                    .map(|_| ())
            })
        })
        .expect("event batch");
        next = end;
    }
    parent
}

/// Samples of one round's figures, one `Vec` per column.
#[derive(Default)]
struct ForkSamples {
    begin: Vec<Duration>,
    fork: Vec<Duration>,
    fork_depth3: Vec<Duration>,
    get_parent: Vec<Duration>,
    get_fork: Vec<Duration>,
    get_depth3: Vec<Duration>,
    events_parent: Vec<Duration>,
    events_fork: Vec<Duration>,
    events_depth3: Vec<Duration>,
}

fn fork_round(db: &Database, parent: RunId, keys: u64, rng: &mut Rng, out: &mut ForkSamples) {
    let (_, begin) = timed(|| db.begin_run());
    let (fork, fork_time) = timed(|| db.fork_run(parent, At::Now).expect("fork"));
    // The first reads through the fresh fork, and the same reads through the parent; each get
    // is of a key of its own, so that neither finds the other's path in the cache.
    let probe = key(rng.below(keys));
    let (found, get_fork) = timed(|| db.get(fork, probe).expect("get"));
    assert_eq!(found.as_deref(), Some(&VALUE[..]));
    let (n, events_fork) = timed(|| event_count(db, fork));
    assert_eq!(n, keys / 10);
    let probe = key(rng.below(keys));
    let (found, get_parent) = timed(|| db.get(parent, probe).expect("get"));
    assert_eq!(found.as_deref(), Some(&VALUE[..]));
    let (_, events_parent) = timed(|| event_count(db, parent));
    // A fork of a fork of a fork; the third fork is timed, then its first reads.
    let second = db.fork_run(fork, At::Now).expect("fork");
    let (third, fork_depth3) = timed(|| db.fork_run(second, At::Now).expect("fork"));
    let probe = key(rng.below(keys));
    let (found, get_depth3) = timed(|| db.get(third, probe).expect("get"));
    assert_eq!(found.as_deref(), Some(&VALUE[..]));
    let (n, events_depth3) = timed(|| event_count(db, third));
    assert_eq!(n, keys / 10);
    out.begin.push(begin);
    out.fork.push(fork_time);
    out.fork_depth3.push(fork_depth3);
    out.get_parent.push(get_parent);
    out.get_fork.push(get_fork);
    out.get_depth3.push(get_depth3);
    out.events_parent.push(events_parent);
    out.events_fork.push(events_fork);
    out.events_depth3.push(events_depth3);
}

fn fork_cost(dir: &Path, keys: u64) {
    // Background checkpoints off: one of 1M keys would otherwise run beside the timed forks.
    let options = OpenOptions::new().checkpoint_every_bytes(0);
    let db = Database::open_with_options(dir, options).expect("open");
    let base = rss_bytes();
    let (parent, build) = timed(|| build_parent(&db, keys));
    let resident = rss_bytes().saturating_sub(base);
    let mut rng = Rng::new(keys);
    let mut warmup = ForkSamples::default();
    for _ in 0..WARMUP_ROUNDS {
        fork_round(&db, parent, keys, &mut rng, &mut warmup);
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut s = ForkSamples::default();
    for _ in 0..ROUNDS {
        fork_round(&db, parent, keys, &mut rng, &mut s);
    }
    let cell = |samples: &mut Vec<Duration>| {
        let (p50, p99) = percentiles(samples);
        format!("{} / {}", micros(p50), micros(p99))
    };
    let (begin, fork) = (percentiles(&mut s.begin).0, percentiles(&mut s.fork).0);
    println!(
        "FORK| {keys} keys, {} events | {:.1} s, {} | {} | {} | {} | {:.2}x | {} |",
        keys / 10,
        build.as_secs_f64(),
        mib(resident),
        cell(&mut s.begin),
        cell(&mut s.fork),
        cell(&mut s.fork_depth3),
        fork.as_secs_f64() / begin.as_secs_f64(),
        load.split_whitespace().next().unwrap_or("?"),
    );
    println!(
        "READ| {keys} keys, {} events | {} | {} | {} | {} | {} | {} |",
        keys / 10,
        cell(&mut s.get_parent),
        cell(&mut s.get_fork),
        cell(&mut s.get_depth3),
        cell(&mut s.events_parent),
        cell(&mut s.events_fork),
        cell(&mut s.events_depth3),
    );
}

// ----- retention under overwrites -------------------------------------------------------------

/// One case of the overwrite workload: the retention and what happens to runs once ended.
#[derive(Debug, Clone, Copy)]
struct Case {
    /// `keep_for` 5 s instead of the default 10 minutes.
    short_keep: bool,
    /// `ended_run_retention` 5 s too (an ended run's view pins the versions it saw).
    short_ended: bool,
    /// Each run is deleted once ended.
    delete: bool,
}

impl Case {
    const ALL: [&'static str; 6] = [
        "default-delete",
        "default-keep",
        "short-delete",
        "short-keep",
        "short+ended-delete",
        "short+ended-keep",
    ];

    fn parse(arg: &str) -> Case {
        Case {
            short_keep: arg.starts_with("short"),
            short_ended: arg.contains("+ended"),
            delete: arg.ends_with("delete"),
        }
    }

    fn label(self) -> String {
        let retention = match (self.short_keep, self.short_ended) {
            (false, _) => "default (keep_for 600 s)",
            (true, false) => "keep_for 5 s",
            (true, true) => "keep_for 5 s, ended_run_retention 5 s",
        };
        let runs = if self.delete { "deleted" } else { "kept" };
        format!("{retention} | {runs}")
    }

    fn options(self, clock: &Arc<ManualClock>) -> OpenOptions {
        let history = if self.short_keep {
            HistoryRetention {
                keep_for: SHORT_KEEP,
                keep_min_versions: 1,
            }
        } else {
            HistoryRetention::default()
        };
        let options = OpenOptions::new()
            .history(history)
            .clock(Arc::clone(clock) as Arc<dyn Clock>);
        if self.short_ended {
            options.ended_run_retention(SHORT_KEEP)
        } else {
            options
        }
    }
}

/// Versions, runs, resident memory (above `base`) and disk bytes of `db`, as table cells.
fn state(db: &Database, base: u64) -> String {
    let stats = db.stats();
    format!(
        "{} | {} | {} | {}",
        stats.versions,
        stats.runs,
        mib(rss_bytes().saturating_sub(base)),
        mib(disk_bytes(db.path())),
    )
}

/// `OVERWRITE_RUNS` runs of `PUTS_PER_RUN` overwrites, the clock moving `RUN_TICK` per run.
/// Returns the versions and resident memory after each quarter.
fn overwrite_pass(db: &Database, clock: &ManualClock, case: Case, base: u64) -> Vec<String> {
    let mut value = VALUE;
    let mut quarters = Vec::new();
    for r in 0..OVERWRITE_RUNS {
        let run = db.begin_run();
        let window = (r * KEYS_PER_RUN) % OVERWRITE_KEYS;
        for p in 0..PUTS_PER_RUN {
            let n = r * PUTS_PER_RUN + p;
            value[..8].copy_from_slice(&n.to_le_bytes());
            db.put(run, key(window + p % KEYS_PER_RUN), value)
                .expect("put");
        }
        db.end_run(run).expect("end");
        if case.delete {
            db.delete_run(run).expect("delete");
        }
        clock.advance(RUN_TICK);
        if (r + 1).is_multiple_of(OVERWRITE_RUNS / 4) {
            quarters.push(format!(
                "{}, {}",
                db.stats().versions,
                mib(rss_bytes().saturating_sub(base))
            ));
        }
    }
    quarters
}

/// The clock past every retention, then a sweep and a checkpoint; returns the table cell.
fn settle(db: &Database, clock: &ManualClock) -> String {
    clock.advance(SETTLE);
    let (swept, sweep_time) = timed(|| db.sweep());
    let (info, checkpoint_time) = timed(|| db.checkpoint().expect("checkpoint"));
    format!(
        "clock +11 min, sweep ({} removed, {:.0} ms) + checkpoint ({} entries, {}, {:.0} ms)",
        swept.versions_removed,
        sweep_time.as_secs_f64() * 1e3,
        info.entries,
        mib(info.bytes),
        checkpoint_time.as_secs_f64() * 1e3,
    )
}

fn overwrite(dir: &Path, case: Case) {
    let clock = Arc::new(ManualClock::new(Timestamp::now()));
    let base = rss_bytes();
    let db = Database::open_with_options(dir, case.options(&clock)).expect("open");
    let label = case.label();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let (quarters, took) = timed(|| overwrite_pass(&db, &clock, case, base));
    println!(
        "LOAD| {label} | {:.1} s ({:.1} us/put) | {} | {} |",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / (OVERWRITE_RUNS * PUTS_PER_RUN) as f64,
        quarters.join(" | "),
        load.split_whitespace().next().unwrap_or("?"),
    );
    println!(
        "KEPT| {label} | end of the 1M overwrites (background sweeps only) | {} |",
        state(&db, base)
    );
    db.sweep();
    println!(
        "KEPT| {label} | sweep, clock unchanged | {} |",
        state(&db, base)
    );
    let what = settle(&db, &clock);
    println!("KEPT| {label} | {what} | {} |", state(&db, base));
    db.checkpoint().expect("checkpoint");
    println!("KEPT| {label} | second checkpoint | {} |", state(&db, base));
    // Endless overwrites: a second pass must reuse what the first one's versions freed.
    overwrite_pass(&db, &clock, case, base);
    println!(
        "KEPT| {label} | another 1M overwrites (background sweeps only) | {} |",
        state(&db, base)
    );
    settle(&db, &clock);
    db.checkpoint().expect("checkpoint");
    println!(
        "KEPT| {label} | clock +11 min, sweep + two checkpoints | {} |",
        state(&db, base)
    );
    db.close().expect("close");
    // The clock's reading, for the reopen in a fresh process.
    std::fs::write(dir.join("bench-clock"), clock.now().as_micros().to_string())
        .expect("clock file");
}

fn reopen(dir: &Path, case: Case) {
    let micros: u64 = std::fs::read_to_string(dir.join("bench-clock"))
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("clock file");
    let clock = Arc::new(ManualClock::new(Timestamp::from_micros(micros)));
    let base = rss_bytes();
    let (db, took) =
        timed(|| Database::open_with_options(dir, case.options(&clock)).expect("reopen"));
    println!(
        "KEPT| {} | reopened in a fresh process ({:.0} ms) | {} |",
        case.label(),
        took.as_secs_f64() * 1e3,
        state(&db, base)
    );
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    if let (Some(phase), Some(arg), Some(dir)) = (args.next(), args.next(), args.next()) {
        let dir = Path::new(&dir);
        match phase.as_str() {
            "fork" => fork_cost(dir, arg.parse().expect("size")),
            "overwrite" => overwrite(dir, Case::parse(&arg)),
            "reopen" => reopen(dir, Case::parse(&arg)),
            _ => {}
        }
        return;
    }
    let me = std::env::current_exe().expect("own path");
    let mut rows: Vec<String> = Vec::new();
    let mut child = |phase: &str, arg: &str, dir: &Path| {
        let out = Command::new(&me)
            .arg(phase)
            .arg(arg)
            .arg(dir)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("child");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        print!("{text}");
        assert!(out.status.success(), "{phase} {arg} failed");
        rows.extend(text.lines().map(str::to_owned));
    };
    let started = Instant::now();
    for keys in FORK_SIZES {
        let dir = tempfile::tempdir().expect("temp dir");
        child("fork", &keys.to_string(), dir.path());
    }
    for arg in Case::ALL {
        let dir = tempfile::tempdir().expect("temp dir");
        child("overwrite", arg, dir.path());
        child("reopen", arg, dir.path());
    }
    let took = started.elapsed();
    let tables = [
        (
            "FORK|",
            "Fork cost (median / p99 of 200 rounds)",
            "| parent | built in, resident | begin_run | fork_run(parent, At::Now) | fork_run at depth 3 | fork / begin (medians) | load average |\n| --- | --- | --- | --- | --- | --- | --- |",
        ),
        (
            "READ|",
            "First reads through a fresh fork (median / p99 of 200 rounds)",
            "| parent | get, parent | get, fork | get, depth 3 | events().len(), parent | events().len(), fork | events().len(), depth 3 |\n| --- | --- | --- | --- | --- | --- | --- |",
        ),
        (
            "LOAD|",
            "1M overwrites of 1k keys by 1,000 runs: versions and resident memory after each quarter",
            "| retention | ended runs | took | 250k | 500k | 750k | 1M | load average at start |\n| --- | --- | --- | --- | --- | --- | --- | --- |",
        ),
        (
            "KEPT|",
            "Versions, runs, resident memory and disk, before and after retention",
            "| retention | ended runs | when | versions | runs | resident | disk |\n| --- | --- | --- | --- | --- | --- | --- |",
        ),
    ];
    for (prefix, title, header) in tables {
        println!("\n{title}\n\n{header}");
        for row in rows.iter().filter_map(|r| r.strip_prefix(prefix)) {
            println!("|{row}");
        }
    }
    println!("\ntotal {:.0} s", took.as_secs_f64());
}
