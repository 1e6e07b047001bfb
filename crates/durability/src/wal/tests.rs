use std::sync::Arc;

use in_mem_core_types::{RunId, Timestamp};

use super::*;
use crate::vfs::StdFs;

const SEGMENT: u64 = 4096;

fn body(v: u64) -> CommitBody {
    let value = vec![v as u8; 10 + (v as usize * 53) % 400];
    let key = v.to_be_bytes();
    let writes = [WriteRef {
        key: &key,
        op: OpRef::Put {
            value: &value,
            ttl: None,
        },
    }];
    CommitBody::encode(Timestamp::from_micros(v), RunId::NIL, &writes).unwrap()
}

fn write_log(path: &std::path::Path, n: u64) -> DataDir {
    let dir = DataDir::open(Arc::new(StdFs), path).unwrap();
    let options = WalOptions {
        segment_bytes: SEGMENT,
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open(&dir, options, Version::ZERO, &mut |_| Ok(())).unwrap();
    for v in 1..=n {
        let t = wal.append(&body(v), || Version::new(v)).unwrap();
        // Synced, so that every record claims the one before it durable: damage before a
        // valid record is then corruption, not an unsynced tail.
        wal.wait(t, WaitFor::Synced).unwrap();
    }
    wal.close().unwrap();
    dir
}

/// Named regression: a record spanning the reader's buffer boundary was dropped.
#[test]
fn a_record_spanning_a_read_buffer_boundary_is_not_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_log(tmp.path(), 120);
    for chunk in [64, 100, 257, 1000, 4096, 1 << 20] {
        let mut seen = Vec::new();
        let options = WalOptions {
            segment_bytes: SEGMENT,
            ..WalOptions::default()
        };
        let (wal, recovery) = Wal::open_with_chunk(
            &dir,
            &options,
            Version::ZERO,
            &mut |r| {
                seen.push(r);
                Ok(())
            },
            chunk,
        )
        .unwrap();
        assert_eq!(recovery.tail, TailState::Clean, "chunk {chunk}");
        assert_eq!(seen.len(), 120, "chunk {chunk}");
        for (i, r) in seen.iter().enumerate() {
            let v = i as u64 + 1;
            assert_eq!(r.version, Version::new(v));
            assert_eq!(r.timestamp, Timestamp::from_micros(v));
            match &r.writes[0].op {
                LogOp::Put { value, .. } => assert_eq!(value.len(), 10 + (v as usize * 53) % 400),
                LogOp::Delete | LogOp::DeletePrefix => panic!("expected a put"),
            }
        }
        drop(wal);
    }
}

/// The scan for valid frames after damage must see frames that straddle its windows too.
#[test]
fn damage_before_a_valid_record_is_found_with_any_read_buffer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_log(tmp.path(), 30);
    let wal_dir = tmp.path().join("wal");
    let first = wal_dir.join(segment::segment_file_name(1));
    let mut bytes = std::fs::read(&first).unwrap();
    // Damage the first record's payload.
    bytes[format::HEADER_BYTES + 20] ^= 0xFF;
    std::fs::write(&first, &bytes).unwrap();
    // Make the first segment the only one, so the valid frames after the damage are in it.
    for name in std::fs::read_dir(&wal_dir).unwrap() {
        let path = name.unwrap().path();
        if path != first {
            std::fs::remove_file(path).unwrap();
        }
    }
    for chunk in [64, 100, 257, 1000] {
        let options = WalOptions {
            segment_bytes: SEGMENT,
            ..WalOptions::default()
        };
        let err = Wal::open_with_chunk(&dir, &options, Version::ZERO, &mut |_| Ok(()), chunk)
            .unwrap_err();
        assert!(
            matches!(&err, Error::Corruption { offset, .. } if *offset == format::HEADER_BYTES as u64),
            "chunk {chunk}: {err}"
        );
    }
}

#[test]
fn lsns_are_logical_end_offsets_and_headers_name_the_first_version() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
    let options = WalOptions {
        segment_bytes: SEGMENT,
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open(&dir, options, Version::ZERO, &mut |_| Ok(())).unwrap();
    let mut expected = 0;
    let mut rotations = 0;
    let mut used = 0u64;
    for v in 1..=80 {
        let b = body(v);
        // Nothing is synced while these are appended: each claims version 0 durable.
        let frame =
            (format::frame_prefix_len(Version::new(v), Version::ZERO) + b.encoded_len()) as u64;
        if v == 1 || used + frame > SEGMENT {
            expected += format::HEADER_BYTES as u64;
            used = format::HEADER_BYTES as u64;
            rotations += 1;
        }
        expected += frame;
        used += frame;
        let t = wal.append(&b, || Version::new(v)).unwrap();
        assert_eq!(t.lsn, expected, "record {v}");
        wal.wait(t, WaitFor::Written).unwrap();
    }
    wal.close().unwrap();
    assert!(rotations > 3);
    // Every live segment's header names the version of its first record.
    for sequence in 1..=rotations {
        let bytes = std::fs::read(
            tmp.path()
                .join("wal")
                .join(segment::segment_file_name(sequence)),
        )
        .unwrap();
        let header: [u8; format::HEADER_BYTES] = bytes[..format::HEADER_BYTES].try_into().unwrap();
        let format::HeaderRead::Valid(h) = format::SegmentHeader::decode(&header) else {
            panic!("segment {sequence} has no valid header");
        };
        assert_eq!(h.sequence, sequence);
        let frames = frame::segment_frames(&bytes);
        assert_eq!(h.first_version, frames[0].version);
    }
}

#[test]
#[should_panic(expected = "contiguously")]
fn a_non_contiguous_version_is_refused_before_it_reaches_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
    let (wal, _) = Wal::open(
        &dir,
        WalOptions {
            segment_bytes: SEGMENT,
            ..WalOptions::default()
        },
        Version::ZERO,
        &mut |_| Ok(()),
    )
    .unwrap();
    let _ = wal.append(&body(1), || Version::new(2));
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Wal>();
    check::<DataDir>();
    check::<SyncPolicyGuard>();
    check::<CommitBody>();
    check::<crate::Error>();
}
