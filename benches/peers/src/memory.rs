//! Bytes per entry for 1M small entries: resident memory (`/proc/self/smaps_rollup`) before and
//! after loading, each engine in a fresh child process of this binary.

use std::path::Path;

use crossbeam_skiplist::SkipMap;
use serde::{Deserialize, Serialize};

use crate::engines::{Engine, InMemMode, Result, in_mem_memory};
use crate::workload::{ENTRY_BYTES, VALUE, key};

/// The engines measured (docs/PERFORMANCE.md: in-mem and the raw `SkipMap`); in-mem in its default mode
/// (Batched) and in Async, whose in-process log buffer holds up to a second of commits; and
/// the design floor (`engines/design.rs`): a skiplist and a hash index sharing each key and
/// value, what in-mem's layout holds at the least.
pub const ENGINES: [&str; 4] = ["in-mem", "in-mem async", "skipmap floor", "design floor"];

/// One child's measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Memory {
    pub engine: String,
    pub entries: u64,
    pub resident_delta_bytes: u64,
    pub bytes_per_entry: f64,
    /// Bytes per entry over the raw key + value bytes (24 + 100).
    pub times_raw: f64,
}

/// Resident memory of this process, in bytes.
pub(crate) fn resident_bytes() -> Result<u64> {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup")?;
    let line = text
        .lines()
        .find(|l| l.starts_with("Rss:"))
        .ok_or("no Rss line in /proc/self/smaps_rollup")?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed Rss line")?
        .parse()?;
    Ok(kib * 1024)
}

/// Runs in the child: loads `entries` into `engine`, prints one JSON line.
pub fn child(engine: &str, entries: u64, scratch: &Path) -> Result<()> {
    std::fs::create_dir_all(scratch)?;
    let dir = tempfile::tempdir_in(scratch)?;
    let before = resident_bytes()?;
    let after = match engine {
        "in-mem" | "in-mem async" => {
            let mode = if engine == "in-mem" {
                InMemMode::Batched
            } else {
                InMemMode::Async
            };
            let db = in_mem_memory(dir.path(), entries, mode)?;
            let after = resident_bytes()?;
            std::hint::black_box(&db);
            after
        }
        "design floor" => {
            let floor = Engine::DesignFloor { log: false }.open(dir.path())?;
            for i in 0..entries {
                floor.put(0, &key(i), &VALUE)?;
            }
            let after = resident_bytes()?;
            std::hint::black_box(&floor);
            after
        }
        "skipmap floor" => {
            let map = SkipMap::new();
            for i in 0..entries {
                map.insert(key(i).to_vec(), VALUE.to_vec());
            }
            let after = resident_bytes()?;
            std::hint::black_box(&map);
            after
        }
        other => return Err(format!("no memory measurement for {other}").into()),
    };
    let delta = after.saturating_sub(before);
    // Byte counts here stay far below 2^52: the conversions are exact.
    #[allow(clippy::cast_precision_loss)]
    let bytes_per_entry = delta as f64 / entries as f64;
    #[allow(clippy::cast_precision_loss)]
    let times_raw = bytes_per_entry / ENTRY_BYTES as f64;
    let m = Memory {
        engine: engine.to_string(),
        entries,
        resident_delta_bytes: delta,
        bytes_per_entry,
        times_raw,
    };
    println!("{}", serde_json::to_string(&m)?);
    Ok(())
}

/// Measures every engine of [`ENGINES`] in its own child process.
pub fn measure(entries: u64, scratch: &Path) -> Result<Vec<Memory>> {
    let entries = entries.to_string();
    let mut out = Vec::new();
    for engine in ENGINES {
        let line = crate::child_stdout(
            &format!("memory child for {engine}"),
            &[
                "--memory-child".as_ref(),
                engine.as_ref(),
                "--entries".as_ref(),
                entries.as_ref(),
                "--scratch".as_ref(),
                scratch.as_os_str(),
            ],
        )?;
        out.push(serde_json::from_str(line.trim())?);
    }
    Ok(out)
}
