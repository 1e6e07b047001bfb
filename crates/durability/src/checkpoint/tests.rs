//! Checkpoint files: round trip (cut marks included), every kind of damage refused with file and
//! offset, temp files cleaned up, old checkpoints removed.

use std::sync::Arc;

use in_mem_core_types::{RunId, Timestamp, Version};

use super::*;
use crate::RecoveryMode;
use crate::dir::DataDir;
use crate::error::{Error, Mismatch};
use crate::vfs::{SimFaults, SimFs, StdFs};

fn dir() -> (tempfile::TempDir, DataDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
    (tmp, dir)
}

fn sample(n: u64) -> Vec<CheckpointEntry> {
    (0..n)
        .map(|i| CheckpointEntry {
            key: format!("key{i:04}").into_bytes().into(),
            version: Version::new(i + 1),
            writer: RunId::from_bytes([i as u8; 16]),
            timestamp: Timestamp::from_micros(1_000 + i),
            op: match i % 3 {
                0 => CheckpointOp::Put {
                    value: vec![i as u8; (i % 50) as usize].into(),
                    expires_at: None,
                },
                1 => CheckpointOp::Put {
                    value: b"v".to_vec().into(),
                    expires_at: Some(Timestamp::from_micros(9_999)),
                },
                _ => CheckpointOp::Delete,
            },
            // Independent of the operation: every pairing appears in 12 entries.
            cuts: CUT_COMBINATIONS[(i / 3 % 4) as usize],
        })
        .collect()
}

const CUT_COMBINATIONS: [CheckpointCuts; 4] = [
    CheckpointCuts::NONE,
    CheckpointCuts {
        below: true,
        above: false,
    },
    CheckpointCuts {
        below: false,
        above: true,
    },
    CheckpointCuts {
        below: true,
        above: true,
    },
];

fn write(dir: &DataDir, version: u64, entries: &[CheckpointEntry]) -> CheckpointWritten {
    let mut writer = CheckpointWriter::create(dir, Version::new(version), Version::ZERO).unwrap();
    for e in entries {
        let value = match &e.op {
            CheckpointOp::Put { value, expires_at } => Some((&value[..], *expires_at)),
            CheckpointOp::Delete => None,
        };
        writer
            .push(&e.key, e.version, e.writer, e.timestamp, value, e.cuts)
            .unwrap();
    }
    writer.finish().unwrap()
}

fn read_all(dir: &DataDir, file: &CheckpointFile) -> Result<Vec<CheckpointEntry>, Error> {
    let mut out = Vec::new();
    read_checkpoint(dir, file, &mut |e| {
        out.push(e);
        Ok(())
    })?;
    Ok(out)
}

#[test]
fn entries_round_trip_in_order() {
    let (_tmp, dir) = dir();
    let entries = sample(3_000);
    let written = write(&dir, 3_000, &entries);
    assert_eq!(written.entries, 3_000);
    assert_eq!(list_checkpoints(&dir).unwrap(), vec![written.file.clone()]);
    assert_eq!(read_all(&dir, &written.file).unwrap(), entries);
}

/// Where the op byte of the first entry is, for a key of `key_len` bytes: after the header, the
/// frame's length and checksum, and the entry's tag, key length, key, version, writer and
/// timestamp.
fn first_op_byte_at(key_len: usize) -> usize {
    format::HEADER_BYTES + 4 + 4 + 1 + 4 + key_len + 8 + 16 + 8
}

/// Sets the first frame's checksum right again after its payload was edited, so that the
/// edit reaches the entry decoder.
fn reseal_first_frame(bytes: &mut [u8]) {
    let at = format::HEADER_BYTES;
    let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&bytes[at..at + 4]),
        &bytes[at + 8..at + 8 + len],
    );
    bytes[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn every_cut_combination_round_trips_on_values_and_tombstones() {
    let (_tmp, dir) = dir();
    let mut expected = Vec::new();
    for (i, cuts) in CUT_COMBINATIONS.into_iter().enumerate() {
        for (j, op) in [
            CheckpointOp::Put {
                value: b"v".to_vec().into(),
                expires_at: Some(Timestamp::from_micros(5)),
            },
            CheckpointOp::Delete,
        ]
        .into_iter()
        .enumerate()
        {
            expected.push(CheckpointEntry {
                key: b"key".to_vec().into(),
                version: Version::new(9 - (i * 2 + j) as u64),
                writer: RunId::from_bytes([3; 16]),
                timestamp: Timestamp::from_micros(77),
                op,
                cuts,
            });
        }
    }
    let written = write(&dir, 9, &expected);
    assert_eq!(read_all(&dir, &written.file).unwrap(), expected);
}

/// The op byte as FORMAT.md section 13 draws it: the operation in bit 0, "cut below" in bit 1,
/// "cut above" in bit 2. An entry written without cuts has the op byte of files written
/// before the flags existed.
#[test]
fn the_op_byte_has_the_documented_flags() {
    let cases = [
        (false, CheckpointCuts::NONE, 0x00),
        (true, CheckpointCuts::NONE, 0x01),
        (false, CUT_COMBINATIONS[1], 0x02),
        (true, CUT_COMBINATIONS[1], 0x03),
        (false, CUT_COMBINATIONS[2], 0x04),
        (true, CUT_COMBINATIONS[2], 0x05),
        (false, CUT_COMBINATIONS[3], 0x06),
        (true, CUT_COMBINATIONS[3], 0x07),
    ];
    for (tombstone, cuts, byte) in cases {
        let (_tmp, dir) = dir();
        let mut writer = CheckpointWriter::create(&dir, Version::new(1), Version::ZERO).unwrap();
        let value = (!tombstone).then_some((&b"v"[..], None));
        writer
            .push(
                b"k",
                Version::new(1),
                RunId::NIL,
                Timestamp::EPOCH,
                value,
                cuts,
            )
            .unwrap();
        let bytes = std::fs::read(writer.finish().unwrap().file.path).unwrap();
        assert_eq!(bytes[first_op_byte_at(1)], byte, "{tombstone} {cuts:?}");
    }
    let (_tmp, dir) = dir();
    let mut writer = CheckpointWriter::create(&dir, Version::new(1), Version::ZERO).unwrap();
    writer
        .push(
            b"k",
            Version::new(1),
            RunId::NIL,
            Timestamp::EPOCH,
            None,
            CheckpointCuts::NONE,
        )
        .unwrap();
    let bytes = std::fs::read(writer.finish().unwrap().file.path).unwrap();
    assert_eq!(bytes[first_op_byte_at(1)], 0x01, "push writes no flags");
}

/// A bit of the op byte that no flag names is damage, reported with the file and the entry's
/// offset, even when the frame's checksum matches.
#[test]
fn an_unknown_flag_in_the_op_byte_is_refused_as_damage() {
    let (_tmp, dir) = dir();
    let entries = sample(3);
    let written = write(&dir, 3, &entries);
    let original = std::fs::read(&written.file.path).unwrap();
    let at = first_op_byte_at(entries[0].key.len());
    for bit in (3..8).map(|b| 1u8 << b) {
        for known in [0x00, 0x01, 0x07] {
            let mut bytes = original.clone();
            bytes[at] = known | bit;
            reseal_first_frame(&mut bytes);
            std::fs::write(&written.file.path, &bytes).unwrap();
            match read_all(&dir, &written.file) {
                Err(Error::Corruption { file, offset, kind }) => {
                    assert_eq!(file, written.file.path);
                    assert_eq!(offset, format::HEADER_BYTES as u64);
                    assert_eq!(
                        kind,
                        crate::CorruptionKind::BadCheckpoint(
                            "an entry's op byte has an unknown flag"
                        )
                    );
                }
                other => panic!("op byte {:#04x}: {other:?}", known | bit),
            }
        }
    }
    std::fs::write(&written.file.path, &original).unwrap();
    assert_eq!(read_all(&dir, &written.file).unwrap(), entries);
}

#[test]
fn every_truncation_and_every_flipped_byte_is_refused_with_file_and_offset() {
    let (_tmp, dir) = dir();
    let written = write(&dir, 40, &sample(40));
    let original = std::fs::read(&written.file.path).unwrap();
    for cut in (0..original.len()).step_by(7) {
        std::fs::write(&written.file.path, &original[..cut]).unwrap();
        match read_all(&dir, &written.file) {
            Err(Error::Corruption { file, .. }) => assert_eq!(file, written.file.path),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    for at in (0..original.len()).step_by(3) {
        let mut bytes = original.clone();
        bytes[at] ^= 0x20;
        std::fs::write(&written.file.path, &bytes).unwrap();
        match read_all(&dir, &written.file) {
            Err(Error::Corruption { offset, .. }) => assert!(offset <= at as u64, "flip at {at}"),
            // The format version is read first: a flip there names another format.
            Err(Error::FileMismatch { file, .. }) => {
                assert!((8..12).contains(&at), "flip at {at}");
                assert_eq!(file, written.file.path);
            }
            other => panic!("flip at {at}: {other:?}"),
        }
    }
    let mut extra = original.clone();
    extra.push(0);
    std::fs::write(&written.file.path, &extra).unwrap();
    assert!(
        read_all(&dir, &written.file).is_err(),
        "bytes after the trailer"
    );
}

#[test]
fn unfinished_checkpoints_are_deleted_and_old_ones_removed() {
    let (_tmp, dir) = dir();
    let unfinished = CheckpointWriter::create(&dir, Version::new(99), Version::ZERO).unwrap();
    drop(unfinished);
    write(&dir, 10, &sample(3));
    write(&dir, 20, &sample(3));
    write(&dir, 30, &sample(3));
    let listed: Vec<u64> = list_checkpoints(&dir)
        .unwrap()
        .iter()
        .map(|c| c.version.get())
        .collect();
    assert_eq!(listed, vec![30, 20, 10], "newest first, the temp file gone");
    assert!(
        !dir.checkpoint_path()
            .join("00000000000000000099.ckpt.tmp")
            .exists()
    );
    assert_eq!(remove_checkpoints_below(&dir, Version::new(20)).unwrap(), 1);
    let listed: Vec<u64> = list_checkpoints(&dir)
        .unwrap()
        .iter()
        .map(|c| c.version.get())
        .collect();
    assert_eq!(listed, vec![30, 20]);
}

#[test]
#[should_panic(expected = "above checkpoint")]
fn an_entry_above_the_checkpoint_version_is_a_bug() {
    let (_tmp, dir) = dir();
    let mut writer = CheckpointWriter::create(&dir, Version::new(5), Version::ZERO).unwrap();
    let _ = writer.push(
        b"k",
        Version::new(6),
        RunId::NIL,
        Timestamp::EPOCH,
        None,
        CheckpointCuts::NONE,
    );
}

#[test]
fn the_header_has_the_documented_layout() {
    let (_tmp, dir) = dir();
    let written = write(&dir, 9, &sample(2));
    let bytes = std::fs::read(&written.file.path).unwrap();
    assert_eq!(&bytes[0..8], b"INMEMCKP");
    assert_eq!(&bytes[8..12], &[2, 0, 0, 0]);
    assert_eq!(&bytes[12..16], &[0; 4]);
    assert_eq!(&bytes[16..32], &dir.database_id().to_bytes());
    assert_eq!(&bytes[32..40], &1u64.to_le_bytes(), "generation 1");
    assert_eq!(&bytes[40..48], &9u64.to_le_bytes());
    assert_eq!(&bytes[48..60], &[0; 12]);
    assert_eq!(&bytes[60..64], &crc32c::crc32c(&bytes[..60]).to_le_bytes());
}

/// A checkpoint of another database is refused by the reader and by screening, naming the
/// file; salvage sets it aside whole.
#[test]
fn a_checkpoint_of_another_database_is_refused_or_set_aside() {
    let (_ours_tmp, ours) = dir();
    let (_theirs_tmp, theirs) = dir();
    let foreign = write(&theirs, 12, &sample(12));
    let target = ours
        .checkpoint_path()
        .join(foreign.file.path.file_name().unwrap());
    std::fs::copy(&foreign.file.path, &target).unwrap();
    let file = list_checkpoints(&ours).unwrap().pop().unwrap();
    let expected = Mismatch::OtherDatabase {
        expected: ours.database_id(),
        found: theirs.database_id(),
    };
    match read_all(&ours, &file) {
        Err(Error::FileMismatch { file: f, mismatch }) => {
            assert_eq!((f, mismatch), (target.clone(), expected.clone()));
        }
        other => panic!("{other:?}"),
    }
    match screen(&ours, RecoveryMode::Refuse) {
        Err(Error::FileMismatch { file: f, mismatch }) => {
            assert_eq!((f, mismatch), (target.clone(), expected.clone()));
        }
        other => panic!("{other:?}"),
    }
    let set = screen(&ours, RecoveryMode::Salvage).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!((&set[0].file, &set[0].mismatch), (&target, &expected));
    assert!(!target.exists());
    assert_eq!(
        std::fs::read(&set[0].moved_to).unwrap(),
        std::fs::read(&foreign.file.path).unwrap()
    );
    assert!(list_checkpoints(&ours).unwrap().is_empty());
    assert!(screen(&ours, RecoveryMode::Refuse).unwrap().is_empty());
}

#[test]
fn a_big_checkpoint_is_synced_as_it_is_written_and_a_failed_sync_fails_it() {
    // The writer writes in 1 MiB chunks and, under test, syncs after every chunk that ends
    // 64 KiB or more past its last sync; these entries come to ~2.8 MB.
    let fs = SimFs::new(3);
    let path = std::path::Path::new("/checkpoint-syncs/db");
    let dir = DataDir::open(Arc::new(fs.clone()), path).unwrap();
    let entries = sample(40_000);
    fs.set_faults(SimFaults::none().only_files_containing(".ckpt"));
    let written = write(&dir, 40_000, &entries);
    let (_, syncs) = fs.fault_counts();
    assert!(written.bytes > 2 << 20, "{} bytes", written.bytes);
    // One sync after each whole MiB, and the final one.
    assert!(
        syncs > written.bytes / (1 << 20),
        "{syncs} syncs of a {}-byte checkpoint",
        written.bytes
    );
    // A sync that fails while the next checkpoint is written fails that checkpoint; the one
    // before stays the newest.
    fs.set_faults(
        SimFaults::none()
            .only_files_containing(".ckpt")
            .fail_sync(2),
    );
    let mut writer = CheckpointWriter::create(&dir, Version::new(80_000), Version::ZERO).unwrap();
    let outcome = entries.iter().try_for_each(|e| {
        let value = match &e.op {
            CheckpointOp::Put { value, expires_at } => Some((&value[..], *expires_at)),
            CheckpointOp::Delete => None,
        };
        writer.push(&e.key, e.version, e.writer, e.timestamp, value, e.cuts)
    });
    let error = outcome
        .and_then(|()| writer.finish().map(drop))
        .unwrap_err();
    assert!(error.to_string().contains("sync checkpoint"), "{error}");
    fs.set_faults(SimFaults::none());
    let newest = list_checkpoints(&dir).unwrap();
    assert_eq!(
        newest.first().map(|c| c.version),
        Some(Version::new(40_000))
    );
    assert_eq!(read_all(&dir, &newest[0]).unwrap(), entries);
}
