//! The Strict floor: append a small record to a preallocated, pre-written file and fdatasync it
//! (docs/PERFORMANCE.md's "same into a preallocated, pre-written segment").

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

use super::{Pairs, Result, Store, Writes};

/// Bytes preallocated and written before the first append.
const FILE_BYTES: u64 = 64 << 20;
/// Bytes per appended record: about what a 24 B key and 100 B value take in a log frame.
const RECORD_BYTES: usize = 128;

pub struct Floor {
    file: Mutex<(File, u64)>,
}

impl Floor {
    pub fn open(dir: &Path) -> Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(dir.join("floor.log"))?;
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(FILE_BYTES >> 20) {
            file.write_all(&zeros)?;
        }
        file.sync_all()?;
        Ok(Floor {
            file: Mutex::new((file, 0)),
        })
    }

    fn append(&self) -> Result<()> {
        let mut guard = self.file.lock().map_err(|_| "floor lock poisoned")?;
        let (file, offset) = &mut *guard;
        if *offset + RECORD_BYTES as u64 > FILE_BYTES {
            *offset = 0;
        }
        file.write_all_at(&[0x5a; RECORD_BYTES], *offset)?;
        file.sync_data()?;
        *offset += RECORD_BYTES as u64;
        Ok(())
    }
}

impl Store for Floor {
    fn put(&self, _t: usize, _key: &[u8], _value: &[u8]) -> Result<()> {
        self.append()
    }

    fn put_batch(&self, _t: usize, _items: &[(&[u8], &[u8])]) -> Result<()> {
        self.append()
    }

    fn get(&self, _t: usize, _key: &[u8]) -> Result<Option<Vec<u8>>> {
        Err("the fdatasync floor only appends".into())
    }

    fn scan(&self, _t: usize, _prefix: &[u8]) -> Result<Pairs> {
        Err("the fdatasync floor only appends".into())
    }

    fn update(
        &self,
        _t: usize,
        _key: &[u8],
        _f: &mut dyn FnMut(Option<&[u8]>) -> Writes,
    ) -> Result<()> {
        self.append()
    }
}
