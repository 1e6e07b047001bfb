//! Bytes of the identity file (see `docs/FORMAT.md`, section 1a).
//!
//! ```text
//!  0  magic "INMEMIDN"                        8 bytes
//!  8  format version (u32 LE)                 4 bytes   (1)
//! 12  generations listed, n (u32 LE)          4 bytes   1 ..= GENERATIONS_MAX
//! 16  database id                            16 bytes
//! 32  oldest listed generation (u64 LE)       8 bytes   >= 1
//! 40  n entries, one per generation from the oldest listed, 16 bytes each:
//!       first version of the generation (u64 LE), first segment sequence (u64 LE)
//! 40 + 16 n  CRC-32C of every byte before it (u32 LE)
//! ```
//!
//! The file is always written whole (temp file, fsync, rename, directory fsync), so a reader
//! never meets a torn one: anything that does not verify is damage.
#![deny(clippy::indexing_slicing)]

use in_mem_core_types::Version;

use super::{DatabaseId, GenerationStart, Identity};
use crate::codec::{array_at, put, u32_at, u64_at};

pub(crate) const MAGIC: [u8; 8] = *b"INMEMIDN";
/// The identity format version this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Bytes before the generation entries.
const FIXED_BYTES: usize = 40;
/// Bytes of one generation entry.
const ENTRY_BYTES: usize = 16;
/// Bytes of the checksum at the end.
const CRC_BYTES: usize = 4;
/// Most generations one file lists. Recovery lists only the generations that files still on
/// disk belong to, so this is far more than a database needs; it bounds what a reader of a
/// damaged file allocates.
pub(crate) const GENERATIONS_MAX: usize = 4096;
/// The largest identity file.
pub(crate) const IDENTITY_BYTES_MAX: usize =
    FIXED_BYTES + ENTRY_BYTES * GENERATIONS_MAX + CRC_BYTES;

const _: () = assert!(IDENTITY_BYTES_MAX < (1 << 20));

/// Why bytes are not an identity this build reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unreadable {
    /// The file names another format version.
    Format { found: u32 },
    /// The file does not verify; the offset of the first bad field and why.
    Damaged { offset: u64, reason: &'static str },
}

/// The bytes of `identity`.
pub(crate) fn encode(identity: &Identity) -> Vec<u8> {
    let n = identity.starts.len();
    let mut out = vec![0u8; FIXED_BYTES + ENTRY_BYTES * n];
    put(&mut out, 0, &MAGIC);
    put(&mut out, 8, &FORMAT_VERSION.to_le_bytes());
    let count = u32::try_from(n).expect("generations are bounded by GENERATIONS_MAX");
    put(&mut out, 12, &count.to_le_bytes());
    put(&mut out, 16, &identity.id.to_bytes());
    put(&mut out, 32, &identity.oldest.to_le_bytes());
    for (i, start) in identity.starts.iter().enumerate() {
        let at = FIXED_BYTES + ENTRY_BYTES * i;
        put(&mut out, at, &start.version.get().to_le_bytes());
        put(&mut out, at + 8, &start.sequence.to_le_bytes());
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Reads an identity file's bytes. Checks, in order: magic, format version (before anything
/// else, since a newer version may lay out the rest differently), length, checksum, then that
/// the generations are well formed.
pub(crate) fn decode(bytes: &[u8]) -> Result<Identity, Unreadable> {
    let damaged = |offset: u64, reason| Unreadable::Damaged { offset, reason };
    if array_at::<8>(bytes, 0) != Some(MAGIC) {
        return Err(damaged(
            0,
            "it does not start with the identity magic bytes",
        ));
    }
    let format = u32_at(bytes, 8).ok_or(damaged(8, "it is cut short"))?;
    if format != FORMAT_VERSION {
        return Err(Unreadable::Format { found: format });
    }
    let n = u32_at(bytes, 12).ok_or(damaged(12, "it is cut short"))? as usize;
    if n == 0 || n > GENERATIONS_MAX {
        return Err(damaged(12, "it lists an impossible number of generations"));
    }
    let body_len = FIXED_BYTES + ENTRY_BYTES * n;
    if bytes.len() != body_len + CRC_BYTES {
        return Err(damaged(
            12,
            "its length does not match its generation count",
        ));
    }
    let body = bytes.get(..body_len).ok_or(damaged(0, "it is cut short"))?;
    if u32_at(bytes, body_len) != Some(crc32c::crc32c(body)) {
        return Err(damaged(body_len as u64, "its checksum does not match"));
    }
    let id = DatabaseId::from_bytes(array_at(bytes, 16).ok_or(damaged(16, "it is cut short"))?);
    let oldest = u64_at(bytes, 32).ok_or(damaged(32, "it is cut short"))?;
    if oldest == 0 || oldest.checked_add(n as u64).is_none() {
        return Err(damaged(32, "its oldest generation is impossible"));
    }
    let mut starts: Vec<GenerationStart> = Vec::with_capacity(n);
    for i in 0..n {
        let at = FIXED_BYTES + ENTRY_BYTES * i;
        let start = GenerationStart {
            version: Version::new(u64_at(bytes, at).ok_or(damaged(at as u64, "cut short"))?),
            sequence: u64_at(bytes, at + 8).ok_or(damaged(at as u64, "cut short"))?,
        };
        let ordered = starts
            .last()
            .is_none_or(|prev| prev.version <= start.version && prev.sequence <= start.sequence);
        if start.version == Version::ZERO || start.sequence == 0 || !ordered {
            return Err(damaged(at as u64, "its generations are out of order"));
        }
        starts.push(start);
    }
    Ok(Identity { id, oldest, starts })
}
