//! `Database::close` on the last handle shuts the database down (the directory lock released
//! when it returns) even while the background thread is writing a checkpoint: it waits for the
//! checkpoint. The background thread holds a reference to the database during each round, and
//! a close that counted it as another handle only flushed, leaving the lock held until the
//! checkpoint ended.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use in_mem_durability::{LockGuard, Metadata, OpenMode, StdFs, Vfs, VfsFile};
use in_mem_engine::{Database, OpenOptions};

/// Holds back writes to checkpoint temp files while shut; counts the writers it holds.
#[derive(Debug, Default)]
struct Gate {
    state: Mutex<(bool, usize)>,
    changed: Condvar,
}

impl Gate {
    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        state.1 += 1;
        self.changed.notify_all();
        while !state.0 {
            state = self.changed.wait(state).unwrap();
        }
        state.1 -= 1;
    }

    fn open(&self) {
        self.state.lock().unwrap().0 = true;
        self.changed.notify_all();
    }

    /// Waits until a writer is held (a checkpoint is being written), for at most `limit`.
    fn wait_for_a_writer(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut state = self.state.lock().unwrap();
        while state.1 == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self.changed.wait_timeout(state, left).unwrap().0;
        }
        true
    }
}

/// The real file system, with checkpoint writes going through the gate.
#[derive(Debug)]
struct GatedFs {
    gate: Arc<Gate>,
}

#[derive(Debug)]
struct GatedFile {
    file: Box<dyn VfsFile>,
    gate: Option<Arc<Gate>>,
}

impl Vfs for GatedFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        StdFs.create_dir_all(path)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<std::ffi::OsString>> {
        StdFs.read_dir(path)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn VfsFile>> {
        let checkpoint = path.to_string_lossy().ends_with(".ckpt.tmp");
        Ok(Box::new(GatedFile {
            file: StdFs.open(path, mode)?,
            gate: checkpoint.then(|| Arc::clone(&self.gate)),
        }))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdFs.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFs.rename(from, to)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        StdFs.sync_dir(path)
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<LockGuard>> {
        StdFs.try_lock(path)
    }
    fn metadata(&self, path: &Path) -> io::Result<Option<Metadata>> {
        StdFs.metadata(path)
    }
}

impl VfsFile for GatedFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        if let Some(gate) = &self.gate {
            gate.pass();
        }
        self.file.write_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn len(&self) -> io::Result<u64> {
        self.file.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
}

#[test]
fn closing_the_last_handle_during_a_background_checkpoint_waits_for_it_and_releases_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate::default());
    let options = OpenOptions::new()
        .vfs(Arc::new(GatedFs {
            gate: Arc::clone(&gate),
        }))
        .checkpoint_every_bytes(64 * 1024)
        .sweep_interval(Duration::from_millis(5));
    let db = Database::open_with_options(dir.path(), options).unwrap();
    let run = db.begin_run();
    for i in 0..1_000u32 {
        db.put(run, format!("key{i}"), [7u8; 200]).unwrap();
    }
    assert!(
        gate.wait_for_a_writer(Duration::from_secs(30)),
        "no background checkpoint started after 200 KB of log"
    );
    // The checkpoint is held mid-write; let it go a little after the close has begun.
    let opener = {
        let gate = Arc::clone(&gate);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            gate.open();
        })
    };
    db.close().unwrap();
    opener.join().unwrap();
    let lock = std::fs::File::open(dir.path().join("LOCK")).unwrap();
    assert!(
        lock.try_lock().is_ok(),
        "the directory is still locked after the last handle was closed"
    );
    drop(lock);
    // And the database opens again with everything the closed one acknowledged.
    let db = Database::open(dir.path()).unwrap();
    let run = db.begin_run();
    assert_eq!(db.get(run, "key999").unwrap(), Some(vec![7u8; 200]));
}
