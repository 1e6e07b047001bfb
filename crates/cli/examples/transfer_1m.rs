//! Times `in-mem export` and `in-mem import` of a database of one million keys (or as many as
//! the first argument says), end to end as a user runs them: the binary, writing to and
//! reading from files. A timed example, not a test: it prints what it measured.
//!
//! ```text
//! cargo build --release -p in-mem-cli
//! cargo run --release -p in-mem-cli --example transfer_1m [KEYS]
//! ```
// Rates and sizes printed to people: float conversions are fine there.
#![allow(clippy::cast_precision_loss)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use in_mem::{Database, DurabilityMode, Value};

/// Keys per commit while the database is filled.
const KEYS_PER_COMMIT: usize = 1_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 1_000_000,
    };
    // The binary beside this example's directory: target/<profile>/in-mem.
    let exe = std::env::current_exe()?;
    let binary: PathBuf = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(|profile| profile.join("in-mem"))
        .ok_or("no target directory")?;
    if !binary.exists() {
        return Err(format!(
            "{} is not built: run `cargo build --release -p in-mem-cli` first",
            binary.display()
        )
        .into());
    }
    let tmp = tempfile::tempdir()?;
    let (source, copy) = (tmp.path().join("source"), tmp.path().join("copy"));
    let export = tmp.path().join("export.jsonl");

    let started = Instant::now();
    let db = Database::open_with_mode(&source, DurabilityMode::Async { interval_ms: 100 })?;
    let run = db.begin_run();
    for chunk in (0..keys).collect::<Vec<_>>().chunks(KEYS_PER_COMMIT) {
        db.transaction(run, |tx| {
            for &i in chunk {
                tx.put_value(
                    format!("key:{i:08}"),
                    &Value::I64(i64::try_from(i).unwrap_or(0)),
                )?;
            }
            Ok::<_, in_mem::Error>(())
        })?;
    }
    db.end_run(run)?;
    db.close()?;
    println!("filled {keys} keys in {:.2?}", started.elapsed());

    let started = Instant::now();
    let status = Command::new(&binary)
        .args(["export", &source.to_string_lossy()])
        .stdout(std::fs::File::create(&export)?)
        .status()?;
    let export_time = started.elapsed();
    if !status.success() {
        return Err("in-mem export failed".into());
    }
    let bytes = std::fs::metadata(&export)?.len();
    println!(
        "export: {export_time:.2?} ({:.0} stored versions/s, {:.1} MB of JSON Lines)",
        keys as f64 / export_time.as_secs_f64(),
        bytes as f64 / 1e6
    );

    let started = Instant::now();
    let status = Command::new(&binary)
        .args(["import", &copy.to_string_lossy()])
        .stdin(std::fs::File::open(&export)?)
        .stderr(Stdio::null())
        .status()?;
    let import_time = started.elapsed();
    if !status.success() {
        return Err("in-mem import failed".into());
    }
    println!(
        "import: {import_time:.2?} ({:.0} stored versions/s)",
        keys as f64 / import_time.as_secs_f64()
    );

    // The round trip holds: the copy exports to the same bytes.
    let again = Command::new(&binary)
        .args(["export", &copy.to_string_lossy()])
        .output()?;
    if again.stdout != std::fs::read(&export)? {
        return Err("export -> import -> export changed the export".into());
    }
    println!("export -> import -> export: byte-identical");
    Ok(())
}
