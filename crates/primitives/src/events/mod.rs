//! `EventLog`: a run's append-only log of what happened, with dense sequence numbers and a
//! hash chain that `verify_chain` checks.
//!
//! Stored under the run's namespace: each event as `TypeTag::Event` key = sequence (u64
//! big-endian), which the engine keeps create-only (events cannot be changed or deleted); the
//! log's head (next sequence and last hash) and the by-type index under `TypeTag::Index`,
//! written in the same commit as the event.

mod chain;

use std::ops::Range;

use in_mem_core_types::{RunId, Timestamp, TypeTag, Value};
use in_mem_engine::{Database, RetryPolicy, Transaction};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::record::{Record, RecordBuilder, check_canonical, check_name, damaged};
use crate::value_serde::to_value;
use chain::{GENESIS, event_hash};

const HEAD_KEY: &[u8] = b"event-head";
const TYPE_INDEX: &[u8] = b"event-type:";
/// Events read per batch by [`EventLog::iter`].
const ITER_BATCH: u64 = 256;

/// One event of a run's log.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its place in the log: 0 for the first event, then 1, 2, ... with no gaps.
    pub sequence: u64,
    /// What kind of event it is (`"observation"`, `"tool_result"` ...).
    pub event_type: String,
    /// What the event carries.
    pub payload: Value,
    /// When it was appended.
    pub timestamp: Timestamp,
    /// The hash of the event before it (zeros for the first).
    pub prev_hash: [u8; 32],
    /// This event's hash (see the chain module for what it covers).
    pub hash: [u8; 32],
}

/// What [`EventLog::verify_chain`] checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainSummary {
    /// Events in the log, all verified.
    pub events: u64,
    /// The hash of the newest event (zeros for an empty log).
    pub head_hash: [u8; 32],
}

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
        let payload = payload_value(&payload)?;
        self.db
            .transaction_with_retry(run, RetryPolicy::default(), |tx| {
                Self::append_value_in(tx, event_type, &payload)
            })
    }

    /// Appends an event inside a transaction (with the transaction's other writes, atomically).
    pub fn append_in<T: Serialize>(
        tx: &mut Transaction<'_>,
        event_type: &str,
        payload: T,
    ) -> Result<u64> {
        let payload = payload_value(&payload)?;
        Self::append_value_in(tx, event_type, &payload)
    }

    fn append_value_in(tx: &mut Transaction<'_>, event_type: &str, payload: &Value) -> Result<u64> {
        check_name("event type", event_type)?;
        let (sequence, prev_hash) = read_head(tx)?;
        let timestamp = tx.now();
        let hash = event_hash(&prev_hash, sequence, timestamp, event_type, payload)?;
        let record = RecordBuilder::new()
            .text("type", event_type)
            .field("payload", payload.clone())
            .time("timestamp", timestamp)
            .bytes("prev", &prev_hash)
            .bytes("hash", &hash)
            .build();
        tx.put_run_value(TypeTag::Event, &sequence.to_be_bytes(), &record)?;
        tx.put_run_value(
            TypeTag::Index,
            &type_index_key(event_type, sequence),
            &Value::Null,
        )?;
        let head = RecordBuilder::new()
            .count("next", sequence + 1)
            .bytes("hash", &hash)
            .build();
        tx.put_run_value(TypeTag::Index, HEAD_KEY, &head)?;
        Ok(sequence)
    }

    /// The event at `sequence`, if the log has one.
    pub fn read(&self, run: RunId, sequence: u64) -> Result<Option<Event>> {
        self.db.transaction(run, |tx| read_event(tx, sequence))
    }

    /// The events with sequences in `range`, in order.
    pub fn read_range(&self, run: RunId, range: Range<u64>) -> Result<Vec<Event>> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        self.db.transaction(run, |tx| {
            let rows = tx.scan_run_range(
                TypeTag::Event,
                &range.start.to_be_bytes(),
                Some(&range.end.to_be_bytes()),
            )?;
            rows.into_iter()
                .map(|(key, v)| decode_event(&key, &v.value))
                .collect()
        })
    }

    /// Every event of type `event_type`, in order.
    pub fn read_by_type(&self, run: RunId, event_type: &str) -> Result<Vec<Event>> {
        check_name("event type", event_type)?;
        self.db.transaction(run, |tx| {
            let prefix = type_index_prefix(event_type);
            let entries = tx.scan_run_values(TypeTag::Index, &prefix)?;
            let mut events = Vec::with_capacity(entries.len());
            for (key, _) in entries {
                let sequence = sequence_of(&key[prefix.len()..])?;
                let event = read_event(tx, sequence)?.ok_or_else(|| {
                    damaged(
                        "event-type index",
                        format!("names missing event {sequence}"),
                    )
                })?;
                events.push(event);
            }
            Ok(events)
        })
    }

    /// The number of events in `run`'s log.
    pub fn len(&self, run: RunId) -> Result<u64> {
        self.db.transaction(run, |tx| Ok(read_head(tx)?.0))
    }

    /// Whether `run`'s log is empty.
    pub fn is_empty(&self, run: RunId) -> Result<bool> {
        Ok(self.len(run)? == 0)
    }

    /// The newest event, if any.
    pub fn head(&self, run: RunId) -> Result<Option<Event>> {
        self.db.transaction(run, |tx| {
            let (next, _) = read_head(tx)?;
            match next.checked_sub(1) {
                Some(last) => read_event(tx, last),
                None => Ok(None),
            }
        })
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
    /// agreeing with the newest event. The first bad event is [`Error::ChainBroken`] naming it.
    pub fn verify_chain(&self, run: RunId) -> Result<ChainSummary> {
        let mut prev = GENESIS;
        let mut expected = 0u64;
        for event in self.iter(run) {
            let event = event?;
            let broken = |reason: String| Error::ChainBroken {
                run,
                sequence: event.sequence,
                reason,
            };
            if event.sequence != expected {
                return Err(Error::ChainBroken {
                    run,
                    sequence: expected,
                    reason: format!("missing: the next event found is {}", event.sequence),
                });
            }
            if event.prev_hash != prev {
                return Err(broken(
                    "its previous hash is not the hash of the event before it".into(),
                ));
            }
            let recomputed = event_hash(
                &prev,
                event.sequence,
                event.timestamp,
                &event.event_type,
                &event.payload,
            )?;
            if recomputed != event.hash {
                return Err(broken("its content does not match its hash".into()));
            }
            prev = event.hash;
            expected += 1;
        }
        let (next, head_hash) = self.db.transaction(run, read_head)?;
        if next != expected || head_hash != prev {
            return Err(Error::ChainBroken {
                run,
                sequence: expected,
                reason: format!("the log's head says {next} events, {expected} were found"),
            });
        }
        Ok(ChainSummary {
            events: expected,
            head_hash: prev,
        })
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

fn payload_value<T: Serialize>(payload: &T) -> Result<Value> {
    let value = to_value(payload).map_err(|e| Error::Unrepresentable {
        type_name: std::any::type_name::<T>(),
        detail: e.0,
    })?;
    check_canonical(&value)?;
    Ok(value)
}

/// The next sequence and the newest hash. A head that does not decode is an error: never a
/// silent restart at sequence 0 (named regression from TESTING.md).
fn read_head(tx: &mut Transaction<'_>) -> Result<(u64, [u8; 32])> {
    let Some(head) = tx.get_run_value(TypeTag::Index, HEAD_KEY)? else {
        return Ok((0, GENESIS));
    };
    let record = Record::new("event-log head", &head.value)?;
    Ok((record.count("next")?, hash_of(&record, "hash")?))
}

fn read_event(tx: &mut Transaction<'_>, sequence: u64) -> Result<Option<Event>> {
    let key = sequence.to_be_bytes();
    let stored = tx.get_run_value(TypeTag::Event, &key)?;
    stored.map(|v| decode_event(&key, &v.value)).transpose()
}

fn decode_event(key: &[u8], value: &Value) -> Result<Event> {
    let sequence = sequence_of(key)?;
    let record = Record::new("event", value)?;
    Ok(Event {
        sequence,
        event_type: record.text("type")?.to_owned(),
        payload: record.value("payload")?.clone(),
        timestamp: record.time("timestamp")?,
        prev_hash: hash_of(&record, "prev")?,
        hash: hash_of(&record, "hash")?,
    })
}

fn hash_of(record: &Record<'_>, field: &str) -> Result<[u8; 32]> {
    record
        .bytes(field)?
        .try_into()
        .map_err(|_| damaged("event", format!("field {field} is not 32 bytes")))
}

fn sequence_of(key: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| damaged("event key", "is not an 8-byte sequence"))?;
    Ok(u64::from_be_bytes(bytes))
}

fn type_index_prefix(event_type: &str) -> Vec<u8> {
    [TYPE_INDEX, event_type.as_bytes(), &[0]].concat()
}

fn type_index_key(event_type: &str, sequence: u64) -> Vec<u8> {
    [
        type_index_prefix(event_type).as_slice(),
        &sequence.to_be_bytes(),
    ]
    .concat()
}
