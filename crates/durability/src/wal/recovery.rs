//! Recovery: reads every segment in order, replays records, cuts what a crash can leave at the
//! end of the log, and refuses anything else (see `docs/FORMAT.md` and `docs/RECOVERY.md`).
//!
//! The scan replays records until the log stops being a valid continuation: the *stop*. What
//! follows it decides what the stop is:
//! - nothing but zeros: the clean end of the log;
//! - a **soft** stop (a bad checksum, an impossible length, a torn frame or header, an
//!   undecodable body, non-zero bytes after the clean end, an all-zero segment or a segment
//!   whose header continues the log with a version gap after a clean end) is what a power loss
//!   can leave: the last writes torn, and unsynced writes persisted out of order (a later one
//!   on disk, an earlier one not). It is a **tail to cut** unless a valid frame after it was
//!   appended once the stop's record was already durable: every frame records the highest
//!   version a completed fdatasync covered when it was appended, and a frame claiming the
//!   stop's version proves that the record there had been synced, so the damage is corruption.
//!   A complete segment header that is wrong (another format, another sequence) or a gap in
//!   sequence numbers after the stop is corruption too: no crash makes one;
//! - a **hard** stop (a gap in segment sequence numbers, a complete header that is wrong, a
//!   version that does not continue the log inside a segment) is corruption wherever it is,
//!   since no torn or lost write produces it.
//!
//! Corruption is refused with its file, offset and reason (`RecoveryMode::Refuse`, the
//! default) or, with `RecoveryMode::Salvage`, cut like a tail and reported. A cut overwrites the
//! stop's segment with zeros from the stop (synced), then deletes later segments that hold
//! anything, newest first with a directory sync after each, so that a crash during recovery
//! leaves a state the next recovery cuts the same way (never a gap in sequence numbers).
//!
//! Nothing here trusts a length it reads: every length is checked against the file's size and
//! `PAYLOAD_BYTES_MAX` before a byte is read or allocated, so no input can panic, hang, or
//! allocate more than the largest record.

use std::path::{Path, PathBuf};

use in_mem_core_types::Version;

use super::format::{
    FORMAT_VERSION, FRAME_HEADER_BYTES, HEADER_BYTES, HeaderRead, PAYLOAD_BYTES_MIN, SegmentHeader,
    VERSION_BYTES, read_lag,
};
use super::frame::{self, LOG_PAYLOAD, Parsed};
use super::reader::WindowReader;
use super::record::{CommitRecord, decode_body};
use super::segment::{self, EntryName, Segment};
use super::{RecoveryMode, ReplayRejected, Salvaged, TailState};
use crate::dir::DirInner;
use crate::error::{CorruptionKind, Error, Result};
use crate::identity::{GenerationStart, Stamp};
use crate::vfs::{OpenMode, Vfs, write_zeros};

/// The smallest possible frame: length, checksum, version, a one-byte lag, and a body of a
/// one-byte timestamp, the run id and a zero write count. Bounds how many versions can follow a
/// damaged spot, for the scan that looks for them.
const FRAME_BYTES_MIN: u64 = (FRAME_HEADER_BYTES + PAYLOAD_BYTES_MIN + 1 + 16 + 1) as u64;

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

/// What recovery leaves for the writer, and what it did.
pub(crate) struct Recovered {
    /// The database and log generation of the segments the writer creates.
    pub(crate) stamp: Stamp,
    pub(crate) active: Option<ActiveSegment>,
    pub(crate) spare: Option<SpareSegment>,
    pub(crate) next_sequence: u64,
    pub(crate) last_version: Version,
    pub(crate) records_replayed: u64,
    pub(crate) tail: TailState,
    /// Valid records found after the stop and cut with it.
    pub(crate) records_dropped: u64,
    /// The newest version among them.
    pub(crate) newest_dropped: Option<Version>,
    /// Set when salvage cut damage that the default mode refuses.
    pub(crate) salvaged: Option<Salvaged>,
}

pub(crate) type Replay<'r> =
    dyn FnMut(CommitRecord) -> std::result::Result<(), ReplayRejected> + 'r;

/// A segment with a header and the records before its clean end (or its cut).
#[derive(Debug, Clone, Copy)]
struct Live {
    index: usize,
    end: u64,
    records: u64,
    /// The log generation its header names.
    generation: u64,
}

/// What [`recover`] found, and where a new generation of the log must begin if it removed
/// anything from the log.
pub(crate) struct Recovery {
    pub(crate) recovered: Recovered,
    pub(crate) new_generation: Option<GenerationStart>,
}

/// Where the log stops being a valid continuation, and why.
#[derive(Debug, Clone)]
struct Stop {
    segment: usize,
    offset: u64,
    kind: CorruptionKind,
    /// True if no crash can produce it (see the module docs).
    hard: bool,
    /// Records of the segment before the stop.
    records: u64,
    /// The log generation of the stop's segment (0 if its header is not valid).
    generation: u64,
}

/// Recovers the log of the data directory `data`, calling `replay` for every record above
/// `after`, reading `chunk` bytes per system call. The log was screened against the
/// database's identity; `set_aside` says that files were set aside from it.
///
/// Appends continue in the last segment only if it belongs to the current generation and
/// nothing was removed from the log: otherwise the next record starts a new segment, so that
/// a segment never holds records of two generations.
pub(crate) fn recover(
    data: &DirInner,
    after: Version,
    replay: &mut Replay<'_>,
    chunk: usize,
    mode: RecoveryMode,
    set_aside: bool,
) -> Result<Recovery> {
    let (vfs, dir) = (&*data.vfs, data.wal_path.as_path());
    let identity = data.identity();
    let (segments, gap) = list_segments(vfs, dir)?;
    let mut scan = Scan {
        after,
        prev: None,
        replayed: 0,
        replay,
        chunk,
    };
    let (mut live, stop) = scan.log(&segments, gap)?;
    let mut recovered = Recovered {
        stamp: identity.stamp(),
        active: None,
        spare: None,
        next_sequence: 1,
        last_version: Version::ZERO,
        records_replayed: 0,
        tail: TailState::Clean,
        records_dropped: 0,
        newest_dropped: None,
        salvaged: None,
    };
    if let Some(stop) = stop {
        settle_stop(&scan, &segments, &stop, mode, &mut recovered)?;
        if stop.offset >= HEADER_BYTES as u64 {
            live.push(Live {
                index: stop.segment,
                end: stop.offset,
                records: stop.records,
                generation: stop.generation,
            });
        }
    }
    let changed = set_aside || matches!(recovered.tail, TailState::Cut { .. });
    let generation = if changed { 0 } else { identity.current() };
    let next_segment = finish(vfs, dir, segments, live, chunk, generation, &mut recovered)?;
    recovered.last_version = scan.prev.map_or(scan.after, |v| v.max(scan.after));
    recovered.records_replayed = scan.replayed;
    tracing::info!(
        records = scan.replayed,
        last_version = %recovered.last_version,
        "write-ahead log recovered"
    );
    let new_generation = changed.then(|| GenerationStart {
        version: recovered.last_version.next(),
        sequence: next_segment,
    });
    Ok(Recovery {
        recovered,
        new_generation,
    })
}

/// Decides what the stop is (see the module docs): corruption is refused (returned as the
/// error) unless salvaging; a tail, or salvaged corruption, is cut and reported in
/// `recovered`.
fn settle_stop(
    scan: &Scan<'_, '_>,
    segments: &[Found],
    stop: &Stop,
    mode: RecoveryMode,
    recovered: &mut Recovered,
) -> Result<()> {
    let expected = scan.expected_next();
    let evidence = scan.evidence_after(segments, stop.segment, stop.offset)?;
    let refused = if let Some((j, kind)) = &evidence.foreign {
        Some((*j, 0, kind.clone()))
    } else if stop.hard || evidence.durable.is_some_and(|d| d >= expected) {
        Some((stop.segment, stop.offset, stop.kind.clone()))
    } else {
        None
    };
    if let Some((j, offset, kind)) = &refused {
        tracing::debug!(
            stop = %segments[stop.segment].path.display(),
            stop_offset = stop.offset,
            hard = stop.hard,
            durable_claim = ?evidence.durable,
            expected = %expected,
            "log damage is not a torn or unsynced tail"
        );
        // A segment of a newer format is data this build cannot read, not damage: salvage
        // must not destroy it.
        let newer = matches!(kind, CorruptionKind::UnsupportedFormatVersion { .. });
        if mode == RecoveryMode::Refuse || newer {
            return Err(corruption(&segments[*j], *offset, kind.clone()));
        }
    }
    let bytes = cut(segments, stop, scan.chunk)?;
    let found = &segments[stop.segment];
    if refused.is_some() {
        tracing::error!(
            file = %found.path.display(),
            offset = stop.offset,
            bytes,
            records_dropped = evidence.frames,
            reason = %stop.kind,
            "salvage cut damaged data from the write-ahead log"
        );
    } else {
        tracing::warn!(
            file = %found.path.display(),
            offset = stop.offset,
            bytes,
            records_dropped = evidence.frames,
            reason = %stop.kind,
            "cut the torn or unsynced tail of the write-ahead log"
        );
    }
    recovered.tail = TailState::Cut {
        file: found.path.clone(),
        offset: stop.offset,
        bytes,
        reason: stop.kind.to_string(),
    };
    recovered.records_dropped = evidence.frames;
    recovered.newest_dropped = evidence.newest;
    recovered.salvaged = refused.map(|(j, offset, kind)| Salvaged {
        file: segments[j].path.clone(),
        offset,
        kind,
        first_lost: expected,
    });
    Ok(())
}

/// A segment file found in the log directory, opened for reading and writing.
struct Found {
    sequence: u64,
    path: PathBuf,
    len: u64,
    segment: Segment,
}

/// Lists segments in sequence order, deleting leftover temporary files. Also returns the index
/// of the first segment after a gap in sequence numbers, if any.
fn list_segments(vfs: &dyn Vfs, dir: &Path) -> Result<(Vec<Found>, Option<usize>)> {
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
    let mut gap = None;
    for sequence in sequences {
        let path = dir.join(segment::segment_file_name(sequence));
        if let Some(prev) = found.last()
            && prev.sequence.checked_add(1) != Some(sequence)
            && gap.is_none()
        {
            gap = Some(found.len());
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
    Ok((found, gap))
}

/// What one segment holds.
enum Outcome {
    /// A valid header (of log generation `generation`), records, and the clean end at `end`.
    Live {
        end: u64,
        records: u64,
        generation: u64,
    },
    /// All zeros: never became active.
    Unused,
    /// The log stops in this segment (its `segment` field is filled in by the caller).
    Stop(Stop),
}

/// What one frame position holds.
enum Frame {
    /// A record, replayed; `len` bytes of frame.
    Record { len: u64 },
    /// The clean end of the segment.
    End,
    /// The log stops here; `hard` as in [`Stop`].
    Stop { kind: CorruptionKind, hard: bool },
}

/// What lies after a stop.
#[derive(Debug, Default)]
struct Evidence {
    /// Valid frames (checksum right, version after the stop's).
    frames: u64,
    /// The newest version among them.
    newest: Option<Version>,
    /// The highest version they claim a completed fdatasync covered when they were appended.
    durable: Option<Version>,
    /// A complete segment header that no crash can produce, or a gap in sequence numbers:
    /// the segment and what is wrong.
    foreign: Option<(usize, CorruptionKind)>,
}

struct Scan<'s, 'r> {
    after: Version,
    /// The last version seen (replayed or skipped).
    prev: Option<Version>,
    replayed: u64,
    replay: &'s mut Replay<'r>,
    chunk: usize,
}

/// A stop at the header of a segment (offset 0: nothing of the segment is kept).
fn header_stop(kind: CorruptionKind, hard: bool) -> Outcome {
    Outcome::Stop(Stop {
        segment: 0,
        offset: 0,
        kind,
        hard,
        records: 0,
        generation: 0,
    })
}

impl Scan<'_, '_> {
    /// Reads segments in order, replaying records, until the end of the log or the stop.
    /// Returns the segments with a header read up to their clean end, and the stop, if any.
    fn log(&mut self, segments: &[Found], gap: Option<usize>) -> Result<(Vec<Live>, Option<Stop>)> {
        let mut live: Vec<Live> = Vec::new();
        for (i, found) in segments.iter().enumerate() {
            if gap == Some(i) {
                let expected = segments[i - 1].sequence + 1;
                let stop = Stop {
                    segment: i,
                    offset: 0,
                    kind: CorruptionKind::MissingSegment { expected },
                    hard: true,
                    records: 0,
                    generation: 0,
                };
                return Ok((live, Some(stop)));
            }
            match self.segment(found, !live.is_empty())? {
                Outcome::Live {
                    end,
                    records,
                    generation,
                } => live.push(Live {
                    index: i,
                    end,
                    records,
                    generation,
                }),
                Outcome::Unused => {
                    // The log ends here, cleanly if nothing but zeros follows.
                    let stop = any_nonzero(&segments[i + 1..], self.chunk)?.then_some(Stop {
                        segment: i,
                        offset: 0,
                        kind: CorruptionKind::MissingHeader,
                        hard: false,
                        records: 0,
                        generation: 0,
                    });
                    return Ok((live, stop));
                }
                Outcome::Stop(s) => return Ok((live, Some(Stop { segment: i, ..s }))),
            }
        }
        Ok((live, None))
    }

    /// The version the next record must have.
    fn expected_next(&self) -> Version {
        match self.prev {
            Some(p) if p >= self.after => p.next(),
            _ => self.after.next(),
        }
    }

    /// Reads one segment, replaying its records. `after_live` is true when an earlier segment
    /// held a header: then a header whose first version skips ahead may follow a tail that
    /// was lost, and is a soft stop.
    fn segment(&mut self, found: &Found, after_live: bool) -> Result<Outcome> {
        let io = |e| Error::io("read segment", &found.path, e);
        let len = found.len;
        let mut reader = WindowReader::new(&*found.segment.file, len, self.chunk);
        if len < HEADER_BYTES as u64 {
            return Ok(match reader.first_nonzero(0).map_err(io)? {
                None => Outcome::Unused,
                Some(_) => header_stop(CorruptionKind::TruncatedHeader, false),
            });
        }
        let mut header_bytes = [0u8; HEADER_BYTES];
        header_bytes.copy_from_slice(reader.get(0, HEADER_BYTES).map_err(io)?);
        let header = match SegmentHeader::decode(&header_bytes) {
            HeaderRead::Zero => {
                return Ok(match reader.first_nonzero(0).map_err(io)? {
                    None => Outcome::Unused,
                    Some(_) => header_stop(CorruptionKind::MissingHeader, false),
                });
            }
            HeaderRead::Bad { kind, torn } => return Ok(header_stop(kind, !torn)),
            // Screening refused or set aside every complete header of another format; one
            // that appeared since is refused all the same.
            HeaderRead::OtherFormat { found } => {
                let kind = CorruptionKind::UnsupportedFormatVersion {
                    found,
                    supported: FORMAT_VERSION,
                };
                return Ok(header_stop(kind, true));
            }
            HeaderRead::Valid(header) => header,
        };
        if header.sequence != found.sequence {
            let kind = CorruptionKind::SequenceMismatch {
                expected: found.sequence,
                found: header.sequence,
            };
            return Ok(header_stop(kind, true));
        }
        if let Err(expected) = check_version(self.prev, header.first_version, self.after) {
            let kind = CorruptionKind::VersionGap {
                expected,
                found: header.first_version,
            };
            // A lost tail of the segment before can explain a first version that skips
            // ahead, but not a first record that disagrees with its own header (both are
            // written by one write).
            let lost_tail = after_live
                && header.first_version > expected
                && !first_frame_disagrees(&mut reader, header.first_version).map_err(io)?;
            return Ok(header_stop(kind, !lost_tail));
        }
        let mut pos = HEADER_BYTES as u64;
        let mut records = 0u64;
        let generation = header.stamp.generation;
        loop {
            match self.frame(found, &mut reader, pos, header.first_version, records)? {
                Frame::Record { len } => {
                    records += 1;
                    pos += len;
                }
                Frame::End => {
                    return Ok(Outcome::Live {
                        end: pos,
                        records,
                        generation,
                    });
                }
                Frame::Stop { kind, hard } => {
                    return Ok(Outcome::Stop(Stop {
                        segment: 0,
                        offset: pos,
                        kind,
                        hard,
                        records,
                        generation,
                    }));
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
        let soft = |kind| Frame::Stop { kind, hard: false };
        let (payload, frame_len) = match frame::read(reader, pos, LOG_PAYLOAD).map_err(io)? {
            Parsed::Frame { payload, len } => (payload, len),
            Parsed::Short => {
                return Ok(match reader.first_nonzero(pos).map_err(io)? {
                    None => Frame::End,
                    Some(_) => soft(CorruptionKind::TruncatedFrame),
                });
            }
            Parsed::Zero => {
                return Ok(match reader.first_nonzero(pos).map_err(io)? {
                    None => Frame::End,
                    Some(_) => soft(CorruptionKind::DataAfterEnd),
                });
            }
            Parsed::BadLength { len } => {
                return Ok(soft(CorruptionKind::BadLength {
                    len: u64::from(len),
                }));
            }
            Parsed::BadChecksum => return Ok(soft(CorruptionKind::BadRecordChecksum)),
        };
        let Some(version) = frame::log_version(payload) else {
            return Ok(soft(CorruptionKind::BadLength {
                len: payload.len() as u64,
            }));
        };
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
            return Ok(Frame::Stop { kind, hard: true });
        }
        let rest = frame::log_rest(payload);
        let Some((_durable, lag_len)) = read_lag(version, rest) else {
            return Ok(soft(CorruptionKind::UndecodableBody {
                reason: "the durable version field is malformed".to_owned(),
            }));
        };
        // A record at or below `after` is covered by a checkpoint: its frame's checksum is
        // checked (above) but its body is not decoded, which was a third of the time of an open
        // from a checkpoint.
        if version > self.after {
            let record = match decode_body(version, rest.get(lag_len..).unwrap_or_default()) {
                Ok(record) => record,
                Err(reason) => return Ok(soft(CorruptionKind::UndecodableBody { reason })),
            };
            (self.replay)(record).map_err(|rejected| {
                corruption(found, pos, CorruptionKind::RecordRejected(rejected))
            })?;
            self.replayed += 1;
        }
        self.prev = Some(version);
        Ok(Frame::Record { len: frame_len })
    }

    /// Everything after the stop at `offset` of segment `i`: valid frames (and what they claim
    /// was durable), and complete headers or sequence gaps that no crash can produce.
    fn evidence_after(&self, segments: &[Found], i: usize, offset: u64) -> Result<Evidence> {
        // A frame of this log that follows the stop carries a later version, and at most one
        // version per smallest frame in the bytes that remain: a tight filter that garbage
        // passes about once in 2^40 positions, so the checksum is rarely computed in vain.
        let remaining = segments[i..]
            .iter()
            .map(|s| s.len)
            .fold(0u64, u64::saturating_add)
            .saturating_sub(offset);
        let lo = self.expected_next().get();
        let hi = lo.saturating_add(remaining / FRAME_BYTES_MIN);
        let mut evidence = Evidence::default();
        for (j, found) in segments.iter().enumerate().skip(i) {
            let io = |e| Error::io("read segment", &found.path, e);
            let mut reader = WindowReader::new(&*found.segment.file, found.len, self.chunk);
            let from = if j == i { offset } else { 0 };
            let expected = segments[j - usize::from(j > i)].sequence + 1;
            if j > i && found.sequence != expected && evidence.foreign.is_none() {
                // A gap in sequence numbers: segments are created in order and deleted newest
                // first, so no crash leaves one.
                evidence.foreign = Some((j, CorruptionKind::MissingSegment { expected }));
            }
            if j > i && found.len >= HEADER_BYTES as u64 && evidence.foreign.is_none() {
                let mut header = [0u8; HEADER_BYTES];
                header.copy_from_slice(reader.get(0, HEADER_BYTES).map_err(io)?);
                match SegmentHeader::decode(&header) {
                    HeaderRead::Bad { kind, torn: false } => evidence.foreign = Some((j, kind)),
                    HeaderRead::Valid(h) if h.sequence != found.sequence => {
                        let kind = CorruptionKind::SequenceMismatch {
                            expected: found.sequence,
                            found: h.sequence,
                        };
                        evidence.foreign = Some((j, kind));
                    }
                    _ => {}
                }
            }
            scan_frames(&mut reader, from, lo, hi, self.chunk, &mut evidence).map_err(io)?;
        }
        Ok(evidence)
    }
}

/// Adds to `evidence` every frame at or after `from` with a valid checksum and a version in
/// `lo..=hi`. After a frame the scan continues at its end (the next frame, if it survived).
fn scan_frames(
    reader: &mut WindowReader<'_>,
    from: u64,
    lo: u64,
    hi: u64,
    chunk: usize,
    evidence: &mut Evidence,
) -> std::io::Result<()> {
    let len = reader.file_len();
    let probe = FRAME_HEADER_BYTES + VERSION_BYTES;
    let mut at = from;
    // Frames are not looked for inside a frame already found.
    let mut skip_until = from;
    let mut candidates = Vec::new();
    while at + probe as u64 <= len {
        let window = reader.window(at, chunk + probe - 1)?;
        let positions = window.len() + 1 - probe;
        for (k, head) in window.windows(probe).enumerate() {
            let Some((payload_len, version)) = frame::peek_log(head) else {
                continue;
            };
            let p = at + k as u64;
            if p + (FRAME_HEADER_BYTES + payload_len) as u64 <= len && (lo..=hi).contains(&version)
            {
                candidates.push(p);
            }
        }
        for p in candidates.drain(..) {
            if p < skip_until {
                continue;
            }
            let Parsed::Frame { payload, len } = frame::read(reader, p, LOG_PAYLOAD)? else {
                continue;
            };
            let Some(version) = frame::log_version(payload) else {
                continue;
            };
            evidence.frames += 1;
            evidence.newest = evidence.newest.max(Some(version));
            if let Some((durable, _)) = read_lag(version, frame::log_rest(payload)) {
                evidence.durable = evidence.durable.max(Some(durable));
            }
            skip_until = p + len;
        }
        at = (at + positions as u64).max(skip_until);
    }
    Ok(())
}

/// True if the segment's first frame (right after its header) is valid but carries a version
/// other than `first_version`.
fn first_frame_disagrees(
    reader: &mut WindowReader<'_>,
    first_version: Version,
) -> std::io::Result<bool> {
    Ok(
        match frame::read(reader, HEADER_BYTES as u64, LOG_PAYLOAD)? {
            Parsed::Frame { payload, .. } => {
                frame::log_version(payload).is_some_and(|v| v != first_version)
            }
            _ => false,
        },
    )
}

/// True if any of `segments` holds a non-zero byte.
fn any_nonzero(segments: &[Found], chunk: usize) -> Result<bool> {
    for found in segments {
        let first = WindowReader::new(&*found.segment.file, found.len, chunk)
            .first_nonzero(0)
            .map_err(|e| Error::io("read segment", &found.path, e))?;
        if first.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Cuts the log at `stop`: zeros over the non-zero bytes of its segment from the stop on,
/// synced (unless the segment follows a gap in sequence numbers: [`finish`] deletes it whole).
/// Later segments are deleted by `finish`. Returns the number of non-zero bytes discarded,
/// in this segment and all later ones.
fn cut(segments: &[Found], stop: &Stop, chunk: usize) -> Result<u64> {
    let found = &segments[stop.segment];
    let file = &*found.segment.file;
    let end = WindowReader::new(file, found.len, chunk)
        .nonzero_end(stop.offset)
        .map_err(|e| Error::io("read segment", &found.path, e))?;
    let after_gap = matches!(stop.kind, CorruptionKind::MissingSegment { .. });
    if end > stop.offset && !after_gap {
        write_zeros(file, stop.offset, end)
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io("cut the tail of", &found.path, e))?;
    }
    let mut bytes = end - stop.offset;
    for later in &segments[stop.segment + 1..] {
        bytes += WindowReader::new(&*later.segment.file, later.len, chunk)
            .nonzero_end(0)
            .map_err(|e| Error::io("read segment", &later.path, e))?;
    }
    Ok(bytes)
}

/// Settles the files after the scan: an empty last segment is zeroed, every segment kept is
/// synced (so that what was recovered stays durable), the first all-zero segment after the
/// live ones is kept as the spare if its sequence continues theirs, and every other segment
/// after them is deleted, newest first, with a directory sync after each: a crash in between
/// leaves a suffix deleted, never a gap.
///
/// Appends continue in the last live segment only if its header names `generation` (0: in
/// none); otherwise the next record starts the segment after it. Returns the sequence of the
/// segment the next new segment will be (the spare's, or the next one's).
fn finish(
    vfs: &dyn Vfs,
    dir: &Path,
    segments: Vec<Found>,
    mut live: Vec<Live>,
    chunk: usize,
    generation: u64,
    recovered: &mut Recovered,
) -> Result<u64> {
    let first_sequence = segments.first().map(|s| s.sequence);
    // Trailing segments with a header but no record hold nothing, and their header may name a
    // first version the next append will not have (a checkpoint can be ahead of the log):
    // clear them, which makes them unused.
    while let Some(&Live {
        index, records: 0, ..
    }) = live.last()
    {
        let found = &segments[index];
        write_zeros(&*found.segment.file, 0, HEADER_BYTES as u64)
            .and_then(|()| found.segment.file.sync_data())
            .map_err(|e| Error::io("clear the header of", &found.path, e))?;
        live.pop();
    }
    let last_live = live.last().copied();
    let live_count = last_live.map_or(0, |l| l.index + 1);
    let spare_sequence = last_live.map(|l| segments[l.index].sequence + 1);
    let mut active = None;
    let mut spare = None;
    let mut doomed = Vec::new();
    for (i, found) in segments.into_iter().enumerate() {
        if i < live_count {
            found
                .segment
                .file
                .sync_data()
                .map_err(|e| Error::io("sync segment", &found.path, e))?;
            if let Some(l) = last_live
                && i == l.index
                && l.generation == generation
            {
                active = Some(ActiveSegment {
                    capacity: found.len,
                    offset: l.end,
                    segment: found.segment,
                });
            }
            continue;
        }
        let candidate = i == live_count
            && found.len >= SPARE_BYTES_MIN
            && spare_sequence.is_none_or(|s| s == found.sequence);
        let zero = candidate
            && WindowReader::new(&*found.segment.file, found.len, chunk)
                .first_nonzero(0)
                .map_err(|e| Error::io("read segment", &found.path, e))?
                .is_none();
        if zero {
            spare = Some(SpareSegment {
                capacity: found.len,
                segment: found.segment,
            });
        } else {
            doomed.push(found.path);
        }
    }
    for path in doomed.iter().rev() {
        vfs.remove_file(path)
            .map_err(|e| Error::io("remove unused segment", path, e))?;
        vfs.sync_dir(dir)
            .map_err(|e| Error::io("sync directory", dir, e))?;
    }
    recovered.next_sequence = match (&spare, &active, last_live) {
        (Some(s), _, _) => s.segment.sequence + 1,
        (None, Some(a), _) => a.segment.sequence + 1,
        (None, None, Some(_)) => spare_sequence.unwrap_or(1),
        (None, None, None) => first_sequence.unwrap_or(1),
    };
    let next_segment = spare
        .as_ref()
        .map_or(recovered.next_sequence, |s| s.segment.sequence);
    recovered.active = active;
    recovered.spare = spare;
    Ok(next_segment)
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
