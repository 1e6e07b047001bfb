//! One stored version (`Record`) and its place in the skiplist (`VersionKey`, ordered by key
//! ascending, then version descending).
//!
//! A `Record` is shared (`Arc`) between the skiplist, which holds every version, and the index,
//! which holds each key's newest one, so the metadata and the value of a version exist once.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use in_mem_core_types::{RunId, Timestamp, Version};

use crate::{MutationKind, Now, StoredRef, StoredValue};

/// The stored form of "no expiry": the largest expiry the field holds, a time that never comes
/// (microseconds since the epoch stay below 2^62 for the next 146,000 years), so folding any
/// later expiry into it changes no answer, and saves the 8 bytes an `Option` would take.
const NEVER_EXPIRES: u64 = !(CUT_BELOW | CUT_ABOVE);
/// The top two bits of the expiry field are cut marks, set by a sweep that removed versions of
/// the key right below this one (`CUT_BELOW`) or right above it (`CUT_ABOVE`). Kept in the same
/// word so that a record stays 56 bytes (one 80-byte allocation with its `Arc` counts).
const CUT_BELOW: u64 = 1 << 63;
const CUT_ABOVE: u64 = 1 << 62;

/// One version of one key: a value (maybe with an expiry) or a tombstone.
///
/// 56 bytes plus the `Arc` counts: it fits an 80-byte allocator size class with the value held
/// elsewhere (the caller's `Arc<[u8]>`, kept as is).
#[derive(Debug)]
pub(crate) struct Record {
    /// The commit that wrote this version.
    pub(crate) version: Version,
    /// The run that wrote it.
    pub(crate) writer: RunId,
    /// The commit's timestamp.
    pub(crate) timestamp: Timestamp,
    /// Microseconds since the epoch at which the value stops being readable, or `NEVER_EXPIRES`;
    /// the top two bits are the cut marks (see [`Record::mark_cut_below`]).
    expiry_and_cut: AtomicU64,
    /// The value, or `None` for a tombstone.
    value: Option<Arc<[u8]>>,
}

impl Record {
    /// The record of one mutation of commit `version`.
    pub(crate) fn new(
        version: Version,
        writer: RunId,
        timestamp: Timestamp,
        kind: MutationKind,
    ) -> Self {
        let (value, expires_at) = match kind {
            MutationKind::Put { value, expires_at } => (
                Some(value),
                expires_at.map_or(NEVER_EXPIRES, |at| at.as_micros().min(NEVER_EXPIRES)),
            ),
            MutationKind::Delete => (None, NEVER_EXPIRES),
        };
        Record {
            version,
            writer,
            timestamp,
            expiry_and_cut: AtomicU64::new(expires_at),
            value,
        }
    }

    /// The stored expiry, without the cut mark.
    fn expiry(&self) -> u64 {
        self.expiry_and_cut.load(AtomicOrdering::Relaxed) & NEVER_EXPIRES
    }

    /// Whether a sweep removed versions of the key right below this one: a read that steps past
    /// this version without finding its answer may have lost it (see `sweep.rs`).
    pub(crate) fn is_cut_below(&self) -> bool {
        self.expiry_and_cut.load(AtomicOrdering::Acquire) & CUT_BELOW != 0
    }

    /// Whether a sweep removed versions of the key right above this one: a read whose walk
    /// starts here (it seeks past newer versions) may have lost its answer among them.
    pub(crate) fn is_cut_above(&self) -> bool {
        self.expiry_and_cut.load(AtomicOrdering::Acquire) & CUT_ABOVE != 0
    }

    /// Notes that versions right below this one are about to be removed. Set before they go, so
    /// that a reader that steps past this version and finds them gone knows it.
    pub(crate) fn mark_cut_below(&self) {
        self.expiry_and_cut
            .fetch_or(CUT_BELOW, AtomicOrdering::Release);
    }

    /// Notes that versions right above this one are about to be removed (see
    /// [`Record::is_cut_above`]).
    pub(crate) fn mark_cut_above(&self) {
        self.expiry_and_cut
            .fetch_or(CUT_ABOVE, AtomicOrdering::Release);
    }

    /// When the value stops being readable, if ever.
    pub(crate) fn expires_at(&self) -> Option<Timestamp> {
        let expiry = self.expiry();
        (expiry != NEVER_EXPIRES).then(|| Timestamp::from_micros(expiry))
    }

    /// True if this version reads as absent at `now`: a tombstone, or a value that has expired
    /// (`expires_at <= now`).
    pub(crate) fn is_absent_at(&self, now: Timestamp) -> bool {
        self.value.is_none() || self.has_expired(now)
    }

    /// True if the value has an expiry and it is at or before `now` (asked only then).
    fn has_expired(&self, now: impl Now) -> bool {
        let expiry = self.expiry();
        expiry != NEVER_EXPIRES && expiry <= now.now().as_micros()
    }

    /// What a read at `now` that lands on this version returns.
    pub(crate) fn read(&self, now: impl Now) -> Option<StoredValue> {
        self.visit(now).map(|stored| stored.to_stored())
    }

    /// [`Record::read`], borrowed.
    pub(crate) fn visit(&self, now: impl Now) -> Option<StoredRef<'_>> {
        if self.has_expired(now) {
            return None;
        }
        let value = self.value.as_ref()?;
        Some(StoredRef {
            value,
            version: self.version,
            timestamp: self.timestamp,
            expires_at: self.expires_at(),
            writer: self.writer,
        })
    }

    /// The mutation that recreates this version.
    pub(crate) fn kind(&self) -> MutationKind {
        match &self.value {
            Some(value) => MutationKind::Put {
                value: Arc::clone(value),
                expires_at: self.expires_at(),
            },
            None => MutationKind::Delete,
        }
    }
}

/// A skiplist key: a user key and one of its versions.
///
/// Ordered by key bytes ascending, then version *descending*, so a key's versions sit together,
/// newest first, and "the newest version at or below `v`" is the first entry at or after
/// `(key, v)`. All versions of a key share one key allocation (see `index::NewestIndex::offer`).
#[derive(Debug)]
pub(crate) struct VersionKey {
    pub(crate) key: Arc<[u8]>,
    pub(crate) version: Version,
}

/// A position in the skiplist's order, owned (`VersionKey`) or borrowed (`Probe`).
///
/// The skiplist looks keys up through `Borrow`, and a `VersionKey` cannot lend out a
/// `(&[u8], Version)` pair by reference; it can lend itself as a `dyn SeekKey`, and so can a
/// `Probe` built on the stack, so seeks never allocate.
pub(crate) trait SeekKey {
    fn key_bytes(&self) -> &[u8];
    fn version(&self) -> Version;
}

/// A borrowed seek position: `(key, version)`.
pub(crate) struct Probe<'k> {
    pub(crate) key: &'k [u8],
    pub(crate) version: Version,
}

impl<'k> Probe<'k> {
    /// The position of `key`'s newest version at or below `version`.
    pub(crate) fn at(key: &'k [u8], version: Version) -> Self {
        Probe { key, version }
    }

    /// The last position `key` can occupy: `Bound::Excluded` of it is the first entry of the next
    /// key.
    pub(crate) fn after_all_versions_of(key: &'k [u8]) -> Self {
        Probe {
            key,
            version: Version::ZERO,
        }
    }

    /// The first position `key` can occupy: `Bound::Included` of it is the key's newest version,
    /// or the next key's.
    pub(crate) fn before_all_versions_of(key: &'k [u8]) -> Self {
        Probe {
            key,
            version: Version::MAX,
        }
    }
}

impl SeekKey for VersionKey {
    fn key_bytes(&self) -> &[u8] {
        &self.key
    }
    fn version(&self) -> Version {
        self.version
    }
}

impl SeekKey for Probe<'_> {
    fn key_bytes(&self) -> &[u8] {
        self.key
    }
    fn version(&self) -> Version {
        self.version
    }
}

/// The one ordering of the skiplist: key ascending, version descending.
fn compare(a_key: &[u8], a_version: Version, b_key: &[u8], b_version: Version) -> Ordering {
    a_key.cmp(b_key).then_with(|| b_version.cmp(&a_version))
}

impl PartialEq for dyn SeekKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.version() == other.version() && self.key_bytes() == other.key_bytes()
    }
}

impl Eq for dyn SeekKey + '_ {}

impl PartialOrd for dyn SeekKey + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn SeekKey + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(
            self.key_bytes(),
            self.version(),
            other.key_bytes(),
            other.version(),
        )
    }
}

// `Borrow` requires the borrowed form to order exactly like the owned one: both use `compare`.
impl<'a> Borrow<dyn SeekKey + 'a> for VersionKey {
    fn borrow(&self) -> &(dyn SeekKey + 'a) {
        self
    }
}

impl PartialEq for VersionKey {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version && self.key == other.key
    }
}

impl Eq for VersionKey {}

impl PartialOrd for VersionKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for VersionKey {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(&self.key, self.version, &other.key, other.version)
    }
}

/// True if two key allocations hold the same key. Versions of one key normally share one
/// allocation, so the pointer test usually decides without touching the bytes.
pub(crate) fn same_key(a: &Arc<[u8]>, b: &Arc<[u8]>) -> bool {
    Arc::ptr_eq(a, b) || a[..] == b[..]
}

#[cfg(test)]
mod tests;
