//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use in_mem_core_types::Timestamp;
use in_mem_engine::{Database, DurabilityMode, ManualClock, OpenOptions};

/// Small segments, so that tests cross segment boundaries without writing megabytes.
pub const SMALL_SEGMENT_BYTES: u64 = 16 * 1024;

pub fn options(mode: DurabilityMode) -> OpenOptions {
    OpenOptions::new()
        .mode(mode)
        .segment_bytes(SMALL_SEGMENT_BYTES)
}

pub fn open(path: &Path, mode: DurabilityMode) -> Database {
    Database::open_with_options(path, options(mode)).expect("open")
}

pub fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_micros(
        1_700_000_000_000_000,
    )))
}

/// The write-ahead-log segment files of a database directory, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .expect("wal directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// The newest segment holding any data (a preallocated spare after it is all zeros).
pub fn last_data_segment(dir: &Path) -> PathBuf {
    segments(dir)
        .into_iter()
        .rev()
        .find(|s| written_len(s) > 0)
        .expect("a segment with data")
}

/// Offset just past the last non-zero byte of a file (segments are preallocated with zeros).
pub fn written_len(file: &Path) -> usize {
    let bytes = std::fs::read(file).expect("read segment");
    bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)
}

/// Copies a database directory (not its lock) to a fresh temporary directory.
pub fn copy_db(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().expect("tempdir");
    copy_tree(from, to.path());
    to
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Options for a database on a simulated file system: the smallest segments (so that a short
/// workload crosses many), a fixed manual clock (TTLs never expire during a check), and a
/// sweeper that never runs during a test (so a closed database is gone at once and the next
/// open of the same virtual path gets a fresh instance).
pub fn sim_options(fs: &in_mem_durability::SimFs, mode: DurabilityMode) -> OpenOptions {
    OpenOptions::new()
        .mode(mode)
        .segment_bytes(4096)
        .vfs(Arc::new(fs.clone()))
        .clock(manual_clock())
        .sweep_interval(std::time::Duration::from_secs(3600))
}
