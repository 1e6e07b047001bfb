//! Transactions: several reads and writes of one run, committed atomically as one log record,
//! with snapshot reads and optimistic concurrency control.
//!
//! A transaction reads the run's view as of its start (the run's snapshot plus the run's own
//! writes visible then), sees its own writes, and buffers its writes. At commit, every key it
//! read must still have the version it saw; otherwise the commit fails with
//! `Error::Conflict` naming the key and writes nothing (`Database::transaction_with_retry` runs
//! the closure again). Prefix scans and key ranges are not validated: two transactions may
//! each scan and write disjoint keys (snapshot isolation's write skew), as with every
//! snapshot-isolation store.
//! A transaction that writes nothing commits nothing: no log record, no version.

mod retry;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::{Key, RunId, TypeTag, Value, VersionedValue, concat_shared};
use in_mem_storage::{ReadView, StoredValue};

pub use retry::RetryPolicy;

use crate::error::Result;
use crate::instance::{Instance, Upper, bytes_of, damaged};
use crate::records::{Cells, EncodedRows, Events, RunData, Sequence, Spans};
use crate::runs::RunState;
use crate::write::{PendingOp, PendingWrite, ReadCheck};

/// An open transaction of one run. Created by `Database::transaction`; see the module docs.
pub struct Transaction<'a> {
    instance: &'a Instance,
    run: &'a RunState,
    view: ReadView,
    reads: Vec<ReadCheck>,
    writes: BTreeMap<Arc<[u8]>, PendingOp>,
    /// The record key built last: a record operation reads a key and then writes the same one
    /// (a cell's compare-and-swap, an event's create-only check), so it is built once.
    last_run_key: Option<Arc<[u8]>>,
    /// The lengths this transaction's appends leave the run's dense sequences (events, spans),
    /// handed to the run's hints once it commits.
    extended: [Option<u64>; 2],
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("run", &self.run.id)
            .field("snapshot", &self.view.snapshot)
            .field("reads", &self.reads.len())
            .field("writes", &self.writes.len())
            .finish()
    }
}

/// A value read inside a transaction: committed (with its version) or written by this
/// transaction (no version yet).
struct Found {
    value: Arc<[u8]>,
    stored: Option<StoredValue>,
}

impl<'a> Transaction<'a> {
    pub(crate) fn new(instance: &'a Instance, run: &'a RunState) -> Self {
        Transaction {
            instance,
            run,
            view: instance.view_of(run),
            reads: Vec::new(),
            writes: BTreeMap::new(),
            last_run_key: None,
            extended: [None; 2],
        }
    }

    /// The run this transaction belongs to.
    pub fn run(&self) -> RunId {
        self.run.id
    }

    /// The database clock's time now (what commits are stamped with).
    pub fn now(&self) -> in_mem_core_types::Timestamp {
        self.instance.now()
    }

    /// Number of writes buffered so far.
    pub fn write_count(&self) -> usize {
        self.writes.len()
    }

    // ----- the agent's memory (what `Database::put` / `get` use) ------------------------------

    /// The bytes under `key` in the agent's memory, as this transaction sees it.
    pub fn get(&mut self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let key = key.as_ref();
        let Some(found) = self.read(self.kv_key(key)?)? else {
            return Ok(None);
        };
        bytes_of(key, &found.value).map(|b| Some(b.to_vec()))
    }

    /// The typed value under `key`, with its version (0 for a value this transaction wrote:
    /// it has no version until the commit), timestamp and time to live.
    pub fn get_versioned(&mut self, key: impl AsRef<[u8]>) -> Result<Option<VersionedValue>> {
        let key = key.as_ref();
        let found = self.read(self.kv_key(key)?)?;
        found.map(|f| versioned(key, &f)).transpose()
    }

    /// The typed value under `key`.
    pub fn get_value(&mut self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        Ok(self.get_versioned(key)?.map(|v| v.value))
    }

    /// Whether `key` holds a live value.
    pub fn exists(&mut self, key: impl AsRef<[u8]>) -> Result<bool> {
        Ok(self.read(self.kv_key(key.as_ref())?)?.is_some())
    }

    /// Stores bytes under `key`.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let value = Value::encode_bytes_shared(value.as_ref())?;
        self.write(
            self.kv_key(key.as_ref())?,
            PendingOp::Put { value, ttl: None },
        );
        Ok(())
    }

    /// Stores bytes under `key` that read as absent once `ttl` has passed.
    pub fn put_with_ttl(
        &mut self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<()> {
        let value = Value::encode_bytes_shared(value.as_ref())?;
        self.write(
            self.kv_key(key.as_ref())?,
            PendingOp::Put {
                value,
                ttl: Some(ttl),
            },
        );
        Ok(())
    }

    /// Stores a typed value under `key`.
    pub fn put_value(&mut self, key: impl AsRef<[u8]>, value: &Value) -> Result<()> {
        let value = value.encode_shared()?;
        self.write(
            self.kv_key(key.as_ref())?,
            PendingOp::Put { value, ttl: None },
        );
        Ok(())
    }

    /// Stores a typed value under `key` with a time to live.
    pub fn put_value_with_ttl(
        &mut self,
        key: impl AsRef<[u8]>,
        value: &Value,
        ttl: Duration,
    ) -> Result<()> {
        let value = value.encode_shared()?;
        self.write(
            self.kv_key(key.as_ref())?,
            PendingOp::Put {
                value,
                ttl: Some(ttl),
            },
        );
        Ok(())
    }

    /// Deletes `key`; returns whether it held a live value in this transaction's view. The
    /// read is validated at commit, so two concurrent deletes of one key cannot both say `true`.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> Result<bool> {
        let full = self.kv_key(key.as_ref())?;
        let existed = self.read(Arc::clone(&full))?.is_some();
        if existed {
            self.write(full, PendingOp::Delete);
        }
        Ok(existed)
    }

    /// Every (key, bytes) under `prefix`, in key order, as this transaction sees them.
    pub fn list(&mut self, prefix: impl AsRef<[u8]>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let prefix = prefix.as_ref();
        check_prefix(prefix)?;
        let full = concat_shared(&[&self.run.kv_prefix, prefix]);
        self.scan(
            &full,
            Upper::WithinPrefix(&full),
            self.run.kv_prefix.len(),
            |key, found| bytes_of(key, &found.value).map(<[u8]>::to_vec),
        )
    }

    /// Every (key, typed value) under `prefix`, in key order, with versions.
    pub fn list_versioned(
        &mut self,
        prefix: impl AsRef<[u8]>,
    ) -> Result<Vec<(Vec<u8>, VersionedValue)>> {
        let prefix = prefix.as_ref();
        check_prefix(prefix)?;
        let full = concat_shared(&[&self.run.kv_prefix, prefix]);
        self.scan(
            &full,
            Upper::WithinPrefix(&full),
            self.run.kv_prefix.len(),
            versioned,
        )
    }

    /// Every (key, typed value) pair whose key is from `start` up to `end` (excluded; `None`:
    /// every key from `start` on), in key order, with versions: one walk, not prefix by
    /// prefix. Like a prefix scan, not validated at commit.
    pub fn range_versioned(
        &mut self,
        start: impl AsRef<[u8]>,
        end: Option<&[u8]>,
    ) -> Result<Vec<(Vec<u8>, VersionedValue)>> {
        let kv_prefix = Arc::clone(&self.run.kv_prefix);
        let Some(range) = KvRange::new(&kv_prefix, start.as_ref(), end)? else {
            return Ok(Vec::new());
        };
        self.scan(
            &range.lo,
            range.upper(&kv_prefix),
            kv_prefix.len(),
            versioned,
        )
    }

    // ----- the run's own records ----------------------------------------------------------------

    /// This run's event log.
    pub fn events(&mut self) -> Events<'_> {
        Events::new(self)
    }

    /// This run's state cells and declared machines.
    pub fn cells(&mut self) -> Cells<'_> {
        Cells::new(self)
    }

    /// This run's spans.
    pub fn spans(&mut self) -> Spans<'_> {
        Spans::new(self)
    }

    // ----- internals --------------------------------------------------------------------------

    /// The value under `key` in this run's data of type `tag` (events, state cells, spans): its
    /// own, or for a fork the nearest ancestor's as the fork's view sees it.
    fn get_run_value(&mut self, tag: TypeTag, key: &[u8]) -> Result<Option<Arc<[u8]>>> {
        let full = self.run_key(tag, key)?;
        // The run's own key is read (and validated at commit) even when a fork then finds the
        // value in an ancestor: a concurrent commit of the fork that creates it must conflict.
        if let Some(found) = self.read(full)? {
            return Ok(Some(found.value));
        }
        if self.run.ancestors.is_empty() {
            return Ok(None);
        }
        let suffix = [&[tag.as_byte()][..], key].concat();
        let inherited =
            self.instance
                .lookup_inherited(self.run, &self.view, &suffix, self.instance.now())?;
        Ok(inherited.and_then(|l| l.live).map(|stored| stored.value))
    }

    /// Stores `value` under `key` in this run's data of type `tag`.
    ///
    /// Event records are append-only: only `Events::append` writes a `TypeTag::Event` key, and
    /// only one it has just read as absent in this transaction. That read is validated at
    /// commit, so two transactions creating the same event key cannot both succeed.
    fn put_run_value(&mut self, tag: TypeTag, key: &[u8], value: Arc<[u8]>) -> Result<()> {
        let full = self.run_key(tag, key)?;
        self.write(full, PendingOp::Put { value, ttl: None });
        Ok(())
    }

    /// Every (key, value) of this run's data of type `tag` under `prefix`, in key order.
    fn scan_run_values(&mut self, tag: TypeTag, prefix: &[u8]) -> Result<EncodedRows> {
        let type_prefix = self.run_key(tag, b"")?;
        let full = concat_shared(&[&type_prefix, prefix]);
        self.scan(
            &full,
            Upper::WithinPrefix(&full),
            type_prefix.len(),
            encoded,
        )
    }

    /// Every (key, value) of this run's data of type `tag` with `start <= key < end`, in key
    /// order (`end: None` means to the end of the type's keys).
    fn scan_run_range(
        &mut self,
        tag: TypeTag,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<EncodedRows> {
        let type_prefix = self.run_key(tag, b"")?;
        let lo = concat_shared(&[&type_prefix, start]);
        let hi = end.map(|end| concat_shared(&[&type_prefix, end]));
        let upper = match &hi {
            Some(hi) => Upper::Before(hi),
            None => Upper::WithinPrefix(&type_prefix),
        };
        self.scan(&lo, upper, type_prefix.len(), encoded)
    }

    fn kv_key(&self, user_key: &[u8]) -> Result<Arc<[u8]>> {
        Key::validate_user_key(user_key)?;
        Ok(concat_shared(&[&self.run.kv_prefix, user_key]))
    }

    /// The full key of `user_key` in this run's records of type `tag` (never KV data or the run
    /// record, which have their own calls).
    fn run_key(&mut self, tag: TypeTag, user_key: &[u8]) -> Result<Arc<[u8]>> {
        debug_assert!(
            !matches!(tag, TypeTag::Kv | TypeTag::Run),
            "records are events, cells, spans and their indexes"
        );
        check_prefix(user_key)?;
        let at = self.run.data_prefix.len();
        if let Some(last) = &self.last_run_key
            && last.len() == at + 1 + user_key.len()
            && last[at] == tag.as_byte()
            && last[at + 1..] == *user_key
        {
            return Ok(Arc::clone(last));
        }
        let full = concat_shared(&[&self.run.data_prefix, &[tag.as_byte()], user_key]);
        self.last_run_key = Some(Arc::clone(&full));
        Ok(full)
    }

    /// Reads `key`: this transaction's own write if any, else the view (recording the version
    /// seen, for validation).
    fn read(&mut self, key: Arc<[u8]>) -> Result<Option<Found>> {
        if let Some(op) = self.writes.get(&key) {
            return Ok(match op {
                PendingOp::Put { value, .. } => Some(Found {
                    value: Arc::clone(value),
                    stored: None,
                }),
                PendingOp::Delete | PendingOp::DeletePrefix => None,
            });
        }
        let now = self.instance.now();
        let lookup = self.instance.lookup(self.run, &self.view, &key, now)?;
        self.reads.push(ReadCheck {
            key,
            observed: lookup.as_ref().map(|l| l.version),
        });
        Ok(lookup.and_then(|l| l.live).map(|s| Found {
            value: Arc::clone(&s.value),
            stored: Some(s),
        }))
    }

    fn write(&mut self, key: Arc<[u8]>, op: PendingOp) {
        self.writes.insert(key, op);
    }

    /// The live entries from `lo` up to `upper`: the view's, overlaid with this transaction's
    /// writes. `strip` leading bytes are cut from each returned key.
    fn scan<T>(
        &mut self,
        lo: &[u8],
        upper: Upper<'_>,
        strip: usize,
        mut convert: impl FnMut(&[u8], &Found) -> Result<T>,
    ) -> Result<Vec<(Vec<u8>, T)>> {
        // Both lists are in key order, so they merge in one pass as the committed entries come
        // (no list of them built first); an own write replaces a committed entry of the same
        // key.
        let mut own = self
            .writes
            .range::<[u8], _>((Bound::Included(lo), Bound::Unbounded))
            .take_while(|(k, _)| upper.admits(k))
            .peekable();
        let mut out = Vec::new();
        let mut emit = |key: &[u8], found: Option<Found>| -> Result<()> {
            if let Some(found) = found {
                let user_key = &key[strip..];
                out.push((user_key.to_vec(), convert(user_key, &found)?));
            }
            Ok(())
        };
        self.for_each_committed(lo, upper, &mut |key, stored| {
            while let Some((own_key, op)) = own.next_if(|(k, _)| ***k < *key) {
                emit(own_key, own_found(op))?;
            }
            if let Some((own_key, op)) = own.next_if(|(k, _)| ***k == *key) {
                return emit(own_key, own_found(op));
            }
            let value = Arc::clone(&stored.value);
            emit(
                &key,
                Some(Found {
                    value,
                    stored: Some(stored),
                }),
            )
        })?;
        for (own_key, op) in own {
            emit(own_key, own_found(op))?;
        }
        Ok(out)
    }

    /// Calls `each` with the committed live entries from `lo` up to `upper` that the view sees,
    /// in key order. Under the run's records, a fork's are merged with its ancestors' (as if
    /// they were the fork's own keys).
    fn for_each_committed(
        &self,
        lo: &[u8],
        upper: Upper<'_>,
        each: &mut dyn FnMut(Arc<[u8]>, StoredValue) -> Result<()>,
    ) -> Result<()> {
        let now = self.instance.now();
        let own = &self.run.data_prefix[..];
        if self.run.ancestors.is_empty() || !lo.starts_with(own) {
            self.instance
                .scan_with(self.run, &self.view, lo, upper, now, |key, stored| {
                    each(Arc::clone(key), stored.to_stored())
                })?;
            return Ok(());
        }
        let suffix_upper = match upper {
            Upper::WithinPrefix(p) => Upper::WithinPrefix(&p[own.len()..]),
            Upper::Before(hi) => Upper::Before(&hi[own.len()..]),
        };
        let merged = self.instance.scan_lineage(
            self.run,
            &self.view,
            &lo[own.len()..],
            suffix_upper,
            now,
        )?;
        for (suffix, value) in merged {
            each(concat_shared(&[own, &suffix]), value)?;
        }
        Ok(())
    }

    /// Commits the buffered writes (nothing at all for a read-only transaction). Returns the
    /// commit version, or `None` if there was nothing to write.
    pub(crate) fn commit(self, wait: in_mem_durability::WaitFor) -> Result<Option<u64>> {
        if self.writes.is_empty() {
            return Ok(None);
        }
        let _writable = self.run.writable()?;
        let writes: Vec<PendingWrite> = self
            .writes
            .into_iter()
            .map(|(key, op)| PendingWrite { key, op })
            .collect();
        let version = self.instance.commit(self.run, &writes, &self.reads, wait)?;
        for (sequence, len) in [Sequence::Events, Sequence::Spans]
            .into_iter()
            .zip(self.extended)
        {
            if let Some(len) = len {
                self.run.record_hints.note(sequence, len);
            }
        }
        if writes
            .iter()
            .any(|w| matches!(w.op, PendingOp::Put { ttl: Some(_), .. }))
        {
            self.instance.note_ttl_write();
        }
        Ok(Some(version.get()))
    }
}

/// A found value's stored encoding, as the records read it.
#[allow(clippy::unnecessary_wraps)] // The shape `scan` converts with.
fn encoded(_key: &[u8], found: &Found) -> Result<Arc<[u8]>> {
    Ok(Arc::clone(&found.value))
}

fn versioned(key: &[u8], found: &Found) -> Result<VersionedValue> {
    match &found.stored {
        Some(stored) => crate::instance::versioned(key, stored),
        None => Ok(VersionedValue {
            value: Value::decode(&found.value).map_err(|e| damaged(key, &e))?,
            version: 0,
            timestamp: in_mem_core_types::Timestamp::EPOCH,
            ttl: None,
        }),
    }
}

/// Refuses a key or prefix longer than the user-key limit.
pub(crate) fn check_prefix(prefix: &[u8]) -> Result<()> {
    let max = in_mem_core_types::limits::USER_KEY_BYTES_MAX;
    if prefix.len() > max {
        return Err(in_mem_core_types::Error::KeyTooLong {
            len: prefix.len(),
            max,
        }
        .into());
    }
    Ok(())
}

/// The full keys a KV range of user keys covers: its first key and, if it has one, the key it
/// ends before.
pub(crate) struct KvRange {
    pub lo: Arc<[u8]>,
    hi: Option<Arc<[u8]>>,
}

impl KvRange {
    /// The range of user keys from `start` up to `end` (excluded) under `kv_prefix`; `None`
    /// when it is empty. Both bounds are checked as prefixes (a key's length limit).
    pub fn new(kv_prefix: &[u8], start: &[u8], end: Option<&[u8]>) -> Result<Option<Self>> {
        check_prefix(start)?;
        if let Some(end) = end {
            check_prefix(end)?;
            if end <= start {
                return Ok(None);
            }
        }
        Ok(Some(KvRange {
            lo: concat_shared(&[kv_prefix, start]),
            hi: end.map(|end| concat_shared(&[kv_prefix, end])),
        }))
    }

    /// Where a scan from `lo` stops: before `hi`, or at the end of `kv_prefix`.
    pub fn upper<'k>(&'k self, kv_prefix: &'k [u8]) -> Upper<'k> {
        match &self.hi {
            Some(hi) => Upper::Before(hi),
            None => Upper::WithinPrefix(kv_prefix),
        }
    }
}

impl RunData for Transaction<'_> {
    fn get(&mut self, tag: TypeTag, key: &[u8]) -> Result<Option<Arc<[u8]>>> {
        self.get_run_value(tag, key)
    }

    fn put(&mut self, tag: TypeTag, key: &[u8], value: Arc<[u8]>) -> Result<()> {
        self.put_run_value(tag, key, value)
    }

    fn scan(&mut self, tag: TypeTag, prefix: &[u8]) -> Result<EncodedRows> {
        self.scan_run_values(tag, prefix)
    }

    fn scan_range(
        &mut self,
        tag: TypeTag,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<EncodedRows> {
        self.scan_run_range(tag, start, end)
    }

    fn now(&self) -> in_mem_core_types::Timestamp {
        self.instance.now()
    }

    fn hint(&self, sequence: Sequence) -> u64 {
        self.extended[sequence as usize].unwrap_or_else(|| self.run.record_hints.get(sequence))
    }

    fn extended(&mut self, sequence: Sequence, len: u64) {
        self.extended[sequence as usize] = Some(len);
    }
}

/// What a transaction's own write leaves under its key: the value put, or nothing.
fn own_found(op: &PendingOp) -> Option<Found> {
    match op {
        PendingOp::Put { value, .. } => Some(Found {
            value: Arc::clone(value),
            stored: None,
        }),
        PendingOp::Delete | PendingOp::DeletePrefix => None,
    }
}
