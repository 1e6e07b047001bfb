//! `stats`: keys, versions and bytes in memory; segments, checkpoints and bytes on disk; runs
//! by status.

use std::io::Write;
use std::path::Path;

use in_mem::{Content, RunStatus};
use serde_json::json;

use super::Out;
use crate::error::{CliError, Result};
use crate::open;
use crate::term::stdout_error;

/// Files of a kind in a subdirectory: how many, how many bytes.
fn files(dir: &Path, suffix: &str) -> Result<(u64, u64)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(CliError::io("list", dir, e)),
    };
    let (mut count, mut bytes) = (0, 0);
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().ends_with(suffix) {
            count += 1;
            bytes += entry.metadata().map_or(0, |m| m.len());
        }
    }
    Ok((count, bytes))
}

pub fn stats(dir: &Path, json: bool, out: &mut Out) -> Result<()> {
    let db = open::read_only(dir)?;
    let stats = db.stats();
    // What memory holds: every stored version's key and value bytes.
    let dump = db.dump(None)?;
    let mut memory = 0u64;
    for entry in &dump.entries {
        memory += entry.key.encoded_len() as u64;
        memory += match &entry.content {
            Content::Value(v) => v.encode().map_or(0, |e| e.len() as u64),
            Content::Raw(bytes) => bytes.len() as u64,
            _ => 0,
        };
    }
    let (segments, segment_bytes) = files(&dir.join("wal"), ".seg")?;
    let (checkpoints, checkpoint_bytes) = files(&dir.join("checkpoints"), ".ckpt")?;
    let counts = db.run_counts();
    let count = |s: RunStatus| counts.get(&s).copied().unwrap_or(0);
    if json {
        let by_status: serde_json::Map<String, serde_json::Value> = RunStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), json!(count(*s))))
            .collect();
        return out.json_line(&json!({
            "keys": stats.keys,
            "versions": stats.versions,
            "memory_bytes": memory,
            "visible_version": stats.visible_version,
            "segments": segments,
            "segment_bytes": segment_bytes,
            "checkpoints": checkpoints,
            "checkpoint_bytes": checkpoint_bytes,
            "runs": stats.runs,
            "runs_by_status": by_status,
        }));
    }
    let by_status: Vec<String> = RunStatus::ALL
        .iter()
        .filter(|s| count(**s) > 0)
        .map(|s| format!("{} {}", count(*s), s.as_str()))
        .collect();
    let s = out.style;
    let lines = [
        format!("{} {}", s.bold("database"), dir.display()),
        format!("  commits      {}", stats.visible_version),
        format!(
            "  memory       {} keys, {} versions, {} bytes of keys and values",
            stats.keys, stats.versions, memory
        ),
        format!("  log          {segments} segments, {segment_bytes} bytes"),
        format!("  checkpoints  {checkpoints} checkpoints, {checkpoint_bytes} bytes"),
        format!(
            "  runs         {}{}",
            stats.runs,
            if by_status.is_empty() {
                String::new()
            } else {
                format!(" ({})", by_status.join(", "))
            }
        ),
    ];
    for line in lines {
        writeln!(out.stdout, "{line}").map_err(stdout_error)?;
    }
    Ok(())
}
