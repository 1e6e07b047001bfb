//! Open never panics on any bytes: arbitrary bytes as the identity file and as checkpoints
//! (segments are in `corruption.rs`) give a database or a typed error, never a panic, a hang,
//! or data that was not written.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::sync::Arc;

use common::*;
use in_mem_core_types::RunId;
use in_mem_core_types::Version;
use in_mem_durability::checkpoint::{self, CheckpointWriter, list_checkpoints, read_checkpoint};
use in_mem_durability::{DataDir, Error, RecoveryMode, StdFs};
use proptest::prelude::*;

/// Opens `path` and, if that works, recovers its log and screens and reads its checkpoints:
/// every step returns, and an error is one of the typed kinds.
fn open_everything(path: &std::path::Path) {
    let Ok(dir) = DataDir::open(Arc::new(StdFs), path) else {
        return;
    };
    for mode in [RecoveryMode::Refuse, RecoveryMode::Salvage] {
        if let Err(e) = checkpoint::screen(&dir, mode) {
            assert!(
                matches!(e, Error::FileMismatch { .. } | Error::Io { .. }),
                "{e}"
            );
        }
    }
    for file in list_checkpoints(&dir).unwrap() {
        let mut entries = 0u64;
        if let Ok(n) = read_checkpoint(&dir, &file, &mut |_| {
            entries += 1;
            Ok(())
        }) {
            assert_eq!(n.entries, entries);
        }
    }
    let _ = open_wal(&dir, SEGMENT, Version::ZERO);
}

/// A checkpoint of the database at `path` holding three entries; its bytes.
fn a_checkpoint(path: &std::path::Path) -> Vec<u8> {
    let dir = std_dir(path);
    let mut writer = CheckpointWriter::create(&dir, Version::new(3), Version::ZERO).unwrap();
    for v in 1..=3u64 {
        writer
            .push(
                &key_of(v),
                Version::new(v),
                RunId::from_bytes([7; 16]),
                in_mem_core_types::Timestamp::from_micros(v),
                Some((&value_of(v), None)),
                in_mem_durability::checkpoint::CheckpointCuts::NONE,
            )
            .unwrap();
    }
    std::fs::read(writer.finish().unwrap().file.path).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_as_the_identity_file_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        keep_magic in any::<bool>(),
    ) {
        let tmp = scratch_dir();
        make_log(tmp.path(), SEGMENT, 5);
        let mut content = bytes;
        if keep_magic && content.len() >= 12 {
            content[..8].copy_from_slice(b"INMEMIDN");
            content[8..12].copy_from_slice(&1u32.to_le_bytes());
        }
        std::fs::write(tmp.path().join("IDENTITY"), &content).unwrap();
        match DataDir::open(Arc::new(StdFs), tmp.path()) {
            Ok(_) => prop_assert!(false, "random bytes accepted as an identity"),
            Err(e) => prop_assert!(
                matches!(e, Error::Corruption { .. } | Error::FileMismatch { .. }),
                "{}", e
            ),
        }
    }

    #[test]
    fn damage_to_a_valid_identity_file_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let tmp = scratch_dir();
        make_log(tmp.path(), SEGMENT, 5);
        let path = tmp.path().join("IDENTITY");
        let original = std::fs::read(&path).unwrap();
        let mut bytes = original.clone();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        std::fs::write(&path, &bytes).unwrap();
        let opened = DataDir::open(Arc::new(StdFs), tmp.path());
        prop_assert_eq!(opened.is_ok(), bytes == original);
    }

    #[test]
    fn random_bytes_as_a_checkpoint_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        with_header in any::<bool>(),
    ) {
        let tmp = scratch_dir();
        make_log(tmp.path(), SEGMENT, 5);
        let valid = a_checkpoint(tmp.path());
        let mut content = if with_header { valid[..64].to_vec() } else { Vec::new() };
        content.extend_from_slice(&bytes);
        std::fs::write(tmp.path().join("checkpoints").join("00000000000000000003.ckpt"), content)
            .unwrap();
        open_everything(tmp.path());
    }

    #[test]
    fn damage_to_a_valid_checkpoint_never_returns_altered_entries(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let tmp = scratch_dir();
        make_log(tmp.path(), SEGMENT, 5);
        let valid = a_checkpoint(tmp.path());
        let mut bytes = valid.clone();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let path = tmp.path().join("checkpoints").join("00000000000000000003.ckpt");
        std::fs::write(&path, &bytes).unwrap();
        let dir = std_dir(tmp.path());
        let file = list_checkpoints(&dir).unwrap().pop().unwrap();
        let mut entries = Vec::new();
        let read = read_checkpoint(&dir, &file, &mut |e| {
            entries.push(e);
            Ok(())
        });
        if read.is_ok() {
            prop_assert_eq!(bytes, valid, "a changed checkpoint verified");
        }
        drop(dir);
        open_everything(tmp.path());
    }
}
