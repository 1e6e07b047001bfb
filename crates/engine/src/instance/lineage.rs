//! Reads of records through a run's lineage. A fork owns no copy of what it inherited: its
//! records (events, state cells, spans and their indexes) are its own, laid over each
//! ancestor's as the fork's view sees them (each ancestor's writes up to the version the fork
//! took them at). A record key is read from the run itself first, then from the nearest
//! ancestor that has it; a scan merges every lineage member's keys, nearer runs' over farther
//! ones'. Records are never removed while their run exists (only written over), so "the
//! nearest run that has the key" is the answer.

use std::collections::BTreeMap;

use in_mem_core_types::{Timestamp, concat_shared};
use in_mem_storage::{Lookup, ReadView, StoredValue};

use super::{Instance, Upper};
use crate::error::Result;
use crate::runs::RunState;

impl Instance {
    /// The newest version of the record `suffix` (type-tag byte and key) that `view` of `run`
    /// sees in its ancestors' records, nearest ancestor first; `None` if none has it. The run's
    /// own key is the caller's to read first (a transaction records that read for validation).
    pub fn lookup_inherited(
        &self,
        run: &RunState,
        view: &ReadView,
        suffix: &[u8],
        now: Timestamp,
    ) -> Result<Option<Lookup>> {
        for ancestor in &run.ancestors {
            let key = concat_shared(&[&ancestor.data_prefix, suffix]);
            if let Some(found) = self.lookup(run, view, &key, now)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The live records of `run`'s lineage from `lo` up to `upper` (both suffixes: type-tag byte
    /// and key) that `view` sees, keyed by suffix, each from the nearest run that has it.
    pub fn scan_lineage(
        &self,
        run: &RunState,
        view: &ReadView,
        lo: &[u8],
        upper: Upper<'_>,
        now: Timestamp,
    ) -> Result<BTreeMap<Box<[u8]>, StoredValue>> {
        let prefixes = run
            .ancestors
            .iter()
            .rev()
            .map(|a| &a.data_prefix[..])
            .chain(std::iter::once(&run.data_prefix[..]));
        let mut merged = BTreeMap::new();
        for prefix in prefixes {
            let full_lo = concat_shared(&[prefix, lo]);
            let bound = match upper {
                Upper::WithinPrefix(p) => concat_shared(&[prefix, p]),
                Upper::Before(hi) => concat_shared(&[prefix, hi]),
            };
            let full_upper = match upper {
                Upper::WithinPrefix(_) => Upper::WithinPrefix(&bound),
                Upper::Before(_) => Upper::Before(&bound),
            };
            for (key, value) in self.scan(run, view, &full_lo, full_upper, now)? {
                merged.insert(Box::from(&key[prefix.len()..]), value);
            }
        }
        Ok(merged)
    }
}

impl Instance {
    /// The newest version of the record `suffix` (type-tag byte and key) that `view` of `run`
    /// sees in the run's lineage: its own, else the nearest ancestor's.
    pub fn lookup_record(
        &self,
        run: &RunState,
        view: &ReadView,
        suffix: &[u8],
        now: Timestamp,
    ) -> Result<Option<Lookup>> {
        let own = concat_shared(&[&run.data_prefix, suffix]);
        if let Some(found) = self.lookup(run, view, &own, now)? {
            return Ok(Some(found));
        }
        self.lookup_inherited(run, view, suffix, now)
    }

    /// Every stored version of the keys under `prefix` (a full encoded prefix), for history.
    pub fn versions_under<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = in_mem_storage::StoredVersion> + 'a {
        self.memtable.versions_under(prefix)
    }

    /// The horizon of the newest sweep: versions below it may have been reclaimed.
    pub fn swept_horizon(&self) -> in_mem_core_types::Version {
        in_mem_core_types::Version::new(
            self.swept_horizon.load(std::sync::atomic::Ordering::SeqCst),
        )
    }
}
