#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! `KVStore` values that round-trip: the whole `u64` range and byte vectors, through the log and
//! a checkpoint, with the exact errors of reads and writes that cannot work.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use in_mem_core_types::Value;
use in_mem_engine::Database;
use in_mem_primitives::{Error, KVStore};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Upload {
    id: u64,
    size: u64,
    digest: [u8; 4],
    body: Vec<u8>,
    #[serde(with = "serde_bytes")]
    thumbnail: Vec<u8>,
    parts: Option<Vec<Vec<u8>>>,
}

fn sample() -> Upload {
    Upload {
        id: u64::MAX,
        size: 12,
        digest: [0xde, 0xad, 0xbe, 0xef],
        body: b"hello, agent".to_vec(),
        thumbnail: vec![0, 1, 2],
        parts: Some(vec![vec![255], vec![]]),
    }
}

#[test]
fn big_u64_and_bytes_survive_the_log_and_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run;
    {
        let db = Database::open(dir.path()).unwrap();
        let kv = KVStore::new(&db);
        run = db.begin_run();
        kv.put(run, "max", u64::MAX).unwrap();
        kv.put(run, "edge", i64::MAX.unsigned_abs() + 1).unwrap();
        kv.put(run, "upload:1", sample()).unwrap();
        db.checkpoint().unwrap();
        kv.put(run, "upload:2", sample()).unwrap();
        kv.put(run, "wide", u128::from(u64::MAX)).unwrap();
        db.close().unwrap();
    }
    let db = Database::open(dir.path()).unwrap();
    let kv = KVStore::new(&db);
    assert_eq!(kv.get::<u64>(run, "max").unwrap(), Some(u64::MAX));
    assert_eq!(
        kv.get::<u128>(run, "max").unwrap(),
        Some(u128::from(u64::MAX))
    );
    assert_eq!(
        kv.get::<i128>(run, "max").unwrap(),
        Some(i128::from(u64::MAX))
    );
    assert_eq!(kv.get::<u64>(run, "edge").unwrap(), Some(1 << 63));
    assert_eq!(kv.get::<u64>(run, "wide").unwrap(), Some(u64::MAX));
    for key in ["upload:1", "upload:2"] {
        assert_eq!(kv.get::<Upload>(run, key).unwrap(), Some(sample()), "{key}");
    }
    let Some(Value::Map(stored)) = db.get_value(run, "upload:1").unwrap() else {
        panic!("an upload is stored as a map");
    };
    assert_eq!(stored["body"], Value::Bytes(b"hello, agent".to_vec()));
    assert_eq!(stored["digest"], Value::Bytes(vec![0xde, 0xad, 0xbe, 0xef]));
    assert_eq!(stored["id"], Value::from(u64::MAX));
    assert_eq!(stored["size"], Value::I64(12));
}

#[test]
fn small_u64_values_are_stored_as_before_and_read_as_i64() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let kv = KVStore::new(&db);
    let run = db.begin_run();
    for n in [0, 1, 300, i64::MAX.unsigned_abs()] {
        kv.put(run, "n", n).unwrap();
        assert_eq!(
            db.get_value(run, "n").unwrap(),
            Some(Value::I64(i64::try_from(n).unwrap()))
        );
        assert_eq!(kv.get::<i64>(run, "n").unwrap().unwrap().unsigned_abs(), n);
    }
}

#[test]
fn a_big_u64_read_as_i64_is_a_mismatch_naming_both_types() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let kv = KVStore::new(&db);
    let run = db.begin_run();
    kv.put(run, "big", u64::MAX).unwrap();
    let err = kv.get::<i64>(run, "big").unwrap_err();
    assert!(
        matches!(
            err,
            Error::TypeMismatch {
                stored: "u64",
                requested: "i64",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "key \"big\" holds a u64 value that cannot be read as i64: invalid value: integer \
         `18446744073709551615`, expected i64"
    );
    let err = kv.get::<u32>(run, "big").unwrap_err();
    assert_eq!(
        err.to_string(),
        "key \"big\" holds a u64 value that cannot be read as u32: invalid value: integer \
         `18446744073709551615`, expected u32"
    );
}

#[test]
fn integers_beyond_u64_are_refused_at_put() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let kv = KVStore::new(&db);
    let run = db.begin_run();
    let err = kv.put(run, "huge", u128::from(u64::MAX) + 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot store a u128: integer 18446744073709551616 is outside the stored integer range \
         (-9223372036854775808 to 18446744073709551615)"
    );
    assert!(!kv.exists(run, "huge").unwrap());
}

#[test]
fn byte_vectors_share_the_byte_api() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let kv = KVStore::new(&db);
    let run = db.begin_run();
    // Bytes stored through KVStore are what the byte API stores, and the other way round.
    kv.put(run, "typed", vec![1u8, 2, 3]).unwrap();
    assert_eq!(
        db.get(run, "typed").unwrap().as_deref(),
        Some(&[1u8, 2, 3][..])
    );
    db.put(run, "raw", [9u8, 8]).unwrap();
    assert_eq!(kv.get::<Vec<u8>>(run, "raw").unwrap(), Some(vec![9, 8]));
    assert_eq!(kv.get::<[u8; 2]>(run, "raw").unwrap(), Some([9, 8]));
    assert_eq!(
        kv.get::<ByteBuf>(run, "raw").unwrap(),
        Some(ByteBuf::from(vec![9, 8]))
    );
    assert_eq!(kv.get::<Vec<u16>>(run, "raw").unwrap(), Some(vec![9, 8]));
    let err = kv.get::<[u8; 3]>(run, "raw").unwrap_err();
    assert_eq!(
        err.to_string(),
        "key \"raw\" holds a bytes value that cannot be read as [u8; 3]: invalid length 2, \
         expected an array of length 3"
    );
}
