//! `Database::connect` through the umbrella, against the PostgreSQL that `INMEM_PG_URL` names
//! (`cargo xtask pg-test` starts one and runs this with the `postgres` feature). Built without
//! the feature, or without a server, it checks only what it can and says why.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

use std::time::Duration;

use in_mem::primitives::KVStore;
use in_mem::{Database, DurabilityMode, RemoteOptions, RunId};

fn server_url() -> Option<String> {
    let url = std::env::var("INMEM_PG_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        assert!(
            std::env::var_os("INMEM_PG_REQUIRED").is_none(),
            "INMEM_PG_REQUIRED is set but INMEM_PG_URL is not: run `cargo xtask pg-test`"
        );
        eprintln!("skipped: INMEM_PG_URL is not set (`cargo xtask pg-test` sets it)");
    }
    url
}

#[test]
fn the_getting_started_calls_work_on_a_connected_database() {
    if !cfg!(feature = "postgres") {
        let err = Database::connect(RemoteOptions::new("postgres://localhost/x")).unwrap_err();
        assert!(err.to_string().contains("`postgres` feature"), "{err}");
        return;
    }
    let Some(url) = server_url() else { return };
    let schema = format!("u_{}", RunId::new().to_string().replace('-', "_"));
    for mode in [
        DurabilityMode::Strict,
        DurabilityMode::Batched {
            interval_ms: 100,
            max_commits: 1000,
        },
        DurabilityMode::Async { interval_ms: 1000 },
    ] {
        let options = RemoteOptions::new(url.clone())
            .schema(schema.clone())
            .mode(mode)
            .lease_ttl(Duration::from_secs(5));
        let db = Database::connect(options).unwrap();
        let run_id = db.begin_run();
        let version = db.put(run_id, b"user:123", b"Alice").unwrap();
        assert!(version > 0);
        assert_eq!(
            db.get(run_id, b"user:123").unwrap(),
            Some(b"Alice".to_vec())
        );
        db.put_with_ttl(run_id, b"session:abc", b"data", Duration::from_secs(3600))
            .unwrap();
        let listed = db.list(run_id, b"user:").unwrap();
        assert_eq!(listed, vec![(b"user:123".to_vec(), b"Alice".to_vec())]);
        assert!(db.delete(run_id, b"user:123").unwrap());
        let kv = KVStore::new(&db);
        kv.put(run_id, "config:max_retries", 3).unwrap();
        let retries: i64 = kv.get(run_id, "config:max_retries").unwrap().unwrap();
        assert_eq!(retries, 3);
        db.flush().unwrap();
        db.end_run(run_id).unwrap();
        // Another host reads what this one wrote.
        let other = Database::connect(
            RemoteOptions::new(url.clone())
                .schema(schema.clone())
                .host_id(format!("other-{}", RunId::new())),
        )
        .unwrap();
        let kv = KVStore::new(&other);
        let read: i64 = kv.get(run_id, "config:max_retries").unwrap().unwrap();
        assert_eq!(read, 3);
        db.close().unwrap();
        other.close().unwrap();
    }
}
