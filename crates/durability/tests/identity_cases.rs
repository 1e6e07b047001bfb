//! The rows of `docs/RECOVERY.md` about files that are not this database's, and directories
//! that are not databases, at the level of the log (each test is named as its row; the table
//! check is in `recovery_cases.rs`). The same cases through `Database`, checkpoints included,
//! are in `crates/engine/tests/identity.rs`.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use in_mem_core_types::Version;
use in_mem_durability::inspect::segment_frames;
use in_mem_durability::{
    CorruptionKind, DataDir, DatabaseId, Error, FileKind, Mismatch, RecoveryMode, StdFs, TailState,
    WaitFor, WalRecovery,
};

/// Opens the log at `path` in `mode`; the records replayed are checked to be `1..=n` as
/// appended. Returns the report and `n`.
fn recover(path: &Path, mode: RecoveryMode) -> Result<(WalRecovery, u64), Error> {
    let dir = DataDir::open(Arc::new(StdFs), path)?;
    let (wal, recovery, records) = open_wal_mode(&dir, SEGMENT, mode)?;
    for (i, r) in records.iter().enumerate() {
        check_record(r, i as u64 + 1);
    }
    wal.close().unwrap();
    Ok((recovery, records.len() as u64))
}

/// The file and mismatch that opening `path` in `mode` is refused with.
fn mismatch(path: &Path, mode: RecoveryMode) -> (PathBuf, Mismatch) {
    match recover(path, mode) {
        Err(Error::FileMismatch { file, mismatch }) => (file, mismatch),
        Err(other) => panic!("expected a file mismatch, got {other}"),
        Ok((recovery, n)) => panic!("expected a refusal, recovered {n}: {recovery:?}"),
    }
}

/// Checks the refusal of `file` with `expected` by default (twice: the refusal changes
/// nothing); then that salvage sets it aside unread into `quarantine/`, keeps `kept` records,
/// and leaves a log that opens cleanly by default and takes appends.
fn refused_then_set_aside(path: &Path, file: &Path, expected: &Mismatch, kept: u64) {
    let original = std::fs::read(file).unwrap();
    for _ in 0..2 {
        let (f, m) = mismatch(path, RecoveryMode::Refuse);
        assert_eq!((f.as_path(), &m), (file, expected));
        assert_eq!(
            std::fs::read(file).unwrap(),
            original,
            "refusing changes nothing"
        );
    }
    let message = Error::FileMismatch {
        file: file.to_owned(),
        mismatch: expected.clone(),
    }
    .to_string();
    assert!(
        message.starts_with(&file.display().to_string()),
        "{message}"
    );

    let (recovery, n) = recover(path, RecoveryMode::Salvage).unwrap();
    assert_eq!(n, kept, "records kept: {recovery:?}");
    let set = recovery
        .quarantined
        .iter()
        .find(|q| q.file == file)
        .unwrap_or_else(|| panic!("{} not set aside: {recovery:?}", file.display()));
    assert_eq!(&set.mismatch, expected);
    // (A new segment may take the name once the log runs again.)
    assert_ne!(
        std::fs::read(file).ok(),
        Some(original.clone()),
        "moved away"
    );
    assert!(set.moved_to.starts_with(path.join("quarantine")));
    assert_eq!(
        std::fs::read(&set.moved_to).unwrap(),
        original,
        "set aside whole"
    );
    assert!(
        recovery.generation > 1,
        "setting a file aside begins a generation"
    );

    let dir = std_dir(path);
    let (wal, again, records) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
    assert_eq!(
        (records.len() as u64, &again.tail),
        (kept, &TailState::Clean)
    );
    assert!(again.quarantined.is_empty());
    append_range(&wal, kept + 1, 3, WaitFor::Synced);
    drop((wal, dir));
    reopen_expect(path, SEGMENT, kept + 3);
}

/// The segment at `index` of the live segments of `path`, and the version its first record
/// carries.
fn live_at(path: &Path, index: usize) -> (PathBuf, u64) {
    let segment = live_segments(path)[index].clone();
    let first = segment_frames(&std::fs::read(&segment).unwrap())[0]
        .version
        .get();
    (segment, first)
}

fn id(path: &Path) -> DatabaseId {
    DatabaseId::from_bytes(identity_of(path).0)
}

// ---- files that are not this database's --------------------------------------------------------

/// A segment replaced by the segment of the same sequence of another database.
#[test]
fn segment_of_another_database() {
    let (ours, theirs) = (scratch_dir(), scratch_dir());
    make_log(ours.path(), SEGMENT, 60);
    make_log(theirs.path(), SEGMENT, 60);
    let (middle, first) = live_at(ours.path(), 1);
    std::fs::copy(
        theirs.path().join("wal").join(middle.file_name().unwrap()),
        &middle,
    )
    .unwrap();
    let expected = Mismatch::OtherDatabase {
        expected: id(ours.path()),
        found: id(theirs.path()),
    };
    refused_then_set_aside(ours.path(), &middle, &expected, first - 1);
}

/// A segment restored from a copy of the database taken before recovery cut the log: it
/// holds the versions after the cut as they were before, which the database has since
/// written again.
#[test]
fn segment_from_an_older_generation() {
    let (log, backup) = (scratch_dir(), scratch_dir());
    make_log(log.path(), SEGMENT, 40);
    copy_log(log.path(), backup.path());
    // Tear the last record: recovery cuts it and begins generation 2 at version 40, in a new
    // segment.
    let last = live_segments(log.path()).pop().unwrap();
    let (offset, len) = *frames(&last).last().unwrap();
    {
        let mut bytes = std::fs::read(&last).unwrap();
        bytes[offset + len - 2] ^= 0x01;
        std::fs::write(&last, bytes).unwrap();
    }
    {
        let dir = std_dir(log.path());
        let (wal, recovery, _) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
        assert!(matches!(recovery.tail, TailState::Cut { .. }));
        assert_eq!(recovery.generation, 2);
        append_range(&wal, 40, 5, WaitFor::Synced);
    }
    assert_ne!(
        live_segments(log.path()).pop().unwrap(),
        last,
        "appends after the cut start a new segment"
    );
    // The cut segment replaced by its copy from before the cut.
    let old = backup.path().join("wal").join(last.file_name().unwrap());
    std::fs::copy(&old, &last).unwrap();
    let first = segment_frames(&std::fs::read(&last).unwrap())[0]
        .version
        .get();
    let expected = Mismatch::OutsideGeneration {
        generation: 1,
        found: Version::new(40),
        start: Version::new(1),
        end: Some(Version::new(40)),
    };
    refused_then_set_aside(log.path(), &last, &expected, first - 1);
}

/// The identity file restored on its own from a copy taken before recovery began a new
/// generation: the log's newest segments name a generation the identity does not know.
#[test]
fn identity_older_than_the_log() {
    let (log, backup) = (scratch_dir(), scratch_dir());
    make_log(log.path(), SEGMENT, 40);
    copy_log(log.path(), backup.path());
    let last = live_segments(log.path()).pop().unwrap();
    let (offset, _) = *frames(&last).last().unwrap();
    std::fs::write(
        &last,
        [&std::fs::read(&last).unwrap()[..offset + 9], &[0xEE; 4][..]].concat(),
    )
    .unwrap();
    {
        let dir = std_dir(log.path());
        let (wal, recovery, _) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
        assert_eq!(recovery.generation, 2);
        append_range(&wal, 40, 5, WaitFor::Synced);
    }
    std::fs::copy(backup.path().join("IDENTITY"), log.path().join("IDENTITY")).unwrap();
    let newest = live_segments(log.path()).pop().unwrap();
    let expected = Mismatch::UnknownGeneration {
        found: 2,
        oldest: 1,
        current: 1,
    };
    let message = Error::FileMismatch {
        file: newest.clone(),
        mismatch: expected.clone(),
    }
    .to_string();
    assert!(
        message.contains("the identity file is older than the files"),
        "{message}"
    );
    // Salvage can only set the newer generation's segment aside: restoring the right
    // identity file is the repair.
    refused_then_set_aside(log.path(), &newest, &expected, 39);
}

/// A segment whose header names a newer format: refused in both modes by default; salvage
/// sets it aside whole (never reading, cutting or deleting what a newer build wrote).
#[test]
fn newer_format_version() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 60);
    let (last, first) = live_at(log.path(), live_segments(log.path()).len() - 1);
    rewrite_header(&last, 8, &3u32.to_le_bytes());
    let expected = Mismatch::NewerFormat {
        kind: FileKind::Segment,
        found: 3,
        supported: 2,
    };
    let message = Error::FileMismatch {
        file: last.clone(),
        mismatch: expected.clone(),
    }
    .to_string();
    assert!(
        message.contains("was written by a newer in-mem (log segment format version 3"),
        "{message}"
    );
    refused_then_set_aside(log.path(), &last, &expected, first - 1);
}

/// A segment of the format before identity (version 1, a 32-byte header) in a database of
/// this format.
#[test]
fn segment_of_an_unreleased_older_format() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 60);
    let (last, first) = live_at(log.path(), live_segments(log.path()).len() - 1);
    rewrite_header(&last, 8, &1u32.to_le_bytes());
    let expected = Mismatch::OlderFormat {
        kind: FileKind::Segment,
        found: 1,
        supported: 2,
    };
    refused_then_set_aside(log.path(), &last, &expected, first - 1);
}

/// A file in `wal/` that is not a segment: refused by default (the directory may not be
/// what it seems), set aside by salvage.
#[test]
fn unknown_file_in_the_log_directory() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 10);
    let notes = log.path().join("wal").join("notes.txt");
    std::fs::write(&notes, b"someone's notes").unwrap();
    refused_then_set_aside(log.path(), &notes, &Mismatch::Unrecognized, 10);
    assert!(log.path().join("quarantine").join("wal-notes.txt").exists());
}

// ---- directories that are not databases ---------------------------------------------------------

/// The refusal of opening `path` as a database; checks that it names what was found.
fn refused_as_not_a_database(path: &Path) -> Vec<PathBuf> {
    match DataDir::open(Arc::new(StdFs), path) {
        Err(Error::NotADatabase { path: p, found }) => {
            assert_eq!(p, path);
            found
        }
        Err(other) => panic!("expected NotADatabase, got {other}"),
        Ok(_) => panic!("opened {} as a database", path.display()),
    }
}

/// Every file under `path`, with its bytes.
fn snapshot(path: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

/// An existing directory holding other files: refused, and nothing is created in it.
#[test]
fn not_a_database() {
    let tmp = scratch_dir();
    std::fs::write(tmp.path().join("notes.txt"), b"x").unwrap();
    std::fs::create_dir(tmp.path().join("photos")).unwrap();
    let before = snapshot(tmp.path());
    let found = refused_as_not_a_database(tmp.path());
    assert_eq!(
        found,
        vec![PathBuf::from("notes.txt"), PathBuf::from("photos")]
    );
    assert_eq!(
        snapshot(tmp.path()),
        before,
        "nothing created, nothing changed"
    );
    assert!(!tmp.path().join("LOCK").exists());
}

/// `wal/` holding only garbage "segments" and no identity file: refused naming them, never
/// cut (before identity files, recovery cut such a log as a torn tail).
#[test]
fn garbage_log_without_identity() {
    let tmp = scratch_dir();
    std::fs::create_dir_all(tmp.path().join("wal")).unwrap();
    for seq in 1..=3u64 {
        let garbage: Vec<u8> = (0..70_000u64).map(|i| (i * 131 + seq) as u8 | 1).collect();
        std::fs::write(
            tmp.path().join("wal").join(format!("{seq:020}.seg")),
            garbage,
        )
        .unwrap();
    }
    let before = snapshot(tmp.path());
    let found = refused_as_not_a_database(tmp.path());
    assert_eq!(found.len(), 3);
    assert_eq!(found[0], Path::new("wal").join("00000000000000000001.seg"));
    let message = DataDir::open(Arc::new(StdFs), tmp.path())
        .unwrap_err()
        .to_string();
    assert!(message.contains("is not an in-mem database"), "{message}");
    assert!(message.contains("00000000000000000001.seg"), "{message}");
    assert_eq!(snapshot(tmp.path()), before, "nothing cut");
}

/// A log whose identity file is gone (or one written before identity files): refused.
#[test]
fn missing_identity_file() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 10);
    std::fs::remove_file(log.path().join("IDENTITY")).unwrap();
    let found = refused_as_not_a_database(log.path());
    assert!(found.iter().any(|f| f.starts_with("wal")), "{found:?}");
}

/// An identity file that does not verify: refused in both modes (it is written whole, so
/// this is damage, not a torn write).
#[test]
fn damaged_identity_file() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 10);
    let path = log.path().join("IDENTITY");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 0x08;
    std::fs::write(&path, &bytes).unwrap();
    let err = DataDir::open(Arc::new(StdFs), log.path()).unwrap_err();
    assert!(
        matches!(&err, Error::Corruption { file, kind: CorruptionKind::BadIdentity(_), .. } if *file == path),
        "{err}"
    );
}

/// An identity file of a newer format: refused, naming it.
#[test]
fn newer_identity_format() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 10);
    let path = log.path().join("IDENTITY");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = DataDir::open(Arc::new(StdFs), log.path()).unwrap_err();
    let Error::FileMismatch { file, mismatch } = &err else {
        panic!("expected a file mismatch, got {err}");
    };
    assert_eq!(file, &path);
    assert_eq!(
        *mismatch,
        Mismatch::NewerFormat {
            kind: FileKind::Identity,
            found: 7,
            supported: 1
        }
    );
}

/// An empty path would be the working directory: refused before anything is looked at.
#[test]
fn empty_path() {
    let err = DataDir::open(Arc::new(StdFs), Path::new("")).unwrap_err();
    assert!(matches!(err, Error::EmptyPath), "{err}");
    assert!(err.to_string().contains("path is empty"), "{err}");
}
