//! The on-disk layout of a segment: the segment header and the record frame (see
//! `docs/FORMAT.md`).
//!
//! ```text
//! segment header (64 bytes, format version 2):
//!   0  magic "INMEMWAL"          8 bytes
//!   8  format version (u32 LE)   4 bytes
//!  12  reserved, zero            4 bytes
//!  16  database id              16 bytes
//!  32  log generation (u64)      8 bytes
//!  40  segment sequence (u64)    8 bytes
//!  48  first version (u64)       8 bytes
//!  56  reserved, zero            4 bytes
//!  60  CRC-32C of bytes 0..60    4 bytes
//! record frame:
//!   [len: u32 LE][crc: u32 LE][payload: len bytes], crc = CRC-32C(len bytes ++ payload)
//!   payload = [version: u64 LE][durable lag: varint][body]
//!   durable lag = version - (highest version a completed fdatasync covered at append), >= 1
//! ```
#![deny(clippy::indexing_slicing)]

use in_mem_core_types::Version;
use in_mem_core_types::limits::COMMIT_BYTES_MAX;

use crate::codec::{array_at, put, u32_at, u64_at};
use crate::error::CorruptionKind;
use crate::identity::{DatabaseId, Stamp};

/// The first eight bytes of every segment.
pub(crate) const MAGIC: [u8; 8] = *b"INMEMWAL";
/// The format version written by this build; the only one it reads.
pub(crate) const FORMAT_VERSION: u32 = 2;
/// Bytes of the segment header.
pub(crate) const HEADER_BYTES: usize = 64;
/// Where the header's checksum is; it covers every byte before it.
pub(crate) const HEADER_CRC_AT: usize = 60;
/// Bytes of a frame's length and checksum fields.
pub(crate) const FRAME_HEADER_BYTES: usize = 8;
/// Bytes of the version at the start of a payload.
pub(crate) const VERSION_BYTES: usize = 8;
/// Largest encoding of the durable lag (a varint of a `u64`).
pub(crate) const LAG_BYTES_MAX: usize = 10;
/// Most bytes a frame adds in front of the encoded body (the durable lag is a varint).
pub(crate) const FRAME_PREFIX_BYTES_MAX: usize = FRAME_HEADER_BYTES + VERSION_BYTES + LAG_BYTES_MAX;
/// Smallest payload: a version and a one-byte lag (the body may be empty to the frame layer).
pub(crate) const PAYLOAD_BYTES_MIN: usize = VERSION_BYTES + 1;
/// Largest payload: a version, the longest lag and the largest commit body.
pub(crate) const PAYLOAD_BYTES_MAX: usize = VERSION_BYTES + LAG_BYTES_MAX + COMMIT_BYTES_MAX;

const _: () = assert!(PAYLOAD_BYTES_MAX <= u32::MAX as usize);
const _: () = assert!(HEADER_CRC_AT == 8 + 4 + 4 + 16 + 8 + 8 + 8 + 4);
const _: () = assert!(HEADER_BYTES == HEADER_CRC_AT + 4);

/// The decoded header of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    /// The database and log generation the segment was written in.
    pub(crate) stamp: Stamp,
    pub(crate) sequence: u64,
    pub(crate) first_version: Version,
}

/// What the first `HEADER_BYTES` of a segment hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderRead {
    /// All zeros: a prepared segment that never became active.
    Zero,
    /// A header whose magic, format version and checksum are right.
    Valid(SegmentHeader),
    /// The magic is right but the format version is another one (never a torn write: the
    /// version field of a torn header holds this build's version or zeros).
    OtherFormat { found: u32 },
    /// Anything else. `torn` is true when the bytes may be a header write cut short (the
    /// checksum fails), false when a complete header says something unacceptable.
    Bad { kind: CorruptionKind, torn: bool },
}

impl SegmentHeader {
    /// The header's bytes.
    pub(crate) fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        put(&mut out, 0, &MAGIC);
        put(&mut out, 8, &FORMAT_VERSION.to_le_bytes());
        put(&mut out, 16, &self.stamp.id.to_bytes());
        put(&mut out, 32, &self.stamp.generation.to_le_bytes());
        put(&mut out, 40, &self.sequence.to_le_bytes());
        put(&mut out, 48, &self.first_version.get().to_le_bytes());
        let crc = crc32c::crc32c(out.get(..HEADER_CRC_AT).unwrap_or_default());
        put(&mut out, HEADER_CRC_AT, &crc.to_le_bytes());
        out
    }

    /// Reads a header. Checks, in order: all zeros, magic, format version (before the
    /// checksum, whose place a newer format may have moved), checksum. The stamp, sequence
    /// and first version are the caller's to check against the identity, the file name and
    /// the log.
    pub(crate) fn decode(bytes: &[u8; HEADER_BYTES]) -> HeaderRead {
        if bytes.iter().all(|&b| b == 0) {
            return HeaderRead::Zero;
        }
        let crc_ok = bytes
            .get(..HEADER_CRC_AT)
            .is_some_and(|covered| Some(crc32c::crc32c(covered)) == u32_at(bytes, HEADER_CRC_AT));
        if array_at::<8>(bytes, 0) != Some(MAGIC) {
            return HeaderRead::Bad {
                kind: CorruptionKind::BadMagic,
                torn: !crc_ok,
            };
        }
        let format = u32_at(bytes, 8).unwrap_or_default();
        // Zeros there may be a torn write of this version's header (the checksum then fails).
        if format != FORMAT_VERSION && (format != 0 || crc_ok) {
            return HeaderRead::OtherFormat { found: format };
        }
        if !crc_ok {
            return HeaderRead::Bad {
                kind: CorruptionKind::BadHeaderChecksum,
                torn: true,
            };
        }
        let field = |at| u64_at(bytes, at).unwrap_or_default();
        HeaderRead::Valid(SegmentHeader {
            stamp: Stamp {
                id: DatabaseId::from_bytes(array_at(bytes, 16).unwrap_or_default()),
                generation: field(32),
            },
            sequence: field(40),
            first_version: Version::new(field(48)),
        })
    }
}

/// Body size from which the frame checksum is combined from a checksum of the body computed
/// outside the log lock. Combining costs a few microseconds whatever the size (zlib's GF(2)
/// matrix method), checksumming costs about 0.1 ns a byte with SSE 4.2: below this size the
/// direct checksum under the lock is cheaper.
pub(crate) const COMBINE_BYTES_MIN: usize = 256 << 10;

/// The bytes in front of a body: length, checksum, version, durable lag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FramePrefix {
    bytes: [u8; FRAME_PREFIX_BYTES_MAX],
    len: usize,
}

impl FramePrefix {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// The prefix of the frame of `body` at `version`, appended while `durable` was the highest
/// version a completed fdatasync covered. `body_crc` is the CRC-32C of the body alone when the
/// caller computed it (large bodies, outside the log lock).
///
/// # Panics
/// If `durable >= version`: a record cannot be durable before it is written.
pub(crate) fn frame_prefix(
    version: Version,
    durable: Version,
    body: &[u8],
    body_crc: Option<u32>,
) -> FramePrefix {
    assert!(
        durable < version,
        "durable {durable} is not below {version}"
    );
    let mut out = [0u8; FRAME_PREFIX_BYTES_MAX];
    out[8..16].copy_from_slice(&version.get().to_le_bytes());
    let (lag, lag_len) = varint(version.get() - durable.get());
    put(&mut out, 16, lag.get(..lag_len).unwrap_or_default());
    let head_len = FRAME_HEADER_BYTES + VERSION_BYTES + lag_len;
    let body_len = body.len();
    let payload_len = u32::try_from(head_len - FRAME_HEADER_BYTES + body_len)
        .expect("bodies are bounded by COMMIT_BYTES_MAX when encoded");
    out[0..4].copy_from_slice(&payload_len.to_le_bytes());
    let head_rest = out.get(8..head_len).unwrap_or_default();
    let head = crc32c::crc32c_append(crc32c::crc32c(&out[0..4]), head_rest);
    let crc = match body_crc {
        Some(body_crc) => crc32c::crc32c_combine(head, body_crc, body_len),
        None => crc32c::crc32c_append(head, body),
    };
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    FramePrefix {
        bytes: out,
        len: head_len,
    }
}

/// Bytes of the prefix [`frame_prefix`] builds for `version` appended while `durable` was the
/// highest synced version.
pub(crate) fn frame_prefix_len(version: Version, durable: Version) -> usize {
    let lag = version.get().saturating_sub(durable.get()).max(1);
    let bits = 64 - lag.leading_zeros() as usize;
    FRAME_HEADER_BYTES + VERSION_BYTES + bits.div_ceil(7)
}

/// Reads the durable lag at the start of `rest` (the payload after the version): the durable
/// version it names and the bytes it took. `None` if it is not a canonical varint in
/// `1..=version`.
pub(crate) fn read_lag(version: Version, rest: &[u8]) -> Option<(Version, usize)> {
    let (lag, len) = get_varint(rest)?;
    if lag == 0 || lag > version.get() {
        return None;
    }
    Some((Version::new(version.get() - lag), len))
}

/// `value` as an unsigned LEB128 varint: the bytes, and how many of them it takes.
fn varint(mut value: u64) -> ([u8; LAG_BYTES_MAX], usize) {
    let mut out = [0u8; LAG_BYTES_MAX];
    let mut len = 0;
    for slot in &mut out {
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        len += 1;
        if value == 0 {
            *slot = byte;
            break;
        }
        *slot = byte | 0x80;
    }
    (out, len)
}

/// Reads a canonical unsigned LEB128 varint (no redundant trailing zero group, at most ten
/// bytes, no overflow) from the start of `bytes`.
fn get_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(LAG_BYTES_MAX) {
        let group = u64::from(byte & 0x7F);
        if i == LAG_BYTES_MAX - 1 && group > 1 {
            return None;
        }
        value |= group << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return None;
            }
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests;
