//! Copying a closed database to a new directory: a building block for backups (which keep the
//! database's id: a backup *is* the database, to be restored in its place) and for copies that
//! live on beside the original (which take a new id, so that their files can never be mistaken
//! for the original's).

use std::io;
use std::path::Path;

use crate::checkpoint;
use crate::checkpoint::format::{
    self as checkpoint_format, HEADER_BYTES as CHECKPOINT_HEADER_BYTES,
};
use crate::dir::{CHECKPOINT_DIR_NAME, LOCK_FILE_NAME, WAL_DIR_NAME};
use crate::error::{Error, Result};
use crate::identity::{self, DatabaseId, IDENTITY_FILE_NAME, Stamp};
use crate::vfs::{OpenMode, Vfs, VfsFile, read_exact_at, write_all_at};
use crate::wal::format::{HEADER_BYTES as SEGMENT_HEADER_BYTES, HeaderRead, SegmentHeader};
use crate::wal::segment::{self, EntryName};

/// Which id a copy made by [`copy_database`] has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyIdentity {
    /// The source's id: a backup, to be restored in place of the original.
    Keep,
    /// A new random id: a copy that lives on beside the original. Every segment and
    /// checkpoint header is rewritten with it.
    New,
}

/// Bytes copied per read and write.
const COPY_CHUNK_BYTES: usize = 1 << 20;

/// Copies the database at `from` (which must not be open: its lock is taken for the copy) into
/// `to` (missing or empty), and returns the copy's id. Copied: the identity file, every log
/// segment and every checkpoint; not the lock, temp files or `quarantine/`. Every file is
/// synced, and the identity file is written last (atomically): until it exists, the
/// destination is refused as not a database rather than opened half-copied.
pub fn copy_database(
    vfs: &dyn Vfs,
    from: &Path,
    to: &Path,
    id: CopyIdentity,
) -> Result<DatabaseId> {
    if from.as_os_str().is_empty() || to.as_os_str().is_empty() {
        return Err(Error::EmptyPath);
    }
    let lock_path = from.join(LOCK_FILE_NAME);
    let _lock = match vfs.try_lock(&lock_path) {
        Ok(Some(guard)) => guard,
        Ok(None) => {
            return Err(Error::Locked {
                path: from.to_owned(),
            });
        }
        Err(e) => return Err(Error::io("lock", lock_path, e)),
    };
    let Some(source) = identity::load(vfs, from)? else {
        return Err(Error::NotADatabase {
            path: from.to_owned(),
            found: vec![IDENTITY_FILE_NAME.into()],
        });
    };
    prepare_target(vfs, to)?;
    let copy = match id {
        CopyIdentity::Keep => source.clone(),
        CopyIdentity::New => source.with_id(DatabaseId::random()),
    };
    let rewrite = (copy.id != source.id).then_some(copy.id);
    for sub in [WAL_DIR_NAME, CHECKPOINT_DIR_NAME] {
        let (src_dir, dst_dir) = (from.join(sub), to.join(sub));
        vfs.create_dir_all(&dst_dir)
            .map_err(|e| Error::io("create directory", &dst_dir, e))?;
        let mut names = match vfs.read_dir(&src_dir) {
            Ok(names) => names,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io("list", &src_dir, e)),
        };
        names.sort();
        for name in names {
            let kind = if sub == WAL_DIR_NAME {
                match segment::classify(&name) {
                    EntryName::Segment(_) => Kind::Segment,
                    _ => continue,
                }
            } else if checkpoint::is_checkpoint_name(&name) {
                Kind::Checkpoint
            } else {
                continue;
            };
            copy_file(
                vfs,
                &src_dir.join(&name),
                &dst_dir.join(&name),
                kind,
                source.id,
                rewrite,
            )?;
        }
        vfs.sync_dir(&dst_dir)
            .map_err(|e| Error::io("sync directory", &dst_dir, e))?;
    }
    vfs.sync_dir(to)
        .map_err(|e| Error::io("sync directory", to, e))?;
    identity::store(vfs, to, &copy)?;
    Ok(copy.id)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Segment,
    Checkpoint,
}

/// Creates `to` if missing; refuses it if it holds anything.
pub(crate) fn prepare_target(vfs: &dyn Vfs, to: &Path) -> Result<()> {
    match vfs.metadata(to) {
        Ok(None) => vfs
            .create_dir_all(to)
            .map_err(|e| Error::io("create directory", to, e)),
        Ok(Some(meta)) if !meta.is_dir => Err(Error::NotADirectory {
            path: to.to_owned(),
        }),
        Ok(Some(_)) => {
            let names = vfs.read_dir(to).map_err(|e| Error::io("list", to, e))?;
            if names.is_empty() {
                Ok(())
            } else {
                Err(Error::CopyTargetNotEmpty {
                    path: to.to_owned(),
                })
            }
        }
        Err(e) => Err(Error::io("inspect", to, e)),
    }
}

/// Copies one file, rewriting its header with `rewrite` as the id if it names `source`.
fn copy_file(
    vfs: &dyn Vfs,
    from: &Path,
    to: &Path,
    kind: Kind,
    source: DatabaseId,
    rewrite: Option<DatabaseId>,
) -> Result<()> {
    let src = vfs
        .open(from, OpenMode::Read)
        .map_err(|e| Error::io("open", from, e))?;
    let len = src.len().map_err(|e| Error::io("inspect", from, e))?;
    let dst = vfs
        .open(to, OpenMode::CreateNew)
        .map_err(|e| Error::io("create", to, e))?;
    let mut buf = vec![0u8; COPY_CHUNK_BYTES];
    let mut at = 0u64;
    while at < len {
        let n =
            usize::try_from(len - at).map_or(COPY_CHUNK_BYTES, |left| left.min(COPY_CHUNK_BYTES));
        let chunk = buf.get_mut(..n).unwrap_or_default();
        read_exact_at(&*src, chunk, at).map_err(|e| Error::io("read", from, e))?;
        if at == 0
            && let Some(id) = rewrite
        {
            restamp(chunk, kind, source, id);
        }
        write_all_at(&*dst, chunk, at).map_err(|e| Error::io("write", to, e))?;
        at += n as u64;
    }
    sync(&*dst, to)
}

fn sync(file: &dyn VfsFile, path: &Path) -> Result<()> {
    file.sync_data().map_err(|e| Error::io("sync", path, e))
}

/// Rewrites the header at the start of `bytes` with `id` if it is a valid header naming
/// `source`; anything else (a spare of zeros, a torn or damaged header) is copied as it is,
/// for the copy's recovery to judge as the original's would.
fn restamp(bytes: &mut [u8], kind: Kind, source: DatabaseId, id: DatabaseId) {
    match kind {
        Kind::Segment => {
            let Some(head) = bytes
                .get(..SEGMENT_HEADER_BYTES)
                .and_then(|h| <&[u8; SEGMENT_HEADER_BYTES]>::try_from(h).ok())
            else {
                return;
            };
            if let HeaderRead::Valid(header) = SegmentHeader::decode(head)
                && header.stamp.id == source
            {
                let stamp = Stamp { id, ..header.stamp };
                let encoded = SegmentHeader { stamp, ..header }.encode();
                if let Some(out) = bytes.get_mut(..SEGMENT_HEADER_BYTES) {
                    out.copy_from_slice(&encoded);
                }
            }
        }
        Kind::Checkpoint => {
            let Some(head) = bytes
                .get(..CHECKPOINT_HEADER_BYTES)
                .and_then(|h| <&[u8; CHECKPOINT_HEADER_BYTES]>::try_from(h).ok())
            else {
                return;
            };
            if let Ok((stamp, fields)) = checkpoint_format::decode_header(head)
                && stamp.id == source
            {
                let header = checkpoint_format::encode_header(Stamp { id, ..stamp }, fields);
                if let Some(out) = bytes.get_mut(..CHECKPOINT_HEADER_BYTES) {
                    out.copy_from_slice(&header);
                }
            }
        }
    }
}
