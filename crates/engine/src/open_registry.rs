//! The process-wide registry of open databases, so that opening a path that is already open
//! returns another handle to the same instance instead of failing on the directory lock.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::instance::Instance;
use crate::options::OpenOptions;

/// One slot per path. Its own mutex serializes opens of that path without holding up others.
/// `None` until the first open; afterwards the (possibly dead) instance last opened there.
type Slot = Arc<Mutex<Option<Weak<Instance>>>>;

static OPEN: LazyLock<Mutex<HashMap<PathBuf, Slot>>> = LazyLock::new(Mutex::default);

/// How long to wait for an instance of the same path that is being dropped in this process to
/// release its directory lock.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// The instance open at `path`, opening it if nobody in this process has it open.
pub(crate) fn open(path: &Path, options: &OpenOptions) -> Result<Arc<Instance>> {
    let key = registry_key(path);
    let slot = Arc::clone(lock(&OPEN).entry(key.clone()).or_default());
    let mut last = lock(&slot);
    if let Some(instance) = last.as_ref().and_then(Weak::upgrade) {
        return Ok(instance);
    }
    // A dead entry means an instance of this path is being dropped right now on another thread;
    // its directory lock goes when its drop finishes, so wait for that instead of failing.
    let draining = last.is_some();
    let started = Instant::now();
    let instance = loop {
        match Instance::open(path, key.clone(), options) {
            Err(e) if e.is_locked() && draining && started.elapsed() < SHUTDOWN_WAIT => {
                thread::sleep(Duration::from_millis(2));
            }
            other => break other?,
        }
    };
    *last = Some(Arc::downgrade(&instance));
    Ok(instance)
}

/// Drops the registry entry of an instance that is going away, unless a new instance of the same
/// path has already taken its place.
pub(crate) fn forget(key: &Path) {
    let mut open = lock(&OPEN);
    let reopened = open.get(key).is_some_and(|slot| {
        slot.try_lock().map_or(true, |last| {
            last.as_ref().is_some_and(|w| w.strong_count() > 0)
        })
    });
    if !reopened {
        open.remove(key);
    }
}

/// A stable name for `path`: the canonical form of its longest existing ancestor with the rest
/// appended, so that the name is the same before and after the directory is created.
fn registry_key(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(canonical) = std::fs::canonicalize(existing) {
            return rest
                .iter()
                .rev()
                .fold(canonical, |acc, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single insert or assignment, so a panic elsewhere
    // cannot leave them half-done.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
