//! What calling in-mem from tokio costs, with and without `spawn_blocking` (the numbers in
//! `docs/async.md`).
//!
//! ```text
//! cargo run --release -p in-mem --example async_cost [-- <data-dir>]
//! ```
//!
//! 1. Per-commit overhead: one task commits in a loop, calling `db.put` directly and through
//!    `tokio::task::spawn_blocking`, in `Async` mode (a commit is an in-memory append, so the
//!    hand-off's cost shows) and in `Strict` mode (a commit waits for an fdatasync).
//! 2. Timer lateness: a task ticking a 1 ms `tokio::time::interval` on the default multi-thread
//!    runtime (one worker per core) while 128 tasks commit in `Strict` mode, directly and through
//!    `spawn_blocking`; how late its ticks fire (now minus the tick's deadline).
//!
//! Without an argument it works under the system's temp dir (which must be a real disk for the
//! Strict numbers to mean anything) and removes what it wrote.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use in_mem::{Database, DurabilityMode, RunId};

/// Commits per loop of the overhead measurement, by mode.
const OVERHEAD_COMMITS_ASYNC: u32 = 50_000;
const OVERHEAD_COMMITS_STRICT: u32 = 1_000;
/// Writer tasks and commits per task of the timer measurement.
const WRITER_TASKS: u32 = 128;
const COMMITS_PER_WRITER: u32 = 20;

#[derive(Clone, Copy)]
enum Call {
    Direct,
    SpawnBlocking,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::Direct => "direct call",
            Call::SpawnBlocking => "spawn_blocking",
        }
    }
}

async fn put(call: Call, db: &Database, run: RunId, key: Vec<u8>) -> in_mem::Result<u64> {
    match call {
        Call::Direct => db.put(run, key, b"value"),
        Call::SpawnBlocking => {
            let db = db.clone();
            tokio::task::spawn_blocking(move || db.put(run, key, b"value"))
                .await
                .expect("the closure does not panic")
        }
    }
}

fn fresh(root: &Path, name: &str, mode: DurabilityMode) -> in_mem::Result<Database> {
    let path = root.join(name);
    let _ = std::fs::remove_dir_all(&path);
    Database::open_with_mode(path, mode)
}

/// Mean time per commit of `commits` sequential commits from one task.
async fn per_commit(call: Call, db: &Database, commits: u32) -> in_mem::Result<Duration> {
    let run = db.begin_run();
    let start = Instant::now();
    for i in 0..commits {
        put(call, db, run, format!("k{i:08}").into_bytes()).await?;
    }
    Ok(start.elapsed() / commits)
}

/// How late the ticks of a 1 ms interval fire while 128 tasks commit `Strict`: the lateness of
/// every tick during the writes, sorted, and the commits per second.
async fn timer_lateness(call: Call, db: &Database) -> in_mem::Result<(Vec<Duration>, f64)> {
    let run = db.begin_run();
    let writing = Arc::new(AtomicBool::new(true));
    let timer = {
        let writing = Arc::clone(&writing);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(1));
            interval.tick().await;
            let mut late = Vec::new();
            while writing.load(Ordering::SeqCst) {
                let deadline = interval.tick().await;
                late.push(Instant::now().saturating_duration_since(deadline.into_std()));
            }
            late
        })
    };
    let start = Instant::now();
    let mut writers = Vec::new();
    for t in 0..WRITER_TASKS {
        let db = db.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..COMMITS_PER_WRITER {
                put(call, &db, run, format!("t{t:03}:{i:03}").into_bytes()).await?;
            }
            Ok::<(), in_mem::Error>(())
        }));
    }
    for writer in writers {
        writer.await.expect("writer does not panic")?;
    }
    let elapsed = start.elapsed();
    writing.store(false, Ordering::SeqCst);
    let mut late = timer.await.expect("timer does not panic");
    late.sort();
    let rate = f64::from(WRITER_TASKS * COMMITS_PER_WRITER) / elapsed.as_secs_f64();
    Ok((late, rate))
}

/// The value `per_mille` thousandths of the way through `sorted` (0 if it is empty).
fn percentile(sorted: &[Duration], per_mille: usize) -> Duration {
    let at = sorted.len().saturating_sub(1) * per_mille / 1000;
    sorted.get(at).copied().unwrap_or_default()
}

fn micros(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}

fn main() -> in_mem::Result<()> {
    let (root, temporary) = match std::env::args().nth(1) {
        Some(dir) => (PathBuf::from(dir), false),
        None => (
            std::env::temp_dir().join(format!("in-mem-async-cost-{}", std::process::id())),
            true,
        ),
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| in_mem::Error::InvalidOptions {
        reason: format!("cannot start a tokio runtime: {e}"),
    })?;
    let workers = runtime.metrics().num_workers();
    println!(
        "in-mem from tokio: {workers} worker threads, data under {}",
        root.display()
    );

    println!("\n1. per-commit cost, one task committing in a loop");
    let async_mode = DurabilityMode::Async { interval_ms: 1000 };
    for (mode_name, mode, commits) in [
        ("Async", async_mode, OVERHEAD_COMMITS_ASYNC),
        ("Strict", DurabilityMode::Strict, OVERHEAD_COMMITS_STRICT),
    ] {
        let mut results = Vec::new();
        for call in [Call::Direct, Call::SpawnBlocking] {
            let db = fresh(
                &root,
                &format!("overhead-{mode_name}-{}", call.name()),
                mode,
            )?;
            let each = runtime.block_on(per_commit(call, &db, commits))?;
            println!(
                "  {mode_name:<6} {:<15} {:>10} per commit ({commits} commits)",
                call.name(),
                micros(each)
            );
            results.push(each);
            db.close()?;
        }
        let overhead = results[1].saturating_sub(results[0]);
        println!(
            "  {mode_name:<6} spawn_blocking adds {} per commit",
            micros(overhead)
        );
    }

    println!(
        "\n2. a 1 ms interval's lateness while {WRITER_TASKS} tasks commit Strict \
         ({COMMITS_PER_WRITER} commits each)"
    );
    for call in [Call::Direct, Call::SpawnBlocking] {
        let db = fresh(
            &root,
            &format!("timer-{}", call.name()),
            DurabilityMode::Strict,
        )?;
        let (late, rate) = runtime.block_on(timer_lateness(call, &db))?;
        println!(
            "  {:<15} ticks {:>5}  late p50 {:>10}  p99 {:>10}  max {:>10}  ({rate:.0} commits/s)",
            call.name(),
            late.len(),
            micros(percentile(&late, 500)),
            micros(percentile(&late, 990)),
            micros(late.last().copied().unwrap_or_default()),
        );
        db.close()?;
    }

    if temporary {
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(())
}
