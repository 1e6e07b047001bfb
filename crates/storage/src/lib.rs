//! The MVCC memtable of in-mem: every version of every key, in memory, readable at any snapshot.
//!
//! - [`VersionCounter`] hands out commit versions and publishes them in order: readers snapshot at
//!   [`VersionCounter::visible`] and never see half a commit, nor a later commit before an earlier
//!   one.
//! - [`Memtable`] keeps every version (value or tombstone, with its commit timestamp, optional
//!   expiry and writing run) in a lock-free skiplist ordered by (key, version descending), beside a
//!   hash index of each key's newest version, so a point get costs about one hash lookup.
//! - A [`ReadView`] says which versions a read sees: a snapshot, plus a run's own later writes
//!   (a run sees the agent's memory as it was when the run began, plus its own writes).
//! - [`Memtable::sweep`] drops versions no reader at or above a horizon can observe, and reclaims
//!   deleted and expired keys.
//!
//! What this crate is *not*: it never touches a file (the write-ahead log and checkpoints live in
//! in-mem-durability; the engine wires the two), it does not encode keys or values (keys are
//! opaque byte strings ordered by bytes, values opaque bytes), and it does not decide isolation
//! or conflicts (the engine picks snapshots and validates transactions).
//!
//! ```
//! use in_mem_core_types::{RunId, Timestamp, Version};
//! use in_mem_storage::{Memtable, Mutation, ReadView};
//!
//! let memtable = Memtable::new(Version::ZERO);
//! let run = RunId::new();
//! let now = Timestamp::from_micros(1_000);
//!
//! // A commit: take a version, apply its writes, publish it.
//! let v1 = memtable.versions().allocate();
//! memtable.apply(v1, run, now, &[Mutation::put(&b"user:1"[..], &b"ada"[..])]);
//! memtable.versions().publish(v1);
//! let before_delete = ReadView::at(memtable.versions().visible());
//!
//! let v2 = memtable.versions().allocate();
//! memtable.apply(v2, run, now, &[Mutation::delete(&b"user:1"[..])]);
//! memtable.versions().publish(v2);
//!
//! // The old snapshot still reads the value; a new one sees the delete.
//! let old = memtable.get(b"user:1", &before_delete, now).expect("visible at v1");
//! assert_eq!(&old.value[..], b"ada");
//! assert!(memtable.get(b"user:1", &ReadView::at(v2), now).is_none());
//!
//! // Once no reader is older than v2, the sweeper reclaims the key.
//! let stats = memtable.sweep(v2, now);
//! assert_eq!(stats.versions_removed, 2);
//! assert_eq!(memtable.key_count(), 0);
//! ```

#[cfg(not(inmem_loom))]
mod memtable;
mod mutation;
mod now;
mod read_view;
mod stored;
mod sync;
mod version_counter;

#[cfg(not(inmem_loom))]
pub use memtable::{KeepNothing, Loader, Memtable, Scan, SweepPause, SweepRules, SweepStats};
pub use mutation::{Mutation, MutationKind};
pub use now::Now;
pub use read_view::ReadView;
pub use read_view::Writer;
pub use stored::{Cuts, Lookup, Read, StoredRef, StoredValue, StoredVersion};
pub use version_counter::VersionCounter;
