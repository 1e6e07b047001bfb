//! One test per row of `docs/RECOVERY.md`, named as the row: each builds the on-disk state
//! the row names and checks what recovery does with it in both recovery modes (a row that
//! behaves the same in both checks one). Rows that need the whole database are in
//! `crates/engine/tests/recovery_cases.rs`.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use in_mem_core_types::Version;
use in_mem_durability::inspect::segment_frames;
use in_mem_durability::{
    CorruptionKind, DataDir, Error, RecoveryMode, ReplayRejected, SimFs, TailState, Vfs, WaitFor,
    Wal, WalRecovery,
};

// ---- helpers ----------------------------------------------------------------------------------

/// Opens `log` in `mode`; checks that what was replayed is versions `1..=n` as appended.
fn recover(log: &Path, mode: RecoveryMode) -> Result<(WalRecovery, u64), Error> {
    let dir = std_dir(log);
    let (wal, recovery, records) = open_wal_mode(&dir, SEGMENT, mode)?;
    for (i, r) in records.iter().enumerate() {
        check_record(r, i as u64 + 1);
    }
    wal.close().unwrap();
    Ok((recovery, records.len() as u64))
}

fn refused(log: &Path, mode: RecoveryMode) -> (PathBuf, u64, CorruptionKind) {
    match recover(log, mode) {
        Err(Error::Corruption { file, offset, kind }) => (file, offset, kind),
        Err(other) => panic!("expected corruption, got {other}"),
        Ok((recovery, n)) => panic!("expected corruption, recovered {n}: {recovery:?}"),
    }
}

/// Checks a cut at `file:offset` that kept `n` records, and that appends continue and a
/// second recovery is clean.
fn check_cut(log: &Path, mode: RecoveryMode, file: &Path, offset: u64, n: u64) -> WalRecovery {
    let (recovery, kept) = recover(log, mode).unwrap();
    assert_eq!(kept, n, "records kept");
    match &recovery.tail {
        TailState::Cut {
            file: f,
            offset: o,
            bytes,
            ..
        } => {
            assert_eq!((f.as_path(), *o), (file, offset), "{recovery:?}");
            assert!(*bytes > 0, "{recovery:?}");
        }
        TailState::Clean => panic!("expected a cut at {}:{offset}", file.display()),
    }
    appends_continue(log, n);
    recovery
}

/// Appends three records after `n`, then a default recovery finds all and a clean log.
fn appends_continue(log: &Path, n: u64) {
    {
        let dir = std_dir(log);
        let (wal, _, records) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
        assert_eq!(records.len() as u64, n);
        append_range(&wal, n + 1, 3, WaitFor::Synced);
    }
    let (_dir, _wal, recovery) = reopen_expect(log, SEGMENT, n + 3);
    assert_eq!(recovery.tail, TailState::Clean);
}

/// Refused by default with (`file`, `offset`, a kind `kind` accepts); salvage keeps `n`
/// records, reports the same damage, and leaves a log that opens cleanly by default.
fn check_refused_then_salvaged(
    log: &Path,
    file: &Path,
    offset: u64,
    kind: impl Fn(&CorruptionKind) -> bool,
    n: u64,
) {
    let work = scratch_dir();
    copy_log(log, work.path());
    let (f, o, k) = refused(log, RecoveryMode::Refuse);
    assert_eq!((f.as_path(), o), (file, offset), "{k}");
    assert!(kind(&k), "unexpected kind {k}");
    // The refusal changed nothing: refused again.
    assert_eq!(
        refused(log, RecoveryMode::Refuse),
        (f.clone(), o, k.clone())
    );

    let (recovery, kept) = recover(log, RecoveryMode::Salvage).unwrap();
    assert_eq!(kept, n, "salvage keeps the prefix before the damage");
    let salvaged = recovery
        .salvaged
        .clone()
        .expect("salvage reports what it dropped");
    assert_eq!((salvaged.file, salvaged.offset, salvaged.kind), (f, o, k));
    assert_eq!(salvaged.first_lost, Version::new(n + 1));
    assert!(
        matches!(recovery.tail, TailState::Cut { .. }),
        "{recovery:?}"
    );
    appends_continue(log, n);
    let _ = work;
}

fn live_name(log: &Path, index: usize) -> PathBuf {
    live_segments(log)[index].clone()
}

fn edit(file: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(file).unwrap();
    f(&mut bytes);
    std::fs::write(file, bytes).unwrap();
}

/// Writes the segment after the last live one: `bytes`, then zeros.
fn next_segment(log: &Path, bytes: &[u8]) -> PathBuf {
    let live = live_segments(log);
    let last = live.last().unwrap().file_name().unwrap().to_str().unwrap();
    let seq: u64 = last[..20].parse().unwrap();
    for extra in segments(log).into_iter().filter(|p| !live.contains(p)) {
        std::fs::remove_file(extra).unwrap();
    }
    let path = log.join("wal").join(format!("{:020}.seg", seq + 1));
    let mut content = bytes.to_vec();
    content.resize(SEGMENT as usize, 0);
    std::fs::write(&path, content).unwrap();
    path
}

const BOTH: [RecoveryMode; 2] = [RecoveryMode::Refuse, RecoveryMode::Salvage];

// ---- clean states -----------------------------------------------------------------------------

#[test]
fn clean_end() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 30);
    for mode in BOTH {
        let (recovery, n) = recover(log.path(), mode).unwrap();
        assert_eq!((n, &recovery.tail), (30, &TailState::Clean));
        assert_eq!((recovery.records_dropped, recovery.salvaged), (0, None));
    }
}

#[test]
fn empty_log_directory() {
    let log = scratch_dir();
    std::fs::create_dir_all(log.path().join("wal")).unwrap();
    for mode in BOTH {
        let (recovery, n) = recover(log.path(), mode).unwrap();
        assert_eq!((n, &recovery.tail), (0, &TailState::Clean));
    }
    appends_continue(log.path(), 0);
}

#[test]
fn zero_tail() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 30);
    // A longer zero tail than the segment had.
    let last = live_segments(log.path()).pop().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(3 * SEGMENT)
        .unwrap();
    for mode in BOTH {
        let (recovery, n) = recover(log.path(), mode).unwrap();
        assert_eq!((n, &recovery.tail), (30, &TailState::Clean));
    }
    appends_continue(log.path(), 30);
}

#[test]
fn all_zero_segments_after_the_end() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 30);
    let first = next_segment(log.path(), &[]);
    let seq = segments(log.path()).len() as u64;
    let second = log.path().join("wal").join(format!("{:020}.seg", seq + 1));
    std::fs::write(&second, vec![0u8; SEGMENT as usize]).unwrap();
    let (recovery, n) = recover(log.path(), RecoveryMode::Refuse).unwrap();
    assert_eq!((n, &recovery.tail), (30, &TailState::Clean));
    assert!(first.exists(), "the first is kept as the spare");
    assert!(!second.exists(), "the others are deleted");
    appends_continue(log.path(), 30);
}

#[test]
fn header_only_last_segment() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 30);
    let live = live_segments(log.path()).len() as u64;
    let path = next_segment(log.path(), &header(log.path(), live + 1, 31));
    let (recovery, n) = recover(log.path(), RecoveryMode::Refuse).unwrap();
    assert_eq!((n, &recovery.tail), (30, &TailState::Clean));
    assert!(
        std::fs::read(&path).unwrap().iter().all(|&b| b == 0),
        "its header is cleared"
    );
    appends_continue(log.path(), 30);
}

#[test]
fn stale_temp_file() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 10);
    let leftover = log.path().join("wal").join("00000000000000000009.seg.tmp");
    std::fs::write(&leftover, b"half-prepared").unwrap();
    let (recovery, n) = recover(log.path(), RecoveryMode::Refuse).unwrap();
    assert_eq!((n, &recovery.tail), (10, &TailState::Clean));
    assert!(!leftover.exists());
}

#[test]
fn locked_directory() {
    let log = scratch_dir();
    let first = std_dir(log.path());
    let err = DataDir::open(Arc::new(in_mem_durability::StdFs), log.path()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains("locked"), "{err}");
    drop(first);
    std_dir(log.path());
}

#[test]
fn data_path_is_a_file() {
    let tmp = scratch_dir();
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = DataDir::open(Arc::new(in_mem_durability::StdFs), &file).unwrap_err();
    assert!(matches!(err, Error::NotADirectory { .. }), "{err}");
}

// ---- torn and unsynced tails: cut in both modes -----------------------------------------------

#[test]
fn torn_segment_header() {
    for mode in BOTH {
        let log = scratch_dir();
        make_log(log.path(), SEGMENT, 30);
        let live = live_segments(log.path()).len() as u64;
        let path = next_segment(log.path(), &header(log.path(), live + 1, 31)[..13]);
        let recovery = check_cut(log.path(), mode, &path, 0, 30);
        assert_eq!(recovery.salvaged, None);
    }
}

#[test]
fn torn_frame_header() {
    for mode in BOTH {
        let log = scratch_dir();
        make_log(log.path(), SEGMENT, 30);
        let last = live_segments(log.path()).pop().unwrap();
        let (offset, len) = *frames(&last).last().unwrap();
        let end = offset + len;
        // The first five bytes of a frame header landed, nothing else.
        edit(&last, |b| {
            let head = b[offset..offset + 5].to_vec();
            b[end..end + 5].copy_from_slice(&head);
        });
        check_cut(log.path(), mode, &last, end as u64, 30);
    }
}

#[test]
fn torn_payload() {
    for mode in BOTH {
        let log = scratch_dir();
        make_log(log.path(), SEGMENT, 30);
        let last = live_segments(log.path()).pop().unwrap();
        let (offset, len) = *frames(&last).last().unwrap();
        edit(&last, |b| b[offset + len / 2..offset + len].fill(0));
        check_cut(log.path(), mode, &last, offset as u64, 29);
    }
}

#[test]
fn bad_crc_in_the_last_record() {
    for mode in BOTH {
        let log = scratch_dir();
        make_log(log.path(), SEGMENT, 30);
        let last = live_segments(log.path()).pop().unwrap();
        let (offset, len) = *frames(&last).last().unwrap();
        edit(&last, |b| b[offset + len - 1] ^= 0x01);
        let recovery = check_cut(log.path(), mode, &last, offset as u64, 29);
        let TailState::Cut { reason, .. } = recovery.tail else {
            unreachable!()
        };
        assert_eq!(reason, "record checksum mismatch");
    }
}

#[test]
fn garbage_after_the_last_record() {
    for mode in BOTH {
        let log = scratch_dir();
        make_log(log.path(), SEGMENT, 30);
        let last = live_segments(log.path()).pop().unwrap();
        let (offset, len) = *frames(&last).last().unwrap();
        let end = offset + len;
        edit(&last, |b| {
            for (i, x) in b[end + 8..end + 50].iter_mut().enumerate() {
                *x = 0xA5 ^ i as u8;
            }
        });
        check_cut(log.path(), mode, &last, end as u64, 30);
    }
}

#[test]
fn truncated_last_segment() {
    for mode in BOTH {
        let log = scratch_dir();
        make_log(log.path(), SEGMENT, 30);
        let last = live_segments(log.path()).pop().unwrap();
        let (offset, len) = *frames(&last).last().unwrap();
        edit(&last, |b| b.truncate(offset + len / 2));
        check_cut(log.path(), mode, &last, offset as u64, 29);
    }
}

/// Records written but never synced, where a later one reached the disk and an earlier one
/// did not (all zeros): legitimate after power loss, cut at the hole with what follows it.
#[test]
fn out_of_order_unsynced_loss() {
    for mode in BOTH {
        let log = scratch_dir();
        make_log_waiting(log.path(), SEGMENT, 30, WaitFor::Written);
        let last = live_segments(log.path()).pop().unwrap();
        let all = frames(&last);
        assert!(all.len() >= 4);
        let (offset, len) = all[1];
        let kept = version_at(&last, offset) - 1;
        edit(&last, |b| b[offset..offset + len].fill(0));
        let recovery = check_cut(log.path(), mode, &last, offset as u64, kept);
        assert_eq!(recovery.records_dropped, all.len() as u64 - 2);
        assert_eq!(recovery.newest_dropped, Some(Version::new(30)));
        assert_eq!(recovery.salvaged, None);
    }
}

/// The unsynced end of one segment lost while the next segment's header and records (never
/// synced either) reached the disk: the next segment's first version skips ahead.
#[test]
fn out_of_order_loss_across_segments() {
    for mode in BOTH {
        let log = scratch_dir();
        make_log_waiting(log.path(), SEGMENT, 60, WaitFor::Written);
        let live = live_segments(log.path());
        let (before, last) = (&live[live.len() - 2], &live[live.len() - 1]);
        let (offset, _) = frames(before)[1];
        let kept = version_at(before, offset) - 1;
        edit(before, |b| b[offset..].fill(0));
        let later = frames(last).len() as u64;
        let recovery = check_cut(log.path(), mode, last, 0, kept);
        assert_eq!(recovery.records_dropped, later);
    }
}

/// A segment whose header and records were never synced is all zeros, and the next one's
/// (never synced either) reached the disk.
#[test]
fn unsynced_segment_lost_before_a_later_one() {
    for mode in BOTH {
        let log = scratch_dir();
        make_log_waiting(log.path(), SEGMENT, 60, WaitFor::Written);
        let live = live_segments(log.path());
        let lost = &live[live.len() - 2];
        let kept = version_at(lost, HEADER) - 1;
        std::fs::write(lost, vec![0u8; SEGMENT as usize]).unwrap();
        check_cut(log.path(), mode, lost, 0, kept);
    }
}

/// A segment file of garbage: after the last live segment it is a torn new segment and is
/// cut; in the middle, with records after it that were durable, it is refused.
#[test]
fn garbage_segment() {
    let garbage: Vec<u8> = (0..SEGMENT).map(|i| (i * 131 % 251) as u8 | 1).collect();
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 30);
    let path = next_segment(log.path(), &garbage);
    check_cut(log.path(), RecoveryMode::Refuse, &path, 0, 30);

    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 60);
    let middle = live_name(log.path(), 1);
    let kept = version_at(&middle, HEADER) - 1;
    std::fs::write(&middle, &garbage).unwrap();
    check_refused_then_salvaged(
        log.path(),
        &middle,
        0,
        |k| {
            matches!(
                k,
                CorruptionKind::BadMagic | CorruptionKind::BadHeaderChecksum
            )
        },
        kept,
    );
}

// ---- damage to durable data: refused, or salvaged on request ----------------------------------

#[test]
fn bad_crc_before_valid_records() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 40);
    let last = live_segments(log.path()).pop().unwrap();
    let (offset, _) = frames(&last)[1];
    let kept = version_at(&last, offset) - 1;
    edit(&last, |b| b[offset + 20] ^= 0x08);
    check_refused_then_salvaged(
        log.path(),
        &last,
        offset as u64,
        |k| *k == CorruptionKind::BadRecordChecksum,
        kept,
    );
}

#[test]
fn zeroed_records_before_durable_records() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 40);
    let last = live_segments(log.path()).pop().unwrap();
    let (offset, len) = frames(&last)[1];
    let kept = version_at(&last, offset) - 1;
    edit(&last, |b| b[offset..offset + len].fill(0));
    check_refused_then_salvaged(
        log.path(),
        &last,
        offset as u64,
        |k| *k == CorruptionKind::DataAfterEnd,
        kept,
    );
}

/// The unsynced-looking loss of `out_of_order_loss_across_segments`, but the later segment's
/// records say the lost ones had been synced: corruption.
#[test]
fn lost_records_before_a_segment_that_saw_them_synced() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 60);
    let live = live_segments(log.path());
    let (before, last) = (&live[live.len() - 2], &live[live.len() - 1]);
    let (offset, _) = frames(before)[1];
    let kept = version_at(before, offset) - 1;
    edit(before, |b| b[offset..].fill(0));
    check_refused_then_salvaged(
        log.path(),
        last,
        0,
        |k| matches!(k, CorruptionKind::VersionGap { .. }),
        kept,
    );
}

#[test]
fn bad_segment_header_before_valid_records() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 60);
    let middle = live_name(log.path(), 1);
    let kept = version_at(&middle, HEADER) - 1;
    edit(&middle, |b| b[22] ^= 0x01);
    check_refused_then_salvaged(
        log.path(),
        &middle,
        0,
        |k| *k == CorruptionKind::BadHeaderChecksum,
        kept,
    );
}

#[test]
fn missing_segment() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 100);
    let live = live_segments(log.path());
    assert!(live.len() >= 4);
    let kept = version_at(&live[2], HEADER) - 1;
    std::fs::remove_file(&live[2]).unwrap();
    check_refused_then_salvaged(
        log.path(),
        &live[3],
        0,
        |k| *k == CorruptionKind::MissingSegment { expected: 3 },
        kept,
    );
    // Also after a segment that lost its content (all zeros), even though no record after
    // the gap claims anything durable: no crash leaves a gap.
    let work = scratch_dir();
    make_log_waiting(work.path(), SEGMENT, 100, WaitFor::Written);
    let live = live_segments(work.path());
    let kept = version_at(&live[1], HEADER) - 1;
    std::fs::write(&live[1], vec![0u8; SEGMENT as usize]).unwrap();
    std::fs::remove_file(&live[2]).unwrap();
    let (file, offset, kind) = refused(work.path(), RecoveryMode::Refuse);
    assert_eq!((file, offset), (live[3].clone(), 0));
    assert_eq!(kind, CorruptionKind::MissingSegment { expected: 3 });
    let (_, n) = recover(work.path(), RecoveryMode::Salvage).unwrap();
    assert_eq!(n, kept);
}

/// The newest segment deleted: detected only if a later file (the spare) shows the gap; with
/// nothing after it the log simply ends earlier. Recovery cannot tell, since nothing in a
/// segment names the one after it.
#[test]
fn missing_newest_segment() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 60);
    let live = live_segments(log.path());
    let newest = live.last().unwrap().clone();
    let kept = version_at(&newest, HEADER) - 1;
    let spare = next_segment(log.path(), &[]);
    std::fs::remove_file(&newest).unwrap();
    let work = scratch_dir();
    copy_log(log.path(), work.path());
    check_refused_then_salvaged(
        log.path(),
        &spare,
        0,
        |k| matches!(k, CorruptionKind::MissingSegment { .. }),
        kept,
    );
    // Without the spare: undetected, the log ends at the segment before.
    std::fs::remove_file(work.path().join("wal").join(spare.file_name().unwrap())).unwrap();
    let (recovery, n) = recover(work.path(), RecoveryMode::Refuse).unwrap();
    assert_eq!((n, recovery.tail), (kept, TailState::Clean));
}

#[test]
fn version_gap() {
    let log = scratch_dir();
    // Nothing synced: a version gap is refused all the same (no crash writes one).
    make_log_waiting(log.path(), SEGMENT, 60, WaitFor::Written);
    let middle = live_name(log.path(), 1);
    let (offset, _) = *frames(&middle).last().unwrap();
    let old = version_at(&middle, offset);
    rewrite_frame(&middle, offset, |payload| {
        payload[..8].copy_from_slice(&(old + 1).to_le_bytes());
    });
    check_refused_then_salvaged(
        log.path(),
        &middle,
        offset as u64,
        |k| {
            *k == CorruptionKind::VersionGap {
                expected: Version::new(old),
                found: Version::new(old + 1),
            }
        },
        old - 1,
    );
}

#[test]
fn sequence_mismatch() {
    let log = scratch_dir();
    make_log_waiting(log.path(), SEGMENT, 60, WaitFor::Written);
    let last = live_segments(log.path()).pop().unwrap();
    let kept = version_at(&last, HEADER) - 1;
    rewrite_header(&last, 40, &999u64.to_le_bytes());
    check_refused_then_salvaged(
        log.path(),
        &last,
        0,
        |k| matches!(k, CorruptionKind::SequenceMismatch { found: 999, .. }),
        kept,
    );
}

/// A record whose checksum is right but whose body does not decode: as the last record it is
/// cut like a torn one; before records that saw it synced it is refused.
#[test]
fn undecodable_record_body() {
    let garble = |payload: &mut [u8]| {
        // The body starts after the version and the one-byte durable lag.
        let body = &mut payload[9..];
        body[0] = 0xFF;
        body[1..].fill(0xFF);
    };
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 30);
    let last = live_segments(log.path()).pop().unwrap();
    let (offset, _) = *frames(&last).last().unwrap();
    rewrite_frame(&last, offset, garble);
    check_cut(log.path(), RecoveryMode::Refuse, &last, offset as u64, 29);

    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 30);
    let last = live_segments(log.path()).pop().unwrap();
    let (offset, _) = frames(&last)[0];
    let kept = version_at(&last, offset) - 1;
    rewrite_frame(&last, offset, garble);
    check_refused_then_salvaged(
        log.path(),
        &last,
        offset as u64,
        |k| matches!(k, CorruptionKind::UndecodableBody { .. }),
        kept,
    );
}

/// A record the engine rejects at replay (its checksum is right, its content is not): refused
/// in both modes, at that record. Salvage is for damage, not for content the engine disowns.
#[test]
fn rejected_record() {
    let log = scratch_dir();
    make_log(log.path(), SEGMENT, 40);
    for mode in BOTH {
        let dir = std_dir(log.path());
        let options = in_mem_durability::WalOptions {
            recovery_mode: mode,
            ..options(SEGMENT)
        };
        let err = Wal::open(&dir, options, Version::ZERO, &mut |r| {
            if r.version == Version::new(17) {
                Err(ReplayRejected::new("run", "unknown run"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        let Error::Corruption { file, offset, kind } = err else {
            panic!("expected corruption, got {err}");
        };
        assert_eq!(
            kind,
            CorruptionKind::RecordRejected(ReplayRejected::new("run", "unknown run"))
        );
        assert_eq!(version_at(&file, offset as usize), 17);
    }
}

// ---- crashes during recovery ------------------------------------------------------------------

/// A log on a simulated disk: 20 synced records, then 10 only written; record 24 lost (as if
/// unsynced writes landed out of order), and the last record torn.
fn damaged_sim_log(root: &Path) -> SimFs {
    let fs = SimFs::new(1);
    {
        let dir = DataDir::open(Arc::new(fs.clone()) as Arc<dyn Vfs>, root).unwrap();
        let (wal, _, _) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
        append_range(&wal, 1, 20, WaitFor::Synced);
        append_range(&wal, 21, 10, WaitFor::Written);
        drop(wal);
    }
    let image = fs.snapshot();
    for name in image.list(&root.join("wal")) {
        let path = root.join("wal").join(&name);
        let mut bytes = image.read_file(&path).unwrap();
        for frame in segment_frames(&bytes) {
            let (at, len) = (frame.offset as usize, frame.len as usize);
            if frame.version == Version::new(24) {
                bytes[at..at + len].fill(0);
            } else if frame.version == Version::new(30) {
                bytes[at + len - 3] ^= 0xFF;
            }
        }
        image.write_file(&path, &bytes);
    }
    image
}

/// Recovers `fs` in `mode`: the versions replayed.
fn sim_recover(fs: &SimFs, root: &Path, mode: RecoveryMode) -> (Vec<u64>, WalRecovery) {
    let dir = DataDir::open(Arc::new(fs.clone()) as Arc<dyn Vfs>, root).unwrap();
    let (wal, recovery, records) = open_wal_mode(&dir, SEGMENT, mode).unwrap();
    for r in &records {
        check_record(r, r.version.get());
    }
    wal.close().unwrap();
    (records.iter().map(|r| r.version.get()).collect(), recovery)
}

/// Power loss at every I/O call of a recovery (and several seeds each), then recovery again:
/// always the same records, and then a clean log.
fn crash_every_call(image: &SimFs, root: &Path, mode: RecoveryMode, expected: &[u64]) -> u64 {
    let fs = image.snapshot();
    fs.record();
    let (first, recovery) = sim_recover(&fs, root, mode);
    assert_eq!(first, expected);
    assert!(
        matches!(recovery.tail, TailState::Cut { .. }),
        "{recovery:?}"
    );
    let mut timeline = fs.timeline();
    let mut points = 0;
    loop {
        for seed in 0..4 {
            let crashed = timeline.crash(seed + 100 * timeline.position() as u64);
            let (again, _) = sim_recover(&crashed, root, mode);
            assert_eq!(
                again,
                expected,
                "power loss after {} I/O calls of recovery",
                timeline.position()
            );
        }
        points += 1;
        if !timeline.step() {
            break;
        }
    }
    let (again, recovery) = sim_recover(&fs, root, RecoveryMode::Refuse);
    assert_eq!(
        (again.as_slice(), recovery.tail),
        (expected, TailState::Clean)
    );
    points
}

#[test]
fn crash_during_recovery() {
    let root = Path::new("/recovery-cases/crash-during-recovery");
    let image = damaged_sim_log(root);
    let points = crash_every_call(
        &image,
        root,
        RecoveryMode::Refuse,
        &(1..=23).collect::<Vec<_>>(),
    );
    assert!(points > 3, "the cut is several I/O calls: {points}");
}

#[test]
fn crash_during_salvage() {
    let root = Path::new("/recovery-cases/crash-during-salvage");
    let image = damaged_sim_log(root);
    // Damage record 5, which record 6 saw synced: refused by default, salvaged on request.
    for name in image.list(&root.join("wal")) {
        let path = root.join("wal").join(&name);
        let mut bytes = image.read_file(&path).unwrap();
        for frame in segment_frames(&bytes) {
            if frame.version == Version::new(5) {
                bytes[frame.offset as usize + 20] ^= 0x40;
            }
        }
        image.write_file(&path, &bytes);
    }
    let dir = DataDir::open(Arc::new(image.snapshot()) as Arc<dyn Vfs>, root).unwrap();
    assert!(matches!(
        open_wal_mode(&dir, SEGMENT, RecoveryMode::Refuse),
        Err(Error::Corruption { .. })
    ));
    drop(dir);
    crash_every_call(&image, root, RecoveryMode::Salvage, &[1, 2, 3, 4]);
}

// ---- the table and the tests stay one-to-one ---------------------------------------------------

/// Every row of `docs/RECOVERY.md` marked (D) names a test function of this file or of
/// `identity_cases.rs`, every row marked (E) one of `crates/engine/tests/recovery_cases.rs`
/// or `crates/engine/tests/identity.rs`, and every test of the two files here is a row.
#[test]
fn every_row_of_recovery_md_has_a_test_of_its_name() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/RECOVERY.md")).unwrap();
    let here = [
        include_str!("recovery_cases.rs"),
        include_str!("identity_cases.rs"),
    ]
    .concat();
    let engine = ["recovery_cases.rs", "identity.rs"]
        .map(|name| std::fs::read_to_string(root.join("crates/engine/tests").join(name)).unwrap())
        .concat();
    let mut rows = 0;
    for line in doc.lines() {
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let Some((name, rest)) = rest.split_once('`') else {
            continue;
        };
        let source = if rest.starts_with(" (D)") {
            here.as_str()
        } else if rest.starts_with(" (E)") {
            engine.as_str()
        } else {
            continue;
        };
        rows += 1;
        assert!(
            source.contains(&format!("fn {name}() {{")),
            "RECOVERY.md row `{name}` has no test of that name"
        );
    }
    assert!(rows >= 30, "only {rows} rows found");
    for line in here.lines() {
        if let Some(name) = line
            .strip_prefix("fn ")
            .and_then(|l| l.strip_suffix("() {"))
            && name != "every_row_of_recovery_md_has_a_test_of_its_name"
        {
            assert!(
                doc.contains(&format!("| `{name}` (D)")),
                "test {name} is not a row of RECOVERY.md"
            );
        }
    }
}
