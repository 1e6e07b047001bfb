//! Files that are not this database's, through `Database` (the rows of `docs/RECOVERY.md`
//! marked (E) in "Files that do not belong", each test named as its row): a checkpoint or a
//! segment swapped in from another database, a segment from an older copy of the same
//! database, a checkpoint from a restored backup of an older generation, a file of a newer
//! format. Each is refused in the default mode with an error naming the file, and set aside
//! by salvage with no value of the other file ever returned. Also: paths that are not
//! databases.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::path::{Path, PathBuf};

use in_mem_core_types::Version;
use in_mem_engine::{
    Database, DatabaseId, DurabilityMode, Error, FileKind, Mismatch, OpenOptions, RecoveryMode,
    RecoveryReport, TailState,
};

fn options() -> OpenOptions {
    common::options(DurabilityMode::Strict).checkpoint_every_bytes(0)
}

fn salvage() -> OpenOptions {
    options().recovery_mode(RecoveryMode::Salvage)
}

/// The database of the issue: a run (v1) and 100 puts `k00`..`k99` = `{prefix}-0000`..
/// (v2..v101), checkpointed (`00000000000000000101.ckpt`), then ten more puts `k00`..`k09` =
/// `{prefix}-late-0000`.. (v102..v111) in the log after the checkpoint. Returns its id.
fn build(path: &Path, prefix: &str) -> DatabaseId {
    let db = Database::open_with_options(path, options()).unwrap();
    let run = db.try_begin_run().unwrap();
    for i in 0..100 {
        db.put(run, format!("k{i:02}"), format!("{prefix}-{i:04}"))
            .unwrap();
    }
    let info = db.checkpoint().unwrap();
    assert_eq!(info.version, 101);
    assert_eq!(info.path.file_name().unwrap(), "00000000000000000101.ckpt");
    for i in 0..10 {
        db.put(run, format!("k{i:02}"), format!("{prefix}-late-{i:04}"))
            .unwrap();
    }
    let id = db.recovery_report().database_id.unwrap();
    db.close().unwrap();
    id
}

/// Every value of `k00`..`k99` as a fresh run sees it.
fn values(db: &Database) -> Vec<Option<String>> {
    let run = db.try_begin_run().unwrap();
    (0..100)
        .map(|i| {
            db.get(run, format!("k{i:02}"))
                .unwrap()
                .map(|v| String::from_utf8(v).unwrap())
        })
        .collect()
}

/// The refusal of opening `path` by default: the file and the mismatch. Checks that the
/// message names the file.
fn refused(path: &Path) -> (PathBuf, Mismatch) {
    let err = Database::open_with_options(path, options()).unwrap_err();
    let text = err.to_string();
    let Error::Durability(in_mem_durability::Error::FileMismatch { file, mismatch }) = err else {
        panic!("expected a file mismatch, got {text}");
    };
    assert!(text.contains(&file.display().to_string()), "{text}");
    (file, mismatch)
}

/// Opens `path` with salvage: `file` (holding `original`) was set aside whole with
/// `mismatch`; checks that a second, default open is clean and sees the same values, and
/// returns the database of that open.
fn set_aside(path: &Path, file: &Path, original: &[u8], mismatch: &Mismatch) -> Database {
    let (report, seen) = {
        let db = Database::open_with_options(path, salvage()).unwrap();
        let report: RecoveryReport = db.recovery_report().clone();
        (report, values(&db))
    };
    let set = report
        .quarantined
        .iter()
        .find(|q| q.file == file)
        .unwrap_or_else(|| panic!("{} not set aside: {report:?}", file.display()));
    assert_eq!(&set.mismatch, mismatch);
    assert!(set.moved_to.starts_with(path.join("quarantine")));
    assert_eq!(std::fs::read(&set.moved_to).unwrap(), original);
    let db = Database::open_with_options(path, options()).unwrap();
    assert_eq!(db.recovery_report().tail, TailState::Clean);
    assert!(db.recovery_report().quarantined.is_empty());
    assert_eq!(values(&db), seen);
    db
}

/// No value of the database with `prefix` (or of the history written as `forbidden`)
/// appears among `seen`.
fn none_of(seen: &[Option<String>], forbidden: &str) {
    for (i, v) in seen.iter().enumerate() {
        if let Some(v) = v {
            assert!(!v.starts_with(forbidden), "k{i:02} = {v}");
        }
    }
}

fn checkpoint_file(path: &Path, version: u64) -> PathBuf {
    path.join("checkpoints").join(format!("{version:020}.ckpt"))
}

/// Tears the last record of the log at `path` and opens it: recovery cuts it and begins
/// generation 2 of the log. Then writes `k09` = `A-new-0009` as the new v111.
fn cut_last_record_and_write_again(path: &Path) {
    let segment = common::last_data_segment(path);
    let end = common::written_len(&segment);
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[end - 3] ^= 0x20;
    std::fs::write(&segment, &bytes).unwrap();
    let db = Database::open_with_options(path, options()).unwrap();
    let report = db.recovery_report().clone();
    assert!(matches!(report.tail, TailState::Cut { .. }), "{report:?}");
    assert_eq!(report.log_generation, 2);
    assert_eq!(report.last_version, 110);
    let run = db.try_begin_run().unwrap();
    db.put(run, "k09", "A-new-0009").unwrap();
    db.close().unwrap();
}

#[test]
fn checkpoint_from_another_database() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (id_a, id_b) = (build(a.path(), "A"), build(b.path(), "B"));
    let file = checkpoint_file(a.path(), 101);
    std::fs::copy(checkpoint_file(b.path(), 101), &file).unwrap();
    let original = std::fs::read(&file).unwrap();
    let expected = Mismatch::OtherDatabase {
        expected: id_a,
        found: id_b,
    };
    assert_eq!(refused(a.path()), (file.clone(), expected.clone()));
    let db = set_aside(a.path(), &file, &original, &expected);
    let seen = values(&db);
    none_of(&seen, "B");
    assert_eq!(seen[7].as_deref(), Some("A-late-0007"));
    assert_eq!(seen[42].as_deref(), Some("A-0042"));
}

#[test]
fn segment_from_another_database() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (id_a, id_b) = (build(a.path(), "A"), build(b.path(), "B"));
    let segment = common::segments(a.path())[0].clone();
    assert_eq!(segment.file_name().unwrap(), "00000000000000000001.seg");
    std::fs::copy(
        b.path().join("wal").join(segment.file_name().unwrap()),
        &segment,
    )
    .unwrap();
    let original = std::fs::read(&segment).unwrap();
    let expected = Mismatch::OtherDatabase {
        expected: id_a,
        found: id_b,
    };
    assert_eq!(refused(a.path()), (segment.clone(), expected.clone()));
    let db = set_aside(a.path(), &segment, &original, &expected);
    let seen = values(&db);
    none_of(&seen, "B");
    // A's own log after the checkpoint was overwritten by the copy: the checkpoint is left.
    assert_eq!(db.recovery_report().checkpoint, Some(101));
    assert_eq!(seen[7].as_deref(), Some("A-0007"));
}

/// A segment restored from a copy of the database taken before recovery cut its last record:
/// it still holds that record (`k09` = `A-late-0009`, v111), which the database has since
/// replaced (`k09` = `A-new-0009`).
#[test]
fn segment_from_an_older_copy() {
    let (a, backup) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    build(a.path(), "A");
    let copy = common::copy_db(a.path());
    std::fs::rename(copy.path(), backup.path().join("db")).unwrap();
    let backup = backup.path().join("db");
    cut_last_record_and_write_again(a.path());
    let segment = common::segments(a.path())[0].clone();
    std::fs::copy(
        backup.join("wal").join(segment.file_name().unwrap()),
        &segment,
    )
    .unwrap();
    let original = std::fs::read(&segment).unwrap();
    let expected = Mismatch::OutsideGeneration {
        generation: 1,
        found: Version::new(111),
        start: Version::new(1),
        end: Some(Version::new(111)),
    };
    assert_eq!(refused(a.path()), (segment.clone(), expected.clone()));
    let db = set_aside(a.path(), &segment, &original, &expected);
    let seen = values(&db);
    assert_ne!(seen[9].as_deref(), Some("A-late-0009"), "the cut history");
    assert_eq!(seen[42].as_deref(), Some("A-0042"));
}

/// A checkpoint taken in a backup (copied before recovery cut the last record, then opened
/// and checkpointed) and restored into the database: it holds v111 of the history that was
/// cut.
#[test]
fn checkpoint_from_a_restored_backup() {
    let (a, backup) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    build(a.path(), "A");
    let copy = common::copy_db(a.path());
    std::fs::rename(copy.path(), backup.path().join("db")).unwrap();
    let backup = backup.path().join("db");
    {
        let db = Database::open_with_options(&backup, options()).unwrap();
        assert_eq!(db.checkpoint().unwrap().version, 111);
        db.close().unwrap();
    }
    cut_last_record_and_write_again(a.path());
    let file = checkpoint_file(a.path(), 111);
    std::fs::copy(checkpoint_file(&backup, 111), &file).unwrap();
    let original = std::fs::read(&file).unwrap();
    let expected = Mismatch::OutsideGeneration {
        generation: 1,
        found: Version::new(111),
        start: Version::new(1),
        end: Some(Version::new(111)),
    };
    assert_eq!(refused(a.path()), (file.clone(), expected.clone()));
    let db = set_aside(a.path(), &file, &original, &expected);
    // Nothing of the database is lost: the checkpoint before, and the log after it.
    let seen = values(&db);
    assert_eq!(seen[9].as_deref(), Some("A-new-0009"));
    assert_eq!(seen[7].as_deref(), Some("A-late-0007"));
    assert_eq!(db.recovery_report().checkpoint, Some(101));
}

/// A checkpoint written by a newer in-mem (its header names format version 3).
#[test]
fn file_from_a_newer_format_version() {
    let a = tempfile::tempdir().unwrap();
    build(a.path(), "A");
    let file = checkpoint_file(a.path(), 101);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[8..12].copy_from_slice(&3u32.to_le_bytes());
    let crc = crc32c::crc32c(&bytes[..60]);
    bytes[60..64].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&file, &bytes).unwrap();
    let expected = Mismatch::NewerFormat {
        kind: FileKind::Checkpoint,
        found: 3,
        supported: 2,
    };
    assert_eq!(refused(a.path()), (file.clone(), expected.clone()));
    let text = Database::open_with_options(a.path(), options())
        .unwrap_err()
        .to_string();
    assert!(text.contains("was written by a newer in-mem"), "{text}");
    let db = set_aside(a.path(), &file, &bytes, &expected);
    let seen = values(&db);
    assert_eq!(seen[7].as_deref(), Some("A-late-0007"));
    assert_eq!(seen[42].as_deref(), Some("A-0042"));
}

// ---- paths that are not databases ----------------------------------------------------------

#[test]
fn an_empty_path_is_refused() {
    let err = Database::open("").unwrap_err();
    assert!(
        matches!(err, Error::Durability(in_mem_durability::Error::EmptyPath)),
        "{err}"
    );
}

/// A directory with other files in it (a home directory, a project) is not made a database.
#[test]
fn a_directory_of_other_files_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("README.md"), b"my project").unwrap();
    let err = Database::open(tmp.path()).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            Error::Durability(in_mem_durability::Error::NotADatabase { .. })
        ),
        "{text}"
    );
    assert!(text.contains("README.md"), "{text}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "nothing was created");
}
