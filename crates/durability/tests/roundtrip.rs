//! Round trips through the public API: many records over many small segments, reopen and append
//! more, records larger than a segment, `after`, close and drop.
#![allow(clippy::unwrap_used)] // helpers of tests, where unwrap is the assertion

mod common;

use std::sync::Arc;

use common::*;
use in_mem_core_types::{RunId, Timestamp, Version};
use in_mem_durability::{
    CommitBody, DataDir, Error, OpRef, StdFs, TailState, WaitFor, Wal, WriteRef,
};

#[test]
fn many_records_round_trip_across_many_small_segments() {
    let tmp = tempfile::tempdir().unwrap();
    make_log_waiting(tmp.path(), SEGMENT, 300, WaitFor::Buffered);
    assert!(
        live_segments(tmp.path()).len() >= 10,
        "records must span many segments"
    );
    let (_dir, wal, recovery) = reopen_expect(tmp.path(), SEGMENT, 300);
    assert_eq!(recovery.tail, TailState::Clean);
    assert_eq!(wal.last_version(), Version::new(300));
}

#[test]
fn reopen_and_append_more_several_times() {
    let tmp = tempfile::tempdir().unwrap();
    make_log_waiting(tmp.path(), SEGMENT, 50, WaitFor::Buffered);
    let mut n = 50;
    for round in 0..4 {
        let (_dir, wal, recovery) = reopen_expect(tmp.path(), SEGMENT, n);
        assert_eq!(recovery.tail, TailState::Clean, "round {round}");
        let level = [WaitFor::Buffered, WaitFor::Written, WaitFor::Synced][round % 3];
        append_range(&wal, n + 1, 37, level);
        n += 37;
        if round % 2 == 0 {
            wal.close().unwrap();
        } // else: dropped, which flushes too
    }
    reopen_expect(tmp.path(), SEGMENT, n);
}

#[test]
fn a_record_larger_than_a_segment_gets_a_segment_of_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std_dir(tmp.path());
    let (wal, _, _) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
    append_range(&wal, 1, 3, WaitFor::Written);
    let big = vec![0x5A; 3 * SEGMENT as usize];
    let body = CommitBody::encode(
        Timestamp::EPOCH,
        RunId::NIL,
        &[WriteRef {
            key: b"big",
            op: OpRef::Put {
                value: &big,
                ttl: None,
            },
        }],
    )
    .unwrap();
    let ticket = wal.append(&body, || Version::new(4)).unwrap();
    wal.wait(ticket, WaitFor::Synced).unwrap();
    let ticket = wal.append(&common::body(5), || Version::new(5)).unwrap();
    wal.wait(ticket, WaitFor::Synced).unwrap();
    drop(wal);
    drop(dir);

    let dir = std_dir(tmp.path());
    let (_wal, recovery, records) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
    assert_eq!(recovery.tail, TailState::Clean);
    assert_eq!(records.len(), 5);
    match &records[3].writes[0].op {
        in_mem_durability::LogOp::Put { value, .. } => assert_eq!(*value, big),
        in_mem_durability::LogOp::Delete | in_mem_durability::LogOp::DeletePrefix => {
            panic!("expected the big put")
        }
    }
    check_record(&records[4], 5);
}

#[test]
fn records_at_or_below_after_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    make_log_waiting(tmp.path(), SEGMENT, 40, WaitFor::Buffered);
    let dir = std_dir(tmp.path());
    let (wal, recovery, records) = open_wal(&dir, SEGMENT, Version::new(25)).unwrap();
    assert_eq!(recovery.records_replayed, 15);
    assert_eq!(recovery.last_version, Version::new(40));
    assert_eq!(records.first().unwrap().version, Version::new(26));
    assert_eq!(wal.last_version(), Version::new(40));
}

/// A checkpoint ahead of the log (its last records were lost, the checkpoint was not): the log
/// continues after the checkpoint, and the gap below the checkpoint is accepted only while a
/// checkpoint covers it.
#[test]
fn a_checkpoint_ahead_of_the_log_continues_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    make_log_waiting(tmp.path(), SEGMENT, 10, WaitFor::Buffered);
    {
        let dir = std_dir(tmp.path());
        let (wal, recovery, records) = open_wal(&dir, SEGMENT, Version::new(15)).unwrap();
        assert!(records.is_empty());
        assert_eq!(recovery.last_version, Version::new(15));
        assert_eq!(wal.last_version(), Version::new(15));
        append_range(&wal, 16, 5, WaitFor::Synced);
    }
    let dir = std_dir(tmp.path());
    let (wal, recovery, records) = open_wal(&dir, SEGMENT, Version::new(15)).unwrap();
    assert_eq!(recovery.records_replayed, 5);
    check_record(&records[0], 16);
    drop(wal);
    let err = open_wal(&dir, SEGMENT, Version::ZERO).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corruption {
                kind: in_mem_durability::CorruptionKind::VersionGap { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_fresh_log_after_a_checkpoint_starts_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std_dir(tmp.path());
    let (wal, recovery, _) = open_wal(&dir, SEGMENT, Version::new(100)).unwrap();
    assert_eq!(recovery.last_version, Version::new(100));
    append_range(&wal, 101, 3, WaitFor::Synced);
    drop(wal);
    let (_wal, recovery, records) = open_wal(&dir, SEGMENT, Version::new(100)).unwrap();
    assert_eq!(recovery.records_replayed, 3);
    check_record(&records[2], 103);
}

#[test]
fn closed_logs_refuse_appends_and_close_twice_is_harmless() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std_dir(tmp.path());
    let (wal, _, _) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
    let ticket = wal.append(&body(1), || Version::new(1)).unwrap();
    wal.close().unwrap();
    // Close flushed: the earlier ticket is durable.
    wal.wait(ticket, WaitFor::Synced).unwrap();
    let err = wal
        .append(&body(2), || unreachable!("no version for a closed log"))
        .unwrap_err();
    assert!(matches!(err, Error::Closed), "{err}");
    wal.close().unwrap();
    wal.flush().unwrap();
}

#[test]
fn dropping_the_log_flushes_buffered_records() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let dir = std_dir(tmp.path());
        let (wal, _, _) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
        append_range(&wal, 1, 20, WaitFor::Buffered);
    }
    reopen_expect(tmp.path(), SEGMENT, 20);
}

#[test]
fn one_log_per_directory_handle_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std_dir(tmp.path());
    let (wal, _, _) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
    let err = open_wal(&dir, SEGMENT, Version::ZERO).unwrap_err();
    assert!(matches!(err, Error::WalAlreadyOpen { .. }), "{err}");
    wal.close().unwrap();
    // A closed log gives the directory back, and dropping it later does not take it away.
    let (second, _, _) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
    drop(wal);
    let err = open_wal(&dir, SEGMENT, Version::ZERO).unwrap_err();
    assert!(matches!(err, Error::WalAlreadyOpen { .. }), "{err}");
    drop(second);
}

#[test]
fn the_log_keeps_the_directory_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std_dir(tmp.path());
    let (wal, _, _) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
    drop(dir);
    let err = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    drop(wal);
    DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
}

#[test]
fn two_data_dirs_on_one_path_are_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let _first = std_dir(tmp.path());
    let err = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap_err();
    assert!(
        matches!(&err, Error::Locked { path } if path == tmp.path()),
        "{err}"
    );
    assert!(err.to_string().contains("locked"), "{err}");
}

#[test]
fn a_path_that_is_a_file_is_not_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = DataDir::open(Arc::new(StdFs), &file).unwrap_err();
    assert!(matches!(err, Error::NotADirectory { .. }), "{err}");
}

#[test]
fn segment_size_is_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std_dir(tmp.path());
    for bad in [0, 100, 4095, (1 << 30) + 1] {
        let err = Wal::open(&dir, options(bad), Version::ZERO, &mut |_| Ok(())).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidOption {
                    option: "segment_bytes",
                    ..
                }
            ),
            "{err}"
        );
    }
    // The refused opens did not keep the directory's log claim.
    open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
}

#[test]
fn a_spare_segment_is_prepared_and_reused_after_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let dir = std_dir(tmp.path());
        let (wal, _, _) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
        append_range(&wal, 1, 5, WaitFor::Buffered);
        // The preallocation thread prepares the next segment in the background.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while segments(tmp.path()).len() < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "no spare was prepared"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        wal.close().unwrap();
    }
    // The prepared spare is all zeros and sits after the live segment.
    let all = segments(tmp.path());
    let live = live_segments(tmp.path());
    assert_eq!(live.len(), 1);
    assert_eq!(all.len(), 2, "{all:?}");
    let spare = std::fs::read(&all[1]).unwrap();
    assert_eq!(spare.len() as u64, SEGMENT);
    assert!(spare.iter().all(|&b| b == 0));
    // Reopening adopts it rather than deleting it; appends then fill it.
    {
        let (_dir, wal, _) = reopen_expect(tmp.path(), SEGMENT, 5);
        append_range(&wal, 6, 60, WaitFor::Written);
        wal.close().unwrap();
    }
    assert!(live_segments(tmp.path()).contains(&all[1]));
    reopen_expect(tmp.path(), SEGMENT, 65);
}

#[test]
fn records_larger_than_a_segment_fit_theirs_while_others_append() {
    // Named regression (found by the crash test): a record larger than a segment got a segment
    // sized for its frame, but the frame's durable-lag field grew by a byte while the log lock
    // was released to create it (other appenders moved the lag past 127); the record no longer
    // fit, and the empty segment stayed in the middle of the log, which recovery refused.
    use std::sync::atomic::{AtomicU64, Ordering};
    let tmp = tempfile::tempdir().unwrap();
    let dir = std_dir(tmp.path());
    let (wal, _, _) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
    let next = AtomicU64::new(1);
    let big = vec![0x5A; 2 * SEGMENT as usize];
    let big_body = CommitBody::encode(
        Timestamp::EPOCH,
        RunId::NIL,
        &[WriteRef {
            key: b"big",
            op: OpRef::Put {
                value: &big,
                ttl: None,
            },
        }],
    )
    .unwrap();
    let small_body = common::body(1);
    let allocate = || Version::new(next.fetch_add(1, Ordering::SeqCst));
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..4_000u32 {
                wal.append(&small_body, allocate).unwrap();
                // Flushing now and then brings the lag back down, so it crosses 127 often.
                if i % 140 == 0 {
                    wal.flush().unwrap();
                }
            }
        });
        s.spawn(|| {
            for _ in 0..150 {
                wal.append(&big_body, allocate).unwrap();
            }
        });
    });
    wal.flush().unwrap();
    let total = next.load(Ordering::SeqCst) - 1;
    drop(wal);
    drop(dir);
    let dir = std_dir(tmp.path());
    let (_wal, recovery, records) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
    assert_eq!(recovery.tail, TailState::Clean);
    assert_eq!(
        records.len() as u64,
        total,
        "every appended record is recovered"
    );
}
