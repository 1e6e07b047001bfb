//! Writing a [`Dump`] as the first checkpoint of a new database directory, after checking
//! every entry, so that the database opens exactly as dumped or the dump is refused naming the
//! entry.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

use in_mem_core_types::{RunId, TypeTag, Version};
use in_mem_durability::checkpoint::{CheckpointCuts, CheckpointWriter};
use in_mem_durability::{DataDir, StdFs};

use super::{Content, Dump, DumpEntry, bad_entry};
use crate::error::Result;
use crate::runs::RunStatus;

/// Checks `dump`, then writes it into the new database at `path` (which must not exist: the
/// caller makes a fresh directory for it). Nothing is created if the check fails.
pub(crate) fn write_restore(path: &Path, dump: &Dump) -> Result<()> {
    check(dump)?;
    let dir = DataDir::open(Arc::new(StdFs), path)?;
    let Some(last) = dump.entries.last().map(|e| e.version) else {
        return Ok(());
    };
    let mut writer =
        CheckpointWriter::create(&dir, Version::new(last), Version::new(dump.history_from))?;
    // A checkpoint holds entries by key, newest version first, as the memtable does.
    let mut order: Vec<(Vec<u8>, &DumpEntry)> =
        dump.entries.iter().map(|e| (e.key.encode(), e)).collect();
    order.sort_by(|(ka, a), (kb, b)| ka.cmp(kb).then(b.version.cmp(&a.version)));
    for (key, entry) in order {
        let bytes = match &entry.content {
            Content::Value(value) => Some(value.encode()?),
            Content::Run(fields) => Some(
                fields
                    .to_record()
                    .expect("checked: no stored record is interrupted")
                    .encode()?,
            ),
            Content::Raw(bytes) => Some(bytes.clone()),
            Content::Tombstone => None,
        };
        writer.push(
            &key,
            Version::new(entry.version),
            entry.writer,
            entry.timestamp,
            bytes.as_deref().map(|b| (b, entry.expires_at)),
            CheckpointCuts {
                below: entry.cut_below,
                above: entry.cut_above,
            },
        )?;
    }
    writer.finish()?;
    Ok(())
}

/// Everything a database needs of a dump before it is written: dense commit ranks from 1, one
/// entry per key and rank, valid keys and values, run records where runs are, parents that
/// exist, snapshots and fork points that were already committed.
fn check(dump: &Dump) -> Result<()> {
    let mut runs: HashSet<RunId> = HashSet::new();
    for entry in &dump.entries {
        if entry.key.type_tag() == TypeTag::Run {
            runs.insert(entry.key.namespace().run());
        }
    }
    let mut previous = 0u64;
    let mut seen: BTreeSet<(u64, Vec<u8>)> = BTreeSet::new();
    for (i, entry) in dump.entries.iter().enumerate() {
        let v = entry.version;
        if v == 0 || v < previous || v > previous + 1 {
            return Err(bad_entry(
                i,
                format!(
                    "commit {v} follows commit {previous}: commits count up from 1 with no gaps"
                ),
            ));
        }
        previous = v;
        // A run record's key is the run's namespace alone; every other key names something.
        let user_key = entry.key.user_key();
        let key_check = if entry.key.type_tag() == TypeTag::Run && user_key.is_empty() {
            entry.key.namespace().validate()
        } else {
            entry.key.validate()
        };
        key_check.map_err(|e| bad_entry(i, format!("the key is invalid: {e}")))?;
        if entry.key.type_tag() == TypeTag::Run && !user_key.is_empty() {
            return Err(bad_entry(i, "a run record's key has no user key"));
        }
        if !seen.insert((v, entry.key.encode())) {
            return Err(bad_entry(i, "the same key appears twice in one commit"));
        }
        let run = entry.key.namespace().run();
        let tag = entry.key.type_tag();
        if tag == TypeTag::Run && run.is_nil() {
            return Err(bad_entry(i, "a run record of the nil run"));
        }
        if !run.is_nil() && !runs.contains(&run) {
            return Err(bad_entry(
                i,
                format!("run {run} has data here but no run record anywhere"),
            ));
        }
        if entry.expires_at.is_some() && !matches!(entry.content, Content::Value(_)) {
            return Err(bad_entry(i, "only a value can expire"));
        }
        check_content(i, entry, &runs)?;
    }
    if dump.history_from > previous {
        return Err(bad_entry(
            dump.entries.len(),
            format!(
                "history_from {} is after the last commit {previous}",
                dump.history_from
            ),
        ));
    }
    Ok(())
}

/// Checks what entry `i` holds against its key (a run record only under a run's key, a value
/// under every other) and what a run record names (runs in the dump, earlier commits).
fn check_content(i: usize, entry: &DumpEntry, runs: &HashSet<RunId>) -> Result<()> {
    let (v, tag) = (entry.version, entry.key.type_tag());
    match &entry.content {
        Content::Run(fields) => {
            if tag != TypeTag::Run {
                return Err(bad_entry(i, "a run record under a key that is not a run's"));
            }
            if fields.status == RunStatus::Interrupted {
                return Err(bad_entry(
                    i,
                    "status interrupted is never stored (an active run whose process \
                     stopped is read as interrupted)",
                ));
            }
            if fields.snapshot > v {
                return Err(bad_entry(
                    i,
                    format!(
                        "snapshot {} is after the record's own commit {v}",
                        fields.snapshot
                    ),
                ));
            }
            match (fields.parent, fields.fork_point) {
                (Some(parent), _) if !runs.contains(&parent) => {
                    return Err(bad_entry(
                        i,
                        format!("parent run {parent} is not in the dump"),
                    ));
                }
                (None, Some(_)) => return Err(bad_entry(i, "a fork point without a parent")),
                (_, Some(point)) if point > v => {
                    return Err(bad_entry(
                        i,
                        format!("fork point {point} is after the record's own commit {v}"),
                    ));
                }
                _ => {}
            }
            fields
                .to_record()
                .expect("not interrupted")
                .encode()
                .map_err(|e| bad_entry(i, format!("the metadata cannot be stored: {e}")))?;
        }
        Content::Value(value) => {
            if tag == TypeTag::Run {
                return Err(bad_entry(i, "a run's key holds a value, not a run record"));
            }
            value
                .encode()
                .map_err(|e| bad_entry(i, format!("the value cannot be stored: {e}")))?;
        }
        Content::Raw(bytes) => {
            if bytes.len() > in_mem_core_types::limits::VALUE_BYTES_MAX {
                return Err(bad_entry(i, "the stored bytes are over the value limit"));
            }
        }
        Content::Tombstone => {}
    }
    Ok(())
}
