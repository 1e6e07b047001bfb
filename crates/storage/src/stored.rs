//! What reads return: `StoredValue` (a live value) and `StoredVersion` (any stored version).

use std::sync::Arc;

use in_mem_core_types::{RunId, Timestamp, Version};

use crate::MutationKind;

/// A live value as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredValue {
    /// The value bytes (shared with the memtable, not copied).
    pub value: Arc<[u8]>,
    /// The commit that wrote it.
    pub version: Version,
    /// The commit's timestamp.
    pub timestamp: Timestamp,
    /// When it stops being readable, if ever.
    pub expires_at: Option<Timestamp>,
    /// The run that wrote it.
    pub writer: RunId,
}

/// A live value as a scan visits it ([`Scan::visit_next`](crate::Scan::visit_next)): borrowed
/// from the memtable for the visit, so a caller that copies the bytes out touches no reference
/// count.
#[derive(Debug, Clone, Copy)]
pub struct StoredRef<'s> {
    /// The value bytes.
    pub value: &'s Arc<[u8]>,
    /// The commit that wrote it.
    pub version: Version,
    /// The commit's timestamp.
    pub timestamp: Timestamp,
    /// When it stops being readable, if ever.
    pub expires_at: Option<Timestamp>,
    /// The run that wrote it.
    pub writer: RunId,
}

impl StoredRef<'_> {
    /// The value as an owned [`StoredValue`] (the bytes shared, not copied).
    pub fn to_stored(&self) -> StoredValue {
        StoredValue {
            value: Arc::clone(self.value),
            version: self.version,
            timestamp: self.timestamp,
            expires_at: self.expires_at,
            writer: self.writer,
        }
    }
}

/// What [`Memtable::lookup`](crate::Memtable::lookup) found: the newest version a view sees, and
/// its value if that version is a live value (not a tombstone, not expired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The newest version of the key the view sees.
    pub version: Version,
    /// The run that wrote that version.
    pub writer: RunId,
    /// Its value, if it is live.
    pub live: Option<StoredValue>,
}

/// What [`Memtable::read`](crate::Memtable::read) found, and whether it is certainly the view's
/// answer (see there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// The newest version of the key the view sees, if any.
    pub found: Option<Lookup>,
    /// False if versions the view might see were reclaimed on the way to this answer.
    pub exact: bool,
}

// The memtable, its only user, is left out of loom builds.
#[cfg(not(inmem_loom))]
impl Read {
    /// No version found; exact unless the walk crossed a cut.
    pub(crate) fn none(crossed: bool) -> Self {
        Read {
            found: None,
            exact: !crossed,
        }
    }
}

/// One stored version of a key, live or not: a value (possibly expired) or a tombstone.
///
/// [`Memtable::iter_versions`](crate::Memtable::iter_versions) yields these, for checkpoints and
/// debugging. `Mutation { key, kind }` re-applied at `version` by `writer` at `timestamp`
/// rebuilds the version exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// The key.
    pub key: Arc<[u8]>,
    /// The commit that wrote this version.
    pub version: Version,
    /// The run that wrote it.
    pub writer: RunId,
    /// The commit's timestamp.
    pub timestamp: Timestamp,
    /// A put (with its value and expiry) or a delete (a tombstone).
    pub kind: MutationKind,
    /// Where a sweep removed versions of the key next to this one. A checkpoint keeps these
    /// (recovery sets them again through [`Loader::push`](crate::Loader::push)): without
    /// them, a reload could not tell a past read that its answer was reclaimed.
    pub cuts: Cuts,
}

/// Whether a sweep removed versions of a key right below or right above one of its versions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cuts {
    /// Versions right below (older) were removed.
    pub below: bool,
    /// Versions right above (newer) were removed.
    pub above: bool,
}

impl Cuts {
    /// No versions next to this one were removed.
    pub const NONE: Cuts = Cuts {
        below: false,
        above: false,
    };

    /// Whether either mark is set.
    pub fn any(self) -> bool {
        self.below || self.above
    }
}
