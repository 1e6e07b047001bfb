//! Loading the newest checkpoint that verifies (falling back to older ones), into a memtable
//! and a run registry that the log is then replayed onto.

use std::sync::Arc;

use in_mem_core_types::{Key, TypeTag, Version};
use in_mem_durability::checkpoint::{
    CheckpointEntry, CheckpointFile, CheckpointOp, list_checkpoints, read_checkpoint,
};
use in_mem_durability::{DataDir, ReplayRejected};
use in_mem_storage::{Cuts, Loader, Memtable, MutationKind};

use super::replay::recover_run_record;
use crate::error::Result;
use crate::runs::{PinPolicy, RunRegistry};
use crate::version_times::RecoveredTimes;

/// Where recovery starts from: a memtable and run registry loaded from the newest good
/// checkpoint (or empty), and what happened on the way.
pub(crate) struct Loaded {
    pub memtable: Memtable,
    pub runs: RunRegistry,
    /// The checkpoint used, if any; the log is replayed after its version.
    pub checkpoint: Option<CheckpointFile>,
    /// Damaged checkpoints that were skipped, with why.
    pub skipped: Vec<String>,
    /// History below this version may be missing from what was loaded (the horizon of the
    /// sweeps before the checkpoint was written).
    pub history_from: Version,
}

/// Loads the newest checkpoint that verifies; falls back to older ones, then to none.
pub(crate) fn load_newest(
    dir: &DataDir,
    policy: PinPolicy,
    version_times: &RecoveredTimes,
) -> Result<Loaded> {
    let mut skipped = Vec::new();
    for file in list_checkpoints(dir)? {
        let memtable = Memtable::new(file.version);
        let runs = RunRegistry::new(policy);
        let mut last_run_key: Option<Arc<[u8]>> = None;
        let read = memtable.load(|loader| {
            let mut times = version_times.batch();
            let mut apply = |entry: CheckpointEntry| {
                times.note(entry.timestamp, entry.version);
                load_entry(loader, &runs, &mut last_run_key, entry)
            };
            read_checkpoint(dir, &file, &mut apply)
        });
        match read {
            Ok(read) => {
                return Ok(Loaded {
                    memtable,
                    runs,
                    checkpoint: Some(file),
                    skipped,
                    history_from: read.history_from,
                });
            }
            Err(e) => {
                tracing::error!(file = %file.path.display(), error = %e, "checkpoint is damaged; trying an older one");
                skipped.push(e.to_string());
            }
        }
    }
    Ok(Loaded {
        memtable: Memtable::new(Version::ZERO),
        runs: RunRegistry::new(policy),
        checkpoint: None,
        skipped,
        history_from: Version::ZERO,
    })
}

/// Applies one checkpoint entry, with the cut marks it kept. Entries come key by key, newest
/// version first, so the first entry of a run record's key is that run's current record.
fn load_entry(
    loader: &mut Loader<'_>,
    runs: &RunRegistry,
    last_run_key: &mut Option<Arc<[u8]>>,
    entry: CheckpointEntry,
) -> std::result::Result<(), ReplayRejected> {
    let tag = Key::decode_type_tag(&entry.key).map_err(|e| ReplayRejected::new("key", e))?;
    if tag == TypeTag::Run && last_run_key.as_deref() != Some(&entry.key[..]) {
        if let CheckpointOp::Put { value, .. } = &entry.op {
            recover_run_record(runs, &entry.key, value)?;
        }
        *last_run_key = Some(Arc::clone(&entry.key));
    }
    let kind = match entry.op {
        CheckpointOp::Put { value, expires_at } => MutationKind::Put { value, expires_at },
        CheckpointOp::Delete => MutationKind::Delete,
    };
    // Where the writer's sweeps removed versions next to this one: a past read that steps over
    // them must go on knowing its answer may be gone.
    let cuts = Cuts {
        below: entry.cuts.below,
        above: entry.cuts.above,
    };
    loader.push(
        entry.version,
        entry.writer,
        entry.timestamp,
        entry.key,
        kind,
        cuts,
    );
    Ok(())
}
