//! Checking every byte of a data directory without opening it for writing: each segment's
//! header and every record frame (checksum, length, version order, body), the segments'
//! sequence and version continuity, and each checkpoint whole. For `in-mem verify`; recovery
//! applies the same rules, but stops at the first problem and cuts or refuses, where this
//! reports every problem and changes nothing.

use std::path::PathBuf;

use in_mem_core_types::Version;

use crate::checkpoint::{list_checkpoints, read_checkpoint};
use crate::dir::DataDir;
use crate::error::{CorruptionKind, Error, Result};
use crate::vfs::{OpenMode, read_exact_at};
use crate::wal::format::{HEADER_BYTES, HeaderRead, SegmentHeader, read_lag};
use crate::wal::frame::{self, LOG_PAYLOAD, Parsed};
use crate::wal::reader::{READ_CHUNK_BYTES, WindowReader};
use crate::wal::segment::{self, EntryName};

/// A problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: PathBuf,
    pub offset: u64,
    pub kind: CorruptionKind,
    /// True if nothing valid follows it in the log: a torn last record, which a crash in the
    /// middle of an append leaves (or a writer appending right now); recovery cuts it. False
    /// for damage before valid data, which recovery refuses.
    pub tail: bool,
}

/// What [`verify_log`] checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogCheck {
    pub segments: u64,
    pub records: u64,
    pub bytes: u64,
    pub findings: Vec<Finding>,
}

/// What [`verify_checkpoints`] checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointCheck {
    pub checkpoints: u64,
    pub entries: u64,
    pub bytes: u64,
    /// Each damaged checkpoint, with the error reading it gave.
    pub findings: Vec<(PathBuf, String)>,
}

/// The total size of the log segments and checkpoints of `dir`, for a progress bar.
pub fn data_bytes(dir: &DataDir) -> Result<u64> {
    let vfs = dir.vfs();
    let mut total = 0;
    for sub in [dir.wal_path(), dir.checkpoint_path()] {
        let names = match vfs.read_dir(sub) {
            Ok(names) => names,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("list", sub, e)),
        };
        for name in names {
            if let Ok(Some(meta)) = vfs.metadata(&sub.join(name)) {
                total += meta.len;
            }
        }
    }
    Ok(total)
}

/// Checks every segment of the log of `dir`; `progress` is told the bytes read as it goes.
pub fn verify_log(dir: &DataDir, progress: &mut dyn FnMut(u64)) -> Result<LogCheck> {
    let vfs = dir.vfs();
    let wal = dir.wal_path();
    let names = match vfs.read_dir(wal) {
        Ok(names) => names,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LogCheck::default()),
        Err(e) => return Err(Error::io("list the log directory", wal, e)),
    };
    let mut sequences: Vec<u64> = names
        .iter()
        .filter_map(|n| match segment::classify(n) {
            EntryName::Segment(s) => Some(s),
            _ => None,
        })
        .collect();
    sequences.sort_unstable();
    let mut check = LogCheck::default();
    let mut prev: Option<Version> = None;
    let mut previous_sequence: Option<u64> = None;
    for sequence in sequences {
        let path = wal.join(segment::segment_file_name(sequence));
        let file = match vfs.open(&path, OpenMode::Read) {
            Ok(file) => file,
            // Removed by a live writer's checkpoint since it was listed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("open segment", &path, e)),
        };
        let len = file
            .len()
            .map_err(|e| Error::io("read the length of", &path, e))?;
        let finding = |offset, kind| Finding {
            file: path.clone(),
            offset,
            kind,
            tail: false,
        };
        if let Some(p) = previous_sequence
            && p + 1 != sequence
        {
            check.findings.push(finding(
                0,
                CorruptionKind::MissingSegment { expected: p + 1 },
            ));
        }
        previous_sequence = Some(sequence);
        check.segments += 1;
        check.bytes += len;
        check_segment(&path, &*file, len, sequence, &mut prev, &mut check)?;
        progress(len);
    }
    // A problem after which nothing valid remains is a torn tail.
    if check.findings.len() == 1
        && let Some(last) = check.findings.last()
        && is_last_data(dir, last)?
        && let Some(f) = check.findings.last_mut()
    {
        f.tail = true;
    }
    Ok(check)
}

/// Why the frame `payload` is not the record `expected`, if it is not.
fn record_problem(payload: &[u8], expected: Version) -> Option<CorruptionKind> {
    let Some(version) = frame::log_version(payload) else {
        return Some(CorruptionKind::BadLength {
            len: payload.len() as u64,
        });
    };
    if version != expected {
        return Some(CorruptionKind::VersionGap {
            expected,
            found: version,
        });
    }
    let rest = frame::log_rest(payload);
    let Some((_, lag_len)) = read_lag(version, rest) else {
        return Some(CorruptionKind::UndecodableBody {
            reason: "the durable version field is malformed".to_owned(),
        });
    };
    crate::wal::record::decode_body(version, rest.get(lag_len..).unwrap_or_default())
        .err()
        .map(|reason| CorruptionKind::UndecodableBody { reason })
}

/// True if no later segment than the finding's holds a header: the finding is at the end of
/// the log's data.
fn is_last_data(dir: &DataDir, finding: &Finding) -> Result<bool> {
    let vfs = dir.vfs();
    let wal = dir.wal_path();
    let names = vfs
        .read_dir(wal)
        .map_err(|e| Error::io("list the log directory", wal, e))?;
    for name in names {
        let path = wal.join(&name);
        if !matches!(segment::classify(&name), EntryName::Segment(_)) || path <= finding.file {
            continue;
        }
        let Ok(file) = vfs.open(&path, OpenMode::Read) else {
            continue;
        };
        let mut bytes = [0u8; HEADER_BYTES];
        if read_exact_at(&*file, &mut bytes, 0).is_ok()
            && matches!(SegmentHeader::decode(&bytes), HeaderRead::Valid(_))
        {
            return Ok(false);
        }
    }
    // In the finding's own segment: a valid frame anywhere after it means damage before data.
    let file = vfs
        .open(&finding.file, OpenMode::Read)
        .map_err(|e| Error::io("open segment", &finding.file, e))?;
    let len = file
        .len()
        .map_err(|e| Error::io("read the length of", &finding.file, e))?;
    let mut reader = WindowReader::new(&*file, len, READ_CHUNK_BYTES);
    let mut at = finding.offset + 1;
    while at + 16 <= len {
        if let Parsed::Frame { .. } = frame::read(&mut reader, at, LOG_PAYLOAD)
            .map_err(|e| Error::io("read segment", &finding.file, e))?
        {
            return Ok(false);
        }
        at += 1;
        // Only the bytes a torn record could span need looking at.
        if at > finding.offset + LOG_PAYLOAD.max as u64 {
            break;
        }
        if reader
            .first_nonzero(at)
            .map_err(|e| Error::io("read segment", &finding.file, e))?
            .is_none()
        {
            break;
        }
    }
    Ok(true)
}

/// Reads every checkpoint of `dir` whole, checking every checksum; `progress` is told the
/// bytes of each as it is done.
pub fn verify_checkpoints(dir: &DataDir, progress: &mut dyn FnMut(u64)) -> Result<CheckpointCheck> {
    let mut check = CheckpointCheck::default();
    for file in list_checkpoints(dir)? {
        let len = dir
            .vfs()
            .metadata(&file.path)
            .ok()
            .flatten()
            .map_or(0, |m| m.len);
        match read_checkpoint(dir, &file, &mut |_| Ok(())) {
            Ok(read) => {
                check.checkpoints += 1;
                check.entries += read.entries;
            }
            // Removed by a live writer since it was listed.
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue;
            }
            Err(e) => {
                check.checkpoints += 1;
                check.findings.push((file.path.clone(), e.to_string()));
            }
        }
        check.bytes += len;
        progress(len);
    }
    Ok(check)
}

/// Checks one segment: its header, then every frame up to its clean end or the first problem.
/// `prev` is the last version of the segments before it, and becomes this one's.
fn check_segment(
    path: &std::path::Path,
    file: &dyn crate::vfs::VfsFile,
    len: u64,
    sequence: u64,
    prev: &mut Option<Version>,
    check: &mut LogCheck,
) -> Result<()> {
    let finding = |offset, kind| Finding {
        file: path.to_path_buf(),
        offset,
        kind,
        tail: false,
    };
    let mut reader = WindowReader::new(file, len, READ_CHUNK_BYTES);
    let io = |e| Error::io("read segment", path, e);
    if len < HEADER_BYTES as u64 {
        if reader.first_nonzero(0).map_err(io)?.is_some() {
            check
                .findings
                .push(finding(0, CorruptionKind::TruncatedHeader));
        }
        return Ok(());
    }
    let mut bytes = [0u8; HEADER_BYTES];
    read_exact_at(file, &mut bytes, 0).map_err(io)?;
    let header = match SegmentHeader::decode(&bytes) {
        HeaderRead::Valid(header) => header,
        HeaderRead::Zero => {
            if reader.first_nonzero(0).map_err(io)?.is_some() {
                check
                    .findings
                    .push(finding(0, CorruptionKind::MissingHeader));
            }
            return Ok(());
        }
        HeaderRead::Bad { kind, .. } => {
            check.findings.push(finding(0, kind));
            return Ok(());
        }
        HeaderRead::OtherFormat { found } => {
            let kind = CorruptionKind::UnsupportedFormatVersion {
                found,
                supported: crate::wal::format::FORMAT_VERSION,
            };
            check.findings.push(finding(0, kind));
            return Ok(());
        }
    };
    if header.sequence != sequence {
        let kind = CorruptionKind::SequenceMismatch {
            expected: sequence,
            found: header.sequence,
        };
        check.findings.push(finding(0, kind));
    }
    if let Some(p) = *prev
        && header.first_version != p.next()
    {
        let kind = CorruptionKind::VersionGap {
            expected: p.next(),
            found: header.first_version,
        };
        check.findings.push(finding(0, kind));
    }
    let mut pos = HEADER_BYTES as u64;
    let mut expected = header.first_version;
    loop {
        let stop = match frame::read(&mut reader, pos, LOG_PAYLOAD).map_err(io)? {
            Parsed::Frame { payload, len } => match record_problem(payload, expected) {
                None => {
                    check.records += 1;
                    *prev = Some(expected);
                    expected = expected.next();
                    pos += len;
                    continue;
                }
                Some(kind) => kind,
            },
            Parsed::Zero | Parsed::Short => match reader.first_nonzero(pos).map_err(io)? {
                None => break,
                Some(_) => CorruptionKind::DataAfterEnd,
            },
            Parsed::BadLength { len } => CorruptionKind::BadLength {
                len: u64::from(len),
            },
            Parsed::BadChecksum => CorruptionKind::BadRecordChecksum,
        };
        check.findings.push(finding(pos, stop));
        break;
    }
    Ok(())
}
