//! Segment header and frame prefix: the documented layout, damage classified, the durable lag.
#![allow(clippy::indexing_slicing)] // tests index what they built
use super::*;
use crate::identity::{DatabaseId, Stamp};

fn stamp() -> Stamp {
    Stamp {
        id: DatabaseId::from_bytes([0xA0; 16]),
        generation: 3,
    }
}

#[test]
fn header_round_trips_and_has_the_documented_layout() {
    let header = SegmentHeader {
        stamp: stamp(),
        sequence: 7,
        first_version: Version::new(0x0102_0304),
    };
    let bytes = header.encode();
    assert_eq!(&bytes[0..8], b"INMEMWAL");
    assert_eq!(&bytes[8..12], &[2, 0, 0, 0]);
    assert_eq!(&bytes[12..16], &[0; 4]);
    assert_eq!(&bytes[16..32], &[0xA0; 16]);
    assert_eq!(&bytes[32..40], &[3, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&bytes[40..48], &[7, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&bytes[48..56], &[4, 3, 2, 1, 0, 0, 0, 0]);
    assert_eq!(&bytes[56..60], &[0; 4]);
    assert_eq!(u32_at(&bytes, 60), Some(crc32c::crc32c(&bytes[..60])));
    assert_eq!(SegmentHeader::decode(&bytes), HeaderRead::Valid(header));
}

#[test]
fn header_damage_is_classified() {
    let good = SegmentHeader {
        stamp: stamp(),
        sequence: 1,
        first_version: Version::new(1),
    }
    .encode();
    assert_eq!(SegmentHeader::decode(&[0; HEADER_BYTES]), HeaderRead::Zero);
    for i in 0..HEADER_BYTES {
        let mut bad = good;
        bad[i] ^= 0x10;
        match SegmentHeader::decode(&bad) {
            // The format version is read before the checksum: a flipped bit there names
            // another format, which no torn write does.
            HeaderRead::OtherFormat { found } => {
                assert!((8..12).contains(&i), "flip at {i}");
                assert_ne!(found, FORMAT_VERSION);
            }
            HeaderRead::Bad { torn, .. } => {
                assert!(!(8..12).contains(&i));
                assert!(torn, "a flipped bit fails the checksum (flip at {i})");
            }
            other => panic!("flip at {i} not detected: {other:?}"),
        }
    }
    // A complete header of a future format is not a torn write, whatever follows the version.
    let mut future = good;
    future[8] = 3;
    assert_eq!(
        SegmentHeader::decode(&future),
        HeaderRead::OtherFormat { found: 3 }
    );
    // A torn header write: the start landed, the rest is zeros.
    let mut torn = [0u8; HEADER_BYTES];
    torn[..10].copy_from_slice(&good[..10]);
    assert_eq!(
        SegmentHeader::decode(&torn),
        HeaderRead::Bad {
            kind: CorruptionKind::BadHeaderChecksum,
            torn: true
        }
    );
    // Torn so that only the magic landed: the version field is zero, not another format.
    let mut magic_only = [0u8; HEADER_BYTES];
    magic_only[..8].copy_from_slice(&good[..8]);
    assert!(matches!(
        SegmentHeader::decode(&magic_only),
        HeaderRead::Bad { torn: true, .. }
    ));
}

#[test]
fn combined_frame_checksum_equals_the_direct_one() {
    for body in [&b""[..], b"x", &[7u8; 1000]] {
        for durable in [0, 41, 3] {
            let durable = Version::new(durable);
            let prefix = frame_prefix(Version::new(42), durable, body, Some(crc32c::crc32c(body)));
            let direct = frame_prefix(Version::new(42), durable, body, None);
            assert_eq!(prefix, direct);
            let prefix = prefix.as_bytes();
            assert_eq!(prefix.len(), frame_prefix_len(Version::new(42), durable));
            let mut payload = prefix[8..].to_vec();
            payload.extend_from_slice(body);
            assert_eq!(u32_at(prefix, 0), Some(payload.len() as u32));
            assert_eq!(
                u32_at(prefix, 4),
                Some(super::super::frame::checksum(&prefix[0..4], &payload))
            );
            assert_eq!(
                read_lag(Version::new(42), &payload[8..]),
                Some((durable, prefix.len() - 16))
            );
        }
    }
}

#[test]
fn the_durable_lag_is_a_canonical_varint_in_range() {
    // The documented layout: version, then version - durable as LEB128.
    let prefix = frame_prefix(Version::new(300), Version::new(0), b"", None);
    assert_eq!(&prefix.as_bytes()[8..16], &300u64.to_le_bytes());
    assert_eq!(&prefix.as_bytes()[16..], &[0xAC, 0x02]);
    for (version, durable) in [(1, 0), (128, 0), (u64::MAX, 0), (u64::MAX, u64::MAX - 1)] {
        let (version, durable) = (Version::new(version), Version::new(durable));
        let prefix = frame_prefix(version, durable, b"", None);
        assert_eq!(
            read_lag(version, &prefix.as_bytes()[16..]),
            Some((durable, prefix.as_bytes().len() - 16))
        );
        assert_eq!(prefix.as_bytes().len(), frame_prefix_len(version, durable));
    }
    let v = Version::new(10);
    assert_eq!(
        read_lag(v, &[0x00]),
        None,
        "a lag of 0 would claim the record itself"
    );
    assert_eq!(read_lag(v, &[0x0B]), None, "a lag above the version");
    assert_eq!(read_lag(v, &[0x85, 0x00]), None, "not canonical");
    assert_eq!(read_lag(v, &[0x85]), None, "cut short");
    assert_eq!(read_lag(v, &[]), None);
    assert_eq!(
        read_lag(Version::new(u64::MAX), &[0xFF; 11]),
        None,
        "too long"
    );
    assert_eq!(
        read_lag(
            Version::new(u64::MAX),
            &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02]
        ),
        None,
        "overflow"
    );
}

#[test]
#[should_panic(expected = "not below")]
fn a_record_cannot_claim_itself_durable() {
    let _ = frame_prefix(Version::new(5), Version::new(5), b"", None);
}

#[test]
fn a_zero_frame_header_is_never_a_valid_frame() {
    // The clean end of a segment is a zero length with a zero checksum; no frame can look so.
    assert_ne!(super::super::frame::checksum(&[0; 4], &[]), 0);
}
