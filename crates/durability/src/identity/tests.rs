//! The identity file and the generations of the log: layout, damage, and which files belong.

use super::format::{GENERATIONS_MAX, IDENTITY_BYTES_MAX, Unreadable, decode, encode};
use super::*;
use crate::vfs::StdFs;

fn id(byte: u8) -> DatabaseId {
    DatabaseId::from_bytes([byte; 16])
}

fn v(n: u64) -> Version {
    Version::new(n)
}

fn start(version: u64, sequence: u64) -> GenerationStart {
    GenerationStart {
        version: v(version),
        sequence,
    }
}

/// Generation 1 from v1 in segment 1, generation 2 from v101 in segment 4, generation 3
/// from v151 in segment 6.
fn three_generations() -> Identity {
    Identity {
        id: id(7),
        oldest: 1,
        starts: vec![start(1, 1), start(101, 4), start(151, 6)],
    }
}

fn stamp(generation: u64) -> Stamp {
    Stamp {
        id: id(7),
        generation,
    }
}

#[test]
fn the_file_has_the_documented_layout_and_round_trips() {
    let identity = three_generations();
    let bytes = encode(&identity);
    assert_eq!(&bytes[0..8], b"INMEMIDN");
    assert_eq!(&bytes[8..12], &[1, 0, 0, 0]);
    assert_eq!(&bytes[12..16], &[3, 0, 0, 0]);
    assert_eq!(&bytes[16..32], &[7; 16]);
    assert_eq!(&bytes[32..40], &1u64.to_le_bytes());
    assert_eq!(&bytes[40..48], &1u64.to_le_bytes());
    assert_eq!(&bytes[48..56], &1u64.to_le_bytes());
    assert_eq!(&bytes[56..64], &101u64.to_le_bytes());
    assert_eq!(&bytes[64..72], &4u64.to_le_bytes());
    assert_eq!(bytes.len(), 40 + 3 * 16 + 4);
    let crc = crc32c::crc32c(&bytes[..bytes.len() - 4]);
    assert_eq!(&bytes[bytes.len() - 4..], &crc.to_le_bytes());
    assert_eq!(decode(&bytes), Ok(identity));
}

#[test]
fn every_damage_is_refused_and_a_newer_format_is_named() {
    let bytes = encode(&three_generations());
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        match decode(&bad) {
            Err(Unreadable::Format { found }) => assert!((8..12).contains(&i), "{i}: {found}"),
            Err(Unreadable::Damaged { .. }) => {}
            Ok(_) => panic!("flip at {i} not detected"),
        }
    }
    for cut in 0..bytes.len() {
        assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut newer = bytes.clone();
    newer[8] = 2;
    assert_eq!(decode(&newer), Err(Unreadable::Format { found: 2 }));
    let mut longer = bytes;
    longer.push(0);
    assert!(matches!(decode(&longer), Err(Unreadable::Damaged { .. })));
    const { assert!(IDENTITY_BYTES_MAX > 40 + 16 * GENERATIONS_MAX) };
}

#[test]
fn stamps_of_other_databases_and_unknown_generations_are_mismatches() {
    let identity = three_generations();
    assert_eq!(identity.current(), 3);
    assert_eq!(identity.check_stamp(stamp(2)), Ok(()));
    assert_eq!(
        identity.check_stamp(Stamp {
            id: id(8),
            generation: 3
        }),
        Err(Mismatch::OtherDatabase {
            expected: id(7),
            found: id(8)
        })
    );
    assert_eq!(
        identity.check_stamp(stamp(4)),
        Err(Mismatch::UnknownGeneration {
            found: 4,
            oldest: 1,
            current: 3
        })
    );
}

#[test]
fn a_generation_holds_versions_from_its_start_to_the_next_start() {
    let identity = three_generations();
    assert_eq!(identity.check_segment(stamp(1), v(1)), Ok(()));
    assert_eq!(identity.check_segment(stamp(1), v(100)), Ok(()));
    let outside = |generation, found, start, end: Option<u64>| Mismatch::OutsideGeneration {
        generation,
        found: v(found),
        start: v(start),
        end: end.map(v),
    };
    assert_eq!(
        identity.check_segment(stamp(1), v(101)),
        Err(outside(1, 101, 1, Some(101)))
    );
    assert_eq!(
        identity.check_segment(stamp(2), v(100)),
        Err(outside(2, 100, 101, Some(151)))
    );
    assert_eq!(identity.check_segment(stamp(3), v(9_999)), Ok(()));
    assert_eq!(identity.check_record(1, v(100)), Ok(()));
    assert!(identity.check_record(1, v(101)).is_err());
    assert_eq!(identity.check_record(3, v(u64::MAX)), Ok(()));
    // Checkpoints: from the version recovery ended at when the generation began.
    assert_eq!(identity.check_checkpoint(stamp(2), v(100)), Ok(()));
    assert_eq!(identity.check_checkpoint(stamp(2), v(150)), Ok(()));
    assert!(identity.check_checkpoint(stamp(2), v(151)).is_err());
    assert!(identity.check_checkpoint(stamp(2), v(99)).is_err());
    assert!(identity.check_checkpoint(stamp(1), v(101)).is_err());
    // The last segment of an ended generation is the one before the next one's first.
    assert_eq!(identity.last_segment_of(1), Some(3));
    assert_eq!(identity.last_segment_of(2), Some(5));
    assert_eq!(identity.last_segment_of(3), None);
}

#[test]
fn a_new_generation_keeps_only_generations_with_files_and_never_goes_backwards() {
    let identity = three_generations();
    let next = identity.next_generation(start(200, 8), 2).unwrap();
    assert_eq!(next.oldest, 2);
    assert_eq!(next.current(), 4);
    assert_eq!(
        next.starts,
        vec![start(101, 4), start(151, 6), start(200, 8)]
    );
    // No file of any listed generation left: only the new one.
    let alone = identity.next_generation(start(200, 8), 99).unwrap();
    assert_eq!(
        (alone.oldest, alone.starts.clone()),
        (4, vec![start(200, 8)])
    );
    // A cut back into generation 2 (salvage): generation 3 ends where it began.
    let back = identity.next_generation(start(120, 5), 1).unwrap();
    assert_eq!(
        back.starts,
        vec![start(1, 1), start(101, 4), start(120, 5), start(120, 5)]
    );
    assert_eq!(decode(&encode(&back)), Ok(back));
    // The table is bounded.
    let mut full = Identity::new(id(1));
    for i in 1..GENERATIONS_MAX as u64 {
        full = full.next_generation(start(i + 1, i + 1), 1).unwrap();
    }
    assert_eq!(full.starts.len(), GENERATIONS_MAX);
    assert!(full.next_generation(start(1 << 20, 1 << 20), 1).is_none());
}

#[test]
fn store_is_atomic_and_load_reads_it_back() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(load(&StdFs, tmp.path()).unwrap(), None);
    let identity = three_generations();
    std::fs::write(tmp.path().join(IDENTITY_TEMP_NAME), b"left by a crash").unwrap();
    store(&StdFs, tmp.path(), &identity).unwrap();
    assert!(!tmp.path().join(IDENTITY_TEMP_NAME).exists());
    assert_eq!(load(&StdFs, tmp.path()).unwrap(), Some(identity));
    let path = tmp.path().join(IDENTITY_FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let err = load(&StdFs, tmp.path()).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Corruption {
                kind: CorruptionKind::BadIdentity(_),
                ..
            }
        ),
        "{err}"
    );
    bytes[20] ^= 1;
    bytes[8] = 9;
    std::fs::write(&path, &bytes).unwrap();
    let err = load(&StdFs, tmp.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("written by a newer in-mem (identity file format version 9"),
        "{err}"
    );
}

#[test]
fn ids_are_random_and_display_as_uuids() {
    let (a, b) = (DatabaseId::random(), DatabaseId::random());
    assert_ne!(a, b);
    let text = id(0xAB).to_string();
    assert_eq!(text, "abababab-abab-abab-abab-abababababab");
    assert_eq!(DatabaseId::from_bytes(a.to_bytes()), a);
}
