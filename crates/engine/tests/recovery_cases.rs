//! The rows of `docs/RECOVERY.md` that need the whole database (each test is named as its
//! row), and the recovery report and recovery mode through `Database::open`.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::path::Path;

use in_mem_durability::{CorruptionKind, RecoveryMode};
use in_mem_engine::{Database, DurabilityMode, Error, OpenOptions, RunStatus, TailState};

fn strict() -> OpenOptions {
    common::options(DurabilityMode::Strict)
}

/// Writes `k0000`.. `k{n-1}` in one run and closes (Strict: each record claims the one before
/// it durable).
fn write_commits(path: &Path, n: u32) {
    let db = Database::open_with_options(path, strict()).unwrap();
    let run = db.try_begin_run().unwrap();
    for i in 0..n {
        db.put(run, format!("k{i:04}"), format!("value-{i}"))
            .unwrap();
    }
    db.end_run(run).unwrap();
    db.close().unwrap();
}

fn keys(db: &Database) -> Vec<Vec<u8>> {
    let run = db.try_begin_run().unwrap();
    db.list(run, b"k")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

#[test]
fn absent_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a").join("b").join("db");
    let db = Database::open_with_options(&path, strict()).unwrap();
    let report = db.recovery_report().clone();
    assert_eq!(report.records_replayed, 0);
    assert_eq!(report.last_version, 0);
    assert_eq!(report.tail, TailState::Clean);
    assert!(path.join("wal").is_dir() && path.join("LOCK").is_file());
    db.close().unwrap();
}

#[test]
fn empty_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open_with_options(tmp.path(), strict()).unwrap();
    assert_eq!(db.recovery_report().last_version, 0);
    let run = db.try_begin_run().unwrap();
    db.put(run, "k", "v").unwrap();
    db.close().unwrap();
    let db = Database::open_with_options(tmp.path(), strict()).unwrap();
    assert_eq!(db.recovery_report().last_version, 2);
}

/// A run that was active when the process stopped: reported, and `Interrupted` after open.
#[test]
fn run_active_at_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let (active, ended) = {
        let db = Database::open_with_options(tmp.path(), strict()).unwrap();
        let active = db.try_begin_run().unwrap();
        let ended = db.try_begin_run().unwrap();
        db.put(active, "k", "v").unwrap();
        db.end_run(ended).unwrap();
        drop(db);
        (active, ended)
    };
    let db = Database::open_with_options(tmp.path(), strict()).unwrap();
    let report = db.recovery_report();
    assert_eq!(report.interrupted_runs, vec![active]);
    assert_eq!(report.checkpoint, None, "checkpoints are not written yet");
    assert_eq!(db.run_info(active).unwrap().status, RunStatus::Interrupted);
    assert_eq!(db.run_info(ended).unwrap().status, RunStatus::Completed);
}

#[test]
fn a_torn_tail_is_in_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    write_commits(tmp.path(), 20);
    let segment = common::last_data_segment(tmp.path());
    let end = common::written_len(&segment);
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[end - 3] ^= 0x20;
    std::fs::write(&segment, &bytes).unwrap();
    let db = Database::open_with_options(tmp.path(), strict()).unwrap();
    let report = db.recovery_report().clone();
    let TailState::Cut { bytes, .. } = &report.tail else {
        panic!("{report:?}");
    };
    assert_eq!(report.bytes_cut, *bytes);
    assert!(report.bytes_cut > 0);
    assert_eq!((report.records_dropped, report.salvaged), (0, None));
    // The last commit (the end of the run) was torn: the run is interrupted.
    assert_eq!(report.interrupted_runs.len(), 1);
    assert_eq!(keys(&db).len(), 20);
}

#[test]
fn salvage_through_the_database_keeps_the_prefix_and_reports_what_it_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    write_commits(tmp.path(), 60);
    let segment = common::last_data_segment(tmp.path());
    let end = common::written_len(&segment);
    let mut bytes = std::fs::read(&segment).unwrap();
    let at = end / 2;
    bytes[at] ^= 0x10;
    std::fs::write(&segment, &bytes).unwrap();

    let err = Database::open_with_options(tmp.path(), strict()).unwrap_err();
    let Error::Durability(in_mem_durability::Error::Corruption { file, offset, .. }) = &err else {
        panic!("expected corruption, got {err}");
    };
    assert_eq!(file.file_name(), segment.file_name());

    let db = Database::open_with_options(tmp.path(), strict().recovery_mode(RecoveryMode::Salvage))
        .unwrap();
    let report = db.recovery_report().clone();
    let salvaged = report.salvaged.clone().expect("salvage is reported");
    assert_eq!((&salvaged.file, salvaged.offset), (file, *offset));
    assert_eq!(salvaged.kind, CorruptionKind::BadRecordChecksum);
    assert_eq!(salvaged.first_lost.get(), report.last_version + 1);
    assert!(
        report.bytes_cut > 0 && report.records_dropped > 0,
        "{report:?}"
    );
    assert_eq!(
        report.newest_dropped,
        Some(62),
        "begin, 60 puts and the end were dropped through v62"
    );
    // What is left is a prefix: k0000 .. k(n-1), with the run's begin first.
    let kept = keys(&db);
    let n = kept.len();
    assert_eq!(report.last_version, n as u64 + 1);
    for (i, k) in kept.iter().enumerate() {
        assert_eq!(k, format!("k{i:04}").as_bytes());
    }
    db.close().unwrap();

    // The salvaged log opens by default, cleanly, with the same data and what was written after.
    let db = Database::open_with_options(tmp.path(), strict()).unwrap();
    assert_eq!(db.recovery_report().tail, TailState::Clean);
    assert_eq!(keys(&db).len(), n);
}

// ----- checkpoints ----------------------------------------------------------------------------

/// Writes `k0000`.. in two rounds with a checkpoint after each, then `extra` more commits;
/// small segments, so checkpoints delete some. Returns the two checkpoints' versions.
fn write_with_checkpoints(path: &Path, extra: u32) -> (u64, u64) {
    let options = strict().segment_bytes(4096).checkpoint_every_bytes(0);
    let db = Database::open_with_options(path, options).unwrap();
    let run = db.try_begin_run().unwrap();
    let mut versions = Vec::new();
    for round in 0..2u32 {
        for i in 0..60 {
            let n = round * 60 + i;
            db.put(run, format!("k{n:04}"), format!("value-{n}"))
                .unwrap();
        }
        versions.push(db.checkpoint().unwrap().version);
    }
    for i in 0..extra {
        let n = 120 + i;
        db.put(run, format!("k{n:04}"), format!("value-{n}"))
            .unwrap();
    }
    db.end_run(run).unwrap();
    db.close().unwrap();
    (versions[0], versions[1])
}

fn checkpoint_files(path: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(path.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn damaged_newest_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (older, newest) = write_with_checkpoints(dir.path(), 30);
    let files = checkpoint_files(dir.path());
    assert_eq!(files.len(), 2, "two checkpoints are kept");
    let newest_file = files.last().unwrap();
    let mut bytes = std::fs::read(newest_file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(newest_file, &bytes).unwrap();

    let db = Database::open_with_options(dir.path(), strict()).unwrap();
    let report = db.recovery_report().clone();
    assert_eq!(
        report.checkpoint,
        Some(older),
        "fell back from v{newest} to v{older}"
    );
    assert_eq!(report.checkpoints_skipped.len(), 1, "{report:?}");
    assert!(
        report.checkpoints_skipped[0].contains("checkpoint"),
        "{report:?}"
    );
    assert_eq!(
        keys(&db).len(),
        150,
        "the older checkpoint plus the log after it has everything"
    );
}

#[test]
fn stale_checkpoint_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    write_with_checkpoints(dir.path(), 5);
    let stale = dir
        .path()
        .join("checkpoints")
        .join("00000000000000099999.ckpt.tmp");
    std::fs::write(&stale, b"half a checkpoint").unwrap();
    let db = Database::open_with_options(dir.path(), strict()).unwrap();
    assert!(
        !stale.exists(),
        "the temp file of an interrupted checkpoint is deleted"
    );
    assert_eq!(keys(&db).len(), 125);
}

#[test]
fn checkpoint_newer_than_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (_, newest) = write_with_checkpoints(dir.path(), 0);
    let db = Database::open_with_options(dir.path(), strict()).unwrap();
    let report = db.recovery_report().clone();
    assert_eq!(report.checkpoint, Some(newest));
    // Only the run's end came after the newest checkpoint.
    assert_eq!(report.records_replayed, 1, "{report:?}");
    let run = db.try_begin_run().unwrap();
    let version = db.put(run, b"next", b"1").unwrap();
    assert!(
        version > newest + 1,
        "versions continue after the checkpoint and the log"
    );
    drop(db);
    let db = Database::open_with_options(dir.path(), strict()).unwrap();
    assert_eq!(
        db.get(db.try_begin_run().unwrap(), b"next").unwrap(),
        Some(b"1".to_vec())
    );
}

#[test]
fn log_segments_below_the_checkpoint_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (older, _) = write_with_checkpoints(dir.path(), 20);
    let first_left = common::segments(dir.path())
        .first()
        .map(|s| s.file_name().unwrap().to_string_lossy().into_owned())
        .unwrap();
    assert_ne!(
        first_left, "00000000000000000001.seg",
        "segments below v{older} were deleted"
    );
    let db = Database::open_with_options(dir.path(), strict()).unwrap();
    assert!(db.recovery_report().checkpoint.is_some());
    assert_eq!(keys(&db).len(), 140);
}
