//! The in-memory floor: a raw `crossbeam_skiplist::SkipMap<Vec<u8>, Vec<u8>>`, no versions, no
//! log.

use std::ops::Bound;

use crossbeam_skiplist::SkipMap;

use super::{Pairs, Result, Store, Writes};

#[derive(Default)]
pub struct Floor {
    map: SkipMap<Vec<u8>, Vec<u8>>,
}

impl Store for Floor {
    fn put(&self, _t: usize, key: &[u8], value: &[u8]) -> Result<()> {
        self.map.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn put_batch(&self, _t: usize, items: &[(&[u8], &[u8])]) -> Result<()> {
        for (key, value) in items {
            self.map.insert(key.to_vec(), value.to_vec());
        }
        Ok(())
    }

    fn get(&self, _t: usize, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.map.get(key).map(|e| e.value().clone()))
    }

    fn overwrite_is_atomic(&self) -> bool {
        // `SkipMap::insert` of a present key marks the old entry removed before the new one is
        // linked in.
        false
    }

    fn scan(&self, _t: usize, prefix: &[u8]) -> Result<Pairs> {
        Ok(self
            .map
            .range(prefix.to_vec()..)
            .take_while(|e| e.key().starts_with(prefix))
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect())
    }

    fn delete(&self, _t: usize, key: &[u8]) -> Result<()> {
        self.map.remove(key);
        Ok(())
    }

    fn range(&self, _t: usize, start: &[u8], end: Option<&[u8]>) -> Result<Pairs> {
        let bounds = (
            Bound::Included(start.to_vec()),
            end.map_or(Bound::Unbounded, |e| Bound::Excluded(e.to_vec())),
        );
        Ok(self
            .map
            .range(bounds)
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect())
    }

    fn update(
        &self,
        _t: usize,
        key: &[u8],
        f: &mut dyn FnMut(Option<&[u8]>) -> Writes,
    ) -> Result<()> {
        let current = self.map.get(key).map(|e| e.value().clone());
        for (k, v) in f(current.as_deref()) {
            self.map.insert(k, v);
        }
        Ok(())
    }
}
