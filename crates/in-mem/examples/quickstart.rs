//! The main job: write a run, close the database, reopen it, and print what was recovered.
//!
//! ```text
//! cargo run --release --example quickstart [-- <data-dir>]
//! ```
//!
//! Without an argument it uses a fresh directory under the system's temp dir and removes it at
//! the end; with one it keeps the data there, so running it twice shows recovery of both runs.

use std::time::Duration;

use in_mem::{Database, DurabilityMode, Namespace, Value, primitives::KVStore};

fn main() -> in_mem::Result<()> {
    let (path, temporary) = if let Some(dir) = std::env::args().nth(1) {
        (std::path::PathBuf::from(dir), false)
    } else {
        let dir = std::env::temp_dir().join(format!("in-mem-quickstart-{}", std::process::id()));
        (dir, true)
    };
    println!("in-mem quickstart, data directory {}", path.display());

    // 1. Write a run: raw bytes, a TTL'd session, typed values, a delete.
    let run_id = {
        let db = Database::open_with_mode(&path, DurabilityMode::Strict)?;
        let run_id = db.begin_run();
        println!("\nbegan run {run_id}");
        let v = db.put(run_id, b"user:123", b"Alice")?;
        println!("  put user:123 = Alice            -> version {v}");
        let v = db.put(run_id, b"user:456", b"Bob")?;
        println!("  put user:456 = Bob              -> version {v}");
        let v = db.put_with_ttl(run_id, b"session:abc", b"data", Duration::from_secs(3600))?;
        println!("  put session:abc (ttl 1 h)       -> version {v}");
        let kv = KVStore::new(&db);
        let v = kv.put(run_id, "config:max_retries", 3)?;
        println!("  kv.put config:max_retries = 3   -> version {v}");
        let v = kv.put(run_id, "config:models", vec!["planner", "coder"])?;
        println!("  kv.put config:models            -> version {v}");
        let v = db.put(run_id, b"scratch", b"temporary")?;
        println!("  put scratch                     -> version {v}");
        let existed = db.delete(run_id, b"scratch")?;
        println!("  delete scratch (existed: {existed})");
        db.end_run(run_id)?;
        db.close()?;
        println!("ended the run and closed the database");
        run_id
    };

    // 2. Reopen: recovery replays the log; a new run sees everything the first one wrote.
    let db = Database::open(&path)?;
    let report = db.recovery_report();
    println!(
        "\nreopened: {} commits replayed, last version {}, tail {:?}",
        report.records_replayed, report.last_version, report.tail
    );
    let reader = db.begin_run();
    println!("new run {reader} reads:");
    for key in [
        "user:123",
        "user:456",
        "session:abc",
        "config:max_retries",
        "config:models",
        "scratch",
    ] {
        match db.get_versioned(reader, key)? {
            Some(v) => println!(
                "  {key:<20} = {:<28} version {:>3}  ttl {:?}",
                show(&v.value),
                v.version,
                v.ttl
            ),
            None => println!("  {key:<20}   (absent)"),
        }
    }
    let retries: i64 = KVStore::new(&db)
        .get(reader, "config:max_retries")?
        .unwrap_or_default();
    println!("  config:max_retries read back as i64: {retries}");
    for (key, value) in db.list(reader, b"user:")? {
        println!(
            "  list user: -> {} = {}",
            String::from_utf8_lossy(&key),
            String::from_utf8_lossy(&value)
        );
    }
    println!("\nruns in this database:");
    for info in db.runs() {
        let ns: Namespace = info.namespace();
        println!(
            "  {} {:<11} snapshot v{:<3} in {}",
            info.run,
            info.status.to_string(),
            info.snapshot,
            ns
        );
    }
    db.end_run(reader)?;
    assert!(db.runs().iter().any(|r| r.run == run_id));
    db.close()?;

    if temporary {
        let _ = std::fs::remove_dir_all(&path);
    }
    Ok(())
}

/// A value as a person reads it: bytes as text where they are UTF-8.
fn show(value: &Value) -> String {
    match value {
        Value::Bytes(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => format!("b{text:?}"),
            Err(_) => format!("{bytes:?}"),
        },
        other => format!("{other:?}"),
    }
}
