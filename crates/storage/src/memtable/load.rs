//! `Loader`: filling a memtable that nobody reads yet (recovery loading a checkpoint), with the
//! skiplist and the index filled on two threads at once.
//!
//! Why: opening a checkpoint of a million keys spent about two thirds of its time in the two
//! structures of an apply: the skiplist insert, and the index offer, a write to a random slot
//! of a large hash table (a cache miss each, which the shard lock's release then waits for).
//! The two are independent, and while a memtable is being loaded nobody reads or sweeps it, so
//! neither the index-first order of `Memtable::apply` nor publishing matters: this thread
//! inserts into the skiplist while a helper thread offers the same records to the index,
//! handed over in batches. The scope joins the helper before `Memtable::load` returns, so every
//! offer happens-before the first read of the loaded memtable.

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};

use in_mem_core_types::{RunId, Timestamp, Version};

use super::Memtable;
use super::record::{Record, VersionKey};
use crate::{Cuts, MutationKind};

/// Records handed to the index thread at a time: large enough that the channel costs nothing
/// per entry, small enough that the helper starts early and the batches in flight stay small.
const BATCH: usize = 4096;
/// Batches that may wait for the index thread before the loading thread waits for it.
const BATCHES_IN_FLIGHT: usize = 4;

type Batch = Vec<(Arc<[u8]>, Arc<Record>)>;

/// Fills a memtable with versions; see [`Memtable::load`].
pub struct Loader<'m> {
    memtable: &'m Memtable,
    /// The key of the previous version pushed: versions of one key usually come together (a
    /// checkpoint holds them key by key), and then share one key allocation, as applies do.
    last_key: Option<Arc<[u8]>>,
    batch: Batch,
    /// To the index thread; `None` if it could not be started (the index is then filled here).
    to_index: Option<SyncSender<Batch>>,
}

impl Memtable {
    /// Runs `fill`, which pushes versions into this memtable through a [`Loader`], and returns
    /// what it returned once every pushed version is in both the skiplist and the index.
    ///
    /// For a memtable that nobody reads, sweeps or applies to while it loads (recovery): the
    /// two structures are filled by two threads, and a reader could find a version in one and
    /// not yet in the other.
    pub fn load<R>(&self, fill: impl FnOnce(&mut Loader<'_>) -> R) -> R {
        std::thread::scope(|scope| {
            let (sender, batches) = sync_channel::<Batch>(BATCHES_IN_FLIGHT);
            let index = &self.index;
            let helper = std::thread::Builder::new()
                .name("in-mem-load-index".into())
                .spawn_scoped(scope, move || {
                    for batch in batches {
                        for (key, record) in batch {
                            index.offer(&key, &record);
                        }
                    }
                });
            let mut loader = Loader {
                memtable: self,
                last_key: None,
                batch: Vec::with_capacity(BATCH),
                to_index: helper.is_ok().then_some(sender),
            };
            let out = fill(&mut loader);
            loader.hand_over();
            // Dropping the sender ends the helper's loop; the scope then joins it (and passes
            // on its panic, if it had one).
            drop(loader);
            out
        })
    }
}

impl Loader<'_> {
    /// Stores one version of `key`: written by commit `version` of `writer` at `timestamp`,
    /// with the cut marks a checkpoint kept for it. Versions may come in any order.
    pub fn push(
        &mut self,
        version: Version,
        writer: RunId,
        timestamp: Timestamp,
        key: Arc<[u8]>,
        kind: &MutationKind,
        cuts: Cuts,
    ) {
        let key = match &self.last_key {
            Some(last) if **last == *key => Arc::clone(last),
            _ => {
                self.last_key = Some(Arc::clone(&key));
                key
            }
        };
        let record = Arc::new(Record::new(version, writer, timestamp, kind));
        if cuts.below {
            record.mark_cut_below();
        }
        if cuts.above {
            record.mark_cut_above();
        }
        self.memtable.history.insert(
            VersionKey {
                key: Arc::clone(&key),
                version,
            },
            Arc::clone(&record),
        );
        if self.to_index.is_none() {
            self.memtable.index.offer(&key, &record);
            return;
        }
        self.batch.push((key, record));
        if self.batch.len() >= BATCH {
            self.hand_over();
        }
    }

    /// Sends the batch to the index thread, or offers it here if that thread is gone (it
    /// panicked: the scope passes the panic on when it joins).
    fn hand_over(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let unsent = match &self.to_index {
            Some(sender) => match sender.send(batch) {
                Ok(()) => return,
                Err(failed) => failed.0,
            },
            None => batch,
        };
        for (key, record) in unsent {
            self.memtable.index.offer(&key, &record);
        }
    }
}

#[cfg(test)]
mod tests;
