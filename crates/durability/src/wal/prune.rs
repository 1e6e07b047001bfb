//! Deleting log segments that a checkpoint has made unnecessary.

use std::path::Path;

use in_mem_core_types::Version;

use super::format::{HEADER_BYTES, HeaderRead, SegmentHeader};
use super::segment::{EntryName, classify, segment_file_name};
use crate::error::{Error, Result};
use crate::vfs::{OpenMode, Vfs, read_exact_at};

/// Deletes the oldest segments whose records are all at or below `version`: a segment goes
/// when the segment after it starts at or below `version + 1`. Oldest first, with a directory
/// sync after each, so that a crash midway leaves the remaining segments contiguous (recovery
/// refuses a gap). The newest segment with records, which the log appends to, always stays.
/// Returns the number of segments deleted.
pub(super) fn remove_segments_below(vfs: &dyn Vfs, dir: &Path, version: Version) -> Result<usize> {
    let names = vfs.read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    let mut sequences: Vec<u64> = names
        .iter()
        .filter_map(|name| match classify(name) {
            EntryName::Segment(sequence) => Some(sequence),
            _ => None,
        })
        .collect();
    sequences.sort_unstable();
    let mut headers = Vec::with_capacity(sequences.len());
    for sequence in sequences {
        let path = dir.join(segment_file_name(sequence));
        let file = vfs
            .open(&path, OpenMode::Read)
            .map_err(|e| Error::io("open", &path, e))?;
        let mut bytes = [0u8; HEADER_BYTES];
        if read_exact_at(&*file, &mut bytes, 0).is_err() {
            break;
        }
        match SegmentHeader::decode(&bytes) {
            HeaderRead::Valid(header) => headers.push(header),
            // A spare segment (all zeros) or anything else ends the run of deletable segments.
            _ => break,
        }
    }
    let mut removed = 0;
    for pair in headers.windows(2) {
        let [older, newer] = pair else { break };
        if newer.first_version > version.next() || newer.sequence != older.sequence + 1 {
            break;
        }
        let path = dir.join(segment_file_name(older.sequence));
        vfs.remove_file(&path)
            .map_err(|e| Error::io("remove", &path, e))?;
        vfs.sync_dir(dir)
            .map_err(|e| Error::io("sync the log directory", dir, e))?;
        removed += 1;
    }
    Ok(removed)
}
