//! `stats`: keys, versions and bytes in memory; segments, checkpoints and bytes on disk; runs
//! by status. Of a shared store (a PostgreSQL URL): what the store holds, counted there.

use std::io::Write;
use std::path::Path;

use in_mem::remote::{StoreStats, StoredRunStatus};
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
    // A PostgreSQL URL opens a connected database, whose store counts itself.
    if let Some(store) = db.store_stats()? {
        return store_stats(&store, json, out);
    }
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

/// `stats` of a shared store: its counts, as the store keeps them.
fn store_stats(stats: &StoreStats, json: bool, out: &mut Out) -> Result<()> {
    let runs: Vec<(&str, u64)> = stats
        .runs
        .iter()
        .map(|(status, n)| (status_name(*status), *n))
        .collect();
    if json {
        let by_status: serde_json::Map<String, serde_json::Value> = runs
            .iter()
            .map(|(name, n)| ((*name).to_owned(), json!(n)))
            .collect();
        return out.json_line(&json!({
            "agents": stats.agents,
            "commits": stats.commits,
            "versions": stats.versions,
            "keys": stats.keys,
            "bytes": stats.bytes,
            "live_hosts": stats.live_hosts,
            "runs": stats.total_runs(),
            "runs_by_status": by_status,
        }));
    }
    let by_status: Vec<String> = runs.iter().map(|(name, n)| format!("{n} {name}")).collect();
    let s = out.style;
    let bytes = stats
        .bytes
        .map_or_else(String::new, |b| format!(", {b} bytes on disk"));
    let lines = [
        // The URL is not repeated: it may carry a password.
        format!("{} (a PostgreSQL store)", s.bold("shared store")),
        format!("  agents       {}", stats.agents),
        format!("  commits      {}", stats.commits),
        format!(
            "  stored       {} versions of {} keys{bytes}",
            stats.versions, stats.keys
        ),
        format!(
            "  hosts        {} with a live lease (this tool's connection among them)",
            stats.live_hosts
        ),
        format!(
            "  runs         {}{}",
            stats.total_runs(),
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

/// A stored status by the name runs have everywhere else in the tool.
fn status_name(status: StoredRunStatus) -> &'static str {
    match status {
        StoredRunStatus::Active => RunStatus::Active.as_str(),
        StoredRunStatus::Paused => RunStatus::Paused.as_str(),
        StoredRunStatus::Completed => RunStatus::Completed.as_str(),
        StoredRunStatus::Failed => RunStatus::Failed.as_str(),
        StoredRunStatus::Cancelled => RunStatus::Cancelled.as_str(),
        StoredRunStatus::Interrupted => RunStatus::Interrupted.as_str(),
    }
}
