//! Segment files: names, and creating them preallocated (full size, zero-written, synced) under
//! a temporary name so that a segment file only ever appears complete.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::vfs::{OpenMode, Vfs, VfsFile, write_zeros};

/// Suffix of segment files.
const SEGMENT_SUFFIX: &str = ".seg";
/// Suffix of segments being prepared; leftovers are deleted at recovery.
const TEMP_SUFFIX: &str = ".seg.tmp";
/// Digits of the zero-padded sequence number in a segment's name (all of `u64`).
const SEQUENCE_DIGITS: usize = 20;

/// The file name of segment `sequence`: `{sequence:020}.seg`.
pub(crate) fn segment_file_name(sequence: u64) -> String {
    format!("{sequence:020}{SEGMENT_SUFFIX}")
}

fn temp_file_name(sequence: u64) -> String {
    format!("{sequence:020}{TEMP_SUFFIX}")
}

/// What a name in the log directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryName {
    Segment(u64),
    Temp,
    Other,
}

/// Classifies a file name found in the log directory.
pub(crate) fn classify(name: &OsStr) -> EntryName {
    let Some(name) = name.to_str() else {
        return EntryName::Other;
    };
    let sequence = |digits: &str| {
        (digits.len() == SEQUENCE_DIGITS && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse::<u64>().ok())
            .flatten()
    };
    if let Some(digits) = name.strip_suffix(TEMP_SUFFIX) {
        return sequence(digits).map_or(EntryName::Other, |_| EntryName::Temp);
    }
    match name.strip_suffix(SEGMENT_SUFFIX).and_then(sequence) {
        Some(sequence) => EntryName::Segment(sequence),
        None => EntryName::Other,
    }
}

/// An open segment file.
pub(crate) struct Segment {
    pub(crate) sequence: u64,
    pub(crate) path: PathBuf,
    pub(crate) file: Box<dyn VfsFile>,
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("sequence", &self.sequence)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Creates segment `sequence` in `dir`, `capacity` bytes of zeros, durable with its directory
/// entry: written as a temporary file, synced, renamed, and the directory synced.
pub(crate) fn create(vfs: &dyn Vfs, dir: &Path, sequence: u64, capacity: u64) -> Result<Segment> {
    let path = dir.join(segment_file_name(sequence));
    let temp = dir.join(temp_file_name(sequence));
    // A segment of this sequence must never exist already: renaming over it would destroy it.
    match vfs.metadata(&path) {
        Ok(None) => {}
        Ok(Some(_)) => {
            return Err(Error::io(
                "create segment",
                path,
                io::Error::from(io::ErrorKind::AlreadyExists),
            ));
        }
        Err(e) => return Err(Error::io("inspect segment", path, e)),
    }
    match vfs.remove_file(&temp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove stale temporary segment", temp, e)),
    }
    let file = vfs
        .open(&temp, OpenMode::CreateNew)
        .map_err(|e| Error::io("create segment", &temp, e))?;
    let prepared = prewrite(&*file, 0, capacity);
    if let Err(e) = prepared {
        let _ = vfs.remove_file(&temp);
        return Err(Error::io("preallocate segment", temp, e));
    }
    vfs.rename(&temp, &path)
        .map_err(|e| Error::io("rename segment", &temp, e))?;
    vfs.sync_dir(dir)
        .map_err(|e| Error::io("sync directory", dir, e))?;
    Ok(Segment {
        sequence,
        path,
        file,
    })
}

/// Extends an unused segment from `from` to `to` bytes of zeros, durably.
pub(crate) fn grow(segment: &Segment, from: u64, to: u64) -> Result<()> {
    prewrite(&*segment.file, from, to).map_err(|e| Error::io("grow segment", &segment.path, e))
}

/// Sets the length, writes zeros over `[from, to)` (so later syncs find allocated, written
/// blocks), and syncs.
fn prewrite(file: &dyn VfsFile, from: u64, to: u64) -> io::Result<()> {
    file.set_len(to)?;
    write_zeros(file, from, to)?;
    file.sync_data()
}

#[cfg(test)]
mod tests;
