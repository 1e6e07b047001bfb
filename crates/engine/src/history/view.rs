//! `RunView`: a run as it was at a point of its life, read-only, with the whole read API.

use std::sync::Arc;

use in_mem_core_types::{Key, RunId, Timestamp, TypeTag, Value, VersionedValue, concat_shared};
use in_mem_storage::{ReadView, StoredValue};

use crate::error::{Error, Result};
use crate::instance::{Instance, RunRef, Upper, bytes_of, versioned, view_at};
use crate::records::{Cells, EncodedRows, Events, RunData, Sequence, Spans};
use crate::transaction::{KvRange, check_prefix};

/// A run as it was right after one of its points: its snapshot of the agent's memory, its own
/// writes up to the point (a fork's: also what it was forked with). Every read of the run's
/// data works here (KV, events, state cells and machines, spans); writes are
/// [`Error::ReadOnlyView`]. Made by [`Database::run_view_at`](crate::Database::run_view_at).
///
/// Values with a time to live read as they do now: one that has expired since reads as absent.
/// A read that needs a version retention reclaimed is [`Error::HistoryPruned`], never an older
/// value.
pub struct RunView {
    instance: Arc<Instance>,
    /// Its agent held in a connected database's cache while this lives.
    run: RunRef,
    view: ReadView,
    point: u64,
}

impl std::fmt::Debug for RunView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunView")
            .field("run", &self.run.id)
            .field("version", &self.point)
            .finish_non_exhaustive()
    }
}

impl RunView {
    pub(crate) fn new(
        instance: Arc<Instance>,
        run: RunRef,
        point: in_mem_core_types::Version,
        current: bool,
    ) -> Self {
        let view = view_at(&run, point, current);
        RunView {
            instance,
            run,
            view,
            point: point.get(),
        }
    }

    /// The run.
    pub fn run(&self) -> RunId {
        self.run.id
    }

    /// The version this view is at: the run's own commits up to it are in it.
    pub fn version(&self) -> u64 {
        self.point
    }

    // ----- the agent's memory -----------------------------------------------------------------

    /// The bytes under `key`, as the run saw them at this point.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let key = key.as_ref();
        match self.read_kv(key)? {
            Some(stored) => bytes_of(key, &stored.value).map(|b| Some(b.to_vec())),
            None => Ok(None),
        }
    }

    /// The typed value under `key`, with its version, timestamp and time to live.
    pub fn get_versioned(&self, key: impl AsRef<[u8]>) -> Result<Option<VersionedValue>> {
        let key = key.as_ref();
        self.read_kv(key)?
            .map(|stored| versioned(key, &stored))
            .transpose()
    }

    /// The typed value under `key`.
    pub fn get_value(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        Ok(self.get_versioned(key)?.map(|v| v.value))
    }

    /// Every (key, bytes) under `prefix`, in key order.
    pub fn list(&self, prefix: impl AsRef<[u8]>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.scan_kv(prefix.as_ref(), |key, stored| {
            bytes_of(key, &stored.value).map(<[u8]>::to_vec)
        })
    }

    /// Every (key, typed value) under `prefix`, in key order, with versions.
    pub fn list_versioned(
        &self,
        prefix: impl AsRef<[u8]>,
    ) -> Result<Vec<(Vec<u8>, VersionedValue)>> {
        self.scan_kv(prefix.as_ref(), versioned)
    }

    /// Every (key, typed value) pair whose key is from `start` up to `end` (excluded; `None`:
    /// every key from `start` on), in key order, with versions.
    pub fn range_versioned(
        &self,
        start: impl AsRef<[u8]>,
        end: Option<&[u8]>,
    ) -> Result<Vec<(Vec<u8>, VersionedValue)>> {
        let kv_prefix = &self.run.kv_prefix;
        let Some(range) = KvRange::new(kv_prefix, start.as_ref(), end)? else {
            return Ok(Vec::new());
        };
        self.scan_kv_from(&range.lo, range.upper(kv_prefix), versioned)
    }

    // ----- the run's records ------------------------------------------------------------------

    /// The run's event log at this point.
    pub fn events(&mut self) -> Events<'_> {
        Events::new(self)
    }

    /// The run's state cells and machines at this point.
    pub fn cells(&mut self) -> Cells<'_> {
        Cells::new(self)
    }

    /// The run's spans at this point.
    pub fn spans(&mut self) -> Spans<'_> {
        Spans::new(self)
    }

    // ----- internals --------------------------------------------------------------------------

    fn read_kv(&self, user_key: &[u8]) -> Result<Option<StoredValue>> {
        Key::validate_user_key(user_key)?;
        let full = concat_shared(&[&self.run.kv_prefix, user_key]);
        self.instance
            .get(&self.run, &self.view, &full, self.instance.now())
    }

    fn scan_kv<T>(
        &self,
        prefix: &[u8],
        convert: impl Fn(&[u8], &StoredValue) -> Result<T>,
    ) -> Result<Vec<(Vec<u8>, T)>> {
        check_prefix(prefix)?;
        let full = concat_shared(&[&self.run.kv_prefix, prefix]);
        self.scan_kv_from(&full, Upper::WithinPrefix(&full), convert)
    }

    /// The pairs from full key `lo` up to `upper`, each value turned by `convert`.
    fn scan_kv_from<T>(
        &self,
        lo: &[u8],
        upper: Upper<'_>,
        convert: impl Fn(&[u8], &StoredValue) -> Result<T>,
    ) -> Result<Vec<(Vec<u8>, T)>> {
        let rows = self
            .instance
            .scan(&self.run, &self.view, lo, upper, self.instance.now())?;
        let strip = self.run.kv_prefix.len();
        rows.into_iter()
            .map(|(key, stored)| {
                let user_key = &key[strip..];
                Ok((user_key.to_vec(), convert(user_key, &stored)?))
            })
            .collect()
    }

    fn records(&self, tag: TypeTag, lo: &[u8], upper: Upper<'_>) -> Result<EncodedRows> {
        let merged =
            self.instance
                .scan_lineage(&self.run, &self.view, lo, upper, self.instance.now())?;
        Ok(merged
            .into_iter()
            .map(|(suffix, stored)| {
                debug_assert_eq!(suffix.first(), Some(&tag.as_byte()));
                (suffix[1..].to_vec(), stored.value)
            })
            .collect())
    }
}

impl RunData for RunView {
    fn get(&mut self, tag: TypeTag, key: &[u8]) -> Result<Option<Arc<[u8]>>> {
        check_prefix(key)?;
        let suffix = [&[tag.as_byte()][..], key].concat();
        let found =
            self.instance
                .lookup_record(&self.run, &self.view, &suffix, self.instance.now())?;
        Ok(found.and_then(|l| l.live).map(|stored| stored.value))
    }

    fn put(&mut self, _tag: TypeTag, _key: &[u8], _value: Arc<[u8]>) -> Result<()> {
        Err(Error::ReadOnlyView { run: self.run.id })
    }

    fn hint(&self, sequence: Sequence) -> u64 {
        // Where the run is now: a view of an earlier point finds its own end below it.
        self.run.record_hints.get(sequence)
    }

    fn scan(&mut self, tag: TypeTag, prefix: &[u8]) -> Result<EncodedRows> {
        check_prefix(prefix)?;
        let lo = [&[tag.as_byte()][..], prefix].concat();
        self.records(tag, &lo, Upper::WithinPrefix(&lo))
    }

    fn scan_range(
        &mut self,
        tag: TypeTag,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<EncodedRows> {
        let lo = [&[tag.as_byte()][..], start].concat();
        let type_prefix = [tag.as_byte()];
        let hi = end.map(|end| [&[tag.as_byte()][..], end].concat());
        let upper = match &hi {
            Some(hi) => Upper::Before(hi),
            None => Upper::WithinPrefix(&type_prefix),
        };
        self.records(tag, &lo, upper)
    }

    fn now(&self) -> Timestamp {
        self.instance.now()
    }
}
