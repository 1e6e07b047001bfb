//! Checkpoint files: round trip, every kind of damage refused with file and offset, temp files
//! cleaned up, old checkpoints removed.

use std::sync::Arc;

use in_mem_core_types::{RunId, Timestamp, Version};

use super::*;
use crate::dir::DataDir;
use crate::error::Error;
use crate::vfs::StdFs;

fn dir() -> (tempfile::TempDir, DataDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(Arc::new(StdFs), tmp.path()).unwrap();
    (tmp, dir)
}

fn sample(n: u64) -> Vec<CheckpointEntry> {
    (0..n)
        .map(|i| CheckpointEntry {
            key: format!("key{i:04}").into_bytes(),
            version: Version::new(i + 1),
            writer: RunId::from_bytes([i as u8; 16]),
            timestamp: Timestamp::from_micros(1_000 + i),
            op: match i % 3 {
                0 => CheckpointOp::Put {
                    value: vec![i as u8; (i % 50) as usize],
                    expires_at: None,
                },
                1 => CheckpointOp::Put {
                    value: b"v".to_vec(),
                    expires_at: Some(Timestamp::from_micros(9_999)),
                },
                _ => CheckpointOp::Delete,
            },
        })
        .collect()
}

fn write(dir: &DataDir, version: u64, entries: &[CheckpointEntry]) -> CheckpointWritten {
    let mut writer = CheckpointWriter::create(dir, Version::new(version)).unwrap();
    for e in entries {
        let value = match &e.op {
            CheckpointOp::Put { value, expires_at } => Some((value.as_slice(), *expires_at)),
            CheckpointOp::Delete => None,
        };
        writer
            .push(&e.key, e.version, e.writer, e.timestamp, value)
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
        assert!(
            matches!(read_all(&dir, &written.file), Err(Error::Corruption { offset, .. }) if offset <= at as u64),
            "flip at {at}"
        );
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
    let unfinished = CheckpointWriter::create(&dir, Version::new(99)).unwrap();
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
    let mut writer = CheckpointWriter::create(&dir, Version::new(5)).unwrap();
    let _ = writer.push(b"k", Version::new(6), RunId::NIL, Timestamp::EPOCH, None);
}
