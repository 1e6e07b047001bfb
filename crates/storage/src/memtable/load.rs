//! `Loader`: filling a memtable that nobody reads yet (recovery loading a checkpoint), with the
//! skiplist and the index filled on two helper threads while the caller decodes.
//!
//! Why: opening a checkpoint of a million keys spent about two thirds of its time in the two
//! structures of an apply: the skiplist insert, and the index offer, a write to a random slot
//! of a large hash table (a cache miss each, which the shard lock's release then waits for).
//! The two are independent, and while a memtable is being loaded nobody reads or sweeps it, so
//! neither the index-first order of `Memtable::apply` nor publishing matters. The work runs as
//! a pipeline of three stages, handed over in batches: the calling thread reads and decodes the
//! checkpoint and builds each version's record; a history thread inserts the batch into the
//! skiplist and passes it on; an index thread offers it to the index. With the skiplist insert
//! on the caller (one helper, the index's), the caller was the bottleneck: a profile of an open
//! of 1M keys gave it about 2.3 times the helper's work. The scope joins both helpers before
//! `Memtable::load` returns, so every insert and offer happens-before the first read of the
//! loaded memtable.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::Scope;

use in_mem_core_types::{RunId, Timestamp, Version};

use super::Memtable;
use super::record::{Record, VersionKey};
use crate::{Cuts, MutationKind};

/// Records handed to the next stage at a time: large enough that the channel costs nothing
/// per entry, small enough that the helpers start early and the batches in flight stay small.
const BATCH: usize = 4096;
/// Batches that may wait for a stage before the one feeding it waits.
const BATCHES_IN_FLIGHT: usize = 4;

type Batch = Vec<(Arc<[u8]>, Arc<Record>)>;

/// Fills a memtable with versions; see [`Memtable::load`].
pub struct Loader<'m> {
    memtable: &'m Memtable,
    /// The key of the previous version pushed: versions of one key usually come together (a
    /// checkpoint holds them key by key), and then share one key allocation, as applies do.
    last_key: Option<Arc<[u8]>>,
    batch: Batch,
    /// To the history thread; `None` if it could not be started (its work is then done here).
    to_history: Option<SyncSender<Batch>>,
    /// To the index thread, for batches this thread inserted into the skiplist itself.
    to_index: Option<SyncSender<Batch>>,
}

impl Memtable {
    /// Runs `fill`, which pushes versions into this memtable through a [`Loader`], and returns
    /// what it returned once every pushed version is in both the skiplist and the index.
    ///
    /// For a memtable that nobody reads, sweeps or applies to while it loads (recovery): the
    /// two structures are filled by two other threads, and a reader could find a version in
    /// one and not yet in the other.
    pub fn load<R>(&self, fill: impl FnOnce(&mut Loader<'_>) -> R) -> R {
        std::thread::scope(|scope| {
            let to_index = self.spawn_index_stage(scope);
            let to_history = self.spawn_history_stage(scope, to_index.clone());
            let mut loader = Loader {
                memtable: self,
                last_key: None,
                batch: Vec::with_capacity(BATCH),
                to_history,
                to_index,
            };
            let out = fill(&mut loader);
            loader.hand_over();
            // Dropping the senders ends the helpers' loops (the history thread's end drops its
            // sender to the index thread); the scope then joins them, and passes on a panic.
            drop(loader);
            out
        })
    }

    /// Starts the thread that offers batches to the index; `None` if it could not start.
    fn spawn_index_stage<'scope>(
        &'scope self,
        scope: &'scope Scope<'scope, '_>,
    ) -> Option<SyncSender<Batch>> {
        let (sender, batches) = sync_channel::<Batch>(BATCHES_IN_FLIGHT);
        std::thread::Builder::new()
            .name("in-mem-load-index".into())
            .spawn_scoped(scope, move || {
                for batch in batches {
                    self.offer_to_index(batch);
                }
            })
            .ok()
            .map(|_| sender)
    }

    /// Starts the thread that inserts batches into the skiplist and passes them to the index
    /// stage (or offers them itself without one); `None` if it could not start.
    fn spawn_history_stage<'scope>(
        &'scope self,
        scope: &'scope Scope<'scope, '_>,
        to_index: Option<SyncSender<Batch>>,
    ) -> Option<SyncSender<Batch>> {
        let (sender, batches) = sync_channel::<Batch>(BATCHES_IN_FLIGHT);
        std::thread::Builder::new()
            .name("in-mem-load-history".into())
            .spawn_scoped(scope, move || {
                self.history_stage(&batches, to_index.as_ref());
            })
            .ok()
            .map(|_| sender)
    }

    fn history_stage(&self, batches: &Receiver<Batch>, to_index: Option<&SyncSender<Batch>>) {
        for batch in batches {
            self.insert_into_history(&batch);
            self.pass_to_index(to_index, batch);
        }
    }

    fn insert_into_history(&self, batch: &Batch) {
        for (key, record) in batch {
            let key = VersionKey {
                key: Arc::clone(key),
                version: record.version,
            };
            self.history.insert(key, Arc::clone(record));
        }
    }

    /// Sends `batch` to the index stage, or offers it here if there is none (it could not
    /// start, or it panicked: the scope passes the panic on when it joins).
    fn pass_to_index(&self, to_index: Option<&SyncSender<Batch>>, batch: Batch) {
        let unsent = match to_index {
            Some(sender) => match sender.send(batch) {
                Ok(()) => return,
                Err(failed) => failed.0,
            },
            None => batch,
        };
        self.offer_to_index(unsent);
    }

    fn offer_to_index(&self, batch: Batch) {
        for (key, record) in batch {
            self.index.offer(&key, &record);
        }
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
        self.batch.push((key, record));
        if self.batch.len() >= BATCH {
            self.hand_over();
        }
    }

    /// Sends the batch down the pipeline, doing here the work of a stage that is gone.
    fn hand_over(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let unsent = match &self.to_history {
            Some(sender) => match sender.send(batch) {
                Ok(()) => return,
                Err(failed) => failed.0,
            },
            None => batch,
        };
        self.memtable.insert_into_history(&unsent);
        self.memtable.pass_to_index(self.to_index.as_ref(), unsent);
    }
}

#[cfg(test)]
mod tests;
