//! Torn tails: the last segment cut at every byte offset of its last records, filled with zeros,
//! garbage, or truncated. Recovery keeps exactly the complete records, reports the cut, and the
//! next append and a second reopen work.
#![allow(clippy::unwrap_used)] // helpers of tests, where unwrap is the assertion

mod common;

use std::path::Path;

use common::*;
use in_mem_core_types::Version;
use in_mem_durability::{TailState, WaitFor};

#[derive(Debug, Clone, Copy)]
enum Fill {
    Zeros,
    Garbage,
    Truncate,
}

/// Damages `segment` from `cut` to `end` as `fill` says.
fn damage(segment: &Path, cut: usize, end: usize, fill: Fill) {
    let mut bytes = std::fs::read(segment).unwrap();
    match fill {
        Fill::Zeros => bytes[cut..end].fill(0),
        Fill::Garbage => {
            for (i, b) in bytes[cut..end].iter_mut().enumerate() {
                *b = 0xA5 ^ (i as u8 & 0x0F);
            }
        }
        Fill::Truncate => bytes.truncate(cut),
    }
    std::fs::write(segment, bytes).unwrap();
}

#[test]
fn torn_tail_at_every_offset_of_the_last_records() {
    const N: u64 = 60;
    let base = scratch_dir();
    make_log(base.path(), SEGMENT, N);
    let live = live_segments(base.path());
    assert!(live.len() >= 3, "the log must span several segments");
    let last_name = live.last().unwrap().file_name().unwrap().to_owned();
    let all_frames = frames(live.last().unwrap());
    let tail_frames = &all_frames[all_frames.len().saturating_sub(3)..];
    assert!(tail_frames.len() >= 2);
    let before = N - tail_frames.len() as u64;
    let (first, _) = tail_frames[0];
    let end = tail_frames.last().map(|(o, l)| o + l).unwrap();

    for fill in [Fill::Zeros, Fill::Garbage, Fill::Truncate] {
        for cut in first..end {
            let work = scratch_dir();
            copy_log(base.path(), work.path());
            let segment = work.path().join("wal").join(&last_name);
            damage(&segment, cut, end, fill);

            let complete = tail_frames.iter().filter(|(o, l)| o + l <= cut).count() as u64;
            let expected = before + complete;
            let torn = tail_frames.iter().find(|(o, l)| o + l > cut).unwrap().0;
            let context = format!("{fill:?} cut at {cut}");
            {
                let dir = std_dir(work.path());
                let (wal, recovery, records) = open_wal(&dir, SEGMENT, Version::ZERO)
                    .unwrap_or_else(|e| panic!("{context}: {e}"));
                assert_eq!(records.len() as u64, expected, "{context}");
                for (i, r) in records.iter().enumerate() {
                    check_record(r, i as u64 + 1);
                }
                let at_boundary = cut == torn;
                match (&recovery.tail, fill, at_boundary) {
                    (TailState::Clean, Fill::Zeros | Fill::Truncate, true) => {}
                    (
                        TailState::Cut {
                            file,
                            offset,
                            bytes,
                            reason,
                        },
                        _,
                        _,
                    ) => {
                        assert!(!matches!(fill, Fill::Zeros | Fill::Truncate) || !at_boundary);
                        assert_eq!(*file, segment, "{context}");
                        assert_eq!(*offset, torn as u64, "{context}");
                        assert!(*bytes > 0 && !reason.is_empty(), "{context}");
                    }
                    (tail, ..) => panic!("{context}: unexpected {tail:?}"),
                }
                // Appends resume at the cut.
                append_range(&wal, expected + 1, 2, WaitFor::Synced);
            }
            let (_dir, _wal, recovery) = reopen_expect(work.path(), SEGMENT, expected + 2);
            assert_eq!(
                recovery.tail,
                TailState::Clean,
                "{context}: second recovery"
            );
        }
    }
}

/// Named regression: a bad record must not discard the valid records before it.
#[test]
fn a_bad_record_does_not_discard_valid_records_before_it() {
    let tmp = scratch_dir();
    make_log(tmp.path(), SEGMENT, 100);
    let last = live_segments(tmp.path()).pop().unwrap();
    let (offset, len) = *frames(&last).last().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    bytes[offset + len - 1] ^= 0x01;
    std::fs::write(&last, bytes).unwrap();

    let dir = std_dir(tmp.path());
    let (_wal, recovery, records) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
    assert_eq!(records.len(), 99);
    for (i, r) in records.iter().enumerate() {
        check_record(r, i as u64 + 1);
    }
    let TailState::Cut {
        offset: cut,
        reason,
        ..
    } = &recovery.tail
    else {
        panic!("expected a cut, got {:?}", recovery.tail);
    };
    assert_eq!(*cut, offset as u64);
    assert_eq!(reason, "record checksum mismatch");
}

#[test]
fn zero_filled_tail_and_extra_zero_segments_are_clean() {
    let tmp = scratch_dir();
    make_log(tmp.path(), SEGMENT, 30);
    let last = live_segments(tmp.path()).pop().unwrap();
    // A longer zero tail, and two all-zero segments after the last one.
    let file = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
    file.set_len(3 * SEGMENT).unwrap();
    drop(file);
    let next = segments(tmp.path()).len() as u64;
    for seq in next + 1..=next + 2 {
        let path = tmp.path().join("wal").join(format!("{seq:020}.seg"));
        std::fs::write(path, vec![0u8; SEGMENT as usize]).unwrap();
    }
    {
        let (_dir, wal, recovery) = reopen_expect(tmp.path(), SEGMENT, 30);
        assert_eq!(recovery.tail, TailState::Clean);
        append_range(&wal, 31, 40, WaitFor::Written);
        wal.close().unwrap();
    }
    reopen_expect(tmp.path(), SEGMENT, 70);
}

/// The segment after the last live one, made of `bytes` then zeros.
fn write_next_segment(log: &Path, bytes: &[u8]) -> std::path::PathBuf {
    let live = live_segments(log);
    let last = live
        .last()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
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

#[test]
fn a_torn_header_of_an_empty_last_segment_is_cut() {
    let tmp = scratch_dir();
    make_log(tmp.path(), SEGMENT, 30);
    let live = live_segments(tmp.path()).len() as u64;
    let torn = &header(tmp.path(), live + 1, 31)[..13];
    let path = write_next_segment(tmp.path(), torn);
    {
        let (_dir, wal, recovery) = reopen_expect(tmp.path(), SEGMENT, 30);
        let TailState::Cut {
            file,
            offset,
            bytes,
            ..
        } = &recovery.tail
        else {
            panic!("expected a cut, got {:?}", recovery.tail);
        };
        assert_eq!((file, *offset), (&path, 0));
        assert!(*bytes > 0 && *bytes <= 13);
        append_range(&wal, 31, 30, WaitFor::Synced);
    }
    let (_dir, _wal, recovery) = reopen_expect(tmp.path(), SEGMENT, 60);
    assert_eq!(recovery.tail, TailState::Clean);
}

#[test]
fn a_header_only_last_segment_is_clean_and_appends_continue() {
    let tmp = scratch_dir();
    make_log(tmp.path(), SEGMENT, 30);
    let live = live_segments(tmp.path()).len() as u64;
    write_next_segment(tmp.path(), &header(tmp.path(), live + 1, 31));
    {
        let (_dir, wal, recovery) = reopen_expect(tmp.path(), SEGMENT, 30);
        assert_eq!(recovery.tail, TailState::Clean);
        append_range(&wal, 31, 30, WaitFor::Synced);
    }
    reopen_expect(tmp.path(), SEGMENT, 60);
}

#[test]
fn several_header_only_last_segments_are_cleared() {
    let tmp = scratch_dir();
    make_log(tmp.path(), SEGMENT, 30);
    let live = live_segments(tmp.path()).len() as u64;
    write_next_segment(tmp.path(), &header(tmp.path(), live + 1, 31));
    let mut second = header(tmp.path(), live + 2, 31);
    second.resize(SEGMENT as usize, 0);
    std::fs::write(
        tmp.path().join("wal").join(format!("{:020}.seg", live + 2)),
        second,
    )
    .unwrap();
    {
        let (_dir, wal, recovery) = reopen_expect(tmp.path(), SEGMENT, 30);
        assert_eq!(recovery.tail, TailState::Clean);
        assert_eq!(live_segments(tmp.path()).len() as u64, live);
        append_range(&wal, 31, 30, WaitFor::Synced);
    }
    reopen_expect(tmp.path(), SEGMENT, 60);
}

/// A header whose first record was lost, and a checkpoint ahead of it: the next append is
/// not the header's first version, so the empty segment must not be reused as it is.
#[test]
fn a_header_only_last_segment_behind_a_checkpoint_is_not_reused() {
    let tmp = scratch_dir();
    make_log(tmp.path(), SEGMENT, 30);
    let live = live_segments(tmp.path()).len() as u64;
    write_next_segment(tmp.path(), &header(tmp.path(), live + 1, 31));
    {
        let dir = std_dir(tmp.path());
        let (wal, recovery, _) = open_wal(&dir, SEGMENT, Version::new(35)).unwrap();
        assert_eq!(recovery.last_version, Version::new(35));
        append_range(&wal, 36, 30, WaitFor::Synced);
    }
    let dir = std_dir(tmp.path());
    let (_wal, recovery, records) = open_wal(&dir, SEGMENT, Version::new(35)).unwrap();
    assert_eq!(recovery.tail, TailState::Clean);
    assert_eq!(records.len(), 30);
    check_record(&records[0], 36);
}

#[test]
fn leftover_temporary_segments_are_deleted() {
    let tmp = scratch_dir();
    make_log(tmp.path(), SEGMENT, 10);
    let leftover = tmp.path().join("wal").join("00000000000000000009.seg.tmp");
    std::fs::write(&leftover, b"half-prepared").unwrap();
    let (_dir, _wal, recovery) = reopen_expect(tmp.path(), SEGMENT, 10);
    assert_eq!(recovery.tail, TailState::Clean);
    assert!(!leftover.exists());
}

/// Named regression (docs/TESTING.md: "ids reused after reopen made replay skip commits"): a cut
/// that dropped unsynced records which reached the disk out of order frees their versions; the
/// records appended next reuse them, and every later recovery replays the new records, never a
/// dropped one and never skipping one.
#[test]
fn versions_freed_by_a_cut_are_reused_and_replayed_with_their_new_content() {
    use in_mem_core_types::Timestamp;
    use in_mem_durability::{CommitBody, LogOp, OpRef, WriteRef};

    let tmp = scratch_dir();
    make_log_waiting(tmp.path(), SEGMENT, 30, WaitFor::Written);
    let last = live_segments(tmp.path()).pop().unwrap();
    let all = frames(&last);
    let (offset, len) = all[1];
    let hole = version_at(&last, offset);
    let mut bytes = std::fs::read(&last).unwrap();
    bytes[offset..offset + len].fill(0);
    std::fs::write(&last, bytes).unwrap();

    let other = |v: u64| {
        let value = format!("second life of v{v}").into_bytes();
        let writes = [WriteRef {
            key: b"reused",
            op: OpRef::Put {
                value: &value,
                ttl: None,
            },
        }];
        CommitBody::encode(Timestamp::from_micros(v), writer(), &writes).unwrap()
    };
    {
        let dir = std_dir(tmp.path());
        let (wal, recovery, records) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
        assert_eq!(records.len() as u64, hole - 1);
        assert!(recovery.records_dropped > 0, "{recovery:?}");
        for v in hole..hole + 10 {
            let ticket = wal.append(&other(v), || Version::new(v)).unwrap();
            wal.wait(ticket, WaitFor::Synced).unwrap();
        }
    }
    for _ in 0..2 {
        let dir = std_dir(tmp.path());
        let (_wal, recovery, records) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
        assert_eq!(recovery.tail, TailState::Clean);
        assert_eq!(records.len() as u64, hole + 9);
        for (i, r) in records.iter().enumerate() {
            let v = i as u64 + 1;
            if v < hole {
                check_record(r, v);
            } else {
                assert_eq!(r.version, Version::new(v));
                assert_eq!(r.writes[0].key, b"reused");
                let LogOp::Put { value, .. } = &r.writes[0].op else {
                    panic!("a put")
                };
                assert_eq!(value, &format!("second life of v{v}").into_bytes());
            }
        }
    }
}
