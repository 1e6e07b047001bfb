#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! `KVStore`: typed values, integer widths, type errors, versioned reads, exists, listing,
//! compare-and-swap.

use serde::{Deserialize, Serialize};

use in_mem_engine::Database;
use in_mem_primitives::{Error, KVStore};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Profile {
    name: String,
    languages: Vec<String>,
}

#[test]
fn typed_values_round_trip_and_integers_read_as_any_width_they_fit() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let kv = KVStore::new(&db);
    let run = db.begin_run();
    kv.put(run, "config:max_retries", 3).unwrap();
    let as_i64: i64 = kv.get(run, "config:max_retries").unwrap().unwrap();
    let as_u8: u8 = kv.get(run, "config:max_retries").unwrap().unwrap();
    assert_eq!((as_i64, as_u8), (3, 3));
    let profile = Profile {
        name: "Ada".into(),
        languages: vec!["en".into()],
    };
    kv.put(run, "user:ada", &profile).unwrap();
    assert_eq!(
        kv.get::<Profile>(run, "user:ada").unwrap().unwrap(),
        profile
    );
    kv.put(run, "big", 300).unwrap();
    let err = kv.get::<u8>(run, "big").unwrap_err();
    assert!(
        matches!(
            err,
            Error::TypeMismatch {
                stored: "i64",
                requested: "u8",
                ..
            }
        ),
        "{err}"
    );
    let err = kv.get::<i64>(run, "user:ada").unwrap_err();
    assert!(
        err.to_string().contains("map") && err.to_string().contains("i64"),
        "{err}"
    );
}

#[test]
fn exists_listing_and_versioned_reads() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let kv = KVStore::new(&db);
    let run = db.begin_run();
    let v1 = kv.put(run, "a:1", "one").unwrap();
    kv.put(run, "a:2", "two").unwrap();
    kv.put(run, "b:1", "other").unwrap();
    assert!(kv.exists(run, "a:1").unwrap());
    assert!(!kv.exists(run, "a:3").unwrap());
    assert_eq!(
        kv.list_keys(run, "a:").unwrap(),
        vec![b"a:1".to_vec(), b"a:2".to_vec()]
    );
    let listed: Vec<(Vec<u8>, String)> = kv.list(run, "a:").unwrap();
    assert_eq!(listed[1].1, "two");
    let versioned = kv.list_versioned(run, "a:").unwrap();
    assert_eq!(versioned[0].1.version, v1);
    assert_eq!(kv.get_versioned(run, "a:1").unwrap().unwrap().version, v1);
    assert!(kv.delete(run, "a:1").unwrap());
    assert!(!kv.exists(run, "a:1").unwrap());
}

#[test]
fn compare_and_swap_on_a_keys_version() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let kv = KVStore::new(&db);
    let run = db.begin_run();
    let v1 = kv.compare_and_swap(run, "lock", None, "owner-a").unwrap();
    let taken = kv
        .compare_and_swap(run, "lock", None, "owner-b")
        .unwrap_err();
    assert!(
        matches!(taken, Error::StaleVersion { expected: None, actual: Some(v), .. } if v == v1),
        "{taken}"
    );
    let v2 = kv
        .compare_and_swap(run, "lock", Some(v1), "owner-c")
        .unwrap();
    assert!(v2 > v1);
    assert!(kv.compare_and_swap(run, "lock", Some(v1), "stale").is_err());
    assert_eq!(kv.get::<String>(run, "lock").unwrap().unwrap(), "owner-c");
}

#[test]
fn storing_null_is_not_a_delete() {
    // Named regression (docs/TESTING.md): storing Null looked like a delete.
    let dir = tempfile::tempdir().unwrap();
    let run;
    {
        let db = Database::open(dir.path()).unwrap();
        let kv = KVStore::new(&db);
        run = db.begin_run();
        kv.put(run, "nothing", ()).unwrap();
        kv.put(run, "none", None::<i64>).unwrap();
        assert!(kv.exists(run, "nothing").unwrap());
        assert_eq!(kv.get::<Option<i64>>(run, "none").unwrap(), Some(None));
        assert_eq!(kv.list_keys(run, "no").unwrap().len(), 2);
    }
    let db = Database::open(dir.path()).unwrap();
    let kv = KVStore::new(&db);
    assert!(
        kv.exists(run, "nothing").unwrap(),
        "still there after reopen"
    );
    assert_eq!(kv.get::<Option<i64>>(run, "none").unwrap(), Some(None));
}
