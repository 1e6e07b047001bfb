//! Damaged logs through the `Database` API: a torn tail is cut and reported, damage before the
//! tail is refused with file, offset and reason, garbage never panics.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use in_mem_engine::{Database, DurabilityMode, Error, TailState};

/// Writes `n` commits (`k0000` = 0 ... in order) and closes; returns the directory.
fn write_commits(n: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with_options(
        dir.path(),
        common::options(DurabilityMode::Strict).segment_bytes(64 << 10),
    )
    .unwrap();
    let run = db.begin_run();
    for i in 0..n {
        db.put(run, format!("k{i:04}"), format!("value-{i}"))
            .unwrap();
    }
    db.close().unwrap();
    dir
}

/// The `k....` keys that a fresh run sees, as numbers, or the open error.
fn recovered(path: &Path) -> Result<(Vec<u32>, TailState), Error> {
    let db = Database::open_with_options(path, common::options(DurabilityMode::Strict))?;
    let run = db.begin_run();
    let keys = db
        .list(run, b"k")?
        .into_iter()
        .map(|(k, v)| {
            let i: u32 = std::str::from_utf8(&k[1..]).unwrap().parse().unwrap();
            assert_eq!(
                v,
                format!("value-{i}").into_bytes(),
                "recovered data is never altered"
            );
            i
        })
        .collect();
    Ok((keys, db.recovery_report().tail.clone()))
}

#[test]
fn a_torn_tail_cut_at_any_offset_keeps_a_prefix_and_later_writes_work() {
    let original = write_commits(40);
    let segment = common::last_data_segment(original.path());
    let end = common::written_len(&segment);
    let mut kept_by_offset = BTreeMap::new();
    // Every byte offset across the last two records, and every 7th before them.
    let cuts = (end - 600..end - 120).step_by(7).chain(end - 120..=end);
    for cut in cuts {
        let copy = common::copy_db(original.path());
        let seg = copy.path().join("wal").join(segment.file_name().unwrap());
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes[cut..end].fill(0);
        std::fs::write(&seg, &bytes).unwrap();

        let (keys, tail) = recovered(copy.path()).unwrap();
        let n = keys.len() as u32;
        assert_eq!(
            keys,
            (0..n).collect::<Vec<_>>(),
            "cut at {cut}: not a prefix"
        );
        if cut < end {
            assert!(n < 40, "cut at {cut} must lose the last record");
        } else {
            assert_eq!((n, &tail), (40, &TailState::Clean));
        }
        kept_by_offset.insert(cut, n);

        // Writing after the cut and reopening again works and keeps the new write.
        if cut % 5 != 0 {
            continue;
        }
        {
            let db =
                Database::open_with_options(copy.path(), common::options(DurabilityMode::Strict))
                    .unwrap();
            let run = db.begin_run();
            db.put(run, b"after", b"cut").unwrap();
        }
        let db = Database::open_with_options(copy.path(), common::options(DurabilityMode::Strict))
            .unwrap();
        assert_eq!(
            db.get(db.begin_run(), b"after").unwrap(),
            Some(b"cut".to_vec()),
            "cut at {cut}"
        );
    }
    let counts: Vec<u32> = kept_by_offset.values().copied().collect();
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "a later cut never keeps less"
    );
    assert!(counts[0] < counts[counts.len() - 1]);
}

#[test]
fn garbage_after_the_last_record_is_cut_and_reported() {
    let original = write_commits(10);
    let segment = common::last_data_segment(original.path());
    // A record may end in zero bytes (an absent TTL is encoded as 0), so the garbage starts a
    // little past the last non-zero byte.
    let end = common::written_len(&segment) + 8;
    let mut bytes = std::fs::read(&segment).unwrap();
    for (i, b) in bytes[end..end + 37].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(7) | 1;
    }
    std::fs::write(&segment, &bytes).unwrap();
    let (keys, tail) = recovered(original.path()).unwrap();
    assert_eq!(keys.len(), 10);
    // The cut starts at the end of the last record (the zeros before the garbage are part of
    // the damaged region) and reaches the last garbage byte.
    match &tail {
        TailState::Cut { offset, bytes, .. } => {
            assert!(
                (*offset as usize) < end && end - (*offset as usize) <= 8,
                "{tail:?}"
            );
            assert_eq!((offset + bytes) as usize, end + 37, "{tail:?}");
        }
        TailState::Clean => panic!("garbage must be reported"),
    }
    // Recovery is idempotent: the second open finds a clean log with the same data.
    let (again, tail) = recovered(original.path()).unwrap();
    assert_eq!((again, tail), (keys, TailState::Clean));
}

#[test]
fn a_flipped_bit_before_the_tail_is_refused_with_file_and_offset() {
    let original = write_commits(100);
    let segment = common::last_data_segment(original.path());
    let end = common::written_len(&segment);
    let mut bytes = std::fs::read(&segment).unwrap();
    let at = end / 3;
    bytes[at] ^= 0x10;
    std::fs::write(&segment, &bytes).unwrap();
    match recovered(original.path()) {
        Err(Error::Durability(in_mem_durability::Error::Corruption { file, offset, .. })) => {
            assert_eq!(file.file_name(), segment.file_name());
            assert!(
                offset as usize <= at,
                "the damaged record starts at or before the flip"
            );
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn random_bytes_as_a_segment_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        // A database first (its identity file): a directory without one is refused unread.
        Database::open_with_options(dir.path(), common::options(DurabilityMode::Strict))
            .unwrap()
            .close()
            .unwrap();
        let len = (next() % 20_000) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let name = format!("{:020}.seg", next() % 3);
        std::fs::write(dir.path().join("wal").join(name), &bytes).unwrap();
        // Either a database or a typed error; never a panic, never a hang.
        match Database::open(dir.path()) {
            Ok(db) => drop(db),
            Err(e) => assert!(!e.to_string().is_empty(), "round {round}"),
        }
    }
}
