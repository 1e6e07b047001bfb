//! The run record: how a run's lifecycle and metadata are stored, under its `TypeTag::Run` key
//! (see docs/FORMAT.md, "Run records").
//!
//! A compact binary layout rather than a `Value::Map`, because recovery reads one for every
//! lifecycle change of every run: the fixed-size head (status, snapshot, times, parent) and
//! the tags are all the run index needs, and they decode without touching the rest.
//!
//! ```text
//! 0       format (RECORD_FORMAT: 0x81; a Value encoding never starts above 0x08)
//! 1       status (StoredStatus)
//! 2       flags: 1 = ended_at, 2 = parent, 4 = error, 8 = metadata, 16 = fork point
//! 3..11   snapshot        u64 LE
//! 11..19  created_at      u64 LE, microseconds since the epoch
//! 19..27  updated_at      u64 LE
//! [8]     ended_at        u64 LE, if flag 1
//! [16]    parent run id   if flag 2
//! [8]     fork point      u64 LE, if flag 16: the version of the parent's view it forked
//! varint  tag count, then per tag: varint length, UTF-8 bytes
//! [varint length, UTF-8 bytes]   error text, if flag 4
//! [Value encoding, to the end]   metadata, if flag 8
//! ```
#![deny(clippy::indexing_slicing)]

use in_mem_core_types::{RunId, Timestamp, Value, Version};

/// The first byte of every run record of this layout.
const RECORD_FORMAT: u8 = 0x81;
const HAS_ENDED: u8 = 1;
const HAS_PARENT: u8 = 2;
const HAS_ERROR: u8 = 4;
const HAS_METADATA: u8 = 8;
const HAS_FORK_POINT: u8 = 16;
const FIXED_BYTES: usize = 27;

/// The lifecycle states that are written to the log. `Interrupted` is never written: it is what
/// recovery calls a run whose last record says `Active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoredStatus {
    Active = 0,
    Paused = 1,
    Completed = 2,
    Failed = 3,
    Cancelled = 4,
}

impl StoredStatus {
    const ALL: [StoredStatus; 5] = [
        StoredStatus::Active,
        StoredStatus::Paused,
        StoredStatus::Completed,
        StoredStatus::Failed,
        StoredStatus::Cancelled,
    ];

    fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as u8 == b)
    }
}

/// The part of a run record that recovery and the run index read: everything but the error
/// text and the metadata.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RecordHead {
    pub status: StoredStatus,
    pub snapshot: Version,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub parent: Option<RunId>,
    pub fork_point: Option<Version>,
    pub tags: Vec<String>,
}

/// One run's whole record, as written by every lifecycle call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunRecord {
    pub head: RecordHead,
    pub metadata: Value,
    pub error: Option<String>,
}

impl RunRecord {
    /// The stored bytes. Errors only if the metadata cannot be encoded.
    pub fn encode(&self) -> Result<Vec<u8>, in_mem_core_types::Error> {
        let head = &self.head;
        let mut flags = 0;
        flags |= if head.ended_at.is_some() {
            HAS_ENDED
        } else {
            0
        };
        flags |= if head.parent.is_some() { HAS_PARENT } else { 0 };
        flags |= if self.error.is_some() { HAS_ERROR } else { 0 };
        flags |= if self.metadata == Value::Null {
            0
        } else {
            HAS_METADATA
        };
        flags |= if head.fork_point.is_some() {
            HAS_FORK_POINT
        } else {
            0
        };
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&[RECORD_FORMAT, head.status as u8, flags]);
        for n in [
            head.snapshot.get(),
            head.created_at.as_micros(),
            head.updated_at.as_micros(),
        ] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        if let Some(ended) = head.ended_at {
            out.extend_from_slice(&ended.as_micros().to_le_bytes());
        }
        if let Some(parent) = head.parent {
            out.extend_from_slice(&parent.to_bytes());
        }
        if let Some(point) = head.fork_point {
            out.extend_from_slice(&point.get().to_le_bytes());
        }
        write_varint(&mut out, head.tags.len() as u64);
        for tag in &head.tags {
            write_text(&mut out, tag);
        }
        if let Some(error) = &self.error {
            write_text(&mut out, error);
        }
        if self.metadata != Value::Null {
            out.extend_from_slice(&self.metadata.encode()?);
        }
        Ok(out)
    }

    /// Decodes a whole record.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let (head, mut reader, flags) = decode_head(bytes)?;
        let error = (flags & HAS_ERROR != 0)
            .then(|| reader.text("error"))
            .transpose()?;
        let metadata = if flags & HAS_METADATA != 0 {
            Value::decode(reader.rest()).map_err(|e| RecordError::Metadata(e.to_string()))?
        } else {
            reader.end()?;
            Value::Null
        };
        Ok(RunRecord {
            head,
            metadata,
            error,
        })
    }
}

impl RecordHead {
    /// Decodes only the head of a record (what recovery needs for every run).
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        decode_head(bytes).map(|(head, _, _)| head)
    }
}

/// Why a stored run record does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    #[error("run record has format byte {0:#04x}, not {RECORD_FORMAT:#04x}")]
    Format(u8),
    #[error("run record has an unknown status byte {0}")]
    Status(u8),
    #[error("run record is cut short in its {0}")]
    Short(&'static str),
    #[error("run record's {0} is not UTF-8")]
    NotText(&'static str),
    #[error("run record has bytes after its end")]
    Trailing,
    #[error("run record's metadata does not decode: {0}")]
    Metadata(String),
}

fn decode_head(bytes: &[u8]) -> Result<(RecordHead, Reader<'_>, u8), RecordError> {
    let mut reader = Reader { bytes, pos: 0 };
    let format = reader.byte("format")?;
    if format != RECORD_FORMAT {
        return Err(RecordError::Format(format));
    }
    let status_byte = reader.byte("status")?;
    let status = StoredStatus::from_byte(status_byte).ok_or(RecordError::Status(status_byte))?;
    let flags = reader.byte("flags")?;
    let snapshot = Version::new(reader.u64("snapshot")?);
    let created_at = Timestamp::from_micros(reader.u64("creation time")?);
    let updated_at = Timestamp::from_micros(reader.u64("update time")?);
    let ended_at = (flags & HAS_ENDED != 0)
        .then(|| reader.u64("end time").map(Timestamp::from_micros))
        .transpose()?;
    let parent = (flags & HAS_PARENT != 0)
        .then(|| reader.array::<16>("parent").map(RunId::from_bytes))
        .transpose()?;
    let fork_point = (flags & HAS_FORK_POINT != 0)
        .then(|| reader.u64("fork point").map(Version::new))
        .transpose()?;
    let count = reader.varint("tag count")?;
    let mut tags = Vec::new();
    for _ in 0..count {
        tags.push(reader.text("tags")?);
    }
    debug_assert!(reader.pos >= FIXED_BYTES);
    Ok((
        RecordHead {
            status,
            snapshot,
            created_at,
            updated_at,
            ended_at,
            parent,
            fork_point,
            tags,
        },
        reader,
        flags,
    ))
}

/// A cursor over a record's bytes; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], RecordError> {
        let end = self.pos.checked_add(n).ok_or(RecordError::Short(what))?;
        let taken = self
            .bytes
            .get(self.pos..end)
            .ok_or(RecordError::Short(what))?;
        self.pos = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], RecordError> {
        self.take(N, what)?
            .try_into()
            .map_err(|_| RecordError::Short(what))
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, RecordError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, RecordError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn varint(&mut self, what: &'static str) -> Result<u64, RecordError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte(what)?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(RecordError::Short(what))
    }

    fn text(&mut self, what: &'static str) -> Result<String, RecordError> {
        let len = usize::try_from(self.varint(what)?).map_err(|_| RecordError::Short(what))?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| RecordError::NotText(what))
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    fn end(&self) -> Result<(), RecordError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(RecordError::Trailing)
        }
    }
}

fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn write_text(out: &mut Vec<u8>, text: &str) {
    write_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests may index
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn sample() -> RunRecord {
        RunRecord {
            head: RecordHead {
                status: StoredStatus::Failed,
                snapshot: Version::new(42),
                created_at: Timestamp::from_micros(1_000),
                updated_at: Timestamp::from_micros(1_500),
                ended_at: Some(Timestamp::from_micros(2_000)),
                parent: Some(RunId::from_bytes([9; 16])),
                fork_point: Some(Version::new(40)),
                tags: vec!["eval".to_owned(), "nightly".to_owned()],
            },
            metadata: Value::Map(BTreeMap::from([("model".to_owned(), Value::from("m1"))])),
            error: Some("tool timed out".to_owned()),
        }
    }

    #[test]
    fn round_trips_with_and_without_optional_fields() {
        let full = sample();
        assert_eq!(RunRecord::decode(&full.encode().unwrap()).unwrap(), full);
        let bare = RunRecord {
            head: RecordHead {
                status: StoredStatus::Active,
                ended_at: None,
                parent: None,
                fork_point: None,
                tags: Vec::new(),
                ..sample().head
            },
            metadata: Value::Null,
            error: None,
        };
        let bytes = bare.encode().unwrap();
        assert_eq!(
            bytes.len(),
            FIXED_BYTES + 1,
            "a bare record is its fixed head"
        );
        assert_eq!(RunRecord::decode(&bytes).unwrap(), bare);
        for status in StoredStatus::ALL {
            let record = RunRecord {
                head: RecordHead {
                    status,
                    ..sample().head
                },
                ..sample()
            };
            let bytes = record.encode().unwrap();
            assert_eq!(RecordHead::decode(&bytes).unwrap().status, status);
        }
    }

    #[test]
    fn the_layout_is_pinned() {
        // A golden encoding: if this changes, stored run records stop decoding. Change the
        // layout only with a new format byte (and keep reading this one).
        let bytes = RunRecord {
            head: RecordHead {
                status: StoredStatus::Completed,
                snapshot: Version::new(7),
                created_at: Timestamp::from_micros(1),
                updated_at: Timestamp::from_micros(2),
                ended_at: Some(Timestamp::from_micros(3)),
                parent: None,
                fork_point: None,
                tags: vec!["t".to_owned()],
            },
            metadata: Value::Null,
            error: None,
        }
        .encode()
        .unwrap();
        let mut expected = vec![0x81, 2, HAS_ENDED];
        for n in [7u64, 1, 2, 3] {
            expected.extend_from_slice(&n.to_le_bytes());
        }
        expected.extend_from_slice(&[1, 1, b't']);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn damaged_records_are_errors_never_defaults_or_panics() {
        // Named regression (docs/TESTING.md): a metadata decode failure must never silently reset
        // state; every damaged field is an error.
        let good = sample().encode().unwrap();
        for cut in 0..good.len() {
            assert!(RunRecord::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad_status = good.clone();
        bad_status[1] = 9;
        assert_eq!(RunRecord::decode(&bad_status), Err(RecordError::Status(9)));
        let mut value_map = good.clone();
        value_map[0] = 0x07;
        assert_eq!(
            RunRecord::decode(&value_map),
            Err(RecordError::Format(0x07))
        );
        let mut trailing = RunRecord {
            metadata: Value::Null,
            ..sample()
        }
        .encode()
        .unwrap();
        trailing.push(0);
        assert_eq!(RunRecord::decode(&trailing), Err(RecordError::Trailing));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode_or_error_without_panicking(bytes in proptest::collection::vec(0u8..=255, 0..80)) {
            let _ = RunRecord::decode(&bytes);
            let mut framed = vec![RECORD_FORMAT];
            framed.extend_from_slice(&bytes);
            let _ = RunRecord::decode(&framed);
        }
    }
}
