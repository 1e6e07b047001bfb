//! Every code snippet of the getting-started guide (`docs/getting-started.md`),
//! verbatim, as users copy them. Lines marked `// context:` are the minimum a snippet needs to
//! compile on its own (a database to use, a value for a placeholder).
//!
//! The snippets use relative paths (`./data`, `./my-agent-db`), so this binary has one test,
//! which first moves into a fresh temporary directory.

#![allow(clippy::unwrap_used)]
// tests may unwrap (clippy.toml)
// The snippets stay exactly as the guide prints them, lints and all.
#![allow(
    unused_variables,
    clippy::uninlined_format_args,
    clippy::unnecessary_wraps
)]
#![allow(clippy::type_complexity)]

use std::error::Error;
use std::time::Duration;

use in_mem::{Database, DurabilityMode, Namespace, RunId, primitives::KVStore};

type Outcome = Result<(), Box<dyn Error>>;

fn opening_a_database() -> Outcome {
    // Open or create a database
    let db = Database::open("./my-agent-db")?;
    drop(db);
    Ok(())
}

fn basic_operations() -> Outcome {
    // Open database
    let db = Database::open("./data")?;

    // Begin a run (all operations are run-scoped)
    let run_id = db.begin_run();

    // Put a key-value pair
    db.put(run_id, b"user:123", b"Alice")?;

    // Get a value
    let value = db.get(run_id, b"user:123")?;
    assert_eq!(value, Some(b"Alice".to_vec()));

    // Delete a key
    db.delete(run_id, b"user:123")?;

    // End the run
    db.end_run(run_id)?;

    // context: the delete took effect and the ended run stays readable.
    assert_eq!(db.get(run_id, b"user:123")?, None);
    Ok(())
}

fn using_the_kv_primitive() -> Outcome {
    let db = Database::open("./data")?;
    let kv = KVStore::new(&db);

    let run_id = db.begin_run();

    // Store structured data
    kv.put(run_id, "config:max_retries", 3)?;
    kv.put(run_id, "config:timeout_ms", 5000)?;

    // Retrieve values
    let retries: i64 = kv.get(run_id, "config:max_retries")?.unwrap();
    let timeout: i64 = kv.get(run_id, "config:timeout_ms")?.unwrap();

    db.end_run(run_id)?;

    // context: the values are the ones stored.
    assert_eq!((retries, timeout), (3, 5000));
    Ok(())
}

fn runs() -> Outcome {
    let db = Database::open("./data")?; // context
    let (key, value) = (b"step".to_vec(), b"1".to_vec()); // context

    // Create a new run
    let run_id = db.begin_run();

    // All operations use this run_id
    db.put(run_id, key, value)?;

    // End the run when done
    db.end_run(run_id)?;
    Ok(())
}

fn durability_modes() -> Outcome {
    // Strict: fsync after every commit (safest, slowest)
    let db = Database::open_with_mode("./data", DurabilityMode::Strict)?;

    // Batched: fsync every 100ms (balanced, default)
    let db = Database::open_with_mode(
        "./data",
        DurabilityMode::Batched {
            interval_ms: 100,
            max_commits: 1000,
        },
    )?;

    // Async: background fsync (fastest, may lose recent writes on crash)
    let db = Database::open_with_mode("./data", DurabilityMode::Async { interval_ms: 1000 })?;

    // context: the last handle is the Async one, on the same database as the others.
    assert_eq!(
        db.durability_mode(),
        DurabilityMode::Async { interval_ms: 1000 }
    );
    Ok(())
}

fn data_model() -> Outcome {
    use in_mem::{Key, Timestamp, TypeTag, Value, VersionedValue}; // context
    // The guide shows the two structs; these are their fields as users meet them.
    let run_id = RunId::new();
    let key = Key::new(
        Namespace::new("t", "a", "g", run_id),
        TypeTag::Kv,
        b"user".to_vec(),
    );
    assert_eq!(
        (key.namespace().run(), key.type_tag(), key.user_key()),
        (run_id, TypeTag::Kv, &b"user"[..])
    );
    let versioned = VersionedValue {
        value: Value::I64(1),
        version: 7, // Monotonically increasing
        timestamp: Timestamp::now(),
        ttl: Some(Duration::from_secs(60)),
    };
    assert_eq!(versioned.version, 7u64);
    Ok(())
}

fn time_to_live() -> Outcome {
    let db = Database::open("./data")?; // context

    let run_id = db.begin_run();

    // Store with 1-hour TTL
    db.put_with_ttl(
        run_id,
        b"session:abc123",
        b"user-data",
        Duration::from_secs(3600),
    )?;

    // Value expires after 1 hour
    db.end_run(run_id)?;
    Ok(())
}

fn listing_keys() -> Outcome {
    let db = Database::open("./data")?; // context
    let writer = db.begin_run(); // context: two users to find
    db.put(writer, b"user:1", b"Ada")?; // context
    db.put(writer, b"user:2", b"Grace")?; // context

    let run_id = db.begin_run();

    // List all user keys
    let users = db.list(run_id, b"user:")?;
    for (key, value) in users {
        println!("Found user: {:?}", key);
        let _ = value; // context
    }

    db.end_run(run_id)?;

    // context: the listing had both users, in key order.
    let keys: Vec<Vec<u8>> = db
        .list(run_id, b"user:")?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec![b"user:1".to_vec(), b"user:2".to_vec()]);
    Ok(())
}

fn crash_recovery() -> Outcome {
    // First run: write data
    {
        let db = Database::open("./data")?;
        let run_id = db.begin_run();
        db.put(run_id, b"key", b"value")?;
        // Crash here! Database is dropped without proper shutdown
    }

    // Second run: data is recovered
    {
        let db = Database::open("./data")?;
        // Automatic recovery happens during open()
        let run_id = db.begin_run();
        let value = db.get(run_id, b"key")?;
        assert_eq!(value, Some(b"value".to_vec())); // Data recovered!
    }
    Ok(())
}

fn end_runs_properly() -> Outcome {
    let db = Database::open("./data")?; // context

    let run_id = db.begin_run();

    // Do work...

    db.end_run(run_id)?; // Don't forget!
    Ok(())
}

struct RunGuard<'a> {
    db: &'a Database,
    run_id: RunId,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        let _ = self.db.end_run(self.run_id);
    }
}

fn guard_pattern() -> Outcome {
    let db = Database::open("./data")?; // context
    let run_id = db.begin_run(); // context
    {
        let _guard = RunGuard { db: &db, run_id }; // context
    }
    // context: the guard ended the run.
    assert_eq!(db.run_info(run_id)?.status, in_mem::RunStatus::Completed);
    Ok(())
}

fn namespaces() -> Outcome {
    let db = Database::open("./data")?; // context
    let run_id = db.begin_run(); // context

    let namespace = Namespace::new("tenant1", "my-app", "agent-v1", run_id);
    // Keys in this namespace are isolated from other tenants

    assert_eq!(namespace.run(), run_id); // context
    Ok(())
}

fn ttl_for_temporary_data() -> Outcome {
    let db = Database::open("./data")?; // context
    let run_id = db.begin_run(); // context
    let data = b"session-state"; // context

    // Session data expires automatically
    db.put_with_ttl(run_id, b"session:xyz", data, Duration::from_secs(3600))?;
    assert_eq!(db.get(run_id, b"session:xyz")?, Some(data.to_vec())); // context
    Ok(())
}

fn troubleshooting() -> Outcome {
    // Check permissions and disk space
    let db = Database::open("./data").expect("Failed to open database");
    drop(db); // context
    Ok(())
}

#[test]
fn every_snippet_of_the_getting_started_guide_runs() -> Outcome {
    let dir = tempfile::tempdir()?;
    std::env::set_current_dir(dir.path())?;
    let snippets: [(&str, fn() -> Outcome); 15] = [
        ("opening a database", opening_a_database),
        ("basic operations", basic_operations),
        ("using the KV primitive", using_the_kv_primitive),
        ("runs", runs),
        ("durability modes", durability_modes),
        ("data model", data_model),
        ("time-to-live", time_to_live),
        ("listing keys", listing_keys),
        ("crash recovery", crash_recovery),
        ("end runs properly", end_runs_properly),
        ("guard pattern", guard_pattern),
        ("namespaces", namespaces),
        ("TTL for temporary data", ttl_for_temporary_data),
        ("troubleshooting", troubleshooting),
        (
            "crash recovery, again over the earlier snippets' data",
            crash_recovery,
        ),
    ];
    for (name, snippet) in snippets {
        snippet().map_err(|e| format!("snippet {name:?} failed: {e}"))?;
    }
    Ok(())
}
