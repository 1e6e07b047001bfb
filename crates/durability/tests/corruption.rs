//! Damage that is not a torn tail is refused with the file, offset and reason; garbage never
//! makes recovery panic, hang, or return altered data.
#![allow(clippy::unwrap_used)] // helpers of tests, where unwrap is the assertion

mod common;

use std::path::{Path, PathBuf};

use common::*;
use in_mem_core_types::Version;
use in_mem_durability::{
    CorruptionKind, Error, FileKind, Mismatch, ReplayRejected, TailState, Wal,
};
use proptest::prelude::*;

fn expect_corruption(log: &Path) -> (PathBuf, u64, CorruptionKind) {
    let dir = std_dir(log);
    match open_wal(&dir, SEGMENT, Version::ZERO) {
        Err(Error::Corruption { file, offset, kind }) => (file, offset, kind),
        Err(other) => panic!("expected corruption, got {other}"),
        Ok((_, recovery, records)) => panic!(
            "expected corruption, recovered {} records, tail {:?}",
            records.len(),
            recovery.tail
        ),
    }
}

fn flip(path: &Path, at: usize, mask: u8) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= mask;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_flipped_bit_followed_by_valid_records_is_refused() {
    let base = scratch_dir();
    make_log(base.path(), SEGMENT, 80);
    let live = live_segments(base.path());
    // A record in the middle of the last segment, then one in a middle segment.
    for (segment_index, frame_index) in [(live.len() - 1, 1), (live.len() / 2, 3)] {
        let frame = frames(&live[segment_index])[frame_index];
        for (at, expected) in [
            (frame.0 + 20, CorruptionKind::BadRecordChecksum),
            (frame.0 + 5, CorruptionKind::BadRecordChecksum),
            (frame.0 + frame.1 - 1, CorruptionKind::BadRecordChecksum),
        ] {
            let work = scratch_dir();
            copy_log(base.path(), work.path());
            let segment = work
                .path()
                .join("wal")
                .join(live[segment_index].file_name().unwrap());
            flip(&segment, at, 0x08);
            let (file, offset, kind) = expect_corruption(work.path());
            assert_eq!(file, segment);
            assert_eq!(offset, frame.0 as u64);
            assert_eq!(kind, expected);
        }
        // A flipped length field: an impossible length or a checksum mismatch, at the frame.
        let work = scratch_dir();
        copy_log(base.path(), work.path());
        let segment = work
            .path()
            .join("wal")
            .join(live[segment_index].file_name().unwrap());
        flip(&segment, frame.0 + 1, 0x40);
        let (file, offset, kind) = expect_corruption(work.path());
        assert_eq!((file, offset), (segment, frame.0 as u64));
        assert!(
            matches!(
                kind,
                CorruptionKind::BadLength { .. } | CorruptionKind::BadRecordChecksum
            ),
            "{kind}"
        );
    }
}

#[test]
fn a_bad_header_of_a_middle_segment_is_refused() {
    let base = scratch_dir();
    make_log(base.path(), SEGMENT, 60);
    let middle = live_segments(base.path())[1]
        .file_name()
        .unwrap()
        .to_owned();
    for (at, expected) in [
        (2, CorruptionKind::BadMagic),
        (22, CorruptionKind::BadHeaderChecksum),
    ] {
        let work = scratch_dir();
        copy_log(base.path(), work.path());
        let segment = work.path().join("wal").join(&middle);
        flip(&segment, at, 0x01);
        let (file, offset, kind) = expect_corruption(work.path());
        assert_eq!((file, offset, kind), (segment, 0, expected));
    }
}

#[test]
fn complete_but_wrong_headers_are_refused_even_at_the_end() {
    let base = scratch_dir();
    make_log(base.path(), SEGMENT, 60);
    let last = live_segments(base.path())
        .pop()
        .unwrap()
        .file_name()
        .unwrap()
        .to_owned();
    let edit = |work: &Path, at: usize, value: &[u8]| {
        let segment = work.join("wal").join(&last);
        rewrite_header(&segment, at, value);
        segment
    };
    let work = scratch_dir();
    copy_log(base.path(), work.path());
    let segment = edit(work.path(), 8, &3u32.to_le_bytes());
    let dir = std_dir(work.path());
    let err = open_wal(&dir, SEGMENT, Version::ZERO).unwrap_err();
    let Error::FileMismatch { file, mismatch } = &err else {
        panic!("expected a file mismatch, got {err}");
    };
    assert_eq!(file, &segment);
    assert_eq!(
        *mismatch,
        Mismatch::NewerFormat {
            kind: FileKind::Segment,
            found: 3,
            supported: 2
        }
    );
    drop(dir);

    let work = scratch_dir();
    copy_log(base.path(), work.path());
    let segment = edit(work.path(), 40, &999u64.to_le_bytes());
    let (file, _, kind) = expect_corruption(work.path());
    assert_eq!(file, segment);
    assert!(
        matches!(kind, CorruptionKind::SequenceMismatch { found: 999, .. }),
        "{kind}"
    );

    let work = scratch_dir();
    copy_log(base.path(), work.path());
    let segment = edit(work.path(), 48, &500u64.to_le_bytes());
    let (file, _, kind) = expect_corruption(work.path());
    assert_eq!(file, segment);
    assert!(
        matches!(kind, CorruptionKind::VersionGap { found, .. } if found == Version::new(500)),
        "{kind}"
    );
}

#[test]
fn a_missing_middle_segment_is_refused() {
    let tmp = scratch_dir();
    make_log(tmp.path(), SEGMENT, 100);
    let live = live_segments(tmp.path());
    assert!(live.len() >= 4);
    std::fs::remove_file(&live[2]).unwrap();
    let (file, offset, kind) = expect_corruption(tmp.path());
    assert_eq!((file, offset), (live[3].clone(), 0));
    assert_eq!(kind, CorruptionKind::MissingSegment { expected: 3 });
}

#[test]
fn a_version_gap_is_refused_in_the_middle_and_at_the_end() {
    let base = scratch_dir();
    make_log(base.path(), SEGMENT, 60);
    let live = live_segments(base.path());
    let middle = live[1].file_name().unwrap().to_owned();
    let last = live.last().unwrap().file_name().unwrap().to_owned();
    for name in [middle, last] {
        let work = scratch_dir();
        copy_log(base.path(), work.path());
        let segment = work.path().join("wal").join(&name);
        let (offset, _) = *frames(&segment).last().unwrap();
        let old = version_at(&segment, offset);
        rewrite_frame(&segment, offset, |payload| {
            payload[..8].copy_from_slice(&(old + 1).to_le_bytes());
        });
        let (file, at, kind) = expect_corruption(work.path());
        assert_eq!((file, at), (segment, offset as u64));
        assert_eq!(
            kind,
            CorruptionKind::VersionGap {
                expected: Version::new(old),
                found: Version::new(old + 1)
            }
        );
    }
}

#[test]
fn a_rejected_record_is_corruption_at_that_record() {
    let tmp = scratch_dir();
    make_log(tmp.path(), SEGMENT, 40);
    let dir = std_dir(tmp.path());
    let mut seen = 0;
    let err = Wal::open(&dir, options(SEGMENT), Version::ZERO, &mut |r| {
        seen += 1;
        if r.version == Version::new(17) {
            Err(ReplayRejected::new("run", "unknown run"))
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!(seen, 17);
    let Error::Corruption { file, offset, kind } = err else {
        panic!("expected corruption, got {err}");
    };
    assert_eq!(
        kind,
        CorruptionKind::RecordRejected(ReplayRejected::new("run", "unknown run"))
    );
    // The named offset holds record 17.
    assert_eq!(version_at(&file, offset as usize), 17);
}

/// Named regression: a zero-length record made a decoder panic.
#[test]
fn a_zero_length_record_never_panics() {
    let base = scratch_dir();
    make_log(base.path(), SEGMENT, 20);
    let last = live_segments(base.path()).pop().unwrap();
    let name = last.file_name().unwrap().to_owned();
    let frames_before = frames(&last);
    let (offset, len) = *frames_before.last().unwrap();
    let end = offset + len;

    // At the tail: a zero length with a non-zero checksum is an impossible length, cut.
    let work = scratch_dir();
    copy_log(base.path(), work.path());
    let segment = work.path().join("wal").join(&name);
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[end..end + 8].copy_from_slice(&[0, 0, 0, 0, 1, 2, 3, 4]);
    std::fs::write(&segment, &bytes).unwrap();
    {
        let dir = std_dir(work.path());
        let (_wal, recovery, records) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
        assert_eq!(records.len(), 20);
        assert!(
            matches!(&recovery.tail, TailState::Cut { offset, reason, .. }
                if *offset == end as u64 && reason.contains("length 0")),
            "{:?}",
            recovery.tail
        );
    }

    // Before a valid record that claims it durable (the log was synced record by record):
    // refused.
    let work = scratch_dir();
    copy_log(base.path(), work.path());
    let segment = work.path().join("wal").join(&name);
    let mut bytes = std::fs::read(&segment).unwrap();
    let (offset, _) = frames_before[frames_before.len() - 2];
    bytes[offset..offset + 8].copy_from_slice(&[0, 0, 0, 0, 9, 9, 9, 9]);
    std::fs::write(&segment, &bytes).unwrap();
    let (file, at, kind) = expect_corruption(work.path());
    assert_eq!(
        (file, at, kind),
        (segment, offset as u64, CorruptionKind::BadLength { len: 0 })
    );
}

#[test]
fn zeros_followed_by_a_valid_record_are_refused() {
    // A lost write in the middle: zeros where a record was, valid records after it.
    let base = scratch_dir();
    make_log(base.path(), SEGMENT, 20);
    let last = live_segments(base.path()).pop().unwrap();
    let (offset, len) = frames(&last)[2];
    let mut bytes = std::fs::read(&last).unwrap();
    bytes[offset..offset + len].fill(0);
    std::fs::write(&last, bytes).unwrap();
    let (file, at, kind) = expect_corruption(base.path());
    assert_eq!(
        (file, at, kind),
        (last, offset as u64, CorruptionKind::DataAfterEnd)
    );
}

/// Opens the log in `path`; on success checks that what was replayed is exactly versions
/// `1..=k` with their original content (never altered data).
fn open_checked(path: &Path) {
    let dir = std_dir(path);
    if let Ok((_wal, recovery, records)) = open_wal(&dir, SEGMENT, Version::ZERO) {
        for (i, r) in records.iter().enumerate() {
            check_record(r, i as u64 + 1);
        }
        assert_eq!(recovery.records_replayed, records.len() as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_as_a_segment_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..6000),
        with_header in any::<bool>(),
    ) {
        let tmp = scratch_dir();
        // A database first (its identity file), then the random segment.
        drop(std_dir(tmp.path()));
        let mut content = if with_header { header(tmp.path(), 1, 1) } else { Vec::new() };
        content.extend_from_slice(&bytes);
        std::fs::write(tmp.path().join("wal/00000000000000000001.seg"), content).unwrap();
        open_checked(tmp.path());
    }

    #[test]
    fn random_damage_to_a_valid_log_never_returns_altered_data(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        segment in any::<prop::sample::Index>(),
    ) {
        let base = scratch_dir();
        make_log(base.path(), SEGMENT, 40);
        let live = live_segments(base.path());
        let target = segment.get(&live);
        let mut bytes = std::fs::read(target).unwrap();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        std::fs::write(target, bytes).unwrap();
        open_checked(base.path());
    }
}

/// A middle segment whose content was lost (all zeros) before segments that hold data.
#[test]
fn a_zeroed_middle_segment_is_refused() {
    let base = scratch_dir();
    make_log(base.path(), SEGMENT, 100);
    let live = live_segments(base.path());
    assert!(live.len() >= 4);
    for damage_last in [false, true] {
        let work = scratch_dir();
        copy_log(base.path(), work.path());
        let zeroed = work.path().join("wal").join(live[1].file_name().unwrap());
        std::fs::write(&zeroed, vec![0u8; SEGMENT as usize]).unwrap();
        if damage_last {
            // The last segment also has a torn tail: still refused, never cut away.
            let last = work
                .path()
                .join("wal")
                .join(live.last().unwrap().file_name().unwrap());
            let (offset, len) = *frames(&last).last().unwrap();
            flip(&last, offset + len - 2, 0x01);
        }
        let (file, offset, kind) = expect_corruption(work.path());
        assert_eq!(
            (file, offset, kind),
            (zeroed, 0, CorruptionKind::MissingHeader)
        );
    }
}
