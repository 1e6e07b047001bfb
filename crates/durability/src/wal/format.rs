//! The on-disk layout of a segment: the segment header and the record frame (see
//! `docs/FORMAT.md`).
//!
//! ```text
//! segment header (32 bytes):
//!   0  magic "INMEMWAL"        8 bytes
//!   8  format version (u32 LE) 4 bytes
//!  12  segment sequence (u64)  8 bytes
//!  20  first version (u64)     8 bytes
//!  28  CRC-32C of bytes 0..28  4 bytes
//! record frame:
//!   [len: u32 LE][crc: u32 LE][payload: len bytes], crc = CRC-32C(len bytes ++ payload)
//!   payload = [version: u64 LE][durable lag: varint][body]
//!   durable lag = version - (highest version a completed fdatasync covered at append), >= 1
//! ```

use in_mem_core_types::Version;
use in_mem_core_types::limits::COMMIT_BYTES_MAX;

use crate::error::CorruptionKind;

/// The first eight bytes of every segment.
pub(crate) const MAGIC: [u8; 8] = *b"INMEMWAL";
/// The format version written by this build; the only one it reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Bytes of the segment header.
pub(crate) const HEADER_BYTES: usize = 32;
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
const _: () = assert!(HEADER_BYTES == 8 + 4 + 8 + 8 + 4);

/// The decoded header of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub(crate) sequence: u64,
    pub(crate) first_version: Version,
}

/// What the first `HEADER_BYTES` of a segment hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderRead {
    /// All zeros: a prepared segment that never became active.
    Zero,
    /// A header whose magic and checksum are right.
    Valid(SegmentHeader),
    /// Anything else. `torn` is true when the bytes may be a header write cut short (the
    /// checksum fails), false when a complete header says something unacceptable.
    Bad { kind: CorruptionKind, torn: bool },
}

impl SegmentHeader {
    /// The header's bytes.
    pub(crate) fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[12..20].copy_from_slice(&self.sequence.to_le_bytes());
        out[20..28].copy_from_slice(&self.first_version.get().to_le_bytes());
        let crc = crc32c::crc32c(&out[..28]);
        out[28..32].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a header. Checks, in order: all zeros, magic, checksum, format version. The
    /// sequence and first version are the caller's to check against the file name and log.
    pub(crate) fn decode(bytes: &[u8; HEADER_BYTES]) -> HeaderRead {
        if bytes.iter().all(|&b| b == 0) {
            return HeaderRead::Zero;
        }
        let crc_ok = crc32c::crc32c(&bytes[..28]) == u32_at(bytes, 28);
        if bytes[0..8] != MAGIC {
            return HeaderRead::Bad {
                kind: CorruptionKind::BadMagic,
                torn: !crc_ok,
            };
        }
        if !crc_ok {
            return HeaderRead::Bad {
                kind: CorruptionKind::BadHeaderChecksum,
                torn: true,
            };
        }
        let format = u32_at(bytes, 8);
        if format != FORMAT_VERSION {
            return HeaderRead::Bad {
                kind: CorruptionKind::UnsupportedFormatVersion {
                    found: format,
                    supported: FORMAT_VERSION,
                },
                torn: false,
            };
        }
        HeaderRead::Valid(SegmentHeader {
            sequence: u64_at(bytes, 12),
            first_version: Version::new(u64_at(bytes, 20)),
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
        &self.bytes[..self.len]
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
    let lag_len = put_varint(&mut out[16..], version.get() - durable.get());
    let head_len = FRAME_HEADER_BYTES + VERSION_BYTES + lag_len;
    let body_len = body.len();
    let payload_len = u32::try_from(head_len - FRAME_HEADER_BYTES + body_len)
        .expect("bodies are bounded by COMMIT_BYTES_MAX when encoded");
    out[0..4].copy_from_slice(&payload_len.to_le_bytes());
    let head = crc32c::crc32c_append(crc32c::crc32c(&out[0..4]), &out[8..head_len]);
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

/// Writes `value` as an unsigned LEB128 varint at the start of `out`; returns its length.
fn put_varint(out: &mut [u8], mut value: u64) -> usize {
    let mut i = 0;
    loop {
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            out[i] = byte;
            return i + 1;
        }
        out[i] = byte | 0x80;
        i += 1;
    }
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

/// The checksum a frame with length field `len_bytes` and `payload` must carry.
pub(crate) fn frame_crc(len_bytes: &[u8], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(len_bytes), payload)
}

/// The little-endian `u32` at `at`.
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut out = [0u8; 4];
    out.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(out)
}

/// The little-endian `u64` at `at`.
pub(crate) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(out)
}

#[cfg(test)]
mod tests;
