//! `EventLog`: a run's append-only, hash-chained log of what happened, with typed payloads.
//!
//! The log itself (dense sequences, the hash chain, the by-type index) is the engine's
//! [`Events`](in_mem_engine::Events); this adds serde payloads and the run-scoped calls.

use std::ops::Range;

use in_mem_core_types::RunId;
use in_mem_engine::{ChainSummary, Database, Event, RetryPolicy, Transaction};
use serde::Serialize;

use crate::convert::to_stored;
use in_mem_engine::Result;

/// Events read per batch by [`EventLog::iter`].
const ITER_BATCH: u64 = 256;

/// A run's append-only event log.
///
/// ```
/// use in_mem_engine::Database;
/// use in_mem_primitives::EventLog;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Database::open(dir.path())?;
/// let run = db.begin_run();
/// let events = EventLog::new(&db);
/// assert_eq!(events.append(run, "observed", "sunny")?, 0);
/// assert_eq!(events.append(run, "decided", "take the bus")?, 1);
/// assert_eq!(events.len(run)?, 2);
/// assert_eq!(events.verify_chain(run)?.events, 2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct EventLog {
    db: Database,
}

impl EventLog {
    /// The event logs of `db`'s runs.
    pub fn new(db: &Database) -> Self {
        EventLog { db: db.clone() }
    }

    /// Appends an event to `run`'s log; returns its sequence number. Concurrent appenders to
    /// one run are serialized by optimistic concurrency and retried: sequences stay dense.
    pub fn append<T: Serialize>(&self, run: RunId, event_type: &str, payload: T) -> Result<u64> {
        let payload = to_stored(&payload)?;
        self.db
            .transaction_with_retry(run, RetryPolicy::default(), |tx| {
                tx.events().append(event_type, &payload)
            })
    }

    /// Appends an event inside a transaction (with the transaction's other writes, atomically).
    pub fn append_in<T: Serialize>(
        tx: &mut Transaction<'_>,
        event_type: &str,
        payload: T,
    ) -> Result<u64> {
        tx.events().append(event_type, &to_stored(&payload)?)
    }

    /// The event at `sequence`, if the log has one.
    pub fn read(&self, run: RunId, sequence: u64) -> Result<Option<Event>> {
        self.db.transaction(run, |tx| tx.events().get(sequence))
    }

    /// The events with sequences in `range`, in order.
    pub fn read_range(&self, run: RunId, range: Range<u64>) -> Result<Vec<Event>> {
        self.db.transaction(run, |tx| tx.events().range(range))
    }

    /// Every event of type `event_type`, in order.
    pub fn read_by_type(&self, run: RunId, event_type: &str) -> Result<Vec<Event>> {
        self.db
            .transaction(run, |tx| tx.events().by_type(event_type))
    }

    /// The number of events in `run`'s log.
    pub fn len(&self, run: RunId) -> Result<u64> {
        self.db.transaction(run, |tx| tx.events().len())
    }

    /// Whether `run`'s log is empty.
    pub fn is_empty(&self, run: RunId) -> Result<bool> {
        Ok(self.len(run)? == 0)
    }

    /// The newest event, if any.
    pub fn head(&self, run: RunId) -> Result<Option<Event>> {
        self.db.transaction(run, |tx| tx.events().head())
    }

    /// An iterator over `run`'s events from the first, reading them in batches.
    pub fn iter(&self, run: RunId) -> EventIter<'_> {
        EventIter {
            log: self,
            run,
            next: 0,
            batch: Vec::new().into_iter(),
            done: false,
        }
    }

    /// Checks the whole chain: sequences dense from 0, each event's `prev_hash` equal to the
    /// hash of the event before it, each hash recomputed from the event's content, and the head
    /// agreeing with the newest event. The first bad event is `Error::ChainBroken` naming it.
    pub fn verify_chain(&self, run: RunId) -> Result<ChainSummary> {
        self.db.transaction(run, |tx| tx.events().verify_chain(run))
    }
}

/// Iterator over a run's events (see [`EventLog::iter`]).
#[derive(Debug)]
pub struct EventIter<'a> {
    log: &'a EventLog,
    run: RunId,
    next: u64,
    batch: std::vec::IntoIter<Event>,
    done: bool,
}

impl Iterator for EventIter<'_> {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(event) = self.batch.next() {
            return Some(Ok(event));
        }
        if self.done {
            return None;
        }
        match self
            .log
            .read_range(self.run, self.next..self.next.saturating_add(ITER_BATCH))
        {
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
            Ok(events) => {
                if (events.len() as u64) < ITER_BATCH {
                    self.done = true;
                }
                if let Some(last) = events.last() {
                    self.next = last.sequence + 1;
                }
                self.batch = events.into_iter();
                self.batch.next().map(Ok)
            }
        }
    }
}
