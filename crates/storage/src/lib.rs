//! The MVCC memtable of in-mem: every version of every key, in memory, readable at any snapshot.
//!
//! API SKELETON: signatures are the contract the engine is written against; bodies are being
//! implemented.

use std::sync::Arc;

use in_mem_core_types::{RunId, Timestamp, Version};

/// Allocates commit versions and publishes them in order (see the spec in the crate docs).
pub struct VersionCounter {}

impl VersionCounter {
    /// A counter whose last committed (and visible) version is `last`.
    pub fn new(last: Version) -> Self {
        let _ = last;
        todo!()
    }
    /// Takes the next version. Every allocated version must later be passed to `publish` once.
    pub fn allocate(&self) -> Version {
        todo!()
    }
    /// Marks `v` applied; `visible` advances over every contiguous applied version.
    pub fn publish(&self, v: Version) {
        let _ = v;
        todo!()
    }
    /// Every version up to this one is applied; readers snapshot here.
    pub fn visible(&self) -> Version {
        todo!()
    }
    /// The last version handed out by `allocate`.
    pub fn allocated(&self) -> Version {
        todo!()
    }
    /// Blocks until `visible() >= v`.
    pub fn wait_visible(&self, v: Version) {
        let _ = v;
        todo!()
    }
}

/// One write of a commit.
#[derive(Debug, Clone)]
pub struct Mutation {
    pub key: Arc<[u8]>,
    pub kind: MutationKind,
}

/// What a mutation does.
#[derive(Debug, Clone)]
pub enum MutationKind {
    Put { value: Arc<[u8]>, expires_at: Option<Timestamp> },
    Delete,
}

/// Which versions a read may see.
#[derive(Debug, Clone, Copy)]
pub struct ReadView {
    pub snapshot: Version,
    pub own: Option<(RunId, Version)>,
}

impl ReadView {
    /// Sees every version up to `snapshot`.
    pub fn at(snapshot: Version) -> Self {
        ReadView { snapshot, own: None }
    }
    /// True if a version `v` written by `writer` is visible in this view.
    pub fn sees(&self, v: Version, writer: RunId) -> bool {
        v <= self.snapshot || self.own.is_some_and(|(run, upto)| run == writer && v <= upto)
    }
}

/// A live value as read.
#[derive(Debug, Clone)]
pub struct StoredValue {
    pub value: Arc<[u8]>,
    pub version: Version,
    pub timestamp: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub writer: RunId,
}

/// What one sweep reclaimed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStats {
    pub versions_removed: u64,
    pub keys_removed: u64,
}

/// The memtable.
pub struct Memtable {}

impl Memtable {
    /// An empty memtable whose counter starts after `last`.
    pub fn new(last: Version) -> Self {
        let _ = last;
        todo!()
    }
    pub fn versions(&self) -> &VersionCounter {
        todo!()
    }
    pub fn apply(&self, version: Version, writer: RunId, timestamp: Timestamp, mutations: &[Mutation]) {
        let _ = (version, writer, timestamp, mutations);
        todo!()
    }
    pub fn get(&self, key: &[u8], view: &ReadView, now: Timestamp) -> Option<StoredValue> {
        let _ = (key, view, now);
        todo!()
    }
    pub fn scan_prefix<'a>(
        &'a self,
        prefix: &[u8],
        view: ReadView,
        now: Timestamp,
    ) -> impl Iterator<Item = (Arc<[u8]>, StoredValue)> + 'a {
        let _ = (prefix, view, now);
        std::iter::empty()
    }
    pub fn sweep(&self, horizon: Version, now: Timestamp) -> SweepStats {
        let _ = (horizon, now);
        todo!()
    }
}
