//! `Loader`: filling a memtable that nobody reads yet (recovery loading a checkpoint and
//! replaying the log), with the index and the skiplist filled on two helper threads while the
//! caller decodes.
//!
//! Why: opening a checkpoint of a million keys spent about two thirds of its time in the two
//! structures of an apply: the skiplist insert, and the index offer, a write to a random slot
//! of a large hash table (a cache miss each, which the shard lock's release then waits for);
//! a replay of a million one-put commits, over half. While a memtable is being loaded nobody
//! reads or sweeps it, so neither the index-first order of `Memtable::apply` nor publishing
//! needs to hold for each version as it goes in. The work runs as a pipeline of three stages,
//! handed over in batches: the calling thread decodes and builds each version's record; an
//! index thread offers the batch to the index (which hands back the key allocation every
//! version of the key shares, as in an apply) and passes it on; a history thread inserts it
//! into the skiplist. With the skiplist insert on the caller and one helper (the index's), the
//! caller was the bottleneck: a profile of an open of 1M keys gave it about 2.3 times the
//! helper's work. [`Loader::settle`] waits until the helpers have stored everything pushed so
//! far, for a caller that must read what it loaded (a replayed prefix deletion lists the keys
//! it deletes). The scope joins both helpers before `Memtable::load` returns, so every offer
//! and insert happens-before the first read of the loaded memtable.

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
/// Messages that may wait for a stage before the one feeding it waits.
const BATCHES_IN_FLIGHT: usize = 4;
/// Versions the index thread gathers and sorts into key order before the skiplist thread
/// inserts them (see [`sorted`]). Small under test, so that the tests' loads cross windows.
const SORT_WINDOW: usize = if cfg!(test) { 1 << 10 } else { 1 << 18 };

type Batch = Vec<(Arc<[u8]>, Arc<Record>)>;

/// What passes down the pipeline.
enum Handover {
    /// Versions to store.
    Batch(Batch),
    /// Answered by the last stage once every batch before it is stored.
    Settle(SyncSender<()>),
}

/// The helper stages, in pipeline order.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Offers each record to the index, and takes the key allocation the index keeps.
    Index,
    /// Inserts each record into the skiplist.
    History,
}

/// The way into each stage's thread; `None` where that thread is not running (it could not
/// start, or this side never hands to it).
#[derive(Default)]
struct Senders {
    index: Option<SyncSender<Handover>>,
    history: Option<SyncSender<Handover>>,
}

/// Fills a memtable with versions; see [`Memtable::load`].
pub struct Loader<'m> {
    memtable: &'m Memtable,
    batch: Batch,
    senders: Senders,
}

impl Memtable {
    /// Runs `fill`, which pushes versions into this memtable through a [`Loader`], and returns
    /// what it returned once every pushed version is in both the skiplist and the index.
    ///
    /// For a memtable that nobody reads, sweeps or applies to while it loads (recovery): the
    /// two structures are filled by two other threads, and a reader could find a version in
    /// one and not yet in the other (except after [`Loader::settle`]).
    pub fn load<R>(&self, fill: impl FnOnce(&mut Loader<'_>) -> R) -> R {
        std::thread::scope(|scope| {
            let history = self.spawn_stage(scope, Stage::History, Senders::default());
            let to_history = Senders {
                index: None,
                history: history.clone(),
            };
            let index = self.spawn_stage(scope, Stage::Index, to_history);
            let mut loader = Loader {
                memtable: self,
                batch: Vec::with_capacity(BATCH),
                senders: Senders { index, history },
            };
            let out = fill(&mut loader);
            loader.hand_over();
            // Dropping the senders ends the helpers' loops (the index thread's end drops its
            // sender to the history thread); the scope then joins them, and passes on a panic.
            drop(loader);
            out
        })
    }

    /// Starts the thread of `stage`, which passes what it did on through `next`; `None` if it
    /// could not start.
    fn spawn_stage<'scope>(
        &'scope self,
        scope: &'scope Scope<'scope, '_>,
        stage: Stage,
        next: Senders,
    ) -> Option<SyncSender<Handover>> {
        let (sender, messages) = sync_channel::<Handover>(BATCHES_IN_FLIGHT);
        let name = match stage {
            Stage::Index => "in-mem-load-index",
            Stage::History => "in-mem-load-history",
        };
        std::thread::Builder::new()
            .name(name.into())
            .spawn_scoped(scope, move || self.stage_loop(stage, &messages, &next))
            .ok()
            .map(|_| sender)
    }

    fn stage_loop(&self, stage: Stage, messages: &Receiver<Handover>, next: &Senders) {
        match stage {
            Stage::Index => self.index_loop(messages, next),
            Stage::History => {
                for message in messages {
                    self.process(stage, next, message);
                }
            }
        }
    }

    /// The index thread: offers each batch to the index and hands it on to the skiplist
    /// thread. A batch in key order (a checkpoint's, or a log's written in key order) goes on
    /// at once; the others are gathered into a window, which is sorted into key order and
    /// handed on when it holds [`SORT_WINDOW`] versions, or before a batch in order, a settle,
    /// or the end of the load.
    fn index_loop(&self, messages: &Receiver<Handover>, next: &Senders) {
        let mut window: Batch = Vec::new();
        let flush = |window: &mut Batch| {
            if !window.is_empty() {
                let gathered = sorted(std::mem::take(window));
                self.deliver(Stage::History, next, Handover::Batch(gathered));
            }
        };
        for message in messages {
            match message {
                Handover::Batch(mut batch) => {
                    self.store(Stage::Index, &mut batch);
                    if looks_sorted(&batch) {
                        flush(&mut window);
                        self.deliver(Stage::History, next, Handover::Batch(batch));
                    } else {
                        window.append(&mut batch);
                        if window.len() >= SORT_WINDOW {
                            flush(&mut window);
                        }
                    }
                }
                settle @ Handover::Settle(_) => {
                    flush(&mut window);
                    self.deliver(Stage::History, next, settle);
                }
            }
        }
        flush(&mut window);
    }

    /// Does `stage`'s work on `message` here and passes it on to the next stage.
    fn process(&self, stage: Stage, next: &Senders, message: Handover) {
        let message = match message {
            Handover::Batch(mut batch) => {
                self.store(stage, &mut batch);
                Handover::Batch(batch)
            }
            settle @ Handover::Settle(_) => settle,
        };
        match stage {
            Stage::Index => self.deliver(Stage::History, next, message),
            Stage::History => {
                if let Handover::Settle(reply) = message {
                    // The caller waits for this; if it is gone, so is the wait.
                    let _ = reply.send(());
                }
            }
        }
    }

    /// Hands `message` to the thread of `stage`, or does that stage's work here if the thread
    /// is not running (it could not start, or it panicked: the scope passes the panic on when
    /// it joins).
    fn deliver(&self, stage: Stage, senders: &Senders, message: Handover) {
        let sender = match stage {
            Stage::Index => &senders.index,
            Stage::History => &senders.history,
        };
        let unsent = match sender {
            Some(sender) => match sender.send(message) {
                Ok(()) => return,
                Err(failed) => failed.0,
            },
            None => message,
        };
        self.process(stage, senders, unsent);
    }

    /// The work of `stage` on one batch.
    fn store(&self, stage: Stage, batch: &mut Batch) {
        match stage {
            Stage::Index => {
                for (key, record) in batch.iter_mut() {
                    *key = self.index.offer(key, record);
                }
            }
            Stage::History => {
                // The batch's references move into the skiplist: no count taken and given back.
                for (key, record) in batch.drain(..) {
                    let key = VersionKey {
                        key,
                        version: record.version,
                    };
                    self.history.insert(key, record);
                }
            }
        }
    }
}

/// Whether `batch` is in the skiplist's order, judged by 33 versions spread over it (its
/// first, its last, and 31 between): a guess, which only decides whether the batch waits to be
/// sorted, never what is stored. Spread rather than neighbours: a replayed log's batch is
/// several commits, each often in key order (a transaction's writes are), one after another.
fn looks_sorted(batch: &Batch) -> bool {
    let Some(last) = batch.last() else {
        return true;
    };
    let step = (batch.len() / 32).max(1);
    let mut samples = batch.iter().step_by(step).chain(std::iter::once(last));
    let Some(mut previous) = samples.next() else {
        return true;
    };
    samples.all(|sample| {
        let ordered = skiplist_order(previous, sample).is_le();
        previous = sample;
        ordered
    })
}

/// `batch` in the skiplist's order: key ascending, then version descending; versions pushed
/// twice keep their push order (the sort is stable), so the later push is still inserted last
/// and wins.
///
/// Why: a replayed log's keys come in commit order, which for most workloads is no order at
/// all, and each insert into a skiplist of millions of keys missed the cache at most of its
/// ~23 levels (an open of 10M keys, 6.3M of them replayed from the log, took 43 s against 6 s
/// for the same keys from a checkpoint, which is in key order). Inserted in key order, the
/// versions of a window share the upper part of their search paths. A checkpoint's versions
/// arrive sorted already, and the sort finds that in one pass.
fn sorted(mut batch: Batch) -> Batch {
    batch.sort_by(skiplist_order);
    batch
}

/// The skiplist's order of two loaded versions: key ascending, then version descending.
fn skiplist_order(
    (key_a, a): &(Arc<[u8]>, Arc<Record>),
    (key_b, b): &(Arc<[u8]>, Arc<Record>),
) -> std::cmp::Ordering {
    key_a[..]
        .cmp(&key_b[..])
        .then_with(|| b.version.cmp(&a.version))
}

impl Loader<'_> {
    /// Stores one version of `key`: written by commit `version` of `writer` at `timestamp`,
    /// with the cut marks a checkpoint kept for it. Versions may come in any order; if one
    /// version of a key is pushed twice, the later push wins (as in an apply).
    pub fn push(
        &mut self,
        version: Version,
        writer: RunId,
        timestamp: Timestamp,
        key: Arc<[u8]>,
        kind: MutationKind,
        cuts: Cuts,
    ) {
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

    /// Returns once every version pushed so far is in the skiplist and the index, so that the
    /// memtable's reads see them (nothing else may read or write it meanwhile).
    pub fn settle(&mut self) {
        self.hand_over();
        let (reply, settled) = sync_channel(1);
        self.memtable
            .deliver(Stage::Index, &self.senders, Handover::Settle(reply));
        // An error means a helper dropped the request as it panicked; the scope passes the
        // panic on when it joins, so nothing is left to wait for.
        let _ = settled.recv();
    }

    /// Sends the batch down the pipeline.
    fn hand_over(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.memtable
            .deliver(Stage::Index, &self.senders, Handover::Batch(batch));
    }
}

#[cfg(test)]
mod tests;
