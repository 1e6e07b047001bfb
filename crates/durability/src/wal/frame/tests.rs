//! The frame parser: frames found, every kind of bad frame named, any bytes parsed without panic.
#![allow(clippy::indexing_slicing)] // tests index what they built
use super::*;
use crate::wal::format::frame_prefix;

/// A log frame of `body` at `version`, as the writer lays it out.
fn log_frame(version: u64, body: &[u8]) -> Vec<u8> {
    let version = Version::new(version);
    let prefix = frame_prefix(version, Version::new(version.get() - 1), body, None);
    let mut out = prefix.as_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

#[test]
fn a_frame_parses_to_its_payload_and_length() {
    let bytes = log_frame(7, b"body");
    let Parsed::Frame { payload, len } = parse(&bytes, LOG_PAYLOAD) else {
        panic!("not a frame");
    };
    assert_eq!(len, bytes.len() as u64);
    assert_eq!(log_version(payload), Some(Version::new(7)));
    assert_eq!(log_rest(payload), &[1, b'b', b'o', b'd', b'y']);
    assert_eq!(peek_log(&bytes), Some((payload.len(), 7)));
}

#[test]
fn every_kind_of_bad_frame_is_named() {
    let good = log_frame(3, b"abc");
    assert_eq!(parse(&good[..5], LOG_PAYLOAD), Parsed::Short);
    assert_eq!(parse(&[0; 8], LOG_PAYLOAD), Parsed::Zero);
    assert!(matches!(
        parse(&good[..good.len() - 1], LOG_PAYLOAD),
        Parsed::BadLength { .. }
    ));
    let mut tiny = good.clone();
    tiny[0..4].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(parse(&tiny, LOG_PAYLOAD), Parsed::BadLength { len: 1 });
    for i in 4..good.len() {
        let mut flipped = good.clone();
        flipped[i] ^= 0x04;
        assert_eq!(
            parse(&flipped, LOG_PAYLOAD),
            Parsed::BadChecksum,
            "flip at {i}"
        );
    }
}

#[test]
fn segment_frames_walks_up_to_the_first_bad_position() {
    let mut segment = vec![0u8; HEADER_BYTES];
    let first = log_frame(1, b"one");
    let second = log_frame(2, b"two!");
    segment.extend_from_slice(&first);
    segment.extend_from_slice(&second);
    segment.extend_from_slice(&[0; 64]);
    let frames = segment_frames(&segment);
    assert_eq!(
        frames,
        vec![
            FrameInfo {
                offset: HEADER_BYTES as u64,
                len: first.len() as u64,
                version: Version::new(1),
            },
            FrameInfo {
                offset: (HEADER_BYTES + first.len()) as u64,
                len: second.len() as u64,
                version: Version::new(2),
            },
        ]
    );
    let mut torn = segment.clone();
    torn[HEADER_BYTES + first.len() + 9] ^= 1;
    assert_eq!(segment_frames(&torn).len(), 1);
    assert!(segment_frames(&[1, 2, 3]).is_empty());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

    /// The parser is total: any bytes give an answer, and a frame it accepts lies within them.
    #[test]
    fn any_bytes_parse_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
        if let Parsed::Frame { len, .. } = parse(&bytes, PayloadLimits { min: 0, max: 100 }) {
            proptest::prop_assert!(len as usize <= bytes.len());
        }
        let _ = peek_log(&bytes);
        let _ = segment_frames(&bytes);
    }
}
