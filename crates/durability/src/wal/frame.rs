//! The one parser of frames: `[len: u32 LE][crc: u32 LE][payload: len bytes]`, with the
//! checksum taken over the four length bytes followed by the payload. Log records and
//! checkpoint entries share this framing; recovery's scan, its search for evidence after a
//! stop, the check of a segment's first record, the checkpoint reader and the inspection
//! helpers all read frames here, so that what counts as a frame is decided in one place.
//!
//! Nothing here trusts a length it reads: a length is checked against the limits and the
//! bytes that remain before anything is read or allocated, and no input makes it panic (the
//! module denies indexing and slicing that could).
#![deny(clippy::indexing_slicing)]

use std::io;

use in_mem_core_types::Version;

use super::format::{
    FRAME_HEADER_BYTES, HEADER_BYTES, PAYLOAD_BYTES_MAX, PAYLOAD_BYTES_MIN, VERSION_BYTES,
};
use super::reader::WindowReader;

/// The payload lengths a kind of frame may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PayloadLimits {
    pub(crate) min: usize,
    pub(crate) max: usize,
}

/// Payloads of log records: a version, a durable lag, and a body of at most
/// `COMMIT_BYTES_MAX` bytes.
pub(crate) const LOG_PAYLOAD: PayloadLimits = PayloadLimits {
    min: PAYLOAD_BYTES_MIN,
    max: PAYLOAD_BYTES_MAX,
};

/// What the bytes at a frame position are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed<'a> {
    /// A frame whose checksum matches: its payload and its length with the frame header.
    Frame { payload: &'a [u8], len: u64 },
    /// Fewer bytes than a frame header remain.
    Short,
    /// A frame header of eight zero bytes: the clean end of a segment if only zeros follow
    /// (the checksum of a zero length is not zero, so no frame looks like this).
    Zero,
    /// The length field is outside the limits or runs past the end of the file.
    BadLength { len: u32 },
    /// The checksum does not match the length and payload.
    BadChecksum,
}

/// The length and checksum fields of a frame header.
fn head(bytes: &[u8]) -> Option<(u32, u32)> {
    let len = bytes.get(0..4)?.try_into().ok().map(u32::from_le_bytes)?;
    let crc = bytes.get(4..8)?.try_into().ok().map(u32::from_le_bytes)?;
    Some((len, crc))
}

/// Decides from a frame header alone what the frame is, given the bytes that remain from the
/// frame's start: `Ok((payload length, checksum))` when a frame of that length fits.
fn check_head(
    bytes: &[u8],
    remaining: u64,
    limits: PayloadLimits,
) -> Result<(usize, u32), Parsed<'static>> {
    let Some((len, crc)) = head(bytes) else {
        return Err(Parsed::Short);
    };
    if len == 0 && crc == 0 {
        return Err(Parsed::Zero);
    }
    let payload_len = len as usize;
    let fits = (FRAME_HEADER_BYTES + payload_len) as u64 <= remaining;
    if !(limits.min..=limits.max).contains(&payload_len) || !fits {
        return Err(Parsed::BadLength { len });
    }
    Ok((payload_len, crc))
}

/// The checksum a frame with length field `len_bytes` and `payload` must carry.
pub(crate) fn checksum(len_bytes: &[u8], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(len_bytes), payload)
}

/// Verifies `frame` (header and payload, exactly) against `crc`.
fn verify(frame: &[u8], crc: u32) -> Parsed<'_> {
    match (frame.get(0..4), frame.get(FRAME_HEADER_BYTES..)) {
        (Some(len_bytes), Some(payload)) if checksum(len_bytes, payload) == crc => Parsed::Frame {
            payload,
            len: frame.len() as u64,
        },
        _ => Parsed::BadChecksum,
    }
}

/// The frame at the start of `bytes`, which run to the end of the file.
pub(crate) fn parse(bytes: &[u8], limits: PayloadLimits) -> Parsed<'_> {
    match check_head(bytes, bytes.len() as u64, limits) {
        Err(parsed) => parsed,
        Ok((payload_len, crc)) => match bytes.get(..FRAME_HEADER_BYTES + payload_len) {
            Some(frame) => verify(frame, crc),
            None => Parsed::BadLength {
                len: payload_len as u32,
            },
        },
    }
}

/// The frame at `pos` of the file `reader` reads: one window read for its header, one for
/// the whole frame (usually served from the same window).
pub(crate) fn read<'r>(
    reader: &'r mut WindowReader<'_>,
    pos: u64,
    limits: PayloadLimits,
) -> io::Result<Parsed<'r>> {
    let remaining = reader.file_len().saturating_sub(pos);
    if remaining < FRAME_HEADER_BYTES as u64 {
        return Ok(Parsed::Short);
    }
    let (payload_len, crc) =
        match check_head(reader.get(pos, FRAME_HEADER_BYTES)?, remaining, limits) {
            Ok(found) => found,
            Err(parsed) => return Ok(parsed),
        };
    let frame = reader.get(pos, FRAME_HEADER_BYTES + payload_len)?;
    Ok(verify(frame, crc))
}

/// The version at the start of a log record's payload (payloads are at least
/// `PAYLOAD_BYTES_MIN` long, so it is always there in a frame `read` or `parse` returned).
pub(crate) fn log_version(payload: &[u8]) -> Option<Version> {
    let bytes = payload.get(..VERSION_BYTES)?.try_into().ok()?;
    Some(Version::new(u64::from_le_bytes(bytes)))
}

/// The payload of a log record after its version: the durable lag, then the body.
pub(crate) fn log_rest(payload: &[u8]) -> &[u8] {
    payload.get(VERSION_BYTES..).unwrap_or_default()
}

/// A cheap look at a possible log frame at the start of `bytes`, without its checksum: the
/// payload length and the version, if the length is within the limits. Recovery's search for
/// evidence after a stop filters every byte position with this before it verifies a frame.
pub(crate) fn peek_log(bytes: &[u8]) -> Option<(usize, u64)> {
    let (len, _) = head(bytes)?;
    let payload_len = len as usize;
    if !(LOG_PAYLOAD.min..=LOG_PAYLOAD.max).contains(&payload_len) {
        return None;
    }
    let at = FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + VERSION_BYTES;
    let version = u64::from_le_bytes(bytes.get(at)?.try_into().ok()?);
    Some((payload_len, version))
}

/// One record frame of a segment, as [`segment_frames`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// Offset of the frame's first byte in the segment file.
    pub offset: u64,
    /// Bytes of the frame, its header included.
    pub len: u64,
    /// The version of the commit it holds.
    pub version: Version,
}

/// The valid record frames of a segment's bytes, in order, from the end of its header up to
/// the first position that does not hold one (the clean end, a torn or damaged frame). For
/// tools and tests that look inside a segment; recovery itself applies more rules (versions,
/// the durable lag, what follows a stop) than this walk does.
pub fn segment_frames(segment: &[u8]) -> Vec<FrameInfo> {
    let mut out = Vec::new();
    let mut pos = HEADER_BYTES;
    while let Some(rest) = segment.get(pos..) {
        let Parsed::Frame { payload, len } = parse(rest, LOG_PAYLOAD) else {
            break;
        };
        let Some(version) = log_version(payload) else {
            break;
        };
        out.push(FrameInfo {
            offset: pos as u64,
            len,
            version,
        });
        pos += len as usize;
    }
    out
}

#[cfg(test)]
mod tests;
