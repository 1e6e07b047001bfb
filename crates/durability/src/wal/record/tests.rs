//! Commit bodies: round trips, the documented bytes, limits.
#![allow(clippy::indexing_slicing)] // tests index what they built
use super::*;

fn run() -> RunId {
    RunId::from_bytes([0xAA; 16])
}

#[test]
fn body_round_trips() {
    let writes = [
        WriteRef {
            key: b"k1",
            op: OpRef::Put {
                value: b"value one",
                ttl: None,
            },
        },
        WriteRef {
            key: b"k2",
            op: OpRef::Put {
                value: b"",
                ttl: Some(Duration::from_millis(1500)),
            },
        },
        WriteRef {
            key: b"k3",
            op: OpRef::Delete,
        },
    ];
    let body = CommitBody::encode(Timestamp::from_micros(123_456), run(), &writes).unwrap();
    assert_eq!(
        body.crc(),
        None,
        "small bodies are checksummed under the lock"
    );
    let record = decode_body(Version::new(9), body.bytes()).unwrap();
    assert_eq!(
        record,
        CommitRecord {
            version: Version::new(9),
            timestamp: Timestamp::from_micros(123_456),
            writer: run(),
            writes: vec![
                LogWrite {
                    key: b"k1".to_vec(),
                    op: LogOp::Put {
                        value: b"value one".to_vec(),
                        ttl: None
                    }
                },
                LogWrite {
                    key: b"k2".to_vec(),
                    op: LogOp::Put {
                        value: vec![],
                        ttl: Some(Duration::from_millis(1500))
                    }
                },
                LogWrite {
                    key: b"k3".to_vec(),
                    op: LogOp::Delete
                },
            ],
        }
    );
}

/// Pins the postcard layout documented in `docs/FORMAT.md`, byte by byte.
#[test]
fn body_bytes_are_the_documented_layout() {
    let writes = [
        WriteRef {
            key: b"ab",
            op: OpRef::Put {
                value: b"xyz",
                ttl: Some(Duration::from_micros(300)),
            },
        },
        WriteRef {
            key: b"c",
            op: OpRef::Delete,
        },
    ];
    let body = CommitBody::encode(Timestamp::from_micros(200), run(), &writes).unwrap();
    let mut expected = vec![0xC8, 0x01]; // timestamp 200 as a varint
    expected.extend_from_slice(&[0xAA; 16]); // writer, 16 raw bytes
    expected.push(2); // two writes
    expected.extend_from_slice(&[2, b'a', b'b']); // key
    expected.push(0); // Put
    expected.extend_from_slice(&[3, b'x', b'y', b'z']); // value
    expected.extend_from_slice(&[1, 0xAC, 0x02]); // Some(300)
    expected.extend_from_slice(&[1, b'c']); // key
    expected.push(1); // Delete
    assert_eq!(body.bytes(), expected.as_slice());
    assert_eq!(body.encoded_len(), expected.len());
}

#[test]
fn too_large_commits_are_refused_before_encoding() {
    let big = vec![0u8; COMMIT_BYTES_MAX / 2 + 1];
    let writes = [
        WriteRef {
            key: b"a",
            op: OpRef::Put {
                value: &big,
                ttl: None,
            },
        },
        WriteRef {
            key: b"b",
            op: OpRef::Put {
                value: &big,
                ttl: None,
            },
        },
    ];
    let err = CommitBody::encode(Timestamp::EPOCH, run(), &writes).unwrap_err();
    assert!(matches!(err, Error::CommitTooLarge { max, .. } if max == COMMIT_BYTES_MAX));
    // Exactly at the limit once framing is counted: one byte of raw data too many.
    let almost = vec![0u8; COMMIT_BYTES_MAX - 30];
    let fits = [WriteRef {
        key: b"k",
        op: OpRef::Put {
            value: &almost,
            ttl: None,
        },
    }];
    let body = CommitBody::encode(Timestamp::EPOCH, run(), &fits).unwrap();
    assert!(body.encoded_len() <= COMMIT_BYTES_MAX);
    assert_eq!(
        body.crc(),
        Some(crc32c::crc32c(body.bytes())),
        "large bodies carry their checksum"
    );
}

#[test]
fn garbage_bodies_are_errors() {
    assert!(decode_body(Version::new(1), &[]).is_err());
    assert!(decode_body(Version::new(1), &[0xFF; 40]).is_err());
    let body = CommitBody::encode(Timestamp::EPOCH, run(), &[]).unwrap();
    let mut trailing = body.bytes().to_vec();
    trailing.push(0);
    let err = decode_body(Version::new(1), &trailing).unwrap_err();
    assert!(err.contains("trailing"), "{err}");
    // A count of a billion writes with no bytes behind it must not reserve memory for them.
    let mut lying = vec![0];
    lying.extend_from_slice(&[0; 16]);
    lying.extend_from_slice(&[0x80, 0x94, 0xEB, 0xDC, 0x03]);
    assert!(decode_body(Version::new(1), &lying).is_err());
}

mod one_pass {
    use proptest::prelude::*;

    use super::super::serde_oracle;
    use super::*;

    fn op() -> impl Strategy<Value = (u8, Vec<u8>, Option<u64>)> {
        (
            0u8..3,
            proptest::collection::vec(any::<u8>(), 0..300),
            proptest::option::of(prop_oneof![
                0u64..200,
                any::<u64>(),
                Just(u64::MAX),
                Just(127),
                Just(128)
            ]),
        )
    }

    proptest! {
        /// The one-pass encoder writes exactly the bytes the serde encoding did, and its length
        /// is the length it promised.
        #[test]
        fn one_pass_encoding_matches_the_serde_encoding(
            timestamp in prop_oneof![any::<u64>(), 0u64..300, Just(u64::MAX)],
            writer in any::<[u8; 16]>(),
            keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..20),
            ops in proptest::collection::vec(op(), 20),
        ) {
            let writes: Vec<WriteRef<'_>> = keys
                .iter()
                .zip(&ops)
                .map(|(key, (kind, value, ttl))| WriteRef {
                    key,
                    op: match kind {
                        0 => OpRef::Put {
                            value,
                            ttl: ttl.map(Duration::from_micros),
                        },
                        1 => OpRef::Delete,
                        _ => OpRef::DeletePrefix,
                    },
                })
                .collect();
            let body = CommitBody::encode(
                Timestamp::from_micros(timestamp),
                RunId::from_bytes(writer),
                &writes,
            )
            .unwrap();
            let expected = serde_oracle::encode(timestamp, writer, &writes);
            prop_assert_eq!(body.bytes(), expected.as_slice());
            prop_assert_eq!(encode::body_len(timestamp, &writes), expected.len());
        }
    }
}
