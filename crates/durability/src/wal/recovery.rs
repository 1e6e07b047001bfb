//! Recovery: reads every segment in order, replays records, cuts a torn tail, and refuses
//! anything else that is not a clean log (see `docs/FORMAT.md` and the decision list below).
//!
//! Decisions, per thing found:
//! - a leftover `*.seg.tmp` file: deleted (a segment being prepared when the process stopped);
//! - a gap in segment sequence numbers: refused (`MissingSegment`);
//! - a zero frame header followed only by zeros: the clean end of a segment;
//! - damage (bad checksum, impossible length, torn frame, undecodable body, torn header,
//!   non-zero bytes after the clean end) with no valid header or frame anywhere after it: a
//!   torn tail, cut by overwriting it with zeros (synced), and reported;
//! - the same damage followed by anything valid: refused, naming file, offset and reason;
//! - a complete header that is wrong (format, sequence, first version) or a version gap:
//!   refused wherever it is, since no torn write produces a valid checksum;
//! - segments after the last one with a header: all zeros are unused (the first is kept as the
//!   spare, the others deleted); garbage there was cut with the tail.
//!
//! Nothing here trusts a length it reads: every length is checked against the file's size and
//! `PAYLOAD_BYTES_MAX` before a byte is read or allocated, so no input can panic, hang, or
//! allocate more than the largest record.

use std::path::{Path, PathBuf};

use in_mem_core_types::Version;

use super::format::{
    FRAME_HEADER_BYTES, FRAME_PREFIX_BYTES, HEADER_BYTES, HeaderRead, PAYLOAD_BYTES_MAX,
    SegmentHeader, VERSION_BYTES, frame_crc, u32_at, u64_at,
};
use super::reader::WindowReader;
use super::record::{CommitRecord, decode_body};
use super::segment::{self, EntryName, Segment};
use super::{ReplayRejected, TailState};
use crate::error::{CorruptionKind, Error, Result};
use crate::vfs::{OpenMode, Vfs, write_zeros};

/// The smallest possible frame: prefix, a one-byte timestamp, the run id, a zero write count.
/// Bounds how many versions can follow a damaged spot, for the scan that looks for them.
const FRAME_BYTES_MIN: u64 = (FRAME_PREFIX_BYTES + 1 + 16 + 1) as u64;

/// Smallest segment that recovery adopts as the spare rather than deleting it.
const SPARE_BYTES_MIN: u64 = 4096;

/// Where appends resume: a segment with a header and its clean end.
pub(crate) struct ActiveSegment {
    pub(crate) segment: Segment,
    pub(crate) offset: u64,
    pub(crate) capacity: u64,
}

/// An unused, all-zero segment ready to become active.
pub(crate) struct SpareSegment {
    pub(crate) segment: Segment,
    pub(crate) capacity: u64,
}

/// What recovery leaves for the writer.
pub(crate) struct Recovered {
    pub(crate) active: Option<ActiveSegment>,
    pub(crate) spare: Option<SpareSegment>,
    pub(crate) next_sequence: u64,
    pub(crate) last_version: Version,
    pub(crate) records_replayed: u64,
    pub(crate) tail: TailState,
}

type Replay<'r> = dyn FnMut(CommitRecord) -> std::result::Result<(), ReplayRejected> + 'r;

/// Recovers the log in `dir`, calling `replay` for every record above `after`, reading
/// `chunk` bytes per system call.
pub(crate) fn recover(
    vfs: &dyn Vfs,
    dir: &Path,
    after: Version,
    replay: &mut Replay<'_>,
    chunk: usize,
) -> Result<Recovered> {
    let segments = list_segments(vfs, dir)?;
    let mut scan = Scan {
        after,
        prev: None,
        replayed: 0,
        replay,
        chunk,
    };
    // Every segment with a header: index, clean end (or cut), records.
    let mut live: Vec<(usize, u64, u64)> = Vec::new();
    let mut first_unused: Option<usize> = None;
    let mut tail = TailState::Clean;
    for i in 0..segments.len() {
        match scan.segment(&segments[i])? {
            Outcome::Live { end, records } => {
                if let Some(u) = first_unused {
                    return Err(corruption(&segments[u], 0, CorruptionKind::MissingHeader));
                }
                live.push((i, end, records));
            }
            Outcome::Unused => {
                // Only unused segments and garbage may follow an unused segment: a valid
                // header or frame after it means its content was lost.
                if first_unused.is_none() {
                    let len = segments[i].len;
                    if i + 1 < segments.len() && scan.valid_after(&segments, i, len)?.is_some() {
                        return Err(corruption(&segments[i], 0, CorruptionKind::MissingHeader));
                    }
                    first_unused = Some(i);
                }
            }
            Outcome::Damaged {
                offset,
                kind,
                records,
            } => {
                // A valid header after an unused segment: that segment lost its content.
                if let Some(u) = first_unused
                    && offset >= HEADER_BYTES as u64
                {
                    return Err(corruption(&segments[u], 0, CorruptionKind::MissingHeader));
                }
                if let Some(found) = scan.valid_after(&segments, i, offset)? {
                    tracing::debug!(
                        file = %segments[found.0].path.display(),
                        offset = found.1,
                        "valid log data after damage"
                    );
                    return Err(corruption(&segments[i], offset, kind));
                }
                let bytes = cut(&segments, i, offset, chunk)?;
                tracing::warn!(
                    file = %segments[i].path.display(),
                    offset,
                    bytes,
                    reason = %kind,
                    "cut the torn tail of the write-ahead log"
                );
                tail = TailState::Cut {
                    file: segments[i].path.clone(),
                    offset,
                    bytes,
                    reason: kind.to_string(),
                };
                if offset >= HEADER_BYTES as u64 {
                    live.push((i, offset, records));
                }
                break;
            }
        }
    }
    let recovered = finish(vfs, dir, segments, live, &scan, chunk)?;
    tracing::info!(
        records = scan.replayed,
        last_version = %recovered.last_version,
        "write-ahead log recovered"
    );
    Ok(Recovered { tail, ..recovered })
}

/// A segment file found in the log directory, opened for reading and writing.
struct Found {
    sequence: u64,
    path: PathBuf,
    len: u64,
    segment: Segment,
}

/// Lists segments in sequence order, deleting leftover temporary files and refusing gaps.
fn list_segments(vfs: &dyn Vfs, dir: &Path) -> Result<Vec<Found>> {
    let names = vfs
        .read_dir(dir)
        .map_err(|e| Error::io("list the log directory", dir, e))?;
    let mut sequences = Vec::new();
    let mut removed = false;
    for name in names {
        match segment::classify(&name) {
            EntryName::Segment(sequence) => sequences.push(sequence),
            EntryName::Temp => {
                let path = dir.join(&name);
                vfs.remove_file(&path)
                    .map_err(|e| Error::io("remove temporary segment", path, e))?;
                removed = true;
            }
            EntryName::Other => {
                tracing::warn!(name = ?name, "ignoring an unknown file in the log directory");
            }
        }
    }
    if removed {
        vfs.sync_dir(dir)
            .map_err(|e| Error::io("sync directory", dir, e))?;
    }
    sequences.sort_unstable();
    let mut found: Vec<Found> = Vec::with_capacity(sequences.len());
    for sequence in sequences {
        let path = dir.join(segment::segment_file_name(sequence));
        if let Some(prev) = found.last()
            && prev.sequence.checked_add(1) != Some(sequence)
        {
            return Err(Error::Corruption {
                file: path,
                offset: 0,
                kind: CorruptionKind::MissingSegment {
                    expected: prev.sequence + 1,
                },
            });
        }
        let file = vfs
            .open(&path, OpenMode::ReadWrite)
            .map_err(|e| Error::io("open segment", &path, e))?;
        let len = file
            .len()
            .map_err(|e| Error::io("read the length of", &path, e))?;
        found.push(Found {
            sequence,
            path: path.clone(),
            len,
            segment: Segment {
                sequence,
                path,
                file,
            },
        });
    }
    Ok(found)
}

/// What one segment holds.
enum Outcome {
    /// A valid header, records, and the clean end at `end`.
    Live { end: u64, records: u64 },
    /// All zeros: never became active.
    Unused,
    /// Damage that a torn write can explain, at `offset`, after `records` good records.
    Damaged {
        offset: u64,
        kind: CorruptionKind,
        records: u64,
    },
}

/// What one frame position holds.
enum Frame {
    /// A record, replayed; `len` bytes of frame.
    Record { len: u64 },
    /// The clean end of the segment.
    End,
    /// Damage that a torn write can explain.
    Damaged(CorruptionKind),
}

struct Scan<'s, 'r> {
    after: Version,
    /// The last version seen (replayed or skipped).
    prev: Option<Version>,
    replayed: u64,
    replay: &'s mut Replay<'r>,
    chunk: usize,
}

impl Scan<'_, '_> {
    /// Reads one segment, replaying its records.
    fn segment(&mut self, found: &Found) -> Result<Outcome> {
        let io = |e| Error::io("read segment", &found.path, e);
        let len = found.len;
        let mut reader = WindowReader::new(&*found.segment.file, len, self.chunk);
        if len < HEADER_BYTES as u64 {
            return Ok(match reader.first_nonzero(0).map_err(io)? {
                None => Outcome::Unused,
                Some(_) => Outcome::Damaged {
                    offset: 0,
                    kind: CorruptionKind::TruncatedHeader,
                    records: 0,
                },
            });
        }
        let mut header_bytes = [0u8; HEADER_BYTES];
        header_bytes.copy_from_slice(reader.get(0, HEADER_BYTES).map_err(io)?);
        let header = match SegmentHeader::decode(&header_bytes) {
            HeaderRead::Zero => {
                return Ok(match reader.first_nonzero(0).map_err(io)? {
                    None => Outcome::Unused,
                    Some(_) => Outcome::Damaged {
                        offset: 0,
                        kind: CorruptionKind::MissingHeader,
                        records: 0,
                    },
                });
            }
            HeaderRead::Bad { kind, torn: true } => {
                return Ok(Outcome::Damaged {
                    offset: 0,
                    kind,
                    records: 0,
                });
            }
            HeaderRead::Bad { kind, torn: false } => return Err(corruption(found, 0, kind)),
            HeaderRead::Valid(header) => header,
        };
        if header.sequence != found.sequence {
            let kind = CorruptionKind::SequenceMismatch {
                expected: found.sequence,
                found: header.sequence,
            };
            return Err(corruption(found, 0, kind));
        }
        if let Err(expected) = check_version(self.prev, header.first_version, self.after) {
            let kind = CorruptionKind::VersionGap {
                expected,
                found: header.first_version,
            };
            return Err(corruption(found, 0, kind));
        }
        let mut pos = HEADER_BYTES as u64;
        let mut records = 0u64;
        loop {
            match self.frame(found, &mut reader, pos, header.first_version, records)? {
                Frame::Record { len } => {
                    records += 1;
                    pos += len;
                }
                Frame::End => return Ok(Outcome::Live { end: pos, records }),
                Frame::Damaged(kind) => {
                    return Ok(Outcome::Damaged {
                        offset: pos,
                        kind,
                        records,
                    });
                }
            }
        }
    }

    /// Reads the frame at `pos` and replays its record. `first_version` is the segment
    /// header's, which the segment's first record (`records == 0`) must carry.
    fn frame(
        &mut self,
        found: &Found,
        reader: &mut WindowReader<'_>,
        pos: u64,
        first_version: Version,
        records: u64,
    ) -> Result<Frame> {
        let io = |e| Error::io("read segment", &found.path, e);
        let len = reader.file_len();
        if pos + FRAME_HEADER_BYTES as u64 > len {
            return Ok(match reader.first_nonzero(pos).map_err(io)? {
                None => Frame::End,
                Some(_) => Frame::Damaged(CorruptionKind::TruncatedFrame),
            });
        }
        let head = reader.get(pos, FRAME_HEADER_BYTES).map_err(io)?;
        let (len_field, crc) = (u32_at(head, 0), u32_at(head, 4));
        if len_field == 0 && crc == 0 {
            return Ok(match reader.first_nonzero(pos).map_err(io)? {
                None => Frame::End,
                Some(_) => Frame::Damaged(CorruptionKind::DataAfterEnd),
            });
        }
        let payload_len = len_field as usize;
        let frame_len = (FRAME_HEADER_BYTES + payload_len) as u64;
        if !(VERSION_BYTES..=PAYLOAD_BYTES_MAX).contains(&payload_len) || pos + frame_len > len {
            return Ok(Frame::Damaged(CorruptionKind::BadLength {
                len: u64::from(len_field),
            }));
        }
        let frame = reader
            .get(pos, FRAME_HEADER_BYTES + payload_len)
            .map_err(io)?;
        if frame_crc(&frame[0..4], &frame[FRAME_HEADER_BYTES..]) != crc {
            return Ok(Frame::Damaged(CorruptionKind::BadRecordChecksum));
        }
        let version = Version::new(u64_at(frame, FRAME_HEADER_BYTES));
        let expected = if records == 0 && version != first_version {
            Err(first_version)
        } else {
            check_version(self.prev, version, self.after)
        };
        if let Err(expected) = expected {
            let kind = CorruptionKind::VersionGap {
                expected,
                found: version,
            };
            return Err(corruption(found, pos, kind));
        }
        let record = match decode_body(version, &frame[FRAME_PREFIX_BYTES..]) {
            Ok(record) => record,
            Err(reason) => return Ok(Frame::Damaged(CorruptionKind::UndecodableBody { reason })),
        };
        if version > self.after {
            (self.replay)(record).map_err(|ReplayRejected(reason)| {
                corruption(found, pos, CorruptionKind::RecordRejected(reason))
            })?;
            self.replayed += 1;
        }
        self.prev = Some(version);
        Ok(Frame::Record { len: frame_len })
    }

    /// The first valid header or frame after damage at `offset` of segment `i`, if any.
    fn valid_after(
        &self,
        segments: &[Found],
        i: usize,
        offset: u64,
    ) -> Result<Option<(usize, u64)>> {
        // A frame of this log that follows the damage carries a later version, and at most one
        // version per smallest frame in the bytes that remain: a tight filter that garbage
        // passes about once in 2^40 positions, so the checksum is rarely computed in vain.
        let remaining = segments[i..]
            .iter()
            .map(|s| s.len)
            .fold(0u64, u64::saturating_add)
            .saturating_sub(offset);
        let lo = self.prev.map_or(0, |v| v.get().saturating_add(1));
        let hi = self
            .prev
            .map_or(0, Version::get)
            .max(self.after.get())
            .saturating_add(1)
            .saturating_add(remaining / FRAME_BYTES_MIN);
        for (j, found) in segments.iter().enumerate().skip(i) {
            let io = |e| Error::io("read segment", &found.path, e);
            let mut reader = WindowReader::new(&*found.segment.file, found.len, self.chunk);
            let from = if j == i {
                offset + 1
            } else {
                if found.len >= HEADER_BYTES as u64 {
                    let mut header = [0u8; HEADER_BYTES];
                    header.copy_from_slice(reader.get(0, HEADER_BYTES).map_err(io)?);
                    if matches!(
                        SegmentHeader::decode(&header),
                        HeaderRead::Valid(_) | HeaderRead::Bad { torn: false, .. }
                    ) {
                        return Ok(Some((j, 0)));
                    }
                }
                0
            };
            if let Some(at) = find_frame(&mut reader, from, lo, hi, self.chunk).map_err(io)? {
                return Ok(Some((j, at)));
            }
        }
        Ok(None)
    }
}

/// The first offset at or after `from` holding a frame with a valid checksum and a version in
/// `lo..=hi`.
fn find_frame(
    reader: &mut WindowReader<'_>,
    from: u64,
    lo: u64,
    hi: u64,
    chunk: usize,
) -> std::io::Result<Option<u64>> {
    let len = reader.file_len();
    let probe = FRAME_PREFIX_BYTES;
    let mut at = from;
    let mut candidates = Vec::new();
    while at + probe as u64 <= len {
        let window = reader.window(at, chunk + probe - 1)?;
        let positions = window.len() + 1 - probe;
        for k in 0..positions {
            let head = &window[k..k + probe];
            let payload_len = u32_at(head, 0) as usize;
            if !(VERSION_BYTES..=PAYLOAD_BYTES_MAX).contains(&payload_len) {
                continue;
            }
            let p = at + k as u64;
            if p + (FRAME_HEADER_BYTES + payload_len) as u64 > len {
                continue;
            }
            let version = u64_at(head, FRAME_HEADER_BYTES);
            if (lo..=hi).contains(&version) {
                candidates.push((p, payload_len, u32_at(head, 4)));
            }
        }
        for (p, payload_len, crc) in candidates.drain(..) {
            let frame = reader.get(p, FRAME_HEADER_BYTES + payload_len)?;
            if frame_crc(&frame[0..4], &frame[FRAME_HEADER_BYTES..]) == crc {
                return Ok(Some(p));
            }
        }
        at += positions as u64;
    }
    Ok(None)
}

/// Cuts the torn tail that starts at `offset` of segment `i`: zeros over its non-zero bytes,
/// synced. Later segments hold nothing valid; their non-zero bytes are counted here and the
/// files are deleted by [`finish`]. Returns the number of bytes discarded.
fn cut(segments: &[Found], i: usize, offset: u64, chunk: usize) -> Result<u64> {
    let found = &segments[i];
    let file = &*found.segment.file;
    let end = WindowReader::new(file, found.len, chunk)
        .nonzero_end(offset)
        .map_err(|e| Error::io("read segment", &found.path, e))?;
    write_zeros(file, offset, end)
        .and_then(|()| file.sync_data())
        .map_err(|e| Error::io("cut the torn tail of", &found.path, e))?;
    let mut bytes = end - offset;
    for later in &segments[i + 1..] {
        bytes += WindowReader::new(&*later.segment.file, later.len, chunk)
            .nonzero_end(0)
            .map_err(|e| Error::io("read segment", &later.path, e))?;
    }
    Ok(bytes)
}

/// Settles the files after the scan: an empty last segment is zeroed, the first all-zero
/// trailing segment is kept as the spare, other trailing segments are deleted, and every
/// segment kept is synced so that what was recovered stays durable.
fn finish(
    vfs: &dyn Vfs,
    dir: &Path,
    segments: Vec<Found>,
    mut live: Vec<(usize, u64, u64)>,
    scan: &Scan<'_, '_>,
    chunk: usize,
) -> Result<Recovered> {
    let first_sequence = segments.first().map(|s| s.sequence);
    // Trailing segments with a header but no record hold nothing, and their header may name a
    // first version the next append will not have (a checkpoint can be ahead of the log):
    // clear them, which makes them unused.
    while let Some(&(i, _, 0)) = live.last() {
        let found = &segments[i];
        write_zeros(&*found.segment.file, 0, HEADER_BYTES as u64)
            .and_then(|()| found.segment.file.sync_data())
            .map_err(|e| Error::io("clear the header of", &found.path, e))?;
        live.pop();
    }
    let last_live = live.last().copied();
    let live_count = last_live.map_or(0, |(i, ..)| i + 1);
    let mut active = None;
    let mut spare = None;
    let mut deleted = false;
    for (i, found) in segments.into_iter().enumerate() {
        if i < live_count {
            found
                .segment
                .file
                .sync_data()
                .map_err(|e| Error::io("sync segment", &found.path, e))?;
            if let Some((last, end, _)) = last_live
                && i == last
            {
                active = Some(ActiveSegment {
                    capacity: found.len,
                    offset: end,
                    segment: found.segment,
                });
            }
            continue;
        }
        let zero = WindowReader::new(&*found.segment.file, found.len, chunk)
            .first_nonzero(0)
            .map_err(|e| Error::io("read segment", &found.path, e))?
            .is_none();
        if i == live_count && zero && found.len >= SPARE_BYTES_MIN {
            spare = Some(SpareSegment {
                capacity: found.len,
                segment: found.segment,
            });
        } else {
            vfs.remove_file(&found.path)
                .map_err(|e| Error::io("remove unused segment", &found.path, e))?;
            deleted = true;
        }
    }
    if deleted {
        vfs.sync_dir(dir)
            .map_err(|e| Error::io("sync directory", dir, e))?;
    }
    let next_sequence = match (&spare, &active) {
        (Some(s), _) => s.segment.sequence + 1,
        (None, Some(a)) => a.segment.sequence + 1,
        (None, None) => first_sequence.unwrap_or(1),
    };
    Ok(Recovered {
        active,
        spare,
        next_sequence,
        last_version: scan.prev.map_or(scan.after, |v| v.max(scan.after)),
        records_replayed: scan.replayed,
        tail: TailState::Clean,
    })
}

/// Checks that a record (or segment) with version `found` may follow `prev` given the
/// checkpoint at `after`. Records at or below `after` only have to move forward (the
/// checkpoint covers any gap among them); above it they are contiguous, starting at
/// `after + 1` at the latest. The error is the version expected.
fn check_version(
    prev: Option<Version>,
    found: Version,
    after: Version,
) -> std::result::Result<(), Version> {
    if found <= after {
        return match prev {
            Some(p) if found <= p => Err(p.next()),
            _ => Ok(()),
        };
    }
    let expected = match prev {
        Some(p) if p >= after => p.next(),
        _ => after.next(),
    };
    if found == expected {
        Ok(())
    } else {
        Err(expected)
    }
}

fn corruption(found: &Found, offset: u64, kind: CorruptionKind) -> Error {
    Error::Corruption {
        file: found.path.clone(),
        offset,
        kind,
    }
}

#[cfg(test)]
mod tests;
