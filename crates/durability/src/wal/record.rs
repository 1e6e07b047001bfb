//! The commit record: what one commit writes, and the postcard encoding of its body.
//!
//! ```text
//! body = postcard of (timestamp, writer, writes):
//!   timestamp    varint u64, microseconds since the Unix epoch
//!   writer       16 raw bytes, the run id (big-endian UUID bytes)
//!   writes       varint count, then per write:
//!     key        varint length + bytes
//!     op         varint variant: 0 = Put, 1 = Delete
//!       Put:     value: varint length + bytes; ttl: 0x00 (none) | 0x01 varint micros
//! ```
//!
//! Keys and values are opaque bytes here (the engine's encodings, see `docs/FORMAT.md`) and
//! are written with `serialize_bytes`, so encoding them is one copy, not one call per byte.
#![deny(clippy::indexing_slicing)]

use std::fmt;
use std::time::Duration;

use in_mem_core_types::limits::COMMIT_BYTES_MAX;
use in_mem_core_types::{RunId, Timestamp, Version};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::format::COMBINE_BYTES_MIN;
use crate::error::{Error, Result};

/// One write of a commit, borrowed, for encoding.
#[derive(Debug, Clone, Copy)]
pub struct WriteRef<'a> {
    pub key: &'a [u8],
    pub op: OpRef<'a>,
}

/// What a [`WriteRef`] does to its key.
#[derive(Debug, Clone, Copy)]
pub enum OpRef<'a> {
    /// Sets the key to `value`, expiring `ttl` after the commit's timestamp (stored in whole
    /// microseconds).
    Put {
        value: &'a [u8],
        ttl: Option<Duration>,
    },
    /// Deletes the key.
    Delete,
    /// Deletes every key that starts with the write's key (the engine: all the records of a
    /// deleted run). Replay expands it against the state the earlier commits built.
    DeletePrefix,
}

/// One write of a commit, owned, as replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogWrite {
    pub key: Vec<u8>,
    pub op: LogOp,
}

/// What a [`LogWrite`] does to its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOp {
    Put {
        value: Vec<u8>,
        ttl: Option<Duration>,
    },
    Delete,
    /// Deletes every key that starts with the write's key.
    DeletePrefix,
}

/// A commit as replayed from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    pub version: Version,
    pub timestamp: Timestamp,
    pub writer: RunId,
    pub writes: Vec<LogWrite>,
}

/// The encoded body of a commit (everything but its version), built outside the log lock.
pub struct CommitBody {
    bytes: Vec<u8>,
    /// CRC-32C of `bytes` for large bodies, so that the log lock only combines it with the
    /// frame's head instead of reading the whole body (see `format::frame_prefix`).
    crc: Option<u32>,
}

impl CommitBody {
    /// Encodes a commit. Errors with [`Error::CommitTooLarge`] if the body would be larger
    /// than [`COMMIT_BYTES_MAX`].
    ///
    /// # Panics
    /// Never: encoding integers and bytes into a `Vec` cannot fail.
    #[allow(clippy::similar_names)] // `writer` and `writes` are the names the engine uses.
    pub fn encode(
        timestamp: Timestamp,
        writer: RunId,
        writes: &[WriteRef<'_>],
    ) -> Result<CommitBody> {
        // The raw bytes bound the encoding from below: refuse before sizing a huge commit.
        let raw = writes.iter().fold(0usize, |sum, w| {
            let value = match w.op {
                OpRef::Put { value, .. } => value.len(),
                OpRef::Delete | OpRef::DeletePrefix => 0,
            };
            sum.saturating_add(w.key.len()).saturating_add(value)
        });
        if raw > COMMIT_BYTES_MAX {
            return Err(Error::CommitTooLarge {
                len: raw,
                max: COMMIT_BYTES_MAX,
            });
        }
        let timestamp = timestamp.as_micros();
        let len = encode::body_len(timestamp, writes);
        if len > COMMIT_BYTES_MAX {
            return Err(Error::CommitTooLarge {
                len,
                max: COMMIT_BYTES_MAX,
            });
        }
        let mut bytes = Vec::with_capacity(len);
        encode::encode_body(&mut bytes, timestamp, &writer.to_bytes(), writes);
        debug_assert_eq!(bytes.len(), len, "body_len is the encoded length");
        let crc = (bytes.len() >= COMBINE_BYTES_MIN).then(|| crc32c::crc32c(&bytes));
        Ok(CommitBody { bytes, crc })
    }

    /// Length of the encoded body in bytes; the log record adds 16.
    pub fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn crc(&self) -> Option<u32> {
        self.crc
    }
}

impl fmt::Debug for CommitBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommitBody")
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// Decodes the body of the record with `version`. The error is a reason for
/// `CorruptionKind::UndecodableBody`.
pub(crate) fn decode_body(
    version: Version,
    body: &[u8],
) -> std::result::Result<CommitRecord, String> {
    let (decoded, rest): (BodyDe, &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes after the body", rest.len()));
    }
    Ok(CommitRecord {
        version,
        timestamp: Timestamp::from_micros(decoded.timestamp),
        writer: RunId::from_bytes(decoded.writer),
        writes: decoded.writes.0,
    })
}

fn ttl_micros(ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

// ---- decoding -------------------------------------------------------------------------------

#[derive(Deserialize)]
struct BodyDe {
    timestamp: u64,
    writer: [u8; 16],
    writes: WritesDe,
}

#[derive(Deserialize)]
struct WriteDe {
    key: ByteBuf,
    op: OpDe,
}

#[derive(Deserialize)]
enum OpDe {
    Put { value: ByteBuf, ttl: Option<u64> },
    Delete,
    DeletePrefix,
}

/// The writes, built straight into the replayed form.
struct WritesDe(Vec<LogWrite>);

impl<'de> Deserialize<'de> for WritesDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct WritesVisitor;
        impl<'de> Visitor<'de> for WritesVisitor {
            type Value = WritesDe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of writes")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<WritesDe, A::Error> {
                // The count comes from the bytes: cap what it may reserve up front.
                let mut writes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(WriteDe { key, op }) = seq.next_element()? {
                    let op = match op {
                        OpDe::Put { value, ttl } => LogOp::Put {
                            value: value.0,
                            ttl: ttl.map(Duration::from_micros),
                        },
                        OpDe::Delete => LogOp::Delete,
                        OpDe::DeletePrefix => LogOp::DeletePrefix,
                    };
                    writes.push(LogWrite { key: key.0, op });
                }
                Ok(WritesDe(writes))
            }
        }
        d.deserialize_seq(WritesVisitor)
    }
}

/// Owned bytes read as bytes.
struct ByteBuf(Vec<u8>);

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct BytesVisitor;
        impl Visitor<'_> for BytesVisitor {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> std::result::Result<ByteBuf, E> {
                Ok(ByteBuf(v.to_vec()))
            }
        }
        d.deserialize_byte_buf(BytesVisitor)
    }
}

mod encode;
#[cfg(test)]
mod serde_oracle;
#[cfg(test)]
mod tests;
