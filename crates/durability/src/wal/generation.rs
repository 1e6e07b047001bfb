//! Opening the log in the database's lineage: screen the log directory against the identity,
//! recover, and, when recovery removed anything from the log (cut a tail, salvaged damage, set
//! a file aside), begin a new generation of the log (see `identity/mod.rs`).

use in_mem_core_types::Version;

use super::RecoveryMode;
use super::format::{HEADER_BYTES, HeaderRead, SegmentHeader};
use super::recovery::{self, Recovered, Recovery, Replay};
use super::screen;
use super::segment::{self, EntryName};
use crate::checkpoint;
use crate::dir::DirInner;
use crate::error::{Error, Result};
use crate::identity::{GenerationStart, Identity};
use crate::quarantine::Quarantined;
use crate::vfs::{OpenMode, read_exact_at};

/// Screens and recovers the log of `dir` (see [`recovery::recover`] for `after`, `replay`,
/// `chunk` and `mode`). Returns what recovery leaves for the writer, and the files set aside.
pub(crate) fn recover_dir(
    dir: &DirInner,
    after: Version,
    replay: &mut Replay<'_>,
    chunk: usize,
    mode: RecoveryMode,
) -> Result<(Recovered, Vec<Quarantined>)> {
    let mut set_aside = screen::screen_log(dir, mode, chunk)?;
    let identity = dir.identity();
    let Recovery {
        mut recovered,
        new_generation,
    } = recovery::recover(dir, after, replay, chunk, mode, !set_aside.is_empty())?;
    if let Some(start) = new_generation {
        set_aside.extend(begin(dir, &identity, start)?);
        recovered.stamp = dir.stamp();
    }
    Ok((recovered, set_aside))
}

/// Begins a new generation of the log at `start`. Checkpoints at or above its first version
/// are set aside first: none of them was loaded (recovery's last version is below it), so
/// each was skipped as damaged, and under the new identity it would claim versions the new
/// generation writes again. Then the identity file is replaced, listing only the
/// generations that files still on disk belong to. A crash before the identity file is
/// replaced leaves the cut log under the old generation: the next recovery finds it clean
/// and appends continue in it (detection of older copies is weaker until the next cut, never
/// wrong).
fn begin(dir: &DirInner, identity: &Identity, start: GenerationStart) -> Result<Vec<Quarantined>> {
    let mut keep_from = identity.current() + 1;
    let Some(probe) = identity.next_generation(start, 1) else {
        return Ok(Vec::new());
    };
    let set_aside = checkpoint::set_aside_from(dir, &probe, start.version)?;
    for generation in segment_generations(dir)?
        .into_iter()
        .chain(checkpoint::generations(dir)?)
    {
        keep_from = keep_from.min(generation);
    }
    let Some(next) = identity.next_generation(start, keep_from) else {
        tracing::warn!(
            "the identity file lists the most generations it can; the log continues in the \
             current generation"
        );
        return Ok(set_aside);
    };
    tracing::warn!(
        generation = next.current(),
        first_version = %start.version,
        first_segment = start.sequence,
        "recovery changed the log: began a new generation of it"
    );
    dir.store_identity(next)?;
    Ok(set_aside)
}

/// The generations that the headers of the log's segments name.
fn segment_generations(dir: &DirInner) -> Result<Vec<u64>> {
    let vfs = &*dir.vfs;
    let names = vfs
        .read_dir(&dir.wal_path)
        .map_err(|e| Error::io("list the log directory", &dir.wal_path, e))?;
    let mut out = Vec::new();
    for name in names {
        if !matches!(segment::classify(&name), EntryName::Segment(_)) {
            continue;
        }
        let path = dir.wal_path.join(&name);
        let file = vfs
            .open(&path, OpenMode::Read)
            .map_err(|e| Error::io("open segment", &path, e))?;
        let mut bytes = [0u8; HEADER_BYTES];
        if read_exact_at(&*file, &mut bytes, 0).is_err() {
            continue;
        }
        if let HeaderRead::Valid(header) = SegmentHeader::decode(&bytes) {
            out.push(header.stamp.generation);
        }
    }
    Ok(out)
}
