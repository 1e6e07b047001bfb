//! Bytes of a checkpoint: the header, entry and trailer payloads (see the module docs).
#![deny(clippy::indexing_slicing)]

use std::sync::Arc;

use in_mem_core_types::{RunId, Timestamp, Version};

use super::{CheckpointCuts, CheckpointEntry, CheckpointOp};
use crate::codec::{array_at, put, u32_at, u64_at};
use crate::identity::{DatabaseId, Stamp};
use crate::wal::frame::PayloadLimits;

pub(super) const MAGIC: [u8; 8] = *b"INMEMCKP";
/// The checkpoint format version this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 2;
pub(crate) const HEADER_BYTES: usize = 64;
/// Where the header's checksum is; it covers every byte before it.
const HEADER_CRC_AT: usize = 60;
/// Largest payload: a key, a value and fixed fields, with room to spare; bounds what a reader
/// allocates for a length read from a damaged file.
pub(super) const PAYLOAD_BYTES_MAX: usize = 8 << 20;
/// The payload lengths of checkpoint frames: at least a tag byte.
pub(super) const CHECKPOINT_PAYLOAD: PayloadLimits = PayloadLimits {
    min: 1,
    max: PAYLOAD_BYTES_MAX,
};
pub(super) const FILE_SUFFIX: &str = ".ckpt";
pub(super) const TEMP_SUFFIX: &str = ".ckpt.tmp";

const TAG_ENTRY: u8 = 0x01;
const TAG_TRAILER: u8 = 0x02;
/// An entry's op byte: the operation in its low bit, cut flags above it.
const OP_MASK: u8 = 0x01;
const OP_PUT: u8 = 0x00;
const OP_DELETE: u8 = 0x01;
/// Versions of the key right below the entry's were removed by a sweep.
const FLAG_CUT_BELOW: u8 = 0x02;
/// Versions of the key right above the entry's were removed by a sweep.
const FLAG_CUT_ABOVE: u8 = 0x04;
/// Every bit an op byte may have set. Any other is damage: a build that adds a flag bumps the
/// format version, which is checked before any entry is read.
const OP_BYTE_KNOWN: u8 = OP_MASK | FLAG_CUT_BELOW | FLAG_CUT_ABOVE;

const _: () = assert!(OP_MASK & (FLAG_CUT_BELOW | FLAG_CUT_ABOVE) == 0);
const _: () = assert!(FLAG_CUT_BELOW & FLAG_CUT_ABOVE == 0);

const _: () = assert!(
    in_mem_core_types::limits::VALUE_BYTES_MAX
        + in_mem_core_types::limits::USER_KEY_BYTES_MAX
        + 1024
        < PAYLOAD_BYTES_MAX
);

/// What a checkpoint's header says besides its identity stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeaderFields {
    /// Every entry is at or below this commit version.
    pub version: Version,
    /// History below this version may be missing (what the writer's sweeps had reclaimed): a
    /// read of an older view after loading must not trust what it finds.
    pub history_from: Version,
}

pub(crate) fn encode_header(stamp: Stamp, fields: HeaderFields) -> [u8; HEADER_BYTES] {
    let mut out = [0u8; HEADER_BYTES];
    put(&mut out, 0, &MAGIC);
    put(&mut out, 8, &FORMAT_VERSION.to_le_bytes());
    put(&mut out, 16, &stamp.id.to_bytes());
    put(&mut out, 32, &stamp.generation.to_le_bytes());
    put(&mut out, 40, &fields.version.get().to_le_bytes());
    put(&mut out, 48, &fields.history_from.get().to_le_bytes());
    let crc = crc32c::crc32c(out.get(..HEADER_CRC_AT).unwrap_or_default());
    put(&mut out, HEADER_CRC_AT, &crc.to_le_bytes());
    out
}

/// Why a checkpoint header is not one this build reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// The magic is right and the format version is another one.
    OtherFormat { found: u32 },
    /// Anything else.
    Damaged(&'static str),
}

/// The stamp and checkpoint version a header names. Checks, in order: magic, format version
/// (before the checksum, whose place a newer format may have moved), checksum.
pub(crate) fn decode_header(
    bytes: &[u8; HEADER_BYTES],
) -> Result<(Stamp, HeaderFields), HeaderError> {
    if array_at::<8>(bytes, 0) != Some(MAGIC) {
        return Err(HeaderError::Damaged("the header has the wrong magic bytes"));
    }
    let format = u32_at(bytes, 8).unwrap_or_default();
    if format != FORMAT_VERSION {
        return Err(HeaderError::OtherFormat { found: format });
    }
    let covered = bytes.get(..HEADER_CRC_AT).unwrap_or_default();
    if u32_at(bytes, HEADER_CRC_AT) != Some(crc32c::crc32c(covered)) {
        return Err(HeaderError::Damaged("the header checksum does not match"));
    }
    let field = |at| u64_at(bytes, at).unwrap_or_default();
    let stamp = Stamp {
        id: DatabaseId::from_bytes(array_at(bytes, 16).unwrap_or_default()),
        generation: field(32),
    };
    Ok((
        stamp,
        HeaderFields {
            version: Version::new(field(40)),
            history_from: Version::new(field(48)),
        },
    ))
}

/// Appends a frame holding `payload` to `out`.
pub(super) fn push_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("payloads are bounded by PAYLOAD_BYTES_MAX");
    let mut crc = crc32c::crc32c(&len.to_le_bytes());
    crc = crc32c::crc32c_append(crc, payload);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
}

/// What an entry payload holds besides its key, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub(super) struct EntryFields<'a> {
    pub version: Version,
    pub writer: RunId,
    pub timestamp: Timestamp,
    /// A value with its expiry, or `None` for a tombstone.
    pub value: Option<(&'a [u8], Option<Timestamp>)>,
    pub cuts: CheckpointCuts,
}

/// An entry payload.
pub(super) fn encode_entry(out: &mut Vec<u8>, key: &[u8], fields: EntryFields<'_>) {
    out.push(TAG_ENTRY);
    out.extend_from_slice(&len32(key.len()).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&fields.version.get().to_le_bytes());
    out.extend_from_slice(&fields.writer.to_bytes());
    out.extend_from_slice(&fields.timestamp.as_micros().to_le_bytes());
    let flags = cut_flags(fields.cuts);
    match fields.value {
        Some((value, expires_at)) => {
            out.push(OP_PUT | flags);
            out.extend_from_slice(&expires_at.map_or(0, Timestamp::as_micros).to_le_bytes());
            out.extend_from_slice(&len32(value.len()).to_le_bytes());
            out.extend_from_slice(value);
        }
        None => out.push(OP_DELETE | flags),
    }
}

fn cut_flags(cuts: CheckpointCuts) -> u8 {
    let below = if cuts.below { FLAG_CUT_BELOW } else { 0 };
    let above = if cuts.above { FLAG_CUT_ABOVE } else { 0 };
    below | above
}

pub(super) fn encode_trailer(entries: u64) -> [u8; 9] {
    let mut out = [0u8; 9];
    out[0] = TAG_TRAILER;
    put(&mut out, 1, &entries.to_le_bytes());
    out
}

/// A decoded payload.
pub(super) enum Payload {
    Entry(CheckpointEntry),
    Trailer { entries: u64 },
}

/// Decodes a payload; `Err` says why it is not one.
pub(super) fn decode_payload(bytes: &[u8]) -> Result<Payload, &'static str> {
    let mut at = Cursor { bytes, pos: 0 };
    match at.u8()? {
        TAG_TRAILER => {
            let entries = at.u64()?;
            at.end()?;
            Ok(Payload::Trailer { entries })
        }
        TAG_ENTRY => {
            let key_len = at.u32()? as usize;
            let key = Arc::from(at.take(key_len)?);
            let version = Version::new(at.u64()?);
            let writer = RunId::from_bytes(at.take(16)?.try_into().expect("16 bytes"));
            let timestamp = Timestamp::from_micros(at.u64()?);
            let op_byte = at.u8()?;
            if op_byte & !OP_BYTE_KNOWN != 0 {
                return Err("an entry's op byte has an unknown flag");
            }
            let cuts = CheckpointCuts {
                below: op_byte & FLAG_CUT_BELOW != 0,
                above: op_byte & FLAG_CUT_ABOVE != 0,
            };
            let op = match op_byte & OP_MASK {
                OP_PUT => {
                    let expires = at.u64()?;
                    let value_len = at.u32()? as usize;
                    let value = Arc::from(at.take(value_len)?);
                    let expires_at = (expires != 0).then(|| Timestamp::from_micros(expires));
                    CheckpointOp::Put { value, expires_at }
                }
                // OP_DELETE: the mask leaves no other value.
                _ => CheckpointOp::Delete,
            };
            at.end()?;
            Ok(Payload::Entry(CheckpointEntry {
                key,
                version,
                writer,
                timestamp,
                op,
                cuts,
            }))
        }
        _ => Err("a frame has an unknown payload type"),
    }
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).expect("keys and values are bounded by the limits")
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(n).ok_or("an entry is cut short")?;
        let out = self
            .bytes
            .get(self.pos..end)
            .ok_or("an entry is cut short")?;
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, &'static str> {
        let [byte] = self
            .take(1)?
            .try_into()
            .map_err(|_| "an entry is cut short")?;
        Ok(byte)
    }
    fn u32(&mut self) -> Result<u32, &'static str> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, &'static str> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn end(&self) -> Result<(), &'static str> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err("a frame has bytes after its payload")
        }
    }
}
