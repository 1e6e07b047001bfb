//! A run's event log: append-only, dense sequence numbers from 0, and a hash chain that
//! [`Events::verify_chain`] checks.
//!
//! Stored under the run's namespace: each event as `TypeTag::Event` key = sequence (u64
//! big-endian), which the engine keeps create-only (events cannot be changed or deleted), and
//! its by-type index entry under `TypeTag::Index`, written in the same commit as the event.
//! There is no head record: the log's length and newest hash are read off its newest event,
//! found from the run's hint (`dense.rs`). Databases written before kept one (`event-head`);
//! it is no longer read or written.

use std::ops::Range;

use in_mem_core_types::{RunId, Timestamp, TypeTag, Value};

use super::chain::{GENESIS, event_hash, event_hash_encoded};
use super::dense::{End, Sequence, find_end};
use super::fields::{EncodedRecord, RecordBuilder, check_canonical, check_name, damaged, naming};
use super::{RunData, index_entry};
use crate::error::{Error, Result};

pub(super) const TYPE_INDEX: &[u8] = b"event-type:";
/// Events read per batch by [`Events::verify_chain`].
const VERIFY_BATCH: u64 = 256;

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

/// What [`Events::verify_chain`] checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainSummary {
    /// Events in the log, all verified.
    pub events: u64,
    /// The hash of the newest event (zeros for an empty log).
    pub head_hash: [u8; 32],
}

/// A transaction's access to its run's event log (`tx.events()`).
///
/// ```
/// use in_mem_core_types::Value;
/// use in_mem_engine::Database;
///
/// # fn main() -> Result<(), in_mem_engine::Error> {
/// # let dir = tempfile::tempdir().unwrap();
/// let db = Database::open(dir.path())?;
/// let run = db.begin_run();
/// db.transaction(run, |tx| {
///     assert_eq!(tx.events().append("observed", &Value::from("sunny"))?, 0);
///     tx.events().append("decided", &Value::from("take the bus"))
/// })?;
/// let summary = db.transaction(run, |tx| tx.events().verify_chain(run))?;
/// assert_eq!(summary.events, 2);
/// # Ok(())
/// # }
/// ```
pub struct Events<'t> {
    data: &'t mut dyn RunData,
}

impl<'t> Events<'t> {
    pub(crate) fn new(data: &'t mut dyn RunData) -> Self {
        Events { data }
    }

    /// Appends an event; returns its sequence number. Two transactions of one run appending at
    /// once conflict at commit (both read the sequence they take as absent), so sequences stay
    /// dense.
    pub fn append(&mut self, event_type: &str, payload: &Value) -> Result<u64> {
        check_name("event type", event_type)?;
        check_canonical(payload)?;
        let (sequence, prev_hash) = self.head_entry()?;
        let timestamp = self.data.now();
        // Encoded once: hashed, then stored as it is.
        let encoded = payload.encode()?;
        let hash = event_hash_encoded(&prev_hash, sequence, timestamp, event_type, &encoded);
        let record = RecordBuilder::new()
            .text("type", event_type)
            .encoded("payload", &encoded)
            .time("timestamp", timestamp)
            .bytes("prev", &prev_hash)
            .bytes("hash", &hash)
            .build()?;
        self.data
            .put(TypeTag::Event, &sequence.to_be_bytes(), record)?;
        self.data.put(
            TypeTag::Index,
            &type_index_key(event_type, sequence),
            index_entry(),
        )?;
        self.data.extended(Sequence::Events, sequence + 1);
        Ok(sequence)
    }

    /// The event at `sequence`, if the log has one.
    pub fn get(&mut self, sequence: u64) -> Result<Option<Event>> {
        let key = sequence.to_be_bytes();
        let stored = self.data.get(TypeTag::Event, &key)?;
        stored.map(|v| decode_event(&key, &v)).transpose()
    }

    /// The events with sequences in `range`, in order.
    pub fn range(&mut self, range: Range<u64>) -> Result<Vec<Event>> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.data.scan_range(
            TypeTag::Event,
            &range.start.to_be_bytes(),
            Some(&range.end.to_be_bytes()),
        )?;
        rows.into_iter()
            .map(|(key, v)| decode_event(&key, &v))
            .collect()
    }

    /// Every event of type `event_type`, in order.
    pub fn by_type(&mut self, event_type: &str) -> Result<Vec<Event>> {
        check_name("event type", event_type)?;
        let prefix = type_index_prefix(event_type);
        let entries = self.data.scan(TypeTag::Index, &prefix)?;
        let mut events = Vec::with_capacity(entries.len());
        for (key, _) in entries {
            let sequence = sequence_of(key.get(prefix.len()..).unwrap_or_default())?;
            let event = self.get(sequence)?.ok_or_else(|| {
                damaged(
                    "event-type index",
                    format!("names missing event {sequence}"),
                )
            })?;
            events.push(event);
        }
        Ok(events)
    }

    /// The number of events in the log.
    pub fn len(&mut self) -> Result<u64> {
        Ok(self.end()?.len)
    }

    /// Whether the log is empty.
    pub fn is_empty(&mut self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The newest event, if any.
    pub fn head(&mut self) -> Result<Option<Event>> {
        let end = self.end()?;
        end.last
            .map(|newest| decode_event(&(end.len - 1).to_be_bytes(), &newest))
            .transpose()
    }

    /// Checks the whole chain: sequences dense from 0, each event's `prev_hash` equal to the
    /// hash of the event before it, each hash recomputed from the event's content, and the log's
    /// end (what appends go on from) right after the newest event. The first bad event is [`Error::ChainBroken`] naming it
    /// (`run` names the run in that error).
    pub fn verify_chain(&mut self, run: RunId) -> Result<ChainSummary> {
        let mut prev = GENESIS;
        let mut expected = 0u64;
        loop {
            let batch = self.range(expected..expected.saturating_add(VERIFY_BATCH))?;
            let full = batch.len() as u64 == VERIFY_BATCH;
            for event in batch {
                let broken = |reason: &str| Error::ChainBroken {
                    run,
                    sequence: event.sequence,
                    reason: reason.to_owned(),
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
                        "its previous hash is not the hash of the event before it",
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
                    return Err(broken("its content does not match its hash"));
                }
                prev = event.hash;
                expected += 1;
            }
            if !full {
                break;
            }
        }
        let next = self.end()?.len;
        if next != expected {
            return Err(Error::ChainBroken {
                run,
                sequence: expected,
                reason: format!("the log ends at {next} events, {expected} were found in order"),
            });
        }
        Ok(ChainSummary {
            events: expected,
            head_hash: prev,
        })
    }

    /// The next sequence and the newest hash, read off the newest event. An event that does not
    /// decode is an error: never a silent restart at sequence 0 (a named regression, from when
    /// a head record kept these).
    fn head_entry(&mut self) -> Result<(u64, [u8; 32])> {
        let end = self.end()?;
        let Some(newest) = end.last else {
            return Ok((0, GENESIS));
        };
        let record = EncodedRecord::new("event", &newest)
            .map_err(|e| naming(e, || format!("event {}", end.len - 1)))?;
        Ok((end.len, hash_of(&record, "hash")?))
    }

    /// The log's length and its newest event's record.
    fn end(&mut self) -> Result<End> {
        let data = &mut *self.data;
        let hint = data.hint(Sequence::Events);
        find_end(hint, |sequence| {
            data.get(TypeTag::Event, &sequence.to_be_bytes())
        })
    }
}

impl std::fmt::Debug for Events<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

fn decode_event(key: &[u8], encoded: &[u8]) -> Result<Event> {
    let sequence = sequence_of(key)?;
    decode_event_fields(sequence, encoded).map_err(|e| naming(e, || format!("event {sequence}")))
}

fn decode_event_fields(sequence: u64, encoded: &[u8]) -> Result<Event> {
    let record = EncodedRecord::new("event", encoded)?;
    Ok(Event {
        sequence,
        event_type: record.text("type")?.to_owned(),
        payload: record.value("payload")?,
        timestamp: record.time("timestamp")?,
        prev_hash: hash_of(&record, "prev")?,
        hash: hash_of(&record, "hash")?,
    })
}

fn hash_of(record: &EncodedRecord<'_>, field: &str) -> Result<[u8; 32]> {
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
