//! `NewestIndex`: each key's newest stored version, for point gets in about one hash lookup.
//!
//! A random get in a skiplist of a million keys is ~15 dependent cache misses; a hash lookup is
//! two or three. The index holds, per key, the record of the highest version applied so far (it
//! may not be published yet). Apply order, the conditional removal used by the sweeper, and why
//! the index never hides a visible version are argued in `docs/CONCURRENCY.md`.
//!
//! Each entry carries its key's hash. Growing a hash table rehashes every entry; with the hash in
//! the bucket that is a sequential pass over the table, where re-hashing the key bytes would cost
//! a cache miss per entry (it was a third of the time of an apply into a 1M-key memtable).

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::quality::RandomState;
use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use in_mem_core_types::Version;

use super::record::Record;

/// Maps each stored key to the record of its newest version.
pub(crate) struct NewestIndex {
    newest: DashMap<IndexKey, Arc<Record>, PrehashedState>,
    /// Hashes keys: foldhash with a per-index random seed, so that keys chosen by users cannot
    /// be made to collide on purpose, at about a third of `SipHash`'s cost (which was over a
    /// quarter of a point get).
    hasher: RandomState,
}

impl NewestIndex {
    pub(crate) fn new() -> Self {
        NewestIndex {
            newest: DashMap::with_hasher(PrehashedState),
            hasher: RandomState::default(),
        }
    }

    fn probe<'k>(&self, key: &'k [u8]) -> Probe<'k> {
        Probe {
            hash: self.hasher.hash_one(key),
            key,
        }
    }

    /// Records `record` as `key`'s newest version unless a higher version is already there, and
    /// returns the key allocation that every version of the key shares.
    ///
    /// Versions of one key may arrive in any order; keeping the maximum under the shard lock makes
    /// the result independent of the order. An equal version wins, so that a later write of the
    /// same key in one commit replaces the earlier one, as it does in the skiplist.
    pub(crate) fn offer(&self, key: &Arc<[u8]>, record: &Arc<Record>) -> Arc<[u8]> {
        let entry_key = IndexKey {
            hash: self.hasher.hash_one(&key[..]),
            key: Arc::clone(key),
        };
        match self.newest.entry(entry_key) {
            Entry::Occupied(mut occupied) => {
                if occupied.get().version <= record.version {
                    occupied.insert(Arc::clone(record));
                }
                Arc::clone(&occupied.key().key)
            }
            Entry::Vacant(vacant) => {
                vacant.insert(Arc::clone(record));
                Arc::clone(key)
            }
        }
    }

    /// Runs `f` on `key`'s newest record, if the key has any version, under the shard's read lock.
    pub(crate) fn with_newest<R>(&self, key: &[u8], f: impl FnOnce(&Record) -> R) -> Option<R> {
        let probe = self.probe(key);
        self.newest
            .get(&probe as &dyn Lookup)
            .map(|newest| f(newest.value()))
    }

    /// The version of `key`'s newest record.
    pub(crate) fn newest_version(&self, key: &[u8]) -> Option<Version> {
        self.with_newest(key, |record| record.version)
    }

    /// Removes `key` from the index if its newest record is still `record`; true if it did.
    ///
    /// The sweeper calls this after removing `record` and every older version of the key. If a
    /// writer offered a newer version in the meantime, the entry now points to that record and
    /// stays; if the writer offers after the removal, it finds the key vacant and inserts. Either
    /// way the newer version is never lost from the index.
    pub(crate) fn remove_if_newest(&self, key: &[u8], record: &Arc<Record>) -> bool {
        let probe = self.probe(key);
        self.newest
            .remove_if(&probe as &dyn Lookup, |_, newest| {
                Arc::ptr_eq(newest, record)
            })
            .is_some()
    }

    /// The number of keys with at least one stored version.
    pub(crate) fn len(&self) -> usize {
        self.newest.len()
    }
}

/// A key of the index: the key bytes and their hash.
struct IndexKey {
    hash: u64,
    key: Arc<[u8]>,
}

/// A borrowed lookup key: the hash computed once, and the bytes to compare.
struct Probe<'k> {
    hash: u64,
    key: &'k [u8],
}

/// What the index hashes and compares, owned (`IndexKey`) or borrowed (`Probe`). The map looks
/// keys up through `Borrow`, and an `IndexKey` can lend itself as a `dyn Lookup` (it cannot lend
/// out a `Probe`), so lookups never allocate.
trait Lookup {
    fn prehash(&self) -> u64;
    fn bytes(&self) -> &[u8];
}

impl Lookup for IndexKey {
    fn prehash(&self) -> u64 {
        self.hash
    }
    fn bytes(&self) -> &[u8] {
        &self.key
    }
}

impl Lookup for Probe<'_> {
    fn prehash(&self) -> u64 {
        self.hash
    }
    fn bytes(&self) -> &[u8] {
        self.key
    }
}

// Owned and borrowed forms hash and compare alike, as `Borrow` requires: by the stored hash,
// then by the bytes.
impl Hash for dyn Lookup + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.prehash());
    }
}

impl PartialEq for dyn Lookup + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.prehash() == other.prehash() && self.bytes() == other.bytes()
    }
}

impl Eq for dyn Lookup + '_ {}

impl Hash for IndexKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for IndexKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl Eq for IndexKey {}

impl<'a> Borrow<dyn Lookup + 'a> for IndexKey {
    fn borrow(&self) -> &(dyn Lookup + 'a) {
        self
    }
}

/// Builds `Prehashed` hashers: the index's keys arrive hashed.
#[derive(Clone, Copy, Default)]
struct PrehashedState;

impl BuildHasher for PrehashedState {
    type Hasher = Prehashed;
    fn build_hasher(&self) -> Prehashed {
        Prehashed(0)
    }
}

/// Passes on the one `u64` an index key writes: its hash, already computed.
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not used: index keys write only their hash. Folding the bytes in keeps it a hash
        // rather than a silent constant if that ever changes.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
}

#[cfg(test)]
mod tests;
