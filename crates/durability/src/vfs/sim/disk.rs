//! The disk model of [`SimFs`](super::SimFs): every file's durable and live bytes with the
//! writes in between, the durable and live directory namespaces with the entry changes in
//! between, the [`Event`]s that change them, and what a power loss leaves ([`Disk::crash`]).
//!
//! The model is a pure function of the events applied to it, so that a recorded history can be
//! replayed to the state after any number of I/O calls (see `Timeline`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One system call that changes the disk, as recorded.
#[derive(Debug, Clone)]
pub(super) enum Event {
    /// A directory entry for a new directory.
    CreateDir(PathBuf),
    /// A directory entry for a new, empty file.
    CreateFile(PathBuf),
    /// `bytes` written at `offset` of file `inode` (what the call stored, after a short write).
    Write {
        inode: u64,
        offset: u64,
        bytes: Vec<u8>,
    },
    /// The file's length set (truncated, or extended with zeros).
    SetLen { inode: u64, len: u64 },
    /// A successful fdatasync: every write since the last one is durable.
    Sync { inode: u64 },
    /// A failed fdatasync. The writes since the last sync at the positions `persisted` reached
    /// the disk anyway; the others are lost for good (no later sync writes them), though reads
    /// still see them, as after a writeback error on Linux.
    SyncFailed { inode: u64, persisted: Vec<usize> },
    /// A rename, replacing `to`.
    Rename { from: PathBuf, to: PathBuf },
    /// A file's directory entry removed.
    Remove(PathBuf),
    /// A directory fsync: its entry changes are durable.
    SyncDir(PathBuf),
}

/// What a directory entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Node {
    Dir,
    File(u64),
}

/// A file's bytes.
#[derive(Debug, Clone, Default)]
pub(super) struct FileData {
    /// What the disk holds for sure.
    durable: Vec<u8>,
    /// What reads see.
    pub(super) live: Vec<u8>,
    /// Writes and length changes since the last sync, oldest first.
    unsynced: Vec<Change>,
}

/// A write or a length change of a file.
#[derive(Debug, Clone)]
enum Change {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

/// Directory entry changes made together (a rename changes two entries atomically).
#[derive(Debug, Clone)]
struct EntryChange {
    entries: Vec<(PathBuf, Option<Node>)>,
}

/// The whole simulated disk.
#[derive(Debug, Clone, Default)]
pub(super) struct Disk {
    pub(super) live: BTreeMap<PathBuf, Node>,
    durable: BTreeMap<PathBuf, Node>,
    /// Entry changes not yet made durable by a directory sync, oldest first.
    unsynced_entries: Vec<EntryChange>,
    pub(super) files: BTreeMap<u64, FileData>,
    next_inode: u64,
}

/// The directory holding `path`; `.` for a relative name without one.
pub(super) fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// True for the directories that always exist: `/` and `.`.
pub(super) fn is_root(path: &Path) -> bool {
    path.parent().is_none() || path == Path::new(".")
}

impl Disk {
    /// What `path` names now.
    pub(super) fn node(&self, path: &Path) -> Option<Node> {
        if is_root(path) {
            return Some(Node::Dir);
        }
        self.live.get(path).copied()
    }

    /// The inode the next `CreateFile` gets.
    pub(super) fn next_inode(&self) -> u64 {
        self.next_inode
    }

    /// Applies one event. Events are checked by `SimFs` before they are recorded, so every
    /// path and inode named here exists.
    pub(super) fn apply(&mut self, event: &Event) {
        match event {
            Event::CreateDir(path) => self.set_entry(vec![(path.clone(), Some(Node::Dir))]),
            Event::CreateFile(path) => {
                let inode = self.next_inode;
                self.next_inode += 1;
                self.files.insert(inode, FileData::default());
                self.set_entry(vec![(path.clone(), Some(Node::File(inode)))]);
            }
            Event::Write {
                inode,
                offset,
                bytes,
            } => {
                let file = self.file(*inode);
                write_into(&mut file.live, *offset, bytes, &[]);
                file.unsynced.push(Change::Write {
                    offset: *offset,
                    bytes: bytes.clone(),
                });
            }
            Event::SetLen { inode, len } => {
                let file = self.file(*inode);
                file.live.resize(to_usize(*len), 0);
                file.unsynced.push(Change::SetLen(*len));
            }
            Event::Sync { inode } => {
                let file = self.file(*inode);
                for change in std::mem::take(&mut file.unsynced) {
                    change.apply(&mut file.durable, &[]);
                }
            }
            Event::SyncFailed { inode, persisted } => {
                let file = self.file(*inode);
                for (i, change) in std::mem::take(&mut file.unsynced).into_iter().enumerate() {
                    if persisted.contains(&i) {
                        change.apply(&mut file.durable, &[]);
                    }
                }
            }
            Event::Rename { from, to } => {
                let node = self.live.get(from).copied();
                self.set_entry(vec![(from.clone(), None), (to.clone(), node)]);
            }
            Event::Remove(path) => self.set_entry(vec![(path.clone(), None)]),
            Event::SyncDir(dir) => {
                let (done, left): (Vec<_>, Vec<_>) = std::mem::take(&mut self.unsynced_entries)
                    .into_iter()
                    .partition(|c| c.entries.iter().any(|(p, _)| parent(p) == *dir));
                self.unsynced_entries = left;
                for change in done {
                    apply_entries(&mut self.durable, &change);
                }
            }
        }
    }

    fn file(&mut self, inode: u64) -> &mut FileData {
        self.files
            .get_mut(&inode)
            .expect("events name files that exist")
    }

    fn set_entry(&mut self, entries: Vec<(PathBuf, Option<Node>)>) {
        let change = EntryChange { entries };
        apply_entries(&mut self.live, &change);
        self.unsynced_entries.push(change);
    }

    /// A copy in which everything is durable as it is now: what a crash would leave if it kept
    /// every write and entry change (and what a test that crafts a disk wants).
    pub(super) fn settle(&mut self) {
        for file in self.files.values_mut() {
            file.durable.clone_from(&file.live);
            file.unsynced.clear();
        }
        self.durable.clone_from(&self.live);
        self.unsynced_entries.clear();
    }

    /// The disk after a power loss, chosen by `rng` (see `SimFs::crash` for the model). With
    /// `keep_nothing`, exactly the durable state.
    pub(super) fn crash(&self, rng: &mut Rng, keep_nothing: bool) -> Disk {
        let mut names = self.durable.clone();
        if !keep_nothing && !self.unsynced_entries.is_empty() && rng.chance(2) {
            // Entry changes reach the disk in order (a journal), any number of them.
            let kept = rng.below(self.unsynced_entries.len() as u64 + 1);
            for change in &self.unsynced_entries[..to_usize(kept)] {
                apply_entries(&mut names, change);
            }
        }
        // An entry survives only inside a directory that survived.
        let dirs: Vec<PathBuf> = names
            .iter()
            .filter(|(_, n)| **n == Node::Dir)
            .map(|(p, _)| p.clone())
            .collect();
        let reachable = |p: &Path| {
            let mut dir = parent(p);
            loop {
                if is_root(&dir) {
                    return true;
                }
                if !dirs.contains(&dir) {
                    return false;
                }
                dir = parent(&dir);
            }
        };
        names.retain(|p, _| reachable(p));
        let mut files = BTreeMap::new();
        for node in names.values() {
            if let Node::File(inode) = node
                && !files.contains_key(inode)
            {
                let content = self.files[inode].after_crash(rng, keep_nothing);
                files.insert(
                    *inode,
                    FileData {
                        durable: content.clone(),
                        live: content,
                        unsynced: Vec::new(),
                    },
                );
            }
        }
        Disk {
            live: names.clone(),
            durable: names,
            unsynced_entries: Vec::new(),
            files,
            next_inode: self.next_inode,
        }
    }
}

impl FileData {
    /// Writes and length changes since the last sync.
    pub(super) fn pending(&self) -> usize {
        self.unsynced.len()
    }

    /// The bytes a power loss leaves: the durable bytes with a random subset of the unsynced
    /// changes applied in order (so a later write may be on disk and an earlier one not), the
    /// last one possibly torn at any byte, and length the changes added but whose data did not
    /// land filled with zeros or garbage.
    fn after_crash(&self, rng: &mut Rng, keep_nothing: bool) -> Vec<u8> {
        let mut out = self.durable.clone();
        if keep_nothing || self.unsynced.is_empty() {
            return out;
        }
        let garbage = rng.chance(2);
        let fill: Vec<u8> = if garbage {
            (0..64).map(|_| rng.next() as u8).collect()
        } else {
            Vec::new()
        };
        let kept: Vec<&Change> = match rng.below(8) {
            0 => return out,
            1 => self.unsynced.iter().collect(),
            _ => self.unsynced.iter().filter(|_| rng.chance(2)).collect(),
        };
        let torn = rng.chance(2);
        for (i, change) in kept.iter().enumerate() {
            match change {
                Change::Write { offset, bytes } if torn && i + 1 == kept.len() => {
                    let keep = to_usize(rng.below(bytes.len() as u64 + 1));
                    // The length may have grown to the whole write even though the data did not.
                    let end = if rng.chance(2) {
                        to_usize(*offset) + bytes.len()
                    } else {
                        to_usize(*offset) + keep
                    };
                    if out.len() < end {
                        extend(&mut out, end, &fill);
                    }
                    write_into(&mut out, *offset, &bytes[..keep], &fill);
                }
                change => change.apply(&mut out, &fill),
            }
        }
        out
    }
}

impl Change {
    fn apply(&self, data: &mut Vec<u8>, fill: &[u8]) {
        match self {
            Change::Write { offset, bytes } => write_into(data, *offset, bytes, fill),
            Change::SetLen(len) => {
                let len = to_usize(*len);
                if len <= data.len() {
                    data.truncate(len);
                } else {
                    extend(data, len, fill);
                }
            }
        }
    }
}

/// Writes `bytes` at `offset`, extending `data` first (with `fill`, or zeros if it is empty).
fn write_into(data: &mut Vec<u8>, offset: u64, bytes: &[u8], fill: &[u8]) {
    let at = to_usize(offset);
    if data.len() < at + bytes.len() {
        extend(data, at + bytes.len(), fill);
    }
    data[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Extends `data` to `len` bytes of `fill` repeated (zeros if `fill` is empty).
fn extend(data: &mut Vec<u8>, len: usize, fill: &[u8]) {
    if fill.is_empty() {
        data.resize(len, 0);
    } else {
        let start = data.len();
        data.extend((start..len).map(|i| fill[i % fill.len()]));
    }
}

fn apply_entries(names: &mut BTreeMap<PathBuf, Node>, change: &EntryChange) {
    for (path, node) in &change.entries {
        match node {
            Some(node) => names.insert(path.clone(), *node),
            None => names.remove(path),
        };
    }
}

/// Lengths are in memory here: a simulated file larger than memory is a broken test.
fn to_usize(n: u64) -> usize {
    usize::try_from(n).expect("simulated files fit in memory")
}

/// A small deterministic generator (splitmix64): every random choice of the simulation comes
/// from a seed, so a failure reproduces.
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True once in `n`.
    pub(super) fn chance(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}
